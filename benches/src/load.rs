//! Driving a check server over gRPC on loopback, open loop at a fixed rate
//! or closed loop at full speed.
//!
//! Open loop: the client sends each request at its scheduled time and
//! measures latency from that time, so a slow server cannot slow the
//! arrivals down and hide its own queueing (coordinated omission). Closed
//! loop: a fixed number of workers each send a request as soon as the
//! previous one returned.

use std::{
    net::SocketAddr,
    sync::Arc,
    time::{Duration, Instant},
};

use envoy_types::pb::envoy::service::auth::v3::{
    CheckRequest, authorization_client::AuthorizationClient,
};
use tokio::sync::mpsc::{self, error::TryRecvError};
use tonic::transport::Channel;

use crate::stats::{Samples, Summary};

/// The result of one run.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct LoadResult {
    /// Latency percentiles.
    pub latency: Summary,
    /// Completed requests per second.
    pub throughput: f64,
    /// Requests that failed at the RPC level.
    pub errors: u64,
}

/// What one or more runs against a server collected.
#[derive(Debug, Default)]
pub struct Tally {
    /// Latency of each completed request.
    pub samples: Samples,
    /// Requests that failed at the RPC level.
    pub errors: u64,
    /// Time spent sending and waiting.
    pub elapsed: Duration,
}

impl Tally {
    /// Adds another run's results.
    pub fn add(&mut self, other: Tally) {
        self.samples.extend(&other.samples);
        self.errors += other.errors;
        self.elapsed += other.elapsed;
    }

    /// Percentiles and throughput over everything collected.
    pub fn result(mut self) -> LoadResult {
        let seconds = self.elapsed.as_secs_f64();
        LoadResult {
            throughput: if seconds > 0.0 {
                self.samples.len() as f64 / seconds
            } else {
                0.0
            },
            latency: self.samples.summary(),
            errors: self.errors,
        }
    }
}

/// Connections to one server, shared by all senders.
#[derive(Clone)]
pub struct Clients {
    clients: Arc<Vec<AuthorizationClient<Channel>>>,
}

impl Clients {
    /// Opens `connections` HTTP/2 connections to `target`.
    pub async fn connect(target: SocketAddr, connections: usize) -> anyhow::Result<Self> {
        let mut clients = Vec::with_capacity(connections);
        for _ in 0..connections.max(1) {
            let channel = tonic::transport::Endpoint::from_shared(format!("http://{target}"))?
                .tcp_nodelay(true)
                .connect()
                .await?;
            clients.push(AuthorizationClient::new(channel));
        }
        Ok(Self {
            clients: Arc::new(clients),
        })
    }

    fn client(&self, i: usize) -> AuthorizationClient<Channel> {
        self.clients[i % self.clients.len()].clone()
    }
}

/// Sends `rate` requests per second for `duration`, cycling through
/// `requests`. Run it on a current-thread runtime: its one thread never
/// sleeps, yielding between sends so that the runtime polls the sockets,
/// because on a virtual machine a sleeping thread wakes tens of
/// microseconds late, which would blur both the send times and the
/// responses. That thread holds one core for the run.
pub async fn open_loop(
    clients: &Clients,
    requests: &Arc<Vec<CheckRequest>>,
    rate: u32,
    duration: Duration,
) -> Tally {
    let total = (f64::from(rate) * duration.as_secs_f64()) as usize;
    let interval = Duration::from_secs_f64(1.0 / f64::from(rate.max(1)));
    let (tx, mut rx) = mpsc::unbounded_channel::<Result<Duration, ()>>();

    let start = Instant::now() + Duration::from_millis(10);
    for i in 0..total {
        let scheduled = start + interval.mul_f64(i as f64);
        while Instant::now() < scheduled {
            tokio::task::yield_now().await;
        }
        let mut client = clients.client(i);
        let request = requests[i % requests.len()].clone();
        let tx = tx.clone();
        tokio::spawn(async move {
            let outcome = client.check(request).await;
            let _ = tx.send(outcome.map(|_| scheduled.elapsed()).map_err(|_| ()));
        });
    }
    drop(tx);

    let mut samples = Samples::with_capacity(total);
    let mut errors = 0;
    loop {
        match rx.try_recv() {
            Ok(Ok(latency)) => samples.push(latency),
            Ok(Err(())) => errors += 1,
            Err(TryRecvError::Empty) => tokio::task::yield_now().await,
            Err(TryRecvError::Disconnected) => break,
        }
    }
    Tally {
        samples,
        errors,
        elapsed: start.elapsed(),
    }
}

/// `concurrency` workers send back to back for `duration`.
pub async fn closed_loop(
    clients: &Clients,
    requests: &Arc<Vec<CheckRequest>>,
    concurrency: usize,
    duration: Duration,
) -> Tally {
    let deadline = Instant::now() + duration;
    let start = Instant::now();
    let mut workers = Vec::with_capacity(concurrency);
    for w in 0..concurrency {
        let mut client = clients.client(w);
        let requests = requests.clone();
        workers.push(tokio::spawn(async move {
            let mut samples = Samples::with_capacity(16_384);
            let mut errors = 0_u64;
            let mut i = w;
            while Instant::now() < deadline {
                let request = requests[i % requests.len()].clone();
                let sent = Instant::now();
                match client.check(request).await {
                    Ok(_) => samples.push(sent.elapsed()),
                    Err(_) => errors += 1,
                }
                i += concurrency;
            }
            (samples, errors)
        }));
    }
    let mut samples = Samples::default();
    let mut errors = 0;
    for worker in workers {
        if let Ok((s, e)) = worker.await {
            samples.extend(&s);
            errors += e;
        }
    }
    Tally {
        samples,
        errors,
        elapsed: start.elapsed(),
    }
}
