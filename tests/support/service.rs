//! The service on ephemeral loopback ports, stopped when dropped.

use std::{net::SocketAddr, sync::Arc};

use pdp::{config::Config, server::Service};
use tokio::{net::TcpListener, sync::oneshot, task::JoinHandle};

/// A running service.
pub struct RunningService {
    /// The gRPC listener's address.
    pub grpc: SocketAddr,
    /// The HTTP listener's address.
    pub http: SocketAddr,
    /// The service itself, for in-process access (reload, registry).
    pub service: Arc<Service>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl RunningService {
    /// Loads the bundles under `config.bundles.root` and serves on port 0.
    pub async fn start(mut config: Config) -> anyhow::Result<Self> {
        config.server.grpc_addr = SocketAddr::from(([127, 0, 0, 1], 0));
        config.server.http_addr = SocketAddr::from(([127, 0, 0, 1], 0));
        let (service, report) =
            tokio::task::spawn_blocking(move || Service::load(config)).await??;
        anyhow::ensure!(
            report.failed.is_empty(),
            "bundles failed to load: {:?}",
            report.failed
        );
        let service = Arc::new(service);

        let grpc_listener = TcpListener::bind("127.0.0.1:0").await?;
        let http_listener = TcpListener::bind("127.0.0.1:0").await?;
        let grpc = grpc_listener.local_addr()?;
        let http = http_listener.local_addr()?;
        let (stop, stopped) = oneshot::channel::<()>();
        let serving = service.clone();
        let task = tokio::spawn(async move {
            let shutdown = async {
                let _ = stopped.await;
            };
            if let Err(err) = serving.serve(grpc_listener, http_listener, shutdown).await {
                eprintln!("service stopped with an error: {err}");
            }
        });
        Ok(Self {
            grpc,
            http,
            service,
            stop: Some(stop),
            task: Some(task),
        })
    }

    /// Stops the service and waits for it to finish.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for RunningService {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}
