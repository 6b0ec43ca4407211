//! The sections of [`Config`](super::Config), one per concern: each field is a
//! flag, an `IORELAY_*` variable and a key of its `[section]` in the TOML file,
//! documented once, where it is declared.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, ValueEnum};
use serde::{Deserialize, Serialize};

use super::{NamespaceUrl, TrustedProxy};

/// The Flask-SocketIO message-queue bridge (Python emitters drive iorelay).
#[derive(Debug, Clone, Args, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FlaskConfig {
    /// Redis URL of the Flask-SocketIO / python-socketio message queue (their `message_queue=`), e.g. redis://127.0.0.1:6379/0. Unset: no bridge.
    #[arg(
        long,
        env = "IORELAY_FLASK_QUEUE",
        hide_env_values = true,
        help_heading = "Flask-SocketIO bridge"
    )]
    pub flask_queue: Option<String>,

    /// Pub/sub channel of that queue (their `channel=`): `flask-socketio` for Flask-SocketIO, `socketio` for python-socketio.
    #[arg(
        long,
        env = "IORELAY_FLASK_CHANNEL",
        default_value = "flask-socketio",
        help_heading = "Flask-SocketIO bridge"
    )]
    pub flask_channel: String,

    /// Bytes of queue messages the bridge holds while it applies them; past it, new messages are dropped, counted (`overflow`) and logged.
    #[arg(
        long,
        env = "IORELAY_FLASK_MAX_BUFFERED_BYTES",
        default_value_t = 33_554_432,
        help_heading = "Flask-SocketIO bridge"
    )]
    pub flask_max_buffered_bytes: usize,
}

/// Largest Flask-SocketIO queue message the bridge decodes, in bytes;
/// `--flask-max-buffered-bytes` must hold at least one.
pub const FLASK_MAX_MESSAGE_BYTES: usize = 4 * 1024 * 1024;

/// Forwarding client events to HTTP backends (Flask handlers become routes).
#[derive(Debug, Clone, Args, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ForwardingConfig {
    /// Where to POST client events that have no built-in handler, per generic namespace: NS=URL pairs, comma separated or repeated, e.g. `/=http://127.0.0.1:5000/socketio/event`.
    #[arg(
        long,
        env = "IORELAY_FORWARD_URL",
        value_delimiter = ',',
        help_heading = "Event forwarding"
    )]
    pub forward_url: Vec<NamespaceUrl>,

    /// Connect hook per generic namespace (NS=URL pairs): the backend accepts or refuses each connection.
    #[arg(
        long,
        env = "IORELAY_CONNECT_URL",
        value_delimiter = ',',
        help_heading = "Event forwarding"
    )]
    pub connect_url: Vec<NamespaceUrl>,

    /// How long to wait for a backend answer before the client gets `backend_unavailable`.
    #[arg(
        long,
        env = "IORELAY_FORWARD_TIMEOUT_MS",
        default_value_t = 5_000,
        help_heading = "Event forwarding"
    )]
    pub forward_timeout_ms: u64,

    /// Shared secret sent as the `X-Iorelay-Secret` header with every forwarded event and connect hook request, so the backend can refuse calls that did not come from iorelay.
    #[arg(
        long,
        env = "IORELAY_FORWARD_SECRET",
        hide_env_values = true,
        help_heading = "Event forwarding"
    )]
    pub forward_secret: Option<String>,
}

impl ForwardingConfig {
    /// How long to wait for a backend.
    pub fn forward_timeout(&self) -> Duration {
        Duration::from_millis(self.forward_timeout_ms)
    }
}

