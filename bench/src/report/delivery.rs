//! The report's section on issue #12's delivery cases: join-storm (one table
//! row per room size, members' client and server) and slow-consumer, with the
//! issue's targets checked beside the numbers.

use std::fmt::Write as _;
use std::path::Path;

use serde_json::Value;

use super::{Results, fmt_num, machine_line_of, servers};

/// What issue #12 reported with 1,000 socket.io-client members, for reference.
const ISSUE_REPORTED: &str = "Issue #12 reported (1,000 socket.io-client members, 50 msg/s for 10 s): \
iorelay lost 4.1–6.3 %, p50 326–444 ms, p99 6.9–7.6 s, ~220 KB RSS per connection; \
Node socket.io 0 lost, 13 / 90 ms, 28 KB; Flask-SocketIO 0 lost, 41 / 130 ms, 56 KB.";

/// Presence bytes per member may grow this much faster than the room and still count as linear.
const LINEAR_SLACK: f64 = 1.5;

/// Server RSS counts as bounded while the kernel holds no more of the slow
/// member's data if it grows at most this much faster than before the pause…
const RSS_SLOPE_FACTOR: f64 = 1.5;
/// … plus this many KiB/s (allocator noise).
const RSS_SLOPE_SLACK: f64 = 64.0;

/// Which client played the members of a case (the load tool's cases end in `-rust`).
fn members_client(case: &str) -> &'static str {
    if case.ends_with("-rust") {
        "iorelay-bench"
    } else {
        "socket.io-client"
    }
}

fn get<'a>(results: &'a Results, case: &str, server: &str, ptr: &str) -> Option<&'a Value> {
    results
        .get(case)?
        .get(server)?
        .pointer(ptr)
        .filter(|v| !v.is_null())
}

fn num(results: &Results, case: &str, server: &str, ptr: &str) -> Option<f64> {
    get(results, case, server, ptr)?.as_f64()
}

fn show(x: Option<f64>) -> String {
    x.map(fmt_num).unwrap_or_else(|| "–".into())
}

/// Bytes as B, KiB or MiB.
pub fn fmt_bytes(b: f64) -> String {
    if b >= 1024.0 * 1024.0 {
        format!("{} MiB", fmt_num(b / 1024.0 / 1024.0))
    } else if b >= 10.0 * 1024.0 {
        format!("{} KiB", fmt_num(b / 1024.0))
    } else {
        format!("{} B", fmt_num(b))
    }
}

fn mark(met: Option<bool>) -> &'static str {
    match met {
        Some(true) => "yes",
        Some(false) => "no",
        None => "n/a",
    }
}

/// The join-storm and slow-consumer cases present, smallest room first, real clients first.
fn cases<'a>(results: &'a Results, prefix: &str) -> Vec<&'a str> {
    let mut out: Vec<(f64, bool, &str)> = results
        .iter()
        .filter(|(case, _)| case.starts_with(prefix))
        .map(|(case, docs)| {
            let size = docs
                .values()
                .find_map(|d| d.pointer("/params/common/clients")?.as_f64())
                .unwrap_or(0.0);
            (size, case.ends_with("-rust"), case.as_str())
        })
        .collect();
    out.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    out.into_iter().map(|(_, _, c)| c).collect()
}

fn lost_cell(results: &Results, case: &str, server: &str, prefix: &str) -> String {
    let lost = num(results, case, server, &format!("{prefix}/lost"));
    let pct = num(results, case, server, &format!("{prefix}/loss_pct"));
    match (lost, pct) {
        (Some(0.0), _) => "0".into(),
        (Some(l), Some(p)) => format!("{} ({}%)", fmt_num(l), fmt_num(p)),
        _ => "–".into(),
    }
}

fn machine(dir: &Path, case: &str) -> String {
    let own = dir.join(format!("machine-{case}.json"));
    machine_line_of(&if own.is_file() {
        own
    } else {
        dir.join("machine.json")
    })
}

