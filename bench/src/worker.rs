//! A worker process: holds a slice of the clients of a scenario.
//!
//! The coordinator starts workers as `iorelay-bench worker --config <json>`,
//! reads one JSON line per message on their stdout (`ready`, `progress`,
//! `done`) and writes `go` and `stop` on their stdin. Spreading clients over
//! processes keeps each under the open-file limit and each process's source
//! addresses apart.

use std::collections::{BTreeMap, VecDeque};
use std::io::Write as _;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::sync::{Semaphore, watch};

use crate::client::{Client, Protocol, Transport, is_polling, sio_text};
use crate::net::{self, Target};
use crate::proto::{self, SioType};
use crate::stats::Latency;

mod room_member;

/// What a worker runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scenario {
    /// Connect and hold.
    Idle,
    /// Join one room and receive ticks.
    Fanout,
    /// Join a chat room, send messages with acks, receive the room's messages.
    Chat,
    /// Everyone joins one `/chat` room at once; member 0 publishes; every member counts what it got.
    JoinStorm,
    /// The join storm's room with one member that stops reading for a while.
    SlowConsumer,
}

impl Scenario {
    /// Whether clients are members of one `/chat` room (see `room_member`).
    pub fn is_room_member(self) -> bool {
        matches!(self, Scenario::JoinStorm | Scenario::SlowConsumer)
    }
}

/// A worker's share of the work.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WorkerConfig {
    /// Worker number.
    pub index: usize,
    /// Scenario.
    pub scenario: Scenario,
    /// Protocol of the server.
    pub protocol: Protocol,
    /// Server URLs; client `i` uses `targets[i % len]`.
    pub targets: Vec<String>,
    /// Global index of this worker's first client.
    pub first_client: usize,
    /// Clients of this worker.
    pub clients: usize,
    /// Share of clients on long-polling (0–1).
    pub polling_share: f64,
    /// Source addresses, used round-robin.
    pub sources: Vec<Ipv4Addr>,
    /// Connections being set up at once.
    pub connect_concurrency: usize,
    /// Longest set-up of one client (connect, namespace, join), ms.
    pub connect_timeout_ms: u64,
    /// Longest connect phase of the whole worker, ms.
    pub connect_phase_ms: u64,
    /// Fan-out room.
    pub room: String,
    /// Chat: clients per room.
    pub room_size: usize,
    /// Chat: messages per second per client.
    pub chat_rate: f64,
    /// Chat: how long clients send after `go`, ms.
    pub chat_duration_ms: u64,
    /// Chat: text length (the timestamp prefix included).
    pub chat_text_len: usize,
    /// Runtime threads.
    pub threads: usize,
    /// Join-storm, slow-consumer: messages per second member 0 publishes after `go`.
    #[serde(default)]
    pub publish_rate: f64,
    /// How long member 0 publishes, ms.
    #[serde(default)]
    pub publish_ms: u64,
    /// Slow-consumer: the member (global index) that stops reading.
    #[serde(default)]
    pub slow_client: Option<usize>,
    /// When it stops reading, ms after `go`.
    #[serde(default)]
    pub pause_at_ms: u64,
    /// How long it does not read, ms.
    #[serde(default)]
    pub pause_ms: u64,
}

impl WorkerConfig {
    /// Messages member 0 publishes (sequence numbers `0..planned`).
    pub fn planned_messages(&self) -> u64 {
        ((self.publish_rate * self.publish_ms as f64 / 1000.0).round() as u64).max(1)
    }
}

/// Worker → coordinator messages, one JSON line each.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum WorkerMsg {
    /// Every client is connected or has failed.
    Ready {
        /// Clients set up.
        connected: u64,
        /// Clients that could not be set up.
        failed: u64,
        /// Of the connected, on long-polling.
        polling: u64,
        /// Joins sent again because their ack did not come (lost first events).
        #[serde(default)]
        join_retries: u64,
        /// Length of the connect phase.
        connect_secs: f64,
        /// Set-up time per client, µs histogram pairs.
        connect_latency: Vec<(u64, u64)>,
        /// Error counts by cause.
        errors: BTreeMap<String, u64>,
    },
    /// Periodic counters.
    Progress {
        /// Clients still connected.
        alive: u64,
        /// Messages received.
        received: u64,
        /// Acks received.
        acks: u64,
    },
    /// Final counters, after `stop`.
    Done(Box<DoneReport>),
}

