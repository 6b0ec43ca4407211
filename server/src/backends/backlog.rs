//! Messages a bridge received and has not applied yet, bounded in count and bytes.
//!
//! Redis hands pub/sub messages to a callback that must not wait, while the
//! messages are applied one at a time, in order, by a task. Between the two,
//! the Flask and Django bridges hold what arrived here: past the bounds the
//! newest are refused (the caller counts them), so a burst on the queue can
//! cost at most `max_bytes` of memory.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::mpsc;

/// Why a message cannot be held.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// Larger than one message may be.
    TooLarge,
    /// The backlog is full.
    Overflow,
}

/// The sending side, for the push callback.
pub struct Backlog<T> {
    tx: mpsc::Sender<(T, usize)>,
    bytes: Arc<AtomicUsize>,
    max_bytes: usize,
    max_message: usize,
}

impl<T> Clone for Backlog<T> {
    fn clone(&self) -> Self {
        Self {
            tx: self.tx.clone(),
            bytes: self.bytes.clone(),
            max_bytes: self.max_bytes,
            max_message: self.max_message,
        }
    }
}

/// The receiving side, for the task that applies them.
pub struct Pending<T> {
    rx: mpsc::Receiver<(T, usize)>,
    bytes: Arc<AtomicUsize>,
}

/// A backlog of at most `count` messages and `max_bytes` bytes, none over `max_message`.
pub fn bounded<T>(count: usize, max_bytes: usize, max_message: usize) -> (Backlog<T>, Pending<T>) {
    let (tx, rx) = mpsc::channel(count);
    let bytes = Arc::new(AtomicUsize::new(0));
    let backlog = Backlog {
        tx,
        bytes: bytes.clone(),
        max_bytes,
        max_message,
    };
    (backlog, Pending { rx, bytes })
}

impl<T> Backlog<T> {
    /// Holds `message` of `len` bytes, or says why it cannot.
    pub fn push(&self, message: T, len: usize) -> Result<(), Refused> {
        if len > self.max_message {
            return Err(Refused::TooLarge);
        }
        let held = self.bytes.fetch_add(len, Ordering::AcqRel);
        if held + len > self.max_bytes || self.tx.try_send((message, len)).is_err() {
            self.bytes.fetch_sub(len, Ordering::AcqRel);
            return Err(Refused::Overflow);
        }
        Ok(())
    }
}

impl<T> Pending<T> {
    /// The oldest message and its size; `None` once every sender is gone.
    /// Call [`Pending::release`] with the size once it is applied.
    pub async fn recv(&mut self) -> Option<(T, usize)> {
        self.rx.recv().await
    }

    /// Frees the bytes of a message that was applied.
    pub fn release(&self, len: usize) {
        self.bytes.fetch_sub(len, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn bounded_in_bytes_and_frees_what_is_applied() {
        let (backlog, mut pending) = bounded(4096, 10 * 1024, 4 * 1024);
        for _ in 0..10 {
            backlog.push((), 1024).expect("within the budget");
        }
        assert_eq!(backlog.push((), 1), Err(Refused::Overflow));
        assert_eq!(backlog.push((), 4 * 1024 + 1), Err(Refused::TooLarge));
        let ((), len) = pending.recv().await.expect("queued");
        pending.release(len);
        backlog
            .push((), 1024)
            .expect("room again once one is applied");
        assert_eq!(pending.bytes.load(Ordering::Acquire), 10 * 1024);
    }

    #[test]
    fn bounded_in_count() {
        let (backlog, _pending) = bounded(2, 1 << 20, 1024);
        backlog.push(1, 1).expect("first");
        backlog.push(2, 1).expect("second");
        assert_eq!(backlog.push(3, 1), Err(Refused::Overflow));
    }
}
