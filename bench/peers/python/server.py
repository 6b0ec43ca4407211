"""python-socketio peer for the iorelay benchmarks (the Flask-SocketIO family).

The fastest production set-up available here: python-socketio's asyncio
server as an ASGI app under uvicorn with uvloop, httptools and the
`websockets` implementation, no logging, no protocol-level WebSocket pings
(Engine.IO has its own heartbeat). Flask-SocketIO itself is a Flask wrapper
around the same python-socketio server.

Same contract as iorelay:
  /      rooms:join {room} -> ack {ok, rooms}; relay {to, event, args} -> to the room (sender excluded), ack {ok}
  /chat  auth {name}; join {room} -> ack {ok, room, members, messages}, presence to the room;
         message {room, text} -> `message` {id, room, from, text, ts} to the room, ack {ok, id, ts};
         history {room, after, limit} -> ack {ok, messages (id > after, oldest first), has_more}
CHAT_PRESENCE=0 makes join a simple join (no presence events), as the plain
Flask-SocketIO server of issue #12 had; CHAT_HISTORY sets the history ring (200),
CHAT_MAX_TEXT the longest text (2000).
Optional Redis manager (REDIS_URL) for the cluster scenario. Listens on loopback only.
"""

import os
import re
import sys
import time

import socketio
import uvicorn

HOST = os.environ.get("HOST", "127.0.0.1")
PORT = int(os.environ.get("PORT", "3300"))
ROOM_RE = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")
RESERVED = {"connect", "connect_error", "disconnect", "disconnecting", "newListener", "removeListener"}
MAX_ROOMS = 50
HISTORY = int(os.environ.get("CHAT_HISTORY", "200"))
PRESENCE = os.environ.get("CHAT_PRESENCE") != "0"
JOIN_HISTORY = 50
MAX_TEXT = int(os.environ.get("CHAT_MAX_TEXT", "2000"))

if not (HOST.startswith("127.") or HOST == "localhost"):
    sys.exit("peer: listen on loopback only")

manager = None
if os.environ.get("REDIS_URL"):
    manager = socketio.AsyncRedisManager(os.environ["REDIS_URL"])

sio = socketio.AsyncServer(
    async_mode="asgi",
    client_manager=manager,
    ping_interval=25,
    ping_timeout=20,
    max_http_buffer_size=1_000_000,
    logger=False,
    engineio_logger=False,
)


def err(code, message):
    return {"ok": False, "error": {"code": code, "message": message}}


def valid_room(room):
    return isinstance(room, str) and ROOM_RE.match(room) is not None


def own_rooms(sid, namespace="/"):
    return sorted(r for r in sio.rooms(sid, namespace=namespace) if r != sid)


@sio.on("rooms:join")
async def rooms_join(sid, req=None):
    if not isinstance(req, dict) or not valid_room(req.get("room")):
        return err("invalid_room", "bad room")
    room = req["room"]
    rooms = own_rooms(sid)
    if room not in rooms and len(rooms) >= MAX_ROOMS:
        return err("too_many_rooms", "too many rooms")
    await sio.enter_room(sid, room)
    return {"ok": True, "rooms": own_rooms(sid)}


@sio.on("rooms:leave")
async def rooms_leave(sid, req=None):
    if not isinstance(req, dict) or not valid_room(req.get("room")):
        return err("invalid_room", "bad room")
    await sio.leave_room(sid, req["room"])
    return {"ok": True, "rooms": own_rooms(sid)}


@sio.on("relay")
async def relay(sid, req=None):
    if not isinstance(req, dict):
        return err("bad_request", "bad payload")
    event = req.get("event")
    if not isinstance(event, str) or not 1 <= len(event) <= 64 or event in RESERVED:
        return err("invalid_event", "bad event")
    to = req.get("to")
    rooms = [] if to is None else (to if isinstance(to, list) else [to])
    joined = sio.rooms(sid)
    for room in rooms:
        if not valid_room(room):
            return err("invalid_room", "bad room")
        if room not in joined:
            return err("not_in_room", f"join {room} before relaying to it")
    args = req.get("args") or []
    data = tuple(args) if len(args) != 1 else args[0]
    skip = None if req.get("include_self") else sid
    await sio.emit(event, data, to=rooms or None, skip_sid=skip)
    return {"ok": True}


