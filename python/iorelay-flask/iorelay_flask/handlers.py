"""Running an app's handler as Flask-SocketIO would: in a request context made from
the socket's handshake, with ``request.sid``, ``request.namespace`` and the socket's
own ``flask.session``, while its ``emit`` / ``join_room`` / ... calls are recorded."""

import inspect

import flask

from .event_context import Call, enter_call, leave_call
from .sessions import SocketSession


def _request_context(app, path, headers):
    forwarded = headers.get("x-forwarded-for", "")
    remote = forwarded.split(",")[0].strip() or "127.0.0.1"
    return app.test_request_context(path, headers=headers, environ_base={"REMOTE_ADDR": remote})


def _install_session(session):
    """Makes ``flask.session`` the socket's session (Flask 2.2 to 3.2 keep it in different places)."""
    app_ctx = getattr(flask.globals, "app_ctx", None)
    if app_ctx is not None and hasattr(app_ctx, "session"):
        ctx = app_ctx._get_current_object()
    else:
        ctx = flask.globals.request_ctx._get_current_object()
    if hasattr(ctx, "_session"):
        ctx._session = session
    else:
        ctx.session = session


def run_handler(app, path, state, sid, namespace, event, handler, args, first=False):
    """Calls ``handler(*args)``; returns ``(return value, Call)``.

    ``first``: the connect handler; the socket's session starts as a copy of the
    HTTP session in the handshake's cookie.
    """
    with _request_context(app, path, state.headers):
        if first:
            state.session = SocketSession(flask.session)
        _install_session(state.session)
        flask.request.sid = sid
        flask.request.namespace = namespace
        flask.request.event = {"message": event, "args": list(args)}
        call = Call(sid, namespace, event)
        token = enter_call(call)
        try:
            return handler(*args), call
        finally:
            leave_call(token)


def takes_arguments(handler):
    """Whether ``handler`` accepts one positional argument (``auth``, a disconnect reason)."""
    try:
        params = inspect.signature(handler).parameters.values()
    except (TypeError, ValueError):
        return True
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return bool(positional) or any(p.kind == p.VAR_POSITIONAL for p in params)
