// Attacks on the transport layer, read off the code as an attacker would:
// continuing someone else's Engine.IO session from its (public) socket id,
// holding TCP connections without ever sending a request, dribbling header or
// body bytes, and opening more connections than an address may hold. After
// each one the attacker got the exact documented answer and a bystander
// socket.io-client kept receiving.

import { test } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import net from "node:net";
import WebSocket from "ws";
import { metric, request } from "./raw.mjs";
import { useServer, useSocket, nextEvent, withTimeout } from "./harness.mjs";

const API_KEY = "transport-suite-api-key-0123456789";
const UNKNOWN_SESSION = '{"code":"1","message":"Session ID unknown"}';

/** Resolves once a raw TCP socket is closed by the server (EOF or reset); rejects after `ms`. */
function closedWithin(socket, ms, what) {
  return withTimeout(
    new Promise((resolve) => {
      if (socket.destroyed || socket.readableEnded) return resolve();
      socket.once("close", resolve);
      socket.on("error", () => {});
      socket.resume();
    }),
    ms,
    what,
  );
}

function rawConnect(port) {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: "127.0.0.1", port }, () => resolve(socket));
    socket.once("error", reject);
  });
}

/** A bystander on `/` that records every `news` event pushed by the publish API. */
async function bystander(t, url) {
  const socket = await useSocket(t, url, { transports: ["websocket"] });
  const seen = [];
  socket.on("news", (n) => seen.push(n));
  return { socket, seen };
}

async function publish(port, n) {
  const res = await request(port, "POST", "/api/v1/emit", {
    headers: { "content-type": "application/json", authorization: `Bearer ${API_KEY}` },
    body: JSON.stringify({ namespace: "/", event: "news", args: [n] }),
  });
  assert.equal(res.status, 200, res.text);
}

test("a socket id opens nothing: polls, posts and upgrades that present it are refused", async (t) => {
  const server = await useServer(t, ["--api-keys", API_KEY]);
  // The victim stays on long-polling: the transport whose session can be continued by id.
  const victim = await useSocket(t, server.url, { transports: ["polling"] });
  const engineId = victim.io.engine.id;
  assert.notEqual(engineId, victim.id, "the engine session id is not the public socket id");
  assert.ok(engineId.startsWith(victim.id) && engineId.length === 38, engineId);
  const forgedBefore = await metric(server.port, "iorelay_forged_session_ids_total");

  const poll = (sid) => `/socket.io/?EIO=4&transport=polling&sid=${sid}`;
  // Read its traffic, kill it with a close packet, or race its long-poll: all by socket id.
  for (const attack of [
    () => request(server.port, "GET", poll(victim.id)),
    () => request(server.port, "POST", poll(victim.id), { body: "1" }),
    () => request(server.port, "POST", poll(victim.id), { body: '42["message","hi"]' }),
    () => request(server.port, "GET", poll(`${victim.id}${"A".repeat(22)}`)),
    () => request(server.port, "GET", `${poll("x")}&sid=${engineId}`.replace("sid=x", `sid=${victim.id}`)),
  ]) {
    const res = await attack();
    assert.equal(res.status, 400);
    assert.equal(res.text, UNKNOWN_SESSION);
  }
  // Upgrade its session to a WebSocket of our own.
  const ws = new WebSocket(`ws://127.0.0.1:${server.port}/socket.io/?EIO=4&transport=websocket&sid=${victim.id}`);
  const status = await new Promise((resolve) => {
    ws.once("unexpected-response", (_req, res) => resolve(res.statusCode));
    ws.once("open", () => resolve("open"));
    ws.once("error", () => resolve("error"));
  });
  assert.equal(status, 400, "the upgrade is refused before it reaches the engine");
  ws.terminate();

  assert.equal(await metric(server.port, "iorelay_forged_session_ids_total"), forgedBefore + 6);
  // The victim is untouched and still receives.
  assert.ok(victim.connected);
  const next = nextEvent(victim, "news");
  await publish(server.port, 7);
  assert.deepEqual(await next, [7]);
});

test("the rightful client upgrades with its own id and keeps receiving", async (t) => {
  const server = await useServer(t, ["--api-keys", API_KEY]);
  const socket = await useSocket(t, server.url);
  if (socket.io.engine.transport.name !== "websocket") {
    await nextEvent(socket.io.engine, "upgrade", 5000);
  }
  assert.equal(socket.io.engine.transport.name, "websocket");
  const next = nextEvent(socket, "news");
  await publish(server.port, 3);
  assert.deepEqual(await next, [3]);
});

