// The Socket.IO Admin UI protocol (@socket.io/admin-ui 0.5) spoken by a real
// socket.io-client, the way the UI speaks it, against a two-node iorelay
// cluster on a real redis-server: login, server_stats from both nodes, the
// development-mode socket list and live records, and the commands, each seen
// by a real client on the other node.

import { test } from "node:test";
import assert from "node:assert/strict";
import bcrypt from "bcryptjs";
import { io } from "socket.io-client";
import { useServer, connect, connectError, nextEvent, withTimeout } from "./harness.mjs";
import { startRedis } from "./services.mjs";

const PASSWORD = "correct horse battery staple";
// Cost 4 keeps the test quick; production hashes use 10 or more.
const HASH = bcrypt.hashSync(PASSWORD, 4);
const LOGIN = { username: "admin", password: PASSWORD };
const ALL_FEATURES = ["EMIT", "JOIN", "LEAVE", "DISCONNECT", "MJOIN", "MLEAVE", "MDISCONNECT", "AGGREGATED_EVENTS", "ALL_EVENTS"];
const AGGREGATED_TYPES = new Set(["rawConnection", "rawDisconnection", "packetsIn", "packetsOut", "bytesIn", "bytesOut"]);

/** An admin client as the UI makes it: listeners first, then connect. */
function adminClient(url, auth, { namespace = "/admin" } = {}) {
  const socket = io(url + namespace, { forceNew: true, reconnection: false, transports: ["websocket"], auth, autoConnect: false });
  const seen = { session: [], config: [], server_stats: [], all_sockets: [], socket_connected: [], room_joined: [], room_left: [], socket_disconnected: [], event_received: [], event_sent: [] };
  const waiters = [];
  for (const event of Object.keys(seen)) {
    socket.on(event, (...args) => {
      seen[event].push(args);
      for (const w of [...waiters]) {
        if (w.event === event && w.match(...args)) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve(args);
        }
      }
    });
  }
  /** Resolves with the arguments of the first `event` (past or future) that `match` accepts. */
  const until = (event, match = () => true, timeoutMs = 10000) => {
    const past = seen[event].find((args) => match(...args));
    if (past) return Promise.resolve(past);
    return withTimeout(new Promise((resolve) => waiters.push({ event, match, resolve })), timeoutMs, `admin "${event}"`);
  };
  return { socket, seen, until };
}

async function connectAdmin(t, url, auth, opts) {
  const admin = adminClient(url, auth, opts);
  t.after(() => admin.socket.close());
  const connected = new Promise((resolve, reject) => {
    admin.socket.once("connect", resolve);
    admin.socket.once("connect_error", reject);
  });
  admin.socket.connect();
  await withTimeout(connected, 10000, "admin connect");
  return admin;
}

function assertServerStats(stats) {
  assert.deepEqual(
    Object.keys(stats).sort(),
    ["aggregatedEvents", "clientsCount", "hostname", "namespaces", "pid", "pollingClientsCount", "serverId", "uptime"],
  );
  assert.equal(typeof stats.hostname, "string");
  assert.ok(Number.isInteger(stats.pid) && stats.pid > 0);
  assert.equal(typeof stats.uptime, "number");
  assert.ok(Number.isInteger(stats.clientsCount));
  assert.ok(Number.isInteger(stats.pollingClientsCount));
  for (const ns of stats.namespaces) {
    assert.deepEqual(Object.keys(ns).sort(), ["name", "socketsCount"]);
  }
  for (const e of stats.aggregatedEvents) {
    assert.ok(AGGREGATED_TYPES.has(e.type), e.type);
    assert.equal(e.timestamp % 1000, 0);
    assert.ok(Number.isInteger(e.count) && e.count > 0);
    if (e.type === "rawDisconnection") assert.equal(typeof e.subType, "string");
  }
}

function assertAdminSocket(s, { id, nsp }) {
  assert.deepEqual(Object.keys(s).sort(), ["clientId", "data", "handshake", "id", "nsp", "rooms", "transport"]);
  assert.equal(s.id, id);
  assert.equal(s.nsp, nsp);
  assert.equal(s.clientId, id.slice(0, 12));
  assert.ok(["polling", "websocket"].includes(s.transport));
  assert.deepEqual(Object.keys(s.handshake).sort(), ["address", "headers", "issued", "query", "secure", "time", "url", "xdomain"]);
  assert.equal(new Date(s.handshake.time).getTime(), s.handshake.issued);
  assert.ok(s.rooms.includes(id), "every socket is in its id room");
}

test("admin namespace is off unless configured", async (t) => {
  const server = await useServer(t);
  const err = await connectError(`${server.url}/admin`, { auth: LOGIN });
  assert.equal(err.message, "Invalid namespace");
});

