//! One incoming bundle on its way to activation: its files read into a
//! bundle, the revision it reports, compiled as the system bundle or a
//! tenant's, and its Rego tests run when its source gates on them; or the
//! failure, with the revision that was tried and the digest of its files.

use super::{ActiveSystem, ActiveTenant, Incoming, Origin, RegistryConfig};
use crate::{
    bundle::{Bundle, BundleError},
    decision::{CompileErrors, SourceError, SystemPolicy, TenantPolicy, run_tests},
    tenant::TenantName,
};

/// A failed compile, with the revision that was tried.
pub(super) struct Failed {
    pub(super) revision: String,
    /// The digest of the files, when they could be read.
    pub(super) digest: Option<String>,
    pub(super) errors: Vec<SourceError>,
}

/// The revision to show: the commit, else the manifest's, else a digest.
fn revision_of(bundle: &Bundle, digest: &str, origin: &Origin) -> String {
    if let Some(commit) = &origin.commit {
        return commit.clone();
    }
    if bundle.revision().is_empty() {
        format!("sha256:{}", digest.get(..12).unwrap_or(digest))
    } else {
        bundle.revision().to_owned()
    }
}

/// A bundle read and checked, ready to compile.
struct Read {
    bundle: Bundle,
    digest: String,
    revision: String,
}

fn read_bundle(incoming: Incoming) -> Result<(Read, Origin), Failed> {
    let Incoming { files, origin } = incoming;
    let as_failure = |digest: Option<String>, revision: String| {
        move |err: BundleError| Failed {
            revision,
            digest,
            errors: vec![SourceError::in_file("bundle", err.to_string())],
        }
    };
    let files = files.map_err(as_failure(None, origin.commit.clone().unwrap_or_default()))?;
    let digest = files.digest();
    let bundle = Bundle::from_files(&files).map_err(as_failure(
        Some(digest.clone()),
        origin.commit.clone().unwrap_or_default(),
    ))?;
    let revision = revision_of(&bundle, &digest, &origin);
    Ok((
        Read {
            bundle,
            digest,
            revision,
        },
        origin,
    ))
}

/// Runs the bundle's Rego unit tests when its source asks for it.
fn gate(read: &Read, origin: &Origin) -> Result<(), Failed> {
    if !origin.test_gate {
        return Ok(());
    }
    run_tests(&read.bundle).map_err(|errors| Failed {
        revision: read.revision.clone(),
        digest: Some(read.digest.clone()),
        errors,
    })
}

fn compile_failed(read: &Read) -> impl FnOnce(CompileErrors) -> Failed + '_ {
    |CompileErrors(errors)| Failed {
        revision: read.revision.clone(),
        digest: Some(read.digest.clone()),
        errors,
    }
}

pub(super) fn compile_system(
    config: &RegistryConfig,
    incoming: Incoming,
) -> Result<ActiveSystem, Failed> {
    let (read, origin) = read_bundle(incoming)?;
    let policy = SystemPolicy::compile(&read.bundle, &config.deny_path, &config.engine)
        .map_err(compile_failed(&read))?;
    gate(&read, &origin)?;
    Ok(ActiveSystem::new(
        policy,
        read.revision,
        read.digest,
        origin.source,
    ))
}

pub(super) fn compile_tenant(
    config: &RegistryConfig,
    tenant: &TenantName,
    incoming: Incoming,
) -> Result<ActiveTenant, Failed> {
    let (read, origin) = read_bundle(incoming)?;
    let policy = TenantPolicy::compile(
        tenant.clone(),
        &read.bundle,
        &config.default_decision,
        &config.engine,
    )
    .map_err(compile_failed(&read))?;
    gate(&read, &origin)?;
    Ok(ActiveTenant::new(
        policy,
        read.revision,
        read.digest,
        origin.source,
    ))
}