fn join_storm_table(results: &Results, cases: &[&str]) -> String {
    let mut out = String::from(
        "| members | members' client | server | joined / failed | lost | p50 / p99, ms | RSS per conn. peak / after, KiB | presence per member mean / max (per event) | slow-consumer disconnects | members disconnected | members' busiest process stalled, ms | load avg |\n\
         |---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for case in cases {
        for server in servers(results) {
            let Some(doc) = results.get(*case).and_then(|m| m.get(&server)) else {
                continue;
            };
            let n = |p: &str| num(results, case, &server, p);
            let clients = n("/params/common/clients");
            let cell = match doc.get("pending").and_then(Value::as_str) {
                Some(why) => format!("pending: {why} | | | | | | | | |"),
                None => format!(
                    "{} / {} | {} | {} / {} | {} / {} | {} / {} ({}) | {} | {} | {} | {} |",
                    show(n("/metrics/members")),
                    show(n("/metrics/connect_failures")),
                    lost_cell(results, case, &server, "/metrics"),
                    show(n("/latency/p50_ms")),
                    show(n("/latency/p99_ms")),
                    show(n("/metrics/rss_peak_per_conn_kib")),
                    show(n("/metrics/rss_after_per_conn_kib")),
                    n("/metrics/presence_bytes_mean").map_or_else(|| "–".into(), fmt_bytes),
                    n("/metrics/presence_bytes_max").map_or_else(|| "–".into(), fmt_bytes),
                    presence_per_event(results, case, &server)
                        .map_or_else(|| "–".into(), fmt_bytes),
                    n("/metrics/slow_consumer_disconnects").map_or_else(|| "n/a".into(), fmt_num),
                    show(n("/metrics/members_disconnected")),
                    show(n("/metrics/members_loop_lag_max_ms")),
                    doc.pointer("/loadavg/0")
                        .and_then(Value::as_f64)
                        .map_or_else(|| "–".into(), fmt_num),
                ),
            };
            let _ = writeln!(
                out,
                "| {} | {} | {server} | {cell}",
                show(clients),
                members_client(case)
            );
        }
    }
    out
}

fn slow_consumer_table(results: &Results, cases: &[&str]) -> String {
    let mut out = String::from(
        "| members | members' client | server | bystanders lost | bystanders p50 / p99, ms | slow member stopped reading | kernel send queue full, s into the pause (max) | disconnected (reason; noticed, s after publishing began) | server dropped it, s into the pause (reasons; slow-consumer disconnects) | gaps at the end (without catch-up) | server RSS growth before the pause → while the kernel was full, KiB/s |\n\
         |---:|---|---|---:|---:|---|---|---|---:|---:|---:|\n",
    );
    let sm = "/metrics/slow_member";
    let pause = "/metrics/rss_during_pause";
    for case in cases {
        for server in servers(results) {
            if results.get(*case).and_then(|m| m.get(&server)).is_none() {
                continue;
            }
            let n = |p: &str| num(results, case, &server, p);
            let s = |p: &str| get(results, case, &server, &format!("{sm}/{p}"));
            let secs = |ms: Option<f64>| ms.map_or_else(|| "n/a".into(), |ms| fmt_num(ms / 1000.0));
            let stopped = match s("stopped_reading").and_then(Value::as_bool) {
                Some(true) => "yes (0 bytes read after 1 s)".into(),
                Some(false) => format!(
                    "no ({} read after 1 s)",
                    s("bytes_read_after_first_second_of_pause")
                        .and_then(Value::as_f64)
                        .map_or_else(|| "?".into(), fmt_bytes)
                ),
                None if s("paused").and_then(Value::as_bool) == Some(true) => {
                    "yes (does not read)".into()
                }
                None => format!(
                    "no: {}",
                    s("pause_error").and_then(Value::as_str).unwrap_or("?")
                ),
            };
            let kernel = format!(
                "{} ({})",
                n(&format!("{pause}/kernel_full_ms_after_pause"))
                    .map_or_else(|| "never".into(), |ms| fmt_num(ms / 1000.0)),
                n(&format!("{pause}/max_send_queue_bytes")).map_or_else(|| "–".into(), fmt_bytes)
            );
            let disconnected = if s("disconnected").and_then(Value::as_bool) == Some(true) {
                format!(
                    "yes ({}; {})",
                    s("disconnect_reason")
                        .and_then(Value::as_str)
                        .unwrap_or("?"),
                    secs(s("noticed_disconnect_at_ms").and_then(Value::as_f64))
                )
            } else {
                "no".into()
            };
            let gaps = format!(
                "{} ({})",
                show(s("gaps").and_then(Value::as_f64)),
                show(s("gaps_without_catch_up").and_then(Value::as_f64))
            );
            let rss = format!(
                "{} → {}",
                show(n(&format!("{pause}/slope_before_pause_kib_per_s"))),
                show(n(&format!("{pause}/slope_while_kernel_full_kib_per_s")))
            );
            let _ = writeln!(
                out,
                "| {} | {} | {server} | {} | {} / {} | {stopped} | {kernel} | {disconnected} | {} | {gaps} | {rss} |",
                show(n("/params/common/clients")),
                members_client(case),
                lost_cell(results, case, &server, "/metrics"),
                show(n("/latency/p50_ms")),
                show(n("/latency/p99_ms")),
                server_drop(results, case, &server),
            );
        }
    }
    out
}

