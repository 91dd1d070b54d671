//! Driving a check server over gRPC on loopback, open loop at a fixed rate
//! or closed loop at full speed.
//!
//! Open loop: a pacer thread wakes at each request's scheduled time and
//! hands the request to the client runtime, and latency is measured from
//! the scheduled time, so a slow server cannot slow the arrivals down and
//! hide its own queueing (coordinated omission). Closed loop: a fixed number
//! of workers each send a request as soon as the previous one returned.

use std::{
    net::SocketAddr,
    sync::Arc,
    time::{Duration, Instant},
};

use envoy_types::pb::envoy::service::auth::v3::{
    CheckRequest, authorization_client::AuthorizationClient,
};
use tokio::sync::mpsc;
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
/// `requests`. The pacer runs on its own thread; sends run on `runtime`.
pub fn open_loop(
    runtime: &tokio::runtime::Handle,
    clients: &Clients,
    requests: &Arc<Vec<CheckRequest>>,
    rate: u32,
    duration: Duration,
) -> LoadResult {
    let total = (f64::from(rate) * duration.as_secs_f64()) as usize;
    let interval = Duration::from_secs_f64(1.0 / f64::from(rate.max(1)));
    let (tx, mut rx) = mpsc::unbounded_channel::<Result<Duration, ()>>();

    tighten_timer_slack();
    let start = Instant::now() + Duration::from_millis(10);
    for i in 0..total {
        let scheduled = start + interval.mul_f64(i as f64);
        wait_until(scheduled);
        let mut client = clients.client(i);
        let request = requests[i % requests.len()].clone();
        let tx = tx.clone();
        runtime.spawn(async move {
            let outcome = client.check(request).await;
            let _ = tx.send(outcome.map(|_| scheduled.elapsed()).map_err(|_| ()));
        });
    }
    drop(tx);

    let mut samples = Samples::with_capacity(total);
    let mut errors = 0;
    while let Some(outcome) = rx.blocking_recv() {
        match outcome {
            Ok(latency) => samples.push(latency),
            Err(()) => errors += 1,
        }
    }
    let elapsed = start.elapsed().as_secs_f64();
    LoadResult {
        throughput: samples.len() as f64 / elapsed,
        latency: samples.summary(),
        errors,
    }
}

/// Sleeps until shortly before `deadline`, then spins the last stretch.
/// The pacer asks the kernel for tight timers (see [`tighten_timer_slack`]),
/// so the spin stays short: a pacer that spun whole intervals would hold a
/// core of a two-core machine and queue the client and server behind it.
fn wait_until(deadline: Instant) {
    const SPIN: Duration = Duration::from_micros(30);
    loop {
        let now = Instant::now();
        if now >= deadline {
            return;
        }
        let left = deadline - now;
        if left > SPIN {
            std::thread::sleep(left - SPIN);
        } else {
            std::hint::spin_loop();
        }
    }
}

/// Lets this thread's sleeps end within a microsecond of their deadline
/// instead of Linux's default 50 µs slack.
#[allow(unsafe_code, reason = "prctl(PR_SET_TIMERSLACK) has no safe wrapper")]
fn tighten_timer_slack() {
    #[cfg(target_os = "linux")]
    // SAFETY: PR_SET_TIMERSLACK takes one integer argument and only changes
    // the calling thread's timer slack; no memory is passed.
    unsafe {
        libc::prctl(libc::PR_SET_TIMERSLACK, 1_000 as libc::c_ulong, 0, 0, 0);
    }
}

/// `concurrency` workers send back to back for `duration`.
pub async fn closed_loop(
    clients: &Clients,
    requests: &Arc<Vec<CheckRequest>>,
    concurrency: usize,
    duration: Duration,
) -> LoadResult {
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
    let elapsed = start.elapsed().as_secs_f64();
    LoadResult {
        throughput: samples.len() as f64 / elapsed,
        latency: samples.summary(),
        errors,
    }
}
