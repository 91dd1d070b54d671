//! A check server that allows everything without looking at the request:
//! the baseline the load generator measures the service against, in the
//! same run, on the same machine, through the same gRPC stack.

use std::net::SocketAddr;

use envoy_types::pb::{
    envoy::service::auth::v3::{
        CheckRequest, CheckResponse,
        authorization_server::{Authorization, AuthorizationServer},
    },
    google::rpc::Status,
};
use tokio::{net::TcpListener, sync::oneshot, task::JoinHandle};
use tonic::transport::server::TcpIncoming;

#[derive(Debug, Clone, Copy)]
struct Noop;

#[tonic::async_trait]
impl Authorization for Noop {
    async fn check(
        &self,
        _request: tonic::Request<CheckRequest>,
    ) -> Result<tonic::Response<CheckResponse>, tonic::Status> {
        Ok(tonic::Response::new(CheckResponse {
            status: Some(Status::default()),
            dynamic_metadata: None,
            http_response: None,
        }))
    }
}

/// A running no-op server, stopped when dropped.
pub struct NoopServer {
    /// Its address.
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    _task: JoinHandle<()>,
}

impl NoopServer {
    /// Serves on a loopback port chosen by the system.
    pub async fn start() -> anyhow::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let result = tonic::transport::Server::builder()
                .add_service(AuthorizationServer::new(Noop))
                .serve_with_incoming_shutdown(
                    TcpIncoming::from(listener).with_nodelay(Some(true)),
                    async {
                        let _ = stopped.await;
                    },
                )
                .await;
            if let Err(err) = result {
                tracing_error(&err);
            }
        });
        Ok(Self {
            addr,
            stop: Some(stop),
            _task: task,
        })
    }
}

#[allow(clippy::print_stderr, reason = "the load generator reports on stderr")]
fn tracing_error(err: &tonic::transport::Error) {
    eprintln!("no-op server failed: {err}");
}

impl Drop for NoopServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}
