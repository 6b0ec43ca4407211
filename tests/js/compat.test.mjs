// Older and alternative clients: socket.io-client@2 (Engine.IO v3 / Socket.IO
// v4 protocol) is refused with HTTP 400 unless --allow-eio3, and with it
// connects over polling, WebSocket and the upgrade, exchanges events, acks
// (both directions) and binary, also with socket.io-client 4 clients in the
// same room; socket.io-msgpack-parser clients against --parser msgpack
// exchange events, acks, binary and error acks.

import { test } from "node:test";
import assert from "node:assert/strict";
import ioV2 from "socket.io-client-v2";
import msgpackParser from "socket.io-msgpack-parser";
import { ackOnceReady, nextEvent, useServer, useSocket, withTimeout } from "./harness.mjs";

const RELAY = ["--client-relay", "--namespaces", "/a"];
const V2_TRANSPORTS = [["polling"], ["websocket"], ["polling", "websocket"]];

/** A socket.io-client@2 socket, closed when `t` ends (not yet connected). */
function v2Socket(t, url, opts = {}) {
  const socket = ioV2(url, { forceNew: true, reconnection: false, ...opts });
  t.after(() => socket.close());
  return socket;
}

/** Resolves once a v2 socket is connected; rejects on connect_error. */
async function v2Connected(t, url, opts = {}) {
  const socket = v2Socket(t, url, opts);
  const error = nextEvent(socket, "connect_error").then(([err]) => {
    throw new Error(`socket.io-client@2 could not connect: ${err?.message ?? err}`);
  });
  error.catch(() => {});
  await Promise.race([nextEvent(socket, "connect"), error]);
  await ackOnceReady(socket, "rooms:leave", [{ room: "warm-up" }]);
  return socket;
}

/** emit with an ack callback (socket.io-client@2 has no emitWithAck); all ack arguments. */
function v2Ack(socket, event, ...args) {
  return withTimeout(new Promise((resolve) => socket.emit(event, ...args, (...ack) => resolve(ack))), 5000, `ack of ${event}`);
}

/** A socket.io-client 4 socket with handlers known to be registered. */
async function v4Ready(t, url, opts = {}) {
  const socket = await useSocket(t, url, opts);
  await ackOnceReady(socket, "rooms:leave", [{ room: "warm-up" }]);
  return socket;
}

test("EIO3: socket.io-client@2 is refused with HTTP 400 without --allow-eio3", async (t) => {
  const srv = await useServer(t, RELAY);
  const res = await fetch(`${srv.url}/socket.io/?EIO=3&transport=polling`);
  assert.equal(res.status, 400);
  assert.match(res.headers.get("content-type"), /application\/json/);
  assert.deepEqual(await res.json(), { code: 5, message: "Unsupported protocol version" });

  for (const transports of [["polling"], ["websocket"]]) {
    const socket = v2Socket(t, `${srv.url}/a`, { transports });
    const connected = [];
    socket.on("connect", () => connected.push(true));
    const [err] = await nextEvent(socket, "connect_error");
    assert.ok(err, `${transports}: connect_error`);
    if (transports[0] === "polling") assert.equal(err.description, 400, "the handshake answered 400");
    assert.deepEqual(connected, []);
    socket.close();
  }
  // Engine.IO v4 clients are unaffected.
  await v4Ready(t, `${srv.url}/a`);
});

