//! The one typed configuration of iorelay.
//!
//! Every setting is declared once, here: as a command-line flag, an `IORELAY_*`
//! environment variable and a key of the optional TOML file (`--config`), with
//! one doc comment that `--help` and `check-config` show. Precedence is
//! flag > environment > file > built-in default, so a file can hold the
//! defaults of a deployment and the environment can still override them.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use clap::parser::ValueSource;
use clap::{ArgMatches, Args, FromArgMatches, Parser, Subcommand, ValueEnum};
use ipnet::IpNet;
use serde::{Deserialize, Serialize};
use serde_with::{DeserializeFromStr, SerializeDisplay};
use url::{Position, Url};

/// Command line of the `iorelay` binary.
#[derive(Debug, Parser)]
#[command(
    name = "iorelay",
    version,
    about = "A production Socket.IO server (Socket.IO v5 / Engine.IO v4, polling and WebSocket).",
    long_about = "A production Socket.IO server (Socket.IO v5 / Engine.IO v4, polling and WebSocket).\n\n\
        Every flag also reads an IORELAY_* environment variable and a key of the TOML file given \
        with --config (section and key as in `iorelay check-config`). Precedence: flag > \
        environment > file > default.",
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    /// What to run; without a subcommand the server runs.
    #[command(subcommand)]
    pub command: Option<Command>,

    /// Settings of the server (used when no subcommand is given).
    #[command(flatten)]
    pub serve: Config,
}

/// Subcommands of the binary.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Validate a configuration (flags, environment, file) and print the effective settings as TOML.
    CheckConfig(Box<Config>),
    /// Serve the reference behaviour the official Socket.IO protocol test suite expects.
    Conformance(ConformanceArgs),
}

/// Flags of `iorelay conformance`.
#[derive(Debug, Clone, Args)]
pub struct ConformanceArgs {
    /// Address to listen on.
    #[arg(long, env = "IORELAY_LISTEN", default_value = "127.0.0.1:3000")]
    pub listen: SocketAddr,
    /// Log output format.
    #[arg(long, env = "IORELAY_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

/// The whole effective configuration, made of sections.
#[derive(Debug, Clone, Args, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// TOML file with settings; flags and environment variables override it.
    #[arg(long, env = "IORELAY_CONFIG")]
    #[serde(skip)]
    pub config: Option<PathBuf>,

    #[command(flatten)]
    pub server: ServerConfig,

    #[command(flatten)]
    pub engine: EngineConfig,

    #[command(flatten)]
    pub namespaces: NamespacesConfig,

    #[command(flatten)]
    pub chat: ChatConfig,

    #[command(flatten)]
    pub notifications: NotificationsConfig,

    #[command(flatten)]
    pub api: ApiConfig,

    #[command(flatten)]
    pub cluster: ClusterConfig,

    #[command(flatten)]
    pub auth: AuthConfig,

    #[command(flatten)]
    pub limits: LimitsConfig,

    #[command(flatten)]
    pub tls: TlsConfig,

    #[command(flatten)]
    pub metrics: MetricsConfig,

    #[command(flatten)]
    pub flask: FlaskConfig,

    #[command(flatten)]
    pub forwarding: ForwardingConfig,
}

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
}

impl ForwardingConfig {
    /// How long to wait for a backend.
    pub fn forward_timeout(&self) -> Duration {
        Duration::from_millis(self.forward_timeout_ms)
    }
}

/// A namespace and the backend URL that serves it, written `NS=URL`
/// (`/=http://127.0.0.1:5000/socketio/event`), for `--forward-url` and `--connect-url`.
///
/// Parsing checks one pair; [`Config::validate`] checks the list (one URL per
/// namespace, generic namespaces only).
#[derive(Debug, Clone, PartialEq, Eq, DeserializeFromStr, SerializeDisplay)]
pub struct NamespaceUrl {
    /// The namespace path, e.g. `/admin`.
    pub namespace: String,
    /// Where to POST, always `http://`.
    pub url: Url,
}

impl FromStr for NamespaceUrl {
    type Err = String;

