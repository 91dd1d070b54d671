//! Shared pieces of the benchmarks: the workloads (bundles and check
//! requests shaped like a real Envoy's), latency statistics, a no-op check
//! server to measure against, and process memory readings.

pub mod budget;
pub mod compare;
pub mod load;
pub mod measure;
pub mod noop;
pub mod stats;
pub mod workload;
