//! Latency samples and their percentiles.

use std::time::Duration;

/// Latencies in nanoseconds, sorted on demand.
#[derive(Debug, Clone, Default)]
pub struct Samples {
    nanos: Vec<u64>,
    sorted: bool,
}

/// The summary the reports print.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Summary {
    /// Number of samples.
    pub count: usize,
    /// Median, in microseconds.
    pub p50_us: f64,
    /// 90th percentile, in microseconds.
    pub p90_us: f64,
    /// 99th percentile, in microseconds.
    pub p99_us: f64,
    /// 99.9th percentile, in microseconds.
    pub p999_us: f64,
    /// Mean, in microseconds.
    pub mean_us: f64,
}

impl Samples {
    /// An empty set with room for `n` samples.
    pub fn with_capacity(n: usize) -> Self {
        Self {
            nanos: Vec::with_capacity(n),
            sorted: true,
        }
    }

    /// Adds one sample.
    pub fn push(&mut self, elapsed: Duration) {
        self.nanos
            .push(u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX));
        self.sorted = false;
    }

    /// Adds every sample of `other`.
    pub fn extend(&mut self, other: &Samples) {
        self.nanos.extend_from_slice(&other.nanos);
        self.sorted = false;
    }

    /// Number of samples.
    pub fn len(&self) -> usize {
        self.nanos.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.nanos.is_empty()
    }

    /// The `q` quantile (0..=1) in microseconds, nearest-rank.
    pub fn quantile_us(&mut self, q: f64) -> f64 {
        if self.nanos.is_empty() {
            return 0.0;
        }
        if !self.sorted {
            self.nanos.sort_unstable();
            self.sorted = true;
        }
        let rank = (q * self.nanos.len() as f64).ceil() as usize;
        let idx = rank.clamp(1, self.nanos.len()) - 1;
        self.nanos.get(idx).copied().unwrap_or(0) as f64 / 1_000.0
    }

    /// p50, p90, p99, p99.9 and the mean.
    pub fn summary(&mut self) -> Summary {
        let mean = if self.nanos.is_empty() {
            0.0
        } else {
            self.nanos.iter().map(|&n| n as f64).sum::<f64>() / self.nanos.len() as f64 / 1_000.0
        };
        Summary {
            count: self.nanos.len(),
            p50_us: self.quantile_us(0.50),
            p90_us: self.quantile_us(0.90),
            p99_us: self.quantile_us(0.99),
            p999_us: self.quantile_us(0.999),
            mean_us: mean,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_use_nearest_rank() {
        let mut s = Samples::with_capacity(100);
        for i in 1..=100u64 {
            s.push(Duration::from_nanos(i * 1_000));
        }
        assert_eq!(s.quantile_us(0.5), 50.0);
        assert_eq!(s.quantile_us(0.99), 99.0);
        assert_eq!(s.quantile_us(1.0), 100.0);
        let summary = s.summary();
        assert_eq!(summary.count, 100);
        assert!((summary.mean_us - 50.5).abs() < 1e-9);
    }

    #[test]
    fn empty_samples_summarise_to_zero() {
        assert_eq!(Samples::default().summary().p99_us, 0.0);
    }
}
