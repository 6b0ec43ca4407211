// Flask-SocketIO migration, end to end with real Python from PyPI:
// - the message-queue bridge: flask_socketio.SocketIO(message_queue=...) (JSON,
//   tests/.venv) and python-socketio 5.13's RedisManager (pickle, tests/.venv-pickle)
//   publish through a real redis-server; real socket.io-client sockets receive;
// - garbage on the queue changes nothing; two nodes deliver each message once;
// - a real python-socketio client chats on /chat;
// - event forwarding to a small Flask backend, and its connect hook.
//
// "Did not receive" is asserted after a later marker event arrived on the same
// socket: the bridge applies messages in order and a socket's packets are
// delivered in order, so anything meant for it would have come before.

import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { io } from "socket.io-client";
import { useServer, useSocket, nextEvent, collect, ackArgs, ackOnceReady, connectError, withTimeout, bridgeReady } from "./harness.mjs";
import { startRedis, freePort } from "./services.mjs";

const testsDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const PYTHON = path.join(testsDir, ".venv/bin/python");
const PYTHON_PICKLE = path.join(testsDir, ".venv-pickle/bin/python");
const script = (name) => path.join(testsDir, "python", name);

/** Runs a Python script to completion; resolves with its stdout. */
function runPython(python, name, args, input, timeoutMs = 20000) {
  const proc = spawn(python, [script(name), ...args], { stdio: ["pipe", "pipe", "pipe"] });
  let out = "";
  let err = "";
  proc.stdout.on("data", (c) => (out += c));
  proc.stderr.on("data", (c) => (err += c));
  proc.stdin.end(input === undefined ? "" : JSON.stringify(input));
  return withTimeout(
    once(proc, "exit").then(([code]) => {
      if (code !== 0) throw new Error(`${name} exited with ${code}:\n${err}`);
      return out;
    }),
    timeoutMs,
    name,
  );
}

/** Publishes `ops` (see tests/python/queue_emit.py) with the emitter of `python`. */
function publish(python, redis, ops, channel = "flask-socketio") {
  return runPython(python, "queue_emit.py", [redis.url, channel], ops);
}

async function useRedis(t) {
  const redis = await startRedis();
  t.after(() => redis.stop());
  return redis;
}

/** A connected socket whose server-side handlers (and sid room) are in place. */
async function readySocket(t, url, opts = {}) {
  const socket = await useSocket(t, url, opts);
  await ackOnceReady(socket, "rooms:leave", [{ room: "warm-up" }]);
  return socket;
}

const b64 = (bytes) => Buffer.from(bytes).toString("base64");

/** Everything each socket received, by event, until its marker `n` arrived. */
function recorder(sockets, events) {
  const seen = sockets.map((s) => Object.fromEntries(events.map((e) => [e, collect(s, e)])));
  return {
    seen,
    async untilMarker(n) {
      await Promise.all(
        sockets.map(async (s, i) => {
          while (!seen[i].marker.some((args) => args[0] === n)) await nextEvent(s, "marker");
        }),
      );
    },
  };
}

