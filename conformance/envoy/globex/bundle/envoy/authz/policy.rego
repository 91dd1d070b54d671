# globex: an object decision that shapes the request.
#
# Reads are open to every caller; writes need a caller listed in
# data.globex.writers. Allowed requests reach the upstream with headers
# naming the tenant and the caller, without the client's debug header, and
# the client sees which policy revision answered. Denied writes get a JSON
# body and 401 (anonymous) or 403 (known but not allowed).
package envoy.authz

http := input.attributes.request.http

caller := input.attributes.source.principal if input.attributes.source.principal != ""

else := "anonymous"

read if http.method in {"GET", "HEAD", "OPTIONS"}

write_allowed if {
	not read
	caller in data.globex.writers
}

allowed if read

allowed if write_allowed

decision := {
	"allowed": true,
	"headers": {
		"x-globex-tenant": "globex",
		"x-globex-caller": caller,
	},
	"request_headers_to_remove": ["x-debug"],
	"response_headers_to_add": {"x-globex-policy": data.globex.policy_revision},
	"dynamic_metadata": {"caller": caller},
} if allowed

else := {
	"allowed": false,
	"http_status": status,
	"headers": {"content-type": "application/json"},
	"body": json.marshal({"error": "write not permitted", "caller": caller}),
}

status := 401 if caller == "anonymous"

else := 403