/// Who may connect: JWT verification and which namespaces require a token.
#[derive(Debug, Clone, Args, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthConfig {
    /// HS256 secret that signs client tokens (32+ bytes). Exclusive with --jwt-public-key.
    #[arg(
        long,
        env = "IORELAY_JWT_SECRET",
        hide_env_values = true,
        help_heading = "Security"
    )]
    pub jwt_secret: Option<String>,

    /// PEM file with the RSA (RS256) or EC P-256 (ES256) public key that verifies client tokens.
    #[arg(long, env = "IORELAY_JWT_PUBLIC_KEY", help_heading = "Security")]
    pub jwt_public_key: Option<PathBuf>,

    /// Required `aud` claim of client tokens (unset: tokens must not carry one).
    #[arg(long, env = "IORELAY_JWT_AUDIENCE", help_heading = "Security")]
    pub jwt_audience: Option<String>,

    /// Required `iss` claim of client tokens.
    #[arg(long, env = "IORELAY_JWT_ISSUER", help_heading = "Security")]
    pub jwt_issuer: Option<String>,

    /// Namespaces that refuse connections without a valid token (comma separated, e.g. `/chat,/notifications`); the others also take guests.
    #[arg(
        long,
        env = "IORELAY_PRIVATE_NAMESPACES",
        value_delimiter = ',',
        help_heading = "Security"
    )]
    pub private_namespaces: Vec<String>,

    /// DEMO ONLY: serve `POST /auth/dev-token {name}` minting short-lived HS256 tokens for anyone (needs --jwt-secret).
    #[arg(long, env = "IORELAY_DEV_AUTH", help_heading = "Security")]
    pub dev_auth: bool,
}

/// Connection and event limits; every refusal is answered with a stable code.
#[derive(Debug, Clone, Args, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsConfig {
    /// Engine.IO connections this node holds at once; more get 503 `server_full` (0 = no limit).
    #[arg(
        long,
        env = "IORELAY_MAX_CONNECTIONS",
        default_value_t = 0,
        help_heading = "Limits"
    )]
    pub max_connections: usize,

    /// Engine.IO connections one client address holds at once; more get 429 `too_many_connections` (0 = no limit).
    #[arg(
        long,
        env = "IORELAY_MAX_CONNECTIONS_PER_IP",
        default_value_t = 0,
        help_heading = "Limits"
    )]
    pub max_connections_per_ip: usize,

    /// New Engine.IO connections (handshakes) per second from one client address; more get 429 `rate_limited` (0 = no limit).
    #[arg(
        long,
        env = "IORELAY_HANDSHAKE_RATE",
        default_value_t = 0,
        help_heading = "Limits"
    )]
    pub handshake_rate: u32,

    /// Handshakes one client address may make at once before --handshake-rate applies.
    #[arg(
        long,
        env = "IORELAY_HANDSHAKE_BURST",
        default_value_t = 20,
        help_heading = "Limits"
    )]
    pub handshake_burst: u32,

    /// Events per second one socket may send; above it the event is dropped and the socket gets `error {code: "rate_limited"}` (0 = no limit).
    #[arg(
        long,
        env = "IORELAY_EVENT_RATE",
        default_value_t = 100,
        help_heading = "Limits"
    )]
    pub event_rate: u32,

    /// Events one socket may send at once before --event-rate applies.
    #[arg(
        long,
        env = "IORELAY_EVENT_BURST",
        default_value_t = 200,
        help_heading = "Limits"
    )]
    pub event_burst: u32,

    /// Events a socket may have dropped for its rate before it is disconnected (0 = never disconnect).
    #[arg(
        long,
        env = "IORELAY_RATE_LIMIT_DISCONNECT_AFTER",
        default_value_t = 1_000,
        help_heading = "Limits"
    )]
    pub rate_limit_disconnect_after: u32,

    /// TCP connections (of any kind: HTTP, WebSocket, half-open) this node holds at once; more are closed on accept. 0: the open-file limit minus a reserve of 256.
    #[arg(
        long,
        env = "IORELAY_MAX_TCP_CONNECTIONS",
        default_value_t = 0,
        help_heading = "Limits"
    )]
    pub max_tcp_connections: usize,

    /// TCP connections one peer address holds at once; more are closed on accept (trusted proxies are exempt; 0 = no limit).
    #[arg(
        long,
        env = "IORELAY_MAX_TCP_CONNECTIONS_PER_IP",
        default_value_t = 0,
        help_heading = "Limits"
    )]
    pub max_tcp_connections_per_ip: usize,

    /// Proxies (IPs or CIDRs, comma separated) whose `X-Forwarded-For` names the client for the per-address limits.
    #[arg(
        long,
        env = "IORELAY_TRUSTED_PROXIES",
        value_delimiter = ',',
        help_heading = "Limits"
    )]
    pub trusted_proxies: Vec<TrustedProxy>,
}

