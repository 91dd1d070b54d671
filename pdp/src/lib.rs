//! A multi-tenant policy decision point for Envoy.
//!
//! Envoy's external authorization filter (and Istio's `CUSTOM` action) asks
//! this service about every request. The service works out which tenant
//! owns the destination and which tenant is calling, evaluates the system
//! guardrails and the owning tenant's Rego policy, and answers in
//! OPA-Envoy's forms.
//!
//! The modules, in the order a request meets them:
//!
//! - [`extauthz`]: the gRPC `Check` service; builds OPA-Envoy's `input` from
//!   the protobuf and maps decisions back onto a `CheckResponse`.
//! - [`tenant`]: tenant names and resolution from request attributes.
//! - [`registry`]: the active snapshot of compiled policies, swapped
//!   atomically.
//! - [`decision`]: compiling bundles and evaluating Rego (regorus).
//! - [`bundle`]: reading OPA bundles from directories and tarballs.
//! - [`jose`]: compact JWS tokens and their keys (RS, PS, ES, HS).
//! - [`source`]: where bundles come from (folders, bundle files, Git) and
//!   the reloader that turns their changes into activations.
//! - [`api`]: the HTTP listener (health, status, metrics, reload triggers).
//! - [`metrics`]: the Prometheus metrics.
//! - [`config`] and [`server`]: settings and wiring.

pub mod api;
pub mod bundle;
pub mod config;
pub mod decision;
pub mod extauthz;
pub mod jose;
pub mod metrics;
pub mod registry;
pub mod server;
pub mod source;
pub mod tenant;

/// The allocator of every binary linking this crate (feature `mimalloc`,
/// on by default): its per-thread heaps serve the many small allocations of
/// a decision in a fraction of glibc's instructions.
#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
