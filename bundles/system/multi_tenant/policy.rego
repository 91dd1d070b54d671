# Guardrails applied to every tenant, before the tenant's own policy.
# Any message in `deny` denies the request, whatever the tenant decides.
#
# The service writes the tenants it resolved for a request into
# input.attributes.{source,destination}.labels.tenant.
package multi_tenant.policy

source_tenant := input.attributes.source.labels.tenant

destination_tenant := input.attributes.destination.labels.tenant

# 不同租户之间不能直接通信: traffic between different tenants is denied.
# Callers in shared namespaces (mesh ingress, for example) may reach any
# tenant; that tenant's own policy still decides. A caller whose tenant is
# unknown (plaintext traffic without a principal) is left to the tenant's
# policy too.
deny contains msg if {
	source_tenant != destination_tenant
	not source_tenant in data.multi_tenant.shared_callers
	msg := sprintf(
		"不同租户之间不能直接通信 (cross-tenant traffic is not allowed): %s -> %s",
		[source_tenant, destination_tenant],
	)
}
