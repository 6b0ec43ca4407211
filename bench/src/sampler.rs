//! The server watched over a whole case: its RSS on a fixed period,
//! iorelay's Prometheus counters from `/metrics` when it serves them (the
//! peers answer 404, and their counters are then "n/a"), and on request the
//! kernel's send queue of the server's most backed-up connection (how much a
//! member that stopped reading leaves in the kernel before the server's own
//! buffers are reached).

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::http::HttpConn;
use crate::net::Target;
use crate::scenario::Probe;

/// iorelay's counter of sockets it dropped for not reading their messages.
pub const SLOW_CONSUMER_DISCONNECTS: &str = "iorelay_slow_consumer_disconnects_total";
/// iorelay's counter of disconnects, by `reason`.
pub const DISCONNECTS: &str = "iorelay_disconnects_total";

/// One look at the server.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Sample {
    /// Milliseconds since the case began.
    pub t_ms: u64,
    /// RSS of the server process(es), KiB.
    pub rss_kib: Option<u64>,
    /// [`SLOW_CONSUMER_DISCONNECTS`] then (`None`: not served).
    pub slow_consumer_disconnects: Option<f64>,
    /// [`DISCONNECTS`], every reason together (`None`: not served).
    pub disconnects: Option<f64>,
    /// Largest send queue (bytes not yet acknowledged by the peer) among the
    /// server's established connections (`None`: not watched).
    pub max_send_queue: Option<u64>,
}

/// Samples the server every `period` until [`Sampler::finish`].
pub struct Sampler {
    stop: watch::Sender<bool>,
    task: JoinHandle<Vec<Sample>>,
}

impl Sampler {
    /// Starts sampling `pids`, `/metrics` of `metrics` and, when
    /// `send_queues` is set, the send queues of the connections on that
    /// server port; times count from `t0`.
    pub fn start(
        pids: Vec<u32>,
        metrics: Option<Target>,
        send_queues: Option<u16>,
        period: Duration,
        t0: Instant,
    ) -> Self {
        let (stop, mut stopped) = watch::channel(false);
        let task = tokio::spawn(async move {
            let probe = Probe { pids };
            let mut scraper = metrics.map(MetricsScraper::new);
            let mut out = Vec::new();
            let mut tick = tokio::time::interval(period);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = stopped.changed() => break,
                }
                let text = match scraper.as_mut() {
                    Some(s) => s.scrape().await,
                    None => None,
                };
                let counter = |name| text.as_deref().and_then(|t| prom_sum(t, name));
                out.push(Sample {
                    t_ms: u64::try_from(t0.elapsed().as_millis()).unwrap_or(u64::MAX),
                    rss_kib: probe.rss_kib(),
                    slow_consumer_disconnects: counter(SLOW_CONSUMER_DISCONNECTS),
                    disconnects: counter(DISCONNECTS),
                    max_send_queue: send_queues.and_then(max_send_queue),
                });
            }
            out
        });
        Sampler { stop, task }
    }

    /// Stops sampling; the samples in time order.
    pub async fn finish(self) -> Vec<Sample> {
        let _ = self.stop.send(true);
        self.task.await.unwrap_or_default()
    }
}

/// Reads `/metrics` over one keep-alive connection; gives up for good on a
/// server that does not serve it.
pub struct MetricsScraper {
    conn: HttpConn,
    served: bool,
}

impl MetricsScraper {
    /// A scraper of `target`'s `/metrics`.
    pub fn new(target: Target) -> Self {
        MetricsScraper {
            conn: HttpConn::new(IpAddr::V4(Ipv4Addr::LOCALHOST), target.addr, target.host),
            served: true,
        }
    }

    /// The Prometheus text, `None` when the server does not serve it (or did not answer within 2 s).
    pub async fn scrape(&mut self) -> Option<String> {
        if !self.served {
            return None;
        }
        let answer =
            tokio::time::timeout(Duration::from_secs(2), self.conn.request("/metrics", None)).await;
        match answer {
            Ok(Ok((200, body))) => Some(String::from_utf8_lossy(&body).into_owned()),
            Ok(Ok(_)) => {
                self.served = false;
                None
            }
            Ok(Err(_)) | Err(_) => None,
        }
    }
}

/// The largest send queue among established TCP connections whose local port
/// is `port` (from /proc/net/tcp and tcp6).
pub fn max_send_queue(port: u16) -> Option<u64> {
    ["/proc/net/tcp", "/proc/net/tcp6"]
        .iter()
        .filter_map(|path| std::fs::read_to_string(path).ok())
        .filter_map(|table| max_send_queue_in(&table, port))
        .max()
}

/// [`max_send_queue`] of one /proc/net/tcp table.
pub fn max_send_queue_in(table: &str, port: u16) -> Option<u64> {
    const ESTABLISHED: &str = "01";
    table
        .lines()
        .skip(1)
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            let local = fields.nth(1)?;
            let state = fields.nth(1)?;
            let queues = fields.next()?;
            let local_port = u16::from_str_radix(local.rsplit_once(':')?.1, 16).ok()?;
            if local_port != port || state != ESTABLISHED {
                return None;
            }
            u64::from_str_radix(queues.split_once(':')?.0, 16).ok()
        })
        .max()
}

