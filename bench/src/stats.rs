//! Latency histograms (HdrHistogram, microseconds) and their summaries.
//!
//! Workers record into their own histogram and ship it to the coordinator as
//! `(value, count)` pairs, which merge exactly since every histogram has the
//! same range and precision.

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

/// Highest latency recorded, µs (larger values are clamped to it): 10 minutes.
pub const MAX_US: u64 = 600_000_000;
/// Significant decimal digits kept.
pub const SIGFIG: u8 = 3;

/// A latency histogram in microseconds.
#[derive(Debug, Clone)]
pub struct Latency {
    hist: Histogram<u64>,
}

impl Default for Latency {
    fn default() -> Self {
        Self::new()
    }
}

impl Latency {
    /// An empty histogram.
    pub fn new() -> Self {
        let hist = Histogram::new_with_bounds(1, MAX_US, SIGFIG)
            .expect("constant histogram bounds (1 µs .. 10 min, 3 digits) are valid");
        Latency { hist }
    }

    /// Records one latency; 0 counts as 1 µs, values over [`MAX_US`] as [`MAX_US`].
    pub fn record(&mut self, us: u64) {
        let v = us.clamp(1, MAX_US);
        // Clamped into the histogram's range, so this cannot fail.
        let _ = self.hist.record(v);
    }

    /// Number of values recorded.
    pub fn count(&self) -> u64 {
        self.hist.len()
    }

    /// The recorded values as `(value, count)` pairs.
    pub fn pairs(&self) -> Vec<(u64, u64)> {
        self.hist
            .iter_recorded()
            .map(|v| (v.value_iterated_to(), v.count_at_value()))
            .collect()
    }

    /// Adds `(value, count)` pairs from another histogram.
    pub fn merge_pairs(&mut self, pairs: &[(u64, u64)]) {
        for &(value, count) in pairs {
            let _ = self.hist.record_n(value.clamp(1, MAX_US), count);
        }
    }

    /// Adds another histogram.
    pub fn merge(&mut self, other: &Latency) {
        let _ = self.hist.add(&other.hist);
    }

    /// The value at percentile `p` (0–100), µs; 0 when empty.
    pub fn percentile_us(&self, p: f64) -> u64 {
        if self.hist.is_empty() {
            return 0;
        }
        self.hist.value_at_percentile(p)
    }

    /// Percentiles in milliseconds.
    pub fn summary(&self) -> LatencySummary {
        let ms = |us: u64| us as f64 / 1000.0;
        if self.hist.is_empty() {
            return LatencySummary::default();
        }
        LatencySummary {
            count: self.hist.len(),
            min_ms: ms(self.hist.min()),
            mean_ms: self.hist.mean() / 1000.0,
            p50_ms: ms(self.percentile_us(50.0)),
            p95_ms: ms(self.percentile_us(95.0)),
            p99_ms: ms(self.percentile_us(99.0)),
            p999_ms: ms(self.percentile_us(99.9)),
            max_ms: ms(self.hist.max()),
        }
    }
}

/// A latency distribution in milliseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct LatencySummary {
    /// Values recorded.
    pub count: u64,
    /// Smallest.
    pub min_ms: f64,
    /// Mean.
    pub mean_ms: f64,
    /// Median.
    pub p50_ms: f64,
    /// 95th percentile.
    pub p95_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// 99.9th percentile.
    pub p999_ms: f64,
    /// Largest.
    pub max_ms: f64,
}

/// `count` events over `secs` seconds, per second (0 for an empty interval).
pub fn per_sec(count: u64, secs: f64) -> f64 {
    if secs > 0.0 { count as f64 / secs } else { 0.0 }
}

/// Share of `expected` that did not arrive, in percent (never negative).
pub fn loss_pct(expected: u64, received: u64) -> f64 {
    if expected == 0 {
        return 0.0;
    }
    expected.saturating_sub(received) as f64 * 100.0 / expected as f64
}

/// `a / b`, `None` when either side is missing or `b` is zero.
pub fn ratio(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) if b != 0.0 && a.is_finite() && b.is_finite() => Some(a / b),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        // HdrHistogram at 3 significant digits: within 0.1% (plus rounding of 1 µs).
        (a - b).abs() <= b.abs() * 0.001 + 0.001
    }

    #[test]
    fn uniform_percentiles() {
        let mut h = Latency::new();
        for us in 1..=10_000u64 {
            h.record(us * 1000); // 1 ms .. 10 s
        }
        let s = h.summary();
        assert_eq!(s.count, 10_000);
        assert!(close(s.p50_ms, 5000.0), "{s:?}");
        assert!(close(s.p95_ms, 9500.0), "{s:?}");
        assert!(close(s.p99_ms, 9900.0), "{s:?}");
        assert!(close(s.p999_ms, 9990.0), "{s:?}");
        assert!(close(s.max_ms, 10_000.0), "{s:?}");
        assert!(close(s.min_ms, 1.0), "{s:?}");
        assert!(close(s.mean_ms, 5000.5), "{s:?}");
    }

    #[test]
    fn skewed_tail() {
        let mut h = Latency::new();
        for _ in 0..990 {
            h.record(1_000);
        }
        for _ in 0..10 {
            h.record(250_000);
        }
        let s = h.summary();
        assert!(close(s.p50_ms, 1.0));
        assert!(
            close(s.p99_ms, 1.0),
            "the 990th of 1000 is still 1 ms: {s:?}"
        );
        assert!(close(s.p999_ms, 250.0), "{s:?}");
        assert!(close(s.max_ms, 250.0));
    }

    #[test]
    fn empty_and_clamped() {
        let h = Latency::new();
        assert_eq!(h.summary(), LatencySummary::default());
        assert_eq!(h.percentile_us(99.0), 0);
        let mut h = Latency::new();
        h.record(0);
        h.record(u64::MAX);
        assert_eq!(h.count(), 2);
        assert_eq!(h.percentile_us(0.0), 1);
        assert!(close(h.summary().max_ms, MAX_US as f64 / 1000.0));
    }

    #[test]
    fn merging_pairs_equals_recording_everything() {
        let mut a = Latency::new();
        let mut b = Latency::new();
        let mut all = Latency::new();
        for i in 0..5_000u64 {
            let v = (i * 7919) % 100_000 + 1;
            if i % 3 == 0 { &mut a } else { &mut b }.record(v);
            all.record(v);
        }
        let mut merged = Latency::new();
        merged.merge_pairs(&a.pairs());
        merged.merge_pairs(&b.pairs());
        assert_eq!(merged.summary(), all.summary());
        let mut direct = a.clone();
        direct.merge(&b);
        assert_eq!(direct.summary(), all.summary());
    }

    #[test]
    fn rates_losses_ratios() {
        assert_eq!(per_sec(500, 2.0), 250.0);
        assert_eq!(per_sec(5, 0.0), 0.0);
        assert_eq!(loss_pct(1000, 990), 1.0);
        assert_eq!(loss_pct(1000, 1200), 0.0);
        assert_eq!(loss_pct(0, 0), 0.0);
        assert_eq!(ratio(Some(6.0), Some(2.0)), Some(3.0));
        assert_eq!(ratio(Some(6.0), Some(0.0)), None);
        assert_eq!(ratio(None, Some(1.0)), None);
    }
}
