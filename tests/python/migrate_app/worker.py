"""A Celery-style emitter: a process apart from the app that pushes through the
message queue, as ``SocketIO(message_queue=...)`` without an app does.

Usage: python worker.py REDIS_URL SID

Uses Flask-SocketIO when it is installed, else iorelay-flask (the same call).
"""

import sys

try:
    from flask_socketio import SocketIO
    by = "flask_socketio"
except ImportError:
    from iorelay_flask import SocketIO
    by = "iorelay_flask"

redis_url, sid = sys.argv[1:3]
socketio = SocketIO(message_queue=redis_url)
socketio.emit("task_done", {"task": 7, "by": by}, to=sid)
socketio.emit("lobby_news", ("lobby", 2), to="lobby")
socketio.emit("blob", {"raw": b"\x00\x01\xff", "by": by}, to=sid)
