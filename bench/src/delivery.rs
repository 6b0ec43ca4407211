//! Delivery under real load (issue #12): the join-storm and slow-consumer cases.
//!
//! Both fill one `/chat` room the way a chat app does (`join {room}` with an
//! ack, no pause between joins; on iorelay presence is on) and let member 0
//! publish `message {room, text}` at a fixed rate. The members are the load
//! tool's own clients or real `socket.io-client` processes
//! (`--client-kind node`, `bench/realclients/`). Every member records the
//! sequence number of every message it gets, so loss is counted per member;
//! latency is receive time − send time on one clock; the server's RSS (and
//! iorelay's `/metrics` counters) are sampled over the whole case.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use serde_json::{Value, json};

use crate::net;
use crate::sampler::{self, MetricsScraper, Sample, Sampler};
use crate::scenario::{
    CommonArgs, Launcher, Probe, ReadyTotals, Workers, all_errors, base_config, check_targets,
    common_params, header, opt_diff, round1, round3, summary_json, write_result,
};
use crate::stats::{self, Latency};
use crate::worker::{DoneReport, Scenario, SlowReport, WorkerConfig};

/// Who plays the members.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ClientKind {
    /// The load tool's own Socket.IO client.
    Rust,
    /// Real socket.io-client 4.8 in Node processes (`--node-worker`).
    Node,
}

impl ClientKind {
    /// How results name the members' client.
    pub fn label(self) -> &'static str {
        match self {
            ClientKind::Rust => "iorelay-bench",
            ClientKind::Node => "socket.io-client",
        }
    }
}

/// Flags of both cases about the members.
#[derive(Debug, Clone, clap::Args)]
pub struct MemberArgs {
    /// Who the members are: the load tool's own clients, or real socket.io-client processes.
    #[arg(long, value_enum, default_value_t = ClientKind::Rust)]
    pub client_kind: ClientKind,
    /// The socket.io-client worker script, its node_modules beside it (bench/run installs both).
    #[arg(long, default_value = "bench/.peers/realclients/worker.js")]
    pub node_worker: PathBuf,
    /// The room every member joins.
    #[arg(long, default_value = "storm")]
    pub room: String,
    /// Server RSS (and /metrics) sampling period, ms.
    #[arg(long, default_value_t = 500)]
    pub sample_ms: u64,
}

/// `join-storm` flags.
#[derive(Debug, Clone, clap::Args)]
pub struct JoinStormArgs {
    /// Common flags (`--clients` is the room size, the publisher included).
    #[command(flatten)]
    pub common: CommonArgs,
    /// Member flags.
    #[command(flatten)]
    pub members: MemberArgs,
    /// Messages per second member 0 publishes.
    #[arg(long, default_value_t = 50.0)]
    pub rate: f64,
    /// How long it publishes, seconds.
    #[arg(long, default_value_t = 10.0)]
    pub secs: f64,
    /// Characters per message text.
    #[arg(long, default_value_t = 64)]
    pub text_len: usize,
    /// Pause between the last join ack and the first message, seconds (the issue: none).
    #[arg(long, default_value_t = 0.0)]
    pub settle_secs: f64,
    /// Longest wait for late messages after the last publish, seconds; what
    /// has not arrived by then counts as lost.
    #[arg(long, default_value_t = 30.0)]
    pub grace_secs: f64,
}

/// `slow-consumer` flags.
#[derive(Debug, Clone, clap::Args)]
pub struct SlowConsumerArgs {
    /// Common flags (`--clients` counts the publisher, the slow member and the bystanders).
    #[command(flatten)]
    pub common: CommonArgs,
    /// Member flags.
    #[command(flatten)]
    pub members: MemberArgs,
    /// Messages per second member 0 publishes.
    #[arg(long, default_value_t = 100.0)]
    pub rate: f64,
    /// How long it publishes, seconds.
    #[arg(long, default_value_t = 40.0)]
    pub secs: f64,
    /// Characters per message text. Loopback kernels hold about 4 MiB per
    /// connection before the server's own buffers fill: 20 s of 100 messages/s
    /// must carry more than that, and less than a heartbeat timeout allows.
    #[arg(long, default_value_t = 4000)]
    pub text_len: usize,
    /// When member 1 stops reading its socket, seconds after publishing starts
    /// (the time before is the baseline of the server's RSS growth).
    #[arg(long, default_value_t = 10.0)]
    pub pause_at_secs: f64,
    /// How long it does not read, seconds (below ping interval + ping timeout,
    /// so a heartbeat does not end it first).
    #[arg(long, default_value_t = 20.0)]
    pub pause_secs: f64,
    /// Longest wait for late messages after the last publish, seconds.
    #[arg(long, default_value_t = 15.0)]
    pub grace_secs: f64,
}

/// The member that stops reading in `slow-consumer` (member 0 publishes).
pub const SLOW_MEMBER: usize = 1;

