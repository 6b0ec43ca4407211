"""A Flask-SocketIO app with catch-all namespace handlers (``namespace='*'``), run by
tests/js/flask-catchall.test.mjs unchanged under Flask-SocketIO and under iorelay with
the iorelay-flask package (``CATCHALL_APP_SERVER=iorelay``).

Usage: python catchall_app.py PORT
"""

import os
import sys

from flask import Flask, request

if os.environ.get("CATCHALL_APP_SERVER") == "iorelay":
    from iorelay_flask import Namespace, SocketIO, emit, join_room
else:
    from flask_socketio import Namespace, SocketIO, emit, join_room

app = Flask(__name__)
# Flask-SocketIO accepts namespaces without handlers of their own only with namespaces='*'.
socketio = SocketIO(app, namespaces="*")


@socketio.on("connect", namespace="*")
def any_connect(auth):
    print(f"connect {request.namespace}", flush=True)
    if (auth or {}).get("refuse"):
        return False
    join_room("members")
    emit("welcome", {"ns": request.namespace, "sid": request.sid, "auth": auth or {}})
    return None


@socketio.on("disconnect", namespace="*")
def any_disconnect(reason=None):
    socketio.emit("left", {"ns": request.namespace, "sid": request.sid}, namespace="/")


@socketio.on("ready", namespace="*")
def any_ready():
    return True


@socketio.on("echo", namespace="*")
def any_echo(*args):
    emit("echoed", {"ns": request.namespace, "args": list(args)}, to="members")
    return request.namespace, list(args)


@socketio.on("*", namespace="*")
def any_event_any_namespace(event, *args):
    return "any", event, request.namespace, list(args)


@socketio.on("echo", namespace="/tenant-vip")
def vip_echo(*args):
    return "vip", list(args)


@socketio.on("connect")
def root_connect():
    print("connect / (exact)", flush=True)


class Rooms(Namespace):
    """A class on one namespace. python-socketio tries every decorated handler, the
    catch-all namespace's too, before a class: ``echo`` on /rooms goes to any_echo."""

    def on_echo(self, *args):
        return "class", request.namespace, list(args)


socketio.on_namespace(Rooms("/rooms"))


if __name__ == "__main__":
    socketio.run(app, host="127.0.0.1", port=int(sys.argv[1]), allow_unsafe_werkzeug=True)
