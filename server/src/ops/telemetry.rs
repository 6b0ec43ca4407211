//! Structured logging: one subscriber for the process, text or JSON lines,
//! and a limit on lines that repeat.
//!
//! The filter comes from `RUST_LOG` (default `info`) so operators can turn up
//! one module without a restart flag of ours.
//!
//! A client can make the server fail the same way thousands of times a
//! second (one polling body of unknown-namespace CONNECTs made socketioxide
//! log one ERROR each; one full buffer, one WARN per delivery). Whatever the
//! source crate, [`RepeatLimiter`] lets the first line of each call site
//! through per `--log-repeat-interval-ms` and counts the rest
//! (`iorelay_log_lines_suppressed_total`); a reporter thread then logs one
//! summary per call site that had lines suppressed. Limited are WARN and
//! ERROR lines, and INFO lines that record a refusal: those carry a field
//! named `refused` (a connect refused for its token, say), since a client
//! can repeat them at will. Other INFO lines (connects, disconnects) are one
//! per connection and stay complete.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::io::IsTerminal;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use tracing::callsite::Identifier;
use tracing::{Level, Metadata, Subscriber};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;

use crate::config::LogFormat;
use crate::ops::metrics;

/// Target of the summaries the reporter writes (never limited themselves).
pub const SUMMARY_TARGET: &str = "iorelay::telemetry";

/// The field an INFO line names to be limited like a warning.
pub const REFUSED_FIELD: &str = "refused";

/// Installs the global tracing subscriber; a second call is a no-op.
///
/// `repeat_interval` zero logs every line.
pub fn init(format: LogFormat, repeat_interval: Duration) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let limiter = (!repeat_interval.is_zero()).then(|| RepeatLimiter::new(repeat_interval));
    let fmt = tracing_subscriber::fmt::layer()
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    let fmt = match format {
        LogFormat::Text => fmt.boxed(),
        LogFormat::Json => fmt.json().flatten_event(true).boxed(),
    };
    let installed = tracing_subscriber::registry()
        .with(filter)
        .with(limiter.clone())
        .with(fmt)
        .try_init();
    if let (Ok(()), Some(limiter)) = (installed, limiter) {
        limiter.report_every(repeat_interval);
    }
}

/// Lets one line per call site and interval through; counts the others.
#[derive(Clone)]
pub struct RepeatLimiter {
    interval: Duration,
    windows: Arc<Mutex<HashMap<Identifier, Window>>>,
}

/// One call site's current interval.
struct Window {
    started: Instant,
    suppressed: u64,
    metadata: &'static Metadata<'static>,
}

/// Lines of one call site suppressed since the last report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Suppressed {
    /// The call site's target (module path of the crate that logs).
    pub target: &'static str,
    /// Its name: source file and line.
    pub name: &'static str,
    /// Its level.
    pub level: Level,
    /// Lines suppressed.
    pub count: u64,
}