    fn from_str(pair: &str) -> Result<Self, String> {
        let Some((namespace, url)) = pair.split_once('=') else {
            return Err(format!("{pair:?} is not NS=URL"));
        };
        let (namespace, url) = (namespace.trim(), url.trim());
        match Url::parse(url) {
            Ok(parsed) if parsed.scheme() == "http" && parsed.has_host() => Ok(Self {
                namespace: namespace.to_owned(),
                url: parsed,
            }),
            _ => Err(format!(
                "{url:?} is not an http:// URL (TLS to backends is not supported; reach them over a private network)"
            )),
        }
    }
}

impl fmt::Display for NamespaceUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}={}", self.namespace, self.url)
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

/// A trusted proxy of `--trusted-proxies`: one address (`10.0.0.1`, `::1`) or
/// a network (`10.0.0.0/8`, `fd00::/8`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, DeserializeFromStr, SerializeDisplay)]
pub struct TrustedProxy(IpNet);

impl TrustedProxy {
    /// Whether `ip` is this proxy. An IPv4-mapped IPv6 address (`::ffff:10.0.0.1`,
    /// how a dual-stack listener sees an IPv4 peer) matches as its IPv4 address.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match (self.0, ip) {
            (IpNet::V4(_), IpAddr::V6(v6)) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            _ => ip,
        };
        self.0.contains(&ip)
    }
}

impl FromStr for TrustedProxy {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let text = text.trim();
        text.parse::<IpNet>()
            .or_else(|_| text.parse::<IpAddr>().map(IpNet::from))
            .map(Self)
            .map_err(|_| format!("{text:?} is not an IP address or CIDR like 10.0.0.0/8"))
    }
}

impl fmt::Display for TrustedProxy {
    /// A single address as it was written, without `/32` or `/128`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.prefix_len() == self.0.max_prefix_len() {
            self.0.addr().fmt(f)
        } else {
            self.0.fmt(f)
        }
    }
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
    /// Extra generic namespaces besides `/` (comma separated, e.g. `/admin,/feed`).
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

/// A configuration that cannot be used; shown to the operator as one line.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A flag or `IORELAY_*` value that does not parse, or `--help` / `--version`:
    /// clap prints it and exits with its code ([`clap::Error::exit`]).
    #[error(transparent)]
    Cli(#[from] clap::Error),
    /// The `--config` file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The `--config` file is not valid TOML or has a bad value.
    #[error("invalid config file {path}: {message}")]
    File {
        /// The file.
        path: PathBuf,
        /// What is wrong, from the TOML parser.
        message: String,
    },
    /// A value is out of range or inconsistent with another.
    #[error("invalid setting {key}: {message}")]
    Invalid {
        /// The setting, as `section.key`.
        key: &'static str,
        /// What is wrong.
        message: String,
    },
}

impl Config {
    /// Applies the `--config` file (if any) under the flags and environment, then validates.
    ///
    /// `matches` are the matches this config was parsed from: they tell which values
    /// came from a flag or the environment, and so win over the file.
    pub fn resolve(self, matches: &ArgMatches) -> Result<Config, ConfigError> {
        let config = match self.config.clone() {
            Some(path) => self.overlay_file(&path, matches)?,
            None => self,
        };
        config.validate()?;
        Ok(config)
    }

    fn overlay_file(self, path: &Path, matches: &ArgMatches) -> Result<Config, ConfigError> {
        let file_error = |message: String| ConfigError::File {
            path: path.to_owned(),
            message,
        };
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        let file: toml::Table = text
            .parse()
            .map_err(|e: toml::de::Error| file_error(e.message().to_owned()))?;
        let known: Vec<String> = Config::augment_args(clap::Command::new("iorelay"))
            .get_arguments()
            .map(|arg| arg.get_id().to_string())
            .collect();
        let mut merged = toml::Table::try_from(&self).map_err(|e| file_error(e.to_string()))?;
        for (section, values) in file {
            let Some(toml::Value::Table(target)) = merged.get_mut(&section) else {
                return Err(file_error(format!("unknown section [{section}]")));
            };
            let toml::Value::Table(values) = values else {
                return Err(file_error(format!("[{section}] must be a table")));
            };
            for (key, value) in values {
                if !known.contains(&key) || key == "config" {
                    return Err(file_error(format!("unknown key {section}.{key}")));
                }
                let from_user = matches!(
                    matches.value_source(&key),
                    Some(ValueSource::CommandLine | ValueSource::EnvVariable)
                );
                if !from_user {
                    target.insert(key, value);
                }
            }
        }
        let mut config: Config = toml::Value::Table(merged)
            .try_into()
            .map_err(|e: toml::de::Error| file_error(e.message().to_owned()))?;
        config.config = Some(path.to_owned());
        Ok(config)
    }

