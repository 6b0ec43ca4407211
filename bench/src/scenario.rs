//! The coordinator: starts worker processes, drives a scenario, measures the
//! server, prints one result line and writes the result JSON.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, Command};
use tokio::sync::mpsc;

use crate::client::{self, Client, Protocol, Transport};
use crate::net;
use crate::proto;
use crate::stats::{self, Latency};
use crate::worker::{DoneReport, Scenario, WorkerConfig, WorkerMsg};

/// Flags every scenario takes.
#[derive(Debug, Clone, clap::Args)]
pub struct CommonArgs {
    /// Server URL, loopback only; repeat it for a cluster (clients are spread over the URLs, the publisher uses the first).
    #[arg(long = "url", default_value = "http://127.0.0.1:3000")]
    pub urls: Vec<String>,
    /// What the server speaks: Socket.IO, or raw WebSocket text (the ceiling broadcaster).
    #[arg(long, value_enum, default_value_t = Protocol::Socketio)]
    pub protocol: Protocol,
    /// Number of clients.
    #[arg(long, default_value_t = 1000)]
    pub clients: usize,
    /// Worker processes (0: one per --max-per-proc clients).
    #[arg(long, default_value_t = 0)]
    pub procs: usize,
    /// Most clients per worker process (the open-file limit is per process).
    #[arg(long, default_value_t = 10_000)]
    pub max_per_proc: usize,
    /// Runtime threads per worker process.
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
    /// Share of clients on HTTP long-polling (0–1); the rest use WebSocket.
    #[arg(long, default_value_t = 0.0)]
    pub polling_share: f64,
    /// Clients being set up at once, per worker.
    #[arg(long, default_value_t = 128)]
    pub connect_concurrency: usize,
    /// Longest set-up of one client (connect, handshake, namespace, join), seconds.
    #[arg(long, default_value_t = 30)]
    pub connect_timeout_secs: u64,
    /// Longest connect phase, seconds; clients still pending then count as failures.
    #[arg(long, default_value_t = 120)]
    pub connect_phase_secs: u64,
    /// Server process id(s) to measure (RSS, CPU); repeat for a cluster.
    #[arg(long = "server-pid")]
    pub server_pids: Vec<u32>,
    /// Label of the server under test (iorelay, node, python, ceiling).
    #[arg(long, default_value = "server")]
    pub server: String,
    /// Name of the case (file name and table row); defaults to the scenario.
    #[arg(long)]
    pub case: Option<String>,
    /// Where result JSON files go.
    #[arg(long, default_value = "bench/results")]
    pub out_dir: PathBuf,
}

/// `idle` flags.
#[derive(Debug, Clone, clap::Args)]
pub struct IdleArgs {
    /// Common flags.
    #[command(flatten)]
    pub common: CommonArgs,
    /// How long the connections are held after the connect phase, seconds.
    #[arg(long, default_value_t = 10.0)]
    pub hold_secs: f64,
}

/// `fanout` flags.
#[derive(Debug, Clone, clap::Args)]
pub struct FanoutArgs {
    /// Common flags.
    #[command(flatten)]
    pub common: CommonArgs,
    /// Broadcasts per second by the publisher.
    #[arg(long, default_value_t = 10.0)]
    pub rate: f64,
    /// How long the publisher publishes, seconds.
    #[arg(long, default_value_t = 10.0)]
    pub secs: f64,
    /// Padding characters in each tick payload.
    #[arg(long, default_value_t = 64)]
    pub pad: usize,
    /// Room the subscribers join.
    #[arg(long, default_value = "bench")]
    pub room: String,
    /// Longest wait for late deliveries after the last publish, seconds.
    #[arg(long, default_value_t = 10.0)]
    pub grace_secs: f64,
}

/// `chat` flags.
#[derive(Debug, Clone, clap::Args)]
pub struct ChatArgs {
    /// Common flags.
    #[command(flatten)]
    pub common: CommonArgs,
    /// Clients per room.
    #[arg(long, default_value_t = 10)]
    pub room_size: usize,
    /// Messages per second per client.
    #[arg(long, default_value_t = 1.0)]
    pub rate: f64,
    /// How long clients send, seconds.
    #[arg(long, default_value_t = 10.0)]
    pub secs: f64,
    /// Characters per message text.
    #[arg(long, default_value_t = 48)]
    pub text_len: usize,
    /// Longest wait for outstanding acks after the last send, seconds.
    #[arg(long, default_value_t = 10.0)]
    pub grace_secs: f64,
}

/// Resident memory and CPU time of the server process(es).
pub(crate) struct Probe {
    pub pids: Vec<u32>,
}

