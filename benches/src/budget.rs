//! The budgets file and the verdict on a set of measurements.

use std::path::Path;

use serde::Deserialize;

/// `benches/budgets.toml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Budgets {
    /// In-process decision latency.
    pub decision: DecisionBudget,
    /// Input construction latency.
    pub input: InputBudget,
    /// Two-thread scaling.
    pub scaling: ScalingBudget,
    /// gRPC cost over the no-op server.
    pub grpc: GrpcBudget,
    /// Memory.
    pub memory: MemoryBudget,
    /// Activation times.
    pub activation: ActivationBudget,
}

/// `[decision]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DecisionBudget {
    /// Median, microseconds.
    pub p50_us: f64,
    /// 99th percentile, microseconds.
    pub p99_us: f64,
}

/// `[input]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InputBudget {
    /// Median, microseconds.
    pub p50_us: f64,
}

/// `[scaling]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScalingBudget {
    /// Largest two-thread over one-thread per-decision cost.
    pub two_threads_max_ratio: f64,
}

/// `[grpc]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GrpcBudget {
    /// Open-loop rate, requests per second.
    pub rate: u32,
    /// Median cost above the no-op server, microseconds.
    pub overhead_p50_us: f64,
    /// 99th percentile cost above the no-op server, microseconds.
    pub overhead_p99_us: f64,
    /// Smallest closed-loop throughput over the no-op server's.
    pub min_throughput_ratio: f64,
}

/// `[memory]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MemoryBudget {
    /// Tenants loaded.
    pub tenants: usize,
    /// Largest resident memory with them loaded, MB.
    pub max_rss_mb: f64,
    /// Decisions run.
    pub decisions: u64,
    /// Largest growth over those decisions, MB.
    pub max_growth_mb: f64,
}

/// `[activation]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActivationBudget {
    /// One small tenant among 1,000, milliseconds.
    pub one_tenant_ms: f64,
    /// 1,000 small tenants at start-up, milliseconds.
    pub cold_start_ms: f64,
}

impl Budgets {
    /// Reads and checks the file.
    pub fn read(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .map_err(|err| anyhow::anyhow!("cannot read {}: {err}", path.display()))?;
        toml::from_str(&text).map_err(|err| anyhow::anyhow!("invalid {}: {err}", path.display()))
    }
}

/// Whether a budget is a ceiling or a floor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Bound {
    /// The measurement must not exceed the limit.
    AtMost,
    /// The measurement must not fall below the limit.
    AtLeast,
}

/// One measurement against its budget.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Check {
    /// The budget's name, as in the file (`decision.p50_us`).
    pub name: String,
    /// What was measured.
    pub measured: f64,
    /// The budget from the file.
    pub limit: f64,
    /// The limit after the tolerance factor.
    pub effective_limit: f64,
    /// Ceiling or floor.
    pub bound: Bound,
}

impl Check {
    /// A check of `measured` against `limit` with `tolerance` applied.
    pub fn new(name: &str, measured: f64, limit: f64, bound: Bound, tolerance: f64) -> Self {
        let effective_limit = match bound {
            Bound::AtMost => limit * tolerance,
            Bound::AtLeast => limit / tolerance,
        };
        Self {
            name: name.to_owned(),
            measured,
            limit,
            effective_limit,
            bound,
        }
    }

    /// Of two measurements of the same budget, the better one: the lower
    /// for a ceiling, the higher for a floor. Noise on a shared machine only
    /// makes a measurement worse, so the better one is the closer to the
    /// service's own cost.
    pub fn better_of(self, other: Check) -> Check {
        let other_is_better = match self.bound {
            Bound::AtMost => other.measured < self.measured,
            Bound::AtLeast => other.measured > self.measured,
        };
        // A NaN (nothing measured) is never the better one.
        if other_is_better || self.measured.is_nan() {
            other
        } else {
            self
        }
    }

    /// Whether the measurement is within the (tolerated) budget.
    pub fn passed(&self) -> bool {
        match self.bound {
            Bound::AtMost => self.measured <= self.effective_limit,
            Bound::AtLeast => self.measured >= self.effective_limit,
        }
    }
}

/// The checks as a Markdown table.
pub fn table(checks: &[Check]) -> String {
    let mut out = String::from("| budget | measured | limit | verdict |\n|---|---:|---:|---|\n");
    for check in checks {
        let sign = match check.bound {
            Bound::AtMost => "≤",
            Bound::AtLeast => "≥",
        };
        out.push_str(&format!(
            "| {} | {:.2} | {sign} {:.2} | {} |\n",
            check.name,
            check.measured,
            check.effective_limit,
            if check.passed() { "ok" } else { "EXCEEDED" }
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tolerance_widens_ceilings_and_lowers_floors() {
        let ceiling = Check::new("a", 6.0, 5.0, Bound::AtMost, 1.25);
        assert!(ceiling.passed());
        assert!(!Check::new("a", 6.0, 5.0, Bound::AtMost, 1.0).passed());
        let floor = Check::new("b", 0.6, 0.7, Bound::AtLeast, 1.25);
        assert!(floor.passed());
        assert!(!Check::new("b", 0.6, 0.7, Bound::AtLeast, 1.0).passed());
    }

    #[test]
    fn a_later_attempt_counts_only_when_it_is_better() {
        let ceiling = |m| Check::new("a", m, 5.0, Bound::AtMost, 1.0);
        assert_eq!(ceiling(6.0).better_of(ceiling(4.0)).measured, 4.0);
        assert_eq!(ceiling(4.0).better_of(ceiling(6.0)).measured, 4.0);
        assert_eq!(ceiling(f64::NAN).better_of(ceiling(6.0)).measured, 6.0);
        assert!(ceiling(4.0).better_of(ceiling(f64::NAN)).measured == 4.0);

        let floor = |m| Check::new("b", m, 0.7, Bound::AtLeast, 1.0);
        assert_eq!(floor(0.6).better_of(floor(0.8)).measured, 0.8);
        assert_eq!(floor(0.8).better_of(floor(0.6)).measured, 0.8);
    }

    #[test]
    fn the_budgets_file_reads() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("budgets.toml");
        let budgets = Budgets::read(&path).unwrap();
        assert_eq!(budgets.decision.p50_us, 5.0);
        assert_eq!(budgets.grpc.rate, 5000);
    }
}
