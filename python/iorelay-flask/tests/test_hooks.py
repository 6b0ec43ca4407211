"""The hook routes through Flask's test client: what a handler does becomes the
answer iorelay applies (ops in order, the ack), per-socket sessions, the secret."""

import unittest

from flask import Flask, request, session

from iorelay_flask import (ConnectionRefusedError, Namespace, SocketIO, close_room, disconnect,
                           emit, join_room, leave_room, send)
from iorelay_flask.command import iorelay_args
from iorelay_flask.event_context import Call

SECRET = "s3cret-s3cret-s3cret"


def make_app(**options):
    app = Flask(__name__)
    app.config["SECRET_KEY"] = "test"
    socketio = SocketIO(app, forward_secret=SECRET, **options)
    seen = {}

    @app.get("/login/<name>")
    def login(name):
        session["user"] = name
        return "ok"

    @socketio.on("connect")
    def on_connect(auth):
        if auth == {"token": "bad"}:
            raise ConnectionRefusedError("go away", {"why": "bad token"})
        if auth == {"token": "silent"}:
            return False
        seen["connect_headers"] = dict(request.headers)
        join_room("lobby")
        emit("welcome", {"sid": request.sid, "user": session.get("user")})
        return None

    @socketio.on("disconnect")
    def on_disconnect(reason):
        seen["disconnect"] = (request.sid, reason, session.get("n"))
        emit("left", request.sid, to="lobby")

    @socketio.on("steps")
    def on_steps(room):
        emit("one", 1)
        join_room(room)
        emit("two", (2, "b"), to=room, include_self=False)
        send("three", broadcast=True)
        leave_room(room)
        close_room("other", namespace="/x")
        socketio.emit("everyone", None)
        disconnect()
        return ("a", b"\x00\xff")

    @socketio.on("count")
    def on_count():
        session["n"] = session.get("n", 0) + 1
        return session["n"], session.get("user")

    @socketio.on("bytes")
    def on_bytes(value):
        return {"type": type(value["raw"]).__name__, "len": len(value["raw"])}

    @socketio.on("nothing")
    def on_nothing():
        return None

    @socketio.on("*")
    def on_any(event, *args):
        return {"event": event, "args": list(args), "ns": request.namespace}

    @socketio.on("where", namespace="/admin")
    def on_where():
        return request.sid, request.namespace

    return app, socketio, seen