impl Probe {
    pub(crate) fn rss_kib(&self) -> Option<u64> {
        if self.pids.is_empty() {
            return None;
        }
        self.pids.iter().map(|p| net::rss_kib(*p).ok()).sum()
    }

    pub(crate) fn cpu_secs(&self) -> Option<f64> {
        if self.pids.is_empty() {
            return None;
        }
        self.pids.iter().map(|p| cpu_secs(*p)).sum()
    }
}

/// User + system CPU time of a process, seconds (from /proc/<pid>/stat, 100 ticks/s).
pub fn cpu_secs(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_stat_cpu_ticks(&stat).map(|t| t as f64 / 100.0)
}

/// utime + stime (clock ticks) of a /proc/<pid>/stat line.
pub fn parse_stat_cpu_ticks(stat: &str) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After the command: state is field 3, utime 14, stime 15 (1-based, man proc).
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

/// Totals of the `ready` messages.
#[derive(Debug, Default)]
pub(crate) struct ReadyTotals {
    pub connected: u64,
    pub failed: u64,
    pub polling: u64,
    pub join_retries: u64,
    pub connect_secs: f64,
    pub connect_latency: Latency,
    pub errors: BTreeMap<String, u64>,
}

#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Progress {
    pub alive: u64,
    pub received: u64,
    pub acks: u64,
}

/// What a worker process runs.
#[derive(Debug, Clone)]
pub enum Launcher {
    /// This executable's hidden `worker` subcommand: the load tool's own client.
    SelfExe,
    /// `node <script> --config <json>`: real socket.io-client members (bench/realclients/).
    Node(PathBuf),
}

pub(crate) struct Workers {
    children: Vec<Child>,
    stdins: Vec<ChildStdin>,
    rx: mpsc::UnboundedReceiver<(usize, Result<WorkerMsg, String>)>,
    progress: Vec<Progress>,
    pids: Vec<u32>,
}

