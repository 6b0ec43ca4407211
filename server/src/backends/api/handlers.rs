//! The publish API's operations, each a thin translation onto [`Publisher`].
//!
//! Validation that is about HTTP (shapes, sizes, which fields go together)
//! happens here; what an operation means is the publisher's business.

use std::time::Duration;

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};

use crate::backends::api::ApiState;
use crate::backends::api::error::bad_request;
use crate::backends::api::payloads::{
    AckEntry, DisconnectRequest, EmitRequest, EmitResponse, NotifyRequest, NotifyResponse,
    OkResponse, RoomsRequest, SocketEntry, SocketRoomsResponse, SocketsResponse,
};
use crate::backends::notifier::{Audience, Draft};
use crate::backends::publisher::{EmitCommand, RoomMove, Scope};
use crate::protocol::ErrorCode;
use crate::protocol::binary_json::{to_json_value, to_socket_value};
use crate::protocol::error::{ErrorResponse, HttpRefusal};
use crate::protocol::event_args::EventArgs;
use crate::protocol::validate_room;

type Body<T> = Result<Json<T>, JsonRejection>;

fn namespace_path(ns: &str) -> String {
    if ns.starts_with('/') {
        ns.to_owned()
    } else {
        format!("/{ns}")
    }
}

/// Emit an event to a namespace, rooms or sockets.
#[utoipa::path(
    post, path = "/api/v1/emit", request_body = EmitRequest,
    responses(
        (status = 200, body = EmitResponse),
        (status = 400, body = ErrorResponse, description = "bad body or event name"),
        (status = 401, body = ErrorResponse, description = "missing or wrong API key"),
        (status = 404, body = ErrorResponse, description = "unknown namespace"),
        (status = 413, body = ErrorResponse, description = "body too large"),
    ),
    security(("api_key" = []), ("bearer" = []))
)]
pub async fn emit(
    State(state): State<ApiState>,
    body: Body<EmitRequest>,
) -> Result<Json<EmitResponse>, HttpRefusal> {
    let Json(req) = body?;
    let args = req
        .args
        .into_iter()
        .map(to_socket_value)
        .collect::<Result<Vec<_>, _>>()
        .map_err(bad_request)?;
    let ack_timeout = match req.ack_timeout_ms {
        Some(0) => {
            return Err(bad_request("ack_timeout_ms must be greater than 0"));
        }
        Some(ms) if ms > state.max_ack_timeout_ms => {
            return Err(bad_request(format!(
                "ack_timeout_ms may be at most {}",
                state.max_ack_timeout_ms
            )));
        }
        other => other.map(Duration::from_millis),
    };
    let command = EmitCommand {
        namespace: req.namespace,
        event: req.event,
        args: EventArgs(args),
        rooms: req.rooms,
        except: req.except.unwrap_or_default(),
        ack_timeout,
        scope: Scope::Cluster,
    };
    let Some(report) = state.publisher.emit(command).await? else {
        return Ok(Json(EmitResponse {
            ok: true,
            acks: None,
            timeouts: None,
            timed_out: None,
        }));
    };
    let acks = report
        .answers
        .into_iter()
        .map(|(sid, args)| AckEntry {
            sid,
            args: args.0.into_iter().map(to_json_value).collect(),
        })
        .collect();
    Ok(Json(EmitResponse {
        ok: true,
        acks: Some(acks),
        timeouts: Some(report.timed_out.len()),
        timed_out: Some(report.timed_out),
    }))
}

/// Disconnect one socket or every socket in a room.
#[utoipa::path(
    post, path = "/api/v1/disconnect", request_body = DisconnectRequest,
    responses((status = 200, body = OkResponse), (status = 400, body = ErrorResponse),
              (status = 401, body = ErrorResponse), (status = 404, body = ErrorResponse)),
    security(("api_key" = []), ("bearer" = []))
)]
pub async fn disconnect(
    State(state): State<ApiState>,
    body: Body<DisconnectRequest>,
) -> Result<Json<OkResponse>, HttpRefusal> {
    let Json(req) = body?;
    let target = match (req.sid, req.room) {
        (Some(sid), None) => sid,
        (None, Some(room)) => room,
        _ => return Err(bad_request("give exactly one of sid and room")),
    };
    state
        .publisher
        .disconnect(&req.namespace, &target, Scope::Cluster)
        .await?;
    Ok(Json(OkResponse { ok: true }))
}

async fn move_rooms(
    state: &ApiState,
    req: RoomsRequest,
    change: fn(Vec<String>) -> RoomMove,
) -> Result<Json<OkResponse>, HttpRefusal> {
    for room in &req.rooms {
        validate_room(room).map_err(|e| bad_request(e.message))?;
    }
    state
        .publisher
        .move_rooms(
            &req.namespace,
            &req.target,
            change(req.rooms),
            Scope::Cluster,
        )
        .await?;
    Ok(Json(OkResponse { ok: true }))
}

