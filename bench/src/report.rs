//! The results table (Markdown), the target check and the chart (SVG), from
//! the JSON files a run wrote; and the machine description.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use anyhow::{Context, Result};
use serde_json::{Value, json};

use crate::stats::ratio;

mod delivery;

/// Servers in table order; others follow alphabetically.
const SERVER_ORDER: [&str; 4] = ["iorelay", "node", "python", "ceiling"];
/// Ratio columns: iorelay / these.
const RATIO_PEERS: [&str; 3] = ["node", "python", "ceiling"];

/// Whether bigger is better for a metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Better {
    Higher,
    Lower,
}

struct Row {
    case: &'static str,
    pointer: &'static str,
    label: &'static str,
    better: Better,
}

const ROWS: &[Row] = &[
    Row {
        case: "idle",
        pointer: "/metrics/rss_per_conn_kib",
        label: "server RSS per connection, KiB",
        better: Better::Lower,
    },
    Row {
        case: "idle",
        pointer: "/metrics/connected",
        label: "connections held",
        better: Better::Higher,
    },
    Row {
        case: "idle",
        pointer: "/metrics/failed",
        label: "failed connections",
        better: Better::Lower,
    },
    Row {
        case: "idle",
        pointer: "/metrics/connect_rate",
        label: "connect rate, conn/s",
        better: Better::Higher,
    },
    Row {
        case: "idle",
        pointer: "/connect_latency/p99_ms",
        label: "connect p99, ms",
        better: Better::Lower,
    },
    Row {
        case: "fanout-latency",
        pointer: "/metrics/deliveries_per_sec",
        label: "deliveries/s",
        better: Better::Higher,
    },
    Row {
        case: "fanout-latency",
        pointer: "/latency/p50_ms",
        label: "latency p50, ms",
        better: Better::Lower,
    },
    Row {
        case: "fanout-latency",
        pointer: "/latency/p95_ms",
        label: "latency p95, ms",
        better: Better::Lower,
    },
    Row {
        case: "fanout-latency",
        pointer: "/latency/p99_ms",
        label: "latency p99, ms",
        better: Better::Lower,
    },
    Row {
        case: "fanout-latency",
        pointer: "/latency/max_ms",
        label: "latency max, ms",
        better: Better::Lower,
    },
    Row {
        case: "fanout-latency",
        pointer: "/metrics/loss_pct",
        label: "loss, %",
        better: Better::Lower,
    },
    Row {
        case: "fanout-latency",
        pointer: "/metrics/server_cpu_cores",
        label: "server CPU, cores",
        better: Better::Lower,
    },
    Row {
        case: "fanout-latency",
        pointer: "/metrics/deliveries_per_server_cpu_sec",
        label: "deliveries per server CPU-second",
        better: Better::Higher,
    },
    Row {
        case: "fanout-throughput",
        pointer: "/metrics/deliveries_per_sec",
        label: "deliveries/s",
        better: Better::Higher,
    },
    Row {
        case: "fanout-throughput",
        pointer: "/latency/p50_ms",
        label: "latency p50, ms",
        better: Better::Lower,
    },
    Row {
        case: "fanout-throughput",
        pointer: "/latency/p99_ms",
        label: "latency p99, ms",
        better: Better::Lower,
    },
    Row {
        case: "fanout-throughput",
        pointer: "/metrics/loss_pct",
        label: "loss, %",
        better: Better::Lower,
    },
    Row {
        case: "fanout-throughput",
        pointer: "/metrics/server_cpu_cores",
        label: "server CPU, cores",
        better: Better::Lower,
    },
    Row {
        case: "fanout-throughput",
        pointer: "/metrics/deliveries_per_server_cpu_sec",
        label: "deliveries per server CPU-second",
        better: Better::Higher,
    },
    Row {
        case: "chat",
        pointer: "/metrics/acks_per_sec",
        label: "acks/s",
        better: Better::Higher,
    },
    Row {
        case: "chat",
        pointer: "/ack_latency/p50_ms",
        label: "ack latency p50, ms",
        better: Better::Lower,
    },
    Row {
        case: "chat",
        pointer: "/ack_latency/p99_ms",
        label: "ack latency p99, ms",
        better: Better::Lower,
    },
    Row {
        case: "chat",
        pointer: "/metrics/deliveries_per_sec",
        label: "deliveries/s",
        better: Better::Higher,
    },
    Row {
        case: "chat",
        pointer: "/latency/p99_ms",
        label: "delivery latency p99, ms",
        better: Better::Lower,
    },
    Row {
        case: "chat",
        pointer: "/metrics/failed",
        label: "failed connections",
        better: Better::Lower,
    },
    Row {
        case: "chat",
        pointer: "/metrics/server_cpu_cores",
        label: "server CPU, cores",
        better: Better::Lower,
    },
    Row {
        case: "chat",
        pointer: "/metrics/acks_per_server_cpu_sec",
        label: "acks per server CPU-second",
        better: Better::Higher,
    },
    Row {
        case: "cluster",
        pointer: "/metrics/deliveries_per_sec",
        label: "deliveries/s",
        better: Better::Higher,
    },
    Row {
        case: "cluster",
        pointer: "/latency/p50_ms",
        label: "latency p50, ms",
        better: Better::Lower,
    },
    Row {
        case: "cluster",
        pointer: "/latency/p99_ms",
        label: "latency p99, ms",
        better: Better::Lower,
    },
    Row {
        case: "cluster",
        pointer: "/metrics/loss_pct",
        label: "loss, %",
        better: Better::Lower,
    },
    Row {
        case: "cluster",
        pointer: "/metrics/server_cpu_cores",
        label: "servers' CPU, cores",
        better: Better::Lower,
    },
    Row {
        case: "cluster",
        pointer: "/metrics/deliveries_per_server_cpu_sec",
        label: "deliveries per server CPU-second",
        better: Better::Higher,
    },
];