class HookTest(unittest.TestCase):
    def setUp(self):
        self.app, self.socketio, self.seen = make_app()
        self.client = self.app.test_client()

    def hook(self, route, body, secret=SECRET):
        headers = {"X-Iorelay-Secret": secret} if secret is not None else {}
        return self.client.post(f"/_iorelay/{route}", json=body, headers=headers)

    def connect(self, sid, auth=None, cookie=None, namespace="/"):
        headers = {"cookie": cookie} if cookie else {}
        return self.hook("connect", {"sid": sid, "namespace": namespace, "auth": auth, "headers": headers}).get_json()

    def event(self, sid, event, *args, namespace="/"):
        res = self.hook("event", {"sid": sid, "namespace": namespace, "event": event, "args": list(args), "user": None})
        self.assertEqual(res.status_code, 200, res.data)
        return res.get_json()

    def login_cookie(self, name):
        self.client.get(f"/login/{name}")
        return "session=" + self.client.get_cookie("session").value

    def test_connect_copies_the_cookie_session_and_answers_with_ops(self):
        answer = self.connect("s1", cookie=self.login_cookie("ada"))
        self.assertEqual(answer, {"ok": True, "ops": [
            {"op": "join", "room": "lobby"},
            {"op": "emit", "event": "welcome", "args": [{"sid": "s1", "user": "ada"}], "rooms": ["s1"]},
        ]})
        self.assertTrue(self.seen["connect_headers"]["Cookie"].startswith("session="), "request.headers are the handshake's")

    def test_refusals(self):
        self.assertEqual(self.connect("s1", {"token": "bad"}),
                         {"ok": False, "message": "go away", "data": {"why": "bad token"}})
        self.assertEqual(self.connect("s2", {"token": "silent"}), {"ok": False})

    def test_every_call_is_an_op_in_order_and_the_return_value_the_ack(self):
        self.connect("s1")
        answer = self.event("s1", "steps", "red")
        self.assertEqual(answer["ops"], [
            {"op": "emit", "event": "one", "args": [1], "rooms": ["s1"]},
            {"op": "join", "room": "red"},
            {"op": "emit", "event": "two", "args": [2, "b"], "rooms": ["red"], "include_self": False},
            {"op": "emit", "event": "message", "args": ["three"], "broadcast": True},
            {"op": "leave", "room": "red"},
            {"op": "close_room", "room": "other", "namespace": "/x"},
            {"op": "emit", "event": "everyone", "args": [], "broadcast": True},
            {"op": "disconnect"},
        ])
        self.assertEqual(answer["ack"], ["a", {"$binary": "AP8="}])

    def test_acks_and_binary_arguments(self):
        self.connect("s1")
        self.assertEqual(self.event("s1", "nothing")["ack"], [])
        self.assertEqual(self.event("s1", "bytes", {"raw": {"$binary": "AAEC"}})["ack"],
                         [{"type": "bytes", "len": 3}])

    def test_session_is_per_socket_and_forgotten_on_disconnect(self):
        cookie = self.login_cookie("bob")
        self.connect("s1", cookie=cookie)
        self.connect("s2", cookie=cookie)
        self.assertEqual([self.event("s1", "count")["ack"] for _ in range(3)],
                         [[1, "bob"], [2, "bob"], [3, "bob"]])
        self.assertEqual(self.event("s2", "count")["ack"], [1, "bob"])
        answer = self.event("s1", "disconnect", "client disconnect")
        self.assertEqual(self.seen["disconnect"], ("s1", "client disconnect", 3))
        self.assertEqual(answer, {"ops": [{"op": "emit", "event": "left", "args": ["s1"], "rooms": ["lobby"]}]})
        self.assertIsNone(self.socketio.sessions.load("s1"))
        self.assertEqual(self.event("s2", "count")["ack"], [2, "bob"], "the other socket keeps its session")

    def test_catch_all_and_namespaces(self):
        self.connect("s1")
        self.assertEqual(self.event("s1", "whatever", 1, "x")["ack"],
                         [{"event": "whatever", "args": [1, "x"], "ns": "/"}])
        self.connect("a1", namespace="/admin")
        self.assertEqual(self.event("a1", "where", namespace="/admin")["ack"], ["a1", "/admin"])

    def test_the_secret_is_required(self):
        body = {"sid": "s1", "namespace": "/", "event": "nothing", "args": [], "user": None}
        self.assertEqual(self.hook("event", body, secret=None).status_code, 403)
        self.assertEqual(self.hook("event", body, secret=SECRET[:-1] + "x").status_code, 403)
        self.assertEqual(self.hook("event", body).status_code, 200)


class NamespaceClassTest(unittest.TestCase):
    def test_on_methods_handle_their_namespace(self):
        app = Flask(__name__)
        socketio = SocketIO(app)

        class Game(Namespace):
            def on_connect(self, auth):
                join_room("players")

            def on_move(self, square):
                self.emit("moved", square, room="players", include_self=False)
                return request.namespace

        socketio.on_namespace(Game("/game"))
        client = app.test_client()
        connect = client.post("/_iorelay/connect", json={"sid": "g1", "namespace": "/game", "auth": None, "headers": {}})
        self.assertEqual(connect.get_json(), {"ok": True, "ops": [{"op": "join", "room": "players"}]})
        move = client.post("/_iorelay/event", json={"sid": "g1", "namespace": "/game", "event": "move", "args": ["e4"], "user": None})
        self.assertEqual(move.get_json(), {"ack": ["/game"], "ops": [
            {"op": "emit", "event": "moved", "args": ["e4"], "rooms": ["players"], "include_self": False}]})
        self.assertIn("/game", socketio.namespaces())


