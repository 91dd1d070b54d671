//! Tenants: their names, and how a request is mapped to the tenant that
//! owns its destination and the tenant that sent it.
//!
//! Resolution reads request attributes through [`TenantAttributes`], so this
//! module knows nothing of Envoy's protobuf types.

mod name;
mod resolve;
mod spiffe;

pub use name::{InvalidTenantName, MAX_TENANT_NAME_LEN, TenantName};
pub use resolve::{
    Attribute, Found, Resolution, Resolver, TenancyConfig, TenancyConfigError, TenantAttributes,
    Unresolved, Via,
};
pub use spiffe::SpiffeId;
