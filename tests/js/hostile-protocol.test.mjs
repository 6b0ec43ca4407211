// Hostile protocol packets against one running iorelay ("nobody in where they
// don't belong", issue #17): forged binary placeholders, reserved event
// names, empty recipient lists, Engine.IO v3 gate bypasses, half-sent binary
// packets, expiring tokens and log floods. Each attack gets its exact
// documented answer, and the bystanders (real socket.io-client sockets on
// /feed, in a relay room and namespace-wide, one over polling) are never
// disconnected and receive every legitimate event exactly once, in order,
// and nothing else.
//
// Absence is asserted after a later marker arrived on the same socket: a
// socket's packets are delivered in order, so anything sent to it before the
// marker would have come first.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import { once } from "node:events";
import WebSocket from "ws";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import { startServer, useServer, connect, nextEvent, withTimeout, ackOnceReady } from "./harness.mjs";
import { startRedis } from "./services.mjs";
import * as raw from "./raw.mjs";
import { nowSecs } from "./raw.mjs";

const SECRET = "hostile-protocol-secret-0123456789abcdef";
const API_KEY = "hostile-protocol-api-key-0123456789";

let server;
let backend;
let redis;
/** A /fwd client whose events go to `backend`, and a /fwd bystander beside it. */
let fwdClient;
let fwdBystander;
const fwdGot = [];
/** The /feed bystanders: `inRoom` (WebSocket, in room "r") and `everywhere` (polling, in no room). */
let inRoom;
let everywhere;
/** A well-behaved relaying client on /feed, in room "r". */
let relayer;
/** Every event each bystander received, in order, as [event, ...args]. */
const got = { inRoom: [], everywhere: [] };
/** What each bystander should have received so far. */
const expected = { inRoom: [], everywhere: [] };
let markers = 0;

const request = (method, path, opts) => raw.request(server.port, method, path, opts);
const rawSocketIo = (opts) => raw.rawSocketIo(server.port, opts);
const signToken = (claims, secret = SECRET) => raw.signToken(claims, secret);

/** POST /api/v1/<route> with the API key; resolves { status, body }. */
async function api(route, body) {
  const res = await request("POST", `/api/v1/${route}`, {
    headers: { "content-type": "application/json", "x-api-key": API_KEY },
    body: JSON.stringify(body),
  });
  let parsed = null;
  try {
    parsed = JSON.parse(res.text);
  } catch {
    // not JSON: left null
  }
  return { status: res.status, body: parsed, text: res.text };
}

/** Records every event of `socket` into `log`. */
function record(socket, log) {
  socket.onAny((event, ...args) => log.push([event, ...args]));
}

/**
 * The bystanders still work and have received exactly what they should: a
 * backend push to all of /feed and a relay to room "r" both arrive (the
 * marker), and nothing arrived before it that was not expected.
 */
async function bystandersIntact(label) {
  const seq = ++markers;
  const pushed = [nextEvent(inRoom, "marker"), nextEvent(everywhere, "marker")];
  const sent = await api("emit", { namespace: "/feed", event: "marker", args: [{ seq, label }] });
  assert.equal(sent.status, 200, sent.text);
  await withTimeout(Promise.all(pushed), 5000, `${label}: marker`);
  expected.inRoom.push(["marker", { seq, label }]);
  expected.everywhere.push(["marker", { seq, label }]);

  const relayed = nextEvent(inRoom, "relayed");
  const ack = await relayer.timeout(5000).emitWithAck("relay", { to: "r", event: "relayed", args: [seq] });
  assert.deepEqual(ack, { ok: true }, `${label}: a legitimate relay`);
  await withTimeout(relayed, 5000, `${label}: relayed`);
  expected.inRoom.push(["relayed", seq]);

  assert.deepEqual(got.inRoom, expected.inRoom, `${label}: what the bystander in room r received`);
  assert.deepEqual(got.everywhere, expected.everywhere, `${label}: what the namespace-wide bystander received`);
  for (const s of [inRoom, everywhere, relayer]) assert.ok(s.connected, `${label}: a bystander was disconnected`);
  assert.equal(server.proc.exitCode, null, "server process is alive");
}

/** A tiny HTTP backend for event forwarding; `answer(body)` decides each reply. */
async function startBackend() {
  const state = {
    calls: [],
    answer: () => ({}),
  };
  const srv = http.createServer((req, res) => {
    let text = "";
    req.on("data", (c) => (text += c));
    req.on("end", () => {
      const body = JSON.parse(text);
      state.calls.push(body);
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify(state.answer(body)));
    });
  });
  srv.listen(0, "127.0.0.1");
  await once(srv, "listening");
  state.port = srv.address().port;
  state.close = () => new Promise((resolve) => srv.close(resolve));
  return state;
}

