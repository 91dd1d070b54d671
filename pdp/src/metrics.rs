//! Prometheus metrics, served on `GET /metrics` in the text format.
//!
//! Counters are bumped where the events happen (activations in the
//! reloader, source syncs there too); the gauges that mirror the active
//! snapshot are set when it changes. Label values are bundle and source
//! names, which the configuration bounds, never anything a request sends.

use std::sync::atomic::AtomicU64;

use prometheus_client::{
    encoding::text::encode,
    metrics::{counter::Counter, family::Family, gauge::Gauge},
    registry::Registry,
};

use crate::registry::ActivationReport;

type Labels = Vec<(&'static str, String)>;

/// Every metric the service exports.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    activations: Family<Labels, Counter>,
    activation_failures: Family<Labels, Counter>,
    removals: Family<Labels, Counter>,
    syncs: Family<Labels, Counter>,
    last_sync_success: Family<Labels, Gauge<f64, AtomicU64>>,
    generation: Gauge,
    tenants: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Registers every metric.
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let activations = Family::<Labels, Counter>::default();
        let activation_failures = Family::<Labels, Counter>::default();
        let removals = Family::<Labels, Counter>::default();
        let syncs = Family::<Labels, Counter>::default();
        let last_sync_success = Family::<Labels, Gauge<f64, AtomicU64>>::default();
        let generation = Gauge::default();
        let tenants = Gauge::default();

        registry.register(
            "pdp_bundle_activations",
            "Bundle revisions compiled and swapped in, by bundle",
            activations.clone(),
        );
        registry.register(
            "pdp_bundle_activation_failures",
            "Bundle revisions refused (read, signature, compile or test gate); the last good one kept serving",
            activation_failures.clone(),
        );
        registry.register(
            "pdp_tenant_removals",
            "Tenants removed because their bundle left the source",
            removals.clone(),
        );
        registry.register(
            "pdp_source_syncs",
            "Reads of a bundle source, by source and outcome (changed, unchanged, error)",
            syncs.clone(),
        );
        registry.register(
            "pdp_source_last_success_timestamp_seconds",
            "When each source was last read without error (Unix time)",
            last_sync_success.clone(),
        );
        registry.register(
            "pdp_snapshot_generation",
            "Generation of the active policy snapshot; increases with every swap",
            generation.clone(),
        );
        registry.register(
            "pdp_tenants",
            "Tenants with an active bundle",
            tenants.clone(),
        );

        Self {
            registry,
            activations,
            activation_failures,
            removals,
            syncs,
            last_sync_success,
            generation,
            tenants,
        }
    }

    /// Counts what one activation did and mirrors the new snapshot.
    pub fn record_activation(&self, report: &ActivationReport, tenants: usize) {
        for bundle in &report.activated {
            self.activations.get_or_create(&bundle_label(bundle)).inc();
        }
        for (bundle, _) in &report.failed {
            self.activation_failures
                .get_or_create(&bundle_label(bundle))
                .inc();
        }
        for bundle in &report.removed {
            self.removals.get_or_create(&bundle_label(bundle)).inc();
        }
        self.generation
            .set(i64::try_from(report.generation).unwrap_or(i64::MAX));
        self.tenants.set(i64::try_from(tenants).unwrap_or(i64::MAX));
    }

    /// Counts one read of `source`: `changed`, `unchanged` or `error`.
    pub fn record_sync(&self, source: &str, outcome: &'static str) {
        let labels = vec![
            ("source", source.to_owned()),
            ("outcome", outcome.to_owned()),
        ];
        self.syncs.get_or_create(&labels).inc();
        if outcome != "error" {
            let now = chrono::Utc::now().timestamp_millis() as f64 / 1000.0;
            self.last_sync_success
                .get_or_create(&vec![("source", source.to_owned())])
                .set(now);
        }
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = encode(&mut out, &self.registry);
        out
    }
}

fn bundle_label(bundle: &str) -> Labels {
    vec![("bundle", bundle.to_owned())]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn activations_and_failures_are_counted_per_bundle() {
        let metrics = Metrics::new();
        let report = ActivationReport {
            generation: 3,
            activated: vec!["tenants/acme".to_owned()],
            failed: vec![("tenants/globex".to_owned(), Vec::new())],
            ..ActivationReport::default()
        };
        metrics.record_activation(&report, 2);
        metrics.record_activation(&report, 2);
        metrics.record_sync("git", "changed");

        let text = metrics.render();
        assert!(
            text.contains("pdp_bundle_activations_total{bundle=\"tenants/acme\"} 2"),
            "{text}"
        );
        assert!(
            text.contains("pdp_bundle_activation_failures_total{bundle=\"tenants/globex\"} 2"),
            "{text}"
        );
        assert!(
            text.contains("pdp_source_syncs_total{source=\"git\",outcome=\"changed\"} 1"),
            "{text}"
        );
        assert!(text.contains("pdp_snapshot_generation 3"), "{text}");
        assert!(text.contains("pdp_tenants 2"), "{text}");
    }
}