/// The final report of a worker.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct DoneReport {
    /// Clients set up.
    pub connected: u64,
    /// Clients still connected at the end.
    pub alive: u64,
    /// Connections lost after set-up.
    pub dropped: u64,
    /// Messages received (ticks, chat messages).
    pub received: u64,
    /// Messages sent (chat).
    pub sent: u64,
    /// Positive acks received.
    pub acks: u64,
    /// Negative acks.
    pub ack_failures: u64,
    /// Acks never received (sent minus answered) at the end.
    pub acks_missing: u64,
    /// First receipt, µs since the epoch (0: none).
    pub first_recv_us: u64,
    /// Last receipt, µs since the epoch (0: none).
    pub last_recv_us: u64,
    /// Delivery latency pairs (fan-out end to end, chat sender to receiver).
    pub latency: Vec<(u64, u64)>,
    /// Ack latency pairs (chat).
    pub ack_latency: Vec<(u64, u64)>,
    /// Error counts by cause.
    pub errors: BTreeMap<String, u64>,
    /// Room members (the slow one apart) by how many distinct messages each
    /// received: `(distinct, members)`.
    #[serde(default)]
    pub distinct: Vec<(u64, u64)>,
    /// Messages a member received again.
    #[serde(default)]
    pub duplicates: u64,
    /// Bytes of `presence` events, all members together (whole Engine.IO packets).
    #[serde(default)]
    pub presence_bytes_total: u64,
    /// Most `presence` bytes one member received.
    #[serde(default)]
    pub presence_bytes_max: u64,
    /// `presence` events received after joining.
    #[serde(default)]
    pub presence_events: u64,
    /// First publish, µs on the worker's clock (0: this worker did not publish).
    #[serde(default)]
    pub publish_first_us: u64,
    /// Last publish, µs.
    #[serde(default)]
    pub publish_last_us: u64,
    /// `error` events the server sent (iorelay: `rate_limited`).
    #[serde(default)]
    pub error_events: u64,
    /// The slow member's story, from the worker that holds it.
    #[serde(default)]
    pub slow: Option<SlowReport>,
    /// Worst lateness of a 100 ms timer in this process, ms: how long its
    /// event loop (Node) or runtime was too busy to look at anything else.
    #[serde(default)]
    pub loop_lag_max_ms: f64,
}

/// What happened to the member that stopped reading (times in µs on the worker's clock).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SlowReport {
    /// It did stop reading.
    pub paused: bool,
    /// Why it could not.
    pub pause_error: Option<String>,
    /// When it stopped reading.
    pub paused_at_us: Option<u64>,
    /// When it read again.
    pub resumed_at_us: Option<u64>,
    /// Bytes its TCP socket read while paused (real clients; `None`: not measured).
    pub bytes_read_during_pause: Option<u64>,
    /// The same from one second into the pause (0: it really stopped reading).
    pub bytes_read_after_first_second: Option<u64>,
    /// Times it found itself disconnected.
    pub disconnects: u64,
    /// When it first noticed (it cannot while it does not read).
    pub disconnected_at_us: Option<u64>,
    /// Why, as its client library put it.
    pub disconnect_reason: Option<String>,
    /// Reconnects.
    pub reconnects: u64,
    /// First reconnect.
    pub reconnected_at_us: Option<u64>,
    /// What went wrong re-joining or catching up.
    pub resync_error: Option<String>,
    /// `history` pages asked for.
    pub history_pages: u64,
    /// Messages they held.
    pub history_messages: u64,
    /// When the catch-up ended.
    pub caught_up_at_us: Option<u64>,
    /// Distinct messages received live.
    pub live_seen: u64,
    /// Distinct messages it has at the end (live, join reply, history).
    pub seen: u64,
    /// Sequence numbers it never got, as `[first, last]` runs (the first 20).
    pub missing_ranges: Vec<(u64, u64)>,
    /// Highest message id seen.
    pub last_seen_id: u64,
}