/// What the workers' final reports add up to.
#[derive(Debug, Default)]
pub struct Totals {
    /// Messages member 0 sent.
    pub published: u64,
    /// First and last publish, µs on the workers' clock.
    pub publish_first_us: u64,
    /// See `publish_first_us`.
    pub publish_last_us: u64,
    /// The publisher's acks: positive, negative, never answered.
    pub acks: u64,
    /// See `acks`.
    pub ack_failures: u64,
    /// See `acks`.
    pub acks_missing: u64,
    /// `error` events the members got.
    pub error_events: u64,
    /// Members (the slow one apart) by distinct messages received.
    pub distinct: BTreeMap<u64, u64>,
    /// Messages received live, duplicates included.
    pub received: u64,
    /// Messages a member got twice.
    pub duplicates: u64,
    /// Members the server disconnected (the slow one apart).
    pub dropped: u64,
    /// Members still connected at the end.
    pub alive: u64,
    /// `presence` bytes, all members.
    pub presence_total: u64,
    /// Most `presence` bytes of one member.
    pub presence_max: u64,
    /// `presence` events, all members.
    pub presence_events: u64,
    /// Last live receipt, µs.
    pub last_recv_us: u64,
    /// Delivery latency (the slow member apart).
    pub latency: Latency,
    /// The publisher's ack latency.
    pub ack_latency: Latency,
    /// The slow member's story.
    pub slow: Option<SlowReport>,
    /// Worst lateness of a member process's 100 ms timer, ms (its event loop or runtime was busy).
    pub loop_lag_max_ms: f64,
    /// The same for the publisher's process.
    pub publisher_loop_lag_max_ms: f64,
}

impl Totals {
    /// Adds up the workers' final reports.
    pub fn of(done: &[DoneReport]) -> Totals {
        let mut t = Totals::default();
        for d in done {
            t.published += d.sent;
            if d.publish_first_us > 0 {
                t.publish_first_us = d.publish_first_us;
                t.publish_last_us = d.publish_last_us;
            }
            t.acks += d.acks;
            t.ack_failures += d.ack_failures;
            t.acks_missing += d.acks_missing;
            t.error_events += d.error_events;
            for (got, members) in &d.distinct {
                *t.distinct.entry(*got).or_insert(0) += members;
            }
            t.received += d.received;
            t.duplicates += d.duplicates;
            t.dropped += d.dropped;
            t.alive += d.alive;
            t.presence_total += d.presence_bytes_total;
            t.presence_max = t.presence_max.max(d.presence_bytes_max);
            t.presence_events += d.presence_events;
            t.last_recv_us = t.last_recv_us.max(d.last_recv_us);
            t.latency.merge_pairs(&d.latency);
            t.ack_latency.merge_pairs(&d.ack_latency);
            if d.slow.is_some() {
                t.slow.clone_from(&d.slow);
            }
            if d.publish_first_us > 0 {
                t.publisher_loop_lag_max_ms = t.publisher_loop_lag_max_ms.max(d.loop_lag_max_ms);
            } else {
                t.loop_lag_max_ms = t.loop_lag_max_ms.max(d.loop_lag_max_ms);
            }
        }
        t
    }

    /// Members counted for loss (the slow one apart).
    pub fn members(&self) -> u64 {
        self.distinct.values().sum()
    }

    /// Deliveries owed: every published message to every member.
    pub fn expected(&self) -> u64 {
        self.published * self.members()
    }

    /// Distinct messages the members received (at most `published` each).
    pub fn delivered(&self) -> u64 {
        self.distinct
            .iter()
            .map(|(got, n)| (*got).min(self.published) * n)
            .sum()
    }

    /// Messages lost: what each member did not get, added up.
    pub fn lost(&self) -> u64 {
        self.expected() - self.delivered()
    }

    /// Members that missed at least one message.
    pub fn members_with_loss(&self) -> u64 {
        self.distinct
            .iter()
            .filter(|(got, _)| **got < self.published)
            .map(|(_, n)| n)
            .sum()
    }
}

/// A case from the members' first connect to their last message.
struct Run {
    t0: Instant,
    target: net::Target,
    probe: Probe,
    rss_before: Option<u64>,
    metrics_before: Option<String>,
    sampler: Sampler,
    workers: Workers,
    ready: ReadyTotals,
    ready_ms: u64,
    go_ms: u64,
    cpu0: Option<f64>,
}