for (const [label, python] of [
  ["Flask-SocketIO 5.7 (JSON)", PYTHON],
  ["python-socketio 5.13 (pickle)", PYTHON_PICKLE],
]) {
  test(`${label}: rooms, sids, skip_sid, several arguments and bytes arrive as Flask-SocketIO delivers them`, async (t) => {
    const redis = await useRedis(t);
    const srv = await useServer(t, ["--client-relay", "--flask-queue", `${redis.url}/0`]);
    await bridgeReady(srv.url);
    const [a, b, c] = [await readySocket(t, srv.url), await readySocket(t, srv.url), await readySocket(t, srv.url)];
    const events = ["greet", "direct", "skip", "multi", "bytes", "noarg", "after-leave", "marker"];
    const rec = recorder([a, b, c], events);

    await publish(python, redis, [
      { op: "enter_room", sid: a.id, room: "room1" },
      { op: "enter_room", sid: b.id, room: "room1" },
      { op: "emit", event: "greet", args: [{ text: "hi", n: 1 }], to: "room1" },
      { op: "emit", event: "direct", args: ["only c"], to: c.id },
      { op: "emit", event: "skip", args: [1], skip_sid: a.id },
      { op: "emit", event: "multi", args: ["a", 2, null, [1, 2], { k: true }], to: "room1", skip_sid: [b.id] },
      { op: "emit", event: "bytes", args: [{ $bytes: b64([0, 1, 2, 255]) }, { nested: { $bytes: b64([9, 8]) }, n: 1 }], to: c.id },
      { op: "emit", event: "noarg", to: a.id },
      { op: "leave_room", sid: b.id, room: "room1" },
      { op: "emit", event: "after-leave", args: ["x"], to: "room1" },
      { op: "emit", event: "marker", args: [1] },
    ]);
    await rec.untilMarker(1);
    const [sa, sb, sc] = rec.seen;

    assert.deepEqual(sa.greet, [[{ text: "hi", n: 1 }]]);
    assert.deepEqual(sb.greet, [[{ text: "hi", n: 1 }]]);
    assert.deepEqual(sc.greet, [], "c is not in room1");
    assert.deepEqual([sa.direct, sb.direct, sc.direct], [[], [], [["only c"]]]);
    assert.deepEqual([sa.skip, sb.skip, sc.skip], [[], [[1]], [[1]]], "skip_sid leaves a out");
    assert.deepEqual(sa.multi, [["a", 2, null, [1, 2], { k: true }]], "a tuple is several arguments");
    assert.deepEqual([sb.multi, sc.multi], [[], []]);
    assert.equal(sc.bytes.length, 1);
    const [bin, obj] = sc.bytes[0];
    assert.ok(Buffer.isBuffer(bin), "bytes arrive as binary");
    assert.deepEqual([...bin], [0, 1, 2, 255]);
    assert.deepEqual([...obj.nested], [9, 8]);
    assert.equal(obj.n, 1);
    assert.deepEqual(sa.noarg, [[]], "emit('noarg') carries no argument");
    assert.deepEqual([sa["after-leave"], sb["after-leave"], sc["after-leave"]], [[["x"]], [], []]);
  });

  test(`${label}: close_room and disconnect`, async (t) => {
    const redis = await useRedis(t);
    const srv = await useServer(t, ["--client-relay", "--flask-queue", redis.url, "--namespaces", "/admin"]);
    await bridgeReady(srv.url);
    const a = await readySocket(t, `${srv.url}/admin`);
    const b = await readySocket(t, `${srv.url}/admin`);
    const rec = recorder([a], ["to-r2", "marker"]);
    const bGone = nextEvent(b, "disconnect");

    await publish(python, redis, [
      { op: "enter_room", sid: a.id, room: "r2", namespace: "/admin" },
      { op: "close_room", room: "r2", namespace: "/admin" },
      { op: "emit", event: "to-r2", args: [1], to: "r2", namespace: "/admin" },
      { op: "disconnect", sid: b.id, namespace: "/admin" },
      { op: "emit", event: "marker", args: [2], namespace: "/admin" },
    ]);
    await rec.untilMarker(2);
    assert.deepEqual(rec.seen[0]["to-r2"], [], "the room was closed before the emit");
    assert.equal((await bGone)[0], "io server disconnect");
    assert.ok(a.connected);
  });
}