struct Shared {
    cfg: WorkerConfig,
    targets: Vec<Target>,
    permits: Semaphore,
    go: watch::Receiver<bool>,
    connected: AtomicU64,
    polling: AtomicU64,
    failed: AtomicU64,
    join_retries: AtomicU64,
    settled: AtomicU64,
    alive: AtomicU64,
    dropped: AtomicU64,
    received: AtomicU64,
    sent: AtomicU64,
    acks: AtomicU64,
    ack_failures: AtomicU64,
    pending_acks: AtomicU64,
    first_recv_us: AtomicU64,
    last_recv_us: AtomicU64,
    latency: Mutex<Latency>,
    ack_latency: Mutex<Latency>,
    connect_latency: Mutex<Latency>,
    errors: Mutex<BTreeMap<String, u64>>,
    /// Room members' own counters, by local client index.
    members: Vec<MemberSlot>,
    /// Set when `ready` went out: clients set up later are not members.
    ready_sent: AtomicBool,
    duplicates: AtomicU64,
    error_events: AtomicU64,
    publish_first_us: AtomicU64,
    publish_last_us: AtomicU64,
    slow: Mutex<SlowReport>,
    /// Worst timer lateness seen, µs.
    loop_lag_max_us: AtomicU64,
}

/// One room member's counters, shared so the final report can read them.
struct MemberSlot {
    /// Joined before `ready`.
    joined: AtomicBool,
    /// Bytes of `presence` events received (whole Engine.IO packets).
    presence_bytes: AtomicU64,
    /// `presence` events received.
    presence_events: AtomicU64,
    /// By sequence number: see [`room_member::UNSEEN`] and the marks beside it.
    seen: Mutex<Vec<u8>>,
    /// Highest message id seen.
    last_id: AtomicU64,
}

impl MemberSlot {
    fn new(planned: u64) -> Self {
        MemberSlot {
            joined: AtomicBool::new(false),
            presence_bytes: AtomicU64::new(0),
            presence_events: AtomicU64::new(0),
            seen: Mutex::new(vec![
                room_member::UNSEEN;
                usize::try_from(planned).unwrap_or(0)
            ]),
            last_id: AtomicU64::new(0),
        }
    }
}

const MAX_ERROR_KINDS: usize = 16;
/// A join without an ack after this long is sent again (see [`Client::call_retry`]).
const JOIN_RETRY_AFTER: Duration = Duration::from_secs(2);
/// Join attempts in all.
const JOIN_TRIES: u32 = 5;

impl Shared {
    fn error(&self, phase: &str, e: &anyhow::Error) {
        let mut key = format!("{phase}: {}", e.root_cause());
        key.truncate(160);
        if let Ok(mut map) = self.errors.lock() {
            if map.len() >= MAX_ERROR_KINDS && !map.contains_key(&key) {
                key = format!("{phase}: other");
            }
            *map.entry(key).or_insert(0) += 1;
        }
    }

    fn received(&self, latency_us: Option<u64>) {
        self.received.fetch_add(1, Ordering::Relaxed);
        let now = net::now_us();
        self.first_recv_us.fetch_min(now, Ordering::Relaxed);
        self.last_recv_us.fetch_max(now, Ordering::Relaxed);
        if let Some(lat) = latency_us
            && let Ok(mut h) = self.latency.lock()
        {
            h.record(lat);
        }
    }

    fn snapshot(hist: &Mutex<Latency>) -> Vec<(u64, u64)> {
        hist.lock().map(|h| h.pairs()).unwrap_or_default()
    }
}

fn emit(msg: &WorkerMsg) {
    if let Ok(line) = serde_json::to_string(msg) {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{line}");
        let _ = out.flush();
    }
}

/// Runs a worker from its JSON configuration; exits the process when done.
pub fn run(config_json: &str) -> Result<()> {
    let cfg: WorkerConfig = serde_json::from_str(config_json).context("worker configuration")?;
    net::raise_nofile();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(cfg.threads.max(1))
        .enable_all()
        .build()
        .context("tokio runtime")?;
    runtime.block_on(main(cfg))?;
    // Blocking stdin reads would hold the runtime's shutdown: leave now.
    std::process::exit(0);
}

