// Namespace patterns (`--namespaces '/tenant-*'`, issue #14): real
// socket.io-client 4 sockets on /tenant-a and /tenant-b each get a generic
// namespace of their own: relays stay in their namespace, forwarding and
// private namespaces take the same patterns (an exact entry wins), the publish
// API reaches a pattern namespace with live sockets, metrics count under the
// pattern, and names no pattern admits are refused "Invalid namespace". In a
// two-node cluster (real redis-server), the publish API of a node without
// sockets in /tenant-a reaches the other node's /tenant-a sockets.

import { test } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import { once } from "node:events";
import { io } from "socket.io-client";
import { nextEvent, collect, useServer, useSocket, ackOnceReady, connectError } from "./harness.mjs";
import { startRedis } from "./services.mjs";
import { nowSecs, signToken } from "./raw.mjs";

const KEY = "namespace-patterns-key-0123456789";
const SECRET = "namespace-patterns-secret-0123456789abc";

/** A JSON backend on a free port recording what it is sent, by path. */
async function startBackend(t) {
  const calls = [];
  const waiters = [];
  const srv = http.createServer((req, res) => {
    let text = "";
    req.on("data", (c) => (text += c));
    req.on("end", () => {
      const call = { path: req.url, body: JSON.parse(text) };
      calls.push(call);
      for (const w of waiters.splice(0)) w(call);
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ ack: [`${req.url} saw ${call.body.namespace}`] }));
    });
  });
  srv.listen(0, "127.0.0.1");
  await once(srv, "listening");
  t.after(() => new Promise((resolve) => srv.close(resolve)));
  return { port: srv.address().port, calls };
}

/** The connect_error message of `url` (a socket that must not connect). */
const refusal = async (url, opts = {}) => (await connectError(url, opts)).message;

/** A publish API call: POST with `body`, GET without. */
async function api(srv, path, body) {
  const res = await fetch(`${srv.url}${path}`, {
    method: body === undefined ? "GET" : "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${KEY}` },
    body: JSON.stringify(body),
  });
  return { status: res.status, json: await res.json() };
}

async function ready(t, url, opts) {
  const socket = await useSocket(t, url, opts);
  await ackOnceReady(socket, "rooms:leave", [{ room: "warm-up" }]);
  return socket;
}

test("patterns: /tenant-a and /tenant-b are separate namespaces; others are refused", async (t) => {
  const srv = await useServer(t, ["--client-relay", "--namespaces", "/tenant-*", "--api-keys", KEY]);
  const a1 = await ready(t, `${srv.url}/tenant-a`);
  const a2 = await ready(t, `${srv.url}/tenant-a`, { transports: ["websocket"] });
  const b1 = await ready(t, `${srv.url}/tenant-b`);
  for (const s of [a1, a2, b1]) {
    assert.deepEqual(await s.emitWithAck("rooms:join", { room: "r" }), { ok: true, rooms: ["r"] });
  }
  let leaked = false;
  b1.on("hello", () => (leaked = true));
  const got = nextEvent(a2, "hello");
  assert.deepEqual(await a1.emitWithAck("relay", { to: "r", event: "hello", args: ["tenant a"] }), { ok: true });
  assert.deepEqual(await got, ["tenant a"]);

  // The publish API reaches a namespace a pattern made while it has sockets…
  const fromApi = nextEvent(b1, "news");
  const sent = await api(srv, "/api/v1/emit", { namespace: "/tenant-b", event: "news", args: [1] });
  assert.equal(sent.status, 200, JSON.stringify(sent.json));
  assert.deepEqual(await fromApi, [1]);
  // …a matching one without sockets has nobody to reach, and others are unknown.
  assert.equal((await api(srv, "/api/v1/emit", { namespace: "/tenant-zz", event: "news" })).status, 200);
  const unknown = await api(srv, "/api/v1/emit", { namespace: "/other", event: "news" });
  assert.equal(unknown.status, 404);
  assert.equal(unknown.json.error.code, "unknown_namespace");
  // b1 received only what was meant for /tenant-b (the API emit came after the relay).
  assert.equal(leaked, false);

  for (const ns of ["/other", "/tenant-", "/tenant-a/x", "/tenant-a%20b", "/tenant"]) {
    assert.equal(await refusal(`${srv.url}${ns}`), "Invalid namespace", ns);
  }

  // Metrics count every tenant under its pattern, never under a client's name.
  const metrics = await (await fetch(`${srv.url}/metrics`)).text();
  assert.match(metrics, /iorelay_connects_total\{namespace="\/tenant-\*"\} 3/);
  assert.doesNotMatch(metrics, /namespace="\/tenant-a"/);
});