class CatchAllNamespaceTest(unittest.TestCase):
    """``namespace='*'`` handlers, as python-socketio 5.18 resolves them: exact namespace
    first, then its ``'*'`` event, then the catch-all namespace's event and ``'*'``,
    then ``Namespace`` classes."""

    def setUp(self):
        self.app = Flask(__name__)
        self.app.config["SECRET_KEY"] = "test"
        self.socketio = socketio = SocketIO(self.app, namespaces="*")
        self.seen = seen = []

        @socketio.on("connect", namespace="*")
        def any_connect(auth):
            seen.append(("connect", request.namespace, request.sid, auth))
            if auth == {"no": True}:
                return False
            join_room("t")
            emit("hello", request.namespace)

        @socketio.on("disconnect", namespace="*")
        def any_disconnect(reason):
            seen.append(("disconnect", request.namespace, reason))

        @socketio.on("ping", namespace="*")
        def any_ping(*args):
            emit("pong", list(args), to="t")
            return request.namespace, list(args)

        @socketio.on("*", namespace="*")
        def any_event(event, *args):
            return "any", event, request.namespace, list(args)

        @socketio.on("ping", namespace="/tenant-x")
        def exact_ping(*args):
            return "exact", list(args)

        @socketio.on("*", namespace="/tenant-y")
        def tenant_y_any(event, *args):
            return "y", event

        @socketio.on("connect")
        def root_connect():
            seen.append(("root-connect", request.namespace))

        self.client = self.app.test_client()

    def post(self, route, body):
        res = self.client.post(f"/_iorelay/{route}", json=body)
        self.assertEqual(res.status_code, 200, res.data)
        return res.get_json()

    def connect(self, sid, namespace, auth=None):
        return self.post("connect", {"sid": sid, "namespace": namespace, "auth": auth, "headers": {}})

    def event(self, sid, namespace, event, *args):
        return self.post("event", {"sid": sid, "namespace": namespace, "event": event, "args": list(args), "user": None})

    def test_connect_runs_with_the_real_namespace(self):
        self.assertEqual(self.connect("a1", "/tenant-a", {"k": 1}), {"ok": True, "ops": [
            {"op": "join", "room": "t"}, {"op": "emit", "event": "hello", "args": ["/tenant-a"], "rooms": ["a1"]}]})
        self.assertEqual(self.connect("b1", "/tenant-b", {"no": True}), {"ok": False})
        self.assertEqual(self.connect("r1", "/"), {"ok": True, "ops": []}, "/ has its own connect handler")
        self.assertEqual(self.seen, [("connect", "/tenant-a", "a1", {"k": 1}), ("connect", "/tenant-b", "b1", {"no": True}),
                                     ("root-connect", "/")])

    def test_event_handler_gets_the_arguments_and_request_namespace(self):
        self.connect("a1", "/tenant-a")
        answer = self.event("a1", "/tenant-a", "ping", 1, {"x": 2})
        self.assertEqual(answer, {"ack": ["/tenant-a", [1, {"x": 2}]], "ops": [
            {"op": "emit", "event": "pong", "args": [[1, {"x": 2}]], "rooms": ["t"]}]})

    def test_star_event_star_namespace_gets_the_event_first(self):
        self.assertEqual(self.event("a1", "/tenant-a", "other", 5)["ack"], ["any", "other", "/tenant-a", [5]])
        self.assertEqual(self.event("r1", "/", "other")["ack"], ["any", "other", "/", []], "/ too")

    def test_exact_namespace_handlers_come_first(self):
        self.assertEqual(self.event("x1", "/tenant-x", "ping", 1)["ack"], ["exact", [1]])
        self.assertEqual(self.event("x1", "/tenant-x", "other")["ack"], ["any", "other", "/tenant-x", []])
        self.assertEqual(self.event("y1", "/tenant-y", "ping")["ack"], ["y", "ping"],
                         "a namespace's '*' handler comes before the catch-all namespace's event handler")

    def test_disconnect_reaches_the_catch_all(self):
        self.connect("a1", "/tenant-a")
        self.assertEqual(self.event("a1", "/tenant-a", "disconnect", "client disconnect"), {"ops": []})
        self.assertEqual(self.seen[-1], ("disconnect", "/tenant-a", "client disconnect"))

    def test_the_command_line_serves_every_namespace(self):
        self.assertEqual(iorelay_args(self.socketio, "http://app:8000"), [
            "--namespaces", "/tenant-x,/tenant-y,/*",
            "--connect-url", ",".join(f"{ns}=http://app:8000/_iorelay/connect" for ns in ("/", "/tenant-x", "/tenant-y", "/*")),
            "--forward-url", ",".join(f"{ns}=http://app:8000/_iorelay/event" for ns in ("/", "/tenant-x", "/tenant-y", "/*")),
        ])

    def test_without_namespaces_star_only_named_namespaces_are_served(self):
        # Flask-SocketIO refuses namespaces without handlers unless namespaces='*'.
        app = Flask(__name__)
        socketio = SocketIO(app)
        socketio.on("ping", namespace="*")(lambda: None)
        socketio.on("ping", namespace="/game")(lambda: None)
        self.assertEqual(socketio.namespaces(), ["/", "/game"])
        socketio = SocketIO(Flask(__name__), namespaces=["/extra", "/org-*"])
        self.assertEqual(socketio.namespaces(), ["/", "/extra", "/org-*"], "names and iorelay patterns")

    def test_namespace_class_for_every_namespace(self):
        app = Flask(__name__)
        socketio = SocketIO(app, namespaces="*")

        class Tenant(Namespace):
            def on_connect(self):
                self.enter_room(request.sid, "members")

            def on_say(self, text):
                self.emit("said", text, room="members")
                return request.namespace, self.namespace

        class Exact(Namespace):
            def on_say(self, text):
                return "exact"

        socketio.on_namespace(Tenant("*"))
        socketio.on_namespace(Exact("/tenant-x"))
        self.client = app.test_client()
        self.assertEqual(self.connect("a1", "/tenant-a"), {"ok": True, "ops": [{"op": "join", "room": "members"}]})
        self.assertEqual(self.event("a1", "/tenant-a", "say", "hi"), {"ack": ["/tenant-a", "*"], "ops": [
            {"op": "emit", "event": "said", "args": ["hi"], "rooms": ["members"]}]})
        self.assertEqual(self.event("x1", "/tenant-x", "say", "hi")["ack"], ["exact"])
        self.assertEqual(self.connect("x1", "/tenant-x"), {"ok": True, "ops": []},
                         "the namespace's own class is used, even without on_connect")
        self.assertEqual(self.event("a1", "/tenant-a", "unknown"), {}, "no method: no handler")
        self.assertEqual(socketio.namespaces(), ["/", "/tenant-x", "/*"])


