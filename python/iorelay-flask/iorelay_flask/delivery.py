"""How the package reaches iorelay outside a hook request.

Inside a handler everything travels back in the hook's answer (see ``context``).
Elsewhere (background tasks, plain views, Celery workers) there are two roads:

- ``PublishApi``: iorelay's HTTP publish API with an API key; the only one that
  answers (``rooms(sid)``, acknowledgements for ``callback=`` and ``call``);
- ``QueuePublisher``: the Redis channel Flask-SocketIO's ``message_queue`` writes,
  which iorelay reads with ``--flask-queue``; fire and forget, like Flask-SocketIO's.
"""

import base64
import json
import urllib.error
import urllib.parse
import urllib.request
import uuid

from .wire import from_wire, to_wire


class DeliveryError(RuntimeError):
    """iorelay refused or could not be reached; the message names the cause."""

    def __init__(self, message, status=None, code=None):
        super().__init__(message)
        self.status = status
        self.code = code


def namespace_segment(namespace):
    """A namespace as iorelay's API paths spell it: ``%2F`` for ``/``, else no leading slash."""
    if namespace in (None, "", "/"):
        return "%2F"
    return urllib.parse.quote(namespace.lstrip("/"), safe="")


class PublishApi:
    """iorelay's ``/api/v1`` routes, authenticated with one API key."""

    def __init__(self, base_url, api_key, timeout=10.0):
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key
        self.timeout = timeout

    def _call(self, method, path, body=None, timeout=None):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base_url + path, data=data, method=method)
        req.add_header("X-API-Key", self.api_key)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=timeout or self.timeout) as resp:
                return json.loads(resp.read() or b"{}")
        except urllib.error.HTTPError as err:
            detail = err.read().decode("utf-8", "replace")
            try:
                code = json.loads(detail)["error"]["code"]
            except (ValueError, KeyError, TypeError):
                code = None
            raise DeliveryError(f"iorelay answered {err.code} to {method} {path}: {detail}",
                                status=err.code, code=code) from err
        except (urllib.error.URLError, OSError) as err:
            raise DeliveryError(f"cannot reach iorelay at {self.base_url}: {err}") from err

    def emit(self, event, args, namespace="/", rooms=None, skip=None, ack_timeout_ms=None):
        """Emits ``args`` (Python values); with ``ack_timeout_ms`` returns ``{sid: ack args}``."""
        body = {"namespace": namespace or "/", "event": event, "args": to_wire(list(args))}
        if rooms is not None:
            body["rooms"] = rooms
        if skip:
            body["except"] = skip
        if ack_timeout_ms is None:
            self._call("POST", "/api/v1/emit", body)
            return None
        body["ack_timeout_ms"] = int(ack_timeout_ms)
        answer = self._call("POST", "/api/v1/emit", body, timeout=self.timeout + ack_timeout_ms / 1000)
        acks = {}
        for i, ack in enumerate(answer.get("acks") or []):
            # {"sid", "args"} per receiver; older servers answered each ack's first argument.
            if isinstance(ack, dict) and set(ack) == {"sid", "args"}:
                acks[ack["sid"]] = from_wire(ack["args"])
            else:
                acks[i] = [from_wire(ack)]
        return acks

    def disconnect(self, sid, namespace="/"):
        self._call("POST", "/api/v1/disconnect", {"namespace": namespace or "/", "sid": sid})

    def join(self, target, room, namespace="/"):
        self._call("POST", "/api/v1/rooms/join", {"namespace": namespace or "/", "target": target, "rooms": [room]})

    def leave(self, target, room, namespace="/"):
        self._call("POST", "/api/v1/rooms/leave", {"namespace": namespace or "/", "target": target, "rooms": [room]})

    def close_room(self, room, namespace="/"):
        # Every socket in the room leaves it: what close_room does.
        self.leave(room, room, namespace)

    def rooms(self, sid, namespace="/"):
        """The rooms of ``sid`` (its own room included), wherever it is connected; none if it is not."""
        path = f"/api/v1/namespaces/{namespace_segment(namespace)}/sockets/{urllib.parse.quote(sid, safe='')}/rooms"
        try:
            return list(self._call("GET", path)["rooms"])
        except DeliveryError as err:
            if err.code == "unknown_socket":
                return []
            raise


class QueuePublisher:
    """A write-only Flask-SocketIO message queue (Redis pub/sub, JSON messages)."""

    def __init__(self, url, channel="flask-socketio"):
        try:
            import redis
        except ImportError as err:  # pragma: no cover - depends on the install
            raise RuntimeError("message_queue needs the redis package: pip install 'iorelay-flask[redis]'") from err
        if not url.startswith(("redis://", "rediss://")):
            raise ValueError(f"iorelay reads Redis queues only, not {url!r}")
        self.redis = redis.Redis.from_url(url)
        self.channel = channel
        self.host_id = uuid.uuid4().hex

    def _publish(self, message):
        message["host_id"] = self.host_id
        try:
            self.redis.publish(self.channel, json.dumps(message))
        except Exception as err:
            raise DeliveryError(f"cannot publish on the message queue: {err}") from err

    def emit(self, event, data, namespace="/", rooms=None, skip=None):
        """``data``: the Python arguments (bytes allowed), encoded as python-socketio does."""
        data = list(data) if data else [None]
        attachments = []
        data = _deconstruct_binary(data, attachments)
        message = {
            "method": "emit",
            "event": event,
            "data": [data, *[base64.b64encode(a).decode() for a in attachments]] if attachments else data,
            "binary": bool(attachments),
            "namespace": namespace or "/",
            "room": rooms,
            "skip_sid": skip,
            "callback": None,
        }
        self._publish(message)

    def disconnect(self, sid, namespace="/"):
        self._publish({"method": "disconnect", "sid": sid, "namespace": namespace or "/"})

    def join(self, sid, room, namespace="/"):
        self._publish({"method": "enter_room", "sid": sid, "room": room, "namespace": namespace or "/"})

    def leave(self, sid, room, namespace="/"):
        self._publish({"method": "leave_room", "sid": sid, "room": room, "namespace": namespace or "/"})

    def close_room(self, room, namespace="/"):
        self._publish({"method": "close_room", "room": room, "namespace": namespace or "/"})


def _deconstruct_binary(value, attachments):
    """python-socketio's ``Packet.deconstruct_binary``: bytes → numbered placeholders."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        attachments.append(bytes(value))
        return {"_placeholder": True, "num": len(attachments) - 1}
    if isinstance(value, (list, tuple)):
        return [_deconstruct_binary(v, attachments) for v in value]
    if isinstance(value, dict):
        return {k: _deconstruct_binary(v, attachments) for k, v in value.items()}
    return value
