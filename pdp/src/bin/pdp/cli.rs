//! Command-line arguments, environment variables, and start-up.
//!
//! Precedence, lowest first: built-in defaults, the TOML file (`--config`),
//! environment variables, flags. Each flag has its variable.

use std::{
    net::SocketAddr,
    path::PathBuf,
    process::ExitCode,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
};

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use pdp::{
    config::{Config, LogFormat},
    extauthz::OnError,
    server::{Service, log_report},
};
use tokio::net::TcpListener;

#[derive(Debug, Parser)]
#[command(
    name = "pdp",
    version,
    about = "Multi-tenant policy decision point: an Envoy ext_authz server for Rego bundles",
    long_about = "Multi-tenant policy decision point: an Envoy ext_authz (v3) gRPC server \
                  that evaluates each tenant's Rego bundle, plus system guardrails, in \
                  OPA-Envoy's forms.\n\nSettings come from built-in defaults, then the TOML \
                  file given with --config, then environment variables, then flags."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve ext_authz over gRPC and health/status over HTTP.
    Serve(ServeArgs),
    /// Compile bundles offline and report every error; exits 1 on errors.
    Check(crate::check::CheckArgs),
}

#[derive(Debug, Args)]
pub(crate) struct ConfigArgs {
    /// TOML config file.
    #[arg(long, env = "PDP_CONFIG")]
    pub(crate) config: Option<PathBuf>,
    /// Folder with `system/` and `tenants/<tenant>/` bundles [default: bundles].
    #[arg(long, env = "PDP_BUNDLES")]
    pub(crate) bundles: Option<PathBuf>,
}

#[derive(Debug, Args)]
struct ServeArgs {
    #[command(flatten)]
    config: ConfigArgs,
    /// Address of the ext_authz gRPC listener [default: 127.0.0.1:9191].
    #[arg(long, env = "PDP_GRPC_ADDR")]
    grpc_addr: Option<SocketAddr>,
    /// Address of the HTTP listener (health, status) [default: 127.0.0.1:8181].
    #[arg(long, env = "PDP_HTTP_ADDR")]
    http_addr: Option<SocketAddr>,
    /// Threads serving checks; each policy keeps one engine per thread
    /// [default: number of CPUs].
    #[arg(long, env = "PDP_WORKER_THREADS")]
    worker_threads: Option<usize>,
    /// Answer undefined or malformed decisions and evaluation errors with
    /// a gRPC error (Envoy's status_on_error applies) or an explicit 403.
    #[arg(long, env = "PDP_ON_ERROR", value_enum)]
    on_error: Option<OnErrorArg>,
    /// Log filter, e.g. `info` or `pdp=debug` [default: info].
    #[arg(long, env = "PDP_LOG")]
    log_level: Option<String>,
    /// Log format [default: text].
    #[arg(long, env = "PDP_LOG_FORMAT", value_enum)]
    log_format: Option<LogFormat>,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum OnErrorArg {
    GrpcError,
    Deny,
}

pub(crate) fn run() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(args) => serve(args),
        Command::Check(args) => crate::check::run(args),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// Loads the config file (if any) and applies the shared overrides.
pub(crate) fn load_config(args: &ConfigArgs) -> anyhow::Result<Config> {
    let mut config = match &args.config {
        Some(path) => Config::from_file(path)?,
        None => Config::default(),
    };
    if let Some(bundles) = &args.bundles {
        anyhow::ensure!(
            config.sources.is_empty(),
            "--bundles (PDP_BUNDLES) cannot be combined with [[sources]]; \
             add the folder as a source of kind \"directory\""
        );
        config.bundles.root = bundles.clone();
    }
    Ok(config)
}

fn serve(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let mut config = load_config(&args.config)?;
    if let Some(addr) = args.grpc_addr {
        config.server.grpc_addr = addr;
    }
    if let Some(addr) = args.http_addr {
        config.server.http_addr = addr;
    }
    if let Some(threads) = args.worker_threads {
        anyhow::ensure!(threads > 0, "--worker-threads must be at least 1");
        config.engine.worker_threads = threads;
    }
    if let Some(on_error) = args.on_error {
        config.decision.on_error = match on_error {
            OnErrorArg::GrpcError => OnError::GrpcError,
            OnErrorArg::Deny => OnError::Deny,
        };
    }
    if let Some(level) = args.log_level {
        config.log.level = level;
    }
    if let Some(format) = args.log_format {
        config.log.format = format;
    }
    init_logging(&config)?;

    // Worker threads are pinned to engine slots 0..n as they start, so each
    // serves checks on its own copy of every policy.
    let next_slot = Arc::new(AtomicUsize::new(0));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(config.engine.worker_threads)
        .thread_name("pdp-worker")
        .on_thread_start(move || {
            pdp::decision::pin_thread_to_slot(next_slot.fetch_add(1, Ordering::Relaxed));
        })
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(serve_async(config))?;
    Ok(ExitCode::SUCCESS)
}

async fn serve_async(config: Config) -> anyhow::Result<()> {
    let grpc_addr = config.server.grpc_addr;
    let http_addr = config.server.http_addr;
    let sources: Vec<String> = config
        .effective_sources()
        .iter()
        .map(|s| s.name().to_owned())
        .collect();

    let loaded = tokio::task::spawn_blocking(move || Service::load(config)).await??;
    let (service, report) = loaded;
    let grpc = TcpListener::bind(grpc_addr)
        .await
        .with_context(|| format!("cannot listen for gRPC on {grpc_addr}"))?;
    let http = TcpListener::bind(http_addr)
        .await
        .with_context(|| format!("cannot listen for HTTP on {http_addr}"))?;

    let snapshot = service.registry().snapshot();
    let mut tenants: Vec<String> = snapshot
        .tenants()
        .iter()
        .map(|(name, t)| format!("{name}@{}", t.revision))
        .collect();
    tenants.sort();
    tracing::info!(
        grpc = %grpc.local_addr()?,
        http = %http.local_addr()?,
        sources = ?sources,
        system_revision = %snapshot.system().revision,
        tenants = ?tenants,
        failed = ?report.failed.iter().map(|(n, _)| n).collect::<Vec<_>>(),
        "serving {} tenant(s)",
        tenants.len()
    );
    for (name, errors) in &report.failed {
        for error in errors {
            tracing::warn!(bundle = %name, "{error}");
        }
    }
    log_report(&report);

    Arc::new(service)
        .serve(grpc, http, shutdown_signal())
        .await?;
    tracing::info!("stopped");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutting down; finishing in-flight requests");
}

fn init_logging(config: &Config) -> anyhow::Result<()> {
    let filter = tracing_subscriber::EnvFilter::try_new(&config.log.level)
        .with_context(|| format!("invalid log filter `{}`", config.log.level))?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match config.log.format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
    Ok(())
}
