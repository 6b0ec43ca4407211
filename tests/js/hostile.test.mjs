// Hostile clients against one running iorelay. After every attack the
// server is still alive, the attacker got the exact documented answer, and
// the well-behaved clients connected beside it (two /chat users and a /feed
// subscriber) kept working: at the end, every chat message one of them sent
// during the suite reached the other exactly once, in order.
//
// Attackers that must not share a rate limit with the bystanders connect from
// other loopback addresses (127.0.0.2, …), which Linux routes like 127.0.0.1.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import net from "node:net";
import crypto from "node:crypto";
import { spawnSync } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { startServer, connect, connectError, nextEvent, withTimeout, ackOnceReady } from "./harness.mjs";
import * as raw from "./raw.mjs";
import { pollPath, nowSecs } from "./raw.mjs";

const SECRET = "hostile-suite-secret-0123456789abcdef";
const API_KEY = "hostile-suite-api-key-0123456789";
const ARGS = [
  "--jwt-secret", SECRET,
  "--private-namespaces", "/notifications",
  "--dev-auth",
  "--namespaces", "/feed",
  "--client-relay",
  "--api-keys", API_KEY,
  "--max-payload", "100000",
  "--event-rate", "50",
  "--event-burst", "100",
  "--rate-limit-disconnect-after", "150",
  "--handshake-rate", "20",
  "--handshake-burst", "60",
  "--max-connections-per-ip", "30",
];

let server;
let alice;
let bob;
let feed;
const sent = [];
const received = [];
const news = [];

// ---------- raw HTTP / WebSocket helpers (tests/js/raw.mjs, on this suite's server) ----------

const request = (method, path, opts) => raw.request(server.port, method, path, opts);
const handshake = (localAddress) => raw.handshake(server.port, localAddress);
const pollFor = (sid, re, localAddress) => raw.pollFor(server.port, sid, re, localAddress);
const rawWs = (opts) => raw.rawWs(server.port, opts);
const rawSocketIo = (opts) => raw.rawSocketIo(server.port, opts);
const signToken = (claims, secret = SECRET) => raw.signToken(claims, secret);

async function metricsText() {
  const res = await request("GET", "/metrics");
  assert.equal(res.status, 200);
  return res.text;
}

// ---------- bystanders ----------

/** The bystanders still work: a chat message and a backend push both arrive, health answers. */
async function bystandersWork(label) {
  const text = `${label} #${sent.length + 1}`;
  sent.push(text);
  const arrived = new Promise((resolve) => {
    const onMessage = (m) => {
      if (m.text === text) {
        bob.off("message", onMessage);
        resolve();
      }
    };
    bob.on("message", onMessage);
  });
  const ack = await alice.timeout(5000).emitWithAck("message", { room: "lobby", text });
  assert.equal(ack.ok, true, `${label}: bystander message refused: ${JSON.stringify(ack)}`);
  await withTimeout(arrived, 5000, `${label}: bystander message`);

  const seq = news.length + 1;
  const pushed = nextEvent(feed, "news");
  const api = await request("POST", "/api/v1/emit", {
    headers: { "content-type": "application/json", "x-api-key": API_KEY },
    body: JSON.stringify({ namespace: "/feed", event: "news", args: [{ seq }] }),
  });
  assert.equal(api.status, 200, api.text);
  const [item] = await pushed;
  assert.deepEqual(item, { seq });

  const health = await request("GET", "/healthz");
  assert.equal(health.status, 200);
  assert.equal(server.proc.exitCode, null, "server process is alive");
}

before(async () => {
  server = await startServer(ARGS);
  alice = await connect(`${server.url}/chat`, { auth: { name: "Alice" } });
  bob = await connect(`${server.url}/chat`, { auth: { name: "Bob" } });
  feed = await connect(`${server.url}/feed`);
  feed.on("news", (n) => news.push(n));
  bob.on("message", (m) => {
    if (m.room === "lobby") received.push(m.text);
  });
  for (const s of [alice, bob]) {
    const joined = await s.timeout(5000).emitWithAck("join", { room: "lobby" });
    assert.equal(joined.ok, true);
  }
  await bystandersWork("start");
});