/// Serving HTTPS and WSS directly (without a TLS-terminating proxy).
#[derive(Debug, Clone, Args, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// PEM certificate chain; with --tls-key the node serves HTTPS/WSS only.
    #[arg(long, env = "IORELAY_TLS_CERT", help_heading = "Security")]
    pub tls_cert: Option<PathBuf>,

    /// PEM private key (PKCS#8, PKCS#1 or SEC1) of --tls-cert.
    #[arg(long, env = "IORELAY_TLS_KEY", help_heading = "Security")]
    pub tls_key: Option<PathBuf>,
}

/// Prometheus metrics.
#[derive(Debug, Clone, Args, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsConfig {
    /// Serve `/metrics` on this separate address instead of the main listener (keeps it off the public port).
    #[arg(long, env = "IORELAY_METRICS_LISTEN", help_heading = "Monitoring")]
    pub metrics_listen: Option<SocketAddr>,
}

/// Running as one of several nodes.
#[derive(Debug, Clone, Args, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterConfig {
    /// Where rooms, broadcasts, chat history and presence live: this process, or Redis (shared by all nodes).
    #[arg(long, env = "IORELAY_ADAPTER", value_enum, default_value_t = AdapterKind::Memory, help_heading = "Cluster")]
    pub adapter: AdapterKind,

    /// Redis URL for `--adapter redis`, e.g. redis://127.0.0.1:6379 (Redis 7+).
    #[arg(
        long,
        env = "IORELAY_REDIS_URL",
        hide_env_values = true,
        help_heading = "Cluster"
    )]
    pub redis_url: Option<String>,

    /// Use sharded pub/sub (SPUBLISH) and cluster routing, for Redis Cluster.
    #[arg(long, env = "IORELAY_REDIS_SHARDED", help_heading = "Cluster")]
    pub redis_sharded: bool,

    /// Prefix of every Redis key and channel iorelay uses (one per deployment).
    #[arg(
        long,
        env = "IORELAY_REDIS_PREFIX",
        default_value = "iorelay",
        help_heading = "Cluster"
    )]
    pub redis_prefix: String,

    /// This node's id in logs, presence and `/api` socket listings (default: random per process).
    #[arg(long, env = "IORELAY_NODE_ID", help_heading = "Cluster")]
    pub node_id: Option<String>,
}

/// Where shared state lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AdapterKind {
    /// In this process (one node).
    Memory,
    /// In Redis (several nodes).
    Redis,
}

/// The HTTP publish API (`/api/v1`).
#[derive(Debug, Clone, Args, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiConfig {
    /// Keys accepted by the publish API (comma separated, several for rotation). None: API refuses all calls.
    #[arg(
        long,
        env = "IORELAY_API_KEYS",
        value_delimiter = ',',
        hide_env_values = true,
        help_heading = "Publish API"
    )]
    pub api_keys: Vec<String>,

    /// Largest request body of the publish API, in bytes.
    #[arg(
        long,
        env = "IORELAY_API_MAX_BODY",
        default_value_t = 1_048_576,
        help_heading = "Publish API"
    )]
    pub api_max_body: usize,

    /// Longest `ack_timeout_ms` an emit may ask for.
    #[arg(
        long,
        env = "IORELAY_API_MAX_ACK_TIMEOUT_MS",
        default_value_t = 30_000,
        help_heading = "Publish API"
    )]
    pub api_max_ack_timeout_ms: u64,
}