/** Publishes a python-socketio JSON queue message on the Flask bridge's channel. */
function queuePublish(message) {
  const out = spawnSync("redis-cli", ["-p", String(redis.port), "PUBLISH", "flask-socketio", JSON.stringify(message)], {
    encoding: "utf8",
  });
  assert.equal(out.status, 0, out.stderr);
}

/** A python-socketio `emit` message for /feed. */
const queueEmit = (event, data, room) => ({
  method: "emit",
  event,
  data,
  namespace: "/feed",
  room,
  skip_sid: null,
  callback: null,
  host_id: "hostile-protocol",
});

before(async () => {
  backend = await startBackend();
  redis = await startRedis();
  server = await startServer([
    "--jwt-secret", SECRET,
    "--private-namespaces", "/notifications",
    "--namespaces", "/feed,/fwd",
    "--client-relay",
    "--forward-url", `/fwd=http://127.0.0.1:${backend.port}/event`,
    "--api-keys", API_KEY,
    "--flask-queue", redis.url,
    "--log-repeat-interval-ms", "2000",
    // The unknown-namespace test overflows one session's packet buffer with answers.
    "--max-buffer-size", "1024",
  ]);
  await withTimeout(
    (async () => {
      for (;;) {
        const ready = JSON.parse((await request("GET", "/readyz")).text);
        if (ready.checks?.flask_bridge?.ready) return;
        await new Promise((r) => setTimeout(r, 50));
      }
    })(),
    10000,
    "Flask bridge subscribed",
  );
  inRoom = await connect(`${server.url}/feed`, { transports: ["websocket"] });
  everywhere = await connect(`${server.url}/feed`, { transports: ["polling"] });
  relayer = await connect(`${server.url}/feed`, { transports: ["websocket"] });
  for (const s of [inRoom, relayer]) {
    const [joined] = await ackOnceReady(s, "rooms:join", [{ room: "r" }]);
    assert.equal(joined.ok, true, JSON.stringify(joined));
  }
  await ackOnceReady(everywhere, "rooms:leave", [{ room: "warm-up" }]);
  record(inRoom, got.inRoom);
  record(everywhere, got.everywhere);
  fwdClient = await connect(`${server.url}/fwd`, { transports: ["websocket"] });
  fwdBystander = await connect(`${server.url}/fwd`, { transports: ["websocket"] });
  record(fwdBystander, fwdGot);
  await bystandersIntact("start");
});

after(async () => {
  for (const s of [inRoom, everywhere, relayer, fwdClient, fwdBystander]) s?.close();
  await server?.stop();
  await backend?.close();
  await redis?.stop();
});

// ---------- 2. forged binary placeholders, reserved names ----------

/** Reads frames of raw socket `c` until the ack `id` of namespace `ns`; resolves its JSON arguments. */
async function rawAck(c, ns, id) {
  const prefix = `43${ns},${id}[`;
  for (;;) {
    const frame = await c.next();
    assert.notEqual(frame, null, `the connection closed before ack ${id}`);
    if (typeof frame === "string" && frame.startsWith(prefix)) return JSON.parse(frame.slice(prefix.length - 1));
  }
}

/** Sends a BINARY_EVENT: its header text, then each attachment as a binary frame. */
function sendBinary(c, header, attachments) {
  c.ws.send(header);
  for (const a of attachments) c.ws.send(a, { binary: true });
}

const placeholder = (num) => ({ _placeholder: true, num });

