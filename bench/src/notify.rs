//! `notify-fanout`: one topic's notifications fanned out to N subscribers,
//! over Socket.IO (`/notifications` sockets) or Server-Sent Events
//! (`GET /sse/notifications`), so the two transports can be compared on the
//! same publisher (`POST /api/v1/notify` at a fixed rate) — issue #15.
//!
//! One process holds every subscriber (SSE needs one TCP connection each, as
//! a WebSocket does); the latency of a delivery is its arrival time minus the
//! publish time the notification carries (`data.sent_us`).

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::client::{Client, Protocol, Transport, sio_text};
use crate::http::HttpConn;
use crate::net::{self, Target};
use crate::scenario::{
    CommonArgs, Probe, header, opt_diff, round1, round3, summary_json, write_result,
};
use crate::stats::{self, Latency};

/// How subscribers receive notifications.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum NotifyTransport {
    /// `/notifications` sockets (socket.io protocol over WebSocket).
    Socketio,
    /// `GET /sse/notifications` event streams.
    Sse,
}

/// `notify-fanout` flags.
#[derive(Debug, Clone, clap::Args)]
pub struct NotifyArgs {
    /// Common flags (`--clients`, `--url`, `--server-pid`, ...).
    #[command(flatten)]
    pub common: CommonArgs,
    /// Transport of the subscribers.
    #[arg(long, value_enum)]
    pub transport: NotifyTransport,
    /// Notifications per second.
    #[arg(long, default_value_t = 10.0)]
    pub rate: f64,
    /// How long the publisher publishes, seconds.
    #[arg(long, default_value_t = 10.0)]
    pub secs: f64,
    /// Publish API key of the server.
    #[arg(long)]
    pub api_key: String,
    /// Topic the subscribers subscribe to.
    #[arg(long, default_value = "bench")]
    pub topic: String,
    /// Longest wait for late deliveries after the last publish, seconds.
    #[arg(long, default_value_t = 10.0)]
    pub grace_secs: f64,
}

/// Counts of the run, shared by the subscribers.
#[derive(Default)]
struct Counts {
    ready: AtomicU64,
    failed: AtomicU64,
    received: AtomicU64,
    latency: std::sync::Mutex<Latency>,
}

