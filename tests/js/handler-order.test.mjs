// Issue #14: what a Flask handler issues arrives in the order it issued it.
// A real Flask app (tests/python/handler_order.py) answers iorelay's forwarded
// events and connect hook and, during the request, calls close_room /
// disconnect / emit through a real Flask-SocketIO message queue on a real
// redis-server; real socket.io-client sockets observe the order.
// - the connect hook's answer emits to the new socket right after CONNECT,
//   before the queue emit sent from inside the hook and before room traffic
//   (20 of 20, polling and WebSocket);
// - an answer's emits reach the room / the socket before a close_room /
//   disconnect the handler sent through the queue during the request (10 of 10);
// - `ops` in the answer, in order; ops on other sockets; the disconnect answer;
//   a malformed answer applies nothing;
// - the same across two nodes on the Redis adapter;
// - GET /api/v1/namespaces/{ns}/sockets/{sid}/rooms;
// - POST /api/v1/emit acks per client: cb(), cb(args), no answer;
// - --forward-secret travels as X-Iorelay-Secret.

import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { io } from "socket.io-client";
import { useServer, useSocket, nextEvent, collect, ackArgs, ackOnceReady, connectError, withTimeout, bridgeReady } from "./harness.mjs";
import { startRedis, freePort, usePython } from "./services.mjs";

const testsDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const PYTHON = path.join(testsDir, ".venv/bin/python");
const KEY = "handler-order-key-0123456789";
const SECRET = "shared-with-flask-4f1c9e";

/** Starts tests/python/handler_order.py; resolves with its base URL. */
async function useBackend(t, redis) {
  const port = await freePort();
  await usePython(t, PYTHON, [path.join(testsDir, "python/handler_order.py"), String(port), `${redis.url}/0`, SECRET], {
    ready: /listening/,
  });
  return `http://127.0.0.1:${port}/socketio`;
}

/** redis-server, the Flask app and `nodes` iorelay nodes wired to both (the Redis adapter when several). */
async function setUp(t, nodes = 1) {
  const redis = await startRedis();
  t.after(() => redis.stop());
  const backend = await useBackend(t, redis);
  const args = [
    "--flask-queue", `${redis.url}/0`,
    "--forward-url", `/=${backend}/event`,
    "--connect-url", `/=${backend}/connect`,
    "--forward-secret", SECRET,
    "--api-keys", KEY,
  ];
  const servers = [];
  for (let i = 0; i < nodes; i++) {
    const cluster = nodes > 1 ? ["--adapter", "redis", "--redis-url", redis.url, "--node-id", `n${i + 1}`] : [];
    servers.push(await useServer(t, [...args, ...cluster]));
  }
  for (const server of servers) await bridgeReady(server.url);
  return { redis, backend, srv: servers[0], servers };
}

