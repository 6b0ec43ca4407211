// socket.io-client 2.x (Flask-SocketIO 4.x era frontends) end to end, with
// --allow-eio3: a 2.x client has no `auth` option, so it names itself and
// presents its token in `query`, which it sends on the Engine.IO handshake and
// inside the namespace CONNECT (`0/chat?name=Ada,`). The namespace must not
// swallow the query ("Invalid namespace" before), and the query must stand in
// for `auth` on /chat, /notifications and private generic namespaces, over
// polling and WebSocket, also for a second namespace multiplexed on one
// connection (whose handshake query is the first namespace's).

import { test } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import { once } from "node:events";
import ioV2 from "socket.io-client-v2";
import { nextEvent, useServer, useSocket, withTimeout } from "./harness.mjs";
import { nowSecs, signToken } from "./raw.mjs";

const SECRET = "legacy-v2-test-secret-0123456789abcdef";
const KEY = "legacy-v2-test-key-0123456789";
const ARGS = [
  "--allow-eio3",
  "--client-relay",
  "--namespaces",
  "/private",
  "--private-namespaces",
  "/private,/notifications",
  "--jwt-secret",
  SECRET,
  "--api-keys",
  KEY,
];

const tokenFor = (sub, name) => signToken({ sub, name, exp: nowSecs() + 600 }, SECRET);

/** A socket.io-client@2 socket (not yet connected), closed when `t` ends. */
function v2Socket(t, url, opts) {
  const socket = ioV2(url, { reconnection: false, ...opts });
  t.after(() => socket.close());
  return socket;
}

/** Resolves with the socket once connected; rejects with the refusal's message. */
async function v2Connected(t, url, opts) {
  const socket = v2Socket(t, url, opts);
  const refused = nextEvent(socket, "error", 10000).then(([err]) => {
    throw new Error(`socket.io-client@2 was refused: ${err?.message ?? JSON.stringify(err)}`);
  });
  refused.catch(() => {});
  await Promise.race([nextEvent(socket, "connect", 10000), refused]);
  return socket;
}

/** The refusal (the 2.x client's `error` event) of a namespace connect. */
async function v2Refusal(t, url, opts) {
  const socket = v2Socket(t, url, opts);
  const connected = nextEvent(socket, "connect", 10000).then(() => {
    throw new Error(`${url} connected but should have been refused`);
  });
  connected.catch(() => {});
  const [err] = await Promise.race([nextEvent(socket, "error", 10000), connected]);
  return err;
}

/** emit with an ack callback (2.x has no emitWithAck). */
function v2Ack(socket, event, ...args) {
  return withTimeout(new Promise((resolve) => socket.emit(event, ...args, (ack) => resolve(ack))), 5000, `ack of ${event}`);
}

