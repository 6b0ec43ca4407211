//! This node's live notification subscribers, and the seam between what a
//! subscriber catches up from history and what it then receives live.
//!
//! Two kinds of subscriber: `/notifications` sockets (live delivery is a
//! local room broadcast, so a topic with thousands of subscribers costs one
//! encode) and Server-Sent Events streams (a bounded channel each).
//!
//! The seam, exactly once and in order: a catching-up subscriber is taken out
//! of its streams' live delivery and what arrives for it meanwhile is held;
//! it then reads history (a stream's read returns every position up to its
//! head, see the stores); what was held is sent only if it is past that head;
//! and for a while after, a late live copy of a position at or below the head
//! (published before the read, delivered after) is left out ("fences").
//! Streams are read topics first, then the user's, the reverse of the order a
//! notification is appended in, so a notification is never caught up through
//! one stream and delivered live through another.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use socketioxide::SocketIo;
use socketioxide::extract::SocketRef;
use socketioxide::socket::Sid;
use tokio::sync::{Mutex, mpsc};
use tokio::time::Instant;

use super::history::{NotificationHistory, StreamRead};
use crate::ops::metrics;
use crate::protocol::notifications::{
    CatchUpReply, Cursor, NAMESPACE, Notification, socket_room, user_room,
};
use crate::socket::NodeAdapter;

/// How long a late live copy of a caught-up position is watched for.
const FENCE_TTL: Duration = Duration::from_secs(60);

/// A notification with its position in every stream it was appended to.
#[derive(Debug, Clone)]
pub struct Published {
    /// The notification; `positions` has every stream.
    pub notification: Notification,
    /// The users it is addressed to.
    pub users: Vec<String>,
}

impl Published {
    /// Its streams in delivery order: the users', then the topic's.
    pub fn streams(&self) -> Vec<String> {
        let mut streams: Vec<String> = self.users.iter().map(|u| user_room(u)).collect();
        streams.extend(
            self.notification
                .topic
                .as_deref()
                .map(crate::protocol::notifications::topic_room),
        );
        streams
    }

    /// The copy a stream's subscribers get: its positions in that stream and,
    /// from a user's stream, in the topic's (never another user's).
    fn copy_for(&self, stream: &str) -> Arc<Notification> {
        let mut copy = self.notification.clone();
        let topic = copy
            .topic
            .as_deref()
            .map(crate::protocol::notifications::topic_room);
        copy.positions.retain(|s, _| {
            s == stream || (stream.starts_with("user:") && Some(s) == topic.as_ref())
        });
        Arc::new(copy)
    }

    fn is_for_user(&self, user: &str) -> bool {
        self.users.iter().any(|u| u == user)
    }
}

/// What an SSE stream receives.
#[derive(Debug, Clone)]
pub enum Feed {
    /// A notification (caught up or live).
    Notification(Arc<Notification>),
    /// The end of the catch-up.
    Ready(CatchUpReply),
}

/// Who catches up: a socket, or an SSE stream (its id and its channel).
pub enum Sink<A: NodeAdapter> {
    /// A `/notifications` socket.
    Socket(SocketRef<A>),
    /// An SSE stream.
    Sse(u64, mpsc::Sender<Feed>),
}

#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
enum Target {
    Socket(Sid),
    Sse(u64),
}

struct Pending {
    user: String,
    held: Vec<(u64, Arc<Notification>)>,
}

struct SseLink {
    user: String,
    tx: mpsc::Sender<Feed>,
}

#[derive(Default)]
struct State {
    pending: HashMap<String, HashMap<Target, Pending>>,
    fences: HashMap<String, HashMap<Target, (u64, Instant)>>,
    sse: HashMap<String, HashMap<u64, SseLink>>,
}

impl State {
    fn fenced(&self, stream: &str, target: Target, position: u64) -> bool {
        self.fences
            .get(stream)
            .and_then(|f| f.get(&target))
            .is_some_and(|(head, _)| position <= *head)
    }

    fn prune_fences(&mut self, now: Instant) {
        self.fences.retain(|_, targets| {
            targets.retain(|_, (_, at)| now.saturating_duration_since(*at) < FENCE_TTL);
            !targets.is_empty()
        });
    }

    fn forget(&mut self, target: Target) {
        for map in self.pending.values_mut() {
            map.remove(&target);
        }
        for map in self.fences.values_mut() {
            map.remove(&target);
        }
        if let Target::Sse(id) = target {
            for map in self.sse.values_mut() {
                map.remove(&id);
            }
        }
        self.pending.retain(|_, m| !m.is_empty());
        self.fences.retain(|_, m| !m.is_empty());
        self.sse.retain(|_, m| !m.is_empty());
    }
}

