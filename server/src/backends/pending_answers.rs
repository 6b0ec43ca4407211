//! Sockets whose backend answer is on its way, so queue operations wait for it.
//!
//! A Flask handler answers a forwarded event (its emits travel in the answer)
//! and may, while the request runs, call `close_room` or `disconnect` through
//! the message queue. That queue message reaches iorelay before the answer;
//! applied at once it would overtake the answer's emits (the notice is lost,
//! issue #14). Event forwarding and the connect hook mark the socket here from
//! the moment they ask the backend until its answer has been applied; the
//! Flask bridge holds the operations that target a marked socket until then.
//!
//! Marks are local: a socket's requests are made by the node that holds it,
//! and every node applies queue messages to its own sockets only.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio_util::sync::CancellationToken;

/// A socket: its namespace and id.
pub type SocketKey = (String, String);

/// The sockets with a backend request (or its answer) in flight on this node.
///
/// Each request is marked on its own, so a queue operation waits only for the
/// answers already asked for when it arrived ([`PendingAnswers::awaited`]): a
/// client that keeps sending forwarded events keeps its socket marked, and
/// must not keep the operations on it (and the hold's lane behind them) waiting.
#[derive(Debug, Default)]
pub struct PendingAnswers {
    // A std Mutex: every critical section is a few map operations, never across an await.
    sockets: Mutex<HashMap<SocketKey, HashMap<u64, CancellationToken>>>,
    next_request: AtomicU64,
}

/// The answers a queue operation waits for: those in flight when it arrived.
#[derive(Debug, Default)]
pub struct Awaited(Vec<CancellationToken>);

impl Awaited {
    /// Resolves once every one of these answers is applied (or its request failed);
    /// callers bound the wait.
    pub async fn settled(self) {
        for answer in self.0 {
            answer.cancelled().await;
        }
    }
}

impl PendingAnswers {
    /// An empty registry.
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    fn lock(
        &self,
    ) -> std::sync::MutexGuard<'_, HashMap<SocketKey, HashMap<u64, CancellationToken>>> {
        // A panic elsewhere cannot leave the map half-updated: recover it.
        self.sockets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Marks the socket until the returned guard is dropped (its answer applied).
    pub fn begin(self: &Arc<Self>, namespace: &str, sid: &str) -> PendingGuard {
        let key = (namespace.to_owned(), sid.to_owned());
        let request = self.next_request.fetch_add(1, Ordering::Relaxed);
        self.lock()
            .entry(key.clone())
            .or_default()
            .insert(request, CancellationToken::new());
        PendingGuard {
            answers: self.clone(),
            key,
            request,
        }
    }

    /// Whether a request for the socket is in flight.
    pub fn is_pending(&self, namespace: &str, sid: &str) -> bool {
        self.lock()
            .contains_key(&(namespace.to_owned(), sid.to_owned()))
    }

    /// The marked sockets of a namespace.
    pub fn pending_in(&self, namespace: &str) -> Vec<String> {
        self.lock()
            .keys()
            .filter(|(ns, _)| ns == namespace)
            .map(|(_, sid)| sid.clone())
            .collect()
    }

    /// The answers for `sockets` in flight now (requests begun later are not waited for).
    pub fn awaited<'a>(&self, sockets: impl IntoIterator<Item = &'a SocketKey>) -> Awaited {
        let marks = self.lock();
        Awaited(
            sockets
                .into_iter()
                .filter_map(|key| marks.get(key))
                .flat_map(|requests| requests.values().cloned())
                .collect(),
        )
    }

    fn end(&self, key: &SocketKey, request: u64) {
        let mut sockets = self.lock();
        if let Some(requests) = sockets.get_mut(key) {
            if let Some(done) = requests.remove(&request) {
                done.cancel();
            }
            if requests.is_empty() {
                sockets.remove(key);
            }
        }
    }
}

/// A request's mark; dropping it (answer applied, request failed) clears the mark.
#[derive(Debug)]
pub struct PendingGuard {
    answers: Arc<PendingAnswers>,
    key: SocketKey,
    request: u64,
}

impl Drop for PendingGuard {
    fn drop(&mut self) {
        self.answers.end(&self.key, self.request);
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn a_wait_ends_when_the_requests_in_flight_at_its_start_end() {
        let answers = PendingAnswers::new();
        let key = ("/".to_owned(), "s1".to_owned());
        tokio::time::timeout(Duration::from_millis(50), answers.awaited([&key]).settled())
            .await
            .expect("nothing pending: settled at once");
        let first = answers.begin("/", "s1");
        let second = answers.begin("/", "s1");
        assert!(answers.is_pending("/", "s1"));
        assert!(!answers.is_pending("/other", "s1"));
        assert_eq!(answers.pending_in("/"), vec!["s1".to_owned()]);
        drop(first);
        assert!(
            answers.is_pending("/", "s1"),
            "one request is still in flight"
        );
        let waiter = tokio::spawn(answers.awaited([&key]).settled());
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished());
        let later = answers.begin("/", "s1");
        drop(second);
        tokio::time::timeout(Duration::from_secs(1), waiter)
            .await
            .expect("settled once the requests it waited for ended, not the later one")
            .expect("task");
        assert!(answers.is_pending("/", "s1"));
        drop(later);
        assert!(!answers.is_pending("/", "s1"));
    }
}