impl Workers {
    /// Starts the worker processes; with `solo_first`, client 0 (a room's
    /// publisher) gets a process of its own, so the others' work does not
    /// delay its sends.
    pub(crate) async fn spawn(
        common: &CommonArgs,
        base: WorkerConfig,
        launcher: &Launcher,
        solo_first: bool,
    ) -> Result<Workers> {
        if common.clients == 0 {
            bail!("--clients must be at least 1");
        }
        let procs = if common.procs > 0 {
            common.procs
        } else {
            usize::from(solo_first)
                + (common.clients - usize::from(solo_first)).div_ceil(common.max_per_proc.max(1))
        };
        let shares = worker_shares(common.clients, procs, solo_first);
        let procs = shares.len();
        let exe = std::env::current_exe().context("own executable")?;
        if let Launcher::Node(script) = launcher
            && !script.is_file()
        {
            bail!(
                "{} not found (bench/run installs it into bench/.peers/realclients/)",
                script.display()
            );
        }
        let (tx, rx) = mpsc::unbounded_channel();
        let mut children = Vec::new();
        let mut stdins = Vec::new();
        let mut pids = Vec::new();
        let mut first = 0;
        for (k, &clients) in shares.iter().enumerate() {
            let cfg = WorkerConfig {
                index: k,
                first_client: first,
                clients,
                sources: net::source_slice(k, procs),
                ..base.clone()
            };
            first += clients;
            let mut command = match launcher {
                Launcher::SelfExe => {
                    let mut c = Command::new(&exe);
                    c.arg("worker");
                    c
                }
                Launcher::Node(script) => {
                    let mut c = Command::new("node");
                    c.arg(script);
                    c
                }
            };
            let mut child = command
                .arg("--config")
                .arg(serde_json::to_string(&cfg)?)
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit())
                .kill_on_drop(true)
                .spawn()
                .context("start a worker process")?;
            pids.push(child.id().unwrap_or(0));
            let stdout = child.stdout.take().context("worker stdout")?;
            stdins.push(child.stdin.take().context("worker stdin")?);
            let tx = tx.clone();
            tokio::spawn(async move {
                let mut lines = BufReader::new(stdout).lines();
                loop {
                    match lines.next_line().await {
                        Ok(Some(line)) => {
                            let msg = serde_json::from_str::<WorkerMsg>(&line)
                                .map_err(|e| format!("bad worker line {line:?}: {e}"));
                            if tx.send((k, msg)).is_err() {
                                return;
                            }
                        }
                        Ok(None) => {
                            let _ = tx.send((k, Err("worker exited".into())));
                            return;
                        }
                        Err(e) => {
                            let _ = tx.send((k, Err(format!("worker stdout: {e}"))));
                            return;
                        }
                    }
                }
            });
            children.push(child);
        }
        Ok(Workers {
            progress: vec![Progress::default(); children.len()],
            children,
            stdins,
            rx,
            pids,
        })
    }

    pub(crate) fn len(&self) -> usize {
        self.children.len()
    }

    pub(crate) async fn wait_ready(&mut self, limit: Duration) -> Result<ReadyTotals> {
        let deadline = tokio::time::Instant::now() + limit;
        let mut totals = ReadyTotals::default();
        let mut ready = vec![false; self.len()];
        while ready.iter().any(|r| !r) {
            let (k, msg) = tokio::time::timeout_at(deadline, self.rx.recv())
                .await
                .context("workers did not finish connecting in time")?
                .context("worker channel closed")?;
            match msg.map_err(anyhow::Error::msg)? {
                WorkerMsg::Ready {
                    connected,
                    failed,
                    polling,
                    join_retries,
                    connect_secs,
                    connect_latency,
                    errors,
                } => {
                    ready[k] = true;
                    totals.connected += connected;
                    totals.failed += failed;
                    totals.polling += polling;
                    totals.join_retries += join_retries;
                    totals.connect_secs = totals.connect_secs.max(connect_secs);
                    totals.connect_latency.merge_pairs(&connect_latency);
                    merge_errors(&mut totals.errors, errors);
                }
                WorkerMsg::Progress {
                    alive,
                    received,
                    acks,
                } => {
                    self.progress[k] = Progress {
                        alive,
                        received,
                        acks,
                    }
                }
                WorkerMsg::Done(_) => bail!("worker {k} finished before it was ready"),
            }
        }
        Ok(totals)
    }

    /// Handles worker messages for `dur`.
    pub(crate) async fn pump(&mut self, dur: Duration) -> Result<()> {
        let deadline = tokio::time::Instant::now() + dur;
        loop {
            match tokio::time::timeout_at(deadline, self.rx.recv()).await {
                Err(_) => return Ok(()),
                Ok(None) => bail!("worker channel closed"),
                Ok(Some((k, msg))) => match msg.map_err(anyhow::Error::msg)? {
                    WorkerMsg::Progress {
                        alive,
                        received,
                        acks,
                    } => {
                        self.progress[k] = Progress {
                            alive,
                            received,
                            acks,
                        }
                    }
                    other => bail!("unexpected message from worker {k}: {other:?}"),
                },
            }
        }
    }

    pub(crate) fn totals(&self) -> Progress {
        self.progress
            .iter()
            .fold(Progress::default(), |a, p| Progress {
                alive: a.alive + p.alive,
                received: a.received + p.received,
                acks: a.acks + p.acks,
            })
    }

    pub(crate) fn cpu_secs(&self) -> f64 {
        self.pids.iter().filter_map(|p| cpu_secs(*p)).sum()
    }

    pub(crate) async fn send_all(&mut self, cmd: &str) -> Result<()> {
        for stdin in &mut self.stdins {
            stdin
                .write_all(format!("{cmd}\n").as_bytes())
                .await
                .context("write to a worker")?;
            stdin.flush().await.context("flush a worker")?;
        }
        Ok(())
    }

    pub(crate) async fn stop(self) -> Result<Vec<DoneReport>> {
        self.stop_within(Duration::from_secs(30)).await
    }

    /// [`Workers::stop`] for workers that may be busy for a while (real
    /// clients still parsing a backlog answer `stop` only when they get to it).
    pub(crate) async fn stop_within(mut self, limit: Duration) -> Result<Vec<DoneReport>> {
        self.send_all("stop").await?;
        let deadline = tokio::time::Instant::now() + limit;
        let mut reports: Vec<Option<DoneReport>> = vec![None; self.len()];
        while reports.iter().any(Option::is_none) {
            let (k, msg) = tokio::time::timeout_at(deadline, self.rx.recv())
                .await
                .context("workers did not report in time")?
                .context("worker channel closed")?;
            match msg {
                Ok(WorkerMsg::Done(report)) => reports[k] = Some(*report),
                Ok(_) => {}
                Err(e) if reports[k].is_some() => {
                    let _ = e;
                }
                Err(e) => bail!("worker {k}: {e}"),
            }
        }
        for child in &mut self.children {
            let _ = tokio::time::timeout(Duration::from_secs(10), child.wait()).await;
            let _ = child.start_kill();
        }
        Ok(reports.into_iter().flatten().collect())
    }
}

/// Clients per worker process: `clients` spread evenly over `procs` (1 to
/// `clients` of them); with `solo_first` the first process holds client 0 alone.
pub fn worker_shares(clients: usize, procs: usize, solo_first: bool) -> Vec<usize> {
    let even = |n: usize, p: usize| -> Vec<usize> {
        let p = p.clamp(1, n.max(1));
        (0..p).map(|k| n / p + usize::from(k < n % p)).collect()
    };
    if solo_first && procs >= 2 && clients >= 2 {
        let mut out = vec![1];
        out.extend(even(clients - 1, procs - 1));
        out
    } else {
        even(clients, procs)
    }
}