/// Settings of the built-in `/notifications` namespace.
#[derive(Debug, Clone, Args, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotificationsConfig {
    /// Topics clients may subscribe to (comma separated); `*` any, `news.*` a prefix.
    #[arg(
        long,
        env = "IORELAY_NOTIFY_TOPICS",
        value_delimiter = ',',
        default_value = "*",
        help_heading = "Notifications"
    )]
    pub notify_topics: Vec<String>,

    /// Topics one socket may subscribe to at once.
    #[arg(
        long,
        env = "IORELAY_MAX_TOPICS_PER_SOCKET",
        default_value_t = 50,
        help_heading = "Notifications"
    )]
    pub max_topics_per_socket: usize,

    /// Newest notifications kept per stream (a user's, a topic's) for catch-up.
    #[arg(
        long,
        env = "IORELAY_NOTIFY_HISTORY_SIZE",
        default_value_t = 100,
        help_heading = "Notifications"
    )]
    pub notify_history_size: usize,

    /// Seconds a notification is kept for catch-up (0: until pushed out by newer ones).
    #[arg(
        long,
        env = "IORELAY_NOTIFY_HISTORY_TTL_SECS",
        default_value_t = 86_400,
        help_heading = "Notifications"
    )]
    pub notify_history_ttl_secs: u64,

    /// Streams kept in memory on a single node (least recently used go first; Redis keeps them by TTL).
    #[arg(
        long,
        env = "IORELAY_NOTIFY_HISTORY_MAX_STREAMS",
        default_value_t = 100_000,
        help_heading = "Notifications"
    )]
    pub notify_history_max_streams: usize,

    /// Bytes of notification history kept in memory on a single node.
    #[arg(
        long,
        env = "IORELAY_NOTIFY_HISTORY_MAX_BYTES",
        default_value_t = 64 * 1024 * 1024,
        help_heading = "Notifications"
    )]
    pub notify_history_max_bytes: usize,

    /// Seconds between heartbeat comments on `/sse/notifications` streams (keeps proxies from closing them).
    #[arg(
        long,
        env = "IORELAY_SSE_HEARTBEAT_SECS",
        default_value_t = 15,
        value_parser = clap::value_parser!(u64).range(1..=3600),
        help_heading = "Notifications"
    )]
    pub sse_heartbeat_secs: u64,
}

impl NotificationsConfig {
    /// Whether clients may subscribe to `topic`.
    pub fn allows_topic(&self, topic: &str) -> bool {
        self.notify_topics
            .iter()
            .any(|pattern| match pattern.strip_suffix('*') {
                Some(prefix) => topic.starts_with(prefix),
                None => pattern == topic,
            })
    }
}

/// Generic namespaces: where backends push and, optionally, clients relay.
#[derive(Debug, Clone, Args, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NamespacesConfig {
    /// Extra generic namespaces besides `/` (comma separated, e.g. `/admin,/feed`); a `*` stands for one or more letters, digits, `-`, `_`, `.` (`/tenant-*`).
    #[arg(
        long,
        env = "IORELAY_NAMESPACES",
        value_delimiter = ',',
        help_heading = "Namespaces"
    )]
    pub namespaces: Vec<String>,

    /// Let clients of generic namespaces join rooms and relay events to them (`rooms:join`, `relay`).
    #[arg(long, env = "IORELAY_CLIENT_RELAY", help_heading = "Namespaces")]
    pub client_relay: bool,

    /// Rooms clients may make exist at once in one generic namespace on this node (a `rooms:join` that would make one more is refused `too_many_rooms`).
    #[arg(
        long,
        env = "IORELAY_MAX_ROOMS_PER_NAMESPACE",
        default_value_t = 10_000,
        help_heading = "Namespaces"
    )]
    pub max_rooms_per_namespace: usize,

    /// Namespaces the patterns of `--namespaces` may make at once on this node (each costs memory and, in a cluster, Redis subscriptions); a connect that would make one more is refused `too_many_namespaces`.
    #[arg(
        long,
        env = "IORELAY_MAX_PATTERN_NAMESPACES",
        default_value_t = 10_000,
        help_heading = "Namespaces"
    )]
    pub max_pattern_namespaces: usize,
}

/// Namespaces of the built-in apps; generic namespaces may not take their paths.
pub const BUILTIN_NAMESPACES: [&str; 2] = ["/chat", "/notifications"];

impl NamespacesConfig {
    /// `/` followed by the configured generic namespaces, without duplicates.
    pub fn generic_paths(&self) -> Vec<String> {
        let mut paths = vec!["/".to_owned()];
        for path in &self.namespaces {
            if !paths.contains(path) {
                paths.push(path.clone());
            }
        }
        paths
    }