    /// The built-in defaults: no flag, no file, and the environment ignored.
    pub fn defaults() -> Config {
        let command =
            Config::augment_args(clap::Command::new("iorelay")).mut_args(|arg| arg.env(None));
        let matches = command.try_get_matches_from(["iorelay"]);
        // Only the literals of this file are parsed (`defaults_are_valid` runs this), so
        // a failure is a bug in them, not an input to report.
        matches
            .and_then(|m| Config::from_arg_matches(&m))
            .expect("the built-in defaults parse")
    }

    /// Checks ranges and combinations that the types alone do not.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |key, message: &str| {
            Err(ConfigError::Invalid {
                key,
                message: message.to_owned(),
            })
        };
        let e = &self.engine;
        if e.ping_interval_ms == 0 {
            return invalid("engine.ping_interval_ms", "must be greater than 0");
        }
        if e.ping_timeout_ms == 0 {
            return invalid("engine.ping_timeout_ms", "must be greater than 0");
        }
        if e.connect_timeout_ms == 0 {
            return invalid("engine.connect_timeout_ms", "must be greater than 0");
        }
        if e.max_payload < 1024 {
            return invalid("engine.max_payload", "must be at least 1024 bytes");
        }
        if e.max_buffer_size == 0 {
            return invalid("engine.max_buffer_size", "must be greater than 0");
        }
        if e.max_queued_bytes < 64 * 1024 {
            return invalid("engine.max_queued_bytes", "must be at least 65536 bytes");
        }
        if self.server.body_read_timeout_ms == 0 {
            return invalid("server.body_read_timeout_ms", "must be greater than 0");
        }
        if self.server.header_read_timeout_ms == 0 {
            return invalid("server.header_read_timeout_ms", "must be greater than 0");
        }
        if self.server.idle_timeout_ms <= e.ping_interval_ms {
            return invalid(
                "server.idle_timeout_ms",
                "must exceed engine.ping_interval_ms (a long-poll is silent that long)",
            );
        }
        if e.ws_read_buffer < 64 {
            return invalid("engine.ws_read_buffer", "must be at least 64 bytes");
        }
        if u64::try_from(e.max_attachment_bytes).is_ok_and(|bytes| bytes < e.max_payload) {
            return invalid(
                "engine.max_attachment_bytes",
                "must be at least engine.max_payload (a polling body may carry that much)",
            );
        }
        if e.max_attachments == 0 {
            return invalid("engine.max_attachments", "must be greater than 0");
        }
        if e.attachment_timeout_ms == 0 {
            return invalid("engine.attachment_timeout_ms", "must be greater than 0");
        }
        if e.transports.is_empty() {
            return invalid("engine.transports", "at least one transport is required");
        }
        if !e.path.starts_with('/') || e.path.len() < 2 {
            return invalid("engine.path", "must start with '/' and not be '/' alone");
        }
        if (1..100).contains(&self.server.log_repeat_interval_ms) {
            return invalid(
                "server.log_repeat_interval_ms",
                "must be 0 (log every line) or at least 100",
            );
        }
        if self.server.worker_threads == Some(0) {
            return invalid("server.worker_threads", "must be greater than 0");
        }
        if let Some(dir) = &self.server.static_dir
            && !dir.is_dir()
        {
            return invalid(
                "server.static_dir",
                &format!("{} is not a directory", dir.display()),
            );
        }
        for origin in &self.server.cors_origins {
            if origin != "*" && !(origin.starts_with("http://") || origin.starts_with("https://")) {
                return invalid(
                    "server.cors_origins",
                    &format!("{origin:?} is not `*` or an http(s):// origin"),
                );
            }
        }
        for path in &self.namespaces.namespaces {
            let valid_chars = path
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '/' | '-' | '_' | '.'));
            if !path.starts_with('/') || path.len() < 2 || !valid_chars {
                return invalid(
                    "namespaces.namespaces",
                    &format!("{path:?} is not a namespace like /admin"),
                );
            }
            if BUILTIN_NAMESPACES.contains(&path.as_str()) {
                return invalid(
                    "namespaces.namespaces",
                    &format!("{path} is a built-in app's namespace"),
                );
            }
        }
        if self.cluster.adapter == AdapterKind::Redis && self.cluster.redis_url.is_none() {
            return invalid("cluster.redis_url", "required with --adapter redis");
        }
        if self.cluster.redis_prefix.is_empty()
            || self.cluster.redis_prefix.contains(char::is_whitespace)
        {
            return invalid("cluster.redis_prefix", "must be a non-empty word");
        }
        if self.api.api_keys.iter().any(|k| k.len() < 16) {
            return invalid("api.api_keys", "every key needs at least 16 characters");
        }
        if let Some(url) = &self.flask.flask_queue {
            let redis = ["redis://", "unix://", "redis+unix://"];
            if !redis.iter().any(|scheme| url.starts_with(scheme)) {
                return invalid(
                    "flask.flask_queue",
                    "must be a redis:// URL (Kombu/AMQP queues are not supported)",
                );
            }
        }
        if self.flask.flask_max_buffered_bytes < FLASK_MAX_MESSAGE_BYTES {
            return invalid(
                "flask.flask_max_buffered_bytes",
                "must hold at least one message (4 MiB)",
            );
        }
        if self.flask.flask_channel.is_empty()
            || self.flask.flask_channel.contains(char::is_whitespace)
        {
            return invalid("flask.flask_channel", "must be a non-empty word");
        }
        let generic = self.namespaces.generic_paths();
        for (key, routes) in [
            ("forwarding.forward_url", &self.forwarding.forward_url),
            ("forwarding.connect_url", &self.forwarding.connect_url),
        ] {
            for (i, route) in routes.iter().enumerate() {
                let ns = &route.namespace;
                if routes[..i].iter().any(|known| &known.namespace == ns) {
                    return invalid(key, &format!("{ns} has two URLs"));
                }
                if !generic.contains(ns) {
                    return invalid(
                        key,
                        &format!("{ns} is not a generic namespace (`/` or one of --namespaces)"),
                    );
                }
            }
        }
        if self.forwarding.forward_timeout_ms == 0 {
            return invalid("forwarding.forward_timeout_ms", "must be greater than 0");
        }
        let c = &self.chat;
        if c.chat_history_size == 0 {
            return invalid("chat.chat_history_size", "must be greater than 0");
        }
        if c.chat_join_history > c.chat_history_size {
            return invalid(
                "chat.chat_join_history",
                "must not exceed chat.chat_history_size",
            );
        }
        if c.chat_max_message_chars == 0 {
            return invalid("chat.chat_max_message_chars", "must be greater than 0");
        }
        if c.max_rooms_per_socket == 0 {
            return invalid("chat.max_rooms_per_socket", "must be greater than 0");
        }
        // A page is one Redis script call with the page's ids as arguments.
        if c.presence_page_size == 0 || c.presence_page_size > 1000 {
            return invalid("chat.presence_page_size", "must be between 1 and 1000");
        }
        if c.chat_history_max_rooms == 0 {
            return invalid("chat.chat_history_max_rooms", "must be greater than 0");
        }
        if c.chat_history_max_bytes < 64 * 1024 {
            return invalid("chat.chat_history_max_bytes", "must be at least 65536");
        }
        for pattern in &c.chat_public_rooms {
            let name = pattern.strip_suffix('*').unwrap_or(pattern);
            if pattern != "*" && crate::protocol::validate_room(name).is_err() {
                return invalid(
                    "chat.chat_public_rooms",
                    &format!("{pattern:?} is not a room name or a prefix like lobby.*"),
                );
            }
        }
        self.validate_security()?;
        Ok(())
    }

    /// Checks the auth, limit and TLS settings (files are read by the modules that use them).
    fn validate_security(&self) -> Result<(), ConfigError> {
        let invalid = |key, message: &str| {
            Err(ConfigError::Invalid {
                key,
                message: message.to_owned(),
            })
        };
        let a = &self.auth;
        if a.jwt_secret.is_some() && a.jwt_public_key.is_some() {
            return invalid(
                "auth.jwt_secret",
                "give --jwt-secret or --jwt-public-key, not both",
            );
        }
        if a.jwt_secret.as_ref().is_some_and(|s| s.len() < 32) {
            return invalid("auth.jwt_secret", "must have at least 32 bytes");
        }
        let verifies = a.jwt_secret.is_some() || a.jwt_public_key.is_some();
        if !a.private_namespaces.is_empty() && !verifies {
            return invalid(
                "auth.private_namespaces",
                "needs --jwt-secret or --jwt-public-key to verify tokens",
            );
        }
        let served = self.namespaces.generic_paths();
        for ns in &a.private_namespaces {
            if !served.contains(ns) && !BUILTIN_NAMESPACES.contains(&ns.as_str()) {
                return invalid(
                    "auth.private_namespaces",
                    &format!("{ns} is not a namespace this server serves"),
                );
            }
        }
        if a.dev_auth && a.jwt_secret.is_none() {
            return invalid("auth.dev_auth", "needs --jwt-secret to sign tokens");
        }
        let l = &self.limits;
        if l.handshake_rate > 0 && l.handshake_burst == 0 {
            return invalid("limits.handshake_burst", "must be greater than 0");
        }
        if l.event_rate > 0 && l.event_burst == 0 {
            return invalid("limits.event_burst", "must be greater than 0");
        }
        if self.tls.tls_cert.is_some() != self.tls.tls_key.is_some() {
            return invalid("tls.tls_cert", "--tls-cert and --tls-key go together");
        }
        Ok(())
    }

    /// The Redis URL with its password masked, for messages.
    pub fn to_redacted_redis_url(&self) -> String {
        self.cluster
            .redis_url
            .as_deref()
            .map(redact_url_password)
            .unwrap_or_default()
    }

    /// The effective settings as TOML, as `check-config` prints them (secrets masked).
    pub fn to_toml(&self) -> String {
        let mut shown = self.clone();
        for key in &mut shown.api.api_keys {
            *key = "<redacted>".to_owned();
        }
        if let Some(secret) = &mut shown.auth.jwt_secret {
            *secret = "<redacted>".to_owned();
        }
        if let Some(url) = &mut shown.cluster.redis_url {
            *url = redact_url_password(url);
        }
        if let Some(url) = &mut shown.flask.flask_queue {
            *url = redact_url_password(url);
        }
        toml::to_string(&shown).unwrap_or_else(|e| format!("# cannot render settings: {e}\n"))
    }
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

