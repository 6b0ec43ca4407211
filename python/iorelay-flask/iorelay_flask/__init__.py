"""Flask-SocketIO's API for Flask apps whose Socket.IO server is iorelay.

Migrate by changing ``from flask_socketio import ...`` to ``from iorelay_flask import ...``
and running iorelay beside the app (``socketio.run`` prints its command line).

Layout:
- ``server``: ``SocketIO``, the extension object (handlers, delivery, ``run``);
- ``event_context``: ``emit``, ``send``, ``join_room``, ... recorded as ops in a handler;
- ``hooks``: the connect and event routes iorelay calls, and their secret;
- ``handlers``: runs a handler in a request context made from the socket's handshake;
- ``sessions``: ``flask.session`` per socket (memory, or Redis with ``message_queue``);
- ``delivery``: the publish API and the message queue, for sends outside handlers;
- ``wire``: bytes, arguments and acks in iorelay's JSON;
- ``command``: the iorelay flags the app needs;
- ``namespace``, ``exceptions``: Flask-SocketIO's ``Namespace`` and exceptions.
"""

from .event_context import call, close_room, disconnect, emit, join_room, leave_room, rooms, send
from .exceptions import ConnectionRefusedError, TimeoutError
from .namespace import Namespace
from .server import SocketIO

__all__ = [
    "SocketIO", "Namespace", "emit", "send", "call", "join_room", "leave_room", "close_room",
    "rooms", "disconnect", "ConnectionRefusedError", "TimeoutError",
]
__version__ = "0.1.0"