test("garbage on the queue changes nothing and the next good message is applied", async (t) => {
  const redis = await useRedis(t);
  // Every rejection is logged here (by default a repeating warning is logged once per 10 s).
  const srv = await useServer(t, [
    "--client-relay", "--flask-queue", redis.url, "--flask-channel", "socketio", "--log-repeat-interval-ms", "0",
  ]);
  await bridgeReady(srv.url);
  const a = await readySocket(t, srv.url);
  const rec = recorder([a], ["anything", "connect", "marker"]);
  const marker = path.join(os.tmpdir(), `iorelay-pwned-${process.pid}-${Date.now()}`);
  const json = (value) => ({ op: "raw", base64: Buffer.from(JSON.stringify(value)).toString("base64") });

  await publish(
    PYTHON,
    redis,
    [
      { op: "raw", base64: Buffer.from([0x00, 0x9f, 0x13, 0xff, 0x80, 0x01]).toString("base64") },
      { op: "raw", base64: Buffer.from('{"method": "emit", "event": "anything"').toString("base64") },
      { op: "evil_pickle", marker, protocol: 2 },
      { op: "evil_pickle", marker, protocol: 5 },
      json({ method: "emit", event: "anything", data: "not a list", namespace: "/", room: null }),
      json({ method: "emit", event: "anything", data: [1], namespace: "/", room: 42 }),
      json({ method: "emit", event: "connect", data: [1], namespace: "/" }),
      json({ method: "emit", event: "anything", data: [1], namespace: "/nowhere" }),
      json({ method: "launch_missiles" }),
      json([1, 2, 3]),
      { op: "emit", event: "marker", args: [3] },
    ],
    "socketio",
  );
  await rec.untilMarker(3);
  assert.deepEqual(rec.seen[0].anything, []);
  assert.deepEqual(rec.seen[0].connect, []);
  assert.equal(fs.existsSync(marker), false, "no pickle code ran");
  const logs = srv.logs();
  for (const reason of ["malformed_json", "forbidden_pickle", "bad_shape", "invalid_event", "unknown_namespace", "unknown_method"]) {
    assert.match(logs, new RegExp(`rejected a Flask queue message.*${reason}|${reason}.*rejected a Flask queue message`), reason);
  }
  assert.equal(logs.match(/rejected a Flask queue message/g).length, 10);
});

test("two nodes on the Redis adapter: each Flask emit reaches each socket exactly once", async (t) => {
  const redis = await startRedis();
  const args = ["--client-relay", "--adapter", "redis", "--redis-url", redis.url, "--flask-queue", redis.url];
  const n1 = await useServer(t, [...args, "--node-id", "n1"]);
  const n2 = await useServer(t, [...args, "--node-id", "n2"]);
  // After hooks run in order: the nodes drain while their adapter's Redis still answers.
  t.after(() => redis.stop());
  await Promise.all([bridgeReady(n1.url), bridgeReady(n2.url)]);
  const s1 = await readySocket(t, n1.url, { transports: ["websocket"] });
  const s2 = await readySocket(t, n2.url, { transports: ["websocket"] });
  const rec = recorder([s1, s2], ["all", "room", "sid", "marker"]);

  await publish(PYTHON, redis, [
    { op: "enter_room", sid: s1.id, room: "team" },
    { op: "enter_room", sid: s2.id, room: "team" },
    { op: "emit", event: "all", args: ["everyone"] },
    { op: "emit", event: "room", args: ["team"], to: "team", skip_sid: s1.id },
    { op: "emit", event: "sid", args: ["just s1"], to: s1.id },
    { op: "emit", event: "marker", args: [4] },
  ]);
  await rec.untilMarker(4);
  const [r1, r2] = rec.seen;
  assert.deepEqual(r1.all, [["everyone"]]);
  assert.deepEqual(r2.all, [["everyone"]]);
  assert.deepEqual([r1.room, r2.room], [[], [["team"]]]);
  assert.deepEqual([r1.sid, r2.sid], [[["just s1"]], []]);
  assert.deepEqual([r1.marker.length, r2.marker.length], [1, 1]);
});