/// Make a socket (or every socket in a room) join rooms.
#[utoipa::path(
    post, path = "/api/v1/rooms/join", request_body = RoomsRequest,
    responses((status = 200, body = OkResponse), (status = 400, body = ErrorResponse),
              (status = 401, body = ErrorResponse), (status = 404, body = ErrorResponse)),
    security(("api_key" = []), ("bearer" = []))
)]
pub async fn join_rooms(
    State(state): State<ApiState>,
    body: Body<RoomsRequest>,
) -> Result<Json<OkResponse>, HttpRefusal> {
    let Json(req) = body?;
    move_rooms(&state, req, RoomMove::Join).await
}

/// Make a socket (or every socket in a room) leave rooms.
#[utoipa::path(
    post, path = "/api/v1/rooms/leave", request_body = RoomsRequest,
    responses((status = 200, body = OkResponse), (status = 400, body = ErrorResponse),
              (status = 401, body = ErrorResponse), (status = 404, body = ErrorResponse)),
    security(("api_key" = []), ("bearer" = []))
)]
pub async fn leave_rooms(
    State(state): State<ApiState>,
    body: Body<RoomsRequest>,
) -> Result<Json<OkResponse>, HttpRefusal> {
    let Json(req) = body?;
    move_rooms(&state, req, RoomMove::Leave).await
}

/// List the sockets in a room (cluster-wide with the Redis adapter).
///
/// `ns` is the namespace without its leading slash (`chat`), or `%2F` for `/`.
#[utoipa::path(
    get, path = "/api/v1/namespaces/{ns}/rooms/{room}/sockets",
    params(("ns" = String, Path, description = "namespace, e.g. `chat`; `%2F` for `/`"),
           ("room" = String, Path, description = "room or socket id")),
    responses((status = 200, body = SocketsResponse), (status = 401, body = ErrorResponse),
              (status = 404, body = ErrorResponse)),
    security(("api_key" = []), ("bearer" = []))
)]
pub async fn room_sockets(
    State(state): State<ApiState>,
    Path((ns, room)): Path<(String, String)>,
) -> Result<Json<SocketsResponse>, HttpRefusal> {
    let sockets = state
        .publisher
        .sockets(&namespace_path(&ns), Some(&room))
        .await?;
    Ok(Json(SocketsResponse {
        sockets: sockets
            .into_iter()
            .map(|s| SocketEntry {
                id: s.id,
                node: s.node,
                local: s.local,
            })
            .collect(),
    }))
}

/// List the rooms of one socket (cluster-wide with the Redis adapter), its own included.
///
/// `ns` is the namespace without its leading slash (`chat`), or `%2F` for `/`.
#[utoipa::path(
    get, path = "/api/v1/namespaces/{ns}/sockets/{sid}/rooms",
    params(("ns" = String, Path, description = "namespace, e.g. `chat`; `%2F` for `/`"),
           ("sid" = String, Path, description = "socket id")),
    responses((status = 200, body = SocketRoomsResponse), (status = 401, body = ErrorResponse),
              (status = 404, body = ErrorResponse, description = "unknown namespace or socket")),
    security(("api_key" = []), ("bearer" = []))
)]
pub async fn socket_rooms(
    State(state): State<ApiState>,
    Path((ns, sid)): Path<(String, String)>,
) -> Result<Json<SocketRoomsResponse>, HttpRefusal> {
    let namespace = namespace_path(&ns);
    let rooms = state
        .publisher
        .rooms_of(&namespace, &sid, Scope::Cluster)
        .await?
        .ok_or_else(|| {
            HttpRefusal::api(
                ErrorCode::UnknownSocket,
                format!("no socket {sid:?} is connected to {namespace}"),
            )
        })?;
    Ok(Json(SocketRoomsResponse { rooms }))
}

/// Send a `/notifications` notification to users and/or a topic.
#[utoipa::path(
    post, path = "/api/v1/notify", request_body = NotifyRequest,
    responses((status = 200, body = NotifyResponse), (status = 400, body = ErrorResponse),
              (status = 401, body = ErrorResponse)),
    security(("api_key" = []), ("bearer" = []))
)]
pub async fn notify(
    State(state): State<ApiState>,
    body: Body<NotifyRequest>,
) -> Result<Json<NotifyResponse>, HttpRefusal> {
    let Json(req) = body?;
    if req.users.is_empty() && req.topic.is_none() {
        return Err(bad_request("give users, a topic, or both"));
    }
    let title_chars = req.title.chars().count();
    if title_chars == 0 || title_chars > 200 {
        return Err(bad_request("title must have 1 to 200 characters"));
    }
    if req.body.chars().count() > 4000 {
        return Err(bad_request("body may have at most 4000 characters"));
    }
    if let Some(topic) = &req.topic {
        validate_room(topic).map_err(|e| bad_request(e.message.replace("room", "topic")))?;
    }
    let audience = Audience {
        users: req.users,
        topic: req.topic,
    };
    let draft = Draft {
        title: req.title,
        body: req.body,
        data: req.data,
    };
    let notification = state.publisher.notify(&audience, draft).await?;
    Ok(Json(NotifyResponse {
        ok: true,
        id: notification.id,
        ts: notification.ts,
        positions: notification.positions,
    }))
}
