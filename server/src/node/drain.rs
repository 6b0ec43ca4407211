//! The end of a node: not ready, stop accepting, close every connection so
//! clients reconnect elsewhere, wait a bounded time for HTTP to finish.

use std::time::Duration;

use tokio::task::JoinHandle;

use crate::socket::NodeAdapter;

use super::compose::Composed;

/// Drains `node` (whose listener runs as `serve`) within `deadline`.
pub(super) async fn drain<A: NodeAdapter>(
    node: Composed<A>,
    serve: JoinHandle<()>,
    deadline: Duration,
) {
    node.health.set_draining();
    node.background.cancel();
    if let Some(stats) = node.bridge {
        let totals = stats.snapshot();
        tracing::info!(
            received = totals.received,
            applied = totals.applied,
            ignored = totals.ignored,
            rejected = ?totals.rejected.iter().filter(|(_, n)| *n > 0).collect::<Vec<_>>(),
            "Flask bridge stopped"
        );
    }
    if let Some(leaving) = node.django {
        // Bounded inside: the bridge gives up leaving its groups after a few seconds.
        let _ = leaving.await;
    }
    node.stop_accepting.cancel();
    let sockets: usize = node
        .io
        .nsps()
        .iter()
        .map(|ns| ns.clone().sockets().len())
        .sum();
    tracing::info!(
        sockets,
        "draining: closing every connection so clients reconnect elsewhere"
    );
    let drained = tokio::time::timeout(deadline, async {
        node.io.close().await;
        // Then the sessions socketioxide's drain does not see: those in no namespace.
        node.sessions.close_polling_sessions().await;
        let _ = serve.await;
    })
    .await;
    match drained {
        Ok(()) => tracing::info!("shutdown complete"),
        Err(_) => tracing::warn!(
            ?deadline,
            "shutdown deadline reached; exiting with connections open"
        ),
    }
}