async function api(srv, method, pathname, body) {
  const res = await fetch(`${srv.url}${pathname}`, {
    method,
    headers: { "X-API-Key": KEY, "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, body: await res.json() };
}

const roomsOf = async (srv, sid) => (await api(srv, "GET", `/api/v1/namespaces/%2F/sockets/${sid}/rooms`)).body;

/** Connects and resolves with the socket and every event it got, in order, from the first on. */
async function connectRecording(t, url, transports) {
  const socket = io(url, { forceNew: true, reconnection: false, transports, auth: { name: "ada" } });
  t.after(() => socket.close());
  const events = [];
  socket.onAny((event, ...args) => events.push([event, ...args]));
  await withTimeout(
    new Promise((resolve, reject) => {
      socket.once("connect", resolve);
      socket.once("connect_error", reject);
    }),
    5000,
    "connect",
  );
  return { socket, events };
}

for (const transports of [["polling"], ["websocket"]]) {
  test(`connect hook (${transports[0]}): its emits come right after CONNECT, before queue and room traffic, 20 of 20`, async (t) => {
    const { srv } = await setUp(t);
    // Room traffic all along: a socket that just joined "lobby" could get it first.
    let spamming = true;
    const spam = (async () => {
      let n = 0;
      while (spamming) await api(srv, "POST", "/api/v1/emit", { event: "spam", args: [n++], rooms: "lobby" });
    })();
    let inOrder = 0;
    for (let i = 0; i < 20; i++) {
      const { socket, events } = await connectRecording(t, srv.url, transports);
      while (!events.some(([e]) => e === "queued-hello")) await nextEvent(socket, "queued-hello");
      const names = events.map(([e]) => e).filter((e) => e !== "spam");
      assert.deepEqual(names.slice(0, 3), ["welcome", "welcome-room", "queued-hello"], `run ${i}`);
      assert.deepEqual(events[0], ["welcome", socket.id], `run ${i}: the very first event`);
      assert.deepEqual(events[1], ["welcome-room", socket.id], `run ${i}: no room traffic before the hook's emits`);
      inOrder += 1;
      socket.close();
    }
    spamming = false;
    await spam;
    assert.equal(inOrder, 20);
  });
}

test("connect hook: join then ops; the others in the room get its emit; rooms API", async (t) => {
  const { srv } = await setUp(t);
  const a = await useSocket(t, srv.url, { auth: { name: "a" } });
  await ackOnceReady(a, "enter", ["warm"]);
  const welcomed = nextEvent(a, "welcome-room");
  const b = await useSocket(t, srv.url, { auth: { name: "b" } });
  assert.deepEqual(await welcomed, [b.id], "a, in lobby, gets the hook's emit to lobby");
  await ackOnceReady(b, "enter", ["warm"]);
  assert.deepEqual(await roomsOf(srv, b.id), { rooms: [b.id, "greeted", "lobby", "warm"].sort() });

  const unknown = await api(srv, "GET", "/api/v1/namespaces/%2F/sockets/AAAAAAAAAAAAAAAA/rooms");
  assert.equal(unknown.status, 404);
  assert.equal(unknown.body.error.code, "unknown_socket");
  const roomName = await api(srv, "GET", "/api/v1/namespaces/%2F/sockets/lobby/rooms");
  assert.equal(roomName.status, 404, "a room is not a socket");
  assert.equal(roomName.body.error.code, "unknown_socket");
  const badNs = await api(srv, "GET", `/api/v1/namespaces/nope/sockets/${b.id}/rooms`);
  assert.equal(badNs.status, 404);
  assert.equal(badNs.body.error.code, "unknown_namespace");
  const noKey = await fetch(`${srv.url}/api/v1/namespaces/%2F/sockets/${b.id}/rooms`);
  assert.equal(noKey.status, 401);
});

test("issue #14 (b): the answer's notice reaches the room before the close_room sent through the queue, 10 of 10", async (t) => {
  const { srv } = await setUp(t);
  const a = await useSocket(t, srv.url);
  const b = await useSocket(t, srv.url);
  let seen = 0;
  for (let n = 0; n < 10; n++) {
    const room = `r${n}`;
    await ackOnceReady(a, "enter", [room]);
    await ackOnceReady(b, "enter", [room]);
    const noticeB = nextEvent(b, "notice");
    const noticeA = nextEvent(a, "notice");
    assert.deepEqual(await ackArgs(a, "notice-then-close", [room, n]), ["closing"]);
    assert.deepEqual(await noticeB, [n], `run ${n}: b got the notice`);
    assert.deepEqual(await noticeA, [n], `run ${n}: a got the notice`);
    // The close was applied too (after the answer, not instead of it).
    for (const s of [a, b]) {
      const deadline = Date.now() + 3000;
      while ((await roomsOf(srv, s.id)).rooms.includes(room)) {
        assert.ok(Date.now() < deadline, `run ${n}: ${room} was not closed`);
        await new Promise((r) => setTimeout(r, 20));
      }
    }
    seen += 1;
  }
  assert.equal(seen, 10);
});

test("issue #14 (b): the answer's notice arrives before the disconnect sent through the queue, 10 of 10", async (t) => {
  const { srv } = await setUp(t);
  let inOrder = 0;
  for (let n = 0; n < 10; n++) {
    const s = await useSocket(t, srv.url);
    await ackOnceReady(s, "enter", ["warm"]);
    const order = [];
    s.on("notice", (x) => order.push(`notice ${x}`));
    const gone = nextEvent(s, "disconnect");
    s.emit("notice-then-disconnect", n);
    const [reason] = await gone;
    order.push(reason);
    assert.deepEqual(order, [`notice ${n}`, "io server disconnect"], `run ${n}`);
    inOrder += 1;
  }
  assert.equal(inOrder, 10);
});

test("ops in the answer: emit then close_room, emit then disconnect, ops on another socket, the disconnect answer", async (t) => {
  const { srv } = await setUp(t);
  const a = await useSocket(t, srv.url);
  const b = await useSocket(t, srv.url);
  await ackOnceReady(a, "enter", ["team"]);
  await ackOnceReady(b, "enter", ["team"]);

  const afterClose = collect(b, "after-close");
  const notice = nextEvent(b, "notice");
  assert.deepEqual(await ackArgs(a, "ops-close", ["team", 1]), ["closed"], "the ack comes after every op");
  assert.deepEqual(await notice, [1]);
  assert.ok(!(await roomsOf(srv, b.id)).rooms.includes("team"), "close_room applied before the ack");
  const marker = nextEvent(b, "marker");
  await api(srv, "POST", "/api/v1/emit", { event: "marker", rooms: b.id });
  await marker;
  assert.deepEqual(afterClose, [], "the emit listed after close_room reached nobody");

  const paired = nextEvent(b, "paired");
  assert.deepEqual(await ackArgs(a, "ops-mixed", [b.id]), ["ok"]);
  assert.deepEqual(await paired, [a.id], "to_sid addresses another socket");
  assert.ok((await roomsOf(srv, b.id)).rooms.includes("pair"), "join by sid moves another socket");
  assert.ok(!(await roomsOf(srv, a.id)).rooms.includes("greeted"), "leave without sid moves the sender");

  // The disconnect answer: its emit to the watchers is applied, its join of the gone socket is not.
  await ackOnceReady(b, "enter", ["watchers"]);
  const gone = nextEvent(b, "gone");
  const order = [];
  a.on("notice", (x) => order.push(`notice ${x}`));
  const disconnected = nextEvent(a, "disconnect");
  const aId = a.id;
  a.emit("ops-disconnect", 2);
  order.push((await disconnected)[0]);
  assert.deepEqual(order, ["notice 2", "io server disconnect"], "emit then disconnect, in that order");
  assert.deepEqual(await gone, [aId]);
  const after = await api(srv, "GET", `/api/v1/namespaces/%2F/sockets/${aId}/rooms`);
  assert.equal(after.status, 404, "the gone socket joined nothing");
});

test("two nodes on the Redis adapter: an answer's ops reach a room member on the other node, in order", async (t) => {
  const { servers } = await setUp(t, 2);
  const [n1, n2] = servers;
  const a = await useSocket(t, n1.url);
  const b = await useSocket(t, n2.url);
  await ackOnceReady(a, "enter", ["team"]);
  await ackOnceReady(b, "enter", ["team"]);
  const afterClose = collect(b, "after-close");
  const notice = nextEvent(b, "notice");
  assert.deepEqual(await ackArgs(a, "ops-close", ["team", 7]), ["closed"]);
  assert.deepEqual(await notice, [7], "the emit reached b on the other node before the close");
  const rooms = await roomsOf(n1, b.id);
  assert.ok(rooms.rooms.includes(b.id), "asked on n1 about a socket on n2");
  assert.ok(!rooms.rooms.includes("team"), "close_room applied on the other node too");
  const marker = nextEvent(b, "marker");
  await api(n1, "POST", "/api/v1/emit", { event: "marker", rooms: b.id });
  await marker;
  assert.deepEqual(afterClose, [], "the emit listed after close_room reached nobody on n2");

  const paired = nextEvent(a, "paired");
  assert.deepEqual(await ackArgs(b, "ops-mixed", [a.id]), ["ok"]);
  assert.deepEqual(await paired, [b.id], "to_sid reaches a socket on the other node");
  assert.ok((await roomsOf(n2, a.id)).rooms.includes("pair"), "join by sid across nodes");
});

test("a malformed answer applies nothing: backend_error for the event, connect_error for the hook", async (t) => {
  const { srv } = await setUp(t);
  const a = await useSocket(t, srv.url);
  await ackOnceReady(a, "enter", ["warm"]);
  const notices = collect(a, "notice");
  const [answer] = await ackArgs(a, "bad-ops");
  assert.equal(answer.ok, false);
  assert.equal(answer.error.code, "backend_error");
  assert.match(answer.error.message, /invalid event name "connect"/);
  const marker = nextEvent(a, "marker");
  await api(srv, "POST", "/api/v1/emit", { event: "marker", rooms: a.id });
  await marker;
  assert.deepEqual(notices, [], "the good emit before the bad one was not applied either");
  const refused = await connectError(srv.url, { auth: { bad: true } });
  assert.match(refused.message, /^backend_error: /);
});

test("POST /api/v1/emit acks: one entry per client that answered, cb() included; timeouts apart", async (t) => {
  const { srv } = await setUp(t);
  const empty = await useSocket(t, srv.url);
  const withArgs = await useSocket(t, srv.url);
  const silent = await useSocket(t, srv.url);
  empty.on("ask", (cb) => cb());
  withArgs.on("ask", (cb) => cb("yes", 2, { k: [true] }));
  const asked = silent.id;
  silent.on("ask", () => {});
  for (const s of [empty, withArgs, silent]) await ackOnceReady(s, "enter", ["askers"]);
  const res = await api(srv, "POST", "/api/v1/emit", { event: "ask", rooms: "askers", ack_timeout_ms: 1000 });
  assert.equal(res.status, 200);
  assert.equal(res.body.ok, true);
  const acks = [...res.body.acks].sort((x, y) => x.args.length - y.args.length);
  assert.deepEqual(acks, [
    { sid: empty.id, args: [] },
    { sid: withArgs.id, args: ["yes", 2, { k: [true] }] },
  ]);
  assert.equal(res.body.timeouts, 1);
  assert.deepEqual(res.body.timed_out, [asked]);

  const nobody = await api(srv, "POST", "/api/v1/emit", { event: "ask", rooms: [], ack_timeout_ms: 100 });
  assert.deepEqual(nobody.body, { ok: true, acks: [], timeouts: 0, timed_out: [] });
  const plain = await api(srv, "POST", "/api/v1/emit", { event: "ask", rooms: "nobody-here" });
  assert.deepEqual(plain.body, { ok: true }, "without ack_timeout_ms: no ack fields");
});

test("--forward-secret: requests carry X-Iorelay-Secret; a backend that checks it refuses iorelay without it", async (t) => {
  const { redis, backend, srv } = await setUp(t);
  // setUp's server sends the secret: the backend, which requires it, accepts.
  const ok = await useSocket(t, srv.url);
  assert.deepEqual(await ackOnceReady(ok, "enter", ["x"]), ["x"]);
  const without = await useServer(t, ["--flask-queue", `${redis.url}/0`, "--connect-url", `/=${backend}/connect`]);
  const refused = await connectError(without.url);
  assert.match(refused.message, /^backend_error: /, "403 from the backend");
  const shown = await new Promise((resolve, reject) => {
    const proc = spawn(process.env.IORELAY_BIN ?? path.join(testsDir, "../target/debug/iorelay"), [
      "check-config", "--forward-secret", SECRET,
    ]);
    let out = "";
    proc.stdout.on("data", (c) => (out += c));
    proc.on("exit", (code) => (code === 0 ? resolve(out) : reject(new Error(`check-config exited ${code}`))));
  });
  assert.ok(!shown.includes(SECRET), "check-config masks the secret");
  assert.match(shown, /forward_secret = "<redacted>"/);
});