async fn main(cfg: WorkerConfig) -> Result<()> {
    let targets = cfg
        .targets
        .iter()
        .map(|u| net::parse_target(u))
        .collect::<Result<Vec<_>>>()?;
    if targets.is_empty() || cfg.sources.is_empty() {
        bail!("a worker needs targets and source addresses");
    }
    let (go_tx, go_rx) = watch::channel(false);
    let shared = Arc::new(Shared {
        permits: Semaphore::new(cfg.connect_concurrency.max(1)),
        go: go_rx,
        targets,
        connected: AtomicU64::new(0),
        polling: AtomicU64::new(0),
        failed: AtomicU64::new(0),
        join_retries: AtomicU64::new(0),
        settled: AtomicU64::new(0),
        alive: AtomicU64::new(0),
        dropped: AtomicU64::new(0),
        received: AtomicU64::new(0),
        sent: AtomicU64::new(0),
        acks: AtomicU64::new(0),
        ack_failures: AtomicU64::new(0),
        pending_acks: AtomicU64::new(0),
        first_recv_us: AtomicU64::new(u64::MAX),
        last_recv_us: AtomicU64::new(0),
        latency: Mutex::new(Latency::new()),
        ack_latency: Mutex::new(Latency::new()),
        connect_latency: Mutex::new(Latency::new()),
        errors: Mutex::new(BTreeMap::new()),
        members: if cfg.scenario.is_room_member() {
            (0..cfg.clients)
                .map(|_| MemberSlot::new(cfg.planned_messages()))
                .collect()
        } else {
            Vec::new()
        },
        ready_sent: AtomicBool::new(false),
        duplicates: AtomicU64::new(0),
        error_events: AtomicU64::new(0),
        publish_first_us: AtomicU64::new(0),
        publish_last_us: AtomicU64::new(0),
        slow: Mutex::new(SlowReport::default()),
        loop_lag_max_us: AtomicU64::new(0),
        cfg,
    });
    tokio::spawn(watch_loop_lag(shared.clone()));
    let start = Instant::now();
    for i in 0..shared.cfg.clients {
        tokio::spawn(client_task(shared.clone(), i));
    }
    let deadline = start + Duration::from_millis(shared.cfg.connect_phase_ms);
    let total = shared.cfg.clients as u64;
    while shared.settled.load(Ordering::Relaxed) < total && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let connect_secs = start.elapsed().as_secs_f64();
    let settled = shared.settled.load(Ordering::Relaxed);
    let failed = shared.failed.load(Ordering::Relaxed) + total.saturating_sub(settled);
    if settled < total
        && let Ok(mut map) = shared.errors.lock()
    {
        *map.entry("connect: still pending at the end of the connect phase".into())
            .or_insert(0) += total - settled;
    }
    shared.ready_sent.store(true, Ordering::SeqCst);
    emit(&WorkerMsg::Ready {
        connected: shared.connected.load(Ordering::Relaxed),
        failed,
        polling: shared.polling.load(Ordering::Relaxed),
        join_retries: shared.join_retries.load(Ordering::Relaxed),
        connect_secs,
        connect_latency: Shared::snapshot(&shared.connect_latency),
        errors: shared.errors.lock().map(|m| m.clone()).unwrap_or_default(),
    });

    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    let mut progress = tokio::time::interval(Duration::from_millis(250));
    loop {
        tokio::select! {
            line = lines.next_line() => match line {
                Ok(Some(cmd)) if cmd.trim() == "go" => { let _ = go_tx.send(true); }
                Ok(Some(cmd)) if cmd.trim() == "stop" => break,
                Ok(Some(_)) => {}
                Ok(None) | Err(_) => break,
            },
            _ = progress.tick() => emit(&WorkerMsg::Progress {
                alive: shared.alive.load(Ordering::Relaxed),
                received: shared.received.load(Ordering::Relaxed),
                acks: shared.acks.load(Ordering::Relaxed),
            }),
        }
    }
    let first = shared.first_recv_us.load(Ordering::Relaxed);
    let slow_local = shared
        .cfg
        .slow_client
        .and_then(|g| g.checked_sub(shared.cfg.first_client));
    let members = room_member::tally(&shared.members, slow_local);
    let slow = members.slow.map(|counts| {
        let mut report = shared.slow.lock().map(|r| r.clone()).unwrap_or_default();
        report.seen = counts.seen;
        report.live_seen = counts.live_seen;
        report.missing_ranges = counts.missing_ranges;
        report.last_seen_id = counts.last_seen_id;
        report
    });
    let report = DoneReport {
        connected: shared.connected.load(Ordering::Relaxed),
        alive: shared.alive.load(Ordering::Relaxed),
        dropped: shared.dropped.load(Ordering::Relaxed),
        received: shared.received.load(Ordering::Relaxed),
        sent: shared.sent.load(Ordering::Relaxed),
        acks: shared.acks.load(Ordering::Relaxed),
        ack_failures: shared.ack_failures.load(Ordering::Relaxed),
        acks_missing: shared.pending_acks.load(Ordering::Relaxed),
        first_recv_us: if first == u64::MAX { 0 } else { first },
        last_recv_us: shared.last_recv_us.load(Ordering::Relaxed),
        latency: Shared::snapshot(&shared.latency),
        ack_latency: Shared::snapshot(&shared.ack_latency),
        errors: shared.errors.lock().map(|m| m.clone()).unwrap_or_default(),
        distinct: members.distinct,
        duplicates: shared.duplicates.load(Ordering::Relaxed),
        presence_bytes_total: members.presence_total,
        presence_bytes_max: members.presence_max,
        presence_events: members.presence_events,
        publish_first_us: shared.publish_first_us.load(Ordering::Relaxed),
        publish_last_us: shared.publish_last_us.load(Ordering::Relaxed),
        error_events: shared.error_events.load(Ordering::Relaxed),
        slow,
        loop_lag_max_ms: shared.loop_lag_max_us.load(Ordering::Relaxed) as f64 / 1000.0,
    };
    emit(&WorkerMsg::Done(Box::new(report)));
    Ok(())
}

