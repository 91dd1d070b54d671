//! Driving a check server over gRPC on loopback, open loop at a fixed rate
//! or closed loop at full speed.
//!
//! Open loop: the client sends each request at its scheduled time and
//! measures latency from that time, so a slow server cannot slow the
//! arrivals down and hide its own queueing (coordinated omission). Closed
//! loop: a fixed number of workers each send a request as soon as the
//! previous one returned.
//!
//! The client does as little as it can, so that what it measures is the
//! server: requests are encoded once, before the run, and answers are
//! decoded only as far as their status, skipping headers, body and
//! metadata, which the no-op server never sends.

use std::{
    net::SocketAddr,
    sync::Arc,
    time::{Duration, Instant},
};

use envoy_types::pb::{envoy::service::auth::v3::CheckRequest, google::rpc};
use prost::{
    Message,
    bytes::{BufMut, Bytes},
};
use tokio::sync::mpsc::{self, error::TryRecvError};
use tonic::{
    Status,
    client::Grpc,
    codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder},
    codegen::http::uri::PathAndQuery,
    transport::Channel,
};

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
    /// Answers that denied (status other than OK).
    pub denied: u64,
}

/// What one or more runs against a server collected.
#[derive(Debug, Default)]
pub struct Tally {
    /// Latency of each completed request.
    pub samples: Samples,
    /// Requests that failed at the RPC level.
    pub errors: u64,
    /// Answers that denied.
    pub denied: u64,
    /// Time spent sending and waiting.
    pub elapsed: Duration,
}

impl Tally {
    /// Adds another run's results.
    pub fn add(&mut self, other: Tally) {
        self.samples.extend(&other.samples);
        self.errors += other.errors;
        self.denied += other.denied;
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
            denied: self.denied,
        }
    }
}

/// Check requests, each encoded once.
#[derive(Debug, Clone)]
pub struct Encoded(Arc<Vec<Bytes>>);

impl Encoded {
    /// Encodes `requests`.
    pub fn new(requests: &[CheckRequest]) -> Self {
        Self(Arc::new(
            requests
                .iter()
                .map(|r| Bytes::from(r.encode_to_vec()))
                .collect(),
        ))
    }

    fn get(&self, i: usize) -> Bytes {
        self.0[i % self.0.len()].clone()
    }
}

/// What the client reads of an answer: `CheckResponse.status`, prost
/// skipping every other field.
#[derive(Clone, PartialEq, Message)]
struct Answer {
    #[prost(message, optional, tag = "1")]
    status: Option<rpc::Status>,
}

impl Answer {
    fn denied(&self) -> bool {
        self.status.as_ref().is_some_and(|s| s.code != 0)
    }
}

/// Sends pre-encoded requests, decodes [`Answer`]s.
#[derive(Debug, Clone, Copy, Default)]
struct LeanCodec;

impl Codec for LeanCodec {
    type Encode = Bytes;
    type Decode = Answer;
    type Encoder = LeanCodec;
    type Decoder = LeanCodec;

    fn encoder(&mut self) -> Self::Encoder {
        LeanCodec
    }

    fn decoder(&mut self) -> Self::Decoder {
        LeanCodec
    }
}

impl Encoder for LeanCodec {
    type Item = Bytes;
    type Error = Status;

    fn encode(&mut self, item: Bytes, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        dst.put(item);
        Ok(())
    }
}

impl Decoder for LeanCodec {
    type Item = Answer;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Answer>, Status> {
        Answer::decode(src)
            .map(Some)
            .map_err(|err| Status::internal(format!("cannot decode the answer: {err}")))
    }
}

const CHECK: &str = "/envoy.service.auth.v3.Authorization/Check";

/// One `Check` call.
async fn check(client: &mut Grpc<Channel>, request: Bytes) -> Result<Answer, Status> {
    client
        .ready()
        .await
        .map_err(|err| Status::unavailable(err.to_string()))?;
    let response = client
        .unary(
            tonic::Request::new(request),
            PathAndQuery::from_static(CHECK),
            LeanCodec,
        )
        .await?;
    Ok(response.into_inner())
}

/// Connections to one server, shared by all senders.
#[derive(Clone)]
pub struct Clients {
    clients: Arc<Vec<Grpc<Channel>>>,
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
            clients.push(Grpc::new(channel));
        }
        Ok(Self {
            clients: Arc::new(clients),
        })
    }

    fn client(&self, i: usize) -> Grpc<Channel> {
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
    requests: &Encoded,
    rate: u32,
    duration: Duration,
) -> Tally {
    let total = (f64::from(rate) * duration.as_secs_f64()) as usize;
    let interval = Duration::from_secs_f64(1.0 / f64::from(rate.max(1)));
    let (tx, mut rx) = mpsc::unbounded_channel::<Result<(Duration, bool), ()>>();

    let start = Instant::now() + Duration::from_millis(10);
    for i in 0..total {
        let scheduled = start + interval.mul_f64(i as f64);
        while Instant::now() < scheduled {
            tokio::task::yield_now().await;
        }
        let mut client = clients.client(i);
        let request = requests.get(i);
        let tx = tx.clone();
        tokio::spawn(async move {
            let outcome = check(&mut client, request).await;
            let _ = tx.send(
                outcome
                    .map(|answer| (scheduled.elapsed(), answer.denied()))
                    .map_err(|_| ()),
            );
        });
    }
    drop(tx);

    let mut samples = Samples::with_capacity(total);
    let (mut errors, mut denied) = (0, 0);
    loop {
        match rx.try_recv() {
            Ok(Ok((latency, was_denied))) => {
                samples.push(latency);
                denied += u64::from(was_denied);
            }
            Ok(Err(())) => errors += 1,
            Err(TryRecvError::Empty) => tokio::task::yield_now().await,
            Err(TryRecvError::Disconnected) => break,
        }
    }
    Tally {
        samples,
        errors,
        denied,
        elapsed: start.elapsed(),
    }
}

/// `concurrency` workers send back to back for `duration`.
pub async fn closed_loop(
    clients: &Clients,
    requests: &Encoded,
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
            let (mut errors, mut denied) = (0_u64, 0_u64);
            let mut i = w;
            while Instant::now() < deadline {
                let request = requests.get(i);
                let sent = Instant::now();
                match check(&mut client, request).await {
                    Ok(answer) => {
                        samples.push(sent.elapsed());
                        denied += u64::from(answer.denied());
                    }
                    Err(_) => errors += 1,
                }
                i += concurrency;
            }
            (samples, errors, denied)
        }));
    }
    let mut tally = Tally::default();
    for worker in workers {
        if let Ok((samples, errors, denied)) = worker.await {
            tally.samples.extend(&samples);
            tally.errors += errors;
            tally.denied += denied;
        }
    }
    tally.elapsed = start.elapsed();
    tally
}
