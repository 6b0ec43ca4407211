//! Handlers of one socket start in the order its events arrived.
//!
//! socketioxide spawns every event handler as its own task, so two events a
//! client sends back to back may be handled in either order: chat messages
//! could be stored out of order, a relay could overtake the previous one. Each
//! socket gets an [`EventQueue`] instead: one task that takes the socket's
//! handler futures in arrival order and polls each for the first time in that
//! order (a `FuturesUnordered` polls newly pushed futures in push order).
//! Handlers still run concurrently once started, so a handler waiting on an
//! acknowledgement or a backend does not hold up the socket's next events.

use std::sync::{Arc, OnceLock};

use futures_util::StreamExt;
use futures_util::future::BoxFuture;
use futures_util::stream::FuturesUnordered;
use tokio::sync::mpsc;

type Handler = BoxFuture<'static, ()>;

/// The queue of one socket's handler futures; clones share the queue.
///
/// The task and its channel are made on the first event: most sockets of a
/// large fan-out never send one, and an idle connection should cost as little
/// as it can (about 1.2 KiB less per connection).
#[derive(Clone, Default)]
pub struct EventQueue {
    tx: Arc<OnceLock<mpsc::UnboundedSender<Handler>>>,
}

impl EventQueue {
    /// A queue whose task starts with its first handler; the task ends when
    /// every clone is dropped and the last handler finished.
    pub fn new() -> Self {
        Self::default()
    }

    /// Queues a handler; if the queue is gone (socket closing) it runs on its own.
    pub fn push(&self, handler: Handler) {
        if let Err(mpsc::error::SendError(handler)) = self.tx.get_or_init(spawn_queue).send(handler)
        {
            tokio::spawn(handler);
        }
    }
}

/// Spawns the task that starts handlers in the order they were sent.
fn spawn_queue() -> mpsc::UnboundedSender<Handler> {
    let (tx, mut rx) = mpsc::unbounded_channel::<Handler>();
    tokio::spawn(async move {
        let mut running = FuturesUnordered::new();
        loop {
            tokio::select! {
                // New events first, so they are queued in arrival order.
                biased;
                next = rx.recv() => match next {
                    Some(handler) => running.push(handler),
                    None => break,
                },
                Some(()) = running.next(), if !running.is_empty() => {}
            }
        }
        while running.next().await.is_some() {}
    });
    tx
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn handlers_start_in_push_order() {
        let queue = EventQueue::new();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (done_tx, mut done_rx) = mpsc::unbounded_channel();
        for i in 0..500 {
            let seen = seen.clone();
            let done = done_tx.clone();
            queue.push(Box::pin(async move {
                seen.lock().expect("lock").push(i);
                let _ = done.send(());
            }));
        }
        for _ in 0..500 {
            done_rx.recv().await.expect("handler ran");
        }
        let seen = seen.lock().expect("lock").clone();
        assert_eq!(seen, (0..500).collect::<Vec<_>>());
    }

    #[tokio::test]
    async fn the_task_starts_with_the_first_handler() {
        let queue = EventQueue::new();
        let clone = queue.clone();
        assert!(queue.tx.get().is_none(), "an idle socket has no task");
        let (done_tx, done_rx) = tokio::sync::oneshot::channel();
        clone.push(Box::pin(async move {
            let _ = done_tx.send(());
        }));
        assert!(queue.tx.get().is_some(), "clones share the started queue");
        done_rx.await.expect("handler ran");
    }
}