fn merge_errors(into: &mut BTreeMap<String, u64>, from: BTreeMap<String, u64>) {
    for (k, v) in from {
        *into.entry(k).or_insert(0) += v;
    }
}

/// Every error of a run: the workers' final reports hold those of the connect
/// phase too, except clients still pending when the phase ended.
pub(crate) fn all_errors(ready: &ReadyTotals, done: &[DoneReport]) -> BTreeMap<String, u64> {
    let mut errors: BTreeMap<String, u64> = ready
        .errors
        .iter()
        .filter(|(k, _)| k.contains("still pending"))
        .map(|(k, v)| (k.clone(), *v))
        .collect();
    for d in done {
        merge_errors(&mut errors, d.errors.clone());
    }
    errors
}

pub(crate) fn base_config(common: &CommonArgs, scenario: Scenario) -> WorkerConfig {
    WorkerConfig {
        index: 0,
        scenario,
        protocol: common.protocol,
        targets: common.urls.clone(),
        first_client: 0,
        clients: 0,
        polling_share: common.polling_share.clamp(0.0, 1.0),
        sources: Vec::new(),
        connect_concurrency: common.connect_concurrency,
        connect_timeout_ms: common.connect_timeout_secs * 1000,
        connect_phase_ms: common.connect_phase_secs * 1000,
        room: "bench".into(),
        room_size: 10,
        chat_rate: 1.0,
        chat_duration_ms: 0,
        chat_text_len: 48,
        threads: common.threads,
        publish_rate: 0.0,
        publish_ms: 0,
        slow_client: None,
        pause_at_ms: 0,
        pause_ms: 0,
    }
}

pub(crate) fn check_targets(common: &CommonArgs) -> Result<()> {
    if common.urls.is_empty() {
        bail!("at least one --url");
    }
    for url in &common.urls {
        net::parse_target(url)?;
    }
    Ok(())
}

/// The facts every result file carries.
pub(crate) fn header(common: &CommonArgs, scenario: &str) -> serde_json::Map<String, Value> {
    let mut m = serde_json::Map::new();
    m.insert(
        "case".into(),
        json!(common.case.clone().unwrap_or_else(|| scenario.into())),
    );
    m.insert("scenario".into(), json!(scenario));
    m.insert("server".into(), json!(common.server));
    m.insert("unix_time".into(), json!(net::now_us() / 1_000_000));
    m.insert(
        "tool".into(),
        json!(format!("iorelay-bench {}", env!("CARGO_PKG_VERSION"))),
    );
    // Other work on the machine skews latency: keep the load average with every result.
    let loadavg: Vec<f64> = std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .filter_map(|v| v.parse().ok())
        .collect();
    m.insert("loadavg".into(), json!(loadavg));
    m
}

pub(crate) fn common_params(common: &CommonArgs, workers: usize) -> Value {
    json!({
        "urls": common.urls,
        "protocol": common.protocol,
        "clients": common.clients,
        "worker_processes": workers,
        "threads_per_worker": common.threads,
        "polling_share": common.polling_share,
        "connect_concurrency_per_worker": common.connect_concurrency,
    })
}

pub(crate) fn write_result(
    common: &CommonArgs,
    doc: serde_json::Map<String, Value>,
) -> Result<PathBuf> {
    std::fs::create_dir_all(&common.out_dir)
        .with_context(|| format!("create {}", common.out_dir.display()))?;
    let case = doc
        .get("case")
        .and_then(Value::as_str)
        .unwrap_or("result")
        .to_owned();
    let path = common.out_dir.join(format!(
        "{}--{}.json",
        sanitize(&case),
        sanitize(&common.server)
    ));
    let text = serde_json::to_string_pretty(&Value::Object(doc))?;
    std::fs::write(&path, text + "\n").with_context(|| format!("write {}", path.display()))?;
    Ok(path)
}

