//! Working out which tenant owns a request's destination and which tenant
//! is calling.
//!
//! Each side has an ordered list of attribute sources. The first source that
//! yields a value decides; later sources are not consulted, so a request can
//! never fall through to some other tenant's policy because its first
//! attribute named an unknown tenant. The resolver only reads attributes and
//! checks name syntax; whether the tenant exists is the snapshot's business.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use super::{TenantName, name::InvalidTenantName, spiffe::SpiffeId};

/// Where a tenant name can come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Attribute {
    /// A key of the check request's `context_extensions` (set per route in
    /// Envoy). Destination only.
    ContextExtension,
    /// The namespace of the SPIFFE principal: the destination principal for
    /// the owner, the source principal for the caller.
    Principal,
    /// The `:authority` (or `host`) through the host map. Destination only.
    Host,
    /// A request header. Trustworthy only behind a gateway that strips it
    /// from incoming requests.
    Header,
}

/// Tenant resolution settings (the `[tenancy]` table of the config).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct TenancyConfig {
    /// Sources for the destination (owning) tenant, in order.
    pub destination: Vec<Attribute>,
    /// Sources for the source (calling) tenant, in order.
    pub source: Vec<Attribute>,
    /// The `context_extensions` key holding the destination tenant.
    pub context_extension_key: String,
    /// Namespace-to-tenant map; a namespace not listed is its own tenant.
    pub namespaces: BTreeMap<String, TenantName>,
    /// Host-to-tenant map: exact names and `*.suffix` wildcards.
    pub hosts: BTreeMap<String, TenantName>,
    /// Header naming the destination tenant (with [`Attribute::Header`]).
    pub destination_header: String,
    /// Header naming the source tenant (with [`Attribute::Header`]).
    pub source_header: String,
    /// Accepted SPIFFE trust domains; empty accepts any.
    pub trust_domains: Vec<String>,
}

impl Default for TenancyConfig {
    fn default() -> Self {
        Self {
            destination: vec![
                Attribute::ContextExtension,
                Attribute::Principal,
                Attribute::Host,
            ],
            source: vec![Attribute::Principal],
            context_extension_key: "tenant".to_owned(),
            namespaces: BTreeMap::new(),
            hosts: BTreeMap::new(),
            destination_header: "x-tenant".to_owned(),
            source_header: "x-source-tenant".to_owned(),
            trust_domains: Vec::new(),
        }
    }
}

/// A tenancy setting that makes no sense.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TenancyConfigError {
    /// An attribute used for the wrong side.
    #[error("`{attribute:?}` cannot name the source tenant")]
    NotForSource {
        /// The attribute.
        attribute: Attribute,
    },
    /// A host pattern that is neither a name nor `*.suffix`.
    #[error("host pattern `{0}` must be a host name or `*.suffix`")]
    BadHostPattern(String),
    /// An empty header name or context extension key.
    #[error("`{0}` must not be empty")]
    Empty(&'static str),
}

/// Read access to the request attributes resolution looks at.
pub trait TenantAttributes {
    /// A `context_extensions` value.
    fn context_extension(&self, key: &str) -> Option<&str>;
    /// The destination peer's principal.
    fn destination_principal(&self) -> Option<&str>;
    /// The source peer's principal.
    fn source_principal(&self) -> Option<&str>;
    /// The request's `:authority` (or `host`).
    fn authority(&self) -> Option<&str>;
    /// A request header (lowercase name).
    fn header(&self, name: &str) -> Option<&str>;
}

/// How a tenant was found, for logs and deny reasons.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Via {
    /// From `context_extensions`.
    ContextExtension,
    /// From a SPIFFE principal.
    Principal,
    /// From the host map.
    Host,
    /// From a header.
    Header,
}

/// A tenant name found in a request, not yet checked against the snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Found<'a> {
    /// The tenant's name (syntax already checked).
    pub name: &'a str,
    /// Which attribute gave it.
    pub via: Via,
}

/// Why the destination tenant could not be worked out.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unresolved {
    /// No configured attribute was present.
    #[error("no tenant attribute in request")]
    Missing,
    /// The first attribute present does not hold a valid tenant name.
    #[error("{via:?} does not name a valid tenant: {reason}")]
    Invalid {
        /// The attribute.
        via: Via,
        /// What is wrong with it.
        reason: InvalidTenantName,
    },
}

/// The outcome of resolving one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolution<'a> {
    /// The owning tenant, whose policy decides.
    pub destination: Result<Found<'a>, Unresolved>,
    /// The calling tenant, when it can be told.
    pub source: Option<Found<'a>>,
}

/// Compiled tenancy settings, applied per request.
#[derive(Debug, Clone)]
pub struct Resolver {
    destination: Vec<Attribute>,
    source: Vec<Attribute>,
    context_extension_key: String,
    namespaces: HashMap<String, TenantName>,
    exact_hosts: HashMap<String, TenantName>,
    /// `(".suffix", tenant)`, longest suffix first.
    wildcard_hosts: Vec<(String, TenantName)>,
    destination_header: String,
    source_header: String,
    trust_domains: Vec<String>,
}

