"""Publishes on a Flask-SocketIO / python-socketio message queue, for the e2e tests.

Usage: python queue_emit.py REDIS_URL CHANNEL < ops.json

ops.json is a JSON list of operations, run in order:
  {"op": "emit", "event": "ev", "args": [...], "to": ..., "skip_sid": ..., "namespace": ...}
      "args" absent: emit('ev') with no data; one item: emit('ev', x);
      several: emit('ev', (a, b, ...)), which python-socketio sends as several arguments.
      {"$bytes": "<base64>"} anywhere in args stands for a Python bytes object.
  {"op": "enter_room" | "leave_room", "sid": ..., "room": ..., "namespace": ...}
  {"op": "close_room", "room": ..., "namespace": ...}
  {"op": "disconnect", "sid": ..., "namespace": ...}
  {"op": "raw", "base64": "..."}       publish these bytes as they are
  {"op": "evil_pickle", "marker": path, "protocol"?: n}  a pickle whose loading would create `path`

With Flask-SocketIO installed (tests/.venv) the emitter is
flask_socketio.SocketIO(message_queue=url, channel=channel), which writes JSON;
without it (tests/.venv-pickle, python-socketio 5.13) it is
socketio.RedisManager(url, channel=channel, write_only=True), which pickles.
"""

import base64
import json
import os
import pickle
import sys

import redis


def from_json(value):
    if isinstance(value, list):
        return [from_json(v) for v in value]
    if isinstance(value, dict):
        if set(value) == {"$bytes"}:
            return base64.b64decode(value["$bytes"])
        return {k: from_json(v) for k, v in value.items()}
    return value


class Evil:
    """Unpickling this runs os.system: a Python reader of the queue would be owned."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def main():
    url, channel = sys.argv[1], sys.argv[2]
    ops = json.load(sys.stdin)
    try:
        from flask_socketio import SocketIO

        flask_io = SocketIO(message_queue=url, channel=channel)
        server = flask_io.server
        emit = flask_io.emit
        enter_room = lambda sid, ns, room: server.enter_room(sid, room, namespace=ns)
        leave_room = lambda sid, ns, room: server.leave_room(sid, room, namespace=ns)
        close_room = lambda room, ns: flask_io.close_room(room, namespace=ns)
        disconnect = lambda sid, ns: server.disconnect(sid, namespace=ns)
    except ImportError:
        import socketio

        manager = socketio.RedisManager(url, channel=channel, write_only=True)

        def emit(event, *data, namespace="/", to=None, skip_sid=None):
            manager.emit(event, data[0] if data else None, namespace=namespace,
                         room=to, skip_sid=skip_sid)

        enter_room = manager.enter_room
        leave_room = manager.leave_room
        close_room = manager.close_room

        def disconnect(sid, namespace):
            # can_disconnect would also disconnect locally, which needs a server.
            manager._publish({"method": "disconnect", "sid": sid,
                              "namespace": namespace, "host_id": manager.host_id})

    raw = redis.Redis.from_url(url)
    for op in ops:
        kind = op["op"]
        namespace = op.get("namespace", "/")
        if kind == "emit":
            kwargs = {"namespace": namespace}
            if "to" in op:
                kwargs["to"] = op["to"]
            if "skip_sid" in op:
                kwargs["skip_sid"] = op["skip_sid"]
            if "args" not in op:
                emit(op["event"], **kwargs)
            else:
                args = from_json(op["args"])
                data = args[0] if len(args) == 1 else tuple(args)
                emit(op["event"], data, **kwargs)
        elif kind == "enter_room":
            enter_room(op["sid"], namespace, op["room"])
        elif kind == "leave_room":
            leave_room(op["sid"], namespace, op["room"])
        elif kind == "close_room":
            close_room(op["room"], namespace)
        elif kind == "disconnect":
            disconnect(op["sid"], namespace)
        elif kind == "raw":
            raw.publish(channel, base64.b64decode(op["base64"]))
        elif kind == "evil_pickle":
            protocol = op.get("protocol", pickle.DEFAULT_PROTOCOL)
            raw.publish(channel, pickle.dumps(Evil(op["marker"]), protocol=protocol))
        else:
            raise SystemExit(f"unknown op {kind!r}")
    print("done", flush=True)


if __name__ == "__main__":
    main()