/// Result documents by case, then server.
type Results = BTreeMap<String, BTreeMap<String, Value>>;

fn load(dir: &Path) -> Result<Results> {
    let mut out: Results = BTreeMap::new();
    let entries = std::fs::read_dir(dir).with_context(|| format!("read {}", dir.display()))?;
    for entry in entries.flatten() {
        let path = entry.path();
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        if !name.ends_with(".json") || !name.contains("--") {
            continue;
        }
        let text = std::fs::read_to_string(&path).with_context(|| format!("read {name}"))?;
        let doc: Value = serde_json::from_str(&text).with_context(|| format!("parse {name}"))?;
        let case = doc
            .get("case")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let server = doc
            .get("server")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        out.entry(case).or_default().insert(server, doc);
    }
    Ok(out)
}

fn servers(results: &Results) -> Vec<String> {
    let mut all: Vec<String> = results.values().flat_map(|m| m.keys().cloned()).collect();
    all.sort();
    all.dedup();
    let mut ordered: Vec<String> = SERVER_ORDER
        .iter()
        .filter(|s| all.iter().any(|a| a == *s))
        .map(|s| (*s).to_owned())
        .collect();
    ordered.extend(
        all.into_iter()
            .filter(|a| !SERVER_ORDER.contains(&a.as_str())),
    );
    ordered
}

fn value(results: &Results, case: &str, server: &str, pointer: &str) -> Option<f64> {
    results.get(case)?.get(server)?.pointer(pointer)?.as_f64()
}

/// Formats a figure: thousands separated, fewer decimals for bigger values.
pub fn fmt_num(x: f64) -> String {
    if !x.is_finite() {
        return "–".into();
    }
    let abs = x.abs();
    if abs >= 1000.0 {
        let rounded = x.round() as i64;
        let digits = rounded.unsigned_abs().to_string();
        let mut out = String::new();
        for (i, c) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i).is_multiple_of(3) {
                out.push(',');
            }
            out.push(c);
        }
        if rounded < 0 {
            out.insert(0, '-');
        }
        out
    } else if abs >= 100.0 || x == x.trunc() {
        format!("{x:.0}")
    } else if abs >= 10.0 {
        format!("{x:.1}")
    } else {
        format!("{x:.2}")
    }
}

fn fmt_ratio(r: Option<f64>) -> String {
    match r {
        Some(r) if r >= 10.0 => format!("{r:.0}×"),
        Some(r) if r >= 1.0 => format!("{r:.1}×"),
        Some(r) => format!("{r:.2}×"),
        None => "–".into(),
    }
}

