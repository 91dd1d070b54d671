//! The service on the example bundles plus four tenants for the edge cases,
//! with a gRPC client to it: `echo` answers with what its policy saw of the
//! input, and `undefined`, `conflict` and `malformed` fail in the three ways
//! a decision can.

use envoy_types::pb::envoy::service::auth::v3::{
    CheckRequest, CheckResponse, authorization_client::AuthorizationClient,
};
use pdp::{config::Config, extauthz::OnError};
use tonic::transport::Channel;

use crate::{bundles::BundleDir, requests::Check, service::RunningService};

/// SPIFFE IDs of the example tenants' workloads, and of a shared ingress.
pub const ACME_API: &str = "spiffe://cluster.local/ns/acme/sa/api";
pub const ACME_STOREFRONT: &str = "spiffe://cluster.local/ns/acme/sa/storefront";
pub const GLOBEX_INVENTORY: &str = "spiffe://cluster.local/ns/globex/sa/inventory";
pub const GLOBEX_API: &str = "spiffe://cluster.local/ns/globex/sa/api";
pub const INGRESS: &str = "spiffe://cluster.local/ns/istio-ingress/sa/istio-ingressgateway";

/// The `echo` tenant's policy: allowed, with headers reporting the parts of
/// the input that input construction is responsible for.
const ECHO_POLICY: &str = r#"package envoy.authz

http := input.attributes.request.http

decision := {
	"allowed": true,
	"headers": {
		"x-parsed-body": json.marshal(input.parsed_body),
		"x-truncated": json.marshal(input.truncated_body),
		"x-parsed-path": json.marshal(input.parsed_path),
		"x-parsed-query": json.marshal(input.parsed_query),
		"x-source-tenant": object.get(input.attributes.source, ["labels", "tenant"], "none"),
		"x-destination-tenant": input.attributes.destination.labels.tenant,
		"x-content-type": object.get(http.headers, "content-type", "none"),
		"x-time-seconds": json.marshal(input.attributes.request.time.seconds),
		"x-version": json.marshal(input.version),
	},
}
"#;

/// The running service, its bundles and a client.
pub struct Fixture {
    _bundles: BundleDir,
    /// The service.
    pub service: RunningService,
    /// A client connected to its gRPC listener.
    pub client: AuthorizationClient<Channel>,
}

impl Fixture {
    /// Serves the bundles, answering failed decisions as `on_error` says.
    pub async fn start(on_error: OnError) -> anyhow::Result<Self> {
        let bundles = BundleDir::from_examples()?;
        bundles.write_tenant(
            "echo",
            &[
                (
                    ".manifest",
                    r#"{"metadata": {"decision_path": "envoy/authz/decision"}}"#,
                ),
                ("policy.rego", ECHO_POLICY),
            ],
        )?;
        bundles.write_tenant(
            "undefined",
            &[("policy.rego", "package envoy.authz\nallow if input.never\n")],
        )?;
        bundles.write_tenant(
            "conflict",
            &[(
                "policy.rego",
                "package envoy.authz\nallow := true\nallow := false\n",
            )],
        )?;
        bundles.write_tenant(
            "malformed",
            &[(
                "policy.rego",
                "package envoy.authz\nallow := {\"ok\": true}\n",
            )],
        )?;

        let mut config = Config::default();
        config.bundles.root = bundles.path().to_path_buf();
        config.decision.on_error = on_error;
        config.engine.worker_threads = 2;
        let service = RunningService::start(config).await?;
        let client = AuthorizationClient::connect(format!("http://{}", service.grpc)).await?;
        Ok(Self {
            _bundles: bundles,
            service,
            client,
        })
    }

    /// One check over gRPC.
    pub async fn check(&mut self, request: CheckRequest) -> Result<CheckResponse, tonic::Status> {
        self.client
            .check(request)
            .await
            .map(tonic::Response::into_inner)
    }
}

/// A request to the `echo` tenant.
pub fn echo(method: &str, path: &str) -> Check {
    Check::http(method, path, "echo.example").extension("tenant", "echo")
}

/// The gRPC status code of an answer (`-1` when it has none).
pub fn code(response: &CheckResponse) -> i32 {
    response.status.as_ref().map_or(-1, |s| s.code)
}
