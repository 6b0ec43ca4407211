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
import { startServer, connect, nextEvent, withTimeout, ackOnceReady } from "./harness.mjs";
import * as raw from "./raw.mjs";
import { nowSecs } from "./raw.mjs";

const SECRET = "hostile-protocol-secret-0123456789abcdef";
const API_KEY = "hostile-protocol-api-key-0123456789";

let server;
let backend;
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

before(async () => {
  backend = await startBackend();
  server = await startServer([
    "--jwt-secret", SECRET,
    "--private-namespaces", "/notifications",
    "--namespaces", "/feed,/fwd",
    "--client-relay",
    "--forward-url", `/fwd=http://127.0.0.1:${backend.port}/event`,
    "--api-keys", API_KEY,
  ]);
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
  await bystandersIntact("start");
});

after(async () => {
  for (const s of [inRoom, everywhere, relayer]) s?.close();
  await server?.stop();
  await backend?.close();
});

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

// ---------- the end ----------

test("the bystanders lost nothing and got nothing else", async () => {
  await bystandersIntact("final");
});
