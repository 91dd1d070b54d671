//! Which source owns which bundle, and how one read of a source becomes
//! one change for the registry.
//!
//! A tenant belongs to the first source (in configuration order) that holds
//! it; a later source holding the same tenant is ignored for it, with a
//! warning, so that two sources never fight over one tenant. A tenant that
//! leaves its source is removed. The system bundle cannot be removed: a
//! source that loses it gets a failure that keeps the last good one.

use std::collections::BTreeMap;

use super::SourceRead;
use crate::{
    bundle::{BundleError, BundleFiles},
    registry::{Change, Incoming, TenantChange},
    tenant::TenantName,
};

/// Which source owns which bundle.
#[derive(Debug, Default)]
pub(super) struct Owners {
    system: Option<usize>,
    tenants: BTreeMap<TenantName, usize>,
}

/// Turns a read of source `index` into a change, claiming the bundles it
/// holds and releasing those it no longer holds.
pub(super) fn to_change(
    index: usize,
    name: &str,
    read: SourceRead,
    owners: &mut Owners,
    incoming: impl Fn(Result<BundleFiles, BundleError>) -> Incoming,
) -> Change {
    for (path, reason) in &read.skipped {
        tracing::warn!(source = %name, path, reason, "skipping entry that names no bundle");
    }
    let mut change = Change::default();

    match owners.system {
        Some(owner) if owner != index && read.system_present => {
            tracing::warn!(source = %name, "ignoring this source's system bundle: another source provides it");
        }
        Some(owner) if owner != index => {}
        _ if read.system_present => {
            owners.system = Some(index);
            change.system = read.system.map(&incoming);
        }
        Some(_) => {
            // This source held the system bundle and lost it.
            let missing = BundleError::Missing {
                source_name: name.to_string(),
            };
            change.system = Some(incoming(Err(missing)));
        }
        None => {}
    }

    let mut updates = read.updates;
    for tenant in &read.present {
        match owners.tenants.get(tenant) {
            Some(owner) if *owner != index => {
                tracing::warn!(source = %name, tenant = %tenant, "ignoring tenant: another source provides it");
                updates.remove(tenant);
            }
            _ => {
                owners.tenants.insert(tenant.clone(), index);
            }
        }
    }
    for (tenant, files) in updates {
        change
            .tenants
            .insert(tenant, TenantChange::Update(incoming(files)));
    }
    let gone: Vec<TenantName> = owners
        .tenants
        .iter()
        .filter(|(tenant, owner)| **owner == index && !read.present.contains(*tenant))
        .map(|(tenant, _)| tenant.clone())
        .collect();
    for tenant in gone {
        owners.tenants.remove(&tenant);
        change.tenants.insert(tenant, TenantChange::Remove);
    }
    change
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bundle::BundleFile;

    fn files() -> Result<BundleFiles, BundleError> {
        Ok(BundleFiles::from_files(vec![BundleFile {
            path: "p.rego".to_owned(),
            bytes: b"package p\n".to_vec(),
        }]))
    }

    fn read(system: bool, tenants: &[&str]) -> SourceRead {
        let names: Vec<TenantName> = tenants
            .iter()
            .map(|t| TenantName::parse(t).unwrap())
            .collect();
        SourceRead {
            system_present: system,
            system: system.then(files),
            present: names.iter().cloned().collect(),
            updates: names.into_iter().map(|n| (n, files())).collect(),
            ..SourceRead::default()
        }
    }

    fn change(index: usize, read: SourceRead, owners: &mut Owners) -> Change {
        to_change(index, "s", read, owners, Incoming::from)
    }

    fn kinds(change: &Change) -> Vec<(String, &'static str)> {
        change
            .tenants
            .iter()
            .map(|(name, c)| {
                let kind = match c {
                    TenantChange::Update(_) => "update",
                    TenantChange::Remove => "remove",
                };
                (name.to_string(), kind)
            })
            .collect()
    }

    #[test]
    fn the_first_source_holding_a_tenant_owns_it() {
        let mut owners = Owners::default();
        let first = change(0, read(true, &["acme", "globex"]), &mut owners);
        assert!(first.system.is_some());
        assert_eq!(kinds(&first).len(), 2);

        let second = change(1, read(true, &["acme", "initech"]), &mut owners);
        assert!(second.system.is_none(), "the system bundle is taken");
        assert_eq!(kinds(&second), [("initech".to_owned(), "update")]);
    }

    #[test]
    fn a_tenant_leaving_its_source_is_removed_and_can_be_claimed_again() {
        let mut owners = Owners::default();
        change(0, read(true, &["acme", "globex"]), &mut owners);
        let next = change(0, read(true, &["acme"]), &mut owners);
        assert_eq!(
            kinds(&next),
            [
                ("acme".to_owned(), "update"),
                ("globex".to_owned(), "remove")
            ]
        );
        let other = change(1, read(false, &["globex"]), &mut owners);
        assert_eq!(kinds(&other), [("globex".to_owned(), "update")]);
    }

    #[test]
    fn losing_the_system_bundle_is_a_failure_not_a_removal() {
        let mut owners = Owners::default();
        change(0, read(true, &[]), &mut owners);
        let lost = change(0, read(false, &[]), &mut owners);
        let err = lost.system.unwrap().files.unwrap_err();
        assert!(matches!(err, BundleError::Missing { .. }), "{err}");
    }
}