# /chat
users = {}  # sid -> user
histories = {}  # room -> {"next": int, "messages": list}
members = {}  # room -> {sid: user}


@sio.on("connect", namespace="/chat")
async def chat_connect(sid, environ, auth=None):
    name = auth.get("name") if isinstance(auth, dict) else None
    if not isinstance(name, str) or not name.strip() or len(name) > 32:
        raise socketio.exceptions.ConnectionRefusedError("invalid_name: a display name is required")
    users[sid] = {"id": f"guest:{name}", "name": name}


@sio.on("join", namespace="/chat")
async def chat_join(sid, req=None):
    if not isinstance(req, dict) or not valid_room(req.get("room")):
        return err("invalid_room", "bad room")
    room = req["room"]
    user = users.get(sid)
    await sio.enter_room(sid, room, namespace="/chat")
    members.setdefault(room, {})[sid] = user
    listed = list(members[room].values())
    if PRESENCE:
        await sio.emit("presence", {"room": room, "joined": user, "members": listed}, to=room, namespace="/chat")
    h = histories.get(room)
    return {"ok": True, "room": room, "members": listed, "messages": h["messages"][-JOIN_HISTORY:] if h else []}


@sio.on("message", namespace="/chat")
async def chat_message(sid, req=None):
    if not isinstance(req, dict) or not valid_room(req.get("room")):
        return err("invalid_room", "bad room")
    text = req.get("text")
    if not isinstance(text, str) or not text.strip() or len(text) > MAX_TEXT:
        return err("invalid_text", "bad text")
    room = req["room"]
    if room not in sio.rooms(sid, namespace="/chat"):
        return err("not_in_room", "join first")
    h = histories.get(room)
    if h is None:
        h = histories[room] = {"next": 1, "messages": []}
    user = users.get(sid)
    msg = {"id": h["next"], "room": room, "from": user, "text": text, "ts": int(time.time() * 1000)}
    h["next"] += 1
    h["messages"].append(msg)
    if len(h["messages"]) > HISTORY:
        del h["messages"][0]
    await sio.emit("message", msg, to=room, namespace="/chat")
    return {"ok": True, "id": msg["id"], "ts": msg["ts"]}


@sio.on("history", namespace="/chat")
async def chat_history(sid, req=None):
    if not isinstance(req, dict) or req.get("room") not in sio.rooms(sid, namespace="/chat"):
        return err("not_in_room", "join first")
    h = histories.get(req["room"])
    after = req.get("after") if isinstance(req.get("after"), int) else 0
    newer = [m for m in (h["messages"] if h else []) if m["id"] > after]
    limit = min(req.get("limit") if isinstance(req.get("limit"), int) and req["limit"] > 0 else JOIN_HISTORY, HISTORY)
    return {"ok": True, "messages": newer[:limit], "has_more": len(newer) > limit}


@sio.on("disconnect", namespace="/chat")
async def chat_disconnect(sid, *args):
    user = users.pop(sid, None)
    for room in list(members):
        m = members[room]
        if sid in m:
            del m[sid]
            if not m:
                del members[room]
            elif PRESENCE:
                await sio.emit("presence", {"room": room, "left": user, "members": list(m.values())}, to=room, namespace="/chat")


app = socketio.ASGIApp(sio)

if __name__ == "__main__":
    print(f"python-socketio {socketio.__version__ if hasattr(socketio, '__version__') else ''} peer on {HOST}:{PORT}", file=sys.stderr)
    uvicorn.run(
        app,
        host=HOST,
        port=PORT,
        loop="uvloop",
        http="httptools",
        ws="websockets",
        ws_ping_interval=None,
        ws_per_message_deflate=False,
        ws_max_size=1_000_000,
        backlog=4096,
        lifespan="off",
        log_level="warning",
        access_log=False,
    )
