// Flask-SocketIO's catch-all namespace (`namespace='*'`) with the iorelay-flask package:
// tests/python/catchall_app.py runs unchanged under Flask-SocketIO 5.7 and under iorelay
// with the flags the app prints (`--namespaces '/*'` and hooks for it), and real
// socket.io-client sockets on /tenant-a, /tenant-b, /tenant-vip (an exact handler) and
// /rooms (a Namespace class) must see the same handlers run with the same namespace.

import { test } from "node:test";
import assert from "node:assert/strict";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { io } from "socket.io-client";
import { ackArgs, ackOnceReady, connectError, nextEvent, useServer, withTimeout } from "./harness.mjs";
import { freePort, usePython, printedArgs } from "./services.mjs";

const here = path.dirname(fileURLToPath(import.meta.url));
const testsDir = path.resolve(here, "..");
const FLASK_SOCKETIO_PYTHON = path.join(testsDir, ".venv/bin/python");
const PACKAGE_PYTHON = path.join(testsDir, ".venv-iorelay-flask/bin/python");
const APP = path.join(testsDir, "python/catchall_app.py");
const FORWARD_SECRET = "flask-catchall-forward-secret-0123456789";

/** The checks both servers must pass; `url` is the Socket.IO server's base URL. */
async function exercise(t, url, label) {
  // The connect handler of namespace '*' runs for each namespace, with its name and auth.
  const sockets = {};
  for (const ns of ["/tenant-a", "/tenant-b", "/tenant-vip", "/rooms"]) {
    const socket = await useSocketWithWelcome(t, `${url}${ns}`, { auth: { who: ns } });
    sockets[ns] = socket;
    assert.deepEqual(socket.welcome, [{ ns, sid: socket.socket.id, auth: { who: ns } }], `${label}: welcome on ${ns}`);
  }
  const a = sockets["/tenant-a"].socket;
  const b = sockets["/tenant-b"].socket;
  const a2 = (await useSocketWithWelcome(t, `${url}/tenant-a`, { auth: {} })).socket;

  // An event handler of namespace '*' gets the event's arguments; request.namespace tells which.
  const echoedA2 = nextEvent(a2, "echoed");
  let bGotIt = false;
  b.on("echoed", () => (bGotIt = true));
  assert.deepEqual(await ackArgs(a, "echo", [1, { x: "y" }]), ["/tenant-a", [1, { x: "y" }]], `${label}: echo ack on /tenant-a`);
  assert.deepEqual(await echoedA2, [{ ns: "/tenant-a", args: [1, { x: "y" }] }], `${label}: room "members" of /tenant-a`);
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(bGotIt, false, `${label}: /tenant-b's "members" is another room`);
  assert.deepEqual(await ackArgs(b, "echo", ["b"]), ["/tenant-b", ["b"]], `${label}: echo ack on /tenant-b`);
  // An exact namespace's handler wins over the catch-all namespace's.
  assert.deepEqual(await ackArgs(sockets["/tenant-vip"].socket, "echo", [7]), ["vip", [7]], `${label}: exact handler first`);
  // Decorated handlers, the catch-all namespace's too, come before a Namespace class.
  assert.deepEqual(await ackArgs(sockets["/rooms"].socket, "echo", [8]), ["/rooms", [8]], `${label}: decorator before class`);

  // '*' event on namespace '*'.
  const any = await ackArgs(a, "whatever", [3]);
  if (label === "Flask-SocketIO") {
    // Flask-SocketIO 5.7.0's wrapper shifts the namespace into the event's place, finds
    // no socket for it and answers ('', 400) without calling the handler (upstream bug).
    assert.deepEqual(any, ["", 400], `${label}: '*' on '*'`);
  } else {
    assert.deepEqual(any, ["any", "whatever", "/tenant-a", [3]], `${label}: '*' on '*'`);
  }

  // The connect handler's False refuses.
  const refused = await connectError(`${url}/tenant-c`, { auth: { refuse: true } });
  assert.ok(refused instanceof Error, `${label}: refused`);

  // The disconnect handler of namespace '*' runs with the namespace (it tells /).
  const root = (await useSocketWithWelcome(t, `${url}/`, {}, false)).socket;
  await ackOnceReady(root, "ready");
  await new Promise((r) => setTimeout(r, 100));
  const left = nextEvent(root, "left");
  const bId = b.id;
  b.close();
  assert.deepEqual(await left, [{ ns: "/tenant-b", sid: bId }], `${label}: disconnect on /tenant-b`);
}

