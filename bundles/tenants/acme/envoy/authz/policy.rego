# acme: role-based access by path and method.
#
# A caller is identified by its SPIFFE principal (mesh traffic) or, for
# clients outside the mesh, by the API key it presents. Bindings give each
# caller roles; each role grants methods on path prefixes.
package envoy.authz

import data.rbac

default allow := false

http := input.attributes.request.http

# The decoded request path without its query, e.g. "/api/orders/7".
request_path := concat("/", ["", concat("/", input.parsed_path)])

subject := input.attributes.source.principal if input.attributes.source.principal != ""

else := concat(":", ["apikey", http.headers["x-api-key"]])

# Anyone may read the public paths.
allow if {
	some grant in rbac.public
	grants(grant)
}

allow if {
	some role in rbac.bindings[subject]
	some grant in rbac.roles[role]
	grants(grant)
}

grants(grant) if {
	http.method in grant.methods
	startswith(request_path, grant.prefix)
}
