// A client that cannot keep up is told, never left connected with holes.
//
// WebSocket: a real socket.io-client stops reading its TCP socket while a
// member of its /chat room keeps sending. The server must close that client's
// connection once it leaves more than --max-queued-bytes unread (counter,
// log line with its sid and cause), the client reconnects and, with
// `history {after}`, ends with every message; a bystander in the same room
// receives every message, in order, and is never disconnected.
//
// Long-polling: a client that stops polling while its room is busy fills its
// engine queue (--max-buffer-size packets, 64 here); the broadcast that finds it full
// closes the session, which answers "Session ID unknown" from then on.

import { test } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import { metric, request } from "./raw.mjs";
import { useServer, useSocket, connect, nextEvent, withTimeout } from "./harness.mjs";

const ROOM = "busy";

/** Joins `socket` to ROOM and records the id of every `message` it receives. */
async function member(socket) {
  const ids = [];
  socket.on("message", (m) => ids.push(m.id));
  const joined = await socket.emitWithAck("join", { room: ROOM });
  assert.equal(joined.ok, true, JSON.stringify(joined));
  return ids;
}

/** Every message of ROOM after `after`, paging `history`. */
async function catchUp(socket, after) {
  const ids = [];
  for (;;) {
    const page = await socket.emitWithAck("history", { room: ROOM, after, limit: 200 });
    assert.equal(page.ok, true, JSON.stringify(page));
    ids.push(...page.messages.map((m) => m.id));
    if (!page.has_more || page.messages.length === 0) return ids;
    after = page.messages.at(-1).id;
  }
}

const range = (n) => Array.from({ length: n }, (_, i) => i + 1);