/// `redis://user:secret@host` → `redis://user:<redacted>@host`; a URL
/// without a password, or text that is no URL, is returned as it is.
pub fn redact_url_password(url: &str) -> String {
    match Url::parse(url) {
        Ok(parsed) if parsed.password().is_some() => format!(
            "{}<redacted>{}",
            &parsed[..Position::BeforePassword],
            &parsed[Position::AfterPassword..]
        ),
        _ => url.to_owned(),
    }
}

/// Parses the process arguments into the command to run and its resolved config.
pub fn parse() -> Result<(Option<Command>, Config), ConfigError> {
    parse_from(std::env::args_os())
}

/// Parses `args` (the binary's name first) into the command to run and its resolved config.
///
/// For `conformance` the config is the flags' defaults and the environment,
/// unvalidated: that command sets what it needs over it.
pub fn parse_from<I, T>(args: I) -> Result<(Option<Command>, Config), ConfigError>
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    use clap::CommandFactory;
    let matches = Cli::command().try_get_matches_from(args)?;
    let cli = Cli::from_arg_matches(&matches)?;
    match cli.command {
        Some(Command::CheckConfig(config)) => {
            let sub = matches
                .subcommand_matches("check-config")
                .unwrap_or(&matches);
            let config = config.resolve(sub)?;
            Ok((Some(Command::CheckConfig(Box::new(config.clone()))), config))
        }
        Some(command @ Command::Conformance(_)) => Ok((Some(command), cli.serve)),
        None => Ok((None, cli.serve.resolve(&matches)?)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolve(args: &[&str]) -> Result<Config, ConfigError> {
        parse_from(std::iter::once("iorelay").chain(args.iter().copied())).map(|(_, c)| c)
    }

    fn write_file(text: &str) -> PathBuf {
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let path =
            std::env::temp_dir().join(format!("iorelay-config-{}-{n}.toml", std::process::id()));
        std::fs::write(&path, text).expect("write temp config");
        path
    }

    #[test]
    fn defaults_are_documented_values() {
        let c = resolve(&[]).expect("defaults are valid");
        assert_eq!(c.server.listen.to_string(), "0.0.0.0:3000");
        assert_eq!(c.engine.ping_interval_ms, 25_000);
        assert_eq!(c.engine.max_payload, 1_000_000);
        assert_eq!(
            c.engine.transports,
            vec![Transport::Polling, Transport::Websocket]
        );
    }

    #[test]
    fn defaults_are_valid() {
        let c = Config::defaults();
        c.validate().expect("the built-in defaults are valid");
        assert_eq!(c.server.listen.to_string(), "0.0.0.0:3000");
        assert_eq!(c.flask.flask_max_buffered_bytes, 33_554_432);
        assert!(c.limits.trusted_proxies.is_empty());
    }

    #[test]
    fn file_overrides_defaults_but_not_flags() {
        let path = write_file(
            "[server]\nlisten = \"127.0.0.1:4000\"\n[engine]\nping_interval_ms = 1000\nmax_payload = 5000\n",
        );
        let path_arg = path.to_string_lossy().to_string();
        let c = resolve(&["--config", &path_arg, "--max-payload", "9000"]).expect("valid");
        assert_eq!(c.server.listen.to_string(), "127.0.0.1:4000");
        assert_eq!(c.engine.ping_interval_ms, 1000);
        assert_eq!(c.engine.max_payload, 9000, "flag wins over file");
    }

    #[test]
    fn unknown_file_key_is_an_error() {
        let path = write_file("[engine]\nping_intervl_ms = 1000\n");
        let path_arg = path.to_string_lossy().to_string();
        let err = resolve(&["--config", &path_arg]).expect_err("typo must be caught");
        assert!(
            err.to_string()
                .contains("unknown key engine.ping_intervl_ms"),
            "{err}"
        );
    }

    #[test]
    fn bad_file_value_is_an_error() {
        let path = write_file("[engine]\nping_interval_ms = \"soon\"\n");
        let path_arg = path.to_string_lossy().to_string();
        let err = resolve(&["--config", &path_arg]).expect_err("type error");
        assert!(err.to_string().starts_with("invalid config file"), "{err}");
    }

    #[test]
    fn validation_names_the_setting() {
        let err = resolve(&["--ping-interval-ms", "0"]).expect_err("zero interval");
        assert_eq!(
            err.to_string(),
            "invalid setting engine.ping_interval_ms: must be greater than 0"
        );
        let err = resolve(&["--cors-origins", "example.com"]).expect_err("bad origin");
        assert!(err.to_string().contains("server.cors_origins"), "{err}");
    }

    #[test]
    fn attachment_bounds_cover_what_a_payload_may_carry() {
        let c = resolve(&[]).expect("defaults");
        assert_eq!(
            (
                c.engine.max_attachment_bytes,
                c.engine.max_attachments,
                c.engine.attachment_timeout_ms
            ),
            (1_048_576, 64, 10_000)
        );
        let err = resolve(&["--max-payload", "2000000"]).expect_err("payload over the bound");
        assert!(
            err.to_string().contains("engine.max_attachment_bytes"),
            "{err}"
        );
        let raised = resolve(&[
            "--max-payload",
            "2000000",
            "--max-attachment-bytes",
            "2000000",
        ]);
        assert!(raised.is_ok());
        assert!(resolve(&["--max-attachments", "0"]).is_err());
        assert!(resolve(&["--log-repeat-interval-ms", "5"]).is_err());
        assert!(resolve(&["--log-repeat-interval-ms", "0"]).is_ok());
        assert!(resolve(&["--attachment-timeout-ms", "0"]).is_err());
    }

    #[test]
    fn redis_passwords_are_masked() {
        assert_eq!(
            redact_url_password("redis://:pw@h:6379/0"),
            "redis://:<redacted>@h:6379/0"
        );
        assert_eq!(
            redact_url_password("redis://u:pw@h"),
            "redis://u:<redacted>@h"
        );
        assert_eq!(redact_url_password("redis://h:6379"), "redis://h:6379");
        assert_eq!(
            redact_url_password("redis://u:p@ss@h/1"),
            "redis://u:<redacted>@h/1",
            "the last @ ends the credentials"
        );
        for unparsable in ["u:pw@h", "", "redis://u:pw@h:port"] {
            assert_eq!(redact_url_password(unparsable), unparsable);
        }
        let err = resolve(&["--adapter", "redis"]).expect_err("url required");
        assert!(err.to_string().contains("cluster.redis_url"));
    }

    #[test]
    fn security_settings_are_checked_and_secrets_masked() {
        let secret = "a-jwt-secret-of-at-least-32-bytes!";
        let c = resolve(&["--jwt-secret", secret, "--private-namespaces", "/chat"]).expect("valid");
        assert!(!c.to_toml().contains(secret), "the JWT secret is masked");
        for (args, key) in [
            (vec!["--jwt-secret", "short"], "auth.jwt_secret"),
            (
                vec!["--private-namespaces", "/chat"],
                "auth.private_namespaces",
            ),
            (
                vec!["--jwt-secret", secret, "--private-namespaces", "/nope"],
                "auth.private_namespaces",
            ),
            (vec!["--dev-auth"], "auth.dev_auth"),
            (vec!["--tls-key", "k.pem"], "tls.tls_cert"),
            (
                vec!["--jwt-secret", secret, "--jwt-public-key", "k.pem"],
                "auth.jwt_secret",
            ),
        ] {
            let err = resolve(&args).expect_err(key);
            assert!(err.to_string().contains(key), "{args:?}: {err}");
        }
    }

    #[test]
    fn effective_settings_round_trip_through_toml() {
        let c = resolve(&["--transports", "websocket", "--allow-eio3"]).expect("valid");
        let path = write_file(&c.to_toml());
        let path_arg = path.to_string_lossy().to_string();
        let again = resolve(&["--config", &path_arg]).expect("printed config is valid input");
        assert_eq!(again.engine.transports, vec![Transport::Websocket]);
        assert!(again.engine.allow_eio3);
    }

    #[test]
    fn flask_bridge_and_forwarding_settings() {
        let c = resolve(&[
            "--flask-queue",
            "redis://:secret@h:6379/0",
            "--namespaces",
            "/admin",
            "--forward-url",
            "/=http://b:5000/event,/admin=http://b:5000/admin",
            "--connect-url",
            "/admin=http://b:5000/connect",
        ])
        .expect("valid");
        assert_eq!(c.flask.flask_channel, "flask-socketio");
        let routes: Vec<(&str, &str)> = c
            .forwarding
            .forward_url
            .iter()
            .map(|r| (r.namespace.as_str(), r.url.as_str()))
            .collect();
        assert_eq!(
            routes,
            [
                ("/", "http://b:5000/event"),
                ("/admin", "http://b:5000/admin")
            ]
        );
        let shown = c.to_toml();
        assert!(!shown.contains("secret"), "{shown}");
        assert!(
            shown.contains("[flask]") && shown.contains("[forwarding]"),
            "{shown}"
        );

        let cases: [(&[&str], &str); 8] = [
            (&["--flask-queue", "amqp://guest@h//"], "flask.flask_queue"),
            (&["--flask-channel", "two words"], "flask.flask_channel"),
            // A pair that does not parse is refused by its flag, one that does by its setting.
            (&["--forward-url", "http://b/event"], "--forward-url"),
            (
                &["--forward-url", "/chat=http://b/event"],
                "forwarding.forward_url",
            ),
            (
                &["--forward-url", "/=http://a/event,/=http://b/event"],
                "forwarding.forward_url",
            ),
            (&["--connect-url", "/=https://b/connect"], "--connect-url"),
            (&["--connect-url", "/=http://"], "--connect-url"),
            (
                &["--forward-timeout-ms", "0"],
                "forwarding.forward_timeout_ms",
            ),
        ];
        for (args, key) in cases {
            let err = resolve(args).expect_err(key);
            assert!(err.to_string().contains(key), "{args:?}: {err}");
        }
    }

    #[test]
    fn forward_urls_round_trip_through_toml() {
        let c = resolve(&["--forward-url", " / = http://b:5000/event "]).expect("valid");
        let path = write_file(&c.to_toml());
        let path_arg = path.to_string_lossy().to_string();
        let again = resolve(&["--config", &path_arg]).expect("printed config is valid input");
        assert_eq!(again.forwarding.forward_url, c.forwarding.forward_url);
        assert_eq!(
            again.forwarding.forward_url[0].to_string(),
            "/=http://b:5000/event"
        );
    }

    #[test]
    fn trusted_proxies_are_addresses_or_networks() {
        let net = |text: &str| text.parse::<TrustedProxy>();
        let ip = |text: &str| text.parse::<IpAddr>().expect("ip");
        let cidr = net("10.1.0.0/16").expect("cidr");
        assert!(cidr.contains(ip("10.1.200.3")));
        assert!(!cidr.contains(ip("10.2.0.1")));
        assert!(
            cidr.contains(ip("::ffff:10.1.0.9")),
            "an IPv4-mapped peer matches"
        );
        assert!(net("0.0.0.0/0").expect("all").contains(ip("10.0.0.9")));
        assert!(net("fd00::/8").expect("v6").contains(ip("fd12::1")));
        let one = net(" 10.0.0.1 ").expect("a bare address");
        assert!(one.contains(ip("10.0.0.1")) && !one.contains(ip("10.0.0.2")));
        assert!(net("::1").expect("v6 address").contains(ip("::1")));
        for bad in ["", "10.0.0.0/33", "example.com", "10.0.0/8", "::1/129"] {
            assert!(net(bad).is_err(), "{bad}");
        }
        for text in ["10.0.0.1", "10.0.0.0/8", "::1", "fd00::/8"] {
            assert_eq!(
                net(text).expect("valid").to_string(),
                text,
                "shown as written"
            );
        }
    }

    #[test]
    fn trusted_proxies_are_parsed_where_they_are_read() {
        let c = resolve(&["--trusted-proxies", "10.0.0.0/8,::1"]).expect("valid");
        assert_eq!(c.limits.trusted_proxies.len(), 2);
        let shown = c.to_toml();
        assert!(
            shown.contains(r#"trusted_proxies = ["10.0.0.0/8", "::1"]"#),
            "{shown}"
        );
        let err = resolve(&["--trusted-proxies", "10.0.0.0/8,proxy.local"]).expect_err("a name");
        assert!(matches!(err, ConfigError::Cli(_)), "{err}");
        assert!(err.to_string().contains("proxy.local"), "{err}");
        let path = write_file("[limits]\ntrusted_proxies = [\"10.0.0.0/33\"]\n");
        let path_arg = path.to_string_lossy().to_string();
        let err = resolve(&["--config", &path_arg]).expect_err("a bad prefix");
        assert!(err.to_string().contains("10.0.0.0/33"), "{err}");
    }
}