fn sanitize(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

pub(crate) fn summary_json(s: &stats::LatencySummary) -> Value {
    json!({
        "count": s.count,
        "min_ms": round3(s.min_ms),
        "mean_ms": round3(s.mean_ms),
        "p50_ms": round3(s.p50_ms),
        "p95_ms": round3(s.p95_ms),
        "p99_ms": round3(s.p99_ms),
        "p999_ms": round3(s.p999_ms),
        "max_ms": round3(s.max_ms),
    })
}

pub(crate) fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

pub(crate) fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

pub(crate) fn opt_diff(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    Some(a? - b?)
}

/// `idle`: connect N clients, hold them, measure server memory per connection.
pub async fn idle(args: IdleArgs) -> Result<()> {
    let common = &args.common;
    check_targets(common)?;
    net::raise_nofile();
    let probe = Probe {
        pids: common.server_pids.clone(),
    };
    let rss_before = probe.rss_kib();
    let mut workers = Workers::spawn(
        common,
        base_config(common, Scenario::Idle),
        &Launcher::SelfExe,
        false,
    )
    .await?;
    let ready = workers
        .wait_ready(Duration::from_secs(common.connect_phase_secs + 30))
        .await?;
    workers.pump(Duration::from_secs(2)).await?;
    let rss_connected = probe.rss_kib();
    let hold = Duration::from_secs_f64(args.hold_secs.max(0.0));
    let start = Instant::now();
    let mut rss_max = rss_connected;
    while start.elapsed() < hold {
        workers.pump(Duration::from_secs(1).min(hold)).await?;
        rss_max = rss_max.max(probe.rss_kib());
    }
    let rss_end = probe.rss_kib();
    let alive = workers.totals().alive;
    let n_workers = workers.len();
    let worker_cpu = workers.cpu_secs();
    let done = workers.stop().await?;
    let errors = all_errors(&ready, &done);
    let dropped: u64 = done.iter().map(|d| d.dropped).sum();
    let connected = ready.connected;
    let per_conn = |after: Option<u64>| -> Option<f64> {
        let grown = opt_diff(after.map(|a| a as f64), rss_before.map(|b| b as f64))?;
        (connected > 0).then(|| round3(grown / connected as f64))
    };
    let connect_rate = stats::per_sec(connected, ready.connect_secs);
    let connect = ready.connect_latency.summary();
    let mut doc = header(common, "idle");
    doc.insert(
        "params".into(),
        json!({"common": common_params(common, n_workers), "hold_secs": args.hold_secs}),
    );
    doc.insert(
        "metrics".into(),
        json!({
            "connected": connected,
            "failed": ready.failed,
            "polling": ready.polling,
            "alive_at_end": alive,
            "dropped": dropped,
            "connect_secs": round3(ready.connect_secs),
            "connect_rate": round1(connect_rate),
            "rss_before_kib": rss_before,
            "rss_connected_kib": rss_connected,
            "rss_end_kib": rss_end,
            "rss_max_kib": rss_max,
            "rss_per_conn_kib": per_conn(rss_end),
            "rss_per_conn_kib_connected": per_conn(rss_connected),
            "load_cpu_secs": round3(worker_cpu),
        }),
    );
    doc.insert("connect_latency".into(), summary_json(&connect));
    doc.insert("errors".into(), json!(errors));
    let path = write_result(common, doc)?;
    let rss = per_conn(rss_end)
        .map(|k| {
            format!(
                "{k:.2} KiB/conn (RSS {} -> {} KiB)",
                rss_before.unwrap_or(0),
                rss_end.unwrap_or(0)
            )
        })
        .unwrap_or_else(|| "RSS n/a (no --server-pid)".into());
    println!(
        "{} {}: {connected}/{} connected, {} failed, {connect_rate:.0} conn/s, connect p99 {:.1} ms, {alive} alive after {:.0}s, {rss} -> {}",
        common.case.as_deref().unwrap_or("idle"),
        common.server,
        common.clients,
        ready.failed,
        connect.p99_ms,
        args.hold_secs,
        path.display()
    );
    Ok(())
}

/// What the publisher did.
struct Published {
    count: u64,
    first_us: u64,
    last_us: u64,
    /// `error` events the server sent back (iorelay: `rate_limited`).
    errors: u64,
}

/// Sends ticks at `rate` for `secs`.
async fn publish(
    client: &mut Client,
    protocol: Protocol,
    room: &str,
    rate: f64,
    secs: f64,
    pad: &str,
) -> Result<Published> {
    let total = (rate * secs).round().max(1.0) as u64;
    let period = Duration::from_secs_f64((1.0 / rate.max(0.001)).max(0.001));
    let mut ticker = tokio::time::interval(period);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let start = Instant::now();
    let hard_stop = Duration::from_secs_f64(secs * 2.0 + 10.0);
    let first_us = net::now_us();
    let mut seq: u64 = 0;
    let mut errors = 0;
    while seq < total && start.elapsed() < hard_stop {
        tokio::select! {
            _ = ticker.tick() => {
                let due = ((start.elapsed().as_secs_f64() * rate).floor() as u64 + 1).min(total);
                while seq < due {
                    let tick = format!(r#"{{"seq":{seq},"ts":{},"pad":"{pad}"}}"#, net::now_us());
                    let packet = match protocol {
                        Protocol::Raw => tick,
                        Protocol::Socketio => proto::encode_event(
                            "/",
                            None,
                            &format!(r#"["relay",{{"to":"{room}","event":"tick","args":[{tick}]}}]"#),
                        ),
                    };
                    client.send(&packet).await?;
                    seq += 1;
                }
            }
            packet = client.recv() => {
                let packet = packet?;
                if client.answer_ping(&packet).await? {
                    continue;
                }
                if let Some(text) = client::sio_text(&packet)
                    && let Ok(p) = proto::parse_sio(text)
                    && p.kind == proto::SioType::Event
                    && proto::event_name(p.data) == Some("error")
                {
                    errors += 1;
                }
            }
        }
    }
    Ok(Published {
        count: seq,
        first_us,
        last_us: net::now_us(),
        errors,
    })
}

/// `fanout` (and `cluster`): N subscribers in one room, one publisher at a fixed rate.
pub async fn fanout(args: FanoutArgs) -> Result<()> {
    let common = &args.common;
    check_targets(common)?;
    if args.rate <= 0.0 || args.secs <= 0.0 {
        bail!("--rate and --secs must be positive");
    }
    net::raise_nofile();
    let probe = Probe {
        pids: common.server_pids.clone(),
    };
    let rss_before = probe.rss_kib();
    let mut base = base_config(common, Scenario::Fanout);
    base.room = args.room.clone();
    let mut workers = Workers::spawn(common, base, &Launcher::SelfExe, false).await?;
    let ready = workers
        .wait_ready(Duration::from_secs(common.connect_phase_secs + 30))
        .await?;
    if ready.connected == 0 {
        bail!("no subscriber connected: {:?}", ready.errors);
    }
    let target = net::parse_target(&common.urls[0])?;
    let src = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let mut publisher =
        Client::connect(&target, common.protocol, Transport::WebSocket, src, 7).await?;
    if common.protocol == Protocol::Socketio {
        publisher.connect_nsp("/", None).await?;
        let array = json!(["rooms:join", {"room": args.room}]).to_string();
        let (ack, _) = publisher
            .call_retry("/", 1, &array, Duration::from_secs(2), 5)
            .await?;
        if !proto::ack_is_ok(&ack) {
            bail!("publisher could not join: {ack}");
        }
    }
    workers.pump(Duration::from_millis(500)).await?;
    let rss_loaded = probe.rss_kib();
    let received_before = workers.totals().received;
    let cpu0 = probe.cpu_secs();
    let wcpu0 = workers.cpu_secs();
    workers.send_all("go").await?;
    let pad = "x".repeat(args.pad);
    let run_start = Instant::now();
    let Published {
        count: published,
        first_us,
        last_us: last_pub_us,
        errors: publisher_errors,
    } = publish(
        &mut publisher,
        common.protocol,
        &args.room,
        args.rate,
        args.secs,
        &pad,
    )
    .await?;
    let publish_secs = run_start.elapsed().as_secs_f64();
    // Keep answering the publisher's heartbeats while deliveries drain.
    let keeper = tokio::spawn(async move {
        while let Ok(packet) = publisher.recv().await {
            if publisher.answer_ping(&packet).await.is_err() {
                break;
            }
        }
    });
    let subscribers = ready.connected;
    let expected = published * subscribers;
    let grace_start = Instant::now();
    let mut last_received = workers.totals().received;
    let mut last_change = Instant::now();
    while grace_start.elapsed().as_secs_f64() < args.grace_secs {
        workers.pump(Duration::from_millis(200)).await?;
        let received = workers.totals().received;
        if received.saturating_sub(received_before) >= expected {
            break;
        }
        if received != last_received {
            last_received = received;
            last_change = Instant::now();
        } else if last_change.elapsed() > Duration::from_millis(1500) {
            break;
        }
    }
    let cpu = opt_diff(probe.cpu_secs(), cpu0);
    let wcpu = workers.cpu_secs() - wcpu0;
    let rss_end = probe.rss_kib();
    let alive = workers.totals().alive;
    let n_workers = workers.len();
    let done = workers.stop().await?;
    keeper.abort();
    let mut latency = Latency::new();
    let errors = all_errors(&ready, &done);
    let mut received = 0;
    let mut last_recv_us = 0;
    let mut dropped = 0;
    for d in &done {
        latency.merge_pairs(&d.latency);
        received += d.received;
        last_recv_us = last_recv_us.max(d.last_recv_us);
        dropped += d.dropped;
    }
    let window = (last_recv_us.max(last_pub_us).saturating_sub(first_us)) as f64 / 1e6;
    let deliveries_per_sec = stats::per_sec(received, window);
    let loss = stats::loss_pct(expected, received);
    let lat = latency.summary();
    let scenario = if common.urls.len() > 1 {
        "cluster"
    } else {
        "fanout"
    };
    let mut doc = header(common, scenario);
    doc.insert(
        "params".into(),
        json!({
            "common": common_params(common, n_workers),
            "rate": args.rate,
            "secs": args.secs,
            "pad": args.pad,
            "grace_secs": args.grace_secs,
        }),
    );
    doc.insert(
        "metrics".into(),
        json!({
            "subscribers": subscribers,
            "failed": ready.failed,
            "polling": ready.polling,
            "join_retries": ready.join_retries,
            "connect_rate": round1(stats::per_sec(subscribers, ready.connect_secs)),
            "published": published,
            "publish_rate": round1(stats::per_sec(published, publish_secs)),
            "expected": expected,
            "received": received,
            "loss_pct": round3(loss),
            "window_secs": round3(window),
            "deliveries_per_sec": round1(deliveries_per_sec),
            "alive_at_end": alive,
            "dropped": dropped,
            "server_cpu_secs": cpu.map(round3),
            "server_cpu_cores": cpu.map(|c| round3(c / window.max(0.001))),
            "deliveries_per_server_cpu_sec": cpu.filter(|c| *c > 0.0).map(|c| round1(received as f64 / c)),
            "publisher_errors": publisher_errors,
            "load_cpu_secs": round3(wcpu),
            "rss_before_kib": rss_before,
            "rss_loaded_kib": rss_loaded,
            "rss_end_kib": rss_end,
        }),
    );
    doc.insert("latency".into(), summary_json(&lat));
    doc.insert("errors".into(), json!(errors));
    let path = write_result(common, doc)?;
    println!(
        "{} {}: {subscribers} subs ({} join retries), {published} pub @ {:.0}/s, {received}/{expected} delivered (loss {loss:.2}%), {deliveries_per_sec:.0} deliveries/s, latency p50 {:.1} p95 {:.1} p99 {:.1} max {:.1} ms, server CPU {} -> {}",
        common.case.as_deref().unwrap_or(scenario),
        common.server,
        ready.join_retries,
        args.rate,
        lat.p50_ms,
        lat.p95_ms,
        lat.p99_ms,
        lat.max_ms,
        cpu.map(|c| format!("{:.2} cores", c / window.max(0.001)))
            .unwrap_or_else(|| "n/a".into()),
        path.display()
    );
    Ok(())
}

/// `chat`: rooms of `room_size` on `/chat`; every client sends at `rate` and awaits acks.
pub async fn chat(args: ChatArgs) -> Result<()> {
    let common = &args.common;
    check_targets(common)?;
    if common.protocol != Protocol::Socketio {
        bail!("chat needs a Socket.IO server");
    }
    if args.rate <= 0.0 || args.secs <= 0.0 {
        bail!("--rate and --secs must be positive");
    }
    net::raise_nofile();
    let probe = Probe {
        pids: common.server_pids.clone(),
    };
    let rss_before = probe.rss_kib();
    let mut base = base_config(common, Scenario::Chat);
    base.room_size = args.room_size.max(1);
    base.chat_rate = args.rate;
    base.chat_duration_ms = (args.secs * 1000.0) as u64;
    base.chat_text_len = args.text_len;
    let mut workers = Workers::spawn(common, base, &Launcher::SelfExe, false).await?;
    let ready = workers
        .wait_ready(Duration::from_secs(common.connect_phase_secs + 30))
        .await?;
    if ready.connected == 0 {
        bail!("no client connected: {:?}", ready.errors);
    }
    workers.pump(Duration::from_millis(500)).await?;
    let cpu0 = probe.cpu_secs();
    let wcpu0 = workers.cpu_secs();
    let start_us = net::now_us();
    workers.send_all("go").await?;
    workers.pump(Duration::from_secs_f64(args.secs)).await?;
    // Expected acks: every connected client sends rate × secs messages.
    let expected_acks = (ready.connected as f64 * args.rate * args.secs) as u64;
    let grace_start = Instant::now();
    let mut last = workers.totals();
    let mut last_change = Instant::now();
    while grace_start.elapsed().as_secs_f64() < args.grace_secs {
        workers.pump(Duration::from_millis(200)).await?;
        let now = workers.totals();
        if now.acks >= expected_acks && now.received == last.received {
            break;
        }
        if now.acks != last.acks || now.received != last.received {
            last = now;
            last_change = Instant::now();
        } else if last_change.elapsed() > Duration::from_millis(1500) {
            break;
        }
    }
    let end_us = net::now_us();
    let cpu = opt_diff(probe.cpu_secs(), cpu0);
    let wcpu = workers.cpu_secs() - wcpu0;
    let rss_end = probe.rss_kib();
    let n_workers = workers.len();
    let done = workers.stop().await?;
    let mut ack_latency = Latency::new();
    let mut latency = Latency::new();
    let errors = all_errors(&ready, &done);
    let (mut sent, mut acks, mut ack_failures, mut missing, mut received, mut dropped) =
        (0, 0, 0, 0, 0, 0);
    let mut last_recv_us = 0;
    for d in &done {
        ack_latency.merge_pairs(&d.ack_latency);
        latency.merge_pairs(&d.latency);
        sent += d.sent;
        acks += d.acks;
        ack_failures += d.ack_failures;
        missing += d.acks_missing;
        received += d.received;
        dropped += d.dropped;
        last_recv_us = last_recv_us.max(d.last_recv_us);
    }
    let window = (last_recv_us
        .max(start_us + (args.secs * 1e6) as u64)
        .min(end_us))
    .saturating_sub(start_us) as f64
        / 1e6;
    let acks_per_sec = stats::per_sec(acks, window);
    let deliveries_per_sec = stats::per_sec(received, window);
    let ack = ack_latency.summary();
    let del = latency.summary();
    let mut doc = header(common, "chat");
    doc.insert(
        "params".into(),
        json!({
            "common": common_params(common, n_workers),
            "room_size": args.room_size,
            "rate_per_client": args.rate,
            "secs": args.secs,
            "text_len": args.text_len,
        }),
    );
    doc.insert(
        "metrics".into(),
        json!({
            "connected": ready.connected,
            "failed": ready.failed,
            "polling": ready.polling,
            "join_retries": ready.join_retries,
            "connect_rate": round1(stats::per_sec(ready.connected, ready.connect_secs)),
            "sent": sent,
            "acks": acks,
            "ack_failures": ack_failures,
            "acks_missing": missing,
            "acks_per_sec": round1(acks_per_sec),
            "offered_per_sec": round1(ready.connected as f64 * args.rate),
            "received": received,
            "deliveries_per_sec": round1(deliveries_per_sec),
            "window_secs": round3(window),
            "dropped": dropped,
            "server_cpu_secs": cpu.map(round3),
            "server_cpu_cores": cpu.map(|c| round3(c / window.max(0.001))),
            "acks_per_server_cpu_sec": cpu.filter(|c| *c > 0.0).map(|c| round1(acks as f64 / c)),
            "load_cpu_secs": round3(wcpu),
            "rss_before_kib": rss_before,
            "rss_end_kib": rss_end,
        }),
    );
    doc.insert("ack_latency".into(), summary_json(&ack));
    doc.insert("latency".into(), summary_json(&del));
    doc.insert("errors".into(), json!(errors));
    let path = write_result(common, doc)?;
    println!(
        "{} {}: {} clients ({} polling, {} join retries) in rooms of {}, {sent} sent, {acks} acks ({ack_failures} refused, {missing} missing), {acks_per_sec:.0} acks/s, ack p50 {:.1} p99 {:.1} ms, {deliveries_per_sec:.0} deliveries/s (p99 {:.1} ms) -> {}",
        common.case.as_deref().unwrap_or("chat"),
        common.server,
        ready.connected,
        ready.polling,
        ready.join_retries,
        args.room_size,
        ack.p50_ms,
        ack.p99_ms,
        del.p99_ms,
        path.display()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_ticks_from_proc_stat() {
        let stat =
            "1234 (my (odd) name) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 75 0 0 20 0 4 0 100 0 0";
        assert_eq!(parse_stat_cpu_ticks(stat), Some(325));
        assert_eq!(parse_stat_cpu_ticks("garbage"), None);
    }

    #[test]
    fn clients_are_shared_out_over_workers() {
        assert_eq!(worker_shares(10, 3, false), vec![4, 3, 3]);
        assert_eq!(worker_shares(2, 5, false), vec![1, 1]);
        assert_eq!(worker_shares(1000, 3, true), vec![1, 500, 499]);
        assert_eq!(
            worker_shares(1000, 1, true),
            vec![1000],
            "one process holds all"
        );
        assert_eq!(worker_shares(3, 9, true), vec![1, 1, 1]);
        for (n, p, solo) in [(5000, 11, true), (777, 4, false), (1, 1, true)] {
            assert_eq!(worker_shares(n, p, solo).iter().sum::<usize>(), n);
        }
    }

    #[test]
    fn file_names_are_sanitized() {
        assert_eq!(sanitize("fanout-latency"), "fanout-latency");
        assert_eq!(sanitize("a/b c"), "a_b_c");
    }
}