for (const transports of V2_TRANSPORTS) {
  const label = transports.join("+");

  test(`EIO3 (${label}): socket.io-client@2 exchanges events and acks with --allow-eio3`, async (t) => {
    const srv = await useServer(t, [...RELAY, "--allow-eio3"]);
    const a = await v2Connected(t, `${srv.url}/a`, { transports });
    const b = await v2Connected(t, `${srv.url}/a`, { transports });
    assert.deepEqual(await v2Ack(a, "rooms:join", { room: "v2" }), [{ ok: true, rooms: ["v2"] }]);
    assert.deepEqual(await v2Ack(b, "rooms:join", { room: "v2" }), [{ ok: true, rooms: ["v2"] }]);

    // Event with several arguments, client → server ack.
    const got = nextEvent(b, "hello");
    const args = ["text", 7, null, { nested: [true, { x: "y" }] }];
    assert.deepEqual(await v2Ack(a, "relay", { to: "v2", event: "hello", args }), [{ ok: true }]);
    assert.deepEqual(await got, args);

    // Server → client ack: b answers, the server hands b's answer to a.
    b.on("question", (q, cb) => cb({ answer: q * 2 }));
    assert.deepEqual(await v2Ack(a, "relay", { to: "v2", event: "question", args: [21], ack: true }), [
      { ok: true, acks: [{ answer: 42 }] },
    ]);

    // Error acks have the documented shape for v2 clients too.
    const [err] = await v2Ack(a, "relay", { to: "not-joined", event: "x" });
    assert.equal(err.ok, false);
    assert.equal(err.error.code, "not_in_room");

    if (transports.length === 2) {
      // The default v2 client upgrades to WebSocket.
      if (a.io.engine.transport.name !== "websocket") await nextEvent(a.io.engine, "upgrade");
      assert.equal(a.io.engine.transport.name, "websocket");
      const again = nextEvent(b, "hello");
      assert.deepEqual(await v2Ack(a, "relay", { to: "v2", event: "hello", args: ["after upgrade"] }), [{ ok: true }]);
      assert.deepEqual(await again, ["after upgrade"]);
    } else {
      assert.equal(a.io.engine.transport.name, transports[0]);
    }
  });
}

test("EIO3: socket.io-client@2 and socket.io-client 4 share rooms, events and acks", async (t) => {
  const srv = await useServer(t, [...RELAY, "--allow-eio3"]);
  const old = await v2Connected(t, `${srv.url}/a`, { transports: ["polling"] });
  const modern = await v4Ready(t, `${srv.url}/a`);
  assert.deepEqual(await v2Ack(old, "rooms:join", { room: "mixed" }), [{ ok: true, rooms: ["mixed"] }]);
  assert.deepEqual(await modern.emitWithAck("rooms:join", { room: "mixed" }), { ok: true, rooms: ["mixed"] });

  old.on("ping-old", (n, cb) => cb(`old:${n}`));
  modern.on("ping-new", (n, cb) => cb(`new:${n}`));
  assert.deepEqual(await modern.timeout(5000).emitWithAck("relay", { to: "mixed", event: "ping-old", args: [1], ack: true }), {
    ok: true,
    acks: ["old:1"],
  });
  assert.deepEqual(await v2Ack(old, "relay", { to: "mixed", event: "ping-new", args: [2], ack: true }), [
    { ok: true, acks: ["new:2"] },
  ]);

  // Binary from the v2 polling client (client → server direction) reaches the v4 client intact.
  const bytes = Buffer.from([0, 1, 2, 253, 254, 255]);
  const got = nextEvent(modern, "bin");
  assert.deepEqual(await v2Ack(old, "relay", { to: "mixed", event: "bin", args: ["b", bytes, { nested: bytes }] }), [
    { ok: true },
  ]);
  const [s, b, o] = await got;
  assert.equal(s, "b");
  assert.ok(Buffer.isBuffer(b) && b.equals(bytes));
  assert.ok(Buffer.isBuffer(o.nested) && o.nested.equals(bytes));
});

test("EIO3 (websocket): binary arguments reach a socket.io-client@2 byte-exact", async (t) => {
  const srv = await useServer(t, [...RELAY, "--allow-eio3"]);
  const sender = await v4Ready(t, `${srv.url}/a`);
  const receiver = await v2Connected(t, `${srv.url}/a`, { transports: ["websocket"] });
  await sender.emitWithAck("rooms:join", { room: "bin" });
  await v2Ack(receiver, "rooms:join", { room: "bin" });
  const bytes = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
  const got = nextEvent(receiver, "bin");
  assert.deepEqual(await sender.emitWithAck("relay", { to: "bin", event: "bin", args: [bytes, { n: bytes }, "t"] }), { ok: true });
  const [b, o, s] = await got;
  assert.ok(Buffer.isBuffer(b) && b.equals(bytes));
  assert.ok(Buffer.isBuffer(o.n) && o.n.equals(bytes));
  assert.equal(s, "t");
});

