//! The service against a no-op check server, in one run, on one machine,
//! through the same gRPC stack: the service's own cost is the difference,
//! which holds on a noisy machine where absolute numbers do not.

use std::{
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use tokio::{net::TcpListener, runtime::Runtime};

use crate::{
    load::{Clients, Encoded, LoadResult, Tally, closed_loop, open_loop},
    noop::NoopServer,
    workload::{Loaded, load, mix},
};

/// How to run a comparison.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CompareConfig {
    /// Open-loop rates, requests per second.
    pub rates: Vec<u32>,
    /// Measured time per run.
    pub duration: Duration,
    /// Unmeasured time before each run.
    pub warmup: Duration,
    /// HTTP/2 connections per server.
    pub connections: usize,
    /// Workers in the closed-loop run.
    pub concurrency: usize,
    /// Threads serving checks (the service and the no-op server alike).
    /// The client always runs on one thread of its own.
    pub server_threads: usize,
}

/// One load level, measured on both servers.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Row {
    /// `"5000 rps"`, or `"max"` for the closed loop.
    pub load: String,
    /// The no-op server, all turns pooled.
    pub noop: LoadResult,
    /// The service, all turns pooled.
    pub service: LoadResult,
    /// The service's cost above the no-op server, quietest turn against
    /// quietest turn.
    pub cost: TurnCost,
}

/// The service's cost above the no-op server at one percentile: that
/// percentile in the service's quietest turn minus the same percentile in
/// the no-op server's quietest turn, "quietest" meaning the turn where the
/// percentile is lowest.
///
/// On a virtual machine noise only adds. The host taking the CPU away for a
/// millisecond lands in one turn and lifts that turn's tail by far more than
/// the service costs, and it strikes about half of all quarter-second turns
/// at 5,000 requests/s, so neither pooled percentiles nor the median of
/// adjacent-turn differences repeat at p99 (runs of 20 turns ranged from
/// -500 to +1,000 µs). What the service itself adds (work per request, a
/// lock, a periodic pause) is in every one of its turns, the quietest
/// included, so comparing the quietest turns keeps it and drops the host.
/// The turns alternate, so both servers get the same chances at a quiet one.
#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub struct TurnCost {
    /// Quietest-turn p50 difference, microseconds.
    pub p50_us: f64,
    /// Quietest-turn p99 difference, microseconds.
    pub p99_us: f64,
    /// Turns measured on each server.
    pub turns: usize,
}

impl TurnCost {
    /// The cost over `pairs` of turns (no-op, service); `NaN` if no pair
    /// has samples on both sides.
    fn of(pairs: &mut [(Tally, Tally)]) -> Self {
        let mut measured: Vec<&mut (Tally, Tally)> = pairs
            .iter_mut()
            .filter(|(noop, service)| !noop.samples.is_empty() && !service.samples.is_empty())
            .collect();
        // With no turns both minima stay infinite, and their difference is NaN.
        let mut cost = |q: f64| {
            let (mut noop, mut service) = (f64::INFINITY, f64::INFINITY);
            for pair in &mut measured {
                noop = noop.min(pair.0.samples.quantile_us(q));
                service = service.min(pair.1.samples.quantile_us(q));
            }
            service - noop
        };
        let (p50_us, p99_us) = (cost(0.50), cost(0.99));
        Self {
            p50_us,
            p99_us,
            turns: measured.len(),
        }
    }
}

impl Row {
    /// The service's median cost above the no-op server, in microseconds
    /// (see [`TurnCost`]).
    pub fn overhead_p50_us(&self) -> f64 {
        self.cost.p50_us
    }

    /// The service's p99 cost above the no-op server, in microseconds
    /// (see [`TurnCost`]).
    pub fn overhead_p99_us(&self) -> f64 {
        self.cost.p99_us
    }

    /// The service's throughput as a share of the no-op server's.
    pub fn throughput_ratio(&self) -> f64 {
        if self.noop.throughput > 0.0 {
            self.service.throughput / self.noop.throughput
        } else {
            0.0
        }
    }
}

struct Servers {
    service: SocketAddr,
    noop: SocketAddr,
    _loaded: Arc<Loaded>,
    _noop_server: NoopServer,
}

fn server_runtime(threads: usize) -> anyhow::Result<Runtime> {
    let next_slot = Arc::new(AtomicUsize::new(0));
    Ok(tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .thread_name("bench-server")
        .on_thread_start(move || {
            pdp::decision::pin_thread_to_slot(next_slot.fetch_add(1, Ordering::Relaxed));
        })
        .enable_all()
        .build()?)
}

fn start_servers(runtime: &Runtime, threads: usize) -> anyhow::Result<Servers> {
    let loaded = Arc::new(load(threads)?);
    runtime.block_on(async {
        let grpc = TcpListener::bind("127.0.0.1:0").await?;
        let http = TcpListener::bind("127.0.0.1:0").await?;
        let service = grpc.local_addr()?;
        let serving = loaded.clone();
        tokio::spawn(async move {
            let _ = serving
                .service
                .clone()
                .serve(grpc, http, std::future::pending())
                .await;
        });
        let noop_server = NoopServer::start().await?;
        Ok(Servers {
            service,
            noop: noop_server.addr,
            _loaded: loaded,
            _noop_server: noop_server,
        })
    })
}