after(async () => {
  for (const s of [alice, bob, feed]) s?.close();
  await server?.stop();
});

// ---------- attacks ----------

test("malformed Engine.IO requests over polling get 400 with the engine's code", async () => {
  const cases = [
    ["GET", "/socket.io/?EIO=4&transport=bogus", undefined, 400, '{"code":"0","message":"Transport unknown"}'],
    ["GET", "/socket.io/?EIO=9&transport=polling", undefined, 400, null],
    ["GET", "/socket.io/?transport=polling", undefined, 400, null],
    ["POST", pollPath("does-not-exist"), "4hello", 400, '{"code":"1","message":"Session ID unknown"}'],
  ];
  for (const [method, path, body, status, text] of cases) {
    const res = await request(method, path, { body });
    assert.equal(res.status, status, `${method} ${path}: ${res.text}`);
    if (text) assert.equal(res.text, text);
  }
  // A garbage packet type and invalid UTF-8 each end their own session, nobody else's.
  for (const body of [Buffer.from("9garbage"), Buffer.from([0xff, 0xfe, 0xfd])]) {
    const sid = await handshake();
    const post = await request("POST", pollPath(sid), { body });
    assert.ok([200, 400].includes(post.status), `POST answered ${post.status}`);
    const poll = await request("GET", pollPath(sid));
    assert.ok(
      poll.status === 400 || poll.text === "1" || poll.text.endsWith("\x1e1"),
      `session still open after a bad packet: ${poll.status} ${JSON.stringify(poll.text)}`,
    );
  }
  // Malformed Socket.IO packets over polling close the session the same way.
  for (const packet of ["42{}", "4abc", '42["message",{', "42[1]"]) {
    const sid = await handshake();
    assert.equal((await request("POST", pollPath(sid), { body: "40" })).text, "ok");
    assert.ok((await pollFor(sid, /^40\{"sid"/)).some((p) => p.startsWith('40{"sid"')));
    assert.equal((await request("POST", pollPath(sid), { body: packet })).text, "ok");
    // The session ends at once: a poll gets its close packet or finds it gone.
    const frames = await pollFor(sid, /^1$/);
    assert.ok(frames.length === 0 || frames.at(-1) === "1", `${packet}: ${JSON.stringify(frames)}`);
    assert.equal((await request("GET", pollPath(sid))).status, 400, `${packet}: session is gone`);
  }
  await bystandersWork("polling garbage");
});

test("malformed Socket.IO packets and invalid JSON close the offending WebSocket", async () => {
  // Each gets the Engine.IO close packet, then the WebSocket closes.
  for (const packet of ["42{}", "4abc", '42["message",{', "42[]", "42[1]", "4"]) {
    const c = await rawSocketIo();
    c.ws.send(packet);
    const frames = [];
    for (let f = await c.next(); f !== null; f = await c.next()) frames.push(f);
    assert.equal(frames.at(-1), "1", `${packet}: ${JSON.stringify(frames)}`);
    assert.equal(typeof (await c.closes()), "number", `${packet} did not close the connection`);
  }
  // A CONNECT whose auth is not JSON is refused like a missing name; the connection stays.
  const c = await rawSocketIo();
  c.ws.send("40/chat,{bad");
  assert.equal(
    await c.next(),
    '44/chat,{"message":"invalid_name: the handshake auth must be an object like {\\"name\\": \\"Ada\\"}"}',
  );
  // A ping with junk after it is ignored; the connection still serves.
  c.ws.send("2probe-but-not-a-probe");
  c.ws.send("40/feed,");
  assert.match(await c.next(), /^40\/feed,\{"sid":"/);
  c.ws.terminate();
  await bystandersWork("ws garbage");
});

test("invalid UTF-8 in a text frame and stray binary frames close the connection", async () => {
  const c = await rawSocketIo();
  // ws validates what it sends, so write a raw masked text frame with bad UTF-8 bytes.
  const payload = Buffer.from([0xc3, 0x28, 0xff]);
  const mask = crypto.randomBytes(4);
  const masked = Buffer.from(payload.map((b, i) => b ^ mask[i % 4]));
  c.ws._socket.write(Buffer.concat([Buffer.from([0x81, 0x80 | payload.length]), mask, masked]));
  assert.equal(typeof (await c.closes()), "number", "invalid UTF-8 closes the connection");

  const stray = await rawSocketIo();
  stray.ws.send(Buffer.from([1, 2, 3]), { binary: true });
  assert.equal(typeof (await stray.closes()), "number", "binary frame without a binary packet");
  await bystandersWork("utf-8");
});

test("oversized payloads: 413 over polling, close over WebSocket", async () => {
  const sid = await handshake();
  const big = "4" + "x".repeat(200_000);
  const res = await request("POST", pollPath(sid), { body: big });
  assert.equal(res.status, 413);
  const c = await rawSocketIo();
  c.ws.send(`42["message","${"y".repeat(200_000)}"]`);
  assert.equal(typeof (await c.closes()), "number", "a message over --max-payload closes the connection");
  await bystandersWork("oversized");
});

test("binary attachment floods are bounded: too many declared attachments close the connection", async () => {
  const c = await rawSocketIo();
  c.ws.send('4520000-["message",{"_placeholder":true,"num":0}]');
  assert.equal(typeof (await c.closes()), "number", "20 000 declared attachments");

  // Many small attachments, each packet complete: handled (echo-free namespace), connection stays up.
  const d = await rawSocketIo();
  for (let i = 0; i < 200; i++) {
    d.ws.send('451-["unknown-event",{"_placeholder":true,"num":0}]');
    d.ws.send(crypto.randomBytes(512), { binary: true });
  }
  d.ws.send("3"); // harmless pong
  d.ws.terminate();
  await bystandersWork("binary flood");
});

test("thousands of namespaces get 'Invalid namespace' each; rooms stop at the per-socket cap", async () => {
  const c = await rawSocketIo();
  // In batches: answers beyond the connection's packet buffer (--max-buffer-size) would be dropped.
  const N = 2000;
  const BATCH = 100;
  for (let start = 0; start < N; start += BATCH) {
    for (let i = start; i < start + BATCH; i++) c.ws.send(`40/nope-${i},`);
    for (let i = start; i < start + BATCH; i++) {
      assert.equal(await c.next(), `44/nope-${i},{"message":"Invalid namespace"}`);
    }
  }
  c.ws.terminate();

  const relay = await connect(`${server.url}/feed`, { transports: ["websocket"] });
  try {
    // Handlers are registered just after the CONNECT answer: wait until they answer.
    const [first] = await ackOnceReady(relay, "rooms:join", [{ room: "r0" }]);
    assert.equal(first.ok, true);
    for (let i = 1; i < 50; i++) {
      const ack = await relay.timeout(5000).emitWithAck("rooms:join", { room: `r${i}` });
      assert.equal(ack.ok, true, JSON.stringify(ack));
    }
    const over = await relay.timeout(5000).emitWithAck("rooms:join", { room: "one-too-many" });
    assert.equal(over.ok, false);
    assert.equal(over.error.code, "too_many_rooms");
  } finally {
    relay.close();
  }
  await bystandersWork("namespaces and rooms");
});

test("an event flood is rate limited, answered with error rate_limited, then disconnected", async () => {
  const flooder = await connect(`${server.url}/chat`, { auth: { name: "Flood" }, transports: ["websocket"] });
  await ackOnceReady(flooder, "rooms");
  const errors = [];
  flooder.on("error", (e) => errors.push(e));
  const disconnected = nextEvent(flooder, "disconnect", 10000);
  const acks = [];
  const started = performance.now();
  for (let i = 0; i < 400; i++) flooder.emit("rooms", (a) => acks.push(a));
  const sid = flooder.id;
  const [reason] = await disconnected;
  const elapsed = (performance.now() - started) / 1000;
  // The server disconnects the namespace socket after sending the notice. If more of the
  // flooder's events are still arriving for it, socketioxide then closes the whole
  // connection at once and what was still queued for the client (notice included) is lost.
  if (reason === "io server disconnect") {
    assert.ok(errors.length >= 1, `got the error event (${acks.length} acks)`);
    assert.ok(errors.every((e) => e.code === "rate_limited" && typeof e.message === "string"), JSON.stringify(errors));
    assert.equal(errors.at(-1).message, "too many events for too long: disconnected");
  } else {
    assert.equal(reason, "transport close");
  }
  const listing = await request("GET", `/api/v1/namespaces/chat/rooms/${sid}/sockets`, {
    headers: { "x-api-key": API_KEY },
  });
  assert.deepEqual(JSON.parse(listing.text).sockets, [], "the flooder's socket is gone");
  // Acks of handled events may lose the race with the disconnect; dropped ones never come.
  assert.ok(acks.every((a) => a.ok === true), JSON.stringify(acks.find((a) => !a.ok)));
  // Burst 100, then 50/s: anything beyond was dropped without an ack.
  const allowed = 100 + Math.ceil(50 * elapsed) + 1;
  assert.ok(acks.length <= allowed, `dropped events are not acknowledged: ${acks.length} acks > ${allowed}`);
  flooder.close();
  await bystandersWork("event flood");
});

test("slow and never-finishing requests stall nobody else", async () => {
  const from = "127.0.0.4";
  // Long polls held open and never read.
  const held = [];
  for (let i = 0; i < 20; i++) {
    const sid = await handshake(from);
    const req = http.request({ host: "127.0.0.1", port: server.port, path: pollPath(sid), localAddress: from, agent: false });
    req.on("error", () => {});
    req.end();
    held.push(req);
  }
  // A second concurrent poll on one session is a protocol error: 400, and the session ends.
  // A POST that announces 50 kB and sends 10 bytes, and a request line that never ends.
  const slowPost = net.connect({ host: "127.0.0.1", port: server.port, localAddress: from });
  const sid2 = await handshake(from);
  slowPost.on("error", () => {});
  slowPost.write(`POST ${pollPath(sid2)} HTTP/1.1\r\nHost: x\r\nContent-Length: 50000\r\n\r\n4partial..`);
  const slowloris = net.connect({ host: "127.0.0.1", port: server.port, localAddress: from });
  slowloris.on("error", () => {});
  slowloris.write("GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: x\r\nX-Slow: ");
  await bystandersWork("slow requests");
  for (const r of held) r.destroy();
  slowPost.destroy();
  slowloris.destroy();
});

test("expired, forged and missing tokens are refused with their code; a valid one connects", async () => {
  const url = `${server.url}/notifications`;
  const missing = await connectError(url);
  assert.equal(missing.message, "token_missing: this namespace requires a token (auth.token, Authorization: Bearer or ?token=)");
  const expired = await connectError(url, { auth: { token: signToken({ sub: "u1", exp: nowSecs() - 3600 }) } });
  assert.equal(expired.message, "token_expired: the token has expired");
  const forged = await connectError(url, { auth: { token: signToken({ sub: "u1", exp: nowSecs() + 600 }, "not-the-secret-not-the-secret-0000") } });
  assert.equal(forged.message, "token_invalid: the signature does not match");
  const none = await connectError(url, { auth: { token: "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJzdWIiOiJ1IiwiZXhwIjo5OTk5OTk5OTk5fQ." } });
  assert.match(none.message, /^token_invalid: /);
  const junk = await connectError(url, { auth: { token: 42 } });
  assert.equal(junk.message, "token_invalid: auth.token must be a string");
  // On a public namespace, a bad token is refused too (never silently a guest).
  const chat = await connectError(`${server.url}/chat`, { auth: { name: "Eve", token: "a.b.c" } });
  assert.match(chat.message, /^token_invalid: /);

  const minted = await request("POST", "/auth/dev-token", {
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ name: "Carol" }),
  });
  assert.equal(minted.status, 200);
  const { token } = JSON.parse(minted.text);
  for (const opts of [{ auth: { token } }, { query: { token } }, { extraHeaders: { authorization: `Bearer ${token}` }, transports: ["polling"] }]) {
    const ok = await connect(url, opts);
    const sub = await ok.timeout(5000).emitWithAck("subscribe", { topic: "news" });
    assert.equal(sub.ok, true);
    ok.close();
  }
  // The token's identity wins over a guest name.
  const carol = await connect(`${server.url}/chat`, { auth: { token, name: "Mallory" } });
  const joined = await carol.timeout(5000).emitWithAck("join", { room: "identity-check" });
  assert.deepEqual(joined.members, [{ id: "dev:carol", name: "Carol" }]);
  carol.close();
  await bystandersWork("tokens");
});

test("a flood of CONNECTs with bad tokens is refused, then rate limited", async () => {
  const c = await rawSocketIo();
  // One at a time: socketioxide silently ignores a CONNECT that arrives while the
  // previous one to the same namespace is still finishing, so an unanswered one is sent again.
  const answers = [];
  while (answers.length < 300) {
    c.ws.send('40/notifications,{"token":"not-a-token"}');
    const answer = await c.nextWithin(200);
    assert.notEqual(answer, null, "the connection was closed");
    if (answer !== undefined) answers.push(answer);
  }
  const invalid = '44/notifications,{"message":"token_invalid: the token is malformed"}';
  const limited = '44/notifications,{"message":"rate_limited: too many connection attempts; slow down"}';
  assert.equal(answers[0], invalid);
  assert.ok(answers.every((a) => a === invalid || a === limited), JSON.stringify([...new Set(answers)]));
  assert.ok(answers.includes(limited), "CONNECTs over the connection's rate are refused without a token check");
  c.ws.terminate();
  await bystandersWork("connect flood");
});

test("wrong or missing API keys get 401 unauthorized", async () => {
  const body = JSON.stringify({ namespace: "/feed", event: "news", args: [{ seq: -1 }] });
  for (const headers of [{}, { "x-api-key": "wrong-key-wrong-key-wrong" }, { authorization: `Bearer ${API_KEY}x` }, { authorization: `Basic ${API_KEY}` }]) {
    const res = await request("POST", "/api/v1/emit", { headers: { "content-type": "application/json", ...headers }, body });
    assert.equal(res.status, 401, JSON.stringify(headers));
    assert.equal(JSON.parse(res.text).error.code, "unauthorized");
  }
  await bystandersWork("api keys");
  assert.ok(!news.some((n) => n.seq === -1), "a refused emit was not delivered");
});

test("a foreign origin is refused on polling and WebSocket, and gets no CORS headers", async () => {
  const origin = { origin: "http://evil.example" };
  const poll = await request("GET", "/socket.io/?EIO=4&transport=polling", { headers: origin });
  assert.equal(poll.status, 403);
  assert.deepEqual(JSON.parse(poll.text), { code: "origin_not_allowed", message: "Origin not allowed" });
  assert.equal(poll.headers["access-control-allow-origin"], undefined);
  const preflight = await request("OPTIONS", "/socket.io/?EIO=4&transport=polling", {
    headers: { ...origin, "access-control-request-method": "POST" },
  });
  assert.equal(preflight.headers["access-control-allow-origin"], undefined);
  const c = rawWs({ headers: origin });
  await assert.rejects(c.opened, (e) => e.status === 403);
  await bystandersWork("cors");
});

test("connection limits per address and handshake rate answer 429 with a JSON code", async () => {
  const from = "127.0.0.2";
  const sids = [];
  for (let i = 0; i < 30; i++) sids.push(await handshake(from));
  // The session that will close connects to a namespace first: socketioxide holds a
  // session that never connected until the connect timeout, and its slot with it.
  const connected = await request("POST", pollPath(sids.at(-1)), { body: "40", localAddress: from });
  assert.equal(connected.text, "ok");
  const answer = await pollFor(sids.at(-1), /^40\{"sid"/, from);
  assert.ok(answer.some((p) => p.startsWith('40{"sid"')), JSON.stringify(answer));
  const over = await request("GET", "/socket.io/?EIO=4&transport=polling", { localAddress: from });
  assert.equal(over.status, 429);
  assert.equal(JSON.parse(over.text).code, "too_many_connections");
  // Closing one frees its slot.
  await request("POST", pollPath(sids.pop()), { body: "1", localAddress: from });
  const again = await withTimeout(
    (async () => {
      for (;;) {
        const res = await request("GET", "/socket.io/?EIO=4&transport=polling", { localAddress: from });
        if (res.status === 200) return res;
        await new Promise((r) => setTimeout(r, 20));
      }
    })(),
    5000,
    "slot freed after close",
  );
  assert.equal(again.status, 200);

  const rater = "127.0.0.3";
  const statuses = [];
  for (let i = 0; i < 80; i++) {
    const res = await request("GET", "/socket.io/?EIO=4&transport=polling", { localAddress: rater });
    statuses.push(res.status);
    if (res.status === 429) {
      assert.equal(JSON.parse(res.text).code, "rate_limited");
      assert.equal(res.headers["retry-after"], "1");
      break;
    }
    // Connected sessions free their slot as soon as they close (see above).
    const sid = JSON.parse(res.text.slice(1)).sid;
    await request("POST", pollPath(sid), { body: "40", localAddress: rater });
    await pollFor(sid, /^40\{"sid"/, rater);
    await request("POST", pollPath(sid), { body: "1", localAddress: rater });
  }
  assert.equal(statuses.at(-1), 429, `never rate limited: ${statuses.length} handshakes`);
  await bystandersWork("connection limits");
});

test("a full node answers 503 server_full and admits again once a connection ends", async () => {
  const small = await startServer(["--max-connections", "2"]);
  try {
    const get = () =>
      new Promise((resolve, reject) => {
        http
          .get({ host: "127.0.0.1", port: small.port, path: "/socket.io/?EIO=4&transport=polling", agent: false }, (res) => {
            let text = "";
            res.on("data", (c) => (text += c));
            res.on("end", () => resolve({ status: res.statusCode, text }));
          })
          .on("error", reject);
      });
    const a = await get();
    const b = await get();
    assert.deepEqual([a.status, b.status], [200, 200]);
    const full = await get();
    assert.equal(full.status, 503);
    assert.equal(JSON.parse(full.text).code, "server_full");
  } finally {
    await small.stop();
  }
  await bystandersWork("node cap");
});

test("behind a trusted proxy, X-Forwarded-For is the address that is limited", async () => {
  const proxied = await startServer(["--trusted-proxies", "127.0.0.1", "--max-connections-per-ip", "1"]);
  try {
    const get = (forwardedFor, localAddress = "127.0.0.1") =>
      new Promise((resolve, reject) => {
        http
          .get(
            {
              host: "127.0.0.1",
              port: proxied.port,
              path: "/socket.io/?EIO=4&transport=polling",
              headers: { "x-forwarded-for": forwardedFor },
              localAddress,
              agent: false,
            },
            (res) => {
              res.resume();
              res.on("end", () => resolve(res.statusCode));
            },
          )
          .on("error", reject);
      });
    assert.equal(await get("203.0.113.1"), 200);
    assert.equal(await get("203.0.113.1"), 429, "same client behind the proxy");
    assert.equal(await get("203.0.113.2"), 200, "another client behind the same proxy");
    assert.equal(await get("6.6.6.6, 203.0.113.1"), 429, "a spoofed leftmost entry changes nothing");
    // From an untrusted peer the header proves nothing: the peer itself is limited.
    assert.equal(await get("203.0.113.3", "127.0.0.5"), 200);
    assert.equal(await get("203.0.113.4", "127.0.0.5"), 429);
  } finally {
    await proxied.stop();
  }
});

/** /metrics through prometheus_client's parser (tests/python/parse_metrics.py in tests/.venv). */
async function parsedMetrics() {
  const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
  const python = process.env.IORELAY_TEST_PYTHON ?? path.join(root, "tests/.venv/bin/python");
  const parsed = spawnSync(python, [path.join(root, "tests/python/parse_metrics.py")], {
    input: await metricsText(),
    encoding: "utf8",
  });
  assert.equal(parsed.status, 0, `the Prometheus parser refused /metrics: ${parsed.stderr}`);
  return JSON.parse(parsed.stdout);
}

test("/metrics parses as Prometheus text and shows what happened", async () => {
  const families = await parsedMetrics();
  // prometheus_client names counter families without their _total suffix.
  const expected = {
    iorelay_connected_sockets: "gauge",
    iorelay_engine_connections: "gauge",
    iorelay_connects: "counter",
    iorelay_disconnects: "counter",
    iorelay_events_received: "counter",
    iorelay_events_sent: "counter",
    iorelay_broadcast_recipients: "histogram",
    iorelay_rate_limited: "counter",
    iorelay_flood_disconnects: "counter",
    iorelay_auth_failures: "counter",
    iorelay_api_requests: "counter",
    iorelay_event_handling_seconds: "histogram",
    iorelay_publish_delivery_seconds: "histogram",
  };
  for (const [name, type] of Object.entries(expected)) {
    assert.ok(families[name], `${name} missing from /metrics`);
    assert.equal(families[name].type, type, name);
  }
  const value = (sample, labels) => {
    const family = Object.values(families).find((f) => f.samples.some((s) => s.name === sample));
    const found = family?.samples.find(
      (s) => s.name === sample && Object.entries(labels).every(([k, v]) => s.labels[k] === v),
    );
    return found?.value ?? 0;
  };
  for (const code of ["token_missing", "token_expired", "token_invalid"]) {
    assert.ok(value("iorelay_auth_failures_total", { code }) >= 1, code);
  }
  for (const limit of ["event_rate", "handshake_rate", "connections_per_ip", "connect_rate"]) {
    assert.ok(value("iorelay_rate_limited_total", { limit }) >= 1, limit);
  }
  assert.ok(value("iorelay_flood_disconnects_total", {}) >= 1);
  assert.ok(value("iorelay_api_requests_total", { route: "/api/v1/emit", status: "401" }) >= 4);
  assert.ok(value("iorelay_api_requests_total", { route: "/api/v1/emit", status: "200" }) >= 1);
  assert.equal(
    value("iorelay_connected_sockets", { namespace: "/feed", transport: "websocket" }) +
      value("iorelay_connected_sockets", { namespace: "/feed", transport: "polling" }),
    1,
    "only the feed bystander is left on /feed",
  );
  assert.ok(value("iorelay_event_handling_seconds_count", { namespace: "/chat" }) >= 1, "chat events are timed");
  assert.ok(value("iorelay_publish_delivery_seconds_count", { operation: "emit" }) >= 1, "publishes are timed");
  assert.ok(value("iorelay_broadcast_recipients_count", { namespace: "/feed" }) >= 1, "fan-out is recorded");
  assert.ok(value("iorelay_events_received_total", { namespace: "/chat", outcome: "rate_limited" }) >= 1);
});

test("no bystander message was lost or duplicated", async () => {
  await bystandersWork("final");
  assert.deepEqual(received, sent);
  assert.deepEqual(
    news.map((n) => n.seq),
    Array.from({ length: news.length }, (_, i) => i + 1),
  );
});