    /// Whether `entry` of a per-namespace setting (forwarding, private
    /// namespaces) names what this server serves: a generic namespace, one a
    /// pattern stands for, or a pattern of `--namespaces` itself.
    pub fn routes_to(&self, entry: &str) -> bool {
        if entry.contains('*') {
            return self.namespaces.iter().any(|ns| ns == entry);
        }
        self.generic_paths().iter().any(|ns| ns == entry)
            || self.namespaces.iter().any(|ns| {
                crate::protocol::namespace_pattern::NamespacePattern::parse(ns)
                    .is_ok_and(|p| p.is_pattern() && p.matches(entry))
            })
    }
}

/// HTTP listener, static files and process lifecycle.
#[derive(Debug, Clone, Args, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    /// Address to listen on (HTTP and WebSocket).
    #[arg(
        long,
        env = "IORELAY_LISTEN",
        default_value = "0.0.0.0:3000",
        help_heading = "Server"
    )]
    pub listen: SocketAddr,

    /// Directory served at `/` (e.g. client-demo/dist); unknown paths fall back to its index.html.
    #[arg(long, env = "IORELAY_STATIC_DIR", help_heading = "Server")]
    pub static_dir: Option<PathBuf>,

    /// Browser origins allowed to connect (comma separated). Empty: same origin only. `*`: any.
    #[arg(
        long,
        env = "IORELAY_CORS_ORIGINS",
        value_delimiter = ',',
        help_heading = "Server"
    )]
    pub cors_origins: Vec<String>,

    /// On SIGTERM/SIGINT, how long open connections may take to drain before the process exits.
    #[arg(
        long,
        env = "IORELAY_SHUTDOWN_TIMEOUT_MS",
        default_value_t = 10_000,
        help_heading = "Server"
    )]
    pub shutdown_timeout_ms: u64,

    /// Log output format; the filter comes from RUST_LOG (default `info`).
    #[arg(long, env = "IORELAY_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text, help_heading = "Server")]
    pub log_format: LogFormat,

    /// Runtime worker threads; unset: one per CPU core.
    #[arg(long, env = "IORELAY_WORKER_THREADS", help_heading = "Server")]
    pub worker_threads: Option<usize>,

    /// Longest a client may take to send a complete request head; also how long an idle keep-alive connection waits for its next request.
    #[arg(
        long,
        env = "IORELAY_HEADER_READ_TIMEOUT_MS",
        default_value_t = 10_000,
        help_heading = "Server"
    )]
    pub header_read_timeout_ms: u64,

    /// An HTTP connection that moves no byte either way for this long is closed (must exceed the ping interval: a long-poll waits that long). WebSockets are watched by the Engine.IO heartbeat instead.
    #[arg(
        long,
        env = "IORELAY_IDLE_TIMEOUT_MS",
        default_value_t = 60_000,
        help_heading = "Server"
    )]
    pub idle_timeout_ms: u64,

    /// Longest a request body may take to arrive whole, from the end of its head (a body trickled byte by byte ends here).
    #[arg(
        long,
        env = "IORELAY_BODY_READ_TIMEOUT_MS",
        default_value_t = 30_000,
        help_heading = "Server"
    )]
    pub body_read_timeout_ms: u64,

    /// A WARN or ERROR line (or a refusal) that repeats is logged once per this interval and
    /// counted; a summary names how many were left out. 0: log every line.
    #[arg(
        long,
        env = "IORELAY_LOG_REPEAT_INTERVAL_MS",
        default_value_t = 10_000,
        help_heading = "Server"
    )]
    pub log_repeat_interval_ms: u64,
}

impl ServerConfig {
    /// How often a repeating log line may go out.
    pub fn log_repeat_interval(&self) -> Duration {
        Duration::from_millis(self.log_repeat_interval_ms)
    }
}

