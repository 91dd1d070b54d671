# acme: role-based access by path and method.
#
# A caller is identified by its SPIFFE principal (mesh traffic) or, for
# clients outside the mesh, by the API key it presents. Bindings give each
# caller roles; each role grants, per method, the path prefixes it may use.
# Paths are matched on the raw request path, so an encoded or doubled slash
# matches no prefix and is denied. The most frequent case comes first: the
# first definition that holds decides.
package envoy.authz

import data.rbac

default allow := false

# Mesh workloads, by principal.
allow if {
	some role in rbac.bindings[input.attributes.source.principal]
	some prefix in rbac.roles[role][input.attributes.request.http.method]
	startswith(input.attributes.request.http.path, prefix)
}

# Clients outside the mesh, by API key.
allow if {
	not input.attributes.source.principal
	some role in rbac.api_keys[input.attributes.request.http.headers["x-api-key"]]
	some prefix in rbac.roles[role][input.attributes.request.http.method]
	startswith(input.attributes.request.http.path, prefix)
}

# Anyone may use the public prefixes.
allow if {
	some prefix in rbac.public[input.attributes.request.http.method]
	startswith(input.attributes.request.http.path, prefix)
}