fn case_description(results: &Results, case: &str) -> String {
    let Some(doc) = results
        .get(case)
        .and_then(|m| m.get("iorelay").or_else(|| m.values().next()))
    else {
        return case.into();
    };
    let p = |ptr: &str| doc.pointer(ptr).and_then(Value::as_f64).unwrap_or(0.0);
    let clients = fmt_num(p("/params/common/clients"));
    let polling = p("/params/common/polling_share");
    let polling = if polling > 0.0 {
        format!(", {:.0}% long-polling", polling * 100.0)
    } else {
        String::new()
    };
    match case {
        "idle" => format!(
            "idle: {clients} WebSocket connections held {} s",
            fmt_num(p("/params/hold_secs"))
        ),
        "fanout-latency" | "fanout-throughput" | "cluster" => {
            let urls = doc
                .pointer("/params/common/urls")
                .and_then(Value::as_array)
                .map_or(1, Vec::len);
            let nodes = if urls > 1 {
                format!(" over {urls} nodes")
            } else {
                String::new()
            };
            format!(
                "{case}: {clients} subscribers in one room{nodes}{polling}, 1 publisher at {}/s for {} s",
                fmt_num(p("/params/rate")),
                fmt_num(p("/params/secs"))
            )
        }
        "chat" => format!(
            "chat: {clients} clients{polling}, rooms of {}, {} msg/s each for {} s, acks awaited",
            fmt_num(p("/params/room_size")),
            fmt_num(p("/params/rate_per_client")),
            fmt_num(p("/params/secs"))
        ),
        other => other.into(),
    }
}

/// Issue #15's notification fan-out: Socket.IO beside SSE, iorelay only.
fn notify_section(results: &Results) -> String {
    let rows: Vec<(&str, &Value)> = ["socketio", "sse"]
        .iter()
        .filter_map(|t| {
            let doc = results.get(&format!("notify-fanout-{t}"))?.get("iorelay")?;
            Some((*t, doc))
        })
        .collect();
    let Some((_, first)) = rows.first() else {
        return String::new();
    };
    let p = |doc: &Value, ptr: &str| doc.pointer(ptr).and_then(Value::as_f64);
    let cell = |v: Option<f64>| v.map(fmt_num).unwrap_or_else(|| "–".into());
    let mut out = format!(
        "\nNotification fan-out (issue #15): one topic, 1 publisher (`POST /api/v1/notify`) at {}/s for {} s:\n\n",
        cell(p(first, "/params/rate")),
        cell(p(first, "/params/secs"))
    );
    out.push_str("| transport | subscribers | delivered / expected | loss % | p50 ms | p99 ms | max ms | server CPU s | RSS KiB / subscriber |\n");
    out.push_str("|---|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for (transport, doc) in rows {
        let _ = writeln!(
            out,
            "| {} | {} | {} / {} | {} | {} | {} | {} | {} | {} |",
            if transport == "sse" {
                "SSE (`/sse/notifications`)"
            } else {
                "Socket.IO (`/notifications`)"
            },
            cell(p(doc, "/metrics/subscribers")),
            cell(p(doc, "/metrics/received")),
            cell(p(doc, "/metrics/expected")),
            cell(p(doc, "/metrics/loss_pct")),
            cell(p(doc, "/latency/p50_ms")),
            cell(p(doc, "/latency/p99_ms")),
            cell(p(doc, "/latency/max_ms")),
            cell(p(doc, "/metrics/server_cpu_secs")),
            cell(p(doc, "/metrics/rss_per_subscriber_kib")),
        );
    }
    out
}

/// The Markdown results table.
fn table(results: &Results) -> String {
    let servers = servers(results);
    let peers: Vec<&str> = RATIO_PEERS
        .iter()
        .copied()
        .filter(|p| servers.iter().any(|s| s == p))
        .collect();
    let mut out = String::new();
    let _ = write!(out, "| metric |");
    for s in &servers {
        let _ = write!(out, " {s} |");
    }
    for p in &peers {
        let _ = write!(out, " iorelay/{p} |");
    }
    out.push('\n');
    let _ = write!(out, "|---|");
    for _ in 0..servers.len() + peers.len() {
        out.push_str("---:|");
    }
    out.push('\n');
    let mut current_case = "";
    for row in ROWS {
        if !results.contains_key(row.case) {
            continue;
        }
        let values: Vec<Option<f64>> = servers
            .iter()
            .map(|s| value(results, row.case, s, row.pointer))
            .collect();
        if values.iter().all(Option::is_none) {
            continue;
        }
        if row.case != current_case {
            current_case = row.case;
            let _ = write!(out, "| **{}** |", case_description(results, row.case));
            for _ in 0..servers.len() + peers.len() {
                out.push_str(" |");
            }
            out.push('\n');
        }
        let arrow = match row.better {
            Better::Higher => "↑",
            Better::Lower => "↓",
        };
        let _ = write!(out, "| {} {arrow} |", row.label);
        for v in &values {
            let _ = write!(out, " {} |", v.map(fmt_num).unwrap_or_else(|| "–".into()));
        }
        let ours = value(results, row.case, "iorelay", row.pointer);
        for p in &peers {
            let theirs = value(results, row.case, p, row.pointer);
            let _ = write!(out, " {} |", fmt_ratio(ratio(ours, theirs)));
        }
        out.push('\n');
    }
    out
}