/// This node's notification subscribers.
pub struct Hub<A: NodeAdapter> {
    io: SocketIo<A>,
    history: Arc<dyn NotificationHistory>,
    state: Mutex<State>,
    next_sse: AtomicU64,
    sse_open: AtomicU64,
}

impl<A: NodeAdapter> Hub<A> {
    /// A hub delivering on `io`, catching up from `history`.
    pub fn new(io: SocketIo<A>, history: Arc<dyn NotificationHistory>) -> Arc<Self> {
        Arc::new(Self {
            io,
            history,
            state: Mutex::new(State::default()),
            next_sse: AtomicU64::new(1),
            sse_open: AtomicU64::new(0),
        })
    }

    /// The history it catches up from.
    pub fn history(&self) -> &Arc<dyn NotificationHistory> {
        &self.history
    }

    /// An id for a new SSE stream.
    pub fn sse_id(&self) -> u64 {
        self.next_sse.fetch_add(1, Ordering::Relaxed)
    }

    /// Delivers a published notification to this node's subscribers, each once.
    pub async fn deliver(&self, published: &Published) {
        let mut state = self.state.lock().await;
        state.prune_fences(Instant::now());
        let mut done: Vec<String> = Vec::new();
        let mut sse_done: HashSet<u64> = HashSet::new();
        let mut cut: Vec<u64> = Vec::new();
        for stream in published.streams() {
            let copy = published.copy_for(&stream);
            let Some(&position) = copy.positions.get(&stream) else {
                continue;
            };
            let via_user = stream.starts_with("topic:");
            if let Some(waiting) = state.pending.get_mut(&stream) {
                for pending in waiting.values_mut() {
                    if !(via_user && published.is_for_user(&pending.user)) {
                        pending.held.push((position, copy.clone()));
                    }
                }
            }
            if let Some(links) = state.sse.get(&stream) {
                for (id, link) in links {
                    if sse_done.contains(id)
                        || (via_user && published.is_for_user(&link.user))
                        || state.fenced(&stream, Target::Sse(*id), position)
                    {
                        continue;
                    }
                    sse_done.insert(*id);
                    if link.tx.try_send(Feed::Notification(copy.clone())).is_err() {
                        cut.push(*id);
                    }
                }
            }
            let mut except: Vec<String> = done.clone();
            if let Some(fences) = state.fences.get(&stream) {
                except.extend(
                    fences
                        .iter()
                        .filter_map(|(target, (head, _))| match target {
                            Target::Socket(sid) if position <= *head => {
                                Some(socket_room(&sid.to_string()))
                            }
                            _ => None,
                        }),
                );
            }
            if let Some(ns) = self.io.of(NAMESPACE) {
                let mut target = ns.local().to(stream.clone());
                if !except.is_empty() {
                    target = target.except(except);
                }
                if let Err(e) =
                    crate::backends::delivery::emit(target, "notification", &*copy).await
                {
                    tracing::warn!(error = %e, %stream, "notification delivery failed");
                }
            }
            done.push(stream);
        }
        for id in cut {
            // A full channel: the stream is cut and its client resumes from
            // its Last-Event-ID, so nothing is lost, only delayed.
            tracing::info!(
                sse = id,
                cause = "slow_consumer",
                "SSE stream cut: it did not keep up"
            );
            metrics::slow_consumer_disconnect("sse");
            state.forget(Target::Sse(id));
        }
    }

