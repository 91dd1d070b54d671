//! `pdp check`: the activation-time compile, run offline, so that CI can
//! refuse a broken bundle before it reaches a server.

use std::{
    path::{Path, PathBuf},
    process::ExitCode,
};

use clap::Args;
use pdp::{
    bundle::{Bundle, BundleFiles},
    config::Config,
    decision::{CompileErrors, EngineConfig, SourceError, SystemPolicy, TenantPolicy},
    source::layout,
    tenant::TenantName,
};

#[derive(Debug, Args)]
pub(crate) struct CheckArgs {
    /// A bundle (folder or `.tar.gz`), or a folder holding `system/` and
    /// `tenants/<tenant>/`.
    path: PathBuf,
    /// Check a single bundle as the system bundle (its deny rule must
    /// exist). Implied for a bundle named `system` or `system.tar.gz`.
    #[arg(long)]
    system: bool,
    /// TOML config file, for decision paths and bundle limits.
    #[arg(long, env = "PDP_CONFIG")]
    config: Option<PathBuf>,
}

/// What was checked and how it went.
struct Outcome {
    name: String,
    result: Result<Checked, Vec<SourceError>>,
}

/// A bundle that compiles: its revision, and what its author may want to
/// know although nothing is wrong.
struct Checked {
    revision: String,
    note: Option<String>,
}

pub(crate) fn run(args: CheckArgs) -> anyhow::Result<ExitCode> {
    let config = match &args.config {
        Some(path) => Config::from_file(path)?,
        None => Config::default(),
    };
    // One engine per bundle is enough to find every error.
    let engine = EngineConfig {
        worker_threads: 0,
        ..config.engine.clone()
    };

    let outcomes = if is_layout(&args.path) {
        check_layout(&args.path, &config, &engine)?
    } else {
        let as_system = args.system || is_named_system(&args.path);
        vec![check_one(&args.path, as_system, &config, &engine)]
    };

    let failed = print(&outcomes);
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

fn is_layout(path: &Path) -> bool {
    path.is_dir()
        && ["system", "system.tar.gz", "tenants"]
            .iter()
            .any(|entry| path.join(entry).exists())
}

fn is_named_system(path: &Path) -> bool {
    matches!(
        path.file_name().and_then(|n| n.to_str()),
        Some("system" | "system.tar.gz")
    )
}

fn check_layout(
    root: &Path,
    config: &Config,
    engine: &EngineConfig,
) -> anyhow::Result<Vec<Outcome>> {
    let entries = layout::list(root)?;
    let mut outcomes = Vec::new();
    match &entries.system {
        Some(path) => outcomes.push(check_one(path, true, config, engine)),
        None => outcomes.push(Outcome {
            name: "system".to_owned(),
            result: Err(vec![SourceError::in_file(
                &root.display().to_string(),
                "no system bundle (`system/` or `system.tar.gz`)",
            )]),
        }),
    }
    for path in entries.tenants.values() {
        outcomes.push(check_one(path, false, config, engine));
    }
    for (path, reason) in &entries.invalid {
        outcomes.push(Outcome {
            name: path.display().to_string(),
            result: Err(vec![SourceError::in_file(
                &path.display().to_string(),
                reason.clone(),
            )]),
        });
    }
    Ok(outcomes)
}

fn check_one(path: &Path, as_system: bool, config: &Config, engine: &EngineConfig) -> Outcome {
    let name = path.display().to_string();
    let bundle = BundleFiles::read(path, &config.bundles.limits)
        .and_then(|files| Bundle::from_files(&files));
    let bundle = match bundle {
        Ok(bundle) => bundle,
        Err(err) => {
            return Outcome {
                name,
                result: Err(vec![SourceError::in_file(
                    &path.display().to_string(),
                    err.to_string(),
                )]),
            };
        }
    };

    let compiled = if as_system {
        SystemPolicy::compile(&bundle, &config.decision.system_deny_path, engine).map(|_| None)
    } else {
        match tenant_name(path) {
            Ok(tenant) => {
                TenantPolicy::compile(tenant, &bundle, &config.decision.default_path, engine)
                    .map(|tenant| document_note(&tenant))
            }
            Err(err) => Err(CompileErrors(vec![SourceError::in_file(
                &name,
                err.to_string(),
            )])),
        }
    };
    let revision = bundle.revision().to_owned();
    Outcome {
        name,
        result: compiled
            .map(|note| Checked { revision, note })
            .map_err(|CompileErrors(errors)| errors),
    }
}

/// A decision path that names no rule is valid (OPA-Envoy answers the
/// document there), but it is also what a typo looks like.
fn document_note(tenant: &TenantPolicy) -> Option<String> {
    (!tenant.policy.names_rule(&tenant.decision)).then(|| {
        format!(
            "decision path `{}` names no rule: the whole document there is the decision, \
             and where there is nothing every request is denied",
            tenant.decision
        )
    })
}

/// The tenant a bundle path names; a bundle checked on its own under a name
/// that is no tenant name is checked as tenant `bundle`.
fn tenant_name(path: &Path) -> Result<TenantName, pdp::tenant::InvalidTenantName> {
    let stem = path
        .file_name()
        .and_then(|n| n.to_str())
        .map(|n| n.trim_end_matches(".tar.gz").trim_end_matches(".tgz"));
    match stem.and_then(|s| TenantName::parse(s).ok()) {
        Some(name) => Ok(name),
        None => TenantName::parse("bundle"),
    }
}

#[allow(clippy::print_stdout, reason = "the report is the command's output")]
fn print(outcomes: &[Outcome]) -> bool {
    let mut failed = false;
    for outcome in outcomes {
        match &outcome.result {
            Ok(checked) => {
                match checked.revision.as_str() {
                    "" => println!("ok    {}", outcome.name),
                    revision => println!("ok    {} (revision {revision})", outcome.name),
                }
                if let Some(note) = &checked.note {
                    println!("      note: {note}");
                }
            }
            Err(errors) => {
                failed = true;
                println!(
                    "FAIL  {}: {} error{}",
                    outcome.name,
                    errors.len(),
                    if errors.len() == 1 { "" } else { "s" }
                );
                for error in errors {
                    for line in error.to_string().lines() {
                        println!("      {line}");
                    }
                }
            }
        }
    }
    failed
}
