//! One immutable view of the active policies.

use std::{collections::HashMap, sync::Arc};

use crate::{
    decision::{SystemPolicy, TenantPolicy},
    tenant::TenantName,
};

/// The active system bundle.
#[derive(Debug)]
pub struct ActiveSystem {
    /// The compiled guardrails.
    pub policy: SystemPolicy,
    /// The revision shown in status, metadata and logs.
    pub revision: String,
    /// Digest of the bundle's files.
    pub digest: String,
    /// The configured source it came from.
    pub source: Option<Arc<str>>,
}

impl ActiveSystem {
    pub(crate) fn new(
        policy: SystemPolicy,
        revision: String,
        digest: String,
        source: Option<Arc<str>>,
    ) -> Self {
        Self {
            policy,
            revision,
            digest,
            source,
        }
    }
}

/// One tenant's active bundle.
#[derive(Debug)]
pub struct ActiveTenant {
    /// The compiled policy.
    pub policy: TenantPolicy,
    /// The revision shown in status, metadata and logs.
    pub revision: String,
    /// Digest of the bundle's files.
    pub digest: String,
    /// The configured source it came from.
    pub source: Option<Arc<str>>,
}

impl ActiveTenant {
    pub(crate) fn new(
        policy: TenantPolicy,
        revision: String,
        digest: String,
        source: Option<Arc<str>>,
    ) -> Self {
        Self {
            policy,
            revision,
            digest,
            source,
        }
    }
}

/// The system bundle and every tenant, as of one activation.
#[derive(Debug)]
pub struct Snapshot {
    generation: u64,
    system: Arc<ActiveSystem>,
    tenants: HashMap<TenantName, Arc<ActiveTenant>>,
}

impl Snapshot {
    pub(crate) fn new(
        generation: u64,
        system: Arc<ActiveSystem>,
        tenants: HashMap<TenantName, Arc<ActiveTenant>>,
    ) -> Self {
        Self {
            generation,
            system,
            tenants,
        }
    }

    /// Increases by one with every swap.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// The system bundle.
    pub fn system(&self) -> &Arc<ActiveSystem> {
        &self.system
    }

    /// A tenant's active bundle, if it has one.
    pub fn tenant(&self, name: &str) -> Option<&ActiveTenant> {
        self.tenants.get(name).map(Arc::as_ref)
    }

    /// Every tenant with an active bundle.
    pub fn tenants(&self) -> &HashMap<TenantName, Arc<ActiveTenant>> {
        &self.tenants
    }
}
