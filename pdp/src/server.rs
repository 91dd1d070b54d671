//! Wiring: loading the bundles from every source, serving gRPC and HTTP on
//! listeners the caller bound, running the sources' reload tasks (and
//! SIGHUP, which asks every source to sync), and stopping on a shutdown
//! signal.
//!
//! Listeners are passed in already bound, so tests bind port 0 and read the
//! port back before the service starts.

use std::{future::Future, sync::Arc};

use tokio::{net::TcpListener, sync::watch};
use tonic::transport::server::TcpIncoming;

use crate::{
    api::{self, ApiState},
    config::Config,
    extauthz::{AuthorizationService, CheckOptions, CheckService, InputOptions, reflection},
    metrics::Metrics,
    registry::{ActivationReport, Registry, RegistryConfig},
    source::{self, Reloader},
    tenant::{Resolver, TenancyConfigError},
};

/// Why the service could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The tenancy settings are inconsistent.
    #[error("invalid [tenancy] settings: {0}")]
    Tenancy(#[from] TenancyConfigError),
    /// The sources could not be read, or the first snapshot not built.
    #[error(transparent)]
    Sources(#[from] source::StartError),
    /// `reload.admin_token_sha256` is not a SHA-256 in hex.
    #[error("`reload.admin_token_sha256` must be 64 hexadecimal digits")]
    AdminToken,
}

/// Why serving stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The gRPC server failed.
    #[error("gRPC server failed: {0}")]
    Grpc(#[from] tonic::transport::Error),
    /// The HTTP server failed.
    #[error("HTTP server failed: {0}")]
    Http(#[from] std::io::Error),
    /// Reflection could not be set up.
    #[error(transparent)]
    Reflection(#[from] crate::extauthz::reflection::ReflectionError),
}

/// The loaded service, ready to serve.
#[derive(Debug)]
pub struct Service {
    reloader: Arc<Reloader>,
    check: CheckService,
    config: Config,
    admin_token_sha256: Option<[u8; 32]>,
}

impl Service {
    /// Reads and compiles every bundle of every configured source (or of
    /// `config.bundles.root` when none is configured).
    pub fn load(config: Config) -> Result<(Self, ActivationReport), StartError> {
        let resolver = Arc::new(Resolver::new(&config.tenancy)?);
        let admin_token_sha256 = match &config.reload.admin_token_sha256 {
            Some(hex_hash) => Some(
                hex::decode(hex_hash)
                    .ok()
                    .and_then(|bytes| <[u8; 32]>::try_from(bytes).ok())
                    .ok_or(StartError::AdminToken)?,
            ),
            None => None,
        };
        let registry_config = RegistryConfig {
            deny_path: config.decision.system_deny_path.clone(),
            default_decision: config.decision.default_path.clone(),
            engine: config.engine.clone(),
        };
        let metrics = Arc::new(Metrics::new());
        let (reloader, report) = Reloader::start(&config, registry_config, metrics)?;
        let reloader = Arc::new(reloader);
        let registry = reloader.registry().clone();
        let options = CheckOptions {
            on_error: config.decision.on_error,
            input: InputOptions {
                skip_body: config.decision.skip_body_parse,
            },
        };
        let check = CheckService::new(registry.clone(), resolver, options);
        Ok((
            Self {
                reloader,
                check,
                config,
                admin_token_sha256,
            },
            report,
        ))
    }

    /// The registry, shared with the listeners.
    pub fn registry(&self) -> &Arc<Registry> {
        self.reloader.registry()
    }

    /// The sources and their reload triggers.
    pub fn reloader(&self) -> &Arc<Reloader> {
        &self.reloader
    }

    /// The check service, for calling in-process.
    pub fn check(&self) -> &CheckService {
        &self.check
    }

    /// Serves until `shutdown` completes, then drains in-flight requests.
    pub async fn serve(
        self: Arc<Self>,
        grpc: TcpListener,
        http: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), ServeError> {
        let (stop_tx, stop_rx) = watch::channel(false);
        tokio::spawn(async move {
            shutdown.await;
            let _ = stop_tx.send(true);
        });
        self.reloader.spawn(stop_rx.clone());
        tokio::spawn(reload_on_hangup(self.reloader.clone(), stop_rx.clone()));

        let (health, health_service) = tonic_health::server::health_reporter();
        health.set_serving::<AuthorizationService>().await;
        let authz = AuthorizationService::new(
            self.check.clone(),
            self.config.server.grpc_max_message_bytes,
        );
        let grpc_server = tonic::transport::Server::builder()
            .add_service(health_service)
            .add_service(reflection::v1()?)
            .add_service(reflection::v1alpha()?)
            .add_service(authz)
            .serve_with_incoming_shutdown(incoming(grpc), stopped(stop_rx.clone()));

        let state = ApiState {
            registry: self.registry().clone(),
            reloader: Some(self.reloader.clone()),
            metrics: self.reloader.metrics().clone(),
            admin_token_sha256: self.admin_token_sha256,
        };
        let http_server =
            axum::serve(http, api::router(state)).with_graceful_shutdown(stopped(stop_rx));

        let (grpc_result, http_result) = tokio::join!(grpc_server, http_server);
        grpc_result?;
        http_result?;
        Ok(())
    }
}

/// Accepted gRPC connections, with Nagle's algorithm off: a check response
/// is one small write, which Nagle would hold back for the peer's delayed
/// acknowledgement (tens of milliseconds).
fn incoming(listener: TcpListener) -> TcpIncoming {
    TcpIncoming::from(listener)
        .with_nodelay(Some(true))
        .with_keepalive(Some(std::time::Duration::from_secs(60)))
}

async fn stopped(mut rx: watch::Receiver<bool>) {
    // An error means the sender is gone, which also means stop.
    let _ = rx.wait_for(|stop| *stop).await;
}

/// SIGHUP asks every source to sync, as the manual reload endpoint does.
async fn reload_on_hangup(reloader: Arc<Reloader>, mut stop: watch::Receiver<bool>) {
    let Ok(mut hangup) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
    else {
        tracing::warn!("cannot listen for SIGHUP; reload on signal is off");
        return;
    };
    loop {
        tokio::select! {
            _ = stop.wait_for(|s| *s) => return,
            received = hangup.recv() => {
                if received.is_none() {
                    return;
                }
            }
        }
        tracing::info!("SIGHUP received; syncing every source");
        reloader.trigger(None);
    }
}

/// One line saying what an activation did.
pub fn log_report(report: &ActivationReport) {
    tracing::info!(
        generation = report.generation,
        activated = ?report.activated,
        unchanged = report.unchanged.len(),
        removed = ?report.removed,
        failed = ?report.failed.iter().map(|(name, _)| name).collect::<Vec<_>>(),
        "bundles activated"
    );
}