test("a wrong password, user or session is refused with exactly 'invalid credentials'", async (t) => {
  const server = await useServer(t, ["--admin-password-hash", HASH, "--cors-origins", "https://admin.socket.io"]);
  // The hosted UI (withCredentials: true) is let in from its origin.
  const handshake = await fetch(`${server.url}/socket.io/?EIO=4&transport=polling`, {
    headers: { origin: "https://admin.socket.io" },
  });
  assert.equal(handshake.status, 200);
  assert.equal(handshake.headers.get("access-control-allow-origin"), "https://admin.socket.io");
  assert.equal(handshake.headers.get("access-control-allow-credentials"), "true");
  for (const auth of [{ username: "admin", password: "wrong" }, { username: "root", password: PASSWORD }, { sessionId: "0123456789abcdef" }, {}]) {
    const err = await connectError(`${server.url}/admin`, { auth });
    assert.equal(err.message, "invalid credentials", JSON.stringify(auth));
  }
  const admin = await connectAdmin(t, server.url, LOGIN);
  const [session] = await admin.until("session");
  assert.match(session, /^[0-9a-f]{16}$/);
  const [config] = await admin.until("config");
  // Production mode (the default): commands and charts, no live socket view.
  assert.deepEqual(config.supportedFeatures, ALL_FEATURES.slice(0, 8));
  const [stats] = await admin.until("server_stats");
  assertServerStats(stats);
  assert.ok(stats.namespaces.some((ns) => ns.name === "/admin" && ns.socketsCount === 1));
});

test("read-only and no-login modes are what they say", async (t) => {
  const server = await useServer(t, ["--admin-no-auth", "--admin-read-only", "--admin-namespace", "/ops"]);
  const admin = await connectAdmin(t, server.url, {}, { namespace: "/ops" });
  const [config] = await admin.until("config");
  assert.deepEqual(config.supportedFeatures, ["AGGREGATED_EVENTS"]);
  assert.equal(admin.seen.session.length, 0);
});

test("malformed commands are ignored and the node keeps serving", async (t) => {
  // Every refusal logged, not once per interval, so they can be counted.
  const server = await useServer(t, ["--admin-no-auth", "--admin-mode", "development", "--log-repeat-interval-ms", "0"]);
  const user = await connect(server.url, { transports: ["websocket"], extraHeaders: { cookie: "session=s3cret", "x-team": "blue" }, query: { room: "lobby" } });
  t.after(() => user.close());
  const seen = [];
  user.onAny((event) => seen.push(event));
  const admin = await connectAdmin(t, server.url, {});
  const [all] = await admin.until("all_sockets");
  const listed = all.find((s) => s.id === user.id);
  assertAdminSocket(listed, { id: user.id, nsp: "/" });
  // Credentials are masked; the rest of the handshake is shown.
  assert.equal(listed.handshake.headers.cookie, "<redacted>");
  assert.equal(listed.handshake.headers["x-team"], "blue");
  assert.equal(listed.handshake.query.room, "lobby");

  admin.socket.emit("join");
  admin.socket.emit("join", 42, "room");
  admin.socket.emit("join", "/", "not a room!", user.id);
  admin.socket.emit("emit", "/nowhere", null, "x");
  admin.socket.emit("emit", "/", null, "connect");
  admin.socket.emit("emit", "/", user.id, "bad", { _placeholder: true, num: 0 });
  admin.socket.emit("_disconnect", "/", "yes", user.id);
  admin.socket.emit("leave", "/", ["r"], user.id);
  // Commands run in order: once this one arrives, the others were ignored.
  const ok = nextEvent(user, "still-here");
  admin.socket.emit("emit", "/", user.id, "still-here", "yes");
  assert.deepEqual(await ok, ["yes"]);
  assert.deepEqual(seen, ["still-here"]);
  assert.ok(user.connected);
  assert.equal((server.logs().match(/admin UI command ignored/g) ?? []).length, 8);
});

test("a bad hash or a taken namespace stops the node with one line", async (t) => {
  const { spawnSync } = await import("node:child_process");
  const { BIN } = await import("./harness.mjs");
  const bad = spawnSync(BIN, ["check-config", "--admin-password-hash", "plaintext"], { encoding: "utf8" });
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /admin_ui\.admin_password_hash/);
  const taken = spawnSync(BIN, ["check-config", "--admin-no-auth", "--admin-namespace", "/chat"], { encoding: "utf8" });
  assert.equal(taken.status, 2);
  assert.match(taken.stderr, /admin_ui\.admin_namespace/);
});

