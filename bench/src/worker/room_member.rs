//! A member of the join-storm and slow-consumer room, played by the load
//! tool's own client. It takes the steps `bench/realclients/worker.js` takes
//! with socket.io-client: join `/chat` with an ack, count the bytes of every
//! `presence` event, record the sequence number and latency of every
//! `message`; member 0 publishes; the slow member stops reading, and when the
//! server drops it, reconnects and catches up with `history {after}`.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use serde_json::{Value, json};

use super::{MemberSlot, Shared, SlowReport};
use crate::client::{Client, Protocol, Transport, sio_text};
use crate::net;
use crate::proto::{self, SioType};

/// A sequence number not received.
pub(super) const UNSEEN: u8 = 0;
/// Received as a live `message` event.
const LIVE: u8 = 1;
/// Found in a join reply or a `history` page.
const RECOVERED: u8 = 2;

/// A join (or catch-up request) waits this long for its ack before it is sent again (client-demo: 5 s).
const ACK_TIMEOUT: Duration = Duration::from_secs(5);
/// Tries of a join or a catch-up page (client-demo: 3).
const TRIES: u32 = 3;
/// Ack id of the first join try.
const JOIN_ACK_ID: u64 = 1;
/// First ack id of the publisher's messages and the catch-up pages.
const FIRST_CALL_ID: u64 = 100;
/// Messages asked for per `history` page.
const HISTORY_PAGE: u64 = 500;
/// Catch-up pages at most (client-demo's bound).
const MAX_HISTORY_PAGES: usize = 100;
/// Pause before each reconnect attempt (client-demo's first reconnection delay).
const RECONNECT_DELAY: Duration = Duration::from_millis(500);
/// Reconnect attempts at most.
const RECONNECT_TRIES: u32 = 20;

/// Whether an Engine.IO packet is a `presence` event on `/chat`.
pub fn is_presence(packet: &[u8]) -> bool {
    packet.starts_with(br#"42/chat,["presence""#)
}

/// Connects `/chat` as `u<global>` and joins `room`, counting in `slot` the
/// `presence` events that arrive meanwhile; the join ack and the retries it took.
pub(super) async fn join_room(
    client: &mut Client,
    room: &str,
    global: usize,
    slot: &MemberSlot,
    step: &mut &'static str,
) -> Result<(String, u32)> {
    let auth = json!({"name": format!("u{global}")}).to_string();
    client.connect_nsp("/chat", Some(&auth)).await?;
    *step = "join";
    let array = json!(["join", {"room": room}]).to_string();
    let (ack, retries) = client
        .call_retry_observing(
            "/chat",
            JOIN_ACK_ID,
            &array,
            ACK_TIMEOUT,
            TRIES,
            &mut |packet| count_presence(slot, packet),
        )
        .await?;
    if !proto::ack_is_ok(&ack) {
        bail!("join refused: {}", &ack[..ack.len().min(200)]);
    }
    Ok((ack, retries))
}

fn count_presence(slot: &MemberSlot, packet: &[u8]) {
    if is_presence(packet) {
        slot.presence_bytes
            .fetch_add(packet.len() as u64, Ordering::Relaxed);
        slot.presence_events.fetch_add(1, Ordering::Relaxed);
    }
}

/// Runs a joined member until the worker stops.
pub(super) async fn run(
    shared: &Shared,
    mut client: Client,
    i: usize,
    global: usize,
) -> Result<()> {
    let cfg = &shared.cfg;
    let mut member = Member {
        shared,
        slot: &shared.members[i],
        slow: cfg.slow_client == Some(global),
        pending: HashMap::new(),
    };
    let mut go = shared.go.clone();
    while !*go.borrow() {
        tokio::select! {
            changed = go.changed() => if changed.is_err() { return Ok(()) },
            packet = client.recv() => {
                let packet = packet?;
                if !client.answer_ping(&packet).await? {
                    member.on_packet(&packet)?;
                }
            }
        }
    }
    let go_at = tokio::time::Instant::now();
    let mut publisher = (global == 0).then(|| Publisher::new(shared));
    let period =
        Duration::from_secs_f64(1.0 / cfg.publish_rate.max(0.001)).max(Duration::from_millis(1));
    let mut ticker = tokio::time::interval(period);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let pause_at = go_at + Duration::from_millis(cfg.pause_at_ms);
    let mut pause_pending = member.slow;
    loop {
        tokio::select! {
            _ = ticker.tick(), if publisher.as_ref().is_some_and(|p| !p.finished()) => {
                if let Some(p) = publisher.as_mut() {
                    p.publish_due(&mut client, &mut member).await?;
                }
            }
            () = tokio::time::sleep_until(pause_at), if pause_pending => {
                pause_pending = false;
                member.pause(Duration::from_millis(cfg.pause_ms)).await;
            }
            packet = client.recv() => {
                let outcome = match packet {
                    Ok(packet) => match client.answer_ping(&packet).await {
                        Ok(true) => Ok(()),
                        Ok(false) => member.on_packet(&packet),
                        Err(e) => Err(e),
                    },
                    Err(e) => Err(e),
                };
                if let Err(e) = outcome {
                    if !member.slow {
                        return Err(e);
                    }
                    client = member.reconnect(&e, global).await?;
                }
            }
        }
    }
}

struct Member<'a> {
    shared: &'a Shared,
    slot: &'a MemberSlot,
    slow: bool,
    /// The publisher's messages without an ack yet: ack id → when sent.
    pending: HashMap<u64, Instant>,
}