test("forged binary placeholders are refused with invalid_binary before anyone receives them", async () => {
  const c = await rawSocketIo({ ns: "/feed" });
  c.ws.send('42/feed,1["rooms:join",{"room":"r"}]');
  assert.deepEqual(await rawAck(c, "/feed", 1), [{ ok: true, rooms: ["r"] }]);
  const bin = Buffer.from([1, 2, 3]);
  const refused = (reply) => {
    assert.equal(reply.length, 1);
    assert.equal(reply[0].ok, false, JSON.stringify(reply));
    assert.equal(reply[0].error.code, "invalid_binary", JSON.stringify(reply));
  };
  const attacks = [
    // The packet: a forged placeholder beside one real attachment, to a room and to everyone.
    [1, { to: "r", event: "x", args: [placeholder(0), placeholder(7)] }],
    [1, { event: "x", args: [placeholder(0), placeholder(7)] }],
    [1, { event: "x", args: [placeholder(7), placeholder(0)] }],
    // Numbers beyond the attachments, counts that differ, shapes socketioxide would not fill.
    [1, { to: "r", event: "x", args: [placeholder(7)] }],
    [2, { to: "r", event: "x", args: [placeholder(0)] }],
    [2, { to: "r", event: "x", args: [placeholder(1), placeholder(0)] }],
    [1, { to: "r", event: "x", args: [{ num: 0, _placeholder: true }] }],
    [1, { to: "r", event: "x", args: [{ _placeholder: true, num: 0, extra: 1 }] }],
  ];
  let id = 10;
  for (const [count, relay] of attacks) {
    id++;
    sendBinary(c, `45${count}-/feed,${id}${JSON.stringify(["relay", relay])}`, Array(count).fill(bin));
    refused(await rawAck(c, "/feed", id));
  }
  // Without attachments, an object with a `_placeholder` key is refused too.
  for (const args of [[placeholder(0)], [{ deep: [{ _placeholder: true }] }]]) {
    id++;
    c.ws.send(`42/feed,${id}${JSON.stringify(["relay", { to: "r", event: "x", args }])}`);
    refused(await rawAck(c, "/feed", id));
  }
  // A genuine binary relay passes and arrives as bytes.
  const relayed = nextEvent(inRoom, "bin");
  const ack = await relayer.timeout(5000).emitWithAck("relay", { to: "r", event: "bin", args: [Buffer.from([9, 8]), { n: 1 }] });
  assert.deepEqual(ack, { ok: true });
  const [bytes, extra] = await relayed;
  assert.deepEqual([Buffer.from(bytes), extra], [Buffer.from([9, 8]), { n: 1 }]);
  expected.inRoom.push(["bin", bytes, extra]);
  // And so does the raw client's own well-formed one.
  id++;
  const rawRelayed = nextEvent(inRoom, "raw-bin");
  sendBinary(c, `451-/feed,${id}${JSON.stringify(["relay", { to: "r", event: "raw-bin", args: [placeholder(0)] }])}`, [bin]);
  assert.deepEqual(await rawAck(c, "/feed", id), [{ ok: true }]);
  const [rawBytes] = await rawRelayed;
  assert.deepEqual(Buffer.from(rawBytes), bin);
  expected.inRoom.push(["raw-bin", rawBytes]);
  c.ws.terminate();
  await bystandersIntact("forged placeholders");
});