test("Flask emits of `notification` to user:/topic: rooms go through notification history, once per cluster", async (t) => {
  const redis = await startRedis();
  const args = ["--adapter", "redis", "--redis-url", redis.url, "--flask-queue", redis.url];
  const n1 = await useServer(t, [...args, "--node-id", "n1"]);
  const n2 = await useServer(t, [...args, "--node-id", "n2"]);
  t.after(() => redis.stop());
  await Promise.all([bridgeReady(n1.url), bridgeReady(n2.url)]);
  // caught_up follows the CONNECT at once: listen before connecting.
  const caughtUp = (url, auth) => {
    const socket = io(url + "/notifications", { forceNew: true, reconnection: false, auth });
    t.after(() => socket.close());
    return nextEvent(socket, "caught_up", 10000).then(([reply]) => [socket, reply]);
  };
  const [tab1, caught] = await caughtUp(n1.url, { name: "Ivy", topics: ["orders"] });
  const [tab2] = await caughtUp(n2.url, { name: "Ivy" });
  const seen1 = collect(tab1, "notification");
  const seen2 = collect(tab2, "notification");
  const last = nextEvent(tab2, "notification");
  await publish(PYTHON, redis, [
    { op: "emit", event: "notification", args: [{ title: "shipped", body: "#42", data: { order: 42 } }], to: "user:guest:ivy", namespace: "/notifications" },
    { op: "emit", event: "notification", args: [{ title: "restock" }], to: "topic:orders", namespace: "/notifications" },
    { op: "emit", event: "notification", args: [{ title: "again" }], to: "user:guest:ivy", namespace: "/notifications" },
  ]);
  await last;
  await withTimeout(
    (async () => {
      while (seen1.length < 3 || seen2.length < 2) await new Promise((r) => setTimeout(r, 20));
    })(),
    10000,
    "all notifications",
  );
  assert.deepEqual(seen1.map(([n]) => n.title), ["shipped", "restock", "again"], "tab 1: user and topic, once each");
  assert.deepEqual(seen2.map(([n]) => n.title), ["shipped", "again"], "tab 2: its user's only, once each");
  assert.deepEqual(seen1[0][0].data, { order: 42 });
  // Through history: a reconnect from before them catches all three up.
  const [, again] = await caughtUp(n2.url, { name: "Ivy", topics: ["orders"], since: caught.positions });
  assert.equal(again.recovered, true);
  assert.equal(again.missed, 3, "each appended once, though both nodes read the queue");
});

/** Waits until /readyz says the bridge is not ready; resolves with its cause. */
async function bridgeDown(url, timeoutMs = 10000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const check = (await fetch(`${url}/readyz`).then((r) => r.json())).checks?.flask_bridge;
    if (check && !check.ready) return check.cause;
    if (Date.now() > deadline) throw new Error("bridge still ready");
    await new Promise((r) => setTimeout(r, 50));
  }
}

test("the bridge is not ready while its queue is unreachable, and resubscribes when it is back", async (t) => {
  const redis = await useRedis(t);
  await redis.stop();
  const srv = await useServer(t, ["--client-relay", "--flask-queue", redis.url]);
  assert.match(await bridgeDown(srv.url), /not yet subscribed|cannot subscribe/);
  await redis.restart();
  await bridgeReady(srv.url, 15000);
  const a = await readySocket(t, srv.url);

  await redis.stop();
  assert.match(await bridgeDown(srv.url), /unreachable|did not answer/);
  await redis.restart();
  await bridgeReady(srv.url, 15000);
  const marker = nextEvent(a, "marker");
  await publish(PYTHON, redis, [{ op: "emit", event: "marker", args: [5] }]);
  assert.deepEqual(await marker, [5], "applied after the resubscription");
});

test("a real python-socketio client chats on /chat", async (t) => {
  const srv = await useServer(t);
  const js = await useSocket(t, `${srv.url}/chat`, { auth: { name: "Js" } });
  const [joined] = await ackOnceReady(js, "join", [{ room: "pyroom" }]);
  assert.equal(joined.ok, true);
  const fromPython = nextEvent(js, "message", 20000);

  const out = await runPython(PYTHON, "chat_client.py", [srv.url, "Py", "pyroom", "hello from python"]);
  const result = JSON.parse(out);
  assert.equal(result.join.ok, true);
  assert.equal(result.join.room, "pyroom");
  assert.ok(result.join.members.some((m) => m.name === "Js"));
  assert.equal(result.message.ok, true);
  assert.equal(typeof result.message.id, "number");
  assert.equal(result.received.text, "hello from python");
  assert.deepEqual(result.received.from, { id: "guest:py", name: "Py" });
  const [message] = await fromPython;
  assert.equal(message.text, "hello from python");
  assert.equal(message.id, result.message.id);
});

