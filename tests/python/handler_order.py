"""A Flask backend whose handlers mix answers and message-queue calls (issue #14).

Usage: python handler_order.py PORT REDIS_URL [SECRET]

iorelay POSTs connections to /socketio/connect and client events to
/socketio/event. While a request runs, the handlers also act through a real
Flask-SocketIO message queue (SocketIO(message_queue=REDIS_URL)), the way a
migrated handler calls close_room() or disconnect(); each such call is made
and then the handler waits 50 ms before answering, so the queue message
surely reaches iorelay before the answer: iorelay must apply it after.

With SECRET, every request must carry X-Iorelay-Secret: SECRET (403 otherwise).
Prints "listening" once it serves.
"""

import sys
import threading
import time

from flask import Flask, abort, jsonify, request
from flask_socketio import SocketIO

app = Flask(__name__)
queue = None
secret = None

# Long enough for the queue message to arrive first.
OVERTAKE = 0.05


@app.before_request
def check_secret():
    if secret is not None and request.headers.get("X-Iorelay-Secret") != secret:
        abort(403)


@app.post("/socketio/connect")
def connect():
    body = request.get_json()
    sid = body["sid"]
    auth = body.get("auth") or {}
    if auth.get("bad"):
        return jsonify(ok=True, ops=[{"op": "explode"}])
    # Issue #14 (a): an emit to the new socket through the queue, from inside the hook.
    queue.emit("queued-hello", sid, to=sid, namespace=body["namespace"])
    time.sleep(OVERTAKE)
    return jsonify(
        ok=True,
        user={"id": auth.get("name", "anon")},
        join=["lobby"],
        emit=[{"event": "welcome", "args": [sid]}],
        ops=[
            {"op": "emit", "event": "welcome-room", "args": [sid], "rooms": "lobby"},
            {"op": "join", "room": "greeted"},
        ],
    )


@app.post("/socketio/event")
def event():
    body = request.get_json()
    name, args, sid, ns = body["event"], body["args"], body["sid"], body["namespace"]
    if name == "enter":
        return jsonify(join=[args[0]], ack=[args[0]])
    if name == "notice-then-close":
        # Issue #14 (b): emit() in the handler (the answer), then close_room() through the queue.
        room, n = args
        queue.close_room(room, namespace=ns)
        time.sleep(OVERTAKE)
        return jsonify(emit=[{"event": "notice", "args": [n], "rooms": room}], ack=["closing"])
    if name == "notice-then-disconnect":
        queue.server.disconnect(sid, namespace=ns)
        time.sleep(OVERTAKE)
        return jsonify(emit=[{"event": "notice", "args": [args[0]]}])
    if name == "ops-close":
        room, n = args
        return jsonify(
            ops=[
                {"op": "emit", "event": "notice", "args": [n], "rooms": room},
                {"op": "close_room", "room": room},
                {"op": "emit", "event": "after-close", "args": [n], "rooms": room},
            ],
            ack=["closed"],
        )
    if name == "ops-disconnect":
        return jsonify(
            ops=[{"op": "emit", "event": "notice", "args": [args[0]]}, {"op": "disconnect"}]
        )
    if name == "ops-mixed":
        # Ops on another socket, by sid, and an emit to it with to_sid.
        other = args[0]
        return jsonify(
            ops=[
                {"op": "join", "room": "pair", "sid": other},
                {"op": "emit", "event": "paired", "args": [sid], "to_sid": other},
                {"op": "leave", "room": "greeted"},
            ],
            ack=["ok"],
        )
    if name == "bad-ops":
        # A reserved event name after a good emit: nothing of this answer may be applied.
        return jsonify(
            ops=[{"op": "emit", "event": "notice", "args": ["x"]}, {"op": "emit", "event": "connect"}],
            ack=["never sent"],
        )
    if name == "disconnect":
        # The gone socket's own ops are skipped; the others are applied.
        return jsonify(
            ops=[
                {"op": "join", "room": "never"},
                {"op": "emit", "event": "gone", "args": [sid], "rooms": "watchers"},
            ]
        )
    return jsonify(ack=[{"unknown": name}])


def main():
    global queue, secret
    port, url = int(sys.argv[1]), sys.argv[2]
    secret = sys.argv[3] if len(sys.argv) > 3 else None
    queue = SocketIO(message_queue=url)
    threading.Timer(0.2, lambda: print("listening", flush=True)).start()
    app.run(host="127.0.0.1", port=port, threaded=True)


if __name__ == "__main__":
    main()