/// Fan-out latency by room size: the `fanout-size-*` cases and
/// `fanout-latency`, one row per subscriber count, p50 / p99 per server.
fn size_table(results: &Results) -> String {
    let mut cases: Vec<(f64, &str)> = results
        .iter()
        .filter(|(case, _)| case.starts_with("fanout-size-") || *case == "fanout-latency")
        .filter_map(|(case, docs)| {
            let subs = docs
                .values()
                .find_map(|d| d.pointer("/params/common/clients")?.as_f64())?;
            Some((subs, case.as_str()))
        })
        .collect();
    if cases.len() < 2 {
        return String::new();
    }
    cases.sort_by(|a, b| a.0.total_cmp(&b.0));
    let servers = servers(results);
    let mut out = String::from("| subscribers |");
    for s in &servers {
        let _ = write!(out, " {s} p50 / p99, ms |");
    }
    out.push_str("\n|---:|");
    for _ in &servers {
        out.push_str("---:|");
    }
    out.push('\n');
    for (subs, case) in cases {
        let _ = write!(out, "| {} |", fmt_num(subs));
        for s in &servers {
            let p50 = value(results, case, s, "/latency/p50_ms");
            let p99 = value(results, case, s, "/latency/p99_ms");
            let loss = value(results, case, s, "/metrics/loss_pct").unwrap_or(0.0);
            let show = |x: Option<f64>| x.map(fmt_num).unwrap_or_else(|| "–".into());
            let cell = match (p50, p99) {
                (None, None) => "–".into(),
                _ if loss > 1.0 => {
                    format!("{} / {} ({}% lost)", show(p50), show(p99), fmt_num(loss))
                }
                _ => format!("{} / {}", show(p50), show(p99)),
            };
            let _ = write!(out, " {cell} |");
        }
        out.push('\n');
    }
    out
}

/// The largest room (subscribers) whose p99 fan-out latency met `limit_ms`.
fn largest_room_within(results: &Results, server: &str, limit_ms: f64) -> Option<f64> {
    results
        .iter()
        .filter(|(case, _)| case.starts_with("fanout-size-") || *case == "fanout-latency")
        .filter_map(|(case, _)| {
            let p99 = value(results, case, server, "/latency/p99_ms")?;
            let subs = value(results, case, server, "/params/common/clients")?;
            (p99 <= limit_ms).then_some(subs)
        })
        .max_by(f64::total_cmp)
}