/// How late a 100 ms timer fires: the runtime was busy that long.
async fn watch_loop_lag(shared: Arc<Shared>) {
    const PERIOD: Duration = Duration::from_millis(100);
    loop {
        let t0 = Instant::now();
        tokio::time::sleep(PERIOD).await;
        let late = t0.elapsed().saturating_sub(PERIOD);
        shared.loop_lag_max_us.fetch_max(
            u64::try_from(late.as_micros()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
    }
}

async fn client_task(shared: Arc<Shared>, i: usize) {
    let cfg = &shared.cfg;
    let global = cfg.first_client + i;
    let setup = {
        let Ok(_permit) = shared.permits.acquire().await else {
            return;
        };
        let t0 = Instant::now();
        let timeout = Duration::from_millis(cfg.connect_timeout_ms);
        let mut step = "connect";
        let result = match tokio::time::timeout(timeout, setup(&shared, i, global, &mut step)).await
        {
            Ok(r) => r,
            Err(_) => Err(anyhow::anyhow!("set-up timed out at {step}")),
        };
        if let Err(e) = &result
            && std::env::var_os("IORELAY_BENCH_DEBUG").is_some()
        {
            eprintln!("client {global}: {e:#}");
        }
        if result.is_ok()
            && let Ok(mut h) = shared.connect_latency.lock()
        {
            h.record(u64::try_from(t0.elapsed().as_micros()).unwrap_or(u64::MAX));
        }
        result
    };
    let (client, polling) = match setup {
        Ok(_) if cfg.scenario.is_room_member() && shared.ready_sent.load(Ordering::SeqCst) => {
            // Joined after the connect phase: not a member of this run.
            return;
        }
        Ok(c) => c,
        Err(e) => {
            shared.error("connect", &e);
            shared.failed.fetch_add(1, Ordering::Relaxed);
            shared.settled.fetch_add(1, Ordering::Relaxed);
            return;
        }
    };
    shared.connected.fetch_add(1, Ordering::Relaxed);
    if polling {
        shared.polling.fetch_add(1, Ordering::Relaxed);
    }
    shared.alive.fetch_add(1, Ordering::Relaxed);
    shared.settled.fetch_add(1, Ordering::Relaxed);
    if let Some(slot) = shared.members.get(i) {
        slot.joined.store(true, Ordering::SeqCst);
    }
    let result = match cfg.scenario {
        Scenario::Idle | Scenario::Fanout => receive_loop(&shared, client).await,
        Scenario::Chat => chat_loop(&shared, client, global).await,
        Scenario::JoinStorm | Scenario::SlowConsumer => {
            room_member::run(&shared, client, i, global).await
        }
    };
    shared.alive.fetch_sub(1, Ordering::Relaxed);
    shared.dropped.fetch_add(1, Ordering::Relaxed);
    if let Err(e) = result {
        shared.error("run", &e);
    }
}

/// Chat room of client `global`.
pub fn chat_room(global: usize, room_size: usize) -> String {
    format!("room-{}", global / room_size.max(1))
}

async fn setup(
    shared: &Shared,
    i: usize,
    global: usize,
    step: &mut &'static str,
) -> Result<(Client, bool)> {
    let cfg = &shared.cfg;
    let target = &shared.targets[global % shared.targets.len()];
    let polling = cfg.protocol == Protocol::Socketio && is_polling(global, cfg.polling_share);
    let transport = if polling {
        Transport::Polling
    } else {
        Transport::WebSocket
    };
    let src = IpAddr::V4(cfg.sources[i % cfg.sources.len()]);
    let seed = (global as u32).wrapping_mul(2_654_435_761);
    let mut client = Client::connect(target, cfg.protocol, transport, src, seed).await?;
    *step = "namespace connect";
    if cfg.protocol == Protocol::Raw {
        return Ok((client, polling));
    }
    match cfg.scenario {
        Scenario::Idle => client.connect_nsp("/", None).await?,
        Scenario::Fanout => {
            client.connect_nsp("/", None).await?;
            *step = "rooms:join";
            let array = serde_json::json!(["rooms:join", {"room": cfg.room}]).to_string();
            let (ack, retries) = client
                .call_retry("/", 1, &array, JOIN_RETRY_AFTER, JOIN_TRIES)
                .await?;
            shared
                .join_retries
                .fetch_add(u64::from(retries), Ordering::Relaxed);
            if !proto::ack_is_ok(&ack) {
                bail!("rooms:join refused: {ack}");
            }
        }
        Scenario::JoinStorm | Scenario::SlowConsumer => {
            let (_, retries) =
                room_member::join_room(&mut client, &cfg.room, global, &shared.members[i], step)
                    .await?;
            shared
                .join_retries
                .fetch_add(u64::from(retries), Ordering::Relaxed);
        }
        Scenario::Chat => {
            let auth = serde_json::json!({"name": format!("u{global}")}).to_string();
            client.connect_nsp("/chat", Some(&auth)).await?;
            *step = "join";
            let room = chat_room(global, cfg.room_size);
            let array = serde_json::json!(["join", {"room": room}]).to_string();
            let (ack, retries) = client
                .call_retry("/chat", 1, &array, JOIN_RETRY_AFTER, JOIN_TRIES)
                .await?;
            shared
                .join_retries
                .fetch_add(u64::from(retries), Ordering::Relaxed);
            if !proto::ack_is_ok(&ack) {
                bail!("join refused: {}", &ack[..ack.len().min(200)]);
            }
        }
    }
    Ok((client, polling))
}

/// Idle and fan-out clients: answer pings, time every tick.
async fn receive_loop(shared: &Shared, mut client: Client) -> Result<()> {
    let raw = shared.cfg.protocol == Protocol::Raw;
    loop {
        let packet = client.recv().await?;
        if raw {
            let text = std::str::from_utf8(&packet).unwrap_or_default();
            let lat = proto::json_u64_field(text, "ts").map(|ts| net::now_us().saturating_sub(ts));
            shared.received(lat);
            continue;
        }
        if client.answer_ping(&packet).await? {
            continue;
        }
        let Some(text) = sio_text(&packet) else {
            continue;
        };
        let p = proto::parse_sio(text)?;
        match p.kind {
            SioType::Event if proto::event_name(p.data) == Some("tick") => {
                let lat =
                    proto::json_u64_field(p.data, "ts").map(|ts| net::now_us().saturating_sub(ts));
                shared.received(lat);
            }
            SioType::Disconnect if p.nsp == "/" => bail!("disconnected by the server"),
            _ => {}
        }
    }
}

/// Chat clients: after `go`, send at the configured rate and time every ack and delivery.
async fn chat_loop(shared: &Shared, mut client: Client, global: usize) -> Result<()> {
    let cfg = &shared.cfg;
    let room = chat_room(global, cfg.room_size);
    let mut go = shared.go.clone();
    // Before `go`: stay connected, ignore traffic.
    while !*go.borrow() {
        tokio::select! {
            changed = go.changed() => { if changed.is_err() { return Ok(()); } }
            packet = client.recv() => { client.answer_ping(&packet?).await?; }
        }
    }
    let period = Duration::from_secs_f64(1.0 / cfg.chat_rate.max(0.001));
    // Spread first sends over one period (golden-ratio phase per client).
    let phase = ((global as f64 * 0.618_033_988_75).fract()) * period.as_secs_f64();
    let first = tokio::time::Instant::now() + Duration::from_secs_f64(phase);
    let mut ticker = tokio::time::interval_at(first, period);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let stop_sending = Instant::now() + Duration::from_millis(cfg.chat_duration_ms);
    let mut pending: VecDeque<(u64, Instant)> = VecDeque::new();
    let mut next_id: u64 = 2;
    let filler = "x".repeat(cfg.chat_text_len.saturating_sub(24));
    let mut sending = true;
    loop {
        tokio::select! {
            _ = ticker.tick(), if sending => {
                if Instant::now() >= stop_sending {
                    sending = false;
                    continue;
                }
                let text = format!("{} {filler}", net::now_us());
                let array = serde_json::json!(["message", {"room": room, "text": text}]).to_string();
                client.send(&proto::encode_event("/chat", Some(next_id), &array)).await?;
                pending.push_back((next_id, Instant::now()));
                shared.pending_acks.fetch_add(1, Ordering::Relaxed);
                shared.sent.fetch_add(1, Ordering::Relaxed);
                next_id += 1;
            }
            packet = client.recv() => {
                let packet = packet?;
                if client.answer_ping(&packet).await? {
                    continue;
                }
                let Some(text) = sio_text(&packet) else { continue };
                let p = proto::parse_sio(text)?;
                match p.kind {
                    SioType::Ack if p.nsp == "/chat" => {
                        let Some(id) = p.ack_id else { continue };
                        let Some(pos) = pending.iter().position(|(i, _)| *i == id) else { continue };
                        let Some((_, sent_at)) = pending.remove(pos) else { continue };
                        shared.pending_acks.fetch_sub(1, Ordering::Relaxed);
                        if proto::ack_is_ok(p.data) {
                            shared.acks.fetch_add(1, Ordering::Relaxed);
                            if let Ok(mut h) = shared.ack_latency.lock() {
                                h.record(u64::try_from(sent_at.elapsed().as_micros()).unwrap_or(u64::MAX));
                            }
                        } else {
                            shared.ack_failures.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    SioType::Event if p.nsp == "/chat" && proto::event_name(p.data) == Some("message") => {
                        let lat = proto::json_str_field(p.data, "text")
                            .and_then(proto::leading_u64)
                            .map(|ts| net::now_us().saturating_sub(ts));
                        shared.received(lat);
                    }
                    SioType::Disconnect if p.nsp == "/chat" => bail!("disconnected by the server"),
                    _ => {}
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chat_rooms_group_consecutive_clients() {
        assert_eq!(chat_room(0, 10), "room-0");
        assert_eq!(chat_room(9, 10), "room-0");
        assert_eq!(chat_room(10, 10), "room-1");
        assert_eq!(chat_room(5, 0), "room-5");
    }

    #[test]
    fn messages_round_trip_as_json_lines() {
        let msg = WorkerMsg::Progress {
            alive: 3,
            received: 10,
            acks: 2,
        };
        let line = serde_json::to_string(&msg).expect("serialize");
        assert!(line.starts_with(r#"{"type":"progress""#));
        let back: WorkerMsg = serde_json::from_str(&line).expect("parse");
        assert!(matches!(back, WorkerMsg::Progress { alive: 3, .. }));
        let done = WorkerMsg::Done(Box::new(DoneReport {
            received: 7,
            latency: vec![(10, 2)],
            ..DoneReport::default()
        }));
        let line = serde_json::to_string(&done).expect("serialize");
        let back: WorkerMsg = serde_json::from_str(&line).expect("parse");
        match back {
            WorkerMsg::Done(r) => assert_eq!((r.received, r.latency), (7, vec![(10, 2)])),
            other => panic!("unexpected {other:?}"),
        }
    }
}
