//! Envoy's external authorization API (v3): the gRPC service, the `input`
//! document built from a `CheckRequest`, and the `CheckResponse` built from
//! a decision, all in OPA-Envoy's forms.
//!
//! Protobuf types stay in this module; everything below it works on the
//! service's own types.

pub mod body;
mod grpc;
pub mod input;
pub mod path;
pub mod reflection;
pub mod request;
pub mod response;
mod service;
pub mod wire;

pub use grpc::{AuthorizationService, WireCodec};
pub use input::{InputError, InputOptions, PreparedInput, TenantLabels, build_input};
pub use request::RequestView;
pub use response::OnError;
pub use service::{CheckOptions, CheckService};