/// The targets of the benchmark issue, checked against the results.
fn targets(results: &Results) -> String {
    let v = |case: &str, server: &str, ptr: &str| value(results, case, server, ptr);
    let mut out = String::from("| target | measured | met |\n|---|---|:-:|\n");
    let mut line = |target: &str, measured: String, met: Option<bool>| {
        let mark = match met {
            Some(true) => "yes",
            Some(false) => "no",
            None => "n/a",
        };
        let _ = writeln!(out, "| {target} | {measured} | {mark} |");
    };
    let tp = "/metrics/deliveries_per_sec";
    let ours = v("fanout-throughput", "iorelay", tp);
    for (peer, want) in [("node", 3.0), ("python", 20.0)] {
        let r = ratio(ours, v("fanout-throughput", peer, tp));
        line(
            &format!("fan-out deliveries/s ≥ {want}× {peer}"),
            r.map(|r| format!("{r:.2}×")).unwrap_or_else(|| "–".into()),
            r.map(|r| r >= want),
        );
    }
    let eff = "/metrics/deliveries_per_server_cpu_sec";
    let ours_eff = v("fanout-throughput", "iorelay", eff);
    for (peer, want) in [("node", 3.0), ("python", 20.0)] {
        let r = ratio(ours_eff, v("fanout-throughput", peer, eff));
        line(
            &format!("(same, per server CPU-second) ≥ {want}× {peer}"),
            r.map(|r| format!("{r:.2}×")).unwrap_or_else(|| "–".into()),
            r.map(|r| r >= want),
        );
    }
    let rss = v("idle", "iorelay", "/metrics/rss_per_conn_kib");
    let held = v("idle", "iorelay", "/metrics/connected");
    line(
        "≤ 12 KB server RSS per idle WebSocket connection at 19,000 connections",
        match (rss, held) {
            (Some(r), Some(h)) => format!("{} KiB at {} connections", fmt_num(r), fmt_num(h)),
            _ => "–".into(),
        },
        rss.map(|r| r * 1024.0 <= 12_000.0),
    );
    let p99 = v("fanout-latency", "iorelay", "/latency/p99_ms");
    let subs = v("fanout-latency", "iorelay", "/metrics/subscribers");
    let mut measured = match (p99, subs) {
        (Some(p), Some(s)) => format!("{} ms with {} clients", fmt_num(p), fmt_num(s)),
        _ => "–".into(),
    };
    if let Some(c) = v("fanout-latency", "ceiling", "/latency/p99_ms") {
        let _ = write!(measured, " (raw WebSocket ceiling: {} ms)", fmt_num(c));
    }
    if let Some(n) = largest_room_within(results, "iorelay", 25.0) {
        let _ = write!(measured, "; ≤ 25 ms up to {} clients", fmt_num(n));
    }
    // Smaller runs (--quick) report the figure but cannot meet or miss the target.
    let at_size = subs.is_some_and(|s| s >= 10_000.0);
    line(
        "p99 fan-out latency ≤ 25 ms, 10,000 clients at 10 broadcasts/s",
        measured,
        p99.filter(|_| at_size).map(|p| p <= 25.0),
    );
    let r = ratio(ours, v("fanout-throughput", "ceiling", tp));
    line(
        "fan-out within 70% of the raw WebSocket ceiling",
        r.map(|r| format!("{:.0}% of the ceiling", r * 100.0))
            .unwrap_or_else(|| "–".into()),
        r.map(|r| r >= 0.7),
    );
    let r = ratio(ours_eff, v("fanout-throughput", "ceiling", eff));
    line(
        "(same, per server CPU-second)",
        r.map(|r| format!("{:.0}% of the ceiling", r * 100.0))
            .unwrap_or_else(|| "–".into()),
        r.map(|r| r >= 0.7),
    );
    out
}

fn machine_line(dir: &Path) -> String {
    machine_line_of(&dir.join("machine.json"))
}

/// The machine line of one machine file (`machine.json`, `machine-<case>.json`).
fn machine_line_of(path: &Path) -> String {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let Ok(text) = std::fs::read_to_string(path) else {
        return format!("machine: unknown (no {name})");
    };
    let Ok(m) = serde_json::from_str::<Value>(&text) else {
        return format!("machine: unreadable {name}");
    };
    let s = |k: &str| {
        m.get(k)
            .map(|v| v.to_string().trim_matches('"').to_owned())
            .unwrap_or_default()
    };
    let mut line = format!(
        "{} × {} ({} online), {} GiB RAM, Linux {}, {}",
        s("nproc"),
        s("cpu_model"),
        s("nproc"),
        s("mem_gib"),
        s("kernel"),
        s("os")
    );
    if let Some(extra) = m.get("versions").and_then(Value::as_object) {
        let parts: Vec<String> = extra
            .iter()
            .map(|(k, v)| format!("{k} {}", v.as_str().unwrap_or_default()))
            .collect();
        if !parts.is_empty() {
            let _ = write!(line, "; {}", parts.join(", "));
        }
    }
    line
}

/// Prints the table, the targets and the machine; writes summary.md and chart.svg.
pub fn run(dir: &Path) -> Result<()> {
    let results = load(dir)?;
    if results.is_empty() {
        anyhow::bail!("no result files (*--*.json) in {}", dir.display());
    }
    let mut md = String::new();
    let main_cases = ROWS.iter().any(|r| results.contains_key(r.case));
    if main_cases {
        let _ = writeln!(md, "Machine: {}\n", machine_line(dir));
        md.push_str(&table(&results));
        let sizes = size_table(&results);
        if !sizes.is_empty() {
            md.push_str("\nFan-out latency by room size (1 publisher at 10 broadcasts/s):\n\n");
            md.push_str(&sizes);
        }
        md.push_str("\nTargets:\n\n");
        md.push_str(&targets(&results));
    }
    md.push_str(&delivery::section(&results, dir));
    md.push_str(&notify_section(&results));
    let pending: Vec<String> = results
        .get("cluster")
        .map(|m| {
            m.iter()
                .filter(|(_, d)| d.get("pending").is_some())
                .map(|(s, d)| format!("{s}: {}", d["pending"].as_str().unwrap_or("pending")))
                .collect()
        })
        .unwrap_or_default();
    if !pending.is_empty() {
        let _ = writeln!(md, "\nPending: {}", pending.join("; "));
    }
    print!("{md}");
    std::fs::write(dir.join("summary.md"), &md).context("write summary.md")?;
    if main_cases {
        let svg = chart(&results, &machine_line(dir));
        std::fs::write(dir.join("chart.svg"), svg).context("write chart.svg")?;
        println!("\nwrote {0}/summary.md and {0}/chart.svg", dir.display());
    } else {
        println!("\nwrote {}/summary.md", dir.display());
    }
    Ok(())
}

