"""The JSON shapes iorelay and the package exchange: bytes, arguments, acks.

JSON has no bytes, so iorelay writes a binary argument as ``{"$binary": "<base64>"}``
(forwarded events) and reads the same shape back (answers, publish API).
"""

import base64

BINARY_KEY = "$binary"


def from_wire(value):
    """JSON from iorelay → Python, ``{"$binary": ...}`` → ``bytes``."""
    if isinstance(value, list):
        return [from_wire(v) for v in value]
    if isinstance(value, dict):
        if len(value) == 1 and BINARY_KEY in value and isinstance(value[BINARY_KEY], str):
            return base64.b64decode(value[BINARY_KEY])
        return {k: from_wire(v) for k, v in value.items()}
    return value


def to_wire(value):
    """Python → JSON for iorelay, ``bytes`` → ``{"$binary": ...}``; tuples are lists."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        return {BINARY_KEY: base64.b64encode(bytes(value)).decode("ascii")}
    if isinstance(value, (list, tuple)):
        return [to_wire(v) for v in value]
    if isinstance(value, dict):
        return {str(k): to_wire(v) for k, v in value.items()}
    return value


def event_args(args):
    """The Socket.IO arguments of ``emit(event, *args)``, as python-socketio counts them.

    One tuple is several arguments, ``None`` or nothing is none, anything else is one;
    several positional arguments (which Flask-SocketIO refuses) are taken as several.
    The values stay Python (bytes included); ``to_wire`` encodes them for JSON.
    """
    if len(args) == 1:
        (data,) = args
        if data is None:
            return []
        if isinstance(data, tuple):
            return list(data)
        return [data]
    return list(args)


def ack_args(returned):
    """A handler's return value as ack arguments: ``None`` none, a tuple several."""
    if returned is None:
        return []
    if isinstance(returned, tuple):
        return [to_wire(v) for v in returned]
    return [to_wire(returned)]


def one_or_many(value):
    """``to=`` / ``skip_sid=`` as a list of room names."""
    if value is None:
        return None
    if isinstance(value, (list, tuple, set, frozenset)):
        return [str(v) for v in value]
    return [str(value)]
