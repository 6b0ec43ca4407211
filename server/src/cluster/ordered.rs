//! A pub/sub driver whose subscription changes one task applies in order.
//!
//! socketioxide deletes a namespace with its adapter's close polled once
//! (`now_or_never`): an UNSUBSCRIBE a driver has not sent by then never is,
//! and Redis keeps the channel for the life of the connection, one per
//! deleted pattern namespace (the sweep of namespace families). Queued
//! at once, every unsubscribe is sent, and before any later SUBSCRIBE of the
//! same channel.

use socketioxide_redis::drivers::{ChanItem, Driver, MessageStream};
use tokio::sync::{mpsc, oneshot};

/// A subscription change, applied in the order asked.
enum Change<D: Driver> {
    /// Subscribe with a buffer of this size, then answer.
    Add(
        String,
        usize,
        oneshot::Sender<Result<MessageStream<ChanItem>, D::Error>>,
    ),
    /// Unsubscribe; nobody waits for it.
    Remove(String),
}

/// `D`, with its subscriptions changed in order by one task.
pub struct Ordered<D: Driver> {
    inner: D,
    changes: mpsc::UnboundedSender<Change<D>>,
}

impl<D: Driver> Clone for Ordered<D> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            changes: self.changes.clone(),
        }
    }
}

/// Why a subscription change was not made: the task is gone (the runtime is shutting down).
#[derive(Debug, thiserror::Error)]
pub enum OrderedError<E: std::error::Error> {
    /// The driver's own error.
    #[error(transparent)]
    Driver(E),
    /// The task that applies changes has ended.
    #[error("the subscription queue is closed")]
    Closed,
}

impl<D: Driver> Ordered<D> {
    /// `inner`, its subscription changes applied by a task spawned now.
    pub fn new(inner: D) -> Self {
        let (changes, queue) = mpsc::unbounded_channel();
        tokio::spawn(apply(inner.clone(), queue));
        Self { inner, changes }
    }
}

/// Applies changes one after another until every [`Ordered`] is dropped.
async fn apply<D: Driver>(driver: D, mut queue: mpsc::UnboundedReceiver<Change<D>>) {
    while let Some(change) = queue.recv().await {
        match change {
            Change::Add(chan, size, done) => {
                let _ = done.send(driver.subscribe(chan, size).await);
            }
            Change::Remove(chan) => {
                if let Err(e) = driver.unsubscribe(chan.clone()).await {
                    tracing::warn!(error = %e, chan, "cannot unsubscribe from a Redis channel");
                }
            }
        }
    }
}

impl<D: Driver> Driver for Ordered<D> {
    type Error = OrderedError<D::Error>;

    async fn publish(&self, chan: String, val: Vec<u8>) -> Result<(), Self::Error> {
        self.inner
            .publish(chan, val)
            .await
            .map_err(OrderedError::Driver)
    }

    async fn subscribe(
        &self,
        chan: String,
        size: usize,
    ) -> Result<MessageStream<ChanItem>, Self::Error> {
        let (done, subscribed) = oneshot::channel();
        self.changes
            .send(Change::Add(chan, size, done))
            .map_err(|_| OrderedError::Closed)?;
        subscribed
            .await
            .map_err(|_| OrderedError::Closed)?
            .map_err(OrderedError::Driver)
    }

    // Queued before any await, so it is sent even if this is polled only once.
    async fn unsubscribe(&self, chan: String) -> Result<(), Self::Error> {
        self.changes
            .send(Change::Remove(chan))
            .map_err(|_| OrderedError::Closed)
    }

    async fn num_serv(&self, chan: &str) -> Result<u16, Self::Error> {
        self.inner
            .num_serv(chan)
            .await
            .map_err(OrderedError::Driver)
    }
}