class PendingRoomsTest(unittest.TestCase):
    def test_rooms_count_the_ops_recorded_so_far(self):
        call = Call("s1", "/", "ev")
        call.add({"op": "join", "room": "a"})
        call.add({"op": "join", "room": "b"})
        call.add({"op": "leave", "room": "lobby"})
        call.add({"op": "close_room", "room": "b"})
        call.add({"op": "join", "room": "c"}, sid="s2")
        call.add({"op": "join", "room": "d"}, namespace="/x")
        self.assertEqual(call.pending_rooms("s1", "/", ["s1", "lobby"]), ["s1", "a"])


class CommandTest(unittest.TestCase):
    def test_flags_follow_the_handlers_and_options(self):
        app, socketio, _ = make_app(cors_allowed_origins=["https://a.example"], ping_interval=10,
                                    max_http_buffer_size=2000)
        self.assertEqual(iorelay_args(socketio, "http://10.0.0.5:8000/"), [
            "--namespaces", "/admin",
            "--connect-url", "/=http://10.0.0.5:8000/_iorelay/connect,/admin=http://10.0.0.5:8000/_iorelay/connect",
            "--forward-url", "/=http://10.0.0.5:8000/_iorelay/event,/admin=http://10.0.0.5:8000/_iorelay/event",
            "--cors-origins", "https://a.example",
            "--ping-interval-ms", "10000",
            "--max-payload", "2000",
        ])


class CommandLineTest(unittest.TestCase):
    def test_python_m_iorelay_flask_prints_the_flags_of_an_app_module(self):
        import os
        import subprocess
        import sys
        import tempfile

        with tempfile.TemporaryDirectory() as tmp:
            with open(os.path.join(tmp, "board.py"), "w") as f:
                f.write("from flask import Flask\nfrom iorelay_flask import SocketIO\n"
                        "app = Flask(__name__)\nsocketio = SocketIO(app, forward_secret='x')\n"
                        "@socketio.on('hi', namespace='/chat')\ndef hi():\n    return 1\n")
            out = subprocess.run([sys.executable, "-m", "iorelay_flask", "board:socketio",
                                  "--hook-url", "http://app:8000"], cwd=tmp, capture_output=True,
                                 text=True, check=True).stdout
        self.assertEqual(out.strip(), "iorelay --namespaces /chat "
                         "--connect-url /=http://app:8000/_iorelay/connect,/chat=http://app:8000/_iorelay/connect "
                         "--forward-url /=http://app:8000/_iorelay/event,/chat=http://app:8000/_iorelay/event")


if __name__ == "__main__":
    unittest.main()
