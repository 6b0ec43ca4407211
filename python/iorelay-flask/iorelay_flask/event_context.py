"""Flask-SocketIO's handler-side functions: ``emit``, ``send``, ``join_room``, ...

Inside a handler nothing is sent right away: each call is recorded as an op of the
``Call`` and the hook's answer carries them all, in order, to iorelay, which applies
them before the handler's acknowledgement. Outside a handler (a background task, a
view) the same functions go through ``SocketIO``'s delivery (publish API or queue).
"""

import contextvars

import flask

from .wire import one_or_many, to_wire

_current = contextvars.ContextVar("iorelay_flask_call", default=None)


class Call:
    """One hook request: the socket it is about and the ops its handler recorded."""

    def __init__(self, sid, namespace, event):
        self.sid = sid
        self.namespace = namespace
        self.event = event
        self.ops = []

    def add(self, op, namespace=None, sid=None):
        """Records ``op``; ``namespace`` / ``sid`` only when they differ from the event's."""
        if namespace and namespace != self.namespace:
            op["namespace"] = namespace
        if sid and sid != self.sid:
            op["sid"] = sid
        self.ops.append(op)

    def pending_rooms(self, sid, namespace, rooms):
        """``rooms`` of ``sid`` as they will be once iorelay applied the ops recorded so far."""
        rooms = list(rooms)
        for op in self.ops:
            if op.get("namespace", self.namespace) != namespace:
                continue
            kind, room = op["op"], op.get("room")
            own = op.get("sid", self.sid) == sid
            if kind == "join" and own and room not in rooms:
                rooms.append(room)
            elif (kind == "leave" and own) or kind == "close_room":
                if room in rooms and room != sid:
                    rooms.remove(room)
        return rooms


def current_call():
    """The ``Call`` of the hook request being handled, or ``None``."""
    return _current.get()


def enter_call(call):
    return _current.set(call)


def leave_call(token):
    _current.reset(token)


def _socketio():
    return flask.current_app.extensions["socketio"]


def _require_call(what):
    call = current_call()
    if call is None:
        raise RuntimeError(f"{what}() without sid= only works inside a Socket.IO event handler")
    return call


def emit(event, *args, namespace=None, to=None, room=None, broadcast=False, include_self=True,
         skip_sid=None, callback=None, ignore_queue=False):
    """Emit from a handler: to the sender, ``to`` rooms/sids, or everyone with ``broadcast``."""
    call = _require_call("emit")
    namespace = namespace or call.namespace
    to = to if to is not None else room
    if to is None and not broadcast:
        to = call.sid
    skip = one_or_many(skip_sid)
    if not include_self:
        skip = (skip or []) + [call.sid]
    _socketio().emit(event, *args, namespace=namespace, to=to, skip_sid=skip, callback=callback)


def send(message, json=False, namespace=None, to=None, room=None, broadcast=False,
         include_self=True, skip_sid=None, callback=None, ignore_queue=False):
    """``emit('message', message)`` (``'json'`` with ``json=True``), as Flask-SocketIO's ``send``."""
    emit("json" if json else "message", message, namespace=namespace, to=to, room=room,
         broadcast=broadcast, include_self=include_self, skip_sid=skip_sid, callback=callback)


def call(event, *args, namespace=None, to=None, room=None, timeout=60, ignore_queue=False):
    """Emit to one socket (default: the sender) and return its acknowledgement's arguments."""
    current = current_call()
    to = to if to is not None else room
    if to is None:
        to = _require_call("call").sid
    namespace = namespace or (current.namespace if current else "/")
    return _socketio().call(event, *args, namespace=namespace, to=to, timeout=timeout)


def join_room(room, sid=None, namespace=None):
    """Put the sender (or ``sid``) in ``room``."""
    current = current_call()
    if current is None:
        if sid is None:
            _require_call("join_room")
        return _socketio().join_room(room, sid, namespace=namespace)
    current.add({"op": "join", "room": str(room)}, namespace=namespace, sid=sid)


def leave_room(room, sid=None, namespace=None):
    """Take the sender (or ``sid``) out of ``room``."""
    current = current_call()
    if current is None:
        if sid is None:
            _require_call("leave_room")
        return _socketio().leave_room(room, sid, namespace=namespace)
    current.add({"op": "leave", "room": str(room)}, namespace=namespace, sid=sid)


def close_room(room, namespace=None):
    """Empty ``room``: every socket in it leaves."""
    current = current_call()
    if current is None:
        return _socketio().close_room(room, namespace=namespace)
    current.add({"op": "close_room", "room": str(room)}, namespace=namespace)


def rooms(sid=None, namespace=None):
    """The rooms of the sender (or ``sid``), its own room included, counting this handler's changes."""
    current = current_call()
    if current is None and sid is None:
        _require_call("rooms")
    sid = sid or current.sid
    namespace = namespace or (current.namespace if current else "/")
    found = _socketio().server_rooms(sid, namespace)
    return current.pending_rooms(sid, namespace, found) if current else found


def disconnect(sid=None, namespace=None, silent=False):
    """Disconnect the sender (or ``sid``) from the namespace."""
    current = current_call()
    if current is None:
        if sid is None:
            _require_call("disconnect")
        return _socketio().disconnect_sid(sid, namespace=namespace)
    current.add({"op": "disconnect"}, namespace=namespace, sid=sid)


def emit_op(call, event, args, namespace, to, broadcast, include_self):
    """Records an emit; ``to=None`` and no ``broadcast`` = the sender alone."""
    op = {"op": "emit", "event": event, "args": to_wire(args)}
    if to is not None:
        op["rooms"] = one_or_many(to)
    elif broadcast:
        op["broadcast"] = True
    if not include_self:
        op["include_self"] = False
    call.add(op, namespace=namespace)