/// What a [`Run`] ends with.
struct Finished {
    ready: ReadyTotals,
    totals: Totals,
    errors: BTreeMap<String, u64>,
    samples: Vec<Sample>,
    rss_before: Option<u64>,
    rss_after: Option<u64>,
    metrics_before: Option<String>,
    metrics_after: Option<String>,
    server_cpu: Option<f64>,
    load_cpu: f64,
    workers: usize,
    ready_ms: u64,
    go_ms: u64,
    end_ms: u64,
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

impl Run {
    /// Starts the members and waits until every one has joined or failed.
    /// `send_queues`: also sample the kernel send queues of the server's connections.
    async fn start(
        common: &CommonArgs,
        members: &MemberArgs,
        cfg: WorkerConfig,
        send_queues: bool,
    ) -> Result<Run> {
        check_targets(common)?;
        net::raise_nofile();
        let target = net::parse_target(&common.urls[0])?;
        let t0 = Instant::now();
        let probe = Probe {
            pids: common.server_pids.clone(),
        };
        let rss_before = probe.rss_kib();
        let cpu0 = probe.cpu_secs();
        let metrics_before = MetricsScraper::new(target.clone()).scrape().await;
        let sampler = Sampler::start(
            common.server_pids.clone(),
            Some(target.clone()),
            send_queues.then_some(target.addr.port()),
            Duration::from_millis(members.sample_ms.max(50)),
            t0,
        );
        let launcher = match members.client_kind {
            ClientKind::Rust => Launcher::SelfExe,
            ClientKind::Node => Launcher::Node(members.node_worker.clone()),
        };
        let mut workers = Workers::spawn(common, cfg, &launcher, true).await?;
        let ready = workers
            .wait_ready(Duration::from_secs(common.connect_phase_secs + 30))
            .await?;
        if ready.connected == 0 {
            sampler.finish().await;
            bail!("no member joined: {:?}", ready.errors);
        }
        let ready_ms = millis(t0.elapsed());
        Ok(Run {
            t0,
            target,
            rss_before,
            metrics_before,
            sampler,
            cpu0,
            probe,
            workers,
            ready,
            ready_ms,
            go_ms: 0,
        })
    }

    /// Member 0 starts publishing (and the slow member's clock starts).
    async fn go(&mut self, settle: f64) -> Result<()> {
        if settle > 0.0 {
            self.workers.pump(Duration::from_secs_f64(settle)).await?;
        }
        self.go_ms = millis(self.t0.elapsed());
        self.workers.send_all("go").await
    }

    /// Waits `secs` of publishing, then until every member has every message,
    /// or nothing arrived for 5 s, or `grace` ran out; then stops the members.
    async fn finish(mut self, secs: f64, grace: f64, planned: u64) -> Result<Finished> {
        self.workers.pump(Duration::from_secs_f64(secs)).await?;
        let expected = planned * self.ready.connected;
        let grace_start = Instant::now();
        let mut last = self.workers.totals().received;
        let mut last_change = Instant::now();
        while grace_start.elapsed().as_secs_f64() < grace {
            self.workers.pump(Duration::from_millis(250)).await?;
            let received = self.workers.totals().received;
            if received >= expected {
                break;
            }
            if received != last {
                last = received;
                last_change = Instant::now();
            } else if last_change.elapsed() > Duration::from_secs(5) {
                break;
            }
        }
        let end_ms = millis(self.t0.elapsed());
        let server_cpu = opt_diff(self.probe.cpu_secs(), self.cpu0);
        // The members' processes, from their start (the join storm included).
        let load_cpu = self.workers.cpu_secs();
        let rss_after = self.probe.rss_kib();
        let metrics_after = MetricsScraper::new(self.target.clone()).scrape().await;
        let samples = self.sampler.finish().await;
        let n_workers = self.workers.len();
        let done = self.workers.stop_within(Duration::from_secs(120)).await?;
        Ok(Finished {
            errors: all_errors(&self.ready, &done),
            totals: Totals::of(&done),
            ready: self.ready,
            samples,
            rss_before: self.rss_before,
            rss_after,
            metrics_before: self.metrics_before,
            metrics_after,
            server_cpu,
            load_cpu,
            workers: n_workers,
            ready_ms: self.ready_ms,
            go_ms: self.go_ms,
            end_ms,
        })
    }
}

impl Finished {
    fn rss_peak(&self) -> Option<u64> {
        self.samples
            .iter()
            .filter_map(|s| s.rss_kib)
            .chain(self.rss_after)
            .max()
    }

    /// KiB of server RSS per member above what the server held before.
    fn per_member(&self, rss: Option<u64>) -> Option<f64> {
        let grown = rss? as f64 - self.rss_before? as f64;
        (self.ready.connected > 0).then(|| round3(grown / self.ready.connected as f64))
    }

    /// The counter's growth over the case; `None` when the server does not have it.
    fn counter_delta(&self, name: &str) -> Option<f64> {
        let after = sampler::prom_sum(self.metrics_after.as_deref()?, name)?;
        let before = self
            .metrics_before
            .as_deref()
            .and_then(|t| sampler::prom_sum(t, name))
            .unwrap_or(0.0);
        Some(after - before)
    }

