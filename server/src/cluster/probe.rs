//! Watching a Redis connection: one probe a second, readiness, and one log
//! line per loss and per recovery.
//!
//! The cluster link and the Flask queue both depend on a Redis connection that
//! recovers by itself; what they need from the node is the same: `/readyz`
//! saying whether it works and why not, and logs that say when it was lost and
//! when it came back, not one line a second.

use std::future::Future;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::ops::health::Health;

/// Longest a probe may take before it counts as failed.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// What one watched connection is called in readiness and logs.
pub struct Watched {
    /// The readiness check's name in `/readyz`.
    pub check: &'static str,
    /// The connection, in a cause (e.g. `Redis`, `Flask message queue at redis://…`).
    pub what: String,
    /// Logged (error) when it is lost.
    pub lost: &'static str,
    /// Logged (info) when it is back.
    pub back: &'static str,
}

/// Runs `probe` every second until `stop`, reporting each outcome to `health`
/// and to `report`, and logging each loss and recovery once.
pub async fn watch<P, F>(
    watched: Watched,
    health: Health,
    stop: CancellationToken,
    mut probe: P,
    report: impl Fn(bool),
) where
    P: FnMut() -> F,
    F: Future<Output = Result<(), String>>,
{
    let mut healthy = true;
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            () = stop.cancelled() => break,
            _ = tick.tick() => {}
        }
        let outcome = match tokio::time::timeout(PROBE_TIMEOUT, probe()).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(format!("{} unreachable: {e}", watched.what)),
            Err(_) => Err(format!(
                "{} did not answer within {} s",
                watched.what,
                PROBE_TIMEOUT.as_secs()
            )),
        };
        match (&outcome, healthy) {
            (Err(cause), true) => {
                tracing::error!(cause, "{}", watched.lost);
                healthy = false;
            }
            (Ok(()), false) => {
                tracing::info!("{}", watched.back);
                healthy = true;
            }
            _ => {}
        }
        report(outcome.is_ok());
        health.set(watched.check, outcome);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test(start_paused = true)]
    async fn readiness_follows_the_probe() {
        let health = Health::for_node("n");
        let stop = CancellationToken::new();
        let calls = Arc::new(AtomicUsize::new(0));
        let seen = calls.clone();
        let watched = Watched {
            check: "thing",
            what: "the thing".to_owned(),
            lost: "lost the thing",
            back: "the thing is back",
        };
        let task = tokio::spawn(watch(
            watched,
            health.clone(),
            stop.clone(),
            move || {
                let n = seen.fetch_add(1, Ordering::SeqCst);
                async move {
                    if n == 1 {
                        Err("down".to_owned())
                    } else {
                        Ok(())
                    }
                }
            },
            |_| {},
        ));
        let ready = |h: &Health| h.readiness().0;
        tokio::time::sleep(Duration::from_millis(1500)).await;
        assert!(!ready(&health), "the second probe failed");
        assert!(
            matches!(health.readiness().1.get("thing"), Some(Err(c)) if c == "the thing unreachable: down")
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert!(ready(&health), "the third probe passed");
        stop.cancel();
        task.await.expect("watch ends");
        assert!(calls.load(Ordering::SeqCst) >= 3);
    }
}