impl Counts {
    fn record(&self, now_us: u64, sent: impl Iterator<Item = u64>) {
        let Ok(mut latency) = self.latency.lock() else {
            return;
        };
        for sent in sent {
            latency.record(now_us.saturating_sub(sent));
            self.received.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// The `sent_us` values in `text` (one per notification it holds).
fn sent_times(text: &str) -> impl Iterator<Item = u64> + '_ {
    text.match_indices("\"sent_us\":")
        .filter_map(move |(at, key)| {
            let digits: String = text[at + key.len()..]
                .chars()
                .take_while(char::is_ascii_digit)
                .collect();
            digits.parse().ok()
        })
}

async fn sse_subscriber(
    target: Target,
    src: IpAddr,
    index: usize,
    topic: String,
    counts: Arc<Counts>,
    mut setting_up: Option<OwnedSemaphorePermit>,
) -> Result<()> {
    let mut stream = net::connect_from(src, target.addr).await?;
    let request = format!(
        "GET /sse/notifications?name=b{index}&topics={topic} HTTP/1.1\r\nHost: {}\r\nAccept: text/event-stream\r\n\r\n",
        target.host
    );
    stream.write_all(request.as_bytes()).await?;
    let mut pending = String::new();
    let mut ready = false;
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = match stream.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        pending.push_str(&String::from_utf8_lossy(&buf[..n]));
        if !ready {
            if pending.starts_with("HTTP/1.1 ") && !pending.starts_with("HTTP/1.1 200") {
                bail!(
                    "SSE refused: {}",
                    pending.lines().next().unwrap_or_default()
                );
            }
            if pending.contains("event: ready") {
                ready = true;
                counts.ready.fetch_add(1, Ordering::Relaxed);
                setting_up.take();
            }
        }
        // Events end with a blank line; keep a partial one for the next read.
        let Some(end) = pending.rfind("\n\n") else {
            continue;
        };
        counts.record(net::now_us(), sent_times(&pending[..end]));
        pending.drain(..end + 2);
    }
    Ok(())
}

async fn socketio_subscriber(
    target: Target,
    src: IpAddr,
    index: usize,
    topic: String,
    counts: Arc<Counts>,
    mut setting_up: Option<OwnedSemaphorePermit>,
) -> Result<()> {
    let mut client = Client::connect(
        &target,
        Protocol::Socketio,
        Transport::WebSocket,
        src,
        index as u32,
    )
    .await?;
    let auth = json!({"name": format!("b{index}"), "topics": [topic]}).to_string();
    client.connect_nsp("/notifications", Some(&auth)).await?;
    let mut ready = false;
    while let Ok(packet) = client.recv().await {
        if client.answer_ping(&packet).await.unwrap_or(false) {
            continue;
        }
        let Some(text) = sio_text(&packet) else {
            continue;
        };
        if !ready && text.contains("\"caught_up\"") {
            ready = true;
            counts.ready.fetch_add(1, Ordering::Relaxed);
            setting_up.take();
            continue;
        }
        counts.record(net::now_us(), sent_times(text));
    }
    Ok(())
}

/// POSTs one notification through the publish API on a keep-alive connection.
async fn post_notify(conn: &mut HttpConn, key: &str, topic: &str, seq: u64) -> Result<()> {
    let body =
        json!({"topic": topic, "title": "bench", "data": {"seq": seq, "sent_us": net::now_us()}})
            .to_string();
    let (status, reply) = conn
        .request_with_headers(
            "/api/v1/notify",
            Some(body.as_bytes()),
            &format!("Authorization: Bearer {key}\r\nContent-Type: application/json\r\n"),
        )
        .await?;
    if status != 200 {
        bail!(
            "notify answered {status}: {}",
            String::from_utf8_lossy(&reply)
        );
    }
    Ok(())
}

/// Runs `notify-fanout`.
pub async fn notify_fanout(args: NotifyArgs) -> Result<()> {
    let common = &args.common;
    let target = net::parse_target(&common.urls[0])?;
    net::raise_nofile();
    let probe = Probe {
        pids: common.server_pids.clone(),
    };
    let rss_before = probe.rss_kib();
    let counts = Arc::new(Counts::default());
    let sources = net::source_slice(0, 1);
    let gate = Arc::new(Semaphore::new(common.connect_concurrency.max(1)));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for i in 0..common.clients {
        let (target, counts, gate, topic) = (
            target.clone(),
            counts.clone(),
            gate.clone(),
            args.topic.clone(),
        );
        let src = IpAddr::V4(sources[i % sources.len()]);
        let transport = args.transport;
        tasks.push(tokio::spawn(async move {
            // The permit covers the set-up only: released once this client is ready or gone.
            let permit = gate.acquire_owned().await.ok();
            let run = match transport {
                NotifyTransport::Sse => {
                    sse_subscriber(target, src, i, topic, counts.clone(), permit).await
                }
                NotifyTransport::Socketio => {
                    socketio_subscriber(target, src, i, topic, counts.clone(), permit).await
                }
            };
            if run.is_err() {
                counts.failed.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    let deadline = Instant::now() + Duration::from_secs(common.connect_phase_secs);
    loop {
        let ready = counts.ready.load(Ordering::Relaxed);
        let failed = counts.failed.load(Ordering::Relaxed);
        if ready + failed >= common.clients as u64 || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let connect_secs = started.elapsed().as_secs_f64();
    let subscribers = counts.ready.load(Ordering::Relaxed);
    if subscribers == 0 {
        bail!(
            "no subscriber is ready ({} failed)",
            counts.failed.load(Ordering::Relaxed)
        );
    }
    let rss_loaded = probe.rss_kib();
    let cpu0 = probe.cpu_secs();
    let mut publisher = HttpConn::new(
        IpAddr::V4(std::net::Ipv4Addr::LOCALHOST),
        target.addr,
        target.host.clone(),
    );
    let interval = Duration::from_secs_f64(1.0 / args.rate);
    let total = (args.rate * args.secs).round().max(1.0) as u64;
    let publish_start = Instant::now();
    let mut errors = 0u64;
    let mut published = 0u64;
    for seq in 0..total {
        let due = publish_start + interval.mul_f64(seq as f64);
        tokio::time::sleep_until(due.into()).await;
        match post_notify(&mut publisher, &args.api_key, &args.topic, seq).await {
            Ok(()) => published += 1,
            Err(_) => errors += 1,
        }
    }
    let publish_secs = publish_start.elapsed().as_secs_f64();
    let expected = published * subscribers;
    let grace = Instant::now();
    while grace.elapsed().as_secs_f64() < args.grace_secs
        && counts.received.load(Ordering::Relaxed) < expected
    {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let window = publish_start.elapsed().as_secs_f64();
    let cpu = opt_diff(probe.cpu_secs(), cpu0);
    let rss_end = probe.rss_kib();
    for task in &tasks {
        task.abort();
    }
    let latency = counts.latency.lock().map(|l| l.clone()).unwrap_or_default();
    let received = counts.received.load(Ordering::Relaxed);
    let loss = stats::loss_pct(expected, received);
    let lat = latency.summary();
    let transport = match args.transport {
        NotifyTransport::Sse => "sse",
        NotifyTransport::Socketio => "socketio",
    };
    let mut doc = header(common, "notify-fanout");
    doc.insert("params".into(), json!({"transport": transport, "clients": common.clients, "rate": args.rate, "secs": args.secs}));
    doc.insert(
        "metrics".into(),
        json!({
            "subscribers": subscribers,
            "failed": counts.failed.load(Ordering::Relaxed),
            "connect_secs": round3(connect_secs),
            "published": published,
            "publish_rate": round1(stats::per_sec(published, publish_secs)),
            "publisher_errors": errors,
            "expected": expected,
            "received": received,
            "loss_pct": round3(loss),
            "deliveries_per_sec": round1(stats::per_sec(received, window)),
            "server_cpu_secs": cpu.map(round3),
            "rss_before_kib": rss_before,
            "rss_loaded_kib": rss_loaded,
            "rss_end_kib": rss_end,
            "rss_per_subscriber_kib": rss_loaded.zip(rss_before).map(|(l, b)| round3(l.saturating_sub(b) as f64 / subscribers as f64)),
        }),
    );
    doc.insert("latency".into(), summary_json(&lat));
    let path = write_result(common, doc).context("writing the result")?;
    println!(
        "notify-fanout {transport} {}: {subscribers} subscribers, {published} published @ {:.0}/s, {received}/{expected} delivered (loss {loss:.2}%), latency p50 {:.1} p99 {:.1} max {:.1} ms, server CPU {}, RSS {} -> {} KiB -> {}",
        common.server,
        args.rate,
        lat.p50_ms,
        lat.p99_ms,
        lat.max_ms,
        cpu.map(|c| format!("{c:.2} s"))
            .unwrap_or_else(|| "n/a".into()),
        rss_before.map_or("n/a".into(), |v| v.to_string()),
        rss_loaded.map_or("n/a".into(), |v| v.to_string()),
        path.display()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn publish_times_are_read_from_any_framing() {
        let sse = "event: notification\nid: topic%3Abench=5\ndata: {\"data\":{\"seq\":1,\"sent_us\":123},\"id\":\"n\"}\n\n";
        assert_eq!(sent_times(sse).collect::<Vec<_>>(), [123]);
        let sio = r#"42/notifications,["notification",{"data":{"seq":2,"sent_us":456}}]"#;
        assert_eq!(sent_times(sio).collect::<Vec<_>>(), [456]);
        assert_eq!(sent_times("nothing").count(), 0);
    }
}
