//! Prometheus metrics: every name iorelay exports, and the one function per fact.
//!
//! Code elsewhere never names a metric: it calls a function here
//! (`metrics::auth_failure("token_expired")`), so names, labels and units stay
//! consistent and the README's table can be checked against one file. The
//! `metrics` facade is cheap when nothing is recorded, so unit tests need no
//! set-up. Labels only take values from fixed sets (namespace paths the node
//! serves, codes, routes), never from what clients send, so a hostile client
//! cannot blow up the number of series.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::Router;

use crate::protocol::namespace_pattern::NamespaceTable;
use axum::body::Body;
use axum::extract::{MatchedPath, State};
use axum::http::{Request, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use metrics::{counter, gauge, histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use socketioxide::TransportType;
use socketioxide::socket::DisconnectReason;

/// Gauge: sockets connected to this node, by `namespace` and `transport` (polling, websocket).
pub const CONNECTED_SOCKETS: &str = "iorelay_connected_sockets";
/// Gauge: Engine.IO connections (clients) this node holds.
pub const ENGINE_CONNECTIONS: &str = "iorelay_engine_connections";
/// Counter: namespace connects, by `namespace`.
pub const CONNECTS: &str = "iorelay_connects_total";
/// Counter: namespace disconnects, by `namespace` and `reason`.
pub const DISCONNECTS: &str = "iorelay_disconnects_total";
/// Counter: client → server events, by `namespace` and `outcome` (handled, rate_limited, unknown, malformed).
pub const EVENTS_IN: &str = "iorelay_events_received_total";
/// Counter: server → client emits (one per broadcast, whatever its fan-out), by `namespace`.
pub const EVENTS_OUT: &str = "iorelay_events_sent_total";
/// Histogram: sockets on this node reached by one backend broadcast, by `namespace`.
pub const BROADCAST_FANOUT: &str = "iorelay_broadcast_recipients";
/// Counter: refusals for going over a limit, by `limit` (handshake_rate, connections_per_ip, connections, event_rate, connect_rate).
pub const RATE_LIMITED: &str = "iorelay_rate_limited_total";
/// Counter: disconnects of sockets that kept flooding past the event rate.
pub const FLOOD_DISCONNECTS: &str = "iorelay_flood_disconnects_total";
/// Counter: refused connects, by `code` (token_missing, token_expired, token_invalid).
pub const AUTH_FAILURES: &str = "iorelay_auth_failures_total";
/// Counter: sockets disconnected because their token expired while connected, by `namespace`.
pub const TOKEN_EXPIRIES: &str = "iorelay_token_expiries_total";
/// Counter: publish API calls, by `route` and `status`.
pub const API_REQUESTS: &str = "iorelay_api_requests_total";
/// Counter: Flask message-queue messages, by `result`.
pub const BRIDGE_MESSAGES: &str = "iorelay_bridge_messages_total";
/// Counter: Django channel-layer messages, by `result` (applied, ignored, or a rejection code).
pub const DJANGO_BRIDGE_MESSAGES: &str = "iorelay_django_bridge_messages_total";
/// Gauge: 1 while the Redis adapter's link works, 0 while it is down.
pub const REDIS_UP: &str = "iorelay_redis_up";
/// Counter: log lines left out because their call site repeated within the interval, by `level` and `target`.
pub const LOG_LINES_SUPPRESSED: &str = "iorelay_log_lines_suppressed_total";
/// Counter: recipients a broadcast could not reach, by `reason` (channel_full, closed, serialize, adapter).
pub const DELIVERY_FAILURES: &str = "iorelay_delivery_failures_total";
/// Histogram: seconds from a client event's arrival to the end of its handler, by `namespace`.
pub const EVENT_DURATION: &str = "iorelay_event_handling_seconds";
/// Histogram: seconds from a backend publish (API, bridge) to the hand-off to every socket, by `operation`.
pub const PUBLISH_LATENCY: &str = "iorelay_publish_delivery_seconds";

/// Gauge: TCP connections this node holds (HTTP, WebSocket, not yet sent a request).
pub const TCP_CONNECTIONS: &str = "iorelay_tcp_connections";
/// Counter: clients closed for leaving too much unread, by `transport` (websocket, polling).
pub const SLOW_CONSUMER_DISCONNECTS: &str = "iorelay_slow_consumer_disconnects_total";
/// Counter: HTTP connections closed by a timeout, by `timeout` (header_read, idle, body_read).
pub const CONNECTION_TIMEOUTS: &str = "iorelay_connection_timeouts_total";
/// Counter: engine requests refused for presenting a session id the node never gave.
pub const FORGED_SESSION_IDS: &str = "iorelay_forged_session_ids_total";
/// Gauge: `/sse/notifications` streams open on this node.
pub const SSE_STREAMS: &str = "iorelay_sse_streams";
/// Gauge: 1 while `/readyz` answers 200, 0 while a check fails or the node drains.
pub const READY: &str = "iorelay_ready";

/// Every metric with its type, for documentation checks.
#[cfg(test)]
pub const ALL: [(&str, &str); 25] = [
    (SSE_STREAMS, "gauge"),
    (READY, "gauge"),
    (TCP_CONNECTIONS, "gauge"),
    (SLOW_CONSUMER_DISCONNECTS, "counter"),
    (CONNECTION_TIMEOUTS, "counter"),
    (FORGED_SESSION_IDS, "counter"),
    (CONNECTED_SOCKETS, "gauge"),
    (ENGINE_CONNECTIONS, "gauge"),
    (CONNECTS, "counter"),
    (DISCONNECTS, "counter"),
    (EVENTS_IN, "counter"),
    (EVENTS_OUT, "counter"),
    (BROADCAST_FANOUT, "histogram"),
    (RATE_LIMITED, "counter"),
    (FLOOD_DISCONNECTS, "counter"),
    (AUTH_FAILURES, "counter"),
    (TOKEN_EXPIRIES, "counter"),
    (API_REQUESTS, "counter"),
    (BRIDGE_MESSAGES, "counter"),
    (DJANGO_BRIDGE_MESSAGES, "counter"),
    (REDIS_UP, "gauge"),
    (LOG_LINES_SUPPRESSED, "counter"),
    (DELIVERY_FAILURES, "counter"),
    (EVENT_DURATION, "histogram"),
    (PUBLISH_LATENCY, "histogram"),
];

const LATENCY_BUCKETS: [f64; 14] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];
const FANOUT_BUCKETS: [f64; 10] = [
    0.0, 1.0, 2.0, 5.0, 10.0, 50.0, 100.0, 500.0, 1000.0, 10000.0,
];

/// The process-wide recorder (installed on first use; the `metrics` facade takes one per process).
pub fn handle() -> Option<PrometheusHandle> {
    static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &LATENCY_BUCKETS)
                .and_then(|b| {
                    b.set_buckets_for_metric(
                        Matcher::Full(BROADCAST_FANOUT.into()),
                        &FANOUT_BUCKETS,
                    )
                });
            match builder.and_then(PrometheusBuilder::install_recorder) {
                Ok(handle) => {
                    describe();
                    Some(handle)
                }
                Err(e) => {
                    tracing::error!(error = %e, "cannot install the metrics recorder; /metrics is empty");
                    None
                }
            }
        })
        .clone()
}

fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram};
    describe_gauge!(CONNECTED_SOCKETS, "Sockets connected to this node");
    describe_gauge!(
        ENGINE_CONNECTIONS,
        "Engine.IO connections held by this node"
    );
    describe_gauge!(TCP_CONNECTIONS, "TCP connections held by this node");
    describe_gauge!(READY, "Whether /readyz answers 200 (1) or not (0)");
    describe_gauge!(
        SSE_STREAMS,
        "Server-Sent Events notification streams open on this node"
    );
    describe_counter!(
        SLOW_CONSUMER_DISCONNECTS,
        "Clients closed for leaving too much unread"
    );
    describe_counter!(CONNECTION_TIMEOUTS, "HTTP connections closed by a timeout");
    describe_counter!(
        FORGED_SESSION_IDS,
        "Engine requests with a session id the node never gave"
    );
    describe_counter!(CONNECTS, "Namespace connects");
    describe_counter!(DISCONNECTS, "Namespace disconnects");
    describe_counter!(EVENTS_IN, "Client to server events");
    describe_counter!(EVENTS_OUT, "Server to client emits");
    describe_histogram!(
        BROADCAST_FANOUT,
        "Local sockets reached by one backend broadcast"
    );
    describe_counter!(RATE_LIMITED, "Refusals for going over a limit");
    describe_counter!(FLOOD_DISCONNECTS, "Sockets disconnected for flooding");
    describe_counter!(AUTH_FAILURES, "Refused connects by token error");
    describe_counter!(
        TOKEN_EXPIRIES,
        "Sockets disconnected because their token expired"
    );
    describe_counter!(API_REQUESTS, "Publish API calls");
    describe_counter!(BRIDGE_MESSAGES, "Flask message-queue messages");
    describe_counter!(DJANGO_BRIDGE_MESSAGES, "Django channel-layer messages");
    describe_gauge!(REDIS_UP, "Whether the Redis adapter link works");
    describe_counter!(
        LOG_LINES_SUPPRESSED,
        "Log lines left out because they repeated"
    );
    describe_counter!(DELIVERY_FAILURES, "Recipients a broadcast could not reach");
    describe_histogram!(
        EVENT_DURATION,
        metrics::Unit::Seconds,
        "Time to handle a client event"
    );
    describe_histogram!(
        PUBLISH_LATENCY,
        metrics::Unit::Seconds,
        "Time from a backend publish to its hand-off to sockets"
    );
}

