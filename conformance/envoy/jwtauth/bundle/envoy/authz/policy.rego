# Istio runs CUSTOM authorization before its own JWT checks, so this policy
# verifies the bearer token itself, in the style of OPA-Envoy's primer:
# roles from verified claims, an object decision with headers for the
# upstream and a 401 with a body when the token is missing or invalid.
package envoy.authz

bearer := t if {
	v := input.attributes.request.http.headers.authorization
	startswith(v, "Bearer ")
	t := substring(v, count("Bearer "), -1)
}

claims := payload if {
	io.jwt.verify_hs256(bearer, data.jwt.secret)
	[_, payload, _] := io.jwt.decode(bearer)
}

else := payload if {
	io.jwt.verify_rs256(bearer, data.jwt.jwks)
	[_, payload, _] := io.jwt.decode(bearer)
}

allowed if {
	input.attributes.request.http.method == "GET"
	"reader" in claims.roles
}

allowed if {
	input.attributes.request.http.method == "POST"
	"writer" in claims.roles
	input.parsed_body.amount < 100
}

result := {
	"allowed": true,
	"headers": {"x-subject": claims.sub, "x-tenant": claims.tenant},
	"request_headers_to_remove": ["authorization"],
	"dynamic_metadata": {"subject": claims.sub},
} if allowed

else := {
	"allowed": false,
	"http_status": 401,
	"headers": {"www-authenticate": "Bearer"},
	"body": "token required",
} if not claims

else := {
	"allowed": false,
	"http_status": 403,
	"body": sprintf("%s may not %s", [claims.sub, input.attributes.request.http.method]),
}
