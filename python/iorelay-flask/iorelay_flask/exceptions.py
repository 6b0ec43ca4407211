"""The exceptions Flask-SocketIO apps raise or catch, with python-socketio's meaning."""


class ConnectionRefusedError(ConnectionError):
    """Raise in a ``connect`` handler to refuse: ``(message, data)`` reach the client."""

    def __init__(self, *args):
        super().__init__(*args)
        if not args:
            self.error_args = {"message": "Connection rejected by server"}
        else:
            self.error_args = {"message": str(args[0])}
            if len(args) == 2:
                self.error_args["data"] = args[1]
            elif len(args) > 2:
                self.error_args["data"] = list(args[1:])


class TimeoutError(Exception):
    """``call()`` got no acknowledgement in time."""


def refusal_class_names():
    """Refusals python-socketio's own class also counts as (apps may import either)."""
    classes = [ConnectionRefusedError]
    try:
        from socketio.exceptions import ConnectionRefusedError as upstream
    except ImportError:
        pass
    else:
        classes.append(upstream)
    return tuple(classes)
