"""``SocketIO``: Flask-SocketIO's extension object, with iorelay holding the sockets.

It keeps the handlers (``@socketio.on``), registers the hook routes iorelay calls,
delivers what is emitted outside handlers, and tells which iorelay command line
the app needs (``iorelay_args``, printed by ``run``).
"""

import logging
import os
import threading
import time

from . import command
from .delivery import DeliveryError, PublishApi, QueuePublisher
from .event_context import current_call, emit_op
from .exceptions import TimeoutError
from .handlers import run_handler
from .hooks import make_blueprint
from .sessions import MemoryStore, RedisStore, SocketState
from .wire import event_args, from_wire, one_or_many

log = logging.getLogger("iorelay_flask")

RESERVED_EVENTS = ("connect", "disconnect")


class SocketIO:
    """Drop-in for ``flask_socketio.SocketIO``.

    Flask-SocketIO's arguments are accepted. Those that configure the Socket.IO
    server (``cors_allowed_origins``, ``ping_interval``, ``ping_timeout``,
    ``max_http_buffer_size``, ``path``, ``message_queue``, ``channel``, ``namespaces``)
    become iorelay flags in ``iorelay_args()`` (``namespaces='*'``, which lets
    ``namespace='*'`` handlers serve any namespace, is the pattern ``/*``); the event loop ones (``async_mode``, ...)
    mean nothing here. iorelay's own settings, each also read from the environment:

    - ``iorelay_url`` (``IORELAY_URL``): where the publish API is, e.g.
      ``http://127.0.0.1:3000``; with ``api_key`` (``IORELAY_API_KEY``);
    - ``forward_secret`` (``IORELAY_FORWARD_SECRET``): the hooks refuse calls
      without it (iorelay's ``--forward-secret``);
    - ``hook_url`` (``IORELAY_HOOK_URL``): where iorelay reaches this app, for
      ``iorelay_args`` (default: the address ``run`` serves on);
    - ``hook_path`` (default ``/_iorelay``): the path of the hook routes;
    - ``ack_timeout`` (seconds, default 30): how long ``callback=`` waits;
    - ``max_ack_timeout`` (seconds, default 30, iorelay's ``--api-max-ack-timeout-ms``):
      ``call(timeout=)`` waits at most this long.
    """

    def __init__(self, app=None, **kwargs):
        self.handlers = {}
        self.namespace_handlers = {}
        self.exception_handlers = {}
        self.default_exception_handler = None
        self.options = {}
        self.app = None
        self.api = None
        self.queue = None
        self.sessions = MemoryStore()
        self.forward_secret = None
        if app is not None or "message_queue" in kwargs:
            self.init_app(app, **kwargs)
        else:
            self.options.update(kwargs)

    def init_app(self, app, **kwargs):
        """Binds the extension to ``app`` (or, without one, makes a write-only emitter)."""
        self.options.update(kwargs)
        opt = self.options
        env = os.environ.get
        self.socketio_path = "/" + (opt.get("path") or opt.get("resource") or "socket.io").strip("/")
        self.hook_path = "/" + (opt.get("hook_path") or "/_iorelay").strip("/")
        self.forward_secret = opt.get("forward_secret") or env("IORELAY_FORWARD_SECRET") or None
        self.max_ack_timeout = float(opt.get("max_ack_timeout", 30))
        self.ack_timeout = min(float(opt.get("ack_timeout", 30)), self.max_ack_timeout)
        iorelay_url = opt.get("iorelay_url") or env("IORELAY_URL")
        api_key = opt.get("api_key") or env("IORELAY_API_KEY")
        if iorelay_url and api_key:
            self.api = PublishApi(iorelay_url, api_key)
        queue_url = opt.get("message_queue")
        if queue_url:
            self.queue = QueuePublisher(queue_url, opt.get("channel", "flask-socketio"))
            self.sessions = RedisStore(queue_url)
        if app is not None:
            self.app = app
            if not hasattr(app, "extensions"):
                app.extensions = {}
            app.extensions["socketio"] = self
            app.register_blueprint(make_blueprint(self), url_prefix=self.hook_path)
            if not self.forward_secret:
                log.warning("no forward_secret: anyone who reaches %s/ can act as iorelay; "
                            "keep that path private", self.hook_path)

    # Handlers ---------------------------------------------------------------

    def on(self, message, namespace=None):
        """Decorator: ``handler`` runs for event ``message`` (``'connect'``, ``'disconnect'``, ``'*'``)."""
        def decorator(handler):
            self.on_event(message, handler, namespace)
            return handler
        return decorator

    def on_event(self, message, handler, namespace=None):
        """Non-decorator ``on``."""
        self.handlers[(namespace or "/", message)] = handler

    def event(self, *args, **kwargs):
        """``@socketio.event`` names the event after the function."""
        if len(args) == 1 and not kwargs and callable(args[0]):
            return self.on(args[0].__name__)(args[0])

        def decorator(handler):
            return self.on(handler.__name__, **kwargs)(handler)
        return decorator

    def on_error(self, namespace=None):
        """Decorator: the handler's exceptions in ``namespace`` go to this function; its return is the ack."""
        def decorator(exception_handler):
            self.exception_handlers[namespace or "/"] = exception_handler
            return exception_handler
        return decorator

    def on_error_default(self, exception_handler):
        """Exceptions of namespaces without ``on_error`` go here."""
        self.default_exception_handler = exception_handler
        return exception_handler

    def on_namespace(self, namespace_handler):
        """Class-based namespaces: ``on_<event>`` methods of a ``Namespace`` (``Namespace('*')``: every namespace)."""
        namespace_handler._set_socketio(self)
        self.namespace_handlers[namespace_handler.namespace] = namespace_handler

    def resolve(self, namespace, event, args=()):
        """The handler of ``event`` on ``namespace`` and the arguments it gets, or ``(None, args)``.

        python-socketio's order: a handler of ``(namespace, event)``, the namespace's
        ``'*'`` handler (``handler(event, *args)``), then the catch-all namespace's
        ``(event)`` handler (``handler(*args)``, ``request.namespace`` tells which) and its
        ``'*'`` handler (``handler(event, *args)``); then the ``Namespace`` class of the
        namespace, else ``Namespace('*')``. ``connect`` and ``disconnect`` never reach a
        ``'*'`` event handler.
        """
        catch_event = event not in RESERVED_EVENTS
        for ns in (namespace, "*"):
            handler = self.handlers.get((ns, event))
            if handler is not None:
                return handler, tuple(args)
            handler = self.handlers.get((ns, "*")) if catch_event else None
            if handler is not None:
                return handler, (event, *args)
        for ns in (namespace, "*"):
            if ns in self.namespace_handlers:
                return getattr(self.namespace_handlers[ns], "on_" + event, None), tuple(args)
        return None, tuple(args)

    def handler_for(self, namespace, event):
        return self.resolve(namespace, event)[0]

    def namespaces(self):
        """Namespaces iorelay must serve: ``/`` first (iorelay serves it always), those
        with handlers, the ``namespaces=`` option's; then patterns (``'*'`` is ``/*``)."""
        found = {ns for ns, _ in self.handlers} | set(self.namespace_handlers)
        patterns = []
        accepted = self.options.get("namespaces") or []
        for ns in [accepted] if isinstance(accepted, str) else accepted:
            ns = "/*" if ns == "*" else ns
            if "*" in ns:
                if ns not in patterns:
                    patterns.append(ns)
            else:
                found.add(ns)
        return ["/"] + sorted(found - {"/", "*"}) + patterns

    def guarded(self, handler, namespace):
        """``handler`` whose exceptions go to the ``on_error`` handlers, as Flask-SocketIO does."""
        def run(*args):
            try:
                return handler(*args)
            except Exception as err:
                err_handler = self.exception_handlers.get(namespace, self.default_exception_handler)
                if err_handler is None:
                    raise
                return err_handler(err)
        return run

    # Sending ----------------------------------------------------------------

    def emit(self, event, *args, namespace=None, to=None, room=None, include_self=True,
             skip_sid=None, callback=None, broadcast=None, ignore_queue=False):
        """Emit to ``to`` (rooms, sids) or everyone in ``namespace`` (default ``/``).

        Inside a handler it joins the handler's answer; elsewhere it goes through
        the message queue or the publish API. ``callback`` needs the publish API.
        """
        namespace = namespace or "/"
        to = to if to is not None else room
        data = event_args(args)
        current = current_call()
        skip = one_or_many(skip_sid) or []
        if not include_self and current is not None:
            skip.append(current.sid)
        if callback is not None:
            self._emit_with_callback(event, data, namespace, to, callback, current)
            return
        if current is not None and all(s == current.sid for s in skip):
            emit_op(current, event, data, namespace, to, broadcast=to is None, include_self=not skip)
            return
        self._deliver("emit", event, data, namespace=namespace, rooms=one_or_many(to), skip=skip or None)

    def send(self, data, json=False, namespace=None, to=None, callback=None, include_self=True,
             skip_sid=None, **kwargs):
        """``emit('message', data)`` (``'json'`` with ``json=True``)."""
        self.emit("json" if json else "message", data, namespace=namespace, to=to, callback=callback,
                  include_self=include_self, skip_sid=skip_sid)

    def call(self, event, *args, namespace=None, to=None, room=None, timeout=60, ignore_queue=False):
        """Emit to one socket and wait for its acknowledgement (``TimeoutError`` without one)."""
        to = to if to is not None else room
        if to is None:
            raise ValueError("call() needs to= (one socket id)")
        acks = self._api("call").emit(event, event_args(args), namespace=namespace or "/", rooms=[to],
                                      ack_timeout_ms=int(min(timeout, self.max_ack_timeout) * 1000))
        if not acks:
            raise TimeoutError()
        answer = acks.get(to) or next(iter(acks.values()))
        return answer[0] if len(answer) == 1 else (None if not answer else tuple(answer))

    def close_room(self, room, namespace=None):
        """Every socket in ``room`` leaves it."""
        current = current_call()
        if current is not None:
            current.add({"op": "close_room", "room": str(room)}, namespace=namespace or "/")
            return
        self._deliver("close_room", str(room), namespace=namespace or "/")

    def join_room(self, room, sid, namespace=None):
        """``sid`` joins ``room`` (outside handlers)."""
        self._deliver("join", sid, str(room), namespace=namespace or "/")

    def leave_room(self, room, sid, namespace=None):
        """``sid`` leaves ``room`` (outside handlers)."""
        self._deliver("leave", sid, str(room), namespace=namespace or "/")

    def disconnect_sid(self, sid, namespace=None):
        """Disconnects ``sid`` (outside handlers)."""
        self._deliver("disconnect", sid, namespace=namespace or "/")

    def server_rooms(self, sid, namespace):
        """The rooms iorelay has ``sid`` in."""
        return self._api("rooms").rooms(sid, namespace)

    def _deliver(self, method, *args, **kwargs):
        """Sends through the queue (when configured) or the API. A failure is logged,
        not raised: Flask-SocketIO's sends outside handlers do not fail either."""
        road = self.queue if self.queue is not None else self._api(method)
        try:
            getattr(road, method)(*args, **kwargs)
        except DeliveryError:
            log.exception("%s outside a handler was not delivered", method)

    def _api(self, what):
        if self.api is None:
            raise RuntimeError(f"{what}() outside a handler needs iorelay's publish API: "
                               "set iorelay_url and api_key (IORELAY_URL, IORELAY_API_KEY)")
        return self.api

    def _emit_with_callback(self, event, data, namespace, to, callback, current):
        """Emits through the publish API and calls ``callback(*ack)`` on a background thread.

        Inside a handler the callback runs like Flask-SocketIO's: with the sender's
        ``request.sid`` and session; what it emits is delivered through the API.
        """
        api = self._api("emit(callback=)")
        if to is None:
            raise ValueError("emit(callback=) needs one addressee (to=sid)")
        origin = (current.sid, current.namespace) if current is not None else None
        app = self.app

        def wait_for_ack():
            try:
                acks = api.emit(event, data, namespace=namespace, rooms=one_or_many(to),
                                ack_timeout_ms=int(self.ack_timeout * 1000))
            except DeliveryError:
                log.exception("emit(%r, callback=) failed", event)
                return
            for ack in acks.values():
                try:
                    self._run_detached(app, origin, callback, ack)
                except Exception:
                    log.exception("the callback of emit(%r) failed", event)

        self.start_background_task(wait_for_ack)

    def _run_detached(self, app, origin, fn, args):
        """Runs ``fn(*args)`` as if in the handler of ``origin`` (sid, namespace), then delivers its ops."""
        if origin is None or app is None:
            return fn(*args)
        sid, namespace = origin
        state = self.sessions.load(sid) or SocketState({}, None)
        _, call = run_handler(app, self.socketio_path, state, sid, namespace, None, fn, tuple(args))
        self.sessions.save(sid, state)
        self.apply_ops(call)

    def apply_ops(self, call):
        """Delivers ops recorded outside a hook request, one by one, in order."""
        for op in call.ops:
            ns = op.get("namespace", call.namespace)
            sid = op.get("sid", call.sid)
            kind = op["op"]
            if kind == "emit":
                rooms = op.get("rooms")
                if rooms is None and not op.get("broadcast"):
                    rooms = [call.sid]
                skip = None if op.get("include_self", True) else [call.sid]
                self._deliver("emit", op["event"], from_wire(op["args"]), namespace=ns, rooms=rooms, skip=skip)
            elif kind in ("join", "leave"):
                self._deliver(kind, sid, op["room"], namespace=ns)
            elif kind == "close_room":
                self._deliver("close_room", op["room"], namespace=ns)
            elif kind == "disconnect":
                self._deliver("disconnect", sid, namespace=ns)

    # Running ----------------------------------------------------------------

    def start_background_task(self, target, *args, **kwargs):
        """Runs ``target`` on a daemon thread; returns the thread (``join()`` waits for it)."""
        thread = threading.Thread(target=target, args=args, kwargs=kwargs, daemon=True)
        thread.start()
        return thread

    def sleep(self, seconds=0):
        """``time.sleep``: handlers run on ordinary threads here."""
        time.sleep(seconds)

    def iorelay_args(self, hook_url=None):
        """The iorelay flags this app needs (secrets are left to iorelay's environment)."""
        hook_url = hook_url or self.options.get("hook_url") or os.environ.get("IORELAY_HOOK_URL")
        if not hook_url:
            raise ValueError("iorelay_args() needs hook_url: where iorelay reaches this app")
        return command.iorelay_args(self, hook_url)

    def run(self, app, host=None, port=None, **kwargs):
        """Serves the Flask app (pages and hook routes) with Werkzeug; iorelay runs beside it.

        Prints the iorelay command line the app needs. Flask-SocketIO's options for
        its own web server (``allow_unsafe_werkzeug``, ``log_output``, ...) are accepted.
        """
        host = host or "127.0.0.1"
        port = port or 5000
        hook_url = self.options.get("hook_url") or os.environ.get("IORELAY_HOOK_URL") or \
            f"http://{'127.0.0.1' if host in ('0.0.0.0', '::') else host}:{port}"
        print(command.describe(self.iorelay_args(hook_url)), flush=True)
        for name in ("allow_unsafe_werkzeug", "log_output", "reloader_options", "extra_files"):
            kwargs.pop(name, None)
        debug = kwargs.pop("debug", app.debug)
        use_reloader = kwargs.pop("use_reloader", debug)
        app.run(host=host, port=port, debug=debug, use_reloader=use_reloader, threaded=True, **kwargs)