/** A socket on `url` that recorded its "welcome" (when `welcome`) before it resolves. */
async function useSocketWithWelcome(t, url, opts, welcome = true) {
  const socket = io(url, { forceNew: true, reconnection: false, autoConnect: false, ...opts });
  t.after(() => socket.close());
  const got = welcome ? nextEvent(socket, "welcome", 10000) : null;
  const connected = new Promise((resolve, reject) => {
    socket.once("connect", resolve);
    socket.once("connect_error", reject);
  });
  socket.connect();
  await withTimeout(connected, 10000, `${url} connect`);
  await ackOnceReady(socket, "ready");
  return { socket, welcome: welcome ? await got : null };
}

test("namespace='*' handlers under Flask-SocketIO 5.7 (the app before migrating)", async (t) => {
  const port = await freePort();
  await usePython(t, FLASK_SOCKETIO_PYTHON, [APP, String(port)]);
  await exercise(t, `http://127.0.0.1:${port}`, "Flask-SocketIO");
});

test("the same namespace='*' handlers under iorelay + iorelay-flask, with the flags the app printed", async (t) => {
  const [appPort, iorelayPort] = [await freePort(), await freePort()];
  const app = await usePython(t, PACKAGE_PYTHON, [APP, String(appPort)], {
    env: { CATCHALL_APP_SERVER: "iorelay", IORELAY_FORWARD_SECRET: FORWARD_SECRET },
    ready: /run iorelay with: (iorelay .*?)  \(environment[\s\S]*Running on http/,
  });
  const flags = printedArgs(app.match[1]);
  const hook = `http://127.0.0.1:${appPort}/_iorelay`;
  const entries = (what) => ["/", "/rooms", "/tenant-vip", "/*"].map((ns) => `${ns}=${hook}/${what}`).join(",");
  assert.deepEqual(flags, ["--namespaces", "/rooms,/tenant-vip,/*", "--connect-url", entries("connect"), "--forward-url", entries("event")]);
  const iorelay = await useServer(t, flags, {
    listen: `127.0.0.1:${iorelayPort}`,
    env: { IORELAY_FORWARD_SECRET: FORWARD_SECRET },
  });
  await exercise(t, iorelay.url, "iorelay");

  // What the /* pattern does not cover: names of two segments are refused (Flask-SocketIO
  // accepts any name), and iorelay's built-in /chat stays iorelay's (exact wins).
  const deep = await connectError(`${iorelay.url}/tenant-a/deep`, {});
  assert.match(deep.message, /Invalid namespace/);
  const chat = io(`${iorelay.url}/chat`, { forceNew: true, reconnection: false, auth: { name: "Ada" } });
  t.after(() => chat.close());
  const welcomed = nextEvent(chat, "welcome", 1000).then(() => true, () => false);
  const outcome = await withTimeout(new Promise((resolve) => {
    chat.once("connect", () => resolve("connected"));
    chat.once("connect_error", (e) => resolve(`refused: ${e.message}`));
  }), 5000, "/chat");
  assert.equal(outcome, "connected", "iorelay's chat service takes the guest");
  assert.equal(await welcomed, false, "no welcome from the app's connect handler");
  assert.doesNotMatch(app.logs(), /connect \/chat/, "the app's connect handler never saw /chat");
  assert.match(app.logs(), /^connect \/tenant-a$/m);
  assert.match(app.logs(), /^connect \/ \(exact\)$/m, "/ has its own connect handler");
  assert.doesNotMatch(app.logs(), /^connect \/$/m, "which comes before namespace '*'");
});
