//! The workloads every benchmark measures: the example bundles (system
//! guardrails, `acme`'s role-based access, `globex`'s header-injecting
//! object decision) plus an allow-all tenant, and check requests of about
//! 1 KB shaped like a real Envoy's (headers, SPIFFE principals, a JSON body).

use std::sync::Arc;

use envoy_types::pb::envoy::service::auth::v3::CheckRequest;
use pdp::{config::Config, server::Service};
use pdp_e2e::{bundles::BundleDir, requests::Check};

/// One benchmarked situation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Scenario {
    /// A tenant whose policy is `allow := true` (plus the system rule).
    AllowAll,
    /// Same-tenant mTLS read through the system rule and `acme`'s
    /// role-based access (bindings and roles looked up in data).
    SameTenantRbac,
    /// Cross-tenant mTLS request: denied by the system rule.
    CrossTenant,
    /// `globex`'s object decision injecting and removing headers.
    HeaderInjection,
}

impl Scenario {
    /// Every scenario.
    pub const ALL: [Scenario; 4] = [
        Scenario::AllowAll,
        Scenario::SameTenantRbac,
        Scenario::CrossTenant,
        Scenario::HeaderInjection,
    ];

    /// A short name for reports.
    pub fn name(self) -> &'static str {
        match self {
            Self::AllowAll => "allow_all",
            Self::SameTenantRbac => "same_tenant_rbac",
            Self::CrossTenant => "cross_tenant",
            Self::HeaderInjection => "header_injection",
        }
    }

    /// The request, about 1 KB encoded.
    pub fn request(self) -> CheckRequest {
        self.request_for(1842)
    }

    /// The request about object `id`: real traffic names many objects, so
    /// workloads vary it to keep per-input memos from answering everything.
    pub fn request_for(self, id: u32) -> CheckRequest {
        let (method, path, source, destination) = match self {
            Self::AllowAll => (
                "GET",
                format!("/api/items/{id}?page=2&size=50"),
                "open",
                "open",
            ),
            Self::SameTenantRbac => (
                "GET",
                format!("/api/orders/{id}?expand=lines"),
                "acme",
                "acme",
            ),
            Self::CrossTenant => (
                "GET",
                format!("/api/orders/{id}?expand=lines"),
                "globex",
                "acme",
            ),
            Self::HeaderInjection => ("POST", format!("/items/{id}/reserve"), "globex", "globex"),
        };
        let source_sa = match (self, source) {
            (Self::SameTenantRbac, _) => "storefront",
            (Self::HeaderInjection, _) => "inventory",
            _ => "web",
        };
        let source = format!("spiffe://cluster.local/ns/{source}/sa/{source_sa}");
        let destination = format!("spiffe://cluster.local/ns/{destination}/sa/api");
        Check::http(method, &path, "api.mesh.svc.cluster.local:8080")
            .mtls(&source, &destination)
            .header("authorization", BEARER)
            .header(
                "traceparent",
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            )
            .header("x-b3-traceid", "4bf92f3577b34da6a3ce929d0e0e4736")
            .header("x-b3-spanid", "00f067aa0ba902b7")
            .header("x-b3-sampled", "1")
            .header("x-forwarded-for", "203.0.113.7, 10.244.0.1")
            .header("accept-language", "en-GB,en;q=0.9")
            .header("cookie", "session=7f3c9a1e2b4d6f80; theme=dark")
            .body("application/json", BODY)
            .build()
    }
}

const BEARER: &str = "Bearer eyJhbGciOiJSUzI1NiIsImtpZCI6IjE2In0.eyJzdWIiOiJhbGljZSIsImF1ZCI6Im\
                      FwaS5tZXNoIiwiZXhwIjoxOTAwMDAwMDAwfQ.c2lnbmF0dXJlLXBsYWNlaG9sZGVy";

const BODY: &str = r#"{"order": {"id": 1842, "lines": [{"sku": "A-17", "qty": 2}, {"sku": "B-3", "qty": 1}], "note": "leave at door"}}"#;

/// The allow-all tenant added to the example bundles.
const OPEN_POLICY: &str = "package envoy.authz\n\nallow := true\n";

/// A loaded service on the benchmark bundles, with the folder kept alive.
pub struct Loaded {
    /// The service (call `check().decide(..)` in-process, or serve it).
    pub service: Arc<Service>,
    _bundles: BundleDir,
}

/// Loads the benchmark bundles with `worker_threads` engines per policy.
pub fn load(worker_threads: usize) -> anyhow::Result<Loaded> {
    let bundles = BundleDir::from_examples()?;
    bundles.write_tenant("open", &[("policy.rego", OPEN_POLICY)])?;
    let mut config = Config::default();
    config.bundles.root = bundles.path().to_path_buf();
    config.engine.worker_threads = worker_threads;
    let (service, report) = Service::load(config)?;
    anyhow::ensure!(
        report.failed.is_empty(),
        "benchmark bundles failed: {:?}",
        report.failed
    );
    Ok(Loaded {
        service: Arc::new(service),
        _bundles: bundles,
    })
}

/// A mix of every scenario, `n` requests long, with object IDs varied:
/// 40% role-based reads, 30% header injection, 20% allow-all, 10%
/// cross-tenant denials.
pub fn mix(n: u32) -> Vec<CheckRequest> {
    (0..n)
        .map(|i| {
            let scenario = match i % 10 {
                0..=3 => Scenario::SameTenantRbac,
                4..=6 => Scenario::HeaderInjection,
                7 | 8 => Scenario::AllowAll,
                _ => Scenario::CrossTenant,
            };
            scenario.request_for(1000 + i)
        })
        .collect()
}

/// The encoded size of a request, to keep the workload honest about "1 KB".
pub fn request_size(request: &CheckRequest) -> usize {
    prost::Message::encoded_len(request)
}
