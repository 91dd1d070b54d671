//! The load generator: drives the service and a no-op check server over
//! gRPC on loopback, open loop at fixed rates and closed loop at full speed,
//! with a mix of tenants, and reports percentiles, throughput and the
//! service's own cost (the difference from the no-op server) as a table and
//! as JSON.

use std::{path::PathBuf, process::ExitCode, time::Duration};

use clap::Parser;
use pdp_benches::compare::{CompareConfig, run, table};

#[derive(Debug, Parser)]
#[command(
    name = "loadgen",
    about = "Drive the service and a no-op server over gRPC and compare"
)]
struct Args {
    /// Open-loop rates, requests per second.
    #[arg(long, value_delimiter = ',', default_value = "1000,5000,10000")]
    rates: Vec<u32>,
    /// Measured seconds per run.
    #[arg(long, default_value_t = 10.0)]
    seconds: f64,
    /// Unmeasured warm-up seconds before each run.
    #[arg(long, default_value_t = 2.0)]
    warmup: f64,
    /// HTTP/2 connections per server.
    #[arg(long, default_value_t = 4)]
    connections: usize,
    /// Workers in the closed-loop run.
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// Threads serving checks.
    #[arg(long, default_value_t = 1)]
    server_threads: usize,
    /// Also write the results as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
}

#[allow(clippy::print_stdout, reason = "the report is the program's output")]
fn main() -> ExitCode {
    let args = Args::parse();
    let config = CompareConfig {
        rates: args.rates,
        duration: Duration::from_secs_f64(args.seconds),
        warmup: Duration::from_secs_f64(args.warmup),
        connections: args.connections,
        concurrency: args.concurrency,
        server_threads: args.server_threads,
    };
    let rows = match run(&config) {
        Ok(rows) => rows,
        Err(err) => {
            eprintln!("loadgen: {err:#}");
            return ExitCode::FAILURE;
        }
    };
    println!("{}", table(&rows));
    if let Some(path) = args.json {
        let report = serde_json::json!({ "config": config, "rows": rows });
        if let Err(err) = std::fs::write(&path, format!("{report:#}\n")) {
            eprintln!("loadgen: cannot write {}: {err}", path.display());
            return ExitCode::FAILURE;
        }
    }
    ExitCode::SUCCESS
}