/// The transport label of a socket.
pub fn transport_label(transport: TransportType) -> &'static str {
    match transport {
        TransportType::Polling => "polling",
        TransportType::Websocket => "websocket",
    }
}

/// The reason label of a disconnect.
pub fn reason_label(reason: &DisconnectReason) -> &'static str {
    match reason {
        DisconnectReason::TransportClose => "transport_close",
        DisconnectReason::MultipleHttpPollingError => "multiple_polling",
        DisconnectReason::PacketParsingError => "packet_parsing_error",
        DisconnectReason::TransportError => "transport_error",
        DisconnectReason::HeartbeatTimeout => "heartbeat_timeout",
        DisconnectReason::ClientNSDisconnect => "client_disconnect",
        DisconnectReason::ServerNSDisconnect => "server_disconnect",
        DisconnectReason::ClosingServer => "closing_server",
    }
}

/// The namespaces this node serves, so a namespace a pattern stands for
/// (`/tenant-a` under `/tenant-*`) is counted under its pattern: clients choose
/// those names, and labels may only take values from a fixed set.
static NAMESPACES: OnceLock<NamespaceTable<()>> = OnceLock::new();

/// Declares the served namespaces and patterns (once, at start; later calls are ignored).
pub fn label_namespaces(served: impl IntoIterator<Item = String>) {
    let _ = NAMESPACES.set(NamespaceTable::new(served.into_iter().map(|ns| (ns, ()))));
}

/// The `namespace` label of `namespace`: its pattern when one stands for it.
pub fn namespace_label(namespace: &str) -> String {
    NAMESPACES
        .get()
        .and_then(|served| served.pattern_of(namespace))
        .map_or_else(
            || namespace.to_owned(),
            |pattern| pattern.as_str().to_owned(),
        )
}

/// A socket connected to `namespace`.
pub fn socket_connected(namespace: &str) {
    counter!(CONNECTS, "namespace" => namespace_label(namespace)).increment(1);
}

/// A socket left `namespace`.
pub fn socket_disconnected(namespace: &str, reason: &DisconnectReason) {
    counter!(DISCONNECTS, "namespace" => namespace_label(namespace), "reason" => reason_label(reason))
        .increment(1);
}

/// What became of a client event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventOutcome {
    /// Given to its handler.
    Handled,
    /// Dropped: over the socket's event rate.
    RateLimited,
    /// Dropped: no handler takes that event name.
    Unknown,
    /// Dropped: its arguments could not be extracted.
    Malformed,
}

/// A client event arrived on `namespace`.
pub fn event_received(namespace: &str, outcome: EventOutcome) {
    let outcome = match outcome {
        EventOutcome::Handled => "handled",
        EventOutcome::RateLimited => "rate_limited",
        EventOutcome::Unknown => "unknown",
        EventOutcome::Malformed => "malformed",
    };
    counter!(EVENTS_IN, "namespace" => namespace_label(namespace), "outcome" => outcome)
        .increment(1);
}

/// A client event's handler ran for `elapsed`.
pub fn event_handled(namespace: &str, elapsed: Duration) {
    histogram!(EVENT_DURATION, "namespace" => namespace_label(namespace))
        .record(elapsed.as_secs_f64());
}

/// The server emitted one event (to one socket or a broadcast) on `namespace`.
pub fn event_sent(namespace: &str) {
    counter!(EVENTS_OUT, "namespace" => namespace_label(namespace)).increment(1);
}

/// A backend broadcast on `namespace` reached `recipients` local sockets.
pub fn broadcast(namespace: &str, recipients: usize) {
    histogram!(BROADCAST_FANOUT, "namespace" => namespace_label(namespace))
        .record(recipients as f64);
}