test("a WebSocket client that stops reading is cut, reconnects and catches up; a bystander loses nothing", async (t) => {
  const server = await useServer(t, [
    "--max-queued-bytes", "65536",
    "--event-rate", "0",
    "--chat-max-message-chars", "40000",
    "--chat-history-size", "2000",
  ]);
  const opts = { transports: ["websocket"] };
  const bystander = await useSocket(t, `${server.url}/chat`, { ...opts, auth: { name: "Bystander" } });
  let bystanderDropped = false;
  bystander.on("disconnect", () => (bystanderDropped = true));
  const seenByBystander = await member(bystander);

  const slow = await connect(`${server.url}/chat`, {
    ...opts,
    auth: { name: "Slow" },
    reconnection: true,
    reconnectionDelay: 50,
    reconnectionDelayMax: 200,
  });
  t.after(() => slow.close());
  const seenBySlow = await member(slow);
  const sender = await useSocket(t, `${server.url}/chat`, { ...opts, auth: { name: "Sender" } });
  await member(sender);

  // The slow client stops reading its TCP socket: the kernel buffers fill, then the server's backlog.
  const tcp = slow.io.engine.transport.ws._socket;
  tcp.pause();
  const disconnected = nextEvent(slow, "disconnect", 60000);

  const text = "x".repeat(30000);
  let sent = 0;
  const cut = server.waitForLog(/slow consumer: closing its connection/, 60000);
  let isCut = false;
  cut.then(() => (isCut = true), () => {});
  // Send until the server has cut the slow client (bounded), then a few more.
  while (!isCut && sent < 1500) {
    const ack = await sender.emitWithAck("message", { room: ROOM, text });
    assert.equal(ack.ok, true, JSON.stringify(ack));
    sent = ack.id;
  }
  await cut;
  for (let i = 0; i < 10; i++) sent = (await sender.emitWithAck("message", { room: ROOM, text: `after ${i}` })).id;
  assert.equal(await metric(server.port, 'iorelay_slow_consumer_disconnects_total{transport="websocket"}'), 1);
  const [logLine] = await server.waitForLog(/socket disconnected.*cause="?slow_consumer/);
  assert.ok(logLine.includes(slow.id), `the disconnect line names the socket: ${logLine}`);

  // The client takes what reached its kernel, then learns its transport is gone.
  tcp.resume();
  const [reason] = await disconnected;
  assert.ok(["transport close", "transport error"].includes(reason), reason);
  await nextEvent(slow, "connect", 10000);
  await slow.emitWithAck("join", { room: ROOM });
  const lastSeen = seenBySlow.length ? Math.max(...seenBySlow) : 0;
  assert.ok(lastSeen < sent, "the slow client had missed messages when it was cut");
  // No gap in what it saw before the cut…
  assert.deepEqual(seenBySlow.slice(0, seenBySlow.indexOf(lastSeen) + 1), range(lastSeen));
  // …and history gives the rest.
  const missed = await catchUp(slow, lastSeen);
  assert.deepEqual([...new Set([...seenBySlow, ...missed])].sort((a, b) => a - b), range(sent));

  await withTimeout(
    (async () => {
      while (seenByBystander.length < sent) await nextEvent(bystander, "message", 10000);
    })(),
    20000,
    "bystander receives everything",
  );
  assert.deepEqual(seenByBystander, range(sent), "the bystander got every message once, in order");
  assert.equal(bystanderDropped, false, "the bystander was never disconnected");
});

test("a long-polling client that stops polling is closed when its queue fills; a bystander loses nothing", async (t) => {
  const server = await useServer(t, ["--max-buffer-size", "64", "--event-rate", "0"]);
  const bystander = await useSocket(t, `${server.url}/chat`, { transports: ["polling"], auth: { name: "Bystander" } });
  const seenByBystander = await member(bystander);
  const sender = await useSocket(t, `${server.url}/chat`, { transports: ["websocket"], auth: { name: "Sender" } });
  await member(sender);

  // A raw polling client: handshake, connect /chat, join, then never poll again.
  const open = await request(server.port, "GET", "/socket.io/?EIO=4&transport=polling");
  const sid = JSON.parse(open.text.slice(1)).sid;
  const path = `/socket.io/?EIO=4&transport=polling&sid=${sid}`;
  assert.equal((await request(server.port, "POST", path, { body: '40/chat,{"name":"Stuck"}' })).status, 200);
  let packets = "";
  while (!packets.includes("40/chat,")) packets += (await request(server.port, "GET", path)).text;
  assert.equal((await request(server.port, "POST", path, { body: `42/chat,1["join",{"room":"${ROOM}"}]` })).status, 200);
  while (!packets.includes("43/chat,1")) packets += (await request(server.port, "GET", path)).text;

  const cut = server.waitForLog(/slow consumer: its queue is full and it is not polling/, 20000);
  let isCut = false;
  cut.then(() => (isCut = true), () => {});
  let sent = 0;
  while (!isCut && sent < 400) sent = (await sender.emitWithAck("message", { room: ROOM, text: `m${sent + 1}` })).id;
  await cut;
  assert.ok(sent > 64 && sent < 400, `cut once its 64-packet queue was full (after ${sent})`);
  assert.equal(await metric(server.port, 'iorelay_slow_consumer_disconnects_total{transport="polling"}'), 1);
  // Its session is gone: the next poll is told so, and the client reconnects from scratch.
  const after = await request(server.port, "GET", path);
  assert.equal(after.status, 400, after.text);
  await withTimeout(
    (async () => {
      while (seenByBystander.length < sent) await nextEvent(bystander, "message", 10000);
    })(),
    20000,
    "bystander receives everything",
  );
  assert.deepEqual(seenByBystander, range(sent));
});

test("publishes and relays to a room with a stuck poller succeed for everyone; the stuck one is cut and counted", async (t) => {
  const API_KEY = "slow-consumer-api-key-0123456789";
  const server = await useServer(t, [
    "--max-buffer-size", "16",
    "--namespaces", "/feed",
    "--client-relay",
    "--api-keys", API_KEY,
    "--log-repeat-interval-ms", "2000",
  ]);
  const api = (body) =>
    new Promise((resolve, reject) => {
      const req = http.request(
        {
          host: "127.0.0.1",
          port: server.port,
          method: "POST",
          path: "/api/v1/emit",
          agent: false,
          headers: { "content-type": "application/json", authorization: `Bearer ${API_KEY}` },
        },
        (res) => {
          res.resume();
          res.on("end", () => resolve(res.statusCode));
        },
      );
      req.on("error", reject);
      req.end(JSON.stringify(body));
    });
  const bystander = await useSocket(t, `${server.url}/feed`, { transports: ["polling"] });
  const seen = [];
  bystander.on("to-slow", (n) => seen.push(n));
  assert.equal((await bystander.emitWithAck("rooms:join", { room: "slow" })).ok, true);

  // A polling session in room "slow" that never polls again.
  const open = await request(server.port, "GET", "/socket.io/?EIO=4&transport=polling");
  const path = `/socket.io/?EIO=4&transport=polling&sid=${JSON.parse(open.text.slice(1)).sid}`;
  await request(server.port, "POST", path, { body: "40/feed," });
  let packets = "";
  while (!packets.includes("40/feed,")) packets += (await request(server.port, "GET", path)).text;
  await request(server.port, "POST", path, { body: '42/feed,1["rooms:join",{"room":"slow"}]' });
  while (!packets.includes("43/feed,1")) packets += (await request(server.port, "GET", path)).text;

  const failedBefore = await metric(server.port, 'iorelay_delivery_failures_total{reason="channel_full"}');
  const statuses = [];
  for (let i = 0; i < 60; i++) statuses.push(await api({ namespace: "/feed", event: "to-slow", args: [i], rooms: "slow" }));
  assert.deepEqual([...new Set(statuses)], [200], "a recipient that cannot keep up fails nobody else's publish");
  const sender = await useSocket(t, `${server.url}/feed`, { transports: ["websocket"] });
  assert.equal((await sender.emitWithAck("rooms:join", { room: "slow" })).ok, true);
  for (let i = 60; i < 80; i++) {
    const ack = await sender.emitWithAck("relay", { to: "slow", event: "to-slow", args: [i] });
    assert.equal(ack.ok, true, JSON.stringify(ack));
  }
  assert.equal(await metric(server.port, 'iorelay_slow_consumer_disconnects_total{transport="polling"}'), 1);
  assert.ok((await metric(server.port, 'iorelay_delivery_failures_total{reason="channel_full"}')) > failedBefore);
  const lines = server.logs().split("\n").filter((l) => l.includes("could not take it"));
  assert.ok(lines.length >= 1 && lines.length <= 2, `failures logged once per interval: ${lines.length}`);
  assert.equal((await request(server.port, "GET", path)).status, 400, "the stuck session is gone");
  await withTimeout(
    (async () => {
      while (seen.length < 80) await nextEvent(bystander, "to-slow", 10000);
    })(),
    20000,
    "bystander receives everything",
  );
  assert.deepEqual(seen, Array.from({ length: 80 }, (_, i) => i));
});