/// Issue #12's targets for iorelay, one line per target and members' client.
fn targets(results: &Results) -> String {
    let mut out = String::from(
        "| target (issue #12) | members' client | iorelay measured | met |\n|---|---|---|:-:|\n",
    );
    let mut line = |target: &str, client: &str, measured: String, met: Option<bool>| {
        let _ = writeln!(out, "| {target} | {client} | {measured} | {} |", mark(met));
    };
    for suffix in ["", "-rust"] {
        let client = members_client(suffix);
        let n = |case: &str, p: &str| num(results, &format!("{case}{suffix}"), "iorelay", p);
        let lost = |case: &str| {
            let l = n(case, "/metrics/lost");
            let failed = n(case, "/metrics/connect_failures").unwrap_or(0.0);
            let text = match l {
                Some(l) => format!(
                    "{} lost ({}%), {} connect failures",
                    fmt_num(l),
                    fmt_num(n(case, "/metrics/loss_pct").unwrap_or(0.0)),
                    fmt_num(failed)
                ),
                None => "–".into(),
            };
            (text, l.map(|l| l == 0.0 && failed == 0.0))
        };
        if results.contains_key(&format!("join-storm-1000{suffix}")) {
            let (text, met) = lost("join-storm-1000");
            line(
                "1,000 members, no pause: 0 messages lost",
                client,
                text,
                met,
            );
            let p99 = n("join-storm-1000", "/latency/p99_ms");
            line(
                "1,000 members: p99 ≤ 100 ms",
                client,
                p99.map_or_else(|| "–".into(), |p| format!("{} ms", fmt_num(p))),
                p99.map(|p| p <= 100.0),
            );
            let rss = n("join-storm-1000", "/metrics/rss_peak_per_conn_kib");
            line(
                "1,000 members: server RSS ≤ 40 KB per connection (peak)",
                client,
                rss.map_or_else(|| "–".into(), |r| format!("{} KiB", fmt_num(r))),
                rss.map(|r| r * 1024.0 <= 40_000.0),
            );
        }
        if results.contains_key(&format!("join-storm-5000{suffix}")) {
            let (text, met) = lost("join-storm-5000");
            line("5,000 members: 0 messages lost", client, text, met);
        }
        let (small, big) = (
            format!("join-storm-1000{suffix}"),
            format!("join-storm-5000{suffix}"),
        );
        if let Some((measured, met)) = presence_linear(results, &small, &big) {
            line(
                "presence bytes per member linear in room size (1,000 → 5,000 members)",
                client,
                measured,
                met,
            );
        }
        let sc = format!("slow-consumer{suffix}");
        if results.contains_key(&sc) {
            let (text, met) = lost("slow-consumer");
            line("slow consumer: bystanders lose 0", client, text, met);
            let before = n(
                "slow-consumer",
                "/metrics/rss_during_pause/slope_before_pause_kib_per_s",
            );
            let full = n(
                "slow-consumer",
                "/metrics/rss_during_pause/slope_while_kernel_full_kib_per_s",
            );
            line(
                "slow consumer: server RSS bounded (once the kernel holds no more, it grows no faster than before the pause)",
                client,
                match (before, full) {
                    (Some(b), Some(f)) => format!(
                        "{} KiB/s before the pause, {} KiB/s while the kernel was full",
                        fmt_num(b),
                        fmt_num(f)
                    ),
                    (Some(_), None) => {
                        "the kernel held the whole pause: the server's buffers were not reached"
                            .into()
                    }
                    _ => "–".into(),
                },
                before
                    .zip(full)
                    .map(|(b, f)| f <= RSS_SLOPE_FACTOR * b.max(0.0) + RSS_SLOPE_SLACK),
            );
            let slow = |p: &str| {
                get(
                    results,
                    &sc,
                    "iorelay",
                    &format!("/metrics/slow_member/{p}"),
                )
            };
            let disconnected = slow("disconnected").and_then(Value::as_bool);
            let gaps = slow("gaps").and_then(Value::as_f64);
            let dropped_as_slow = n("slow-consumer", "/metrics/slow_consumer_disconnects");
            line(
                "slow consumer: disconnected for being slow, and after reconnecting has every message",
                client,
                format!(
                    "disconnected: {} (server: {}); gaps at the end: {} ({} without the catch-up)",
                    disconnected.map_or("–", |d| if d { "yes" } else { "no" }),
                    server_drop(results, &sc, "iorelay"),
                    show(gaps),
                    show(slow("gaps_without_catch_up").and_then(Value::as_f64)),
                ),
                disconnected
                    .zip(gaps)
                    .map(|(d, g)| d && g == 0.0 && dropped_as_slow.unwrap_or(0.0) >= 1.0),
            );
        }
    }
    out
}