impl Resolver {
    /// Checks and compiles the settings.
    pub fn new(config: &TenancyConfig) -> Result<Self, TenancyConfigError> {
        for attribute in &config.source {
            if matches!(attribute, Attribute::ContextExtension | Attribute::Host) {
                return Err(TenancyConfigError::NotForSource {
                    attribute: *attribute,
                });
            }
        }
        if config.context_extension_key.is_empty() {
            return Err(TenancyConfigError::Empty("context_extension_key"));
        }
        if config.destination_header.is_empty() {
            return Err(TenancyConfigError::Empty("destination_header"));
        }
        if config.source_header.is_empty() {
            return Err(TenancyConfigError::Empty("source_header"));
        }

        let mut exact_hosts = HashMap::new();
        let mut wildcard_hosts = Vec::new();
        for (pattern, tenant) in &config.hosts {
            let pattern = pattern.to_ascii_lowercase();
            if let Some(suffix) = pattern.strip_prefix("*.") {
                if suffix.is_empty() || suffix.contains('*') {
                    return Err(TenancyConfigError::BadHostPattern(pattern));
                }
                wildcard_hosts.push((format!(".{suffix}"), tenant.clone()));
            } else if pattern.is_empty() || pattern.contains('*') {
                return Err(TenancyConfigError::BadHostPattern(pattern));
            } else {
                exact_hosts.insert(pattern, tenant.clone());
            }
        }
        wildcard_hosts.sort_by(|a, b| b.0.len().cmp(&a.0.len()).then(a.0.cmp(&b.0)));

        Ok(Self {
            destination: config.destination.clone(),
            source: config.source.clone(),
            context_extension_key: config.context_extension_key.clone(),
            namespaces: config
                .namespaces
                .iter()
                .map(|(ns, t)| (ns.clone(), t.clone()))
                .collect(),
            exact_hosts,
            wildcard_hosts,
            destination_header: config.destination_header.to_ascii_lowercase(),
            source_header: config.source_header.to_ascii_lowercase(),
            trust_domains: config.trust_domains.clone(),
        })
    }

    /// Resolves both sides of one request.
    pub fn resolve<'a>(&'a self, request: &'a impl TenantAttributes) -> Resolution<'a> {
        let destination = self
            .destination
            .iter()
            .find_map(|attribute| self.destination_attribute(*attribute, request))
            .unwrap_or(Err(Unresolved::Missing));

        // The caller is optional: when its first attribute is malformed, it
        // is treated as unknown rather than guessed from a later one.
        let source = self
            .source
            .iter()
            .find_map(|attribute| self.source_attribute(*attribute, request))
            .and_then(Result::ok);

        Resolution {
            destination,
            source,
        }
    }

    fn destination_attribute<'a>(
        &'a self,
        attribute: Attribute,
        request: &'a impl TenantAttributes,
    ) -> Option<Result<Found<'a>, Unresolved>> {
        match attribute {
            Attribute::ContextExtension => request
                .context_extension(&self.context_extension_key)
                .map(|name| checked(name, Via::ContextExtension)),
            Attribute::Principal => request
                .destination_principal()
                .and_then(|p| self.principal_tenant(p)),
            Attribute::Host => request.authority().and_then(|host| self.host_tenant(host)),
            Attribute::Header => request
                .header(&self.destination_header)
                .map(|name| checked(name, Via::Header)),
        }
    }

    fn source_attribute<'a>(
        &'a self,
        attribute: Attribute,
        request: &'a impl TenantAttributes,
    ) -> Option<Result<Found<'a>, Unresolved>> {
        match attribute {
            Attribute::Principal => request
                .source_principal()
                .and_then(|p| self.principal_tenant(p)),
            Attribute::Header => request
                .header(&self.source_header)
                .map(|name| checked(name, Via::Header)),
            Attribute::ContextExtension | Attribute::Host => None,
        }
    }

    /// A principal that is not an Istio SPIFFE identity, or is from a trust
    /// domain not accepted, yields nothing, so the next attribute is tried.
    fn principal_tenant<'a>(&'a self, principal: &'a str) -> Option<Result<Found<'a>, Unresolved>> {
        let id = SpiffeId::parse(principal)?;
        if !self.trust_domains.is_empty()
            && !self.trust_domains.iter().any(|d| d == id.trust_domain)
        {
            return None;
        }
        let name = match self.namespaces.get(id.namespace) {
            Some(tenant) => tenant.as_str(),
            None => id.namespace,
        };
        Some(checked(name, Via::Principal))
    }

    /// An authority that matches no host entry yields nothing.
    fn host_tenant(&self, authority: &str) -> Option<Result<Found<'_>, Unresolved>> {
        let host = strip_port(authority).trim_end_matches('.');
        let host = host.to_ascii_lowercase();
        if let Some(tenant) = self.exact_hosts.get(&host) {
            return Some(Ok(Found {
                name: tenant.as_str(),
                via: Via::Host,
            }));
        }
        self.wildcard_hosts
            .iter()
            .find(|(suffix, _)| host.len() > suffix.len() && host.ends_with(suffix.as_str()))
            .map(|(_, tenant)| {
                Ok(Found {
                    name: tenant.as_str(),
                    via: Via::Host,
                })
            })
    }
}

fn checked(name: &str, via: Via) -> Result<Found<'_>, Unresolved> {
    match super::name::check(name) {
        Ok(()) => Ok(Found { name, via }),
        Err(reason) => Err(Unresolved::Invalid { via, reason }),
    }
}

/// `host:port` to `host`; IPv6 literals keep their brackets.
fn strip_port(authority: &str) -> &str {
    if authority.starts_with('[') {
        return match authority.find(']') {
            Some(end) => &authority[..=end],
            None => authority,
        };
    }
    match authority.rsplit_once(':') {
        Some((host, port)) if port.bytes().all(|b| b.is_ascii_digit()) => host,
        _ => authority,
    }
}

#[cfg(test)]
mod tests;
