//! Queue operations that wait for a backend answer, so they do not overtake it.
//!
//! A Flask handler whose answer emits a notice and which then calls
//! `close_room` or `disconnect` through the queue during the request expects
//! the notice first; the queue message arrives first. A message that targets
//! a socket of this node whose forwarded request (event or connect hook) is in
//! flight ([`PendingAnswers`]) is therefore held: an emit to its sid,
//! `enter_room`/`leave_room`/`disconnect` of it, `close_room` of a room it is in.
//! Held messages go into one lane and are applied in arrival order, each once
//! the answers its sockets were waiting for when it arrived are applied (not
//! those of requests made since: a client that keeps sending events must not
//! stall the lane) or `--forward-timeout-ms` has passed;
//! a message on a socket that still has held messages joins the lane too, so
//! the messages of one socket keep their order. Everything else is applied at
//! once, as before.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::mpsc;

use super::message::QueueMessage;
use super::stats::BridgeStats;
use crate::backends::pending_answers::{Awaited, PendingAnswers, SocketKey};
use crate::backends::publisher::{Publisher, Scope};

/// Held messages waiting in the lane; past it the bridge waits to add more.
const LANE: usize = 1024;

/// A held message and the sockets it waits for.
struct Held {
    message: QueueMessage,
    sockets: Vec<SocketKey>,
    /// The answers in flight when it arrived.
    awaited: Awaited,
}

/// Decides which messages wait and applies them in order.
pub struct Hold {
    pending: Arc<PendingAnswers>,
    /// Sockets with messages in the lane, and how many.
    held: Arc<Mutex<HashMap<SocketKey, usize>>>,
    lane: mpsc::Sender<Held>,
}

impl Hold {
    /// A hold whose lane applies through `publisher`, waiting at most `wait` per message.
    pub fn start(
        pending: Arc<PendingAnswers>,
        publisher: Arc<dyn Publisher>,
        stats: Arc<BridgeStats>,
        wait: Duration,
    ) -> Self {
        let (lane, queue) = mpsc::channel(LANE);
        let held = Arc::new(Mutex::new(HashMap::new()));
        tokio::spawn(run_lane(queue, held.clone(), publisher, stats, wait));
        Self {
            pending,
            held,
            lane,
        }
    }

    fn is_marked(&self, key: &SocketKey) -> bool {
        self.pending.is_pending(&key.0, &key.1) || lock(&self.held).contains_key(key)
    }

    /// The sockets of this node `message` must wait for; empty = apply it now.
    pub async fn sockets_of(
        &self,
        message: &QueueMessage,
        publisher: &dyn Publisher,
    ) -> Vec<SocketKey> {
        let key = |ns: &str, sid: &str| (ns.to_owned(), sid.to_owned());
        let candidates = match message {
            QueueMessage::Emit(emit) => emit
                .rooms
                .iter()
                .flatten()
                .map(|room| key(&emit.namespace, room))
                .collect(),
            QueueMessage::EnterRoom(change) | QueueMessage::LeaveRoom(change) => {
                vec![key(&change.namespace, &change.sid)]
            }
            QueueMessage::Disconnect { namespace, sid } => vec![key(namespace, sid)],
            QueueMessage::CloseRoom { namespace, room } => {
                let mut sids = self.pending.pending_in(namespace);
                sids.extend(
                    lock(&self.held)
                        .keys()
                        .filter(|(ns, _)| ns == namespace)
                        .map(|(_, sid)| sid.clone()),
                );
                sids.sort();
                sids.dedup();
                let mut members = Vec::new();
                for sid in sids {
                    let rooms = publisher.rooms_of(namespace, &sid, Scope::Local).await;
                    if rooms.is_ok_and(|rooms| rooms.is_some_and(|r| r.contains(room))) {
                        members.push(key(namespace, &sid));
                    }
                }
                members
            }
            QueueMessage::Callback => Vec::new(),
        };
        candidates
            .into_iter()
            .filter(|k| self.is_marked(k))
            .collect()
    }

    /// Puts `message` in the lane, behind the messages held before it.
    pub async fn park(&self, message: QueueMessage, sockets: Vec<SocketKey>) {
        {
            let mut held = lock(&self.held);
            for socket in &sockets {
                *held.entry(socket.clone()).or_default() += 1;
            }
        }
        let awaited = self.pending.awaited(&sockets);
        let held = Held {
            message,
            sockets,
            awaited,
        };
        if self.lane.send(held).await.is_err() {
            tracing::warn!("the Flask bridge's hold lane is gone; a held message was dropped");
        }
    }
}

fn lock(
    held: &Mutex<HashMap<SocketKey, usize>>,
) -> std::sync::MutexGuard<'_, HashMap<SocketKey, usize>> {
    held.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Applies held messages one at a time, each once its sockets' answers are in.