fn color(server: &str) -> &'static str {
    match server {
        "iorelay" => "#d9480f",
        "node" => "#2f9e44",
        "python" => "#1971c2",
        "ceiling" => "#868e96",
        _ => "#7048e8",
    }
}

struct Panel {
    title: String,
    case: &'static str,
    pointer: &'static str,
    log: bool,
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// A 2×2 SVG bar chart of the headline figures.
fn chart(results: &Results, machine: &str) -> String {
    let servers = servers(results);
    let sub = |case: &str| case_description(results, case);
    let panels = [
        Panel {
            title: "Fan-out throughput, deliveries/s (higher is better)".into(),
            case: "fanout-throughput",
            pointer: "/metrics/deliveries_per_sec",
            log: false,
        },
        Panel {
            title: "Fan-out p99 latency, ms (lower is better, log)".into(),
            case: "fanout-latency",
            pointer: "/latency/p99_ms",
            log: true,
        },
        Panel {
            title: "Server RSS per idle connection, KiB (lower is better)".into(),
            case: "idle",
            pointer: "/metrics/rss_per_conn_kib",
            log: false,
        },
        Panel {
            title: "Chat ack latency p99, ms (lower is better, log)".into(),
            case: "chat",
            pointer: "/ack_latency/p99_ms",
            log: true,
        },
        Panel {
            title: "Fan-out deliveries per server CPU-second".into(),
            case: "fanout-throughput",
            pointer: "/metrics/deliveries_per_server_cpu_sec",
            log: false,
        },
        Panel {
            title: "Cluster (3 nodes + Redis) p99 latency, ms (log)".into(),
            case: "cluster",
            pointer: "/latency/p99_ms",
            log: true,
        },
    ];
    let (pw, ph) = (400.0, 280.0);
    let cols = 3usize;
    let rows = panels.len().div_ceil(cols);
    let width = pw * cols as f64 + 15.0 * (cols as f64 + 1.0);
    let height = (ph + 10.0) * rows as f64 + 95.0;
    let mut svg = String::new();
    let _ = writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" font-family="Helvetica, Arial, sans-serif" font-size="12">"#
    );
    let _ = writeln!(
        svg,
        r##"<rect width="100%" height="100%" fill="#ffffff"/>"##
    );
    let _ = writeln!(
        svg,
        r#"<text x="15" y="24" font-size="16" font-weight="bold">iorelay vs Node socket.io vs python-socketio vs raw WebSocket ceiling</text>"#
    );
    let (hw, sw) = machine.split_once("; ").unwrap_or((machine, ""));
    let _ = writeln!(
        svg,
        r##"<text x="15" y="40" fill="#555">{}</text>"##,
        xml_escape(hw)
    );
    let _ = writeln!(
        svg,
        r##"<text x="15" y="54" fill="#555" font-size="10">{}</text>"##,
        xml_escape(sw)
    );
    // Legend.
    let mut lx = 15.0;
    for s in &servers {
        let _ = writeln!(
            svg,
            r#"<rect x="{lx}" y="60" width="12" height="12" fill="{}"/><text x="{}" y="70">{}</text>"#,
            color(s),
            lx + 16.0,
            xml_escape(s)
        );
        lx += 24.0 + 8.0 * s.len() as f64;
    }
    for (i, panel) in panels.iter().enumerate() {
        let ox = 15.0 + (i % cols) as f64 * (pw + 15.0);
        let oy = 80.0 + (i / cols) as f64 * (ph + 10.0);
        let _ = writeln!(
            svg,
            r##"<rect x="{ox}" y="{oy}" width="{pw}" height="{ph}" fill="#f8f9fa" stroke="#dee2e6"/>"##
        );
        let _ = writeln!(
            svg,
            r#"<text x="{}" y="{}" font-weight="bold">{}</text>"#,
            ox + 10.0,
            oy + 20.0,
            xml_escape(&panel.title)
        );
        let _ = writeln!(
            svg,
            r##"<text x="{}" y="{}" fill="#555" font-size="10">{}</text>"##,
            ox + 10.0,
            oy + 36.0,
            xml_escape(&sub(panel.case))
        );
        let vals: Vec<(String, f64)> = servers
            .iter()
            .filter_map(|s| value(results, panel.case, s, panel.pointer).map(|v| (s.clone(), v)))
            .collect();
        if vals.is_empty() {
            let _ = writeln!(
                svg,
                r##"<text x="{}" y="{}" fill="#999">no data</text>"##,
                ox + pw / 2.0 - 25.0,
                oy + ph / 2.0
            );
            continue;
        }
        let scale = |v: f64| {
            if panel.log {
                (v.max(0.1) * 10.0).log10()
            } else {
                v
            }
        };
        let max = vals
            .iter()
            .map(|(_, v)| scale(*v))
            .fold(0.0_f64, f64::max)
            .max(1e-9);
        let base_y = oy + ph - 30.0;
        let top = oy + 55.0;
        let slot = (pw - 40.0) / vals.len() as f64;
        let bw = (slot * 0.6).min(70.0);
        let _ = writeln!(
            svg,
            r##"<line x1="{}" y1="{base_y}" x2="{}" y2="{base_y}" stroke="#adb5bd"/>"##,
            ox + 20.0,
            ox + pw - 20.0
        );
        for (j, (server, v)) in vals.iter().enumerate() {
            let h = (scale(*v) / max).max(0.0) * (base_y - top);
            let x = ox + 20.0 + slot * j as f64 + (slot - bw) / 2.0;
            let y = base_y - h;
            let _ = writeln!(
                svg,
                r#"<rect x="{x:.1}" y="{y:.1}" width="{bw:.1}" height="{h:.1}" fill="{}"/>"#,
                color(server)
            );
            let _ = writeln!(
                svg,
                r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
                x + bw / 2.0,
                y - 4.0,
                fmt_num(*v)
            );
            let _ = writeln!(
                svg,
                r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
                x + bw / 2.0,
                base_y + 16.0,
                xml_escape(server)
            );
        }
    }
    svg.push_str("</svg>\n");
    svg
}

