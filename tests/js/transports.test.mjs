// Transports: HTTP long-polling only, WebSocket only (--transports) and the
// polling → WebSocket upgrade, each proven with a real socket.io-client 4
// emit/ack round trip (rooms:join ack + a relay the sender receives itself,
// binary argument included). Also checks that a transport the server was
// told not to serve is refused, what the handshake advertises, and when the
// first heartbeat PING comes.

import { test } from "node:test";
import assert from "node:assert/strict";
import { io } from "socket.io-client";
import { ackOnceReady, connectError, nextEvent, useServer, useSocket } from "./harness.mjs";

/** Waits until the server's handlers for `socket` are registered (see ackOnceReady). */
const handlersReady = (socket) => ackOnceReady(socket, "rooms:leave", [{ room: "warm-up" }]);

/** An ack round trip and an event round trip through the server on `socket`. */
async function roundTrip(socket, label) {
  assert.deepEqual(await socket.timeout(5000).emitWithAck("rooms:join", { room: "rt" }), { ok: true, rooms: ["rt"] });
  const echoed = nextEvent(socket, "echo");
  const bytes = Buffer.from([0, 1, 2, 254, 255]);
  const ack = await socket.timeout(5000).emitWithAck("relay", {
    to: "rt",
    event: "echo",
    args: [label, { n: 1, list: [true, null] }, bytes],
    include_self: true,
  });
  assert.deepEqual(ack, { ok: true });
  const [gotLabel, gotObject, gotBytes] = await echoed;
  assert.equal(gotLabel, label);
  assert.deepEqual(gotObject, { n: 1, list: [true, null] });
  assert.ok(Buffer.isBuffer(gotBytes), "binary argument arrives as a Buffer");
  assert.ok(gotBytes.equals(bytes), "binary argument is byte-exact");
}

/** The Engine.IO v4 handshake (open packet) of a polling request. */
async function pollingHandshake(url) {
  const res = await fetch(`${url}/socket.io/?EIO=4&transport=polling`);
  const body = await res.text();
  return { status: res.status, body };
}

test("polling only: client on polling does emit/ack round trips", async (t) => {
  const srv = await useServer(t, ["--transports", "polling", "--client-relay"]);
  const socket = await useSocket(t, srv.url, { transports: ["polling"] });
  assert.equal(socket.io.engine.transport.name, "polling");
  await handlersReady(socket);
  await roundTrip(socket, "polling");
  assert.equal(socket.io.engine.transport.name, "polling");
});

test("polling only: a WebSocket-only client is refused", async (t) => {
  const srv = await useServer(t, ["--transports", "polling", "--client-relay"]);
  const err = await connectError(srv.url, { transports: ["websocket"] });
  assert.equal(err.message, "websocket error");
  const res = await fetch(`${srv.url}/socket.io/?EIO=4&transport=websocket`);
  assert.equal(res.status, 400);
  await res.arrayBuffer();
});

test(
  "polling only: the handshake does not advertise a WebSocket upgrade",
  async (t) => {
    const srv = await useServer(t, ["--transports", "polling"]);
    const { status, body } = await pollingHandshake(srv.url);
    assert.equal(status, 200);
    assert.equal(body[0], "0", "open packet");
    const open = JSON.parse(body.slice(1));
    assert.deepEqual(open.upgrades, []);
  },
);

test("websocket only: client on WebSocket does emit/ack round trips", async (t) => {
  const srv = await useServer(t, ["--transports", "websocket", "--client-relay"]);
  const socket = await useSocket(t, srv.url, { transports: ["websocket"] });
  assert.equal(socket.io.engine.transport.name, "websocket");
  await handlersReady(socket);
  await roundTrip(socket, "websocket");
  assert.equal(socket.io.engine.transport.name, "websocket");
});

test("websocket only: a polling client is refused", async (t) => {
  const srv = await useServer(t, ["--transports", "websocket", "--client-relay"]);
  const err = await connectError(srv.url, { transports: ["polling"] });
  assert.equal(err.message, "xhr poll error");
  const { status } = await pollingHandshake(srv.url);
  assert.equal(status, 400);
});

test("upgrade: client starts on polling, upgrades to WebSocket, keeps round-tripping", async (t) => {
  const srv = await useServer(t, ["--client-relay"]);
  const { status, body } = await pollingHandshake(srv.url);
  assert.equal(status, 200);
  assert.deepEqual(JSON.parse(body.slice(1)).upgrades, ["websocket"]);

  const socket = io(srv.url, { forceNew: true, reconnection: false });
  t.after(() => socket.close());
  const engine = socket.io.engine;
  // Both listeners are attached before any network traffic can have happened.
  const opened = nextEvent(engine, "open");
  const upgraded = nextEvent(engine, "upgrade");
  const connected = nextEvent(socket, "connect");

  await opened;
  assert.equal(engine.transport.name, "polling", "the session opens on polling");
  await connected;
  await handlersReady(socket);
  // A round trip right away may run on polling or during the upgrade: nothing may be lost.
  await roundTrip(socket, "around-upgrade");
  const [transport] = await upgraded;
  assert.equal(transport.name, "websocket");
  assert.equal(engine.transport.name, "websocket");
  await socket.timeout(5000).emitWithAck("rooms:leave", { room: "rt" });
  await roundTrip(socket, "after-upgrade");
  assert.equal(engine.transport.name, "websocket");
});

test(
  "heartbeat: the first ping comes after --ping-interval-ms, not at once",
  {
    todo:
      "server bug (engineioxide heartbeat_job_v4): tokio::time::interval's first tick is immediate, so " +
      "the first PING is queued as soon as the session opens and the first pong is due within pingTimeout " +
      "(200 ms in conformance mode) instead of pingInterval + pingTimeout",
  },
  async (t) => {
    const srv = await useServer(t, ["--ping-interval-ms", "1000", "--ping-timeout-ms", "1000"]);
    const { body } = await pollingHandshake(srv.url);
    const { sid, pingInterval } = JSON.parse(body.slice(1));
    assert.equal(pingInterval, 1000);
    const started = Date.now();
    const poll = await fetch(`${srv.url}/socket.io/?EIO=4&transport=polling&sid=${sid}`);
    const packet = await poll.text();
    const elapsed = Date.now() - started;
    assert.equal(packet, "2", "a PING");
    assert.ok(elapsed >= 900, `the first PING arrived ${elapsed} ms after the handshake, before pingInterval`);
  },
);