test("patterns: forwarding and private namespaces take patterns; an exact entry wins", async (t) => {
  const backend = await startBackend(t);
  const base = `http://127.0.0.1:${backend.port}`;
  const srv = await useServer(t, [
    "--namespaces", "/tenant-*,/tenant-admin,/secure-*",
    "--forward-url", `/tenant-*=${base}/tenants,/tenant-admin=${base}/admin`,
    "--private-namespaces", "/secure-*",
    "--jwt-secret", SECRET,
  ]);
  const a = await useSocket(t, `${srv.url}/tenant-a`);
  const admin = await useSocket(t, `${srv.url}/tenant-admin`);
  assert.equal(await a.timeout(5000).emitWithAck("order", { n: 1 }), "/tenants saw /tenant-a");
  assert.equal(await admin.timeout(5000).emitWithAck("order", { n: 2 }), "/admin saw /tenant-admin");
  assert.deepEqual(
    backend.calls.map((c) => [c.path, c.body.namespace, c.body.event, c.body.args]),
    [
      ["/tenants", "/tenant-a", "order", [{ n: 1 }]],
      ["/admin", "/tenant-admin", "order", [{ n: 2 }]],
    ],
  );

  assert.match(await refusal(`${srv.url}/secure-x`), /^token_missing: /);
  const token = signToken({ sub: "u1", exp: nowSecs() + 600 }, SECRET);
  const secure = await useSocket(t, `${srv.url}/secure-x`, { auth: { token } });
  assert.equal(secure.connected, true);
  // Tenants stay open to guests: the private pattern covers /secure-* only.
  assert.equal(a.connected, true);
});

test("patterns in a cluster: the publish API of a node without the namespace reaches the other node's sockets", async (t) => {
  const redis = await startRedis();
  t.after(() => redis.stop());
  const args = [
    "--client-relay", "--namespaces", "/tenant-*", "--api-keys", KEY,
    "--adapter", "redis", "--redis-url", redis.url,
  ];
  const A = await useServer(t, [...args, "--node-id", "node-a"]);
  const B = await useServer(t, [...args, "--node-id", "node-b"]);
  // /tenant-a has sockets on B only; A has never seen it.
  const b1 = await ready(t, `${B.url}/tenant-a`);
  const b2 = await ready(t, `${B.url}/tenant-a`, { transports: ["websocket"] });
  assert.deepEqual(await b1.emitWithAck("rooms:join", { room: "r" }), { ok: true, rooms: ["r"] });

  const news = [collect(b1, "news"), collect(b2, "news")];
  const sent = await api(A, "/api/v1/emit", { namespace: "/tenant-a", event: "news", args: [1] });
  assert.deepEqual(sent, { status: 200, json: { ok: true } });
  // A later emit arrives after the first: each socket got the first one once.
  const markers = [nextEvent(b1, "marker"), nextEvent(b2, "marker")];
  await api(A, "/api/v1/emit", { namespace: "/tenant-a", event: "marker" });
  await Promise.all(markers);
  assert.deepEqual(news, [[[1]], [[1]]]);

  const listed = await api(A, "/api/v1/namespaces/tenant-a/rooms/r/sockets");
  assert.equal(listed.status, 200);
  assert.deepEqual(listed.json.sockets.map((s) => [s.id, s.local]), [[b1.id, false]]);
  assert.deepEqual(await api(A, `/api/v1/namespaces/tenant-a/sockets/${b2.id}/rooms`), {
    status: 200,
    json: { rooms: [b2.id] },
  });
  b1.on("question", (n, ack) => ack(n * 2));
  const asked = await api(A, "/api/v1/emit", {
    namespace: "/tenant-a", event: "question", args: [21], rooms: ["r"], ack_timeout_ms: 3000,
  });
  assert.deepEqual(asked.json, { ok: true, acks: [{ sid: b1.id, args: [42] }], timeouts: 0, timed_out: [] });

  // A name no pattern admits is unknown, as before.
  for (const namespace of ["/other", "/tenant-", "/tenant-a b"]) {
    const unknown = await api(A, "/api/v1/emit", { namespace, event: "news" });
    assert.equal(unknown.status, 404, namespace);
    assert.equal(unknown.json.error.code, "unknown_namespace", namespace);
  }

  // A client of A's /tenant-a, now that A has one, gets the same generic namespace.
  const a1 = await ready(t, `${A.url}/tenant-a`);
  assert.deepEqual(await a1.emitWithAck("rooms:join", { room: "r" }), { ok: true, rooms: ["r"] });
  const relayed = nextEvent(b1, "hello");
  assert.deepEqual(await a1.emitWithAck("relay", { to: "r", event: "hello", args: ["from A"] }), { ok: true });
  assert.deepEqual(await relayed, ["from A"]);

  const closed = nextEvent(b2, "disconnect");
  assert.equal((await api(A, "/api/v1/disconnect", { namespace: "/tenant-a", sid: b2.id })).status, 200);
  assert.equal((await closed)[0], "io server disconnect");
});