/// The samples of metric `name` in Prometheus text: labels and value.
pub fn prom_samples(text: &str, name: &str) -> Vec<(Vec<(String, String)>, f64)> {
    let mut out = Vec::new();
    for line in text.lines() {
        let Some(rest) = line.strip_prefix(name) else {
            continue;
        };
        let (labels, rest) = match rest.strip_prefix('{') {
            Some(inner) => match parse_labels(inner) {
                Some(parsed) => parsed,
                None => continue,
            },
            None if rest.starts_with(' ') => (Vec::new(), rest),
            None => continue, // another metric whose name starts with `name`
        };
        if let Some(value) = rest
            .split_whitespace()
            .next()
            .and_then(|v| v.parse::<f64>().ok())
        {
            out.push((labels, value));
        }
    }
    out
}

/// The sum of the samples of `name`, `None` when the text has none.
pub fn prom_sum(text: &str, name: &str) -> Option<f64> {
    let samples = prom_samples(text, name);
    (!samples.is_empty()).then(|| samples.iter().map(|(_, v)| v).sum())
}

/// `a="x",b="y"}` → the pairs and what follows the brace.
fn parse_labels(s: &str) -> Option<(Vec<(String, String)>, &str)> {
    let mut labels = Vec::new();
    let mut rest = s;
    loop {
        rest = rest.trim_start_matches([',', ' ']);
        if let Some(after) = rest.strip_prefix('}') {
            return Some((labels, after));
        }
        let (key, after_key) = rest.split_once("=\"")?;
        let mut value = String::new();
        let mut chars = after_key.char_indices();
        let end = loop {
            let (i, c) = chars.next()?;
            match c {
                '\\' => {
                    let (_, escaped) = chars.next()?;
                    value.push(if escaped == 'n' { '\n' } else { escaped });
                }
                '"' => break i,
                c => value.push(c),
            }
        };
        labels.push((key.trim().to_owned(), value));
        rest = &after_key[end + 1..];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = r#"# HELP iorelay_disconnects_total disconnects
# TYPE iorelay_disconnects_total counter
iorelay_disconnects_total{namespace="/chat",reason="transport_close"} 3
iorelay_disconnects_total{namespace="/chat",reason="heartbeat_timeout"} 1
iorelay_disconnects_total{namespace="/",reason="transport_close"} 2 1700000000000
iorelay_disconnects_total_created{namespace="/chat"} 1.7e9
iorelay_slow_consumer_disconnects_total 4
iorelay_odd{a="x,\"y\"",b="z"} 7
"#;

    #[test]
    fn sums_and_labels() {
        assert_eq!(prom_sum(TEXT, DISCONNECTS), Some(6.0));
        assert_eq!(prom_sum(TEXT, SLOW_CONSUMER_DISCONNECTS), Some(4.0));
        assert_eq!(prom_sum(TEXT, "iorelay_missing_total"), None);
        let samples = prom_samples(TEXT, DISCONNECTS);
        assert_eq!(samples.len(), 3);
        assert_eq!(
            samples[1].0,
            vec![
                ("namespace".to_owned(), "/chat".to_owned()),
                ("reason".to_owned(), "heartbeat_timeout".to_owned())
            ]
        );
        let odd = prom_samples(TEXT, "iorelay_odd");
        assert_eq!(odd[0].0[0].1, "x,\"y\"");
        assert_eq!(odd[0].1, 7.0);
    }

    #[test]
    fn send_queues_of_the_servers_connections() {
        let table = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:9B27 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1 0 100 0 0 10 0
   1: 0100007F:9B27 0200007F:D2F0 01 0039C0BE:00000000 01:00000016 00000000     0        0 2 1 0 20 4 30 10 -1
   2: 0100007F:9B27 0300007F:D2F1 01 00000400:00000000 01:00000016 00000000     0        0 3 1 0 20 4 30 10 -1
   3: 0200007F:D2F0 0100007F:9B27 01 00000000:0001CDF4 00:00000000 00000000     0        0 4 1 0 20 4 30 10 -1
   4: 0100007F:9B27 0400007F:D2F2 06 00FFFFFF:00000000 00:00000000 00000000     0        0 5 1 0 20 4 30 10 -1
";
        // Port 0x9B27 = 39719; the client end (row 3) and the TIME_WAIT row (4) do not count.
        assert_eq!(max_send_queue_in(table, 39719), Some(0x0039_C0BE));
        assert_eq!(max_send_queue_in(table, 1), None);
        assert_eq!(max_send_queue_in("header only", 39719), None);
    }

    #[tokio::test]
    async fn sampler_collects_until_finished() {
        let sampler = Sampler::start(
            vec![std::process::id()],
            None,
            Some(1),
            Duration::from_millis(5),
            Instant::now(),
        );
        tokio::time::sleep(Duration::from_millis(30)).await;
        let samples = sampler.finish().await;
        assert!(samples.len() >= 2, "{samples:?}");
        assert!(samples.iter().all(|s| s.rss_kib.is_some_and(|k| k > 0)));
        assert!(samples.windows(2).all(|w| w[0].t_ms <= w[1].t_ms));
        assert!(
            samples
                .iter()
                .all(|s| s.slow_consumer_disconnects.is_none())
        );
    }
}