    /// iorelay's disconnects over the case by reason (empty: not served).
    fn disconnects_by_reason(&self) -> BTreeMap<String, f64> {
        let by_reason = |text: Option<&str>| {
            let mut out: BTreeMap<String, f64> = BTreeMap::new();
            for (labels, v) in text
                .map(|t| sampler::prom_samples(t, sampler::DISCONNECTS))
                .unwrap_or_default()
            {
                if let Some((_, reason)) = labels.iter().find(|(k, _)| k == "reason") {
                    *out.entry(reason.clone()).or_insert(0.0) += v;
                }
            }
            out
        };
        let before = by_reason(self.metrics_before.as_deref());
        by_reason(self.metrics_after.as_deref())
            .into_iter()
            .map(|(k, v)| {
                let d = v - before.get(&k).copied().unwrap_or(0.0);
                (k, d)
            })
            .filter(|(_, d)| *d > 0.0)
            .collect()
    }

    fn window_secs(&self) -> f64 {
        let t = &self.totals;
        t.last_recv_us
            .max(t.publish_last_us)
            .saturating_sub(t.publish_first_us) as f64
            / 1e6
    }

    /// The metrics both cases report.
    fn common_metrics(&self) -> serde_json::Map<String, Value> {
        let t = &self.totals;
        let window = self.window_secs();
        let connected = self.ready.connected.max(1) as f64;
        let Value::Object(m) = json!({
            "members": self.ready.connected,
            "connect_failures": self.ready.failed,
            "join_retries": self.ready.join_retries,
            "join_phase_secs": round3(self.ready.connect_secs),
            "published": t.published,
            "publish_rate": round1(stats::per_sec(t.published, (t.publish_last_us.saturating_sub(t.publish_first_us)) as f64 / 1e6)),
            "expected": t.expected(),
            "delivered": t.delivered(),
            "lost": t.lost(),
            "loss_pct": round3(stats::loss_pct(t.expected(), t.delivered())),
            "members_with_loss": t.members_with_loss(),
            "duplicates": t.duplicates,
            "members_disconnected": t.dropped,
            "alive_at_end": t.alive,
            "publisher_acks": t.acks,
            "publisher_ack_failures": t.ack_failures,
            "publisher_acks_missing": t.acks_missing,
            "error_events": t.error_events,
            "presence_bytes_mean": round1(t.presence_total as f64 / connected),
            "presence_bytes_max": t.presence_max,
            "presence_bytes_total": t.presence_total,
            "presence_events": t.presence_events,
            "rss_before_kib": self.rss_before,
            "rss_peak_kib": self.rss_peak(),
            "rss_after_kib": self.rss_after,
            "rss_peak_per_conn_kib": self.per_member(self.rss_peak()),
            "rss_after_per_conn_kib": self.per_member(self.rss_after),
            "slow_consumer_disconnects": self.counter_delta(sampler::SLOW_CONSUMER_DISCONNECTS),
            "server_disconnects_by_reason": self.disconnects_by_reason(),
            "server_cpu_secs": self.server_cpu.map(round3),
            "server_cpu_cores": self.server_cpu.map(|c| round3(c / (self.end_ms.max(1) as f64 / 1000.0))),
            "load_cpu_secs": round3(self.load_cpu),
            "members_loop_lag_max_ms": round1(t.loop_lag_max_ms),
            "publisher_loop_lag_max_ms": round1(t.publisher_loop_lag_max_ms),
            "window_secs": round3(window),
        }) else {
            unreachable!("json! of an object literal is an object")
        };
        m
    }

    /// RSS samples as `[t_ms, KiB]`, the counter and the send queue as `[t_ms, value]` where watched.
    fn sample_series(&self) -> (Value, Option<Value>, Option<Value>) {
        let rss: Vec<Value> = self
            .samples
            .iter()
            .filter_map(|s| s.rss_kib.map(|k| json!([s.t_ms, k])))
            .collect();
        let slow: Vec<Value> = self
            .samples
            .iter()
            .filter(|s| s.slow_consumer_disconnects.is_some() || s.disconnects.is_some())
            .map(|s| json!([s.t_ms, s.slow_consumer_disconnects, s.disconnects]))
            .collect();
        let queues: Vec<Value> = self
            .samples
            .iter()
            .filter_map(|s| s.max_send_queue.map(|q| json!([s.t_ms, q])))
            .collect();
        (
            json!(rss),
            (!slow.is_empty()).then(|| json!(slow)),
            (!queues.is_empty()).then(|| json!(queues)),
        )
    }

