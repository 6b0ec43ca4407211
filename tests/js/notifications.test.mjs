// /notifications history and catch-up, and the same stream as Server-Sent
// Events: real socket.io-client sockets and real HTTP streams against the
// debug binary, one node and a two-node cluster on a real redis-server.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";

import { startServer, connect, nextEvent, collect } from "./harness.mjs";
import { startRedis } from "./services.mjs";
import { signToken } from "./raw.mjs";

const KEY = "notify-test-key-0123456789";

function notify(node, body) {
  return fetch(node.url + "/api/v1/notify", {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${KEY}` },
    body: JSON.stringify(body),
  }).then(async (r) => {
    const json = await r.json();
    assert.equal(r.status, 200, JSON.stringify(json));
    return json;
  });
}

/** A client-side cursor: the highest position seen per stream. */
function track(cursor, positions) {
  for (const [stream, p] of Object.entries(positions ?? {})) cursor[stream] = Math.max(cursor[stream] ?? 0, p);
}

/** Connects a /notifications socket and resolves with it and its `caught_up`. */
async function open(t, node, auth, opts = {}) {
  const { io } = await import("socket.io-client");
  const socket = io(node.url + "/notifications", { forceNew: true, reconnection: false, auth, ...opts });
  t.after(() => socket.close());
  const seen = collect(socket, "notification");
  const [caught] = await nextEvent(socket, "caught_up", 10000);
  return { socket, seen: seen.map((a) => a[0]), caught, live: seen };
}

async function twoNodes(t, extra = []) {
  const redis = await startRedis();
  const args = ["--adapter", "redis", "--redis-url", redis.url, "--api-keys", KEY, ...extra];
  const a = await startServer([...args, "--node-id", "node-a"]);
  const b = await startServer([...args, "--node-id", "node-b"]);
  t.after(async () => {
    await Promise.all([a.stop("SIGKILL"), b.stop("SIGKILL")]);
    await redis.stop();
  });
  return [a, b];
}

/** Resolves once `list` holds `n` items (checked on each `event` of `socket`). */
function untilCount(socket, event, list, n, timeoutMs = 10000) {
  return new Promise((resolve, reject) => {
    if (list.length >= n) return resolve(list);
    const timer = setTimeout(() => reject(new Error(`${list.length}/${n} "${event}" within ${timeoutMs} ms`)), timeoutMs);
    const on = () => {
      if (list.length < n) return;
      clearTimeout(timer);
      socket.off(event, on);
      resolve(list);
    };
    socket.on(event, on);
  });
}

test("a client that reconnects to the other node gets exactly what it missed, in order, then live ones", async (t) => {
  const [a, b] = await twoNodes(t);
  const first = await open(t, a, { name: "Ada", topics: ["news"] });
  assert.equal(first.caught.recovered, true);
  assert.equal(first.caught.missed, 0);
  const cursor = {};
  track(cursor, first.caught.positions);
  assert.deepEqual(Object.keys(cursor).sort(), ["topic:news", "user:guest:ada"]);

  // One live notification before going away moves the cursor.
  const live = nextEvent(first.socket, "notification");
  await notify(b, { users: ["guest:ada"], title: "before" });
  const [before] = await live;
  assert.equal(before.title, "before");
  track(cursor, before.positions);
  first.socket.close();

  // 20 notifications while away: to Ada, to her topic, to both, to others.
  const mine = [];
  for (let i = 0; i < 20; i++) {
    const node = i % 2 ? a : b;
    const kind = i % 5;
    const body =
      kind === 0 ? { users: ["guest:ada"], title: `u${i}` }
      : kind === 1 ? { topic: "news", title: `t${i}` }
      : kind === 2 ? { users: ["guest:ada", "guest:bob"], topic: "news", title: `ut${i}` }
      : kind === 3 ? { users: ["guest:bob"], title: `other${i}` }
      : { topic: "sport", title: `othertopic${i}` };
    const sent = await notify(node, body);
    if (kind <= 2) mine.push(sent.id);
  }

  const back = await open(t, b, { name: "Ada", topics: ["news"], since: cursor });
  assert.equal(back.caught.recovered, true, JSON.stringify(back.caught));
  assert.equal(back.caught.missed, mine.length);
  assert.deepEqual(back.seen.map((n) => n.id), mine, "exactly the missed ones, once each, in order");
  for (const n of back.seen) {
    assert.ok(!Object.keys(n.positions).some((s) => s.includes("bob")), "no other user's stream leaks");
    track(cursor, n.positions);
  }
  assert.deepEqual(cursor, { ...cursor, ...back.caught.positions }, "caught_up positions are the new cursor");

  // Then live ones, from either node.
  const next = nextEvent(back.socket, "notification");
  const sent = await notify(a, { topic: "news", title: "live" });
  assert.equal((await next)[0].id, sent.id);
});

test("past the history bound the reply says recovered: false", async (t) => {
  const [a, b] = await twoNodes(t, ["--notify-history-size", "5"]);
  const first = await open(t, a, { name: "Cy" });
  const cursor = {};
  track(cursor, first.caught.positions);
  const live = nextEvent(first.socket, "notification");
  await notify(a, { users: ["guest:cy"], title: "seen" });
  track(cursor, (await live)[0].positions);
  first.socket.close();
  const sent = [];
  for (let i = 0; i < 8; i++) sent.push((await notify(i % 2 ? a : b, { users: ["guest:cy"], title: `n${i}` })).id);
  const back = await open(t, b, { name: "Cy", since: cursor });
  assert.equal(back.caught.recovered, false);
  assert.deepEqual(back.caught.unrecovered, ["user:guest:cy"]);
  assert.deepEqual(back.seen.map((n) => n.id), sent.slice(-5), "what history still holds, in order");
});

test("notifications published during a catch-up arrive exactly once", async (t) => {
  const server = await startServer(["--api-keys", KEY]);
  t.after(() => server.stop());
  const cursor = {};
  const first = await open(t, server, { name: "Dee" });
  track(cursor, first.caught.positions);
  first.socket.close();
  // Publish continuously while reconnecting many times with the last cursor.
  let publishing = true;
  const published = [];
  const pump = (async () => {
    let i = 0;
    while (publishing) published.push((await notify(server, { users: ["guest:dee"], title: `p${i++}` })).id);
  })();
  const received = [];
  for (let round = 0; round < 8; round++) {
    const s = await open(t, server, { name: "Dee", since: { ...cursor } });
    assert.equal(s.caught.recovered, true);
    // Let some live ones arrive after the catch-up.
    await untilCount(s.socket, "notification", s.live, s.caught.missed + 2, 10000);
    s.socket.close();
    for (const [n] of s.live) {
      received.push(n.id);
      track(cursor, n.positions);
    }
  }
  publishing = false;
  await pump;
  // A last catch-up collects the tail.
  const last = await open(t, server, { name: "Dee", since: { ...cursor } });
  received.push(...last.seen.map((n) => n.id));
  assert.equal(new Set(received).size, received.length, "no duplicates");
  assert.deepEqual(received, published, "every one, in publish order");
});

test("catch_up and subscribe {since} on a connected socket", async (t) => {
  const server = await startServer(["--api-keys", KEY]);
  t.after(() => server.stop());
  const s = await open(t, server, { name: "Eve" });
  const sub = await s.socket.emitWithAck("subscribe", { topic: "prices" });
  assert.equal(sub.ok, true);
  const topicHead = sub.positions["topic:prices"];
  assert.equal(typeof topicHead, "number");
  await s.socket.emitWithAck("unsubscribe", { topic: "prices" });
  const missedTopic = [];
  for (let i = 0; i < 3; i++) missedTopic.push((await notify(server, { topic: "prices", title: `p${i}` })).id);
  const before = s.live.length;
  const again = await s.socket.emitWithAck("subscribe", { topic: "prices", since: topicHead });
  assert.equal(again.recovered, true);
  assert.deepEqual(s.live.slice(before).map(([n]) => n.id), missedTopic, "sent before the ack");
  const reply = await s.socket.emitWithAck("catch_up", { since: { "user:guest:eve": 0 } });
  assert.equal(reply.ok, true);
  assert.equal(reply.missed, 0);
  assert.equal((await s.socket.emitWithAck("catch_up", { since: "x" })).error.code, "bad_request");
});

/** Opens an SSE stream with fetch and parses its events. */
async function sse(t, url, headers = {}) {
  const controller = new AbortController();
  const response = await fetch(url, { headers: { accept: "text/event-stream", ...headers }, signal: controller.signal });
  const events = [];
  const waiters = [];
  let closed = false;
  const close = () => {
    closed = true;
    controller.abort();
  };
  t.after(close);
  if (response.ok) {
    (async () => {
      const decoder = new TextDecoder();
      let buffer = "";
      try {
        for await (const chunk of response.body) {
          buffer += decoder.decode(chunk, { stream: true });
          let end;
          while ((end = buffer.indexOf("\n\n")) >= 0) {
            const block = buffer.slice(0, end);
            buffer = buffer.slice(end + 2);
            const event = { event: "message", data: "", comment: false };
            for (const line of block.split("\n")) {
              if (line.startsWith(":")) event.comment = true;
              else if (line.startsWith("event:")) event.event = line.slice(6).trim();
              else if (line.startsWith("id:")) event.id = line.slice(3).trim();
              else if (line.startsWith("data:")) event.data += line.slice(5).trim();
            }
            if (event.comment && !event.id) continue;
            if (event.data) event.json = JSON.parse(event.data);
            events.push(event);
            for (const w of [...waiters]) w();
          }
        }
      } catch {
        // aborted
      }
      closed = true;
      for (const w of [...waiters]) w();
    })();
  }
  const until = (pred, what, timeoutMs = 10000) =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`SSE: no ${what} within ${timeoutMs} ms; got ${JSON.stringify(events)}`)), timeoutMs);
      const check = () => {
        const found = events.find(pred);
        if (found || closed) {
          clearTimeout(timer);
          waiters.splice(waiters.indexOf(check), 1);
          found ? resolve(found) : reject(new Error(`SSE closed before ${what}`));
        }
      };
      waiters.push(check);
      check();
    });
  return { response, events, until, close, isClosed: () => closed };
}

test("SSE: notifications as an event stream, resumed with Last-Event-ID, across nodes", async (t) => {
  const [a, b] = await twoNodes(t);
  const first = await sse(t, `${b.url}/sse/notifications?name=Fay&topics=news,alerts`);
  assert.equal(first.response.status, 200);
  assert.match(first.response.headers.get("content-type"), /text\/event-stream/);
  const ready = await first.until((e) => e.event === "ready", "ready");
  assert.equal(ready.json.recovered, true);
  assert.deepEqual(Object.keys(ready.json.positions).sort(), ["topic:alerts", "topic:news", "user:guest:fay"]);

  // Published on A, delivered on B.
  const sent = await notify(a, { users: ["guest:fay"], topic: "news", title: "one" });
  const got = await first.until((e) => e.event === "notification", "notification");
  assert.equal(got.json.id, sent.id);
  assert.equal(first.events.filter((e) => e.event === "notification").length, 1, "once, though user and topic");
  first.close();

  const missed = [];
  for (let i = 0; i < 3; i++) missed.push((await notify(a, { topic: "alerts", title: `a${i}` })).id);
  await notify(a, { topic: "weather", title: "not subscribed" });
  const resumed = await sse(t, `${a.url}/sse/notifications?name=Fay&topics=news,alerts`, { "last-event-id": got.id });
  const ready2 = await resumed.until((e) => e.event === "ready", "ready");
  assert.equal(ready2.json.recovered, true);
  assert.equal(ready2.json.missed, 3);
  const notes = resumed.events.filter((e) => e.event === "notification").map((e) => e.json.id);
  assert.deepEqual(notes, missed);
  const liveOne = await notify(b, { topic: "news", title: "live" });
  const live = await resumed.until((e) => e.json?.id === liveOne.id, "the live one");
  assert.ok(live.id.includes("topic%3Anews="), live.id);
});

test("SSE refusals: bad token 401 with the Socket.IO codes, unknown topic 400, too many per IP 429", async (t) => {
  const secret = "sse-secret-0123456789abcdef0123456789";
  const server = await startServer([
    "--api-keys", KEY, "--jwt-secret", secret, "--private-namespaces", "/notifications",
    "--notify-topics", "news.*", "--max-connections-per-ip", "2",
  ]);
  t.after(() => server.stop());
  const base = `${server.url}/sse/notifications`;
  const status = async (url, headers) => {
    const r = await fetch(url, { headers });
    return { status: r.status, body: await r.json() };
  };
  const missing = await status(base);
  assert.equal(missing.status, 401);
  assert.equal(missing.body.error.code, "token_missing");
  const bad = await status(base, { authorization: "Bearer not.a.token" });
  assert.equal(bad.status, 401);
  assert.equal(bad.body.error.code, "token_invalid");
  const now = Math.floor(Date.now() / 1000);
  const token = signToken({ sub: "u1", exp: now + 60 }, secret);
  const expired = signToken({ sub: "u1", exp: now - 60 }, secret);
  assert.equal((await status(`${base}?token=${expired}`)).body.error.code, "token_expired");
  const unknown = await status(`${base}?token=${token}&topics=news.eu,weather`);
  assert.equal(unknown.status, 400);
  assert.equal(unknown.body.error.code, "invalid_topic");
  assert.match(unknown.body.error.message, /weather/);
  const one = await sse(t, `${base}?token=${token}&topics=news.eu`);
  const two = await sse(t, `${base}`, { authorization: `Bearer ${token}` });
  assert.equal(one.response.status, 200);
  assert.equal(two.response.status, 200);
  await one.until((e) => e.event === "ready", "ready");
  const third = await fetch(`${base}?token=${token}`);
  assert.equal(third.status, 429);
  // Closing one gives its place back.
  two.close();
  let again;
  for (let i = 0; i < 50; i++) {
    again = await fetch(`${base}?token=${token}`, { signal: AbortSignal.timeout(2000) }).catch(() => null);
    if (again?.status === 200) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.equal(again?.status, 200);
  again.body.cancel();
  const metrics = await (await fetch(`${server.url}/metrics`)).text();
  assert.match(metrics, /iorelay_sse_streams \d/);
});

test("SSE with curl -N: a plain HTTP client reads notifications", async (t) => {
  const server = await startServer(["--api-keys", KEY]);
  t.after(() => server.stop());
  const curl = spawn("curl", ["-sN", `${server.url}/sse/notifications?name=Gus`]);
  t.after(() => curl.kill());
  let out = "";
  const seen = (re) =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`curl output lacks ${re}: ${out}`)), 10000);
      const check = () => {
        if (re.test(out)) {
          clearTimeout(timer);
          resolve();
        }
      };
      curl.stdout.on("data", (d) => {
        out += d;
        check();
      });
      check();
    });
  await seen(/event: ready/);
  const sent = await notify(server, { users: ["guest:gus"], title: "curl" });
  await seen(new RegExp(`"id":"${sent.id}"`));
  assert.match(out, /event: notification\nid: user%3Aguest%3Agus=\d+\ndata: \{/);
});
