# acme: role-based access by path and method.
#
# A caller is identified by its SPIFFE principal (mesh traffic) or, for
# clients outside the mesh, by the API key it presents. Bindings give each
# caller roles; each role grants methods on path prefixes.
package envoy.authz

import data.rbac

default allow := false

# Anyone may read the public paths.
allow if {
	some grant in rbac.public
	permits(grant)
}

allow if {
	some role in rbac.bindings[subject]
	some grant in rbac.roles[role]
	permits(grant)
}

subject := input.attributes.source.principal if input.attributes.source.principal != ""

else := concat(":", ["apikey", input.attributes.request.http.headers["x-api-key"]])

permits(grant) if {
	input.attributes.request.http.method in grant.methods
	startswith(concat("/", ["", concat("/", input.parsed_path)]), grant.prefix)
}
