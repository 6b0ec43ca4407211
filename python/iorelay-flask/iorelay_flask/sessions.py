"""``flask.session`` per socket, as Flask-SocketIO keeps it.

On connect the socket gets a copy of the HTTP session its handshake's cookie carried;
its handlers then read and change that copy, never the cookie. The copy and the
handshake's headers (which make ``request.headers`` / ``request.cookies`` in handlers)
live here, per socket id, until the socket disconnects.

``MemoryStore`` holds them in this process: run the Flask app as one process (threads
are fine). ``RedisStore`` (used when ``message_queue`` is a Redis URL) shares them
between processes and machines, so gunicorn may run several workers.
"""

import threading

from flask.json.tag import TaggedJSONSerializer
from flask.sessions import SessionMixin


class SocketSession(dict, SessionMixin):
    """A socket's session: a plain dict Flask treats as a session."""


class SocketState:
    """What a socket's handlers see of its handshake, and its session."""

    def __init__(self, headers, session):
        self.headers = dict(headers or {})
        self.session = session if isinstance(session, SocketSession) else SocketSession(session or {})


class MemoryStore:
    """Socket states in this process."""

    def __init__(self):
        self._states = {}
        self._lock = threading.Lock()

    def load(self, sid):
        with self._lock:
            return self._states.get(sid)

    def save(self, sid, state):
        with self._lock:
            self._states[sid] = state

    def forget(self, sid):
        with self._lock:
            self._states.pop(sid, None)


class RedisStore:
    """Socket states in Redis (Flask's tagged JSON, so bytes, dates and tuples survive)."""

    def __init__(self, url, prefix="iorelay-flask:socket:", ttl_seconds=7 * 24 * 3600):
        import redis

        self.redis = redis.Redis.from_url(url)
        self.prefix = prefix
        self.ttl = ttl_seconds
        self.serializer = TaggedJSONSerializer()

    def load(self, sid):
        raw = self.redis.get(self.prefix + sid)
        if raw is None:
            return None
        data = self.serializer.loads(raw)
        return SocketState(data["headers"], data["session"])

    def save(self, sid, state):
        raw = self.serializer.dumps({"headers": state.headers, "session": dict(state.session)})
        self.redis.set(self.prefix + sid, raw, ex=self.ttl)

    def forget(self, sid):
        self.redis.delete(self.prefix + sid)