test("silent and slow-header connections are closed after --header-read-timeout-ms", async (t) => {
  const server = await useServer(t, ["--api-keys", API_KEY, "--header-read-timeout-ms", "800"]);
  const watcher = await bystander(t, server.url);
  const silent = await Promise.all(Array.from({ length: 20 }, () => rawConnect(server.port)));
  const dribblers = await Promise.all(Array.from({ length: 20 }, () => rawConnect(server.port)));
  const started = Date.now();
  const timers = dribblers.map((s) => {
    s.write("GET / HTTP/1.1\r\nHost: x\r\n");
    return setInterval(() => !s.destroyed && s.write("X-Slow: a\r\n"), 200);
  });
  t.after(() => timers.forEach(clearInterval));
  await Promise.all([...silent, ...dribblers].map((s, i) => closedWithin(s, 5000, `connection ${i} closed`)));
  const elapsed = Date.now() - started;
  assert.ok(elapsed >= 700, `closed after the timeout, not before (${elapsed} ms)`);
  assert.ok((await metric(server.port, 'iorelay_connection_timeouts_total{timeout="header_read"}')) >= 40);
  // A bystander is unaffected.
  await publish(server.port, 1);
  await withTimeout(
    (async () => {
      while (!watcher.seen.includes(1)) await nextEvent(watcher.socket, "news");
    })(),
    5000,
    "bystander news",
  );
});

test("a request whose body trickles stops at --idle-timeout-ms", async (t) => {
  const server = await useServer(t, [
    "--api-keys", API_KEY, "--ping-interval-ms", "500", "--ping-timeout-ms", "500", "--idle-timeout-ms", "1000",
  ]);
  const socket = await rawConnect(server.port);
  // An authorised call, so the server waits for the whole body.
  socket.write(
    "POST /api/v1/emit HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n" +
      `Authorization: Bearer ${API_KEY}\r\nContent-Length: 100000\r\n\r\n{`,
  );
  let answered = "";
  socket.on("data", (d) => (answered += d));
  await closedWithin(socket, 5000, "the trickling request is closed");
  assert.equal(answered, "", "closed by the idle timeout, not answered");
  assert.ok((await metric(server.port, 'iorelay_connection_timeouts_total{timeout="idle"}')) >= 1);
  // A long-poll, silent for a whole ping interval, is not idle.
  const res = await request(server.port, "GET", "/socket.io/?EIO=4&transport=polling");
  assert.equal(res.status, 200);
});

test("TCP connections per address are capped at accept, and the slots come back", async (t) => {
  const server = await useServer(t, ["--max-tcp-connections-per-ip", "5", "--header-read-timeout-ms", "30000"]);
  const held = await Promise.all(Array.from({ length: 5 }, () => rawConnect(server.port)));
  const extra = await rawConnect(server.port);
  await closedWithin(extra, 3000, "the sixth connection is closed at once");
  assert.ok(held.every((s) => !s.destroyed), "the five admitted ones stay open");
  assert.equal(await new Promise((resolve) => {
    // /metrics itself needs a slot: none is left while five are held.
    const s = net.connect({ host: "127.0.0.1", port: server.port });
    s.on("close", () => resolve("closed"));
    s.on("error", () => {});
  }), "closed");
  for (const s of held) s.destroy();
  // Once released, a request gets through and the refusals were counted.
  const refused = await withTimeout(
    (async () => {
      for (;;) {
        try {
          return await metric(server.port, 'iorelay_rate_limited_total{limit="tcp_connections_per_ip"}');
        } catch {
          // No event tells when the server has noticed the closes: retry shortly.
          await new Promise((r) => setTimeout(r, 20));
        }
      }
    })(),
    5000,
    "a slot comes back",
  );
  assert.ok(refused >= 2, `refusals counted: ${refused}`);
});