async fn run_lane(
    mut queue: mpsc::Receiver<Held>,
    held: Arc<Mutex<HashMap<SocketKey, usize>>>,
    publisher: Arc<dyn Publisher>,
    stats: Arc<BridgeStats>,
    wait: Duration,
) {
    while let Some(Held {
        message,
        sockets,
        awaited,
    }) = queue.recv().await
    {
        if tokio::time::timeout(wait, awaited.settled()).await.is_err() {
            tracing::debug!(
                method = message.method(),
                "applying a held Flask queue message: the backend answer did not come in time"
            );
        }
        let method = message.method();
        let result = super::apply::apply(publisher.as_ref(), message).await;
        super::count(method, result, &stats, None);
        let mut held = lock(&held);
        for socket in sockets {
            if let Some(count) = held.get_mut(&socket) {
                *count -= 1;
                if *count == 0 {
                    held.remove(&socket);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backends::flask_bridge::apply::tests::Recorder;
    use crate::backends::flask_bridge::handle;

    /// A hold applying through a recorder in which socket `s1` is in room `lobby`.
    fn hold(pending: &Arc<PendingAnswers>) -> (Hold, Arc<Recorder>, Arc<BridgeStats>) {
        let mut recorder = Recorder::default();
        recorder
            .rooms
            .insert("s1".to_owned(), vec!["lobby".to_owned(), "s1".to_owned()]);
        let recorder = Arc::new(recorder);
        let stats = Arc::new(BridgeStats::default());
        let hold = Hold::start(
            pending.clone(),
            recorder.clone(),
            stats.clone(),
            Duration::from_secs(5),
        );
        (hold, recorder, stats)
    }

    async fn until(recorder: &Recorder, count: usize) {
        while recorder.calls().len() < count {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }

    const DISCONNECT_S1: &[u8] = br#"{"method":"disconnect","sid":"s1","namespace":"/"}"#;

    #[tokio::test(start_paused = true)]
    async fn operations_on_a_pending_socket_wait_in_order_and_others_do_not() {
        let pending = PendingAnswers::new();
        let (hold, recorder, stats) = hold(&pending);
        let answer = pending.begin("/", "s1");
        for message in [
            br#"{"method":"close_room","room":"lobby","namespace":"/"}"#.as_slice(),
            br#"{"method":"emit","event":"e","data":[1],"namespace":"/","room":"other"}"#,
            br#"{"method":"emit","event":"e","data":[2],"namespace":"/","room":"s1"}"#,
            br#"{"method":"enter_room","sid":"s2","room":"r","namespace":"/"}"#,
            DISCONNECT_S1,
        ] {
            handle(message, recorder.as_ref(), Some(&hold), &stats).await;
        }
        assert_eq!(
            recorder.calls(),
            ["emit", r#"join / s2 ["r"] Local"#],
            "messages on other sockets go at once"
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert_eq!(
            recorder.calls().len(),
            2,
            "held while the answer is on its way"
        );
        drop(answer);
        until(&recorder, 5).await;
        assert_eq!(
            recorder.calls()[2..],
            [
                r#"leave / lobby ["lobby"] Local"#,
                "emit",
                "disconnect / s1 Local"
            ],
            "held ones follow the answer, in their order"
        );
        // Neither pending nor held any more: the next one goes at once.
        handle(DISCONNECT_S1, recorder.as_ref(), Some(&hold), &stats).await;
        assert_eq!(recorder.calls().len(), 6);
    }

    #[tokio::test(start_paused = true)]
    async fn an_answer_that_never_comes_holds_for_the_forward_timeout_only() {
        let pending = PendingAnswers::new();
        let (hold, recorder, stats) = hold(&pending);
        let _stuck = pending.begin("/", "s1");
        let started = tokio::time::Instant::now();
        handle(DISCONNECT_S1, recorder.as_ref(), Some(&hold), &stats).await;
        until(&recorder, 1).await;
        assert_eq!(recorder.calls(), ["disconnect / s1 Local"]);
        assert_eq!(started.elapsed().as_secs(), 5);
    }

    #[tokio::test(start_paused = true)]
    async fn a_socket_that_keeps_asking_does_not_stall_the_lane() {
        let pending = PendingAnswers::new();
        let (hold, recorder, stats) = hold(&pending);
        let mut asking = pending.begin("/", "s1");
        handle(DISCONNECT_S1, recorder.as_ref(), Some(&hold), &stats).await;
        let started = tokio::time::Instant::now();
        // The client sends its next event before each answer: s1 is never unmarked.
        for _ in 0..3 {
            tokio::time::sleep(Duration::from_millis(100)).await;
            let next = pending.begin("/", "s1");
            drop(std::mem::replace(&mut asking, next));
        }
        until(&recorder, 1).await;
        assert_eq!(recorder.calls(), ["disconnect / s1 Local"]);
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "waited for the answer asked before it, not for later ones: {:?}",
            started.elapsed()
        );
        assert!(pending.is_pending("/", "s1"));
    }
}
