//! Waiting for the operator's request to stop (SIGTERM or SIGINT).
//!
//! The server takes any future as its shutdown trigger so tests can stop it
//! without signals; the binary passes [`signal`]. The handlers are installed
//! when [`signal`] is called, before the server listens: a signal that arrives
//! right after the "listening" line must not find the default action (death).

use std::future::Future;

/// Installs the SIGTERM and SIGINT handlers now; the future resolves on the first signal.
/// Call it inside the Tokio runtime.
#[cfg(unix)]
pub fn signal() -> impl Future<Output = ()> + Send + 'static {
    use tokio::signal::unix::{SignalKind, signal};
    let terminate = signal(SignalKind::terminate());
    let interrupt = signal(SignalKind::interrupt());
    async move {
        let (mut terminate, mut interrupt) = match (terminate, interrupt) {
            (Ok(t), Ok(i)) => (t, i),
            (Err(e), _) | (_, Err(e)) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM/SIGINT; stop the process with SIGKILL");
                return std::future::pending().await;
            }
        };
        tokio::select! {
            _ = interrupt.recv() => tracing::info!(signal = "SIGINT", "shutdown requested"),
            _ = terminate.recv() => tracing::info!(signal = "SIGTERM", "shutdown requested"),
        }
    }
}

/// Resolves on Ctrl-C (non-Unix systems have no SIGTERM).
#[cfg(not(unix))]
pub fn signal() -> impl Future<Output = ()> + Send + 'static {
    async {
        if tokio::signal::ctrl_c().await.is_ok() {
            tracing::info!(signal = "Ctrl-C", "shutdown requested");
        } else {
            std::future::pending::<()>().await;
        }
    }
}