for (const transports of [["polling"], ["websocket"]]) {
  const label = transports[0];

  test(`2.x (${label}): /chat takes the name from query; a v4 client reads the 2.x user's messages`, async (t) => {
    const srv = await useServer(t, ARGS);
    const ada = await v2Connected(t, `${srv.url}/chat`, { transports, forceNew: true, query: { name: "Ada Lovelace" } });
    const join = await v2Ack(ada, "join", { room: "lobby" });
    assert.equal(join.ok, true, JSON.stringify(join));
    assert.deepEqual(join.members, [{ id: "guest:ada lovelace", name: "Ada Lovelace" }]);

    const bob = await useSocket(t, `${srv.url}/chat`, { auth: { name: "Bob" } });
    assert.equal((await bob.emitWithAck("join", { room: "lobby" })).ok, true);
    const got = nextEvent(bob, "message");
    const sent = await v2Ack(ada, "message", { room: "lobby", text: "hello from 2.x" });
    assert.equal(sent.ok, true, JSON.stringify(sent));
    const [message] = await got;
    assert.deepEqual(message.from, { id: "guest:ada lovelace", name: "Ada Lovelace" });
    assert.equal(message.text, "hello from 2.x");
    assert.equal(ada.io.engine.transport.name, label);

    // The query string form (`io("/chat?name=…")`) is the same query.
    const cy = await v2Connected(t, `${srv.url}/chat?name=Cy`, { transports, forceNew: true });
    const cyJoin = await v2Ack(cy, "join", { room: "lobby" });
    assert.deepEqual(
      cyJoin.members.map((m) => m.name),
      ["Ada Lovelace", "Bob", "Cy"],
    );

    // Without a name the refusal is chat's own, not "Invalid namespace".
    const err = await v2Refusal(t, `${srv.url}/chat`, { transports, forceNew: true, query: { other: "x" } });
    assert.match(err.message, /^invalid_name: /);
  });

  test(`2.x (${label}): a private namespace takes the token from query; without one it is refused`, async (t) => {
    const srv = await useServer(t, ARGS);
    const dee = await v2Connected(t, `${srv.url}/private`, {
      transports,
      forceNew: true,
      query: { token: tokenFor("u-dee", "Dee") },
    });
    assert.deepEqual(await v2Ack(dee, "rooms:join", { room: "team" }), { ok: true, rooms: ["team"] });
    const peer = await useSocket(t, `${srv.url}/private`, { auth: { token: tokenFor("u-pia", "Pia") } });
    assert.deepEqual(await peer.emitWithAck("rooms:join", { room: "team" }), { ok: true, rooms: ["team"] });
    const got = nextEvent(peer, "hello");
    assert.deepEqual(await v2Ack(dee, "relay", { to: "team", event: "hello", args: ["from 2.x"] }), { ok: true });
    assert.deepEqual(await got, ["from 2.x"]);
    assert.equal(dee.io.engine.transport.name, label);

    const missing = await v2Refusal(t, `${srv.url}/private`, { transports, forceNew: true, query: { name: "Dee" } });
    assert.match(missing.message, /^token_missing: /);
    const forged = signToken({ sub: "u-dee", exp: nowSecs() + 600 }, "another-secret-0123456789abcdefgh");
    const bad = await v2Refusal(t, `${srv.url}/private`, { transports, forceNew: true, query: { token: forged } });
    assert.match(bad.message, /^token_invalid: /);
    // A namespace the server does not serve is still refused as such, query or not.
    const unknown = await v2Refusal(t, `${srv.url}/nope`, { transports, forceNew: true, query: { name: "Dee" } });
    assert.equal(unknown.message, "Invalid namespace");
  });

  test(`2.x (${label}): /notifications multiplexed beside /chat takes its own token`, async (t) => {
    const srv = await useServer(t, ARGS);
    // Not forceNew: the second socket shares the first one's Engine.IO connection,
    // whose handshake query has only the name, so the token comes from its CONNECT.
    const chat = await v2Connected(t, `${srv.url}/chat`, { transports, query: { name: "Eve" } });
    const notes = await v2Connected(t, `${srv.url}/notifications`, {
      transports,
      query: { token: tokenFor("u-eve", "Eve") },
    });
    assert.equal(notes.io, chat.io);
    const got = nextEvent(notes, "notification");
    const res = await fetch(`${srv.url}/api/v1/notify`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${KEY}` },
      body: JSON.stringify({ users: ["u-eve"], title: "for 2.x" }),
    });
    assert.equal(res.status, 200, await res.text());
    const [note] = await got;
    assert.equal(note.title, "for 2.x");
    assert.equal(chat.io.engine.transport.name, label);
  });
}

test("a v5 client's query does not stand in for auth", async (t) => {
  const srv = await useServer(t, ARGS);
  const { io } = await import("socket.io-client");
  const socket = io(`${srv.url}/chat`, { query: { name: "Ada" }, reconnection: false, forceNew: true });
  t.after(() => socket.close());
  const [err] = await nextEvent(socket, "connect_error", 10000);
  assert.match(err.message, /^invalid_name: /);
});

test("2.x: a token in the query is masked in iorelay's request logs", async (t) => {
  const srv = await useServer(t, ARGS, { env: { RUST_LOG: "info,tower_http=debug" } });
  const token = tokenFor("u-log", "Lou");
  const socket = await v2Connected(t, `${srv.url}/private`, { forceNew: true, transports: ["polling"], query: { token } });
  assert.deepEqual(await v2Ack(socket, "rooms:join", { room: "logged" }), { ok: true, rooms: ["logged"] });
  const logs = srv.logs();
  assert.match(logs, /uri=\/socket\.io\/\?[^ ]*token=<redacted>/);
  assert.ok(!logs.includes(token), "the token is not in the logs");
  assert.ok(!logs.includes(token.split(".")[2]), "nor its signature");
});

test("2.x: the connect hook gets the queries as auth (request.args of Flask-SocketIO 4)", async (t) => {
  const calls = [];
  const backend = http.createServer((req, res) => {
    let text = "";
    req.on("data", (c) => (text += c));
    req.on("end", () => {
      calls.push(JSON.parse(text));
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ ok: true }));
    });
  });
  backend.listen(0, "127.0.0.1");
  await once(backend, "listening");
  t.after(() => new Promise((resolve) => backend.close(resolve)));
  const hook = `http://127.0.0.1:${backend.address().port}/connect`;
  const srv = await useServer(t, ["--allow-eio3", "--namespaces", "/hooked", "--connect-url", `/hooked=${hook}`]);
  // Multiplexed: the handshake carries the first socket's query (a name), the
  // CONNECT of /hooked its own (room), and the hook sees both.
  await v2Connected(t, `${srv.url}/`, { transports: ["websocket"], query: { name: "Ada" } });
  const hooked = await v2Connected(t, `${srv.url}/hooked`, { transports: ["websocket"], query: { room: "r1" } });
  assert.equal(hooked.connected, true);
  assert.equal(calls.length, 1, JSON.stringify(calls));
  assert.equal(calls[0].namespace, "/hooked");
  assert.deepEqual(calls[0].auth, { room: "r1", name: "Ada" });
});