/// Writes CPU model, cores, memory, kernel and OS (and `name=version` extras) as JSON.
pub fn write_machine(out: &Path, versions: &[(String, String)]) -> Result<()> {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu_model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .and_then(|l| l.split_once(':'))
        .map(|(_, v)| v.trim().to_owned())
        .unwrap_or_else(|| "unknown".into());
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let mem_kib: u64 = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_owned())
        .unwrap_or_default();
    let os = std::fs::read_to_string("/etc/os-release")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("PRETTY_NAME="))
        .map(|v| v.trim_matches('"').to_owned())
        .unwrap_or_default();
    let nproc = std::thread::available_parallelism().map_or(0, usize::from);
    let versions: serde_json::Map<String, Value> = versions
        .iter()
        .map(|(k, v)| (k.clone(), json!(v)))
        .collect();
    let doc = json!({
        "nproc": nproc,
        "cpu_model": cpu_model,
        "mem_gib": (mem_kib as f64 / 1024.0 / 1024.0 * 10.0).round() / 10.0,
        "kernel": kernel,
        "os": os,
        "versions": versions,
    });
    if let Some(parent) = out.parent() {
        std::fs::create_dir_all(parent).ok();
    }
    std::fs::write(out, serde_json::to_string_pretty(&doc)? + "\n")
        .with_context(|| format!("write {}", out.display()))?;
    println!("{}", serde_json::to_string(&doc)?);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(case: &str, server: &str, dps: f64, p99: f64) -> Value {
        json!({
            "case": case, "server": server,
            "params": {"common": {"clients": 10000}, "rate": 10, "secs": 20},
            "metrics": {"deliveries_per_sec": dps, "subscribers": 10000, "rss_per_conn_kib": 8.0},
            "latency": {"p99_ms": p99},
        })
    }

    fn sample() -> Results {
        let mut r: Results = BTreeMap::new();
        for (s, dps, p99) in [
            ("python", 10_000.0, 900.0),
            ("iorelay", 300_000.0, 9.0),
            ("node", 90_000.0, 30.0),
            ("ceiling", 400_000.0, 4.0),
        ] {
            r.entry("fanout-throughput".into())
                .or_default()
                .insert(s.into(), doc("fanout-throughput", s, dps, p99));
            r.entry("fanout-latency".into())
                .or_default()
                .insert(s.into(), doc("fanout-latency", s, dps, p99));
        }
        r
    }

    #[test]
    fn numbers_are_readable() {
        assert_eq!(fmt_num(1_234_567.4), "1,234,567");
        assert_eq!(fmt_num(-1234.0), "-1,234");
        assert_eq!(fmt_num(999.6), "1000");
        assert_eq!(fmt_num(12.345), "12.3");
        assert_eq!(fmt_num(1.234), "1.23");
        assert_eq!(fmt_num(3.0), "3");
        assert_eq!(fmt_num(f64::NAN), "–");
        assert_eq!(fmt_ratio(Some(30.0)), "30×");
        assert_eq!(fmt_ratio(Some(3.33)), "3.3×");
        assert_eq!(fmt_ratio(Some(0.5)), "0.50×");
        assert_eq!(fmt_ratio(None), "–");
    }

    #[test]
    fn servers_in_fixed_order() {
        assert_eq!(
            servers(&sample()),
            vec!["iorelay", "node", "python", "ceiling"]
        );
    }

    #[test]
    fn table_has_ratios() {
        let t = table(&sample());
        assert!(t.starts_with("| metric | iorelay | node | python | ceiling | iorelay/node |"));
        let line = t
            .lines()
            .find(|l| l.starts_with("| deliveries/s"))
            .expect("deliveries row");
        assert!(line.contains("300,000"), "{line}");
        assert!(line.contains("3.3×"), "{line}");
        assert!(line.contains("30×"), "{line}");
        assert!(line.contains("0.75×"), "{line}");
    }

    #[test]
    fn targets_are_checked() {
        let t = targets(&sample());
        assert!(
            t.contains("| fan-out deliveries/s ≥ 3× node | 3.33× | yes |"),
            "{t}"
        );
        assert!(
            t.contains("| fan-out deliveries/s ≥ 20× python | 30.00× | yes |"),
            "{t}"
        );
        assert!(t.contains("75% of the ceiling | yes |"), "{t}");
        assert!(
            t.contains("9 ms with 10,000 clients (raw WebSocket ceiling: 4 ms); ≤ 25 ms up to 10,000 clients | yes |"),
            "{t}"
        );
        assert!(t.contains("| – | n/a |"), "no idle data: {t}");

        let mut small = sample();
        for docs in small.values_mut() {
            for d in docs.values_mut() {
                d["metrics"]["subscribers"] = json!(1000);
            }
        }
        let t = targets(&small);
        assert!(t.contains("9 ms with 1,000 clients"), "{t}");
        assert!(
            t.contains("up to 10,000 clients | n/a |"),
            "a small run is not judged: {t}"
        );
    }

    #[test]
    fn latency_by_room_size() {
        let mut r = sample();
        for (size, p99) in [(1000.0, 4.0), (5000.0, 40.0)] {
            let mut d = doc("x", "iorelay", 1.0, p99);
            d["params"]["common"]["clients"] = json!(size);
            d["latency"]["p50_ms"] = json!(p99 / 2.0);
            r.entry(format!("fanout-size-{size}"))
                .or_default()
                .insert("iorelay".into(), d);
        }
        let t = size_table(&r);
        let rows: Vec<&str> = t.lines().skip(2).collect();
        assert_eq!(rows.len(), 3, "{t}");
        assert!(rows[0].starts_with("| 1,000 | 2 / 4 |"), "{t}");
        assert!(rows[1].starts_with("| 5,000 | 20 / 40 |"), "{t}");
        assert!(rows[2].starts_with("| 10,000 | – / 9 |"), "{t}");
        assert_eq!(largest_room_within(&r, "iorelay", 25.0), Some(10_000.0));
        assert_eq!(largest_room_within(&r, "iorelay", 5.0), Some(1000.0));
        assert_eq!(largest_room_within(&r, "iorelay", 1.0), None);
        assert!(size_table(&BTreeMap::new()).is_empty());
    }

    #[test]
    fn chart_is_svg_with_every_server() {
        let svg = chart(&sample(), "test machine");
        assert!(svg.starts_with("<svg"));
        assert!(svg.trim_end().ends_with("</svg>"));
        for s in ["iorelay", "node", "python", "ceiling", "no data"] {
            assert!(svg.contains(s), "{s}");
        }
    }
}