impl RepeatLimiter {
    /// A limiter that lets one line per call site through every `interval`.
    pub fn new(interval: Duration) -> Self {
        Self {
            interval,
            windows: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    /// Whether lines of this call site are limited at all.
    pub fn limits(metadata: &Metadata<'_>) -> bool {
        if metadata.target() == SUMMARY_TARGET {
            return false;
        }
        let level = *metadata.level();
        level == Level::ERROR
            || level == Level::WARN
            || (level == Level::INFO && metadata.fields().field(REFUSED_FIELD).is_some())
    }

    /// Whether a line of `metadata`'s call site, written at `now`, goes out.
    pub fn admit(&self, metadata: &'static Metadata<'static>, now: Instant) -> bool {
        if !Self::limits(metadata) {
            return true;
        }
        let mut windows = self.windows.lock().unwrap_or_else(PoisonError::into_inner);
        let window = match windows.entry(metadata.callsite()) {
            Entry::Vacant(vacant) => {
                vacant.insert(Window {
                    started: now,
                    suppressed: 0,
                    metadata,
                });
                return true;
            }
            Entry::Occupied(occupied) => occupied.into_mut(),
        };
        if now.duration_since(window.started) >= self.interval {
            window.started = now;
            return true;
        }
        window.suppressed += 1;
        drop(windows);
        metrics::log_line_suppressed(metadata.level().as_str(), metadata.target());
        false
    }

    /// Takes the counts of suppressed lines since the last call, by call site.
    pub fn take_suppressed(&self) -> Vec<Suppressed> {
        let mut windows = self.windows.lock().unwrap_or_else(PoisonError::into_inner);
        let mut taken: Vec<Suppressed> = windows
            .values_mut()
            .filter(|w| w.suppressed > 0)
            .map(|w| Suppressed {
                target: w.metadata.target(),
                name: w.metadata.name(),
                level: *w.metadata.level(),
                count: std::mem::take(&mut w.suppressed),
            })
            .collect();
        taken.sort_by_key(|s| (s.target, s.name));
        taken
    }

    /// Logs a summary of suppressed lines every `interval`, from a thread of its own.
    fn report_every(self, interval: Duration) {
        let spawned = std::thread::Builder::new()
            .name("log-repeats".to_owned())
            .spawn(move || {
                loop {
                    std::thread::sleep(interval);
                    for s in self.take_suppressed() {
                        tracing::warn!(
                            target: SUMMARY_TARGET,
                            suppressed = s.count,
                            level = %s.level,
                            source = s.target,
                            callsite = s.name,
                            "repeated log lines suppressed"
                        );
                    }
                }
            });
        if let Err(e) = spawned {
            tracing::warn!(error = %e, "cannot start the log repeat reporter; suppressed lines are only counted");
        }
    }
}

impl<S: Subscriber> Layer<S> for RepeatLimiter {
    fn event_enabled(&self, event: &tracing::Event<'_>, _: Context<'_, S>) -> bool {
        self.admit(event.metadata(), Instant::now())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    /// Counts the events that reach it.
    #[derive(Clone, Default)]
    struct Counter(Arc<AtomicUsize>);

    impl<S: Subscriber> Layer<S> for Counter {
        fn on_event(&self, _: &tracing::Event<'_>, _: Context<'_, S>) {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }

    #[test]
    fn repeated_warnings_pass_once_per_interval_and_are_reported() {
        let limiter = RepeatLimiter::new(Duration::from_secs(3600));
        let seen = Counter::default();
        let subscriber = tracing_subscriber::registry()
            .with(limiter.clone())
            .with(seen.clone());
        tracing::subscriber::with_default(subscriber, || {
            for i in 0..100 {
                tracing::warn!(i, "a failure a client can repeat");
                tracing::error!(i, "another one");
                tracing::info!(sid = i, "socket connected");
                tracing::info!(refused = "token_invalid", "connection refused");
                tracing::warn!(target: SUMMARY_TARGET, "summaries are never limited");
            }
        });
        // One of each limited call site, every INFO line without `refused`, every summary.
        assert_eq!(seen.0.load(Ordering::Relaxed), 1 + 1 + 100 + 1 + 100);
        let suppressed = limiter.take_suppressed();
        let counts: Vec<(Level, u64)> = suppressed.iter().map(|s| (s.level, s.count)).collect();
        assert_eq!(counts.len(), 3, "{suppressed:?}");
        assert!(counts.iter().all(|(_, n)| *n == 99), "{suppressed:?}");
        assert!(
            suppressed
                .iter()
                .all(|s| s.target == module_path!() && s.name.contains("telemetry.rs"))
        );
        assert!(
            limiter.take_suppressed().is_empty(),
            "counts are taken once"
        );
    }

    #[test]
    fn a_call_site_passes_again_after_the_interval() {
        let limiter = RepeatLimiter::new(Duration::from_secs(10));
        let metadata = warning_site();
        let start = Instant::now();
        assert!(limiter.admit(metadata, start));
        assert!(!limiter.admit(metadata, start + Duration::from_secs(1)));
        assert!(!limiter.admit(metadata, start + Duration::from_millis(9_999)));
        assert!(limiter.admit(metadata, start + Duration::from_secs(10)));
        assert!(!limiter.admit(metadata, start + Duration::from_secs(11)));
        assert_eq!(limiter.take_suppressed()[0].count, 3);
    }

    /// The metadata of one WARN call site, as a subscriber sees it.
    fn warning_site() -> &'static Metadata<'static> {
        #[derive(Clone, Default)]
        struct Capture(Arc<Mutex<Option<&'static Metadata<'static>>>>);
        impl<S: Subscriber> Layer<S> for Capture {
            fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
                *self.0.lock().expect("lock") = Some(event.metadata());
            }
        }
        let capture = Capture::default();
        let subscriber = tracing_subscriber::registry().with(capture.clone());
        tracing::subscriber::with_default(subscriber, || tracing::warn!("captured"));
        let captured = capture.0.lock().expect("lock").take();
        captured.expect("the warning reached the layer")
    }
}