/// Bytes per `presence` event received (mean).
fn presence_per_event(results: &Results, case: &str, server: &str) -> Option<f64> {
    let total = num(results, case, server, "/metrics/presence_bytes_total")?;
    let events = num(results, case, server, "/metrics/presence_events")?;
    (events > 0.0).then(|| total / events)
}

/// Whether a run delivered everything to everyone who asked to join.
fn clean(results: &Results, case: &str) -> bool {
    ["lost", "connect_failures", "members_disconnected"]
        .iter()
        .all(|k| num(results, case, "iorelay", &format!("/metrics/{k}")) == Some(0.0))
}

/// The linear-presence target: per-member bytes at 5× the members when both
/// runs were clean; otherwise (presence was dropped with the rest, so totals
/// are not comparable) the size of one event, which a linear design keeps flat.
fn presence_linear(results: &Results, small: &str, big: &str) -> Option<(String, Option<bool>)> {
    let mean = |case: &str| num(results, case, "iorelay", "/metrics/presence_bytes_mean");
    let (a, b) = (mean(small)?, mean(big)?);
    if clean(results, small) && clean(results, big) {
        let growth = (a > 0.0).then(|| b / a);
        let text = format!(
            "{} → {} per member{}",
            fmt_bytes(a),
            fmt_bytes(b),
            growth.map_or_else(String::new, |g| format!(
                ": ×{} for 5× the members (quadratic: ×25)",
                fmt_num(g)
            ))
        );
        return Some((text, Some(growth.is_none_or(|g| g <= 5.0 * LINEAR_SLACK))));
    }
    let (ea, eb) = (
        presence_per_event(results, small, "iorelay"),
        presence_per_event(results, big, "iorelay"),
    );
    let text = format!(
        "{} → {} per member, not comparable (deliveries were lost or members failed); per event {} → {}",
        fmt_bytes(a),
        fmt_bytes(b),
        ea.map_or_else(|| "–".into(), fmt_bytes),
        eb.map_or_else(|| "–".into(), fmt_bytes),
    );
    let met = ea.zip(eb).map(|(x, y)| y <= x * LINEAR_SLACK);
    Some((text, met))
}