    fn document(
        &self,
        common: &CommonArgs,
        members: &MemberArgs,
        scenario: &str,
        params: Value,
        metrics: serde_json::Map<String, Value>,
    ) -> serde_json::Map<String, Value> {
        let mut doc = header(common, scenario);
        doc.insert("client_kind".into(), json!(members.client_kind.label()));
        let mut p = json!({
            "common": common_params(common, self.workers),
            "client_kind": members.client_kind.label(),
            "room": members.room,
            "sample_ms": members.sample_ms,
        });
        if let (Some(p), Value::Object(extra)) = (p.as_object_mut(), params) {
            p.extend(extra);
        }
        doc.insert("params".into(), p);
        doc.insert("metrics".into(), Value::Object(metrics));
        doc.insert(
            "latency".into(),
            summary_json(&self.totals.latency.summary()),
        );
        doc.insert(
            "join_latency".into(),
            summary_json(&self.ready.connect_latency.summary()),
        );
        doc.insert(
            "ack_latency".into(),
            summary_json(&self.totals.ack_latency.summary()),
        );
        doc.insert("errors".into(), json!(self.errors));
        doc.insert(
            "timeline_ms".into(),
            json!({"all_joined": self.ready_ms, "go": self.go_ms, "end": self.end_ms}),
        );
        let (rss, slow, queues) = self.sample_series();
        doc.insert("rss_samples_kib".into(), rss);
        if let Some(slow) = slow {
            // [t_ms, slow-consumer disconnects, all disconnects] (null: not served yet).
            doc.insert("disconnect_samples".into(), slow);
        }
        if let Some(queues) = queues {
            doc.insert("max_send_queue_samples_bytes".into(), queues);
        }
        doc
    }
}

fn member_config(common: &CommonArgs, members: &MemberArgs, scenario: Scenario) -> WorkerConfig {
    let mut cfg = base_config(common, scenario);
    cfg.room.clone_from(&members.room);
    cfg
}

fn check_rate(rate: f64, secs: f64) -> Result<()> {
    if !(rate > 0.0 && secs > 0.0) {
        bail!("--rate and --secs must be positive");
    }
    Ok(())
}

fn show(x: Option<f64>) -> String {
    x.map_or_else(|| "n/a".into(), |v| format!("{v:.1}"))
}

/// `join-storm`: N members join one room at once, member 0 publishes, everyone counts.
pub async fn join_storm(args: JoinStormArgs) -> Result<()> {
    let common = &args.common;
    check_rate(args.rate, args.secs)?;
    let mut cfg = member_config(common, &args.members, Scenario::JoinStorm);
    cfg.publish_rate = args.rate;
    cfg.publish_ms = (args.secs * 1000.0) as u64;
    cfg.chat_text_len = args.text_len;
    let planned = cfg.planned_messages();
    let mut run = Run::start(common, &args.members, cfg, false).await?;
    run.go(args.settle_secs).await?;
    let f = run.finish(args.secs, args.grace_secs, planned).await?;
    let metrics = f.common_metrics();
    let doc = f.document(
        common,
        &args.members,
        "join-storm",
        json!({
            "rate": args.rate,
            "secs": args.secs,
            "text_len": args.text_len,
            "settle_secs": args.settle_secs,
            "grace_secs": args.grace_secs,
        }),
        metrics,
    );
    let path = write_result(common, doc)?;
    let t = &f.totals;
    let lat = t.latency.summary();
    println!(
        "{} {} ({}): {} joined, {} failed, {} published, {} lost ({:.2}%), p50 {:.1} p99 {:.1} ms, presence {:.0} B/member (max {}), RSS/conn peak {} after {} KiB, slow-consumer disconnects {} -> {}",
        common.case.as_deref().unwrap_or("join-storm"),
        common.server,
        args.members.client_kind.label(),
        f.ready.connected,
        f.ready.failed,
        t.published,
        t.lost(),
        stats::loss_pct(t.expected(), t.delivered()),
        lat.p50_ms,
        lat.p99_ms,
        t.presence_total as f64 / f.ready.connected.max(1) as f64,
        t.presence_max,
        show(f.per_member(f.rss_peak())),
        show(f.per_member(f.rss_after)),
        show(f.counter_delta(sampler::SLOW_CONSUMER_DISCONNECTS)),
        path.display()
    );
    Ok(())
}

/// The slow member's story on the case's time line (ms after publishing began).
pub fn slow_story(slow: &SlowReport, published: u64, publish_first_us: u64) -> Value {
    let rel = |us: Option<u64>| us.map(|u| round1((u as f64 - publish_first_us as f64) / 1000.0));
    let stopped_reading = slow.bytes_read_after_first_second.map(|b| b == 0);
    json!({
        "paused": slow.paused,
        "pause_error": slow.pause_error,
        "stopped_reading": stopped_reading,
        "bytes_read_during_pause": slow.bytes_read_during_pause,
        "bytes_read_after_first_second_of_pause": slow.bytes_read_after_first_second,
        "paused_at_ms": rel(slow.paused_at_us),
        "resumed_at_ms": rel(slow.resumed_at_us),
        "disconnected": slow.disconnects > 0,
        "disconnects": slow.disconnects,
        "noticed_disconnect_at_ms": rel(slow.disconnected_at_us),
        "disconnect_reason": slow.disconnect_reason,
        "reconnected_at_ms": rel(slow.reconnected_at_us),
        "caught_up_at_ms": rel(slow.caught_up_at_us),
        "history_pages": slow.history_pages,
        "history_messages": slow.history_messages,
        "resync_error": slow.resync_error,
        "published": published,
        "received_live": slow.live_seen,
        "has_at_end": slow.seen,
        "gaps": published.saturating_sub(slow.seen),
        "gaps_without_catch_up": published.saturating_sub(slow.live_seen),
        "missing_ranges": slow.missing_ranges,
        "last_seen_id": slow.last_seen_id,
    })
}

/// RSS growth over `[from_ms, to_ms]`, KiB/s (least squares); `None` with fewer than 3 samples.
pub fn rss_slope(samples: &[Sample], from_ms: u64, to_ms: u64) -> Option<f64> {
    let points: Vec<(f64, f64)> = samples
        .iter()
        .filter(|s| s.t_ms >= from_ms && s.t_ms <= to_ms)
        .filter_map(|s| s.rss_kib.map(|k| (s.t_ms as f64 / 1000.0, k as f64)))
        .collect();
    if points.len() < 3 {
        return None;
    }
    let n = points.len() as f64;
    let (mx, my) = points
        .iter()
        .fold((0.0, 0.0), |(a, b), (x, y)| (a + x / n, b + y / n));
    let sxy: f64 = points.iter().map(|(x, y)| (x - mx) * (y - my)).sum();
    let sxx: f64 = points.iter().map(|(x, _)| (x - mx) * (x - mx)).sum();
    (sxx > 0.0).then(|| sxy / sxx)
}

/// Smallest send queue that counts as the kernel being full (loopback holds a few MiB).
const KERNEL_FULL_MIN_BYTES: u64 = 256 * 1024;

/// When the most backed-up connection's kernel send queue stopped growing in
/// `[from_ms, to_ms]`: the first sample at 95% of the window's largest queue,
/// if that came at least `min_left_ms` before `to_ms` (else the kernel held
/// the whole pause and the server's own buffers were never reached).
pub fn kernel_full_at(
    samples: &[Sample],
    from_ms: u64,
    to_ms: u64,
    min_left_ms: u64,
) -> Option<u64> {
    let window = || {
        samples
            .iter()
            .filter(move |s| s.t_ms >= from_ms && s.t_ms <= to_ms)
    };
    let max = window().filter_map(|s| s.max_send_queue).max()?;
    if max < KERNEL_FULL_MIN_BYTES {
        return None;
    }
    let full = window()
        .find(|s| s.max_send_queue.is_some_and(|q| q * 100 >= max * 95))?
        .t_ms;
    (full + min_left_ms <= to_ms).then_some(full)
}

/// RSS over the pause: at its start, its peak, the growth (coordinator times, ms since the case began).
fn rss_over(samples: &[Sample], from_ms: u64, to_ms: u64) -> (Option<u64>, Option<u64>) {
    let at_start = samples
        .iter()
        .filter(|s| s.t_ms <= from_ms)
        .filter_map(|s| s.rss_kib)
        .next_back();
    let peak = samples
        .iter()
        .filter(|s| s.t_ms >= from_ms && s.t_ms <= to_ms)
        .filter_map(|s| s.rss_kib)
        .max();
    (at_start, peak)
}

/// When a counter first rose above its value at `after_ms`, ms since the case
/// began. A labelled counter is absent until its first increment: absent
/// before, present later, counts as 0 before.
fn first_rise(
    samples: &[Sample],
    after_ms: u64,
    counter: impl Fn(&Sample) -> Option<f64>,
) -> Option<u64> {
    samples.iter().find_map(&counter)?;
    let base = samples
        .iter()
        .filter(|s| s.t_ms <= after_ms)
        .filter_map(&counter)
        .next_back()
        .unwrap_or(0.0);
    samples
        .iter()
        .filter(|s| s.t_ms > after_ms)
        .find(|s| counter(s).is_some_and(|v| v > base))
        .map(|s| s.t_ms)
}

/// `slow-consumer`: member 1 stops reading for a while as member 0 publishes to the room.
pub async fn slow_consumer(args: SlowConsumerArgs) -> Result<()> {
    let common = &args.common;
    check_rate(args.rate, args.secs)?;
    if common.clients < 3 {
        bail!("--clients must be at least 3: a publisher, the slow member, bystanders");
    }
    let mut cfg = member_config(common, &args.members, Scenario::SlowConsumer);
    cfg.publish_rate = args.rate;
    cfg.publish_ms = (args.secs * 1000.0) as u64;
    cfg.chat_text_len = args.text_len;
    cfg.slow_client = Some(SLOW_MEMBER);
    cfg.pause_at_ms = (args.pause_at_secs * 1000.0) as u64;
    cfg.pause_ms = (args.pause_secs * 1000.0) as u64;
    let planned = cfg.planned_messages();
    let (pause_at_ms, pause_ms) = (cfg.pause_at_ms, cfg.pause_ms);
    let mut run = Run::start(common, &args.members, cfg, true).await?;
    run.go(0.0).await?;
    let f = run.finish(args.secs, args.grace_secs, planned).await?;
    let t = &f.totals;
    let mut metrics = f.common_metrics();
    // Coordinator time of the pause (the members start their clocks on `go`).
    let (from, to) = (f.go_ms + pause_at_ms, f.go_ms + pause_at_ms + pause_ms);
    let (rss_at_pause, rss_peak_pause) = rss_over(&f.samples, from, to);
    // One `message` event: the text plus about 100 bytes of JSON around it.
    let pause_bytes = (args.rate * args.pause_secs * (args.text_len as f64 + 100.0)) as u64;
    let growth = rss_peak_pause
        .zip(rss_at_pause)
        .map(|(p, a)| p.saturating_sub(a));
    // The server's own buffering shows once the kernel holds no more: compare
    // its RSS growth then with the growth before the pause (history ring and
    // ordinary traffic, which go on all along).
    let kernel_full = kernel_full_at(&f.samples, from, to, 2_000);
    let baseline_from = f.go_ms + (pause_at_ms / 4).min(2_000);
    let slope_before = rss_slope(&f.samples, baseline_from, from);
    let slope_full = kernel_full.and_then(|k| rss_slope(&f.samples, k, to));
    let max_queue = f
        .samples
        .iter()
        .filter(|s| s.t_ms >= from && s.t_ms <= to)
        .filter_map(|s| s.max_send_queue)
        .max();
    metrics.insert(
        "rss_during_pause".into(),
        json!({
            "at_pause_kib": rss_at_pause,
            "peak_kib": rss_peak_pause,
            "growth_kib": growth,
            "bytes_published_while_paused": pause_bytes,
            "max_send_queue_bytes": max_queue,
            "kernel_full_ms_after_pause": kernel_full.map(|k| k.saturating_sub(from)),
            "slope_before_pause_kib_per_s": slope_before.map(round1),
            "slope_while_kernel_full_kib_per_s": slope_full.map(round1),
        }),
    );
    // Only the slow member has a reason to go during the pause: the first
    // disconnect the server counts then is its.
    let after_pause = |ms: u64| ms.saturating_sub(from);
    let server_slow_drop = first_rise(&f.samples, from, |s| s.slow_consumer_disconnects);
    let server_drop = first_rise(&f.samples, from, |s| s.disconnects);
    let mut story = t
        .slow
        .as_ref()
        .map(|s| slow_story(s, t.published, t.publish_first_us))
        .unwrap_or_else(|| json!({"error": "no report from the slow member (did it join?)"}));
    if let Some(obj) = story.as_object_mut() {
        obj.insert(
            "server_slow_consumer_disconnect_ms_after_pause".into(),
            json!(server_slow_drop.map(after_pause)),
        );
        obj.insert(
            "server_disconnect_ms_after_pause".into(),
            json!(server_drop.map(after_pause)),
        );
    }
    metrics.insert("slow_member".into(), story.clone());
    let doc = f.document(
        common,
        &args.members,
        "slow-consumer",
        json!({
            "rate": args.rate,
            "secs": args.secs,
            "text_len": args.text_len,
            "pause_at_secs": args.pause_at_secs,
            "pause_secs": args.pause_secs,
            "grace_secs": args.grace_secs,
        }),
        metrics,
    );
    let path = write_result(common, doc)?;
    let lat = t.latency.summary();
    println!(
        "{} {} ({}): {} bystanders lose {} ({:.2}%), p99 {:.1} ms; slow member: stopped reading {}, disconnected {} ({}), has {}/{} at the end ({} gaps); RSS during pause +{} KiB -> {}",
        common.case.as_deref().unwrap_or("slow-consumer"),
        common.server,
        args.members.client_kind.label(),
        t.members(),
        t.lost(),
        stats::loss_pct(t.expected(), t.delivered()),
        lat.p99_ms,
        story["stopped_reading"],
        story["disconnected"],
        story["disconnect_reason"],
        story["has_at_end"],
        t.published,
        story["gaps"],
        growth.map_or_else(|| "n/a".into(), |g| g.to_string()),
        path.display()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(sent: u64, distinct: Vec<(u64, u64)>, presence: (u64, u64)) -> DoneReport {
        DoneReport {
            sent,
            distinct,
            presence_bytes_total: presence.0,
            presence_bytes_max: presence.1,
            publish_first_us: if sent > 0 { 1_000 } else { 0 },
            publish_last_us: if sent > 0 { 11_000 } else { 0 },
            ..DoneReport::default()
        }
    }

    #[test]
    fn loss_is_counted_per_member() {
        let done = [
            report(500, vec![(500, 498), (490, 2)], (1_000, 600)),
            report(0, vec![(500, 499), (0, 1)], (2_000, 900)),
        ];
        let t = Totals::of(&done);
        assert_eq!(t.published, 500);
        assert_eq!(t.members(), 1000);
        assert_eq!(t.expected(), 500_000);
        assert_eq!(t.lost(), 2 * 10 + 500);
        assert_eq!(t.members_with_loss(), 3);
        assert_eq!((t.presence_total, t.presence_max), (3_000, 900));
        assert_eq!((t.publish_first_us, t.publish_last_us), (1_000, 11_000));
    }

    #[test]
    fn more_than_published_is_not_negative_loss() {
        let t = Totals::of(&[report(10, vec![(12, 1), (10, 1)], (0, 0))]);
        assert_eq!((t.expected(), t.delivered(), t.lost()), (20, 20, 0));
    }

    #[test]
    fn slow_story_on_the_publish_time_line() {
        let slow = SlowReport {
            paused: true,
            paused_at_us: Some(3_000_000),
            resumed_at_us: Some(23_000_000),
            bytes_read_during_pause: Some(65_536),
            bytes_read_after_first_second: Some(0),
            disconnects: 1,
            disconnected_at_us: Some(23_010_000),
            seen: 2_990,
            live_seen: 900,
            missing_ranges: vec![(5, 14)],
            ..SlowReport::default()
        };
        let s = slow_story(&slow, 3_000, 1_000_000);
        assert_eq!(s["paused_at_ms"], json!(2000.0));
        assert_eq!(s["resumed_at_ms"], json!(22000.0));
        assert_eq!(s["noticed_disconnect_at_ms"], json!(22010.0));
        assert_eq!(s["stopped_reading"], json!(true));
        assert_eq!(s["gaps"], json!(10));
        assert_eq!(s["gaps_without_catch_up"], json!(2_100));
        assert_eq!(s["reconnected_at_ms"], Value::Null);
    }

    #[test]
    fn pause_window_and_counter() {
        let s = |t_ms, kib, c| Sample {
            t_ms,
            rss_kib: Some(kib),
            slow_consumer_disconnects: c,
            disconnects: c.map(|c| c + 10.0),
            max_send_queue: None,
        };
        let samples = [
            s(0, 100, Some(0.0)),
            s(500, 110, Some(0.0)),
            s(1000, 150, Some(1.0)),
            s(1500, 130, Some(1.0)),
            s(2000, 400, Some(1.0)),
        ];
        assert_eq!(rss_over(&samples, 600, 1600), (Some(110), Some(150)));
        assert_eq!(
            first_rise(&samples, 0, |s| s.slow_consumer_disconnects),
            Some(1000)
        );
        assert_eq!(first_rise(&samples, 600, |s| s.disconnects), Some(1000));
        assert_eq!(
            first_rise(&samples, 1000, |s| s.slow_consumer_disconnects),
            None
        );
        assert_eq!(
            first_rise(&[s(0, 1, None)], 0, |s| s.slow_consumer_disconnects),
            None
        );
        let appears = [s(0, 1, None), s(500, 1, None), s(1000, 1, Some(1.0))];
        assert_eq!(
            first_rise(&appears, 600, |s| s.slow_consumer_disconnects),
            Some(1000)
        );
    }

    fn at(t_ms: u64, rss: u64, queue: u64) -> Sample {
        Sample {
            t_ms,
            rss_kib: Some(rss),
            slow_consumer_disconnects: None,
            disconnects: None,
            max_send_queue: Some(queue),
        }
    }

    #[test]
    fn rss_slopes() {
        let line: Vec<Sample> = (0..10).map(|i| at(i * 500, 1000 + i * 50, 0)).collect();
        let slope = rss_slope(&line, 0, 10_000).expect("slope");
        assert!((slope - 100.0).abs() < 1e-9, "{slope}");
        assert_eq!(rss_slope(&line, 0, 600), None, "two samples");
        let flat: Vec<Sample> = (0..5).map(|i| at(i * 500, 7, 0)).collect();
        assert_eq!(rss_slope(&flat, 0, 5_000), Some(0.0));
    }

    #[test]
    fn kernel_fills_then_plateaus() {
        // The queue grows 400 KB/s from 10 s and stops near 3.8 MB, about 9.5 s in.
        let samples: Vec<Sample> = (0..=60)
            .map(|i| {
                let t = i * 500;
                let q = if t < 10_000 {
                    1_000
                } else {
                    ((t - 10_000) * 400).min(3_800_000)
                };
                at(t, 0, q)
            })
            .collect();
        assert_eq!(
            kernel_full_at(&samples, 10_000, 30_000, 2_000),
            Some(19_500)
        );
        // A pause the kernel absorbs whole: still growing at its end.
        assert_eq!(kernel_full_at(&samples, 10_000, 19_000, 2_000), None);
        // Nothing backed up at all.
        assert_eq!(kernel_full_at(&samples, 0, 9_000, 0), None);
    }
}