/// How long each server is driven before the other takes its turn. Short
/// turns put both servers under the same machine conditions: on a shared
/// virtual machine, wake-up latency drifts by tens of microseconds from one
/// second to the next, more than the service's own cost.
const TURN: Duration = Duration::from_millis(250);

/// Runs every load level against both servers, alternating between them in
/// short turns and pooling each server's turns.
pub fn run(config: &CompareConfig) -> anyhow::Result<Vec<Row>> {
    let server = server_runtime(config.server_threads)?;
    let servers = start_servers(&server, config.server_threads)?;
    let client = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let requests = Encoded::new(&mix(1_000));
    let (to_noop, to_service) = client.block_on(async {
        anyhow::Ok((
            Clients::connect(servers.noop, config.connections).await?,
            Clients::connect(servers.service, config.connections).await?,
        ))
    })?;
    let turns = turns(config.duration);

    let servers_in_turn = [&to_noop, &to_service];

    let mut rows = Vec::new();
    for &rate in &config.rates {
        rows.push(in_turns(
            format!("{rate} rps"),
            servers_in_turn,
            config.warmup,
            turns,
            |clients, length| client.block_on(open_loop(clients, &requests, rate, length)),
        ));
    }
    rows.push(in_turns(
        "max".to_owned(),
        servers_in_turn,
        config.warmup,
        turns,
        |clients, length| {
            client.block_on(closed_loop(clients, &requests, config.concurrency, length))
        },
    ));
    drop(servers);
    Ok(rows)
}

/// One load level: a warm-up for each server, then `turns` turns each,
/// alternating; each server's turns are also pooled.
fn in_turns(
    load: String,
    [noop_clients, service_clients]: [&Clients; 2],
    warmup: Duration,
    turns: u32,
    run: impl Fn(&Clients, Duration) -> Tally,
) -> Row {
    run(noop_clients, warmup);
    run(service_clients, warmup);
    let mut pairs: Vec<(Tally, Tally)> = (0..turns)
        .map(|_| (run(noop_clients, TURN), run(service_clients, TURN)))
        .collect();
    let cost = TurnCost::of(&mut pairs);
    let (mut noop, mut service) = (Tally::default(), Tally::default());
    for (n, s) in pairs {
        noop.add(n);
        service.add(s);
    }
    Row {
        load,
        noop: noop.result(),
        service: service.result(),
        cost,
    }
}

/// Turns per server for `duration` of measurement on each.
fn turns(duration: Duration) -> u32 {
    (duration.as_secs_f64() / TURN.as_secs_f64())
        .ceil()
        .max(1.0) as u32
}

/// The rows as a Markdown table.
pub fn table(rows: &[Row]) -> String {
    let mut out = String::from(
        "| load | no-op p50 | no-op p99 | pdp p50 | pdp p90 | pdp p99 | pdp p99.9 | pdp cost p50 | pdp cost p99 | pdp rps | no-op rps | errors |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for row in rows {
        let (n, s) = (&row.noop.latency, &row.service.latency);
        out.push_str(&format!(
            "| {} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} | {:.0} | {:.0} | {} |\n",
            row.load,
            n.p50_us,
            n.p99_us,
            s.p50_us,
            s.p90_us,
            s.p99_us,
            s.p999_us,
            row.overhead_p50_us(),
            row.overhead_p99_us(),
            row.service.throughput,
            row.noop.throughput,
            row.service.errors + row.noop.errors,
        ));
    }
    out.push_str(
        "\nLatencies in microseconds, each server's turns pooled. Cost: pdp minus no-op at the \
         same percentile, each server's quietest turn for that percentile.\n",
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A turn whose requests took `micros`, one request each.
    fn turn(micros: &[u64]) -> Tally {
        let mut tally = Tally::default();
        for &m in micros {
            tally.samples.push(Duration::from_micros(m));
        }
        tally
    }

    #[test]
    fn a_stalled_turn_does_not_move_the_cost() {
        let mut stalled_service = turn(&[110; 90]);
        stalled_service.add(turn(&[5_000; 10]));
        let mut pairs = vec![
            (turn(&[100; 100]), stalled_service),
            (turn(&[100; 100]), turn(&[110; 100])),
        ];

        let cost = TurnCost::of(&mut pairs);

        assert_eq!(cost.turns, 2);
        assert!((cost.p50_us - 10.0).abs() < 1e-9, "{cost:?}");
        assert!((cost.p99_us - 10.0).abs() < 1e-9, "{cost:?}");
    }

    #[test]
    fn a_cost_in_every_turn_is_kept() {
        let mut pairs: Vec<(Tally, Tally)> = (0..4)
            .map(|i| (turn(&[100 + i; 100]), turn(&[160 + i; 100])))
            .collect();

        let cost = TurnCost::of(&mut pairs);

        assert!((cost.p50_us - 60.0).abs() < 1e-9, "{cost:?}");
    }

    #[test]
    fn no_turns_give_no_number() {
        let mut pairs = vec![(Tally::default(), turn(&[100]))];

        let cost = TurnCost::of(&mut pairs);

        assert_eq!(cost.turns, 0);
        assert!(cost.p50_us.is_nan() && cost.p99_us.is_nan());
    }
}
