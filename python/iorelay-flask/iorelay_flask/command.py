"""The iorelay command line an app needs, derived from its ``SocketIO``.

Secrets are not printed: iorelay reads them from its environment
(``IORELAY_API_KEYS``, ``IORELAY_FORWARD_SECRET``).
"""

import shlex


def iorelay_args(socketio, hook_url):
    """Flags: the namespaces with handlers and ``namespaces=``'s (patterns last, ``'*'`` as
    ``/*``), their hooks, and the server options given to ``SocketIO``."""
    opt = socketio.options
    base = hook_url.rstrip("/") + socketio.hook_path
    namespaces = socketio.namespaces()
    args = []
    if len(namespaces) > 1:
        args += ["--namespaces", ",".join(ns for ns in namespaces if ns != "/")]
    args += ["--connect-url", ",".join(f"{ns}={base}/connect" for ns in namespaces)]
    args += ["--forward-url", ",".join(f"{ns}={base}/event" for ns in namespaces)]
    if socketio.socketio_path != "/socket.io":
        args += ["--path", socketio.socketio_path]
    origins = opt.get("cors_allowed_origins")
    if origins:
        origins = [origins] if isinstance(origins, str) else list(origins)
        args += ["--cors-origins", ",".join(origins)]
    for name, flag in (("ping_interval", "--ping-interval-ms"), ("ping_timeout", "--ping-timeout-ms")):
        if opt.get(name) is not None:
            args += [flag, str(int(float(opt[name]) * 1000))]
    if opt.get("max_http_buffer_size") is not None:
        args += ["--max-payload", str(int(opt["max_http_buffer_size"]))]
    if opt.get("message_queue"):
        args += ["--flask-queue", opt["message_queue"]]
        if opt.get("channel", "flask-socketio") != "flask-socketio":
            args += ["--flask-channel", opt["channel"]]
    return args


def describe(args):
    """The line ``SocketIO.run`` prints."""
    return "iorelay_flask: run iorelay with: iorelay " + " ".join(shlex.quote(a) for a in args) + \
        "  (environment: IORELAY_FORWARD_SECRET = forward_secret, IORELAY_API_KEYS = api_key)"