/// A request or event was refused for going over `limit`.
pub fn rate_limited(limit: &'static str) {
    counter!(RATE_LIMITED, "limit" => limit).increment(1);
}

/// A socket was disconnected for flooding.
pub fn flood_disconnect() {
    counter!(FLOOD_DISCONNECTS).increment(1);
}

/// A connect was refused with a token error `code`.
pub fn auth_failure(code: &'static str) {
    counter!(AUTH_FAILURES, "code" => code).increment(1);
}

/// The node holds `n` TCP connections.
pub fn tcp_connections(n: usize) {
    gauge!(TCP_CONNECTIONS).set(n as f64);
}

/// A client closed as a slow consumer.
pub fn slow_consumer_disconnect(transport: &'static str) {
    counter!(SLOW_CONSUMER_DISCONNECTS, "transport" => transport).increment(1);
}

/// An HTTP connection closed by `timeout` (header_read, idle).
pub fn connection_timed_out(timeout: &'static str) {
    counter!(CONNECTION_TIMEOUTS, "timeout" => timeout).increment(1);
}

/// `n` SSE streams are open.
pub fn sse_streams(n: u64) {
    gauge!(SSE_STREAMS).set(n as f64);
}

/// An engine request presented a session id this node never gave.
pub fn forged_session_id() {
    counter!(FORGED_SESSION_IDS).increment(1);
}

/// A socket on `namespace` was disconnected because its token expired.
pub fn token_expired(namespace: &str) {
    counter!(TOKEN_EXPIRIES, "namespace" => namespace_label(namespace)).increment(1);
}

/// The node is ready (`/readyz` 200) or not.
pub fn ready(ready: bool) {
    gauge!(READY).set(if ready { 1.0 } else { 0.0 });
}

/// The node holds `n` Engine.IO connections.
pub fn engine_connections(n: usize) {
    ENGINE_CONNECTIONS_NOW.store(n, std::sync::atomic::Ordering::Relaxed);
    gauge!(ENGINE_CONNECTIONS).set(n as f64);
}

/// The last count of [`engine_connections`], for the Admin UI's `clientsCount`
/// (the recorder's gauges cannot be read back).
static ENGINE_CONNECTIONS_NOW: std::sync::atomic::AtomicUsize =
    std::sync::atomic::AtomicUsize::new(0);

/// Engine.IO connections this node holds now.
pub fn engine_connections_now() -> usize {
    ENGINE_CONNECTIONS_NOW.load(std::sync::atomic::Ordering::Relaxed)
}

/// A backend publish (`operation`: emit, notify, …) was handed to every socket after `elapsed`.
pub fn published(operation: &'static str, elapsed: Duration) {
    histogram!(PUBLISH_LATENCY, "operation" => operation).record(elapsed.as_secs_f64());
}

/// A Flask message-queue message ended as `result` (applied, ignored, or a rejection code).
pub fn bridge_message(result: &'static str) {
    counter!(BRIDGE_MESSAGES, "result" => result).increment(1);
}

/// A Django channel-layer message ended as `result` (applied, ignored, or a rejection code).
pub fn django_bridge_message(result: &'static str) {
    counter!(DJANGO_BRIDGE_MESSAGES, "result" => result).increment(1);
}

/// A log line of `level` from `target` was left out (it repeated within the interval).
pub fn log_line_suppressed(level: &'static str, target: &'static str) {
    counter!(LOG_LINES_SUPPRESSED, "level" => level, "target" => target).increment(1);
}

/// `recipients` sockets could not be reached by a broadcast, for `reason`.
pub fn delivery_failed(reason: &'static str, recipients: usize) {
    counter!(DELIVERY_FAILURES, "reason" => reason).increment(recipients as u64);
}

/// The Redis adapter's link is up or down.
pub fn redis_up(up: bool) {
    gauge!(REDIS_UP).set(if up { 1.0 } else { 0.0 });
}

/// Middleware of the publish API: counts calls by route template and status.
pub async fn track_api(request: Request<Body>, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let response = next.run(request).await;
    counter!(API_REQUESTS, "route" => route, "status" => response.status().as_u16().to_string())
        .increment(1);
    response
}

/// Counts sockets by namespace and transport at scrape time, zeros included (the
/// transport of a socket changes when it upgrades, so a running gauge would drift).
pub type SocketCensus = Arc<dyn Fn() -> Vec<(String, TransportType, usize)> + Send + Sync>;