    /// Catches `sink` (of `user`) up on `streams` (each with the position it
    /// saw last, or `None` for just the head), then makes it live on them.
    pub async fn catch_up(
        &self,
        sink: &Sink<A>,
        user: &str,
        streams: &[(String, Option<u64>)],
    ) -> CatchUpReply {
        let target = match sink {
            Sink::Socket(s) => Target::Socket(s.id),
            Sink::Sse(id, _) => Target::Sse(*id),
        };
        {
            let mut state = self.state.lock().await;
            for (stream, _) in streams {
                if let Sink::Socket(socket) = sink {
                    socket.leave(stream.clone());
                }
                if let Some(links) = state.sse.get_mut(stream)
                    && let Target::Sse(id) = target
                {
                    links.remove(&id);
                }
                state.pending.entry(stream.clone()).or_default().insert(
                    target,
                    Pending {
                        user: user.to_owned(),
                        held: Vec::new(),
                    },
                );
            }
        }
        // Topics first, the user's stream last (see the module comment).
        let mut order: Vec<&(String, Option<u64>)> = streams.iter().collect();
        order.sort_by_key(|(stream, _)| stream.starts_with("user:"));
        let mut reads: BTreeMap<String, StreamRead> = BTreeMap::new();
        let mut unrecovered = Vec::new();
        for (stream, since) in order {
            match self.history.read(stream, *since).await {
                Ok(read) => {
                    if !read.recovered {
                        unrecovered.push(stream.clone());
                    }
                    reads.insert(stream.clone(), read);
                }
                Err(e) => {
                    tracing::warn!(error = %e, %stream, "cannot read notification history");
                    unrecovered.push(stream.clone());
                }
            }
        }
        // Caught-up notifications, once each, with their positions in this sink's streams.
        let mut by_id: HashMap<String, Notification> = HashMap::new();
        for (stream, read) in &reads {
            for entry in &read.entries {
                by_id
                    .entry(entry.notification.id.clone())
                    .or_insert_with(|| {
                        let mut n = (*entry.notification).clone();
                        n.positions.clear();
                        n
                    })
                    .positions
                    .insert(stream.clone(), entry.position);
            }
        }
        let mut missed: Vec<Notification> = by_id.into_values().collect();
        missed.sort_by_key(|n| (n.ts, first_position(n)));
        let mut positions: Cursor = streams
            .iter()
            .map(|(stream, since)| {
                let head = reads.get(stream).map_or(0, |r| r.head);
                (stream.clone(), head.max(since.unwrap_or(0)))
            })
            .collect();
        let missed_count = missed.len();
        let mut state = self.state.lock().await;
        let mut alive = true;
        for n in missed {
            alive &= send(sink, Arc::new(n));
        }
        // What arrived during the read and lies past it, once each, in order.
        let mut held: Vec<(u64, Arc<Notification>)> = Vec::new();
        let mut seen: HashSet<String> = HashSet::new();
        let now = Instant::now();
        for (stream, _) in streams {
            let head = reads.get(stream).map_or(0, |r| r.head);
            if let Some(pending) = state
                .pending
                .get_mut(stream)
                .and_then(|m| m.remove(&target))
            {
                held.extend(
                    pending
                        .held
                        .into_iter()
                        .filter(|(position, n)| *position > head && seen.insert(n.id.clone())),
                );
            }
            state
                .fences
                .entry(stream.clone())
                .or_default()
                .insert(target, (head, now));
        }
        state.pending.retain(|_, m| !m.is_empty());
        held.sort_by_key(|(_, n)| n.ts);
        for (_, n) in held {
            for (stream, position) in &n.positions {
                if let Some(p) = positions.get_mut(stream) {
                    *p = (*p).max(*position);
                }
            }
            alive &= send(sink, n);
        }
        match sink {
            Sink::Socket(socket) => {
                let rooms: Vec<String> = streams.iter().map(|(s, _)| s.clone()).collect();
                // A socket that left during the read must not be put back in rooms
                // (nothing would take it out again).
                if socket.connected() {
                    socket.join(rooms.clone());
                    if !socket.connected() {
                        socket.leave(rooms);
                    }
                }
            }
            Sink::Sse(id, tx) if alive => {
                for (stream, _) in streams {
                    state.sse.entry(stream.clone()).or_default().insert(
                        *id,
                        SseLink {
                            user: user.to_owned(),
                            tx: tx.clone(),
                        },
                    );
                }
            }
            Sink::Sse(..) => state.forget(target),
        }
        unrecovered.sort();
        unrecovered.dedup();
        CatchUpReply {
            recovered: unrecovered.is_empty(),
            missed: missed_count,
            unrecovered,
            positions,
        }
    }

    /// Forgets a socket that left.
    pub async fn forget_socket(&self, sid: Sid) {
        self.state.lock().await.forget(Target::Socket(sid));
    }

    /// Counts an SSE stream as open until [`Self::close_sse`].
    pub fn open_sse(&self) {
        let open = self.sse_open.fetch_add(1, Ordering::Relaxed) + 1;
        metrics::sse_streams(open);
    }

    /// Forgets an SSE stream that ended.
    pub async fn close_sse(&self, id: u64) {
        let open = self
            .sse_open
            .fetch_sub(1, Ordering::Relaxed)
            .saturating_sub(1);
        metrics::sse_streams(open);
        self.state.lock().await.forget(Target::Sse(id));
    }
}

fn first_position(n: &Notification) -> u64 {
    n.positions.values().copied().min().unwrap_or(0)
}

/// Sends one notification to a sink; `false` when an SSE stream could not take it.
fn send<A: NodeAdapter>(sink: &Sink<A>, n: Arc<Notification>) -> bool {
    match sink {
        Sink::Socket(socket) => match socket.emit("notification", &*n) {
            Ok(()) => true,
            Err(e) => {
                // A socket whose queue is full is cut, never skipped: it
                // reconnects and catches up from its cursor.
                tracing::info!(sid = %socket.id, error = %e, cause = "slow_consumer", "notifications socket cut during catch-up");
                metrics::slow_consumer_disconnect(metrics::transport_label(
                    socket.transport_type(),
                ));
                let _ = socket.clone().disconnect();
                false
            }
        },
        Sink::Sse(_, tx) => tx.try_send(Feed::Notification(n)).is_ok(),
    }
}