test("event forwarding: a Flask backend's answers come back as acks, emits and rooms; its connect hook refuses", async (t) => {
  const port = await freePort();
  const backend = spawn(PYTHON, [script("backend.py"), String(port)], { stdio: ["ignore", "pipe", "pipe"] });
  t.after(() => backend.kill("SIGKILL"));
  let backendOut = "";
  backend.stderr.on("data", (c) => (backendOut += c));
  await withTimeout(
    new Promise((resolve) => backend.stdout.on("data", (c) => String(c).includes("listening") && resolve())),
    15000,
    `backend start ${backendOut}`,
  );
  const closed = await freePort();
  const base = `http://127.0.0.1:${port}/socketio`;
  const srv = await useServer(t, [
    "--namespaces",
    "/down",
    "--forward-url",
    `/=${base}/event,/down=http://127.0.0.1:${closed}/event`,
    "--connect-url",
    `/=${base}/connect`,
    "--forward-timeout-ms",
    "1000",
  ]);

  const refused = await connectError(srv.url, { auth: { token: "bad" } });
  assert.equal(refused.message, 'connection_refused: unauthorized! data={"reason":"bad token"}');
  assert.equal((await connectError(srv.url)).message.split(":")[0], "connection_refused");

  const a = await useSocket(t, srv.url, { auth: { token: "good" } });
  const b = await useSocket(t, srv.url, { auth: { token: "good" } });
  assert.deepEqual(await ackOnceReady(a, "echo", ["hi", 2, { x: [true, null] }]), ["hi", 2, { x: [true, null] }]);
  await ackOnceReady(b, "echo", []);
  const [binAck] = await ackArgs(a, "echo", [Buffer.from([1, 2, 3])]);
  assert.ok(Buffer.isBuffer(binAck), "binary survives the round trip");
  assert.deepEqual([...binAck], [1, 2, 3]);

  assert.deepEqual(await ackArgs(a, "enter", ["lobby"]), [{ ok: true, room: "lobby" }]);
  assert.deepEqual(await ackArgs(b, "enter", ["lobby"]), [{ ok: true, room: "lobby" }]);
  const seenByA = collect(a, "shouted");
  const shouted = nextEvent(b, "shouted");
  assert.deepEqual(await ackArgs(a, "shout", ["hello", "lobby"]), ["sent"]);
  assert.deepEqual(await shouted, ["hello", { id: "u1", sid: a.id }], "the connect hook's user is forwarded");
  assert.deepEqual(seenByA, [], "include_self: false leaves the sender out (its ack came after)");

  const you = nextEvent(a, "you");
  assert.deepEqual(await ackArgs(a, "whoami"), [], "no ack in the answer = an empty ack");
  assert.deepEqual(await you, [a.id, "/"], "an emit without rooms goes to the sender");

  const toVips = nextEvent(a, "shouted");
  assert.deepEqual(await ackArgs(b, "shout", ["to vips", "vip"]), ["sent"]);
  assert.deepEqual(await toVips, ["to vips", { id: "u1", sid: b.id }], "the connect hook's join put a in vip");

  assert.deepEqual(await ackArgs(b, "exit", ["lobby"]), [{ ok: true }]);
  const seenByB = collect(b, "shouted");
  assert.deepEqual(await ackArgs(a, "shout", ["again", "lobby"]), ["sent"]);
  await ackArgs(b, "echo", []);
  assert.deepEqual(seenByB, [], "b left the room");

  const left = nextEvent(a, "left");
  const bId = b.id;
  b.disconnect();
  assert.deepEqual(await left, [bId, "client disconnect"], "disconnect is forwarded with python-socketio's reason");

  const [boom] = await ackArgs(a, "boom");
  assert.equal(boom.ok, false);
  assert.equal(boom.error.code, "backend_error");
  const started = Date.now();
  const [slow] = await ackArgs(a, "slow", [], 5000);
  assert.equal(slow.error.code, "backend_unavailable");
  assert.ok(Date.now() - started < 2500, "answered at the forward timeout, not the backend's pace");

  const down = await useSocket(t, `${srv.url}/down`);
  const [unavailable] = await ackOnceReady(down, "anything");
  assert.deepEqual(Object.keys(unavailable).sort(), ["error", "ok"]);
  assert.equal(unavailable.error.code, "backend_unavailable");
  assert.match(unavailable.error.message, /connect/);
});