/// `GET /metrics` in the Prometheus text format.
pub fn routes(census: SocketCensus) -> Router {
    Router::new()
        .route("/metrics", get(render))
        .with_state(census)
}

async fn render(State(census): State<SocketCensus>) -> Response {
    let Some(handle) = handle() else {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "metrics recorder unavailable\n",
        )
            .into_response();
    };
    // Namespaces under one pattern add up to one series.
    let mut counts: std::collections::BTreeMap<(String, &'static str), usize> =
        std::collections::BTreeMap::new();
    for (namespace, transport, n) in census() {
        *counts
            .entry((namespace_label(&namespace), transport_label(transport)))
            .or_default() += n;
    }
    for ((namespace, transport), n) in counts {
        gauge!(CONNECTED_SOCKETS, "namespace" => namespace, "transport" => transport).set(n as f64);
    }
    handle.run_upkeep();
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        handle.render(),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::routing::post;
    use tower::ServiceExt;

    #[tokio::test]
    async fn recorded_facts_render_under_their_names() {
        let handle = handle().expect("recorder");
        auth_failure("token_expired");
        rate_limited("event_rate");
        event_handled("/unit", Duration::from_millis(3));
        broadcast("/unit", 7);
        let census: SocketCensus =
            Arc::new(|| vec![("/unit".to_owned(), TransportType::Websocket, 2)]);
        let app = Router::new()
            .route("/api/v1/emit", post(async || StatusCode::UNAUTHORIZED))
            .route_layer(axum::middleware::from_fn(track_api))
            .merge(routes(census));
        let request = |method: &str, uri: &str| {
            Request::builder()
                .method(method)
                .uri(uri)
                .body(Body::empty())
                .expect("request")
        };
        let refused = app
            .clone()
            .oneshot(request("POST", "/api/v1/emit"))
            .await
            .expect("infallible");
        assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
        let response = app
            .oneshot(request("GET", "/metrics"))
            .await
            .expect("infallible");
        assert_eq!(response.status(), StatusCode::OK);
        let body = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .expect("body");
        let text = String::from_utf8_lossy(&body);
        for line in [
            "iorelay_auth_failures_total{code=\"token_expired\"}",
            "iorelay_rate_limited_total{limit=\"event_rate\"}",
            "iorelay_event_handling_seconds_bucket{namespace=\"/unit\",le=\"0.005\"}",
            "iorelay_broadcast_recipients_sum{namespace=\"/unit\"} 7",
            "iorelay_connected_sockets{namespace=\"/unit\",transport=\"websocket\"} 2",
            "iorelay_api_requests_total{route=\"/api/v1/emit\",status=\"401\"}",
        ] {
            assert!(text.contains(line), "{line} missing from:\n{text}");
        }
        assert!(!handle.render().is_empty());
    }

    #[test]
    fn readme_lists_every_metric() {
        let readme = include_str!("../../../README.md");
        for (name, kind) in ALL {
            assert!(
                readme.contains(&format!("| `{name}` | {kind} |")),
                "README's Monitoring table lacks {name} ({kind})"
            );
        }
    }

    /// Metric names in `text` (`iorelay_…`, histogram series suffixes removed).
    fn names_in(text: &str) -> Vec<String> {
        let mut names = Vec::new();
        let mut rest = text;
        while let Some(at) = rest.find("iorelay_") {
            let name: String = rest[at..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            rest = &rest[at + name.len()..];
            names.push(name);
        }
        names
    }

    #[test]
    fn dashboards_and_alerts_name_only_exported_metrics() {
        let deploy = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy");
        for file in ["grafana/iorelay.json", "prometheus/alerts.yml"] {
            let text = std::fs::read_to_string(deploy.join(file)).expect("deploy file");
            let names = names_in(&text);
            assert!(names.len() > 5, "{file} names few metrics: {names:?}");
            for name in names {
                let known = ALL.iter().any(|(metric, kind)| {
                    name == *metric
                        || (*kind == "histogram"
                            && ["_bucket", "_sum", "_count"]
                                .iter()
                                .any(|suffix| name == format!("{metric}{suffix}")))
                });
                assert!(known, "{file} names {name}, which iorelay does not export");
            }
        }
    }

    #[test]
    fn every_documented_name_is_prefixed_and_unique() {
        let mut names: Vec<&str> = ALL.iter().map(|(name, _)| *name).collect();
        assert!(names.iter().all(|n| n.starts_with("iorelay_")));
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), ALL.len());
    }
}
