//! Wiring: loading the bundles, serving gRPC and HTTP on listeners the
//! caller bound, reloading on SIGHUP, and stopping on a shutdown signal.
//!
//! Listeners are passed in already bound, so tests bind port 0 and read the
//! port back before the service starts.

use std::{future::Future, sync::Arc};

use envoy_types::pb::envoy::service::auth::v3::authorization_server::AuthorizationServer;
use tokio::{net::TcpListener, sync::watch};
use tonic::transport::server::TcpIncoming;

use crate::{
    api,
    config::Config,
    extauthz::{CheckOptions, CheckService, InputOptions, reflection},
    registry::{ActivationReport, Registry, RegistryConfig, StartupError},
    source::layout::{self, LayoutError},
    tenant::{Resolver, TenancyConfigError},
};

/// Why the service could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The tenancy settings are inconsistent.
    #[error("invalid [tenancy] settings: {0}")]
    Tenancy(#[from] TenancyConfigError),
    /// The bundle folder cannot be listed.
    #[error(transparent)]
    Layout(#[from] LayoutError),
    /// The first snapshot could not be built.
    #[error(transparent)]
    Registry(#[from] StartupError),
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
    registry: Arc<Registry>,
    check: CheckService,
    config: Config,
}

impl Service {
    /// Reads and compiles every bundle under `config.bundles.root`.
    pub fn load(config: Config) -> Result<(Self, ActivationReport), StartError> {
        let resolver = Arc::new(Resolver::new(&config.tenancy)?);
        let change = layout::full_change(
            &config.bundles.root,
            &config.bundles.limits,
            std::iter::empty(),
        )?;
        let registry_config = RegistryConfig {
            deny_path: config.decision.system_deny_path.clone(),
            default_decision: config.decision.default_path.clone(),
            engine: config.engine.clone(),
        };
        let (registry, report) = Registry::start(registry_config, change)?;
        let registry = Arc::new(registry);
        let options = CheckOptions {
            on_error: config.decision.on_error,
            input: InputOptions {
                skip_body: config.decision.skip_body_parse,
            },
        };
        let check = CheckService::new(registry.clone(), resolver, options);
        Ok((
            Self {
                registry,
                check,
                config,
            },
            report,
        ))
    }

    /// The registry, shared with the listeners.
    pub fn registry(&self) -> &Arc<Registry> {
        &self.registry
    }

    /// The check service, for calling in-process.
    pub fn check(&self) -> &CheckService {
        &self.check
    }

    /// Reads the bundle folder again and activates what changed.
    pub fn reload(&self) -> Result<ActivationReport, LayoutError> {
        let snapshot = self.registry.snapshot();
        let change = layout::full_change(
            &self.config.bundles.root,
            &self.config.bundles.limits,
            snapshot.tenants().keys(),
        )?;
        Ok(self.registry.activate(change))
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
        tokio::spawn(reload_on_hangup(self.clone(), stop_rx.clone()));

        let (health, health_service) = tonic_health::server::health_reporter();
        health
            .set_serving::<AuthorizationServer<CheckService>>()
            .await;
        let authz = AuthorizationServer::new(self.check.clone())
            .max_decoding_message_size(self.config.server.grpc_max_message_bytes);
        let grpc_server = tonic::transport::Server::builder()
            .add_service(health_service)
            .add_service(reflection::v1()?)
            .add_service(reflection::v1alpha()?)
            .add_service(authz)
            .serve_with_incoming_shutdown(incoming(grpc), stopped(stop_rx.clone()));

        let http_server = axum::serve(http, api::router(self.registry.clone()))
            .with_graceful_shutdown(stopped(stop_rx));

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

/// SIGHUP re-reads the bundle folder. Compiling happens on a blocking
/// thread, away from the threads serving checks.
async fn reload_on_hangup(service: Arc<Service>, mut stop: watch::Receiver<bool>) {
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
        tracing::info!("SIGHUP received; reloading bundles");
        let svc = service.clone();
        match tokio::task::spawn_blocking(move || svc.reload()).await {
            Ok(Ok(report)) => log_report(&report),
            Ok(Err(err)) => tracing::warn!(error = %err, "reload failed; nothing changed"),
            Err(err) => tracing::error!(error = %err, "reload task failed; nothing changed"),
        }
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