test("a receiver's forged acknowledgement never reaches the relaying client", async () => {
  const receiver = await rawSocketIo({ ns: "/feed" });
  receiver.ws.send('42/feed,1["rooms:join",{"room":"acks"}]');
  assert.deepEqual(await rawAck(receiver, "/feed", 1), [{ ok: true, rooms: ["acks"] }]);
  const asker = await connect(`${server.url}/feed`, { transports: ["websocket"] });
  try {
    const [joined] = await ackOnceReady(asker, "rooms:join", [{ room: "acks" }]);
    assert.equal(joined.ok, true);
    const answer = asker.timeout(5000).emitWithAck("relay", { to: "acks", event: "ask", ack: true });
    // The raw receiver answers with one real attachment and a forged placeholder beside it.
    let frame;
    do frame = await receiver.next();
    while (!/^42\/feed,\d+\["ask"/.test(frame));
    const ackId = frame.match(/^42\/feed,(\d+)/)[1];
    sendBinary(receiver, `461-/feed,${ackId}${JSON.stringify([[placeholder(0), placeholder(9)]])}`, [Buffer.from([1])]);
    assert.deepEqual(await answer, { ok: true, acks: [] }, "the forged ack is left out");
    assert.ok(asker.connected, "the relaying client is still connected");
  } finally {
    asker.close();
    receiver.ws.terminate();
  }
  await bystandersIntact("forged acks");
});

test("reserved event names cannot be relayed", async () => {
  const names = [
    "error", "connect", "connect_error", "connect_timeout", "connecting", "disconnect", "disconnecting",
    "newListener", "removeListener", "ping", "pong", "reconnect", "reconnect_attempt", "reconnect_error",
    "reconnect_failed", "reconnecting", "", "x".repeat(65),
  ];
  for (const event of names) {
    const ack = await relayer.timeout(5000).emitWithAck("relay", { to: "r", event, args: [{ code: "rate_limited" }] });
    assert.equal(ack.ok, false, `${event}: ${JSON.stringify(ack)}`);
    assert.equal(ack.error.code, "invalid_event", event);
  }
  await bystandersIntact("reserved names");
});

test("forwarding, the publish API and the Flask queue refuse forged placeholders too", async () => {
  // A client's forwarded event: refused before the backend is called.
  const c = await rawSocketIo({ ns: "/fwd" });
  const calls = backend.calls.length;
  sendBinary(c, `451-/fwd,1${JSON.stringify(["anything", placeholder(0), placeholder(7)])}`, [Buffer.from([1])]);
  const [reply] = await rawAck(c, "/fwd", 1);
  assert.equal(reply.error.code, "invalid_binary", JSON.stringify(reply));
  c.ws.send(`42/fwd,2${JSON.stringify(["anything", { _placeholder: true, num: 0 }])}`);
  assert.equal((await rawAck(c, "/fwd", 2))[0].error.code, "invalid_binary");
  assert.equal(backend.calls.length, calls, "the backend never saw them");
  c.ws.terminate();

  // A backend answer that would forge one, in an emit or in the ack: backend_error, nothing sent.
  for (const answer of [
    { emit: [{ event: "leak", args: [{ $binary: "AQ==" }, placeholder(7)], broadcast: true }] },
    { ack: [{ $binary: "AQ==" }, { nested: placeholder(3) }] },
  ]) {
    backend.answer = () => answer;
    const [ack] = await ackOnceReady(fwdClient, "anything", [1]);
    assert.equal(ack.ok, false, JSON.stringify(ack));
    assert.equal(ack.error.code, "backend_error");
    assert.match(ack.error.message, /_placeholder/);
  }
  const marker = [nextEvent(fwdClient, "marker"), nextEvent(fwdBystander, "marker")];
  assert.equal((await api("emit", { namespace: "/fwd", event: "marker", args: ["fwd2"] })).status, 200);
  await Promise.all(marker);
  assert.deepEqual(fwdGot, [["marker", "fwd2"]]);
  fwdGot.length = 0;

  // The publish API: 400, nothing sent.
  const forged = await api("emit", { namespace: "/feed", event: "leak", args: [placeholder(7), { $binary: "AAE=" }] });
  assert.equal(forged.status, 400, forged.text);
  assert.equal(forged.body.error.code, "bad_request");
  assert.match(forged.body.error.message, /_placeholder/);
  // The Flask queue: rejected, nothing sent (a later message to everyone arrives first).
  queuePublish(queueEmit("leak", [{ _placeholder: true, num: 0 }], null));
  const queued = [nextEvent(inRoom, "queued"), nextEvent(everywhere, "queued")];
  queuePublish(queueEmit("queued", ["after forged"], null));
  await withTimeout(Promise.all(queued), 5000, "queue message after the forged one");
  expected.inRoom.push(["queued", "after forged"]);
  expected.everywhere.push(["queued", "after forged"]);
  await bystandersIntact("forged placeholders from backends");
});

// ---------- 5. half-sent binary packets ----------

/** Resident memory of process `pid`, in KiB (VmRSS of /proc/<pid>/status). */
function rssKiB(pid) {
  const status = fs.readFileSync(`/proc/${pid}/status`, "utf8");
  return Number(status.match(/^VmRSS:\s+(\d+) kB$/m)[1]);
}

/** Resolves once the server has logged `n` more lines matching `re` than `before` counted. */
async function logged(srv, re, n, before = 0) {
  const global = new RegExp(re.source, "g");
  await withTimeout(
    (async () => {
      while ((srv.logs().match(global) ?? []).length < before + n) await new Promise((r) => setTimeout(r, 20));
    })(),
    10000,
    `${n} log lines ${re}`,
  );
}

test("half-sent binary packets are bounded in count, bytes and time, and memory comes back", async (t) => {
  const srv = await useServer(t, ["--ping-interval-ms", "1000", "--attachment-timeout-ms", "500"]);
  const bystander = await connect(srv.url, { transports: ["websocket"] });
  t.after(() => bystander.close());
  const header = (count) => `45${count}-${JSON.stringify(["held", ...Array.from({ length: count }, (_, i) => placeholder(i))])}`;
  const chunk = Buffer.alloc(99 * 1024, 0x5a);
  const open = async (n) => Promise.all(Array.from({ length: n }, () => raw.rawSocketIo(srv.port)));
  const disconnected = /socket disconnected/;

  // The attack: 10 000 declared attachments. Refused at the header now.
  for (const c of await open(3)) {
    c.ws.send(header(10_000));
    assert.equal(typeof (await c.closes()), "number", "10 000 declared attachments close the connection");
  }
  // One attachment past 1 MiB in total closes the connection.
  const [heavy] = await open(1);
  sendBinary(heavy, header(64), Array(10).fill(chunk));
  heavy.ws.send(chunk, { binary: true });
  assert.equal(typeof (await heavy.closes()), "number", "attachments over 1 MiB close the connection");
  // An attachment later than --attachment-timeout-ms after the header closes it (the
  // parser checks when the next one arrives). Pings come every second (the first one
  // as the session opens), so the second ping after the header is at least 1 s later.
  const [slow] = await open(1);
  sendBinary(slow, header(2), [chunk]);
  await slow.nextPing();
  await slow.nextPing();
  slow.ws.send(chunk, { binary: true });
  assert.equal(typeof (await slow.closes()), "number", "a late attachment closes the connection");

  // Memory. The baseline is taken once as many well-behaved connections as the attack
  // uses have done the same legitimately (slow uploads of the same size that complete)
  // and left: the first connections cost the process memory it keeps (~5 MB for the
  // first dozen alone), and glibc keeps the heap shape the first large packets gave it.
  const leave = async (connections) => {
    const settled = (srv.logs().match(/socket disconnected/g) ?? []).length;
    for (const c of connections) c.ws.terminate();
    await logged(srv, disconnected, connections.length, settled);
  };
  const cold = rssKiB(srv.proc.pid);
  const polite = await open(12);
  for (const c of polite) sendBinary(c, header(11), Array(10).fill(chunk));
  for (const c of polite) await c.readByServer();
  for (const c of polite) c.ws.send(Buffer.alloc(1000), { binary: true });
  // Each complete packet is an event no handler takes on "/": counted once the server read it.
  const unknown = /^iorelay_events_received_total\{namespace="\/",outcome="unknown"\} (\d+)$/m;
  await withTimeout(
    (async () => {
      for (;;) {
        const metrics = (await raw.request(srv.port, "GET", "/metrics")).text;
        if (Number(metrics.match(unknown)?.[1] ?? 0) >= 12) return;
        await new Promise((r) => setTimeout(r, 20));
      }
    })(),
    10000,
    "the polite packets read",
  );
  await leave(polite);
  const baseline = rssKiB(srv.proc.pid);
  // Then connections that hold as much as the bounds allow, and leave.
  const holders = await open(12);
  for (const c of holders) sendBinary(c, header(64), Array(10).fill(chunk));
  for (const c of holders) await c.readByServer();
  const peak = rssKiB(srv.proc.pid);
  for (const c of holders) assert.notEqual(await c.nextWithin(0), null, "a holder within the bounds stays connected");
  await leave(holders);
  const after = rssKiB(srv.proc.pid);
  t.diagnostic(
    `VmRSS KiB: before any upload ${cold}, baseline after 12 legitimate ones ${baseline}, ` +
      `holding 12 × 990 KB ${peak}, after they left ${after}`,
  );
  assert.ok(after <= baseline * 1.2, `RSS after the attack ${after} KiB > baseline ${baseline} KiB + 20 %`);

  assert.equal((await raw.request(srv.port, "GET", "/healthz")).status, 200);
  assert.ok(bystander.connected, "the bystander stayed connected");
});

// ---------- 8. tokens that expire while connected ----------

test("a socket whose token expires is told token_expired and disconnected; a refreshed one stays", async () => {
  // Within the 30 s of skew the connect check allows, so accepted now; it stops counting in ~5 s.
  const expiring = signToken({ sub: "lease", exp: nowSecs() - 25 });
  const fresh = signToken({ sub: "lease", exp: nowSecs() + 600 });
  const url = `${server.url}/notifications`;
  const stale = await connect(url, { auth: { token: expiring } });
  const renewed = await connect(url, { auth: { token: expiring } });
  const generic = await connect(`${server.url}/feed`, { auth: { token: expiring } });
  const other = await connect(url, { auth: { token: signToken({ sub: "someone-else", exp: nowSecs() + 600 }) } });
  // Listening from the start: the expiry comes while the rest goes on.
  const expiries = [stale, generic].map((socket) => [nextEvent(socket, "error", 15000), nextEvent(socket, "disconnect", 15000)]);
  try {
    const [subscribed] = await ackOnceReady(stale, "subscribe", [{ topic: "lease-news" }]);
    assert.equal(subscribed.ok, true);
    const before = nextEvent(stale, "notification");
    assert.equal((await api("notify", { topic: "lease-news", title: "while valid" })).status, 200);
    assert.equal((await before)[0].title, "while valid");

    // Refreshes: same user accepted, others refused with their code.
    const [ok] = await ackOnceReady(renewed, "auth:refresh", [{ token: fresh }]);
    assert.equal(ok.ok, true, JSON.stringify(ok));
    assert.equal(typeof ok.expires_at, "number");
    assert.ok(ok.expires_at > nowSecs() + 500);
    // `other` connected as someone-else: a token of "lease" is another user's.
    const refusals = [
      [{ token: fresh }, "token_invalid"],
      [{ token: signToken({ sub: "someone-else", exp: nowSecs() - 3600 }) }, "token_expired"],
      [{ token: signToken({ sub: "someone-else", exp: nowSecs() + 600 }, "not-the-secret-not-the-secret-0000") }, "token_invalid"],
      [{ token: "junk" }, "token_invalid"],
      [{ nope: 1 }, "bad_request"],
    ];
    for (const [payload, code] of refusals) {
      const reply = await other.timeout(5000).emitWithAck("auth:refresh", payload);
      assert.equal(reply.ok, false, JSON.stringify(reply));
      assert.equal(reply.error.code, code, JSON.stringify(payload));
    }

    // The stale sockets: the notice, then a namespace disconnect (on /feed too).
    for (const [notice, gone] of expiries) {
      assert.deepEqual((await notice)[0], { code: "token_expired", message: "the token has expired: connect again with a new one" });
      assert.equal((await gone)[0], "io server disconnect");
    }
    // The refreshed one is still there and receives; the expired one gets nothing more.
    assert.ok(renewed.connected, "the refreshed socket stayed");
    const direct = nextEvent(renewed, "notification");
    const missed = [];
    stale.on("notification", (n) => missed.push(n));
    assert.equal((await api("notify", { users: ["lease"], topic: "lease-news", title: "after expiry" })).status, 200);
    assert.equal((await direct)[0].title, "after expiry");
    // Connecting again with a new token works (what clients do after the notice).
    stale.auth = { token: fresh };
    stale.connect();
    await nextEvent(stale, "connect");
    assert.deepEqual(missed, []);
    const metrics = (await request("GET", "/metrics")).text;
    assert.match(metrics, /iorelay_token_expiries_total\{namespace="\/notifications"\} 1/);
    assert.match(metrics, /iorelay_token_expiries_total\{namespace="\/feed"\} 1/);
  } finally {
    for (const s of [stale, renewed, generic, other]) s.close();
  }
  await bystandersIntact("token expiry");
});

test(
  "a connection that falls silent in the middle of a binary packet is closed after --attachment-timeout-ms",
  {
    todo:
      "socketioxide 0.18 checks packet_completion_timeout only when the next attachment arrives: a connection " +
      "that stops sending keeps what it sent (at most --max-attachment-bytes) until it closes",
  },
  async (t) => {
    const srv = await useServer(t, ["--ping-interval-ms", "1000", "--attachment-timeout-ms", "300"]);
    const c = await raw.rawSocketIo(srv.port);
    sendBinary(c, `452-${JSON.stringify(["held", placeholder(0), placeholder(1)])}`, [Buffer.alloc(1000)]);
    // Two pings later (at least a second), well past the timeout, the server should have closed it.
    await c.nextPing();
    await c.nextPing();
    assert.equal(typeof (await c.closes(1500)), "number", "still open long after --attachment-timeout-ms");
  },
);

// ---------- 7. Engine.IO v3 gate ----------

test("without --allow-eio3 every query form engineioxide reads as v3 is refused", async () => {
  const refused = '{"code":5,"message":"Unsupported protocol version"}';
  for (const query of [
    "EIO=3&transport=polling",
    "EIO=3=x&transport=polling",
    "EIO=3=&transport=polling",
    "transport=polling&EIO=3=4",
    "EIO=3&EIO=4&transport=polling",
    "EIO=%33&transport=polling",
  ]) {
    const res = await request("GET", `/socket.io/?${query}`);
    assert.equal(res.status, 400, `${query}: ${res.status} ${res.text}`);
    assert.equal(res.text, refused, query);
  }
  // Over WebSocket too: the upgrade is refused before any session opens.
  for (const query of ["EIO=3=x&transport=websocket", "EIO=3=&transport=websocket"]) {
    const ws = new WebSocket(`ws://127.0.0.1:${server.port}/socket.io/?${query}`);
    ws.on("error", () => {});
    const [, res] = await once(ws, "unexpected-response");
    assert.equal(res.statusCode, 400, query);
    ws.terminate();
  }
  // v4 still opens, whatever follows the version.
  for (const query of ["EIO=4&transport=polling", "EIO=4=x&transport=polling"]) {
    const res = await request("GET", `/socket.io/?${query}`);
    assert.equal(res.status, 200, `${query}: ${res.text}`);
    assert.match(res.text, /^0\{"sid"/);
  }
  await bystandersIntact("eio3 gate");
});

// ---------- 6. empty recipient lists ----------

test("an empty room list addresses nobody on every path; only a missing one addresses everyone", async () => {
  // Publish API.
  assert.deepEqual((await api("emit", { namespace: "/feed", event: "leak", args: [1], rooms: [] })).body, { ok: true });
  const withAcks = await api("emit", { namespace: "/feed", event: "leak", args: [2], rooms: [], ack_timeout_ms: 1000 });
  assert.deepEqual(withAcks.body, { ok: true, acks: [], timeouts: 0, timed_out: [] });
  const toRoom = nextEvent(inRoom, "to-r");
  assert.deepEqual((await api("emit", { namespace: "/feed", event: "to-r", args: [3], rooms: "r" })).body, { ok: true });
  await toRoom;
  expected.inRoom.push(["to-r", 3]);
  // Room moves and disconnects that name nobody move and disconnect nobody.
  assert.equal((await api("rooms/join", { namespace: "/feed", target: everywhere.id, rooms: [] })).status, 200);
  assert.equal((await api("rooms/leave", { namespace: "/feed", target: "", rooms: ["r"] })).status, 200);
  assert.equal((await api("disconnect", { namespace: "/feed", room: "" })).status, 200);
  const members = JSON.parse(
    (await request("GET", "/api/v1/namespaces/feed/rooms/r/sockets", { headers: { "x-api-key": API_KEY } })).text,
  );
  assert.deepEqual(members.sockets.map((s) => s.id).sort(), [inRoom.id, relayer.id].sort());

  // Notifications: `users: []` beside a topic is the topic's subscribers alone; alone it is refused.
  const token = (sub) => signToken({ sub, exp: nowSecs() + 600 });
  const subscriber = await connect(`${server.url}/notifications`, { auth: { token: token("u1") } });
  const other = await connect(`${server.url}/notifications`, { auth: { token: token("u2") } });
  try {
    const [subscribed] = await ackOnceReady(subscriber, "subscribe", [{ topic: "t" }]);
    assert.equal(subscribed.ok, true);
    const otherGot = [];
    other.on("notification", (n) => otherGot.push(n));
    const arrived = nextEvent(subscriber, "notification");
    const sent = await api("notify", { users: [], topic: "t", title: "topic only" });
    assert.equal(sent.status, 200, sent.text);
    assert.equal((await arrived)[0].title, "topic only");
    const refused = await api("notify", { users: [], title: "nobody" });
    assert.equal(refused.status, 400);
    assert.equal(refused.body.error.code, "bad_request");
    const direct = nextEvent(other, "notification");
    assert.equal((await api("notify", { users: ["u2"], title: "marker" })).status, 200);
    await direct;
    assert.deepEqual(otherGot.map((n) => n.title), ["marker"], "u2 got the marker and nothing before it");
  } finally {
    subscriber.close();
    other.close();
  }

  // Client relay.
  assert.deepEqual(await relayer.timeout(5000).emitWithAck("relay", { to: [], event: "leak", args: [4] }), { ok: true });
  assert.deepEqual(await relayer.timeout(5000).emitWithAck("relay", { to: [], event: "leak", args: [5], ack: true }), {
    ok: true,
    acks: [],
  });

  // Forwarding answers: `rooms: []` is nobody, with or without `broadcast`.
  backend.answer = () => ({
    emit: [
      { event: "leak", args: [6], rooms: [] },
      { event: "leak", args: [7], rooms: [], broadcast: true },
    ],
    ack: ["applied"],
  });
  const fwdClientGot = [];
  fwdClient.on("leak", (...a) => fwdClientGot.push(a));
  const [answer] = await ackOnceReady(fwdClient, "anything", [1]);
  assert.equal(answer, "applied");
  const fwdMarker = [nextEvent(fwdClient, "marker"), nextEvent(fwdBystander, "marker")];
  assert.equal((await api("emit", { namespace: "/fwd", event: "marker", args: ["fwd"] })).status, 200);
  await Promise.all(fwdMarker);
  assert.deepEqual(fwdClientGot, [], "the sender got none of the emits to nobody");
  assert.deepEqual(fwdGot, [["marker", "fwd"]]);
  fwdGot.length = 0;

  // Flask bridge: python-socketio's `room: []` is nobody; `room: null` everyone (applied in order).
  queuePublish(queueEmit("leak", [8], []));
  const queued = [nextEvent(inRoom, "queued"), nextEvent(everywhere, "queued")];
  queuePublish(queueEmit("queued", [9], null));
  await withTimeout(Promise.all(queued), 5000, "queue message to everyone");
  expected.inRoom.push(["queued", 9]);
  expected.everywhere.push(["queued", 9]);

  await bystandersIntact("empty rooms");
});

test("no backend path joins a socket into another socket's id room", async () => {
  // Apps join the room a client names (Flask's join_room(data["room"])) and socket ids are
  // public: naming a victim's id must not subscribe the attacker to what is sent to the victim.
  const victim = await connect(`${server.url}/fwd`, { transports: ["websocket"] });
  const attacker = await connect(`${server.url}/fwd`, { transports: ["websocket"] });
  const feedVictim = await connect(`${server.url}/feed`, { transports: ["websocket"] });
  const feedAttacker = await connect(`${server.url}/feed`, { transports: ["websocket"] });
  try {
    const stolen = [];
    for (const s of [attacker, feedAttacker]) s.on("private", (...a) => stolen.push(a));
    const saved = backend.answer;
    try {
      backend.answer = (body) => ({ join: [body.args[0].room], ack: ["joined"] });
      const [viaJoin] = await ackOnceReady(attacker, "enter", [{ room: victim.id }]);
      assert.equal(viaJoin.error?.code, "backend_error", JSON.stringify(viaJoin));
      backend.answer = (body) => ({ ops: [{ op: "join", room: body.args[0].room }], ack: ["joined"] });
      const [viaOps] = await ackOnceReady(attacker, "enter", [{ room: victim.id }]);
      assert.equal(viaOps.error?.code, "backend_error", JSON.stringify(viaOps));
      // A room of the app's own naming is still joined.
      const [ok] = await ackOnceReady(attacker, "enter", [{ room: "lobby-x" }]);
      assert.equal(ok, "joined");
    } finally {
      backend.answer = saved;
    }
    const viaApi = await api("rooms/join", { namespace: "/feed", target: feedAttacker.id, rooms: [feedVictim.id] });
    assert.equal(viaApi.status, 400, viaApi.text);
    assert.equal(viaApi.body.error.code, "invalid_room");
    queuePublish({ method: "enter_room", sid: feedAttacker.id, room: feedVictim.id, namespace: "/feed", host_id: "hostile-protocol" });

    // What is sent to each victim alone reaches the victim, and no attacker.
    const got = [nextEvent(victim, "private"), nextEvent(feedVictim, "private")];
    assert.equal((await api("emit", { namespace: "/fwd", event: "private", args: ["fwd"], rooms: victim.id })).status, 200);
    queuePublish(queueEmit("private", ["feed"], feedVictim.id));
    await withTimeout(Promise.all(got), 5000, "the victims' own messages");
    const markers = [nextEvent(attacker, "marker"), nextEvent(feedAttacker, "marker")];
    assert.equal((await api("emit", { namespace: "/fwd", event: "marker", args: [1], rooms: attacker.id })).status, 200);
    queuePublish(queueEmit("marker", [2], feedAttacker.id));
    await withTimeout(Promise.all(markers), 5000, "markers");
    assert.deepEqual(stolen, []);
  } finally {
    for (const s of [victim, attacker, feedVictim, feedAttacker]) s.close();
  }
});

// ---------- 10. log amplification ----------

/** Lines of the server's log so far that match `re`. */
const linesMatching = (re) => server.logs().split("\n").filter((line) => re.test(line));

/** The value of one sample of /metrics (0 when absent). */
async function metric(sample) {
  const text = (await request("GET", "/metrics")).text;
  const line = text.split("\n").find((l) => l.startsWith(`${sample} `));
  return line ? Number(line.split(" ").pop()) : 0;
}

/** Resolves with the first summary line about call sites of `source` logged from now on. */
function summaryOf(source) {
  const already = linesMatching(/repeated log lines suppressed/).length;
  return withTimeout(
    (async () => {
      for (;;) {
        const found = linesMatching(/repeated log lines suppressed/)
          .slice(already)
          .find((l) => l.includes(source));
        if (found) return found;
        await new Promise((r) => setTimeout(r, 50));
      }
    })(),
    10000,
    `summary of ${source}`,
  );
}

test("one polling body of unknown-namespace CONNECTs logs one line and a summary, not thousands", async () => {
  const sid = await raw.handshake(server.port);
  const packets = [];
  let size = 0;
  for (let i = 0; size < 60_000; i++) {
    const packet = `40/nope-${i},`;
    packets.push(packet);
    size += packet.length + 1;
  }
  const summary = summaryOf("socketioxide::client");
  const res = await request("POST", raw.pollPath(sid), { body: packets.join("\x1e") });
  assert.equal(res.status, 200, res.text);
  // The first answers fill the session's packet buffer (--max-buffer-size 1024 here);
  // socketioxide logs each one it cannot send.
  const errors = linesMatching(/error while sending invalid namespace packet/);
  assert.ok(errors.length >= 1 && errors.length <= 2, `${errors.length} lines for ${packets.length} refusals`);
  const line = await summary;
  const suppressed = Number(line.match(/suppressed=(\d+)/)[1]);
  assert.ok(suppressed >= packets.length - 1024 - 2, `summary counts ${suppressed} of ${packets.length}: ${line}`);
  assert.ok(
    (await metric('iorelay_log_lines_suppressed_total{level="ERROR",target="socketioxide::client"}')) >= suppressed,
  );
  await request("POST", raw.pollPath(sid), { body: "1" });
  await bystandersIntact("unknown namespaces");
});

// ---------- the end ----------

test("the bystanders lost nothing and got nothing else", async () => {
  await bystandersIntact("final");
});
