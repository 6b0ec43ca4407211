//! `iorelay conformance`: the reference server of the official Socket.IO
//! protocol test suite, built by the same engine code as production.
//!
//! The suite expects fixed engine settings (ping 300/200 ms, max payload
//! 1 000 000, connect timeout 1 s, CORS `*`), the namespaces `/` and
//! `/custom`, the handshake `auth` echoed as an `auth` event, `message`
//! echoed as `message-back` and `message-with-ack` acknowledged with its own
//! arguments, binary attachments included.

use crate::socket::NodeAdapter;
use crate::socket::guard;
use rmpv::Value;
use socketioxide::SocketIo;
use socketioxide::extract::{AckSender, Data, SocketRef};
use socketioxide::handler::ConnectHandler;
use socketioxide::socket::DisconnectReason;
use socketioxide_core::adapter::Spawnable;

use crate::config::{Config, ConformanceArgs, EngineConfig, ParserKind, Transport};
use crate::protocol::event_args::EventArgs;
use crate::socket::lifecycle;

/// The engine settings the official suite is written against.
pub fn engine_config(parser: ParserKind) -> EngineConfig {
    EngineConfig {
        path: "/socket.io".to_owned(),
        ping_interval_ms: 300,
        ping_timeout_ms: 200,
        max_payload: 1_000_000,
        max_buffer_size: 128,
        max_queued_bytes: 1_048_576,
        ws_read_buffer: 4096,
        connect_timeout_ms: 1_000,
        ack_timeout_ms: 200,
        transports: vec![Transport::Polling, Transport::Websocket],
        allow_eio3: false,
        parser,
        max_attachment_bytes: 1_048_576,
        max_attachments: 64,
        attachment_timeout_ms: 10_000,
    }
}

/// Settings of the conformance server as a whole: `base` (the defaults and the
/// environment) with the suite's engine, CORS `*` and the command's flags.
pub fn config(base: Config, args: &ConformanceArgs) -> Config {
    let mut config = base;
    config.server.listen = args.listen;
    config.server.cors_origins = vec!["*".to_owned()];
    config.server.log_format = args.log_format;
    config.engine = engine_config(ParserKind::Default);
    config
}

/// Registers `/` and `/custom` with the reference behaviour.
pub fn register<A: NodeAdapter>(io: &SocketIo<A>) {
    for path in ["/", "/custom"] {
        io.ns(path, echo_auth::<A>.with(setup::<A>)).spawn();
    }
}

/// After the CONNECT packet: echo the handshake `auth` as the suite expects.
async fn echo_auth<A: NodeAdapter>(socket: SocketRef<A>, Data(auth): Data<Value>) {
    if let Err(e) = socket.emit("auth", &auth) {
        tracing::warn!(sid = %socket.id, error = %e, "cannot emit auth");
    }
}

/// Before the CONNECT packet (a middleware), so no early event finds no handler.
async fn setup<A: NodeAdapter>(socket: SocketRef<A>) -> Result<(), std::convert::Infallible> {
    lifecycle::on_connected(&socket);
    socket.on_disconnect(async |s: SocketRef<A>, reason: DisconnectReason| {
        lifecycle::on_disconnect(s, reason);
    });
    guard::on(
        &socket,
        "message",
        async |s: SocketRef<A>, Data(args): Data<EventArgs>| {
            if let Err(e) = s.emit("message-back", &args) {
                tracing::warn!(sid = %s.id, error = %e, "cannot echo message");
            }
        },
    );
    guard::on(
        &socket,
        "message-with-ack",
        async |Data(args): Data<EventArgs>, ack: AckSender<A>| {
            if let Err(e) = ack.send(&args) {
                tracing::warn!(error = %e, "cannot acknowledge message");
            }
        },
    );
    // Server → client acknowledgement: ask the client, then report its answer.
    guard::on(
        &socket,
        "emit-with-ack",
        async |s: SocketRef<A>, Data(args): Data<EventArgs>| {
            let answer = match s.emit_with_ack::<_, EventArgs>("emit-with-ack", &args) {
                Ok(pending) => pending.await,
                Err(e) => {
                    tracing::warn!(sid = %s.id, error = %e, "cannot emit with ack");
                    return;
                }
            };
            match answer {
                Ok(answer) => {
                    let _ = s.emit("emit-with-ack", &answer);
                }
                Err(e) => tracing::info!(sid = %s.id, error = %e, "client did not acknowledge"),
            }
        },
    );
    Ok(())
}
