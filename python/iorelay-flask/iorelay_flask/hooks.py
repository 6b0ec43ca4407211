"""The two HTTP routes iorelay calls: ``--connect-url`` and ``--forward-url``.

They are internal: only iorelay may call them. Keep them off the public front
(``deploy/nginx-same-origin.conf`` answers 404 for the hook path) and give iorelay
``--forward-secret``, which the routes check here in constant time.
"""

import hmac
import logging

import flask

from .exceptions import refusal_class_names
from .handlers import run_handler, takes_arguments
from .sessions import SocketState
from .wire import ack_args, from_wire, to_wire

log = logging.getLogger("iorelay_flask")

SECRET_HEADER = "X-Iorelay-Secret"


def make_blueprint(socketio):
    """The hook routes of ``socketio``, to register under its ``hook_path``."""
    bp = flask.Blueprint("iorelay_flask", __name__)

    @bp.before_request
    def check_secret():
        expected = socketio.forward_secret
        if not expected:
            return None
        given = flask.request.headers.get(SECRET_HEADER, "")
        if not hmac.compare_digest(given.encode(), expected.encode()):
            return flask.jsonify(error="forbidden"), 403
        return None

    @bp.post("/connect")
    def connect_hook():
        body = flask.request.get_json(force=True)
        return flask.jsonify(on_connect(socketio, body))

    @bp.post("/event")
    def event_hook():
        body = flask.request.get_json(force=True)
        return flask.jsonify(on_event(socketio, body))

    return bp


def on_connect(socketio, body):
    """Runs the namespace's ``connect`` handler; accepts unless it refuses."""
    sid, namespace = body["sid"], body.get("namespace") or "/"
    state = SocketState(body.get("headers"), None)
    handler = socketio.handler_for(namespace, "connect")
    auth = from_wire(body.get("auth"))

    def connect(*args):
        if handler is None:
            return None
        return handler(auth) if takes_arguments(handler) else handler()

    app = flask.current_app._get_current_object()
    try:
        returned, call = run_handler(app, socketio.socketio_path, state, sid, namespace, "connect",
                                     connect, (), first=True)
    except refusal_class_names() as refusal:
        args = getattr(refusal, "error_args", None) or {"message": str(refusal)}
        answer = {"ok": False, "message": str(args.get("message"))}
        if "data" in args:
            answer["data"] = to_wire(args["data"])
        return answer
    if returned is False:
        return {"ok": False}
    socketio.sessions.save(sid, state)
    return {"ok": True, "ops": call.ops}


def on_event(socketio, body):
    """Runs the handler of a forwarded event; its ops and return value are the answer."""
    sid, namespace, event = body["sid"], body.get("namespace") or "/", body["event"]
    args = from_wire(body.get("args") or [])
    state = socketio.sessions.load(sid) or SocketState({}, None)
    app = flask.current_app._get_current_object()

    if event == "disconnect":
        handler = socketio.handler_for(namespace, "disconnect")
        try:
            if handler is None:
                return {}
            call_args = tuple(args[:1]) if takes_arguments(handler) else ()
            _, call = run_handler(app, socketio.socketio_path, state, sid, namespace, event, handler, call_args)
            return {"ops": call.ops}
        finally:
            socketio.sessions.forget(sid)

    handler, call_args = socketio.resolve(namespace, event, args)
    if handler is None:
        log.info("no handler for event %r on namespace %s", event, namespace)
        return {}
    try:
        returned, call = run_handler(app, socketio.socketio_path, state, sid, namespace, event,
                                     socketio.guarded(handler, namespace), call_args)
    finally:
        socketio.sessions.save(sid, state)
    return {"ops": call.ops, "ack": to_wire(ack_args(returned))}