test("a stuck upgrade cannot get healthy long-pollers cut: only the stuck session is closed", async (t) => {
  // The attacker opens a session, starts a WebSocket upgrade it never finishes (the engine
  // then holds its queue and answers its polls with a no-op) and keeps polling, so its queue
  // fills while it looks busy. Broadcasts that find it full must close it, not a bystander.
  const server = await useServer(t, ["--api-keys", API_KEY, "--max-buffer-size", "64", "--event-rate", "0"]);
  const victims = [];
  for (let i = 0; i < 5; i++) {
    const v = await useSocket(t, server.url, { transports: ["polling"] });
    v.dropped = null;
    v.on("disconnect", (reason) => (v.dropped = reason));
    victims.push(v);
  }
  const open = await request(server.port, "GET", "/socket.io/?EIO=4&transport=polling");
  const id = JSON.parse(open.text.slice(1)).sid;
  const poll = `/socket.io/?EIO=4&transport=polling&sid=${id}`;
  await request(server.port, "POST", poll, { body: "40" });
  await request(server.port, "GET", poll);
  const ws = new WebSocket(`ws://127.0.0.1:${server.port}/socket.io/?EIO=4&transport=websocket&sid=${id}`);
  await new Promise((resolve, reject) => {
    ws.once("open", resolve);
    ws.once("error", reject);
  });
  ws.on("error", () => {});
  t.after(() => ws.terminate());
  let polling = true;
  const agent = new http.Agent({ keepAlive: true, maxSockets: 8 });
  const loop = async () => {
    while (polling) {
      await new Promise((resolve) => {
        const r = http.get({ host: "127.0.0.1", port: server.port, agent, path: poll }, (res) => {
          res.resume();
          res.on("end", resolve);
        });
        r.on("error", resolve);
      });
    }
  };
  const loops = Array.from({ length: 8 }, loop);
  const cut = server.waitForLog(/slow consumer: its queue is full/, 20000);
  let isCut = false;
  cut.then(() => (isCut = true), () => {});
  for (let n = 0; !isCut && n < 400; n++) await publish(server.port, n);
  await cut;
  polling = false;
  await Promise.all(loops);
  agent.destroy();
  assert.match(server.logs(), new RegExp(`slow consumer: its queue is full[^\\n]*${id.slice(0, 16)}`));
  assert.equal(await metric(server.port, 'iorelay_slow_consumer_disconnects_total{transport="polling"}'), 1);
  assert.deepEqual(victims.map((v) => v.dropped), victims.map(() => null), "no healthy poller was cut");
});

test("a keep-alive connection that carried a handshake is closed (FIN) at the header-read timeout", async (t) => {
  const server = await useServer(t, ["--header-read-timeout-ms", "800"]);
  for (const first of ["/healthz", "/socket.io/?EIO=4&transport=polling"]) {
    const socket = await rawConnect(server.port);
    let answer = "";
    socket.on("data", (d) => (answer += d));
    socket.write(`GET ${first} HTTP/1.1\r\nHost: x\r\n\r\n`);
    await closedWithin(socket, 5000, `the idle keep-alive connection after ${first} is closed`);
    assert.match(answer, /^HTTP\/1\.1 200/, first);
  }
});

test("WebSockets count under the TCP caps for as long as they are open", async (t) => {
  const server = await useServer(t, ["--max-tcp-connections-per-ip", "4"]);
  const held = [];
  for (let i = 0; i < 4; i++) held.push(await useSocket(t, server.url, { transports: ["websocket"] }));
  const refused = await rawConnect(server.port);
  await closedWithin(refused, 3000, "a fifth connection is closed at accept while four WebSockets are open");
  held[0].close();
  // Its slot comes back once its socket is really closed.
  await withTimeout(
    (async () => {
      for (;;) {
        const s = await rawConnect(server.port);
        const answered = await new Promise((resolve) => {
          let data = "";
          s.on("data", (d) => (data += d));
          s.on("close", () => resolve(data.startsWith("HTTP/1.1 200")));
          s.on("error", () => resolve(false));
          s.write("GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        });
        if (answered) return;
        await new Promise((r) => setTimeout(r, 20));
      }
    })(),
    5000,
    "a slot freed by a closed WebSocket",
  );
});

test("a trickled engine POST ends at --body-read-timeout-ms", async (t) => {
  const server = await useServer(t, ["--body-read-timeout-ms", "1000"]);
  const open = await request(server.port, "GET", "/socket.io/?EIO=4&transport=polling");
  const id = JSON.parse(open.text.slice(1)).sid;
  const socket = await rawConnect(server.port);
  let answer = "";
  socket.on("data", (d) => (answer += d));
  socket.write(
    `POST /socket.io/?EIO=4&transport=polling&sid=${id} HTTP/1.1\r\nHost: x\r\n` +
      "Content-Type: text/plain\r\nContent-Length: 1000\r\n\r\n4",
  );
  const timer = setInterval(() => !socket.destroyed && socket.write("2"), 200);
  t.after(() => clearInterval(timer));
  await closedWithin(socket, 5000, "the trickling POST is ended");
  assert.match(answer, /^HTTP\/1\.1 4\d\d/, "answered with an error");
  assert.ok((await metric(server.port, 'iorelay_connection_timeouts_total{timeout="body_read"}')) >= 1);
});
