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

use futures_util::StreamExt;
use futures_util::future::BoxFuture;
use futures_util::stream::FuturesUnordered;
use tokio::sync::mpsc;

/// The queue of one socket's handler futures; clones share the queue.
#[derive(Clone)]
pub struct EventQueue {
    tx: mpsc::UnboundedSender<BoxFuture<'static, ()>>,
}

impl EventQueue {
    /// Starts the queue's task; it ends when every clone is dropped and the
    /// last handler finished.
    pub fn start() -> Self {
        let (tx, mut rx) = mpsc::unbounded_channel::<BoxFuture<'static, ()>>();
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
        Self { tx }
    }

    /// Queues a handler; if the queue is gone (socket closing) it runs on its own.
    pub fn push(&self, handler: BoxFuture<'static, ()>) {
        if let Err(mpsc::error::SendError(handler)) = self.tx.send(handler) {
            tokio::spawn(handler);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn handlers_start_in_push_order() {
        let queue = EventQueue::start();
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
}