/// When the server dropped the slow member and why (iorelay's /metrics; "n/a" elsewhere).
fn server_drop(results: &Results, case: &str, server: &str) -> String {
    let at = num(
        results,
        case,
        server,
        "/metrics/slow_member/server_disconnect_ms_after_pause",
    );
    let reasons: Vec<String> = get(
        results,
        case,
        server,
        "/metrics/server_disconnects_by_reason",
    )
    .and_then(Value::as_object)
    .map(|m| m.keys().cloned().collect())
    .unwrap_or_default();
    let counter = num(results, case, server, "/metrics/slow_consumer_disconnects")
        .map_or_else(|| "n/a".into(), fmt_num);
    match at {
        None if reasons.is_empty() => format!("n/a ({counter})"),
        _ => format!(
            "{} ({}; {counter})",
            at.map_or_else(|| "–".into(), |ms| fmt_num(ms / 1000.0)),
            reasons.join(", ")
        ),
    }
}

/// The section, empty when the results hold neither case.
pub(super) fn section(results: &Results, dir: &Path) -> String {
    let storms = cases(results, "join-storm-");
    let slows = cases(results, "slow-consumer");
    if storms.is_empty() && slows.is_empty() {
        return String::new();
    }
    let mut md = String::from("\n### Delivery under real load (issue #12)\n\n");
    let _ = writeln!(md, "{ISSUE_REPORTED}\n");
    if !storms.is_empty() {
        let _ = writeln!(
            md,
            "**join-storm**: every member joins one `/chat` room at once (iorelay: `join` with presence on, as the demo client; peers: a simple join), then member 0 publishes {} messages/s for {} s; loss counted per member. Machine: {}\n",
            show(first_param(results, &storms, "/params/rate")),
            show(first_param(results, &storms, "/params/secs")),
            machine(dir, "join-storm")
        );
        md.push_str(&join_storm_table(results, &storms));
    }
    if !slows.is_empty() {
        let _ = writeln!(
            md,
            "\n**slow-consumer**: member 1 stops reading its socket {} s after publishing begins, for {} s, while member 0 publishes {} messages/s of {} characters for {} s; after a drop it reconnects, re-joins and asks `history {{after: lastSeenId}}`. Machine: {}\n",
            show(first_param(results, &slows, "/params/pause_at_secs")),
            show(first_param(results, &slows, "/params/pause_secs")),
            show(first_param(results, &slows, "/params/rate")),
            show(first_param(results, &slows, "/params/text_len")),
            show(first_param(results, &slows, "/params/secs")),
            machine(dir, "slow-consumer")
        );
        md.push_str(&slow_consumer_table(results, &slows));
    }
    md.push_str("\nTargets (iorelay):\n\n");
    md.push_str(&targets(results));
    md
}

