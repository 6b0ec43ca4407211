"""A small Flask backend for iorelay's event forwarding, as a migrated app would have.

Usage: python backend.py PORT

Its former @socketio.on handlers are plain routes now: iorelay POSTs each client
event to /socketio/event and each connection to /socketio/connect, and applies
the JSON answers (ack, emits, room changes; accept or refuse). Prints
"listening" once it serves.
"""

import sys
import threading
import time

from flask import Flask, jsonify, request

app = Flask(__name__)


@app.post("/socketio/connect")
def connect():
    body = request.get_json()
    token = (body.get("auth") or {}).get("token")
    if token == "good":
        return jsonify(ok=True, user={"id": "u1", "sid": body["sid"]}, join=["vip"])
    # What `raise ConnectionRefusedError("unauthorized!", {"reason": ...})` was.
    return jsonify(ok=False, message="unauthorized!", data={"reason": "bad token"})


@app.post("/socketio/event")
def event():
    body = request.get_json()
    name, args, sid = body["event"], body["args"], body["sid"]
    if name == "echo":
        return jsonify(ack=args)
    if name == "enter":
        return jsonify(join=[args[0]], ack=[{"ok": True, "room": args[0]}])
    if name == "exit":
        return jsonify(leave=[args[0]], ack=[{"ok": True}])
    if name == "shout":
        text, room = args
        return jsonify(
            emit=[{"event": "shouted", "args": [text, body["user"]], "rooms": room,
                   "include_self": False}],
            ack=["sent"],
        )
    if name == "whoami":
        return jsonify(emit=[{"event": "you", "args": [sid, body["namespace"]]}])
    if name == "disconnect":
        # What @socketio.on("disconnect") def gone(reason): emit("left", ...) was.
        return jsonify(emit=[{"event": "left", "args": [sid, args[0]], "rooms": "vip"}])
    if name == "boom":
        return "internal error", 500
    if name == "slow":
        time.sleep(3)
        return jsonify(ack=["too late"])
    return jsonify(ack=[{"unknown": name}])


def main():
    port = int(sys.argv[1])
    threading.Timer(0.2, lambda: print("listening", flush=True)).start()
    app.run(host="127.0.0.1", port=port, threaded=True)


if __name__ == "__main__":
    main()