/// Engine.IO / Socket.IO protocol settings.
#[derive(Debug, Clone, Args, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EngineConfig {
    /// HTTP path of the Socket.IO endpoint (the client's `path` option).
    #[arg(
        long,
        env = "IORELAY_PATH",
        default_value = "/socket.io",
        help_heading = "Engine"
    )]
    pub path: String,

    /// Interval between heartbeats sent by the server.
    #[arg(
        long,
        env = "IORELAY_PING_INTERVAL_MS",
        default_value_t = 25_000,
        help_heading = "Engine"
    )]
    pub ping_interval_ms: u64,

    /// How long the server waits for a pong before it closes the connection.
    #[arg(
        long,
        env = "IORELAY_PING_TIMEOUT_MS",
        default_value_t = 20_000,
        help_heading = "Engine"
    )]
    pub ping_timeout_ms: u64,

    /// Largest Engine.IO payload in bytes (a polling request body, a WebSocket message).
    #[arg(
        long,
        env = "IORELAY_MAX_PAYLOAD",
        default_value_t = 1_000_000,
        help_heading = "Engine"
    )]
    pub max_payload: u64,

    /// Packets queued per connection inside the engine; a long-polling client whose queue is full while it is not polling is closed as a slow consumer (WebSocket queues drain into the byte-bounded backlog of --max-queued-bytes).
    #[arg(
        long,
        env = "IORELAY_MAX_BUFFER_SIZE",
        default_value_t = 4096,
        help_heading = "Engine"
    )]
    pub max_buffer_size: usize,

    /// Bytes a WebSocket client may leave unread on the server; past it the client is a slow consumer: its connection is closed (it reconnects and catches up), never kept with holes.
    #[arg(
        long,
        env = "IORELAY_MAX_QUEUED_BYTES",
        default_value_t = 1_048_576,
        help_heading = "Engine"
    )]
    pub max_queued_bytes: usize,

    /// WebSocket read chunk per connection, bytes; allocated for every open
    /// WebSocket, so it is most of an idle connection's cost. Larger messages
    /// still arrive whole, in more reads.
    #[arg(
        long,
        env = "IORELAY_WS_READ_BUFFER",
        default_value_t = 1024,
        help_heading = "Engine"
    )]
    pub ws_read_buffer: usize,

    /// How long a new Engine.IO connection may wait before it connects to a namespace.
    #[arg(
        long,
        env = "IORELAY_CONNECT_TIMEOUT_MS",
        default_value_t = 45_000,
        help_heading = "Engine"
    )]
    pub connect_timeout_ms: u64,

    /// How long the server waits for a client's acknowledgement of a server emit.
    #[arg(
        long,
        env = "IORELAY_ACK_TIMEOUT_MS",
        default_value_t = 5_000,
        help_heading = "Engine"
    )]
    pub ack_timeout_ms: u64,

    /// Transports clients may use (comma separated).
    #[arg(
        long,
        env = "IORELAY_TRANSPORTS",
        value_enum,
        value_delimiter = ',',
        default_value = "polling,websocket",
        help_heading = "Engine"
    )]
    pub transports: Vec<Transport>,

    /// Also accept Engine.IO v3 / Socket.IO v4 clients (socket.io-client 2.x, Flask-SocketIO 4.x era).
    #[arg(long, env = "IORELAY_ALLOW_EIO3", help_heading = "Engine")]
    pub allow_eio3: bool,

    /// Packet encoding; every client must use the same one (msgpack: socket.io-msgpack-parser).
    #[arg(long, env = "IORELAY_PARSER", value_enum, default_value_t = ParserKind::Default, help_heading = "Engine")]
    pub parser: ParserKind,

    /// Bytes of binary attachments one packet may carry (default parser); more close the
    /// connection. At least --max-payload, so every packet a polling body can hold passes.
    #[arg(
        long,
        env = "IORELAY_MAX_ATTACHMENT_BYTES",
        default_value_t = 1_048_576,
        help_heading = "Engine"
    )]
    pub max_attachment_bytes: usize,

    /// Binary attachments one packet may declare (default parser); more close the connection.
    #[arg(
        long,
        env = "IORELAY_MAX_ATTACHMENTS",
        default_value_t = 64,
        help_heading = "Engine"
    )]
    pub max_attachments: usize,

    /// How long a packet's attachments may take to arrive after its header (default parser);
    /// an attachment that arrives later closes the connection.
    #[arg(
        long,
        env = "IORELAY_ATTACHMENT_TIMEOUT_MS",
        default_value_t = 10_000,
        help_heading = "Engine"
    )]
    pub attachment_timeout_ms: u64,
}

