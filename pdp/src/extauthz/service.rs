//! Answering one check request: what the gRPC service calls, and what
//! benchmarks and conformance tests call in-process.
//!
//! One check, start to finish: load the snapshot once, resolve the tenants,
//! build the input, decide, answer. Nothing here waits on I/O or takes a
//! lock shared by all cores; the only lock is the per-thread engine slot.

use std::sync::Arc;

use envoy_types::pb::envoy::service::auth::v3::{CheckRequest, CheckResponse};

use super::{
    input::{InputOptions, PreparedInput, TenantLabels},
    request::RequestView,
    response::{self, Answer, DecisionInfo, OnError},
    wire::WireCheck,
};
use crate::{
    decision::{Verdict, decide, input_need},
    registry::Registry,
    tenant::Resolver,
};

/// Settings of the check service.
#[derive(Debug, Clone, Copy, Default)]
pub struct CheckOptions {
    /// How failed decisions are answered.
    pub on_error: OnError,
    /// How the input is built.
    pub input: InputOptions,
}

/// The check service: shared, cheap to clone.
#[derive(Debug, Clone)]
pub struct CheckService {
    registry: Arc<Registry>,
    resolver: Arc<Resolver>,
    options: CheckOptions,
}

impl CheckService {
    /// A service deciding from `registry`'s snapshots.
    pub fn new(registry: Arc<Registry>, resolver: Arc<Resolver>, options: CheckOptions) -> Self {
        Self {
            registry,
            resolver,
            options,
        }
    }

    /// Decides one request. `Err` is a failed RPC, which Envoy answers with
    /// its `status_on_error`.
    pub fn decide(&self, request: &CheckRequest) -> Result<CheckResponse, tonic::Status> {
        self.decide_view(request, &RequestView::new(request))
            .map(Answer::into_response)
    }

    /// Decides one request as the gRPC server decoded it, answering in the
    /// form the server encodes.
    pub fn decide_wire(&self, check: &WireCheck) -> Result<Answer, tonic::Status> {
        self.decide_view(&check.request, &RequestView::of_wire(check))
    }

    fn decide_view(
        &self,
        request: &CheckRequest,
        view: &RequestView<'_>,
    ) -> Result<Answer, tonic::Status> {
        // Written into a buffer on the stack: formatting a UUID into a
        // `String` grows it several times.
        let mut id_buffer = uuid::Uuid::encode_buffer();
        let decision_id: &str = uuid::Uuid::new_v4()
            .hyphenated()
            .encode_lower(&mut id_buffer);
        let snapshot = self.registry.load();
        let resolution = self.resolver.resolve(view);
        let source = resolution.source.map(|s| s.name);
        let mut info = DecisionInfo {
            decision_id,
            system_revision: Some(&snapshot.system().revision),
            ..DecisionInfo::default()
        };

        let found = match resolution.destination {
            Ok(found) => found,
            Err(unresolved) => {
                let reason = format!("cannot tell which tenant owns this request: {unresolved}");
                tracing::info!(decision_id, reason, "request denied: tenant unresolved");
                return Ok(response::service_denied(
                    "tenant_unresolved",
                    &[reason],
                    &info,
                ));
            }
        };
        info.tenant = Some(found.name);
        let Some(tenant) = snapshot.tenant(found.name) else {
            let reason = format!("unknown tenant `{}`", found.name);
            tracing::info!(
                decision_id,
                tenant = found.name,
                "request denied: unknown tenant"
            );
            return Ok(response::service_denied("unknown_tenant", &[reason], &info));
        };
        info.revision = Some(&tenant.revision);

        let labels = TenantLabels {
            destination: Some(found.name),
            source,
        };
        let system = &snapshot.system().policy;
        let need = input_need(system, &tenant.policy);
        let prepared = match PreparedInput::prepare(
            request,
            view,
            labels,
            self.options.input,
            need.wants("parsed_body"),
        ) {
            Ok(prepared) => prepared,
            Err(err) => {
                tracing::info!(
                    decision_id,
                    tenant = found.name,
                    error = %err,
                    "request denied: cannot parse request"
                );
                return Ok(response::parse_error(&err.to_string(), &info));
            }
        };

        match decide(system, &tenant.policy, prepared.build(need)) {
            Verdict::SystemDenied(messages) => {
                tracing::info!(
                    decision_id,
                    tenant = found.name,
                    source_tenant = source.unwrap_or(""),
                    "request denied by system policy"
                );
                Ok(response::service_denied(
                    "system_policy_denied",
                    &messages,
                    &info,
                ))
            }
            Verdict::Decided(decision) => {
                if decision.allowed() {
                    tracing::debug!(decision_id, tenant = found.name, "request allowed");
                } else {
                    tracing::info!(
                        decision_id,
                        tenant = found.name,
                        "request denied by tenant policy"
                    );
                }
                Ok(response::decided(&decision, &info))
            }
            Verdict::Failed(failure) => {
                tracing::warn!(
                    decision_id,
                    tenant = found.name,
                    code = failure.code(),
                    error = %failure,
                    "no decision; request denied"
                );
                match self.options.on_error {
                    OnError::GrpcError => Err(tonic::Status::unknown(failure.to_string())),
                    OnError::Deny => Ok(response::failure_denied(&failure, &info)),
                }
            }
        }
    }
}
