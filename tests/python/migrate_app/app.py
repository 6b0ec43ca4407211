"""A Flask-SocketIO app ("Signal board") the migration e2e runs twice, unchanged:
under Flask-SocketIO itself and under iorelay with the iorelay-flask package.

Usage: python app.py PORT

The only difference between the two runs is the import below (what a migration
changes); ``socketio.run`` stays as it is. The page (templates/index.html) checks
every feature and writes the results into ``window.__results``.
"""

import os
import sys
import threading
import time
import uuid

from flask import Flask, render_template, request, session

if os.environ.get("MIGRATE_APP_SERVER") == "iorelay":
    from iorelay_flask import (ConnectionRefusedError, SocketIO, call, close_room, disconnect,
                               emit, join_room, leave_room, rooms, send)
else:
    from flask_socketio import (ConnectionRefusedError, SocketIO, call, close_room, disconnect,
                                emit, join_room, leave_room, rooms, send)

app = Flask(__name__)
app.config["SECRET_KEY"] = os.environ.get("SECRET_KEY", "signal-board-test-secret")
# With a queue, emits outside handlers (the ticker, views) go through it, as in a
# Flask-SocketIO deployment with several workers.
socketio = SocketIO(app, message_queue=os.environ.get("MESSAGE_QUEUE"))

ticker_started = threading.Event()
ticker_lock = threading.Lock()


def ticker():
    """Pushes a numbered tick to room 'ticks' five times a second, forever."""
    n = 0
    while True:
        socketio.sleep(0.2)
        n += 1
        socketio.emit("tick", {"n": n, "at": time.time()}, to="ticks")


@app.get("/")
def index():
    session.setdefault("visitor", "visitor-" + uuid.uuid4().hex[:8])
    return render_template("index.html", visitor=session["visitor"])


@app.get("/rooms/<sid>")
def rooms_of(sid):
    """A plain view asking which rooms a socket is in."""
    return {"rooms": sorted(rooms(sid=sid, namespace="/"))}


@app.post("/announce")
def announce():
    """A plain view pushing to every socket."""
    socketio.emit("announcement", request.get_json()["text"])
    return {"ok": True}


@socketio.on("connect")
def on_connect(auth):
    join_room("lobby")
    emit("welcome", {"sid": request.sid, "visitor": session.get("visitor"), "auth": auth})
    with ticker_lock:
        if not ticker_started.is_set():
            ticker_started.set()
            socketio.start_background_task(ticker)


@socketio.on("disconnect")
def on_disconnect(reason=None):
    emit("left", {"sid": request.sid, "reason": str(reason)}, to="lobby", include_self=False)


@socketio.on("echo")
def on_echo(value):
    return value


@socketio.on("message")
def on_message(text):
    send(text.upper())


@socketio.on("count")
def on_count():
    session["count"] = session.get("count", 0) + 1
    return {"count": session["count"], "visitor": session.get("visitor")}


@socketio.on("join")
def on_join(room):
    join_room(room)
    emit("joined", {"room": room, "sid": request.sid}, to=room, include_self=False)
    return sorted(rooms())


@socketio.on("leave")
def on_leave(room):
    leave_room(room)
    return sorted(rooms())


@socketio.on("say")
def on_say(data):
    emit("said", {"text": data["text"], "from": request.sid}, to=data["room"],
         include_self=data.get("include_self", True))
    return "sent"


@socketio.on("shout")
def on_shout(text):
    emit("shouted", {"text": text, "from": request.sid}, broadcast=True, include_self=False)
    return "shouted"


@socketio.on("close")
def on_close(room):
    close_room(room)
    return sorted(rooms())


@socketio.on("watch_ticks")
def on_watch_ticks():
    join_room("ticks")


@socketio.on("ping_server")
def on_ping_server(client_time):
    return client_time, time.time()


@socketio.on("measure")
def on_measure():
    sent = time.time()

    def on_pong(echoed):
        emit("latency", {"ms": (time.time() - sent) * 1000, "echoed": abs(echoed - sent) < 1e-6})

    emit("server_ping", sent, callback=on_pong)


@socketio.on("quiz")
def on_quiz(question):
    answer = call("question", question, timeout=5)
    return {"question": question, "answer": answer}


@socketio.on("kick_me")
def on_kick_me():
    disconnect()


@socketio.on("*")
def on_anything(event, *args):
    return {"event": event, "args": list(args), "namespace": request.namespace}


@socketio.on("connect", namespace="/admin")
def on_admin_connect(auth):
    if not auth or auth.get("token") != "letmein":
        raise ConnectionRefusedError("admins only", {"hint": "token"})


@socketio.on("where", namespace="/admin")
def on_where():
    return {"sid": request.sid, "namespace": request.namespace}


if __name__ == "__main__":
    socketio.run(app, host="127.0.0.1", port=int(sys.argv[1]), allow_unsafe_werkzeug=True)