impl EngineConfig {
    /// Heartbeat interval.
    pub fn ping_interval(&self) -> Duration {
        Duration::from_millis(self.ping_interval_ms)
    }
    /// Heartbeat timeout.
    pub fn ping_timeout(&self) -> Duration {
        Duration::from_millis(self.ping_timeout_ms)
    }
    /// Namespace connect timeout.
    pub fn connect_timeout(&self) -> Duration {
        Duration::from_millis(self.connect_timeout_ms)
    }
    /// How long a binary packet's attachments may take to arrive.
    pub fn attachment_timeout(&self) -> Duration {
        Duration::from_millis(self.attachment_timeout_ms)
    }
    /// Acknowledgement timeout.
    pub fn ack_timeout(&self) -> Duration {
        Duration::from_millis(self.ack_timeout_ms)
    }
}

/// Settings of the built-in `/chat` namespace.
#[derive(Debug, Clone, Args, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChatConfig {
    /// Messages kept per chat room for `join` and `history` (a ring: the oldest go first).
    #[arg(
        long,
        env = "IORELAY_CHAT_HISTORY_SIZE",
        default_value_t = 200,
        help_heading = "Chat"
    )]
    pub chat_history_size: usize,

    /// Messages returned with `join` (the newest ones).
    #[arg(
        long,
        env = "IORELAY_CHAT_JOIN_HISTORY",
        default_value_t = 50,
        help_heading = "Chat"
    )]
    pub chat_join_history: usize,

    /// Longest chat message text, in characters.
    #[arg(
        long,
        env = "IORELAY_CHAT_MAX_MESSAGE_CHARS",
        default_value_t = 2_000,
        help_heading = "Chat"
    )]
    pub chat_max_message_chars: usize,

    /// Rooms one socket may be in at once (per namespace).
    #[arg(
        long,
        env = "IORELAY_MAX_ROOMS_PER_SOCKET",
        default_value_t = 50,
        help_heading = "Chat"
    )]
    pub max_rooms_per_socket: usize,

    /// Window over which a room's presence changes are batched into one `presence` event (0 = one event per change).
    #[arg(
        long,
        env = "IORELAY_PRESENCE_INTERVAL_MS",
        default_value_t = 500,
        help_heading = "Chat"
    )]
    pub presence_interval_ms: u64,

    /// Rooms with more users than this get `presence {room, count}` without the joined/left lists (the default is one page of `members`: bigger rooms page through `members` instead; every list sent to every member of a big room costs each connection memory that stays).
    #[arg(
        long,
        env = "IORELAY_PRESENCE_MAX_MEMBERS_LISTED",
        default_value_t = 100,
        help_heading = "Chat"
    )]
    pub presence_max_members_listed: usize,

    /// Members per page in the `join` reply and the default and largest `members` page (1 to 1000).
    #[arg(
        long,
        env = "IORELAY_PRESENCE_PAGE_SIZE",
        default_value_t = 100,
        help_heading = "Chat"
    )]
    pub presence_page_size: usize,

    /// Rooms any `/chat` user may see in `rooms` besides their own: names, or prefixes ending in `*` (`lobby.*`); `*` lists every room. Default: only their own.
    #[arg(
        long,
        env = "IORELAY_CHAT_PUBLIC_ROOMS",
        value_delimiter = ',',
        help_heading = "Chat"
    )]
    pub chat_public_rooms: Vec<String>,

    /// Bytes of chat history kept in memory across all rooms; the least recently used rooms are forgotten first (memory adapter).
    #[arg(
        long,
        env = "IORELAY_CHAT_HISTORY_MAX_BYTES",
        default_value_t = 64 * 1024 * 1024,
        help_heading = "Chat"
    )]
    pub chat_history_max_bytes: usize,

    /// Rooms whose history is kept in memory; past it the least recently used room is forgotten (memory adapter).
    #[arg(
        long,
        env = "IORELAY_CHAT_HISTORY_MAX_ROOMS",
        default_value_t = 10_000,
        help_heading = "Chat"
    )]
    pub chat_history_max_rooms: usize,

    /// A room's history is forgotten after this many seconds without a message (0 = never); in Redis, the TTL of its keys.
    #[arg(
        long,
        env = "IORELAY_CHAT_HISTORY_TTL_SECS",
        default_value_t = 7 * 24 * 3600,
        help_heading = "Chat"
    )]
    pub chat_history_ttl_secs: u64,
}