impl Member<'_> {
    /// Handles one Engine.IO packet (not a ping); `Err` when the server ended the `/chat` session.
    fn on_packet(&mut self, packet: &[u8]) -> Result<()> {
        let Some(text) = sio_text(packet) else {
            return Ok(());
        };
        let p = proto::parse_sio(text)?;
        if p.nsp != "/chat" {
            return Ok(());
        }
        match p.kind {
            SioType::Event => match proto::event_name(p.data) {
                Some("presence") => count_presence(self.slot, packet),
                Some("message") => self.on_message(p.data),
                Some("error") => {
                    self.shared.error_events.fetch_add(1, Ordering::Relaxed);
                }
                _ => {}
            },
            SioType::Ack => {
                if let Some(id) = p.ack_id {
                    self.on_ack(id, p.data);
                }
            }
            SioType::Disconnect => bail!("disconnected by the server"),
            _ => {}
        }
        Ok(())
    }

    fn on_message(&self, data: &str) {
        let Some((ts, seq)) = proto::json_str_field(data, "text").and_then(proto::parse_seq_text)
        else {
            return;
        };
        if let Some(id) = proto::json_u64_field(data, "id") {
            self.slot.last_id.fetch_max(id, Ordering::Relaxed);
        }
        // The slow member's latency is its own story, not the room's.
        let latency = (!self.slow).then(|| net::now_us().saturating_sub(ts));
        self.shared.received(latency);
        self.mark(seq, LIVE);
    }

    /// Messages of a join reply or a `history` page.
    fn recover(&self, messages: &[Value]) {
        for m in messages {
            if let Some((_, seq)) = m["text"].as_str().and_then(proto::parse_seq_text) {
                self.mark(seq, RECOVERED);
            }
            if let Some(id) = m["id"].as_u64() {
                self.slot.last_id.fetch_max(id, Ordering::Relaxed);
            }
        }
    }

    fn mark(&self, seq: u64, how: u8) {
        let Ok(mut seen) = self.slot.seen.lock() else {
            return;
        };
        let Some(cell) = usize::try_from(seq).ok().and_then(|s| seen.get_mut(s)) else {
            return;
        };
        if *cell == UNSEEN {
            *cell = how;
        } else if *cell == LIVE && how == LIVE {
            self.shared.duplicates.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn on_ack(&mut self, id: u64, data: &str) {
        let Some(sent_at) = self.pending.remove(&id) else {
            return;
        };
        let shared = self.shared;
        shared.pending_acks.fetch_sub(1, Ordering::Relaxed);
        if proto::ack_is_ok(data) {
            shared.acks.fetch_add(1, Ordering::Relaxed);
            if let Ok(mut h) = shared.ack_latency.lock() {
                h.record(u64::try_from(sent_at.elapsed().as_micros()).unwrap_or(u64::MAX));
            }
        } else {
            shared.ack_failures.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn update_slow(&self, f: impl FnOnce(&mut SlowReport)) {
        if let Ok(mut report) = self.shared.slow.lock() {
            f(&mut report);
        }
    }

    /// Does not read the socket for `dur`: the kernel's buffers fill, then the server's.
    async fn pause(&self, dur: Duration) {
        self.update_slow(|r| {
            r.paused = true;
            r.paused_at_us = Some(net::now_us());
        });
        tokio::time::sleep(dur).await;
        self.update_slow(|r| r.resumed_at_us = Some(net::now_us()));
    }

    /// The slow member lost its session: connect again, re-join, catch up.
    async fn reconnect(&mut self, cause: &anyhow::Error, global: usize) -> Result<Client> {
        let reason = format!("{}", cause.root_cause());
        self.update_slow(|r| {
            r.disconnects += 1;
            if r.disconnected_at_us.is_none() {
                r.disconnected_at_us = Some(net::now_us());
                r.disconnect_reason = Some(reason);
            }
        });
        // Acks of the lost session never come.
        self.pending.clear();
        let mut last = None;
        for _ in 0..RECONNECT_TRIES {
            tokio::time::sleep(RECONNECT_DELAY).await;
            match self.rejoin(global).await {
                Ok(client) => return Ok(client),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| anyhow!("could not reconnect")))
    }

    async fn rejoin(&mut self, global: usize) -> Result<Client> {
        let shared = self.shared;
        let cfg = &shared.cfg;
        let target = &shared.targets[global % shared.targets.len()];
        let src = IpAddr::V4(cfg.sources[global % cfg.sources.len()]);
        let seed = (global as u32).wrapping_mul(2_654_435_761) ^ 0x5eed;
        let mut client =
            Client::connect(target, Protocol::Socketio, Transport::WebSocket, src, seed).await?;
        let after = self.slot.last_id.load(Ordering::Relaxed);
        let mut step = "namespace connect";
        let (ack, _) = join_room(&mut client, &cfg.room, global, self.slot, &mut step).await?;
        self.update_slow(|r| {
            r.reconnects += 1;
            r.reconnected_at_us.get_or_insert_with(net::now_us);
        });
        if let Ok(reply) = serde_json::from_str::<Value>(&ack)
            && let Some(messages) = reply[0]["messages"].as_array()
        {
            self.recover(messages);
        }
        if let Err(e) = self.catch_up(&mut client, after).await {
            let e = format!("{e:#}");
            self.update_slow(|r| r.resync_error = Some(e));
        }
        Ok(client)
    }

    /// Asks `history {room, after}` page by page until nothing is left.
    async fn catch_up(&mut self, client: &mut Client, mut after: u64) -> Result<()> {
        let room = self.shared.cfg.room.clone();
        let mut id = FIRST_CALL_ID;
        for _ in 0..MAX_HISTORY_PAGES {
            let array = json!(["history", {"room": room, "after": after, "limit": HISTORY_PAGE}])
                .to_string();
            let (data, retries) = client
                .call_retry_observing("/chat", id, &array, ACK_TIMEOUT, TRIES, &mut |packet| {
                    // Live messages go on arriving meanwhile.
                    let _ = self.on_packet(packet);
                })
                .await?;
            id += u64::from(retries) + 1;
            let reply: Value = serde_json::from_str(&data).context("history reply")?;
            let page = &reply[0];
            if page["ok"] != Value::Bool(true) {
                bail!("history refused: {}", &data[..data.len().min(200)]);
            }
            let messages = page["messages"]
                .as_array()
                .map(Vec::as_slice)
                .unwrap_or_default();
            self.recover(messages);
            let n = messages.len() as u64;
            self.update_slow(|r| {
                r.history_pages += 1;
                r.history_messages += n;
            });
            match messages.last().and_then(|m| m["id"].as_u64()) {
                Some(last) if page["has_more"] == Value::Bool(true) => after = last,
                _ => break,
            }
        }
        self.update_slow(|r| r.caught_up_at_us = Some(net::now_us()));
        Ok(())
    }
}

/// Member 0's publishing: `rate` messages per second, sequence numbers from 0.
struct Publisher {
    start: Instant,
    rate: f64,
    planned: u64,
    hard_stop: Duration,
    sent: u64,
    next_id: u64,
    pad: String,
    room: String,
}

impl Publisher {
    fn new(shared: &Shared) -> Self {
        let cfg = &shared.cfg;
        shared
            .publish_first_us
            .store(net::now_us(), Ordering::Relaxed);
        Publisher {
            start: Instant::now(),
            rate: cfg.publish_rate,
            planned: cfg.planned_messages(),
            hard_stop: Duration::from_millis(cfg.publish_ms * 2 + 10_000),
            sent: 0,
            next_id: FIRST_CALL_ID,
            pad: "x".repeat(cfg.chat_text_len.saturating_sub(24)),
            room: cfg.room.clone(),
        }
    }

    fn finished(&self) -> bool {
        self.sent >= self.planned || self.start.elapsed() > self.hard_stop
    }

    /// Sends every message due by now.
    async fn publish_due(&mut self, client: &mut Client, member: &mut Member<'_>) -> Result<()> {
        let due =
            ((self.start.elapsed().as_secs_f64() * self.rate).floor() as u64 + 1).min(self.planned);
        let shared = member.shared;
        while self.sent < due {
            let text = proto::seq_text(net::now_us(), self.sent, &self.pad);
            let array = json!(["message", {"room": self.room, "text": text}]).to_string();
            client
                .send(&proto::encode_event("/chat", Some(self.next_id), &array))
                .await?;
            member.pending.insert(self.next_id, Instant::now());
            shared.pending_acks.fetch_add(1, Ordering::Relaxed);
            shared.sent.fetch_add(1, Ordering::Relaxed);
            self.next_id += 1;
            self.sent += 1;
        }
        shared
            .publish_last_us
            .store(net::now_us(), Ordering::Relaxed);
        Ok(())
    }
}

/// What the members of one worker add up to.
#[derive(Debug, Default, PartialEq)]
pub(super) struct Tally {
    /// `(distinct messages, members)` over the joined members but the slow one.
    pub distinct: Vec<(u64, u64)>,
    pub presence_total: u64,
    pub presence_max: u64,
    pub presence_events: u64,
    /// The slow member's counts: `seen`, `live_seen`, `missing_ranges`, `last_seen_id`.
    pub slow: Option<SlowReport>,
}

/// Adds up the joined members; `slow` is the slow member's local index.
pub(super) fn tally(slots: &[MemberSlot], slow: Option<usize>) -> Tally {
    let mut distinct: std::collections::BTreeMap<u64, u64> = Default::default();
    let mut out = Tally::default();
    for (i, slot) in slots.iter().enumerate() {
        if !slot.joined.load(Ordering::SeqCst) {
            continue;
        }
        let bytes = slot.presence_bytes.load(Ordering::Relaxed);
        out.presence_total += bytes;
        out.presence_max = out.presence_max.max(bytes);
        out.presence_events += slot.presence_events.load(Ordering::Relaxed);
        let seen = slot.seen.lock().map(|s| s.clone()).unwrap_or_default();
        let got = seen.iter().filter(|c| **c != UNSEEN).count() as u64;
        if slow == Some(i) {
            let live = seen.iter().filter(|c| **c == LIVE).count() as u64;
            let last_id = slot.last_id.load(Ordering::Relaxed);
            out.slow = Some(SlowReport {
                seen: got,
                live_seen: live,
                missing_ranges: missing_ranges(&seen, 20),
                last_seen_id: last_id,
                ..SlowReport::default()
            });
        } else {
            *distinct.entry(got).or_insert(0) += 1;
        }
    }
    out.distinct = distinct.into_iter().collect();
    out
}

/// Runs of unseen sequence numbers as `[first, last]`, the first `max` of them.
pub fn missing_ranges(seen: &[u8], max: usize) -> Vec<(u64, u64)> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < seen.len() && out.len() < max {
        if seen[i] != UNSEEN {
            i += 1;
            continue;
        }
        let start = i;
        while i + 1 < seen.len() && seen[i + 1] == UNSEEN {
            i += 1;
        }
        out.push((start as u64, i as u64));
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presence_packets_are_recognised() {
        assert!(is_presence(
            br#"42/chat,["presence",{"room":"r","members":[]}]"#
        ));
        assert!(is_presence(br#"42/chat,["presence", {"room": "r"}]"#));
        assert!(!is_presence(br#"42/chat,["message",{"text":"presence"}]"#));
        assert!(!is_presence(br#"42["presence",{}]"#), "another namespace");
        assert!(!is_presence(b"2"));
    }

    #[test]
    fn missing_runs() {
        assert_eq!(
            missing_ranges(&[1, 1, 0, 0, 2, 0, 1, 0], 20),
            vec![(2, 3), (5, 5), (7, 7)]
        );
        assert_eq!(missing_ranges(&[0, 0, 0], 20), vec![(0, 2)]);
        assert_eq!(missing_ranges(&[1, 2], 20), vec![]);
        assert_eq!(missing_ranges(&[0, 1, 0, 1, 0], 2), vec![(0, 0), (2, 2)]);
        assert_eq!(missing_ranges(&[], 20), vec![]);
    }

    #[test]
    fn tally_counts_members_apart_from_the_slow_one() {
        let slots: Vec<MemberSlot> = (0..4).map(|_| MemberSlot::new(4)).collect();
        let set = |i: usize, seen: [u8; 4], presence: u64| {
            slots[i].joined.store(true, Ordering::SeqCst);
            *slots[i].seen.lock().expect("lock") = seen.to_vec();
            slots[i].presence_bytes.store(presence, Ordering::Relaxed);
            slots[i].presence_events.store(1, Ordering::Relaxed);
            slots[i].last_id.store(9, Ordering::Relaxed);
        };
        set(0, [1, 1, 1, 1], 100);
        set(1, [1, 0, 1, 1], 300);
        set(2, [1, 0, 2, 0], 50);
        // Slot 3 never joined: not counted.
        let t = tally(&slots, Some(2));
        assert_eq!(t.distinct, vec![(3, 1), (4, 1)]);
        assert_eq!(
            (t.presence_total, t.presence_max, t.presence_events),
            (450, 300, 3)
        );
        let slow = t.slow.expect("slow member");
        assert_eq!(
            (
                slow.seen,
                slow.live_seen,
                slow.missing_ranges,
                slow.last_seen_id
            ),
            (2, 1, vec![(1, 1), (3, 3)], 9)
        );
        assert_eq!(tally(&slots, None).distinct, vec![(2, 1), (3, 1), (4, 1)]);
    }
}