test(
  "EIO3 (polling): binary arguments reach a socket.io-client@2 byte-exact",
  {
    todo:
      "server bug: on EIO3 polling, binary attachments are written EIO4-style as text packets " +
      "'b<base64>' (e.g. 'bAQID') where EIO3 needs a binary packet (or 'b4<base64>' with b64=1); " +
      "engineioxide Permit::emit_many pushes Packet::Binary, not Packet::BinaryV3. socket.io-client@2 " +
      "decodes 'A' as the packet type, loses the attachment, and throws 'got plaintext data when " +
      "reconstructing a packet' on the next text packet",
  },
  async (t) => {
    const srv = await useServer(t, [...RELAY, "--allow-eio3"]);
    const sender = await v4Ready(t, `${srv.url}/a`);
    const receiver = v2Socket(t, `${srv.url}/a`, { transports: ["polling"] });
    // socket.io-client@2 throws from its decoder on such payloads; turn that into a test failure.
    // (socket.emit would send to the server in v2, so the error goes through a promise.)
    let decodeError;
    const failed = new Promise((_, reject) => (decodeError = reject));
    failed.catch(() => {});
    const decoder = receiver.io.decoder;
    const add = decoder.add.bind(decoder);
    decoder.add = (data) => {
      try {
        add(data);
      } catch (err) {
        decodeError(new Error(`socket.io-client@2 could not decode the packet: ${err.message}`));
      }
    };
    await nextEvent(receiver, "connect");
    await ackOnceReady(receiver, "rooms:join", [{ room: "bin" }]);
    await sender.emitWithAck("rooms:join", { room: "bin" });
    const bytes = Buffer.from([1, 2, 3]);
    const got = nextEvent(receiver, "bin");
    assert.deepEqual(await sender.emitWithAck("relay", { to: "bin", event: "bin", args: [bytes] }), { ok: true });
    // A text event after it: must arrive after "bin" (and would expose a half-decoded packet).
    const after = nextEvent(receiver, "after");
    assert.deepEqual(await sender.emitWithAck("relay", { to: "bin", event: "after" }), { ok: true });
    got.catch(() => {});
    after.catch(() => {});
    const [b] = await Promise.race([got, failed]);
    await Promise.race([after, failed]);
    assert.ok(Buffer.isBuffer(b) && b.equals(bytes));
  },
);

for (const transports of [["polling"], ["websocket"]]) {
  test(`msgpack (${transports[0]}): socket.io-msgpack-parser clients exchange events, acks and binary`, async (t) => {
    const srv = await useServer(t, [...RELAY, "--parser", "msgpack"]);
    const opts = { parser: msgpackParser, transports };
    const a = await v4Ready(t, `${srv.url}/a`, opts);
    const b = await v4Ready(t, `${srv.url}/a`, opts);
    assert.deepEqual(await a.emitWithAck("rooms:join", { room: "mp" }), { ok: true, rooms: ["mp"] });
    assert.deepEqual(await b.emitWithAck("rooms:join", { room: "mp" }), { ok: true, rooms: ["mp"] });

    const bytes = Buffer.from([0, 1, 127, 128, 255]);
    const args = ["s", 1.5, -3, null, true, { nested: { bin: bytes, list: [1, "x"] } }, bytes];
    const got = nextEvent(b, "hello");
    assert.deepEqual(await a.emitWithAck("relay", { to: "mp", event: "hello", args }), { ok: true });
    const received = await got;
    assert.deepEqual(received, args);
    assert.ok(Buffer.isBuffer(received[6]) && received[6].equals(bytes));
    assert.ok(Buffer.isBuffer(received[5].nested.bin) && received[5].nested.bin.equals(bytes));

    // Server → client acks, binary included, collected for the sender.
    b.on("question", (q, cb) => cb({ echo: q, bin: bytes }));
    const reply = await a.timeout(5000).emitWithAck("relay", { to: "mp", event: "question", args: ["q"], ack: true });
    assert.equal(reply.ok, true);
    assert.equal(reply.acks.length, 1);
    assert.equal(reply.acks[0].echo, "q");
    assert.ok(Buffer.isBuffer(reply.acks[0].bin) && reply.acks[0].bin.equals(bytes));

    // include_self brings it back to the sender as well.
    const self = nextEvent(a, "again");
    assert.deepEqual(await a.emitWithAck("relay", { to: "mp", event: "again", args: [bytes], include_self: true }), {
      ok: true,
    });
    const [mine] = await self;
    assert.ok(Buffer.isBuffer(mine) && mine.equals(bytes));

    // Error acks keep their shape under msgpack.
    const bad = await a.emitWithAck("rooms:join", { room: "has space" });
    assert.equal(bad.ok, false);
    assert.equal(bad.error.code, "invalid_room");
    assert.equal(a.io.engine.transport.name, transports[0]);
  });
}