impl ChatConfig {
    /// The presence batching window.
    pub fn presence_interval(&self) -> Duration {
        Duration::from_millis(self.presence_interval_ms)
    }
}

/// A transport a client may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    /// HTTP long-polling.
    Polling,
    /// WebSocket.
    Websocket,
}

/// Socket.IO packet encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ParserKind {
    /// JSON text with binary attachments (what socket.io-client uses by default).
    Default,
    /// MessagePack (socket.io-msgpack-parser).
    Msgpack,
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// The Django Channels bridge: `group_send` on a `channels_redis` layer reaches sockets.
#[derive(Debug, Clone, Args, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DjangoConfig {
    /// Redis URLs of the Django channel layer, in the order of its `CONFIG["hosts"]` (the order shards groups), comma separated, e.g. redis://127.0.0.1:6379/0. Unset: no bridge.
    #[arg(
        long,
        env = "IORELAY_DJANGO_LAYER",
        value_delimiter = ',',
        hide_env_values = true,
        help_heading = "Django Channels bridge"
    )]
    pub django_layer: Vec<String>,

    /// Which `channels_redis` layer Django uses: `core` (`RedisChannelLayer`) or `pubsub` (`RedisPubSubChannelLayer`).
    #[arg(
        long,
        env = "IORELAY_DJANGO_LAYER_KIND",
        value_enum,
        default_value_t = DjangoLayerKind::Core,
        help_heading = "Django Channels bridge"
    )]
    pub django_layer_kind: DjangoLayerKind,

    /// The layer's `prefix` (its `CONFIG["prefix"]`).
    #[arg(
        long,
        env = "IORELAY_DJANGO_PREFIX",
        default_value = "asgi",
        help_heading = "Django Channels bridge"
    )]
    pub django_prefix: String,

    /// The layer's `symmetric_encryption_keys`, comma separated, newest first; unset for an unencrypted layer. Messages that no key opens are refused and counted (`bad_encryption`).
    #[arg(
        long,
        env = "IORELAY_DJANGO_ENCRYPTION_KEYS",
        value_delimiter = ',',
        hide_env_values = true,
        help_heading = "Django Channels bridge"
    )]
    pub django_encryption_keys: Vec<String>,

    /// Namespace whose rooms Django groups map to: `group_send("orders", …)` reaches the room `orders` there.
    #[arg(
        long,
        env = "IORELAY_DJANGO_NAMESPACE",
        default_value = "/",
        help_heading = "Django Channels bridge"
    )]
    pub django_namespace: String,

    /// Group name pattern of one user's notifications, `{id}` standing for the user id: such a group reaches that user's `/notifications` sockets as a `notification`. Empty: no user groups.
    #[arg(
        long,
        env = "IORELAY_DJANGO_USER_GROUP",
        default_value = "user.{id}",
        help_heading = "Django Channels bridge"
    )]
    pub django_user_group: String,

    /// The layer's `group_expiry` in seconds (core layer): iorelay renews its group memberships well before it.
    #[arg(
        long,
        env = "IORELAY_DJANGO_GROUP_EXPIRY_SECS",
        default_value_t = 86_400,
        help_heading = "Django Channels bridge"
    )]
    pub django_group_expiry_secs: u64,

    /// Largest layer message the bridge decodes, in bytes; larger ones are refused and counted (`too_large`).
    #[arg(
        long,
        env = "IORELAY_DJANGO_MAX_MESSAGE_BYTES",
        default_value_t = 1_048_576,
        help_heading = "Django Channels bridge"
    )]
    pub django_max_message_bytes: usize,
}

/// Which `channels_redis` layer the Django project runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DjangoLayerKind {
    /// `channels_redis.core.RedisChannelLayer`: groups are sorted sets, messages queue per channel.
    Core,
    /// `channels_redis.pubsub.RedisPubSubChannelLayer`: a group is a pub/sub channel.
    Pubsub,
}