fn first_param(results: &Results, cases: &[&str], ptr: &str) -> Option<f64> {
    cases
        .iter()
        .filter_map(|c| results.get(*c))
        .flat_map(|m| m.values())
        .find_map(|d| d.pointer(ptr)?.as_f64())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::collections::BTreeMap;

    fn storm(server: &str, clients: f64, lost: f64, p99: f64, rss: f64, presence: f64) -> Value {
        json!({
            "case": "x", "server": server, "loadavg": [1.5, 1.0, 1.0],
            "params": {"common": {"clients": clients}, "rate": 50, "secs": 10},
            "metrics": {
                "members": clients, "connect_failures": 0, "lost": lost, "loss_pct": lost / clients / 5.0,
                "rss_peak_per_conn_kib": rss, "rss_after_per_conn_kib": rss / 2.0,
                "presence_bytes_mean": presence, "presence_bytes_max": presence * 2.0,
                "presence_bytes_total": presence * clients, "presence_events": clients * 10.0,
                "slow_consumer_disconnects": null, "members_disconnected": 0, "members_loop_lag_max_ms": 5000.0,
            },
            "latency": {"p50_ms": p99 / 4.0, "p99_ms": p99},
        })
    }

    fn sample() -> Results {
        let mut r: Results = BTreeMap::new();
        let mut put = |case: &str, server: &str, doc: Value| {
            r.entry(case.into()).or_default().insert(server.into(), doc);
        };
        put(
            "join-storm-1000",
            "iorelay",
            storm("iorelay", 1000.0, 31_000.0, 7_000.0, 220.0, 17e6),
        );
        put(
            "join-storm-1000",
            "node",
            storm("node", 1000.0, 0.0, 90.0, 28.0, 0.0),
        );
        put(
            "join-storm-5000",
            "iorelay",
            storm("iorelay", 5000.0, 0.0, 80.0, 30.0, 85e6),
        );
        put(
            "join-storm-1000-rust",
            "iorelay",
            storm("iorelay", 1000.0, 0.0, 60.0, 30.0, 100_000.0),
        );
        put(
            "join-storm-5000-rust",
            "iorelay",
            storm("iorelay", 5000.0, 0.0, 90.0, 30.0, 500_000.0),
        );
        put(
            "slow-consumer",
            "iorelay",
            json!({
                "params": {"common": {"clients": 102}, "rate": 100, "secs": 30, "pause_at_secs": 2, "pause_secs": 20, "text_len": 1000},
                "metrics": {
                    "lost": 0, "loss_pct": 0, "connect_failures": 0,
                    "rss_during_pause": {"at_pause_kib": 20_000, "peak_kib": 28_300, "growth_kib": 8_300, "bytes_published_while_paused": 8_200_000,
                                         "max_send_queue_bytes": 3_800_000, "kernel_full_ms_after_pause": 9_500,
                                         "slope_before_pause_kib_per_s": 410.0, "slope_while_kernel_full_kib_per_s": 420.0},
                    "slow_member": {"paused": true, "stopped_reading": true, "disconnected": true, "disconnect_reason": "transport close",
                                    "noticed_disconnect_at_ms": 22_010.0, "gaps": 0, "gaps_without_catch_up": 1_990,
                                    "server_disconnect_ms_after_pause": 1500},
                    "server_disconnects_by_reason": {"slow_consumer": 1}, "slow_consumer_disconnects": 1,
                },
                "latency": {"p50_ms": 2.0, "p99_ms": 9.0},
            }),
        );
        r
    }

    #[test]
    fn tables_show_every_case_and_server() {
        let md = section(&sample(), Path::new("/nonexistent"));
        assert!(
            md.contains("### Delivery under real load (issue #12)"),
            "{md}"
        );
        assert!(
            md.contains("member 0 publishes 50 messages/s for 10 s"),
            "{md}"
        );
        let rows: Vec<&str> = md.lines().filter(|l| l.starts_with("| 1,000 |")).collect();
        assert_eq!(rows.len(), 3, "{md}");
        assert!(
            rows[0].starts_with("| 1,000 | socket.io-client | iorelay | 1,000 / 0 | 31,000 (6.20%) | 1,750 / 7,000 | 220 / 110 | 16.2 MiB / 32.4 MiB (1.62 MiB) | n/a | 0 | 5,000 | 1.50 |"),
            "{}",
            rows[0]
        );
        assert!(
            rows[1].contains("| node | 1,000 / 0 | 0 | 22.5 / 90 |"),
            "{}",
            rows[1]
        );
        assert!(
            rows[2].starts_with("| 1,000 | iorelay-bench | iorelay |"),
            "{}",
            rows[2]
        );
        let slow = md
            .lines()
            .find(|l| l.starts_with("| 102 |"))
            .expect("slow-consumer row");
        assert!(
            slow.contains("| yes (0 bytes read after 1 s) | 9.50 (3.62 MiB) | yes (transport close; 22.0) | 1.50 (slow_consumer; 1) | 0 (1,990) | 410 → 420 |"),
            "{slow}"
        );
    }

    #[test]
    fn targets_are_judged() {
        let t = targets(&sample());
        let row = |start: &str, client: &str| {
            t.lines()
                .find(|l| l.starts_with(start) && l.contains(client))
                .unwrap_or_else(|| panic!("no {start} / {client} in {t}"))
                .to_owned()
        };
        assert!(row("| 1,000 members, no pause", "socket.io-client").ends_with("| no |"));
        assert!(row("| 1,000 members, no pause", "iorelay-bench").ends_with("| yes |"));
        assert!(row("| 1,000 members: p99", "socket.io-client").ends_with("| no |"));
        assert!(row("| 1,000 members: server RSS", "iorelay-bench").ends_with("| yes |"));
        assert!(row("| 1,000 members: server RSS", "socket.io-client").ends_with("| no |"));
        assert!(row("| 5,000 members", "socket.io-client").ends_with("| yes |"));
        // Lossy runs are judged on the size of one event: ×5 here, a full member list.
        let lossy = row("| presence bytes", "socket.io-client");
        assert!(lossy.contains("not comparable"), "{lossy}");
        assert!(lossy.ends_with("| no |"), "{lossy}");
        // Clean runs on bytes per member: 100 KB -> 500 KB is ×5, linear.
        let linear = row("| presence bytes", "iorelay-bench");
        assert!(linear.contains("×5 for 5×"), "{linear}");
        assert!(linear.ends_with("| yes |"), "{linear}");
        assert!(row("| slow consumer: bystanders", "socket.io-client").ends_with("| yes |"));
        assert!(row("| slow consumer: server RSS", "socket.io-client").ends_with("| yes |"));
        let mut unbounded = sample();
        unbounded
            .get_mut("slow-consumer")
            .and_then(|m| m.get_mut("iorelay"))
            .expect("doc")["metrics"]["rss_during_pause"]["slope_while_kernel_full_kib_per_s"] =
            json!(830.0);
        let t2 = targets(&unbounded);
        assert!(
            t2.contains("410 KiB/s before the pause, 830 KiB/s while the kernel was full | no |"),
            "{t2}"
        );
        assert!(row("| slow consumer: disconnected", "socket.io-client").ends_with("| yes |"));
        assert!(
            !t.contains("slow consumer: bystanders lose 0 | iorelay-bench"),
            "no rust slow-consumer case: {t}"
        );
    }

    #[test]
    fn quadratic_presence_fails_the_linear_target() {
        let mut r = sample();
        r.get_mut("join-storm-5000-rust")
            .and_then(|m| m.get_mut("iorelay"))
            .expect("doc")["metrics"]["presence_bytes_mean"] = json!(100_000.0 * 25.0);
        let t = targets(&r);
        let row = t
            .lines()
            .find(|l| l.starts_with("| presence bytes") && l.contains("iorelay-bench"))
            .expect("row");
        assert!(row.ends_with("| no |"), "{row}");
    }

    #[test]
    fn byte_sizes_are_readable() {
        assert_eq!(fmt_bytes(512.0), "512 B");
        assert_eq!(fmt_bytes(20_480.0), "20 KiB");
        assert_eq!(fmt_bytes(25_000.0), "24.4 KiB");
        assert_eq!(fmt_bytes(17e6), "16.2 MiB");
    }
}