test("two nodes: stats of both, every socket, and commands reach a client on the other node", async (t) => {
  const redis = await startRedis();
  const cluster = ["--adapter", "redis", "--redis-url", redis.url, "--admin-password-hash", HASH, "--admin-mode", "development", "--client-relay"];
  const A = await useServer(t, [...cluster, "--node-id", "node-a"]);
  const B = await useServer(t, [...cluster, "--node-id", "node-b"]);
  // After the nodes' own after hooks: they drain with Redis still there.
  t.after(() => redis.stop());

  // A real client on node B, the admin UI on node A.
  const client = await connect(B.url, { transports: ["websocket"] });
  t.after(() => client.close());
  // socket.io-client forgets its id once disconnected.
  const clientId = client.id;
  const admin = await connectAdmin(t, A.url, LOGIN);

  const [config] = await admin.until("config");
  assert.deepEqual(config.supportedFeatures, ALL_FEATURES);
  const [session] = await admin.until("session");

  // Both nodes report, each under its own serverId, and B counts the client.
  const [statsA] = await admin.until("server_stats", (s) => s.serverId === "node-a");
  const [statsB] = await admin.until("server_stats", (s) => s.serverId === "node-b" && s.namespaces.some((ns) => ns.name === "/" && ns.socketsCount === 1));
  assertServerStats(statsA);
  assertServerStats(statsB);
  assert.ok(statsB.clientsCount >= 1);
  assert.notEqual(statsA.pid, statsB.pid);

  // all_sockets lists the whole cluster: the admin itself on node A, the client on node B.
  const [all] = await admin.until("all_sockets");
  const me = all.find((s) => s.id === admin.socket.id);
  assertAdminSocket(me, { id: admin.socket.id, nsp: "/admin" });
  assert.equal(me.handshake.headers.authorization, undefined);
  const listed = all.find((s) => s.id === clientId);
  assertAdminSocket(listed, { id: clientId, nsp: "/" });
  assert.equal(listed.transport, "websocket");
  assert.equal(all.filter((s) => s.id === clientId).length, 1, "listed once");

  // join: the client's room, seen by the admin UI and proven by an emit to that room.
  admin.socket.emit("join", "/", "ops-room", clientId);
  const [nsp, room, joinedId, joinedAt] = await admin.until("room_joined", (_n, r, id) => r === "ops-room" && id === clientId);
  assert.deepEqual([nsp, room, joinedId], ["/", "ops-room", clientId]);
  assert.ok(!Number.isNaN(new Date(joinedAt).getTime()));
  const hello = nextEvent(client, "hello");
  admin.socket.emit("emit", "/", "ops-room", "hello", 1, { two: 2 });
  assert.deepEqual(await hello, [1, { two: 2 }]);
  const [, sentTo, sentArgs] = await admin.until("event_sent", (_n, id) => id === clientId);
  assert.equal(sentTo, clientId);
  assert.deepEqual(sentArgs, ["hello", 1, { two: 2 }]);

  // What the client sends shows up as event_received.
  client.emit("status", { cpu: 3 });
  const [, fromId, received] = await admin.until("event_received", (_n, id) => id === clientId);
  assert.equal(fromId, clientId);
  assert.deepEqual(received, ["status", { cpu: 3 }]);

  // A room the client joins by itself (client relay) shows up too.
  const joinAck = await client.emitWithAck("rooms:join", { room: "team" });
  assert.equal(joinAck.ok, true);
  await admin.until("room_joined", (n, r, id) => n === "/" && r === "team" && id === clientId);

  // leave: an emit to the room no longer reaches the client, one to its id does, in that order.
  admin.socket.emit("leave", "/", "ops-room", clientId);
  await admin.until("room_left", (_n, r, id) => r === "ops-room" && id === clientId);
  const afterLeave = [];
  client.on("to-room", () => afterLeave.push("to-room"));
  const direct = nextEvent(client, "to-id");
  admin.socket.emit("emit", "/", "ops-room", "to-room");
  admin.socket.emit("emit", "/", clientId, "to-id");
  await direct;
  assert.deepEqual(afterLeave, []);

  // Node B's packets are in its aggregated events.
  const [counted] = await admin.until("server_stats", (s) => s.serverId === "node-b" && s.aggregatedEvents.some((e) => e.type === "packetsIn"));
  assertServerStats(counted);

  // _disconnect: the client is put out, and the admin UI is told.
  const gone = nextEvent(client, "disconnect");
  admin.socket.emit("_disconnect", "/", false, clientId);
  assert.equal((await gone)[0], "io server disconnect");
  const [, goneId, reason] = await admin.until("socket_disconnected", (n, id) => n === "/" && id === clientId);
  assert.equal(goneId, clientId);
  assert.equal(reason, "server namespace disconnect");

  // The session id logs in again, on the other node (sessions live in Redis).
  const again = await connectAdmin(t, B.url, { sessionId: session });
  await again.until("config");
  assert.equal(again.seen.session.length, 0);
});
