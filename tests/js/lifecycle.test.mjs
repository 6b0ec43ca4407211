// Process and HTTP surface around the Socket.IO engine: /healthz and /readyz
// JSON; SIGTERM/SIGINT drain (exit code 0, clients see a reconnectable
// disconnect reason, /readyz 503 and /healthz 200 while draining, bounded by
// --shutdown-timeout-ms, sessions outside any namespace); the origin policy (same-origin only by default with
// 403 JSON for foreign origins on polling and WebSocket, --cors-origins
// allowlist and `*` with Access-Control-Allow-Origin); payloads over
// --max-payload (413 for a polling POST, the offending client is cut off,
// the others keep working); and static files (--static-dir, index.html
// fallback, no path traversal).

import { test } from "node:test";
import assert from "node:assert/strict";
import net from "node:net";
import { mkdtemp, mkdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { ackOnceReady, connectError, nextEvent, useServer, useSocket, withTimeout } from "./harness.mjs";

/**
 * Opens a TCP connection and sends the start of a request head (`method
 * target`, Host), leaving the head unfinished; resolves once the server has
 * accepted the connection. While the head is unfinished no handler runs, and a
 * graceful shutdown keeps the connection (it is not idle) until it is served.
 * `finish()` completes the head and resolves with the response.
 */
async function pendingRequest(t, srv, method, target) {
  const socket = net.connect(srv.port, "127.0.0.1");
  t.after(() => socket.destroy());
  await nextEvent(socket, "connect");
  socket.write(`${method} ${target} HTTP/1.1\r\nHost: 127.0.0.1\r\n`);
  // The accept loop takes connections in order: once a later connection got
  // an answer, this one has been accepted and its first bytes were there to read.
  const res = await fetch(`${srv.url}/healthz`);
  assert.equal(res.status, 200);
  await res.arrayBuffer();
  return {
    socket,
    finish() {
      let raw = "";
      socket.setEncoding("utf8");
      socket.on("data", (chunk) => (raw += chunk));
      const closed = new Promise((resolve) => socket.once("close", resolve));
      socket.write("Connection: close\r\n\r\n");
      return withTimeout(closed, 5000, `response to ${method} ${target}`).then(() => parseResponse(raw));
    },
  };
}

/** One raw HTTP/1.1 request on a new connection (for targets fetch would normalise). */
async function rawRequest(port, method, target) {
  const socket = net.connect(port, "127.0.0.1");
  try {
    await nextEvent(socket, "connect");
    let raw = "";
    socket.setEncoding("utf8");
    socket.on("data", (chunk) => (raw += chunk));
    const closed = new Promise((resolve) => socket.once("close", resolve));
    socket.write(`${method} ${target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`);
    await withTimeout(closed, 5000, `response to ${method} ${target}`);
    return parseResponse(raw);
  } finally {
    socket.destroy();
  }
}

function parseResponse(raw) {
  const end = raw.indexOf("\r\n\r\n");
  assert.ok(end > 0, `an HTTP response, got ${JSON.stringify(raw)}`);
  const [statusLine, ...lines] = raw.slice(0, end).split("\r\n");
  const headers = Object.fromEntries(
    lines.map((l) => [l.slice(0, l.indexOf(":")).toLowerCase(), l.slice(l.indexOf(":") + 1).trim()]),
  );
  return { status: Number(statusLine.split(" ")[1]), headers, body: raw.slice(end + 4) };
}

async function getJson(url) {
  const res = await fetch(url);
  assert.match(res.headers.get("content-type") ?? "", /^application\/json/);
  return { status: res.status, body: await res.json() };
}

/** A connected client whose server-side handlers are registered (see ackOnceReady). */
async function relayClient(t, url, opts = {}) {
  const socket = await useSocket(t, url, opts);
  await ackOnceReady(socket, "rooms:leave", [{ room: "warm-up" }]);
  return socket;
}

/** Emit/ack plus an event back to the sender: the socket works. */
async function assertWorks(socket, label) {
  const back = nextEvent(socket, "works");
  assert.deepEqual(await socket.timeout(5000).emitWithAck("relay", { event: "works", args: [label], include_self: true }), {
    ok: true,
  });
  assert.deepEqual(await back, [label]);
}

// ---------------------------------------------------------------- health

test("/healthz and /readyz answer JSON (production and conformance)", async (t) => {
  for (const subcommand of [[], ["conformance"]]) {
    const srv = await useServer(t, [], { subcommand });
    const health = await getJson(`${srv.url}/healthz`);
    assert.equal(health.status, 200);
    assert.equal(health.body.status, "ok");
    assert.match(health.body.node, /^\S+$/, "the node that answered is named");
    assert.deepEqual(await getJson(`${srv.url}/readyz`), {
      status: 200,
      body: { status: "ready", node: health.body.node, checks: {} },
    });
  }
});

// ---------------------------------------------------------------- SIGTERM

test("SIGTERM: connected clients get a reconnectable disconnect and the process exits 0 promptly", async (t) => {
  const srv = await useServer(t, ["--namespaces", "/a", "--client-relay", "--shutdown-timeout-ms", "20000"]);
  const polling = await relayClient(t, srv.url, { transports: ["polling"] });
  const websocket = await relayClient(t, srv.url, { transports: ["websocket"] });
  const inNamespace = await relayClient(t, `${srv.url}/a`);
  // A client that would reconnect (delay long enough that it does not try during the test).
  const reconnecting = await useSocket(t, srv.url, {
    transports: ["websocket"],
    reconnection: true,
    reconnectionDelay: 60_000,
    reconnectionDelayMax: 60_000,
  });
  const clients = { polling, websocket, inNamespace, reconnecting };
  const disconnects = Object.fromEntries(Object.entries(clients).map(([k, s]) => [k, nextEvent(s, "disconnect")]));

  const started = Date.now();
  const code = await srv.stop("SIGTERM");
  const elapsed = Date.now() - started;
  assert.equal(code, 0, "exit code");
  assert.ok(elapsed < 5000, `exited after ${elapsed} ms: the drain must end when the clients are gone, not at the 20 s deadline`);
  for (const [name, pending] of Object.entries(disconnects)) {
    const [reason] = await pending;
    assert.notEqual(reason, "io server disconnect", `${name}: must not be told to stay away`);
    assert.equal(reason, "transport close", `${name}: reason`);
  }
  assert.equal(reconnecting.active, true, "socket.io-client will try to reconnect (elsewhere)");
  assert.match(srv.logs(), /shutdown complete/);
});

test("SIGTERM: /readyz answers 503 and /healthz 200 while draining", async (t) => {
  const srv = await useServer(t, ["--shutdown-timeout-ms", "10000"]);
  // Requests begun before the signal, finished after it.
  const forReady = await pendingRequest(t, srv, "GET", "/readyz");
  const forHealth = await pendingRequest(t, srv, "GET", "/healthz");
  const exited = new Promise((resolve) => srv.proc.once("exit", (code) => resolve(code)));
  srv.proc.kill("SIGTERM");
  await srv.waitForLog(/draining/);

  const ready = await forReady.finish();
  assert.equal(ready.status, 503);
  assert.match(ready.headers["content-type"], /^application\/json/);
  const body = JSON.parse(ready.body);
  assert.equal(body.status, "not_ready");
  assert.equal(body.checks.shutdown.ready, false);
  assert.equal(typeof body.checks.shutdown.cause, "string");

  const health = await forHealth.finish();
  assert.equal(health.status, 200, "alive while draining");
  const alive = JSON.parse(health.body);
  assert.equal(alive.status, "ok");
  assert.equal(alive.node, body.node, "the same node answers both");

  assert.equal(await withTimeout(exited, 5000, "exit after the last request"), 0);
});

test("SIGTERM: a connection that never finishes cannot hold the process past --shutdown-timeout-ms", async (t) => {
  const srv = await useServer(t, ["--shutdown-timeout-ms", "800"]);
  const client = await useSocket(t, srv.url, { transports: ["polling"] });
  await pendingRequest(t, srv, "GET", "/readyz"); // never finished
  const disconnected = nextEvent(client, "disconnect");
  const started = Date.now();
  const code = await srv.stop("SIGTERM");
  const elapsed = Date.now() - started;
  assert.equal(code, 0);
  assert.ok(elapsed >= 700, `waited for the stuck connection (${elapsed} ms)`);
  assert.ok(elapsed < 4000, `but not much longer than the 800 ms timeout (${elapsed} ms)`);
  assert.deepEqual(await disconnected, ["transport close", { description: "transport closed by the server" }]);
  assert.match(srv.logs(), /shutdown deadline reached/);
});

test(
  "SIGTERM: an Engine.IO session that is in no namespace is closed too, not waited for",
  async (t) => {
    const srv = await useServer(t, ["--shutdown-timeout-ms", "3000"], { env: { RUST_LOG: "info,engineioxide=debug" } });
    const base = `${srv.url}/socket.io/?EIO=4&transport=polling`;
    const { sid } = JSON.parse((await (await fetch(base)).text()).slice(1));
    // Flush what the server queued at open, then leave a long-poll pending.
    await (await fetch(`${base}&sid=${sid}`)).text();
    // engineioxide logs "polling request sid=…" for each poll (with the bare engine sid,
    // the first 16 characters of the client's id): wait for the second one.
    const engineSid = sid.slice(0, 16);
    const polls = new RegExp(`polling request[^\\n]*${engineSid}[\\s\\S]*polling request[^\\n]*${engineSid}`);
    const longPoll = fetch(`${base}&sid=${sid}`).then(
      async (res) => ({ status: res.status, body: await res.text() }),
      (err) => ({ error: err.message }),
    );
    await srv.waitForLog(polls); // the server is handling the long-poll
    const started = Date.now();
    assert.equal(await srv.stop("SIGTERM"), 0);
    const elapsed = Date.now() - started;
    const answer = await longPoll;
    assert.ok(elapsed < 1500, `exited after ${elapsed} ms: the drain waited for the 3 s deadline`);
    assert.equal(answer.status, 200, `the long-poll got an answer: ${JSON.stringify(answer)}`);
  },
);

test("SIGINT stops the server the same way (exit code 0)", async (t) => {
  const srv = await useServer(t, []);
  const client = await useSocket(t, srv.url, { transports: ["websocket"] });
  const disconnected = nextEvent(client, "disconnect");
  assert.equal(await srv.stop("SIGINT"), 0);
  assert.equal((await disconnected)[0], "transport close");
});

// ---------------------------------------------------------------- origin policy

const handshake = (url, origin) =>
  fetch(`${url}/socket.io/?EIO=4&transport=polling`, origin ? { headers: { origin } } : {});

test("origin: by default only same-origin browsers may use /socket.io/", async (t) => {
  const srv = await useServer(t, ["--client-relay"]);
  const foreign = "http://evil.example";

  const refused = await handshake(srv.url, foreign);
  assert.equal(refused.status, 403);
  assert.match(refused.headers.get("content-type"), /^application\/json/);
  assert.equal(refused.headers.get("access-control-allow-origin"), null);
  const body = await refused.json();
  assert.equal(body.code, "origin_not_allowed");
  assert.equal(typeof body.message, "string");

  const polling = await connectError(srv.url, { transports: ["polling"], extraHeaders: { origin: foreign } });
  assert.equal(polling.message, "xhr poll error");
  assert.equal(polling.description, 403);
  const ws = await connectError(srv.url, { transports: ["websocket"], extraHeaders: { origin: foreign } });
  assert.equal(ws.message, "websocket error");
  assert.match(String(ws.description?.message), /403/, "the WebSocket upgrade is refused too");
  // A look-alike of the server's own host is still foreign.
  assert.equal((await handshake(srv.url, `http://127.0.0.1:${srv.port}.evil.example`)).status, 403);
  assert.equal((await handshake(srv.url, `http://127.0.0.1:${srv.port + 1}`)).status, 403);

  // Same origin (Origin host == Host) and non-browser clients (no Origin) are served.
  const same = `http://127.0.0.1:${srv.port}`;
  const ok = await handshake(srv.url, same);
  assert.equal(ok.status, 200);
  assert.match(await ok.text(), /^0\{"sid":/);
  for (const transports of [["polling"], ["websocket"]]) {
    await assertWorks(await relayClient(t, srv.url, { transports, extraHeaders: { origin: same } }), `same ${transports}`);
    await assertWorks(await relayClient(t, srv.url, { transports }), `no origin ${transports}`);
  }
  // Only the Engine.IO endpoint is guarded.
  const health = await fetch(`${srv.url}/healthz`, { headers: { origin: foreign } });
  assert.equal(health.status, 200);
  await health.arrayBuffer();
});

test("origin: --cors-origins allows the listed origins, with CORS headers, and only those", async (t) => {
  const srv = await useServer(t, ["--client-relay", "--cors-origins", "http://a.example,https://B.example/"]);
  for (const origin of ["http://a.example", "https://b.example"]) {
    const res = await handshake(srv.url, origin);
    assert.equal(res.status, 200, origin);
    assert.equal(res.headers.get("access-control-allow-origin"), origin, `${origin}: Access-Control-Allow-Origin`);
    assert.equal(res.headers.get("access-control-allow-credentials"), "true");
    assert.match(await res.text(), /^0\{"sid":/);

    const preflight = await fetch(`${srv.url}/socket.io/?EIO=4&transport=polling`, {
      method: "OPTIONS",
      headers: { origin, "access-control-request-method": "POST", "access-control-request-headers": "content-type" },
    });
    assert.ok(preflight.status === 200 || preflight.status === 204, `preflight status ${preflight.status}`);
    assert.equal(preflight.headers.get("access-control-allow-origin"), origin);
    assert.match(preflight.headers.get("access-control-allow-methods") ?? "", /POST/);
    await preflight.arrayBuffer();
  }
  for (const transports of [["polling"], ["websocket"]]) {
    await assertWorks(await relayClient(t, srv.url, { transports, extraHeaders: { origin: "http://a.example" } }), `a ${transports}`);
  }
  for (const origin of ["http://c.example", "https://a.example", "http://a.example:8080", "http://b.example"]) {
    const res = await handshake(srv.url, origin);
    assert.equal(res.status, 403, origin);
    assert.equal(res.headers.get("access-control-allow-origin"), null, `${origin}: no CORS header`);
    await res.arrayBuffer();
  }
  const ws = await connectError(srv.url, { transports: ["websocket"], extraHeaders: { origin: "http://c.example" } });
  assert.equal(ws.message, "websocket error");
});

test("origin: --cors-origins '*' allows any origin with Access-Control-Allow-Origin", async (t) => {
  const srv = await useServer(t, ["--client-relay", "--cors-origins", "*"]);
  for (const origin of ["http://anything.example", "https://other.example:8443"]) {
    const res = await handshake(srv.url, origin);
    assert.equal(res.status, 200, origin);
    const allowed = res.headers.get("access-control-allow-origin");
    assert.ok(allowed === origin || allowed === "*", `${origin}: Access-Control-Allow-Origin ${allowed}`);
    await res.arrayBuffer();
    await assertWorks(await relayClient(t, srv.url, { transports: ["websocket"], extraHeaders: { origin } }), origin);
  }
});

// ---------------------------------------------------------------- max payload

test("max payload: an oversized polling POST gets 413 and its session is closed", async (t) => {
  const srv = await useServer(t, ["--client-relay", "--max-payload", "4096"]);
  const bystander = await relayClient(t, srv.url, { transports: ["websocket"] });

  const open = await (await handshake(srv.url)).text();
  const { sid, maxPayload } = JSON.parse(open.slice(1));
  assert.equal(maxPayload, 4096, "the handshake announces the limit");
  const session = `${srv.url}/socket.io/?EIO=4&transport=polling&sid=${sid}`;
  const post = await fetch(session, { method: "POST", body: `4${"x".repeat(10_000)}`, headers: { "content-type": "text/plain" } });
  assert.equal(post.status, 413);
  await post.arrayBuffer();
  const after = await fetch(session);
  assert.equal(after.status, 400, "the session is gone");
  await after.arrayBuffer();

  await assertWorks(bystander, "bystander after 413");
  await assertWorks(await relayClient(t, srv.url, { transports: ["polling"] }), "new client after 413");
});

test("max payload: a socket.io client sending too much is disconnected, the others keep working", async (t) => {
  const srv = await useServer(t, ["--client-relay", "--max-payload", "4096"]);
  const bystander = await relayClient(t, srv.url, { transports: ["polling"] });
  const receivedBig = [];
  bystander.on("big", (x) => receivedBig.push(x.length));

  for (const [transport, reason] of [
    ["polling", "transport error"],
    ["websocket", "transport close"],
  ]) {
    const sender = await relayClient(t, srv.url, { transports: [transport] });
    // Just under the limit goes through.
    const got = nextEvent(bystander, "big");
    assert.deepEqual(await sender.timeout(5000).emitWithAck("relay", { event: "big", args: ["y".repeat(3000)] }), { ok: true });
    assert.equal((await got)[0].length, 3000);

    const cut = nextEvent(sender, "disconnect");
    sender.emit("relay", { event: "big", args: ["x".repeat(10_000)] });
    assert.equal((await cut)[0], reason, `${transport}: disconnect reason`);
    await assertWorks(bystander, `bystander after oversized ${transport}`);
  }
  assert.deepEqual(receivedBig, [3000, 3000], "the oversized messages were not relayed");
});

// ---------------------------------------------------------------- static files

async function staticDir(t) {
  const root = await mkdtemp(path.join(tmpdir(), "iorelay-static-"));
  t.after(() => rm(root, { recursive: true, force: true }));
  const dir = path.join(root, "public");
  await mkdir(path.join(dir, "assets"), { recursive: true });
  await writeFile(path.join(dir, "index.html"), "<!doctype html><title>iorelay test app</title>\n");
  await writeFile(path.join(dir, "assets", "app.js"), "console.log('app');\n");
  await writeFile(path.join(root, "secret.txt"), "outside the static dir\n");
  return dir;
}

test("static: --static-dir serves its files and index.html at /", async (t) => {
  const dir = await staticDir(t);
  const srv = await useServer(t, ["--static-dir", dir, "--client-relay"]);
  const index = await fetch(`${srv.url}/`);
  assert.equal(index.status, 200);
  assert.match(index.headers.get("content-type"), /^text\/html/);
  assert.equal(await index.text(), "<!doctype html><title>iorelay test app</title>\n");
  const js = await fetch(`${srv.url}/assets/app.js`);
  assert.equal(js.status, 200);
  assert.match(js.headers.get("content-type"), /javascript/);
  assert.equal(await js.text(), "console.log('app');\n");
  // Health and Socket.IO are not shadowed by the static files.
  const health = await getJson(`${srv.url}/healthz`);
  assert.equal(health.status, 200);
  assert.equal(health.body.status, "ok");
  await assertWorks(await relayClient(t, srv.url), "with static dir");
});

test("static: an unknown path gets index.html (client-side routes)", async (t) => {
  const dir = await staticDir(t);
  const srv = await useServer(t, ["--static-dir", dir]);
  for (const route of ["/chat/room-1", "/settings", "/assets/missing.js"]) {
    const res = await fetch(`${srv.url}${route}`);
    assert.match(res.headers.get("content-type"), /^text\/html/, route);
    assert.equal(await res.text(), "<!doctype html><title>iorelay test app</title>\n", route);
  }
});

test(
  "static: the index.html fallback answers 200",
  async (t) => {
    const dir = await staticDir(t);
    const srv = await useServer(t, ["--static-dir", dir]);
    const res = await fetch(`${srv.url}/chat/room-1`);
    await res.arrayBuffer();
    assert.equal(res.status, 200);
  },
);

test("static: no path traversal out of --static-dir", async (t) => {
  const dir = await staticDir(t);
  const srv = await useServer(t, ["--static-dir", dir]);
  for (const target of ["/../secret.txt", "/assets/../../secret.txt", "/%2e%2e/secret.txt", "/..%2fsecret.txt"]) {
    const res = await rawRequest(srv.port, "GET", target);
    assert.ok(!res.body.includes("outside the static dir"), `${target} leaked a file outside the directory`);
  }
});

test(
  "static: without --static-dir, unknown paths are 404",
  async (t) => {
    const srv = await useServer(t, []);
    for (const target of ["/", "/favicon.ico", "/some/page"]) {
      const res = await fetch(`${srv.url}${target}`);
      await res.arrayBuffer();
      assert.equal(res.status, 404, target);
    }
  },
);
