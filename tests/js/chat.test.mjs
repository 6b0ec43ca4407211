// The built-in /chat namespace with real socket.io-client sockets, over
// long-polling and over WebSocket: chatting, history on join, catch-up after
// a dropped connection, typing, presence (batched changes, counts, paged
// members, a 300-client join storm), and every validation error code.

import { test } from "node:test";
import assert from "node:assert/strict";
import { startServer, connect, nextEvent, collect, withTimeout } from "./harness.mjs";

const TRANSPORTS = [["polling"], ["websocket"]];

/** Resolves with the first `event` on `socket` whose first argument satisfies `accept`. */
function eventWhere(socket, event, accept, label = event, timeoutMs = 10000) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      socket.off(event, handler);
      reject(new Error(`${label}: no matching "${event}" within ${timeoutMs} ms; saw ${JSON.stringify(seen)}`));
    }, timeoutMs);
    const seen = [];
    function handler(arg) {
      seen.push(arg);
      if (!accept(arg)) return;
      clearTimeout(timer);
      socket.off(event, handler);
      resolve(arg);
    }
    socket.on(event, handler);
  });
}

async function chatServer(t, args = []) {
  // A short presence window keeps these tests quick; the join storm test uses the default.
  const server = await startServer(["--chat-history-size", "20", "--chat-join-history", "5", "--chat-max-message-chars", "50", "--max-rooms-per-socket", "3", "--presence-interval-ms", "100", ...args]);
  t.after(() => server.stop());
  return server;
}

function user(t, server, name, transports) {
  return connect(server.url + "/chat", { auth: { name }, transports }).then((s) => {
    t.after(() => s.close());
    return s;
  });
}

for (const transports of TRANSPORTS) {
  const via = transports[0];

  test(`two users chat in a room (${via})`, async (t) => {
    const server = await chatServer(t);
    const ada = await user(t, server, "Ada", transports);
    const bob = await user(t, server, "Bob", transports);
    const adaSeesBob = eventWhere(ada, "presence", (p) => p.joined?.some((u) => u.name === "Bob"), "Ada sees Bob");
    const first = await ada.emitWithAck("join", { room: "general" });
    assert.deepEqual(first, { ok: true, room: "general", members: [{ id: "guest:ada", name: "Ada" }], count: 1, next_cursor: null, messages: [] });
    const joined = await bob.emitWithAck("join", { room: "general" });
    assert.equal(joined.ok, true);
    assert.deepEqual(joined.members, [
      { id: "guest:ada", name: "Ada" },
      { id: "guest:bob", name: "Bob" },
    ]);
    assert.equal(joined.count, 2);
    assert.equal(joined.next_cursor, null);
    const presence = await adaSeesBob;
    assert.equal(presence.room, "general");
    assert.equal(presence.count, 2);
    assert.equal(presence.left, undefined, "no one left: no left list");

    const toAda = nextEvent(ada, "message");
    const toBob = nextEvent(bob, "message");
    const ack = await bob.emitWithAck("message", { room: "general", text: "hi Ada" });
    assert.equal(ack.ok, true);
    assert.equal(ack.id, 1);
    const [m] = await toAda;
    assert.deepEqual(m, { id: 1, room: "general", from: { id: "guest:bob", name: "Bob" }, text: "hi Ada", ts: ack.ts });
    assert.deepEqual((await toBob)[0], m, "the sender gets its own message too");
  });

  test(`history on join and catch-up after a dropped connection (${via})`, async (t) => {
    const server = await chatServer(t);
    const ada = await user(t, server, "Ada", transports);
    await ada.emitWithAck("join", { room: "r" });
    for (let i = 1; i <= 7; i++) await ada.emitWithAck("message", { room: "r", text: `m${i}` });

    // A joiner gets the newest --chat-join-history messages, oldest first.
    const bob = await connect(server.url + "/chat", { auth: { name: "Bob" }, transports, reconnectionDelay: 50, reconnectionDelayMax: 100, reconnection: true });
    t.after(() => bob.close());
    const joined = await bob.emitWithAck("join", { room: "r" });
    assert.deepEqual(joined.messages.map((m) => m.id), [3, 4, 5, 6, 7]);
    const lastSeen = joined.messages.at(-1).id;

    // Drop Bob's connection (the client's Engine.IO connection closes; it reconnects), send meanwhile.
    const gone = nextEvent(bob, "disconnect");
    const reconnected = nextEvent(bob, "connect", 15000);
    bob.io.engine.close();
    const [reason] = await gone;
    assert.equal(reason, "forced close");
    for (let i = 8; i <= 10; i++) await ada.emitWithAck("message", { room: "r", text: `m${i}` });
    await reconnected;
    await bob.emitWithAck("join", { room: "r" });
    const missed = await bob.emitWithAck("history", { room: "r", after: lastSeen });
    assert.deepEqual(missed.messages.map((m) => m.text), ["m8", "m9", "m10"]);
    assert.equal(missed.has_more, false);

    // Paging back and limits.
    const back = await bob.emitWithAck("history", { room: "r", before: 4, limit: 2 });
    assert.deepEqual(back.messages.map((m) => m.id), [2, 3]);
    assert.equal(back.has_more, true);
    const forward = await bob.emitWithAck("history", { room: "r", after: 2, limit: 3 });
    assert.deepEqual(forward.messages.map((m) => m.id), [3, 4, 5]);
    assert.equal(forward.has_more, true);
  });

  test(`typing goes to the others only; presence on leave and disconnect (${via})`, async (t) => {
    const server = await chatServer(t);
    const ada = await user(t, server, "Ada", transports);
    const bob = await user(t, server, "Bob", transports);
    const cy = await user(t, server, "Cy", transports);
    const adaSeesAll = eventWhere(ada, "presence", (p) => p.count === 3, "Ada sees all three");
    for (const s of [ada, bob, cy]) await s.emitWithAck("join", { room: "r" });
    await adaSeesAll;
    const adaTyping = collect(ada, "typing");
    const bobTyping = nextEvent(bob, "typing");
    const cyTyping = nextEvent(cy, "typing");
    assert.deepEqual(await ada.emitWithAck("typing", { room: "r", typing: true }), { ok: true });
    assert.deepEqual((await bobTyping)[0], { room: "r", user: { id: "guest:ada", name: "Ada" }, typing: true });
    assert.deepEqual((await cyTyping)[0].typing, true);
    // Ada's own message arrives after any typing event that could have been sent to her.
    const own = nextEvent(ada, "message");
    await ada.emitWithAck("message", { room: "r", text: "done" });
    await own;
    assert.equal(adaTyping.length, 0, "the typist does not get her own typing event");

    const leftSeenByAda = eventWhere(ada, "presence", (p) => p.left, "Ada sees Bob leave");
    assert.deepEqual(await bob.emitWithAck("leave", { room: "r" }), { ok: true });
    const left = await leftSeenByAda;
    assert.deepEqual(left, { room: "r", left: [{ id: "guest:bob", name: "Bob" }], count: 2 });

    const goneSeenByAda = eventWhere(ada, "presence", (p) => p.left, "Ada sees Cy go");
    cy.close();
    const gone = await goneSeenByAda;
    assert.deepEqual(gone, { room: "r", left: [{ id: "guest:cy", name: "Cy" }], count: 1 });
    assert.deepEqual((await ada.emitWithAck("rooms")).rooms, [{ room: "r", members: 1 }]);
  });
}

test("every validation error returns its code", async (t) => {
  const server = await chatServer(t);
  const ada = await user(t, server, "Ada", ["websocket"]);
  const code = async (event, payload) => {
    const ack = await ada.emitWithAck(event, payload);
    assert.equal(ack.ok, false, `${event} ${JSON.stringify(payload)} must fail`);
    assert.equal(typeof ack.error.message, "string");
    return ack.error.code;
  };
  assert.equal(await code("join", "not an object"), "bad_request");
  assert.equal(await code("join", { room: "" }), "invalid_room");
  assert.equal(await code("join", { room: "has space" }), "invalid_room");
  assert.equal(await code("join", { room: "x".repeat(65) }), "invalid_room");
  assert.equal(await code("join", { room: "ok", extra: 1 }), "bad_request");
  assert.equal(await code("message", { room: "nowhere", text: "hi" }), "not_in_room");
  assert.equal(await code("typing", { room: "nowhere", typing: true }), "not_in_room");
  assert.equal(await code("history", { room: "nowhere" }), "not_in_room");
  assert.equal(await code("leave", { room: "nowhere" }), "not_in_room");
  assert.equal(await code("members", { room: "nowhere" }), "not_in_room");
  await ada.emitWithAck("join", { room: "a" });
  assert.equal(await code("members", { room: "a", limit: 0 }), "invalid_cursor");
  assert.equal(await code("members", { room: "a", limit: 101 }), "invalid_cursor");
  assert.equal(await code("members", { room: "a", cursor: 5 }), "bad_request");
  assert.equal(await code("message", { room: "a", text: "   " }), "invalid_text");
  assert.equal(await code("message", { room: "a", text: "x".repeat(51) }), "invalid_text");
  assert.equal(await code("message", { room: "a", text: "bell\u0007" }), "invalid_text");
  assert.equal(await code("message", { room: "a" }), "bad_request");
  assert.equal(await code("history", { room: "a", limit: 0 }), "invalid_cursor");
  assert.equal(await code("history", { room: "a", limit: 21 }), "invalid_cursor");
  assert.equal(await code("history", { room: "a", before: 3, after: 5 }), "invalid_cursor");
  await ada.emitWithAck("join", { room: "b" });
  await ada.emitWithAck("join", { room: "c" });
  assert.equal(await code("join", { room: "d" }), "too_many_rooms");
  assert.equal((await ada.emitWithAck("join", { room: "c" })).ok, true, "re-joining a joined room is fine");

  // Bad names are refused at connect with the code leading the message.
  for (const auth of [{}, { name: "" }, { name: "x".repeat(33) }, { name: "tab\tname" }, "string auth"]) {
    await assert.rejects(
      connect(server.url + "/chat", { auth, transports: ["websocket"] }),
      (err) => err.message.startsWith("invalid_name: "),
      JSON.stringify(auth),
    );
  }
  // The server is unharmed and Ada is still connected.
  assert.equal((await ada.emitWithAck("rooms")).ok, true);
});

/** Connects `count` /chat guests named `${prefix}000`…, `batch` at a time. */
async function crowd(t, server, prefix, count, batch = 50) {
  const sockets = [];
  for (let i = 0; i < count; i += batch) {
    const names = Array.from({ length: Math.min(batch, count - i) }, (_, k) => `${prefix}${String(i + k).padStart(3, "0")}`);
    sockets.push(...(await Promise.all(names.map((name) => connect(server.url + "/chat", { auth: { name }, transports: ["websocket"] }, 20000)))));
  }
  t.after(() => sockets.forEach((s) => s.close()));
  return sockets;
}

/**
 * What one member learns from `presence`: bytes (the JSON of each event), events,
 * the last count, every id seen joining and leaving, and events that both list one user.
 * `until(pred)` resolves once `pred(seen)` holds after some event.
 */
function watchPresence(socket, label) {
  const waiters = [];
  const seen = { bytes: 0, events: 0, count: null, joined: new Set(), left: new Set(), both: 0, withLists: 0, maxListedCount: 0 };
  socket.on("presence", (p) => {
    seen.bytes += Buffer.byteLength(JSON.stringify(p));
    seen.events += 1;
    seen.count = p.count;
    const left = new Set((p.left ?? []).map((u) => u.id));
    for (const u of p.joined ?? []) {
      if (left.has(u.id)) seen.both += 1;
      seen.joined.add(u.id);
    }
    for (const id of left) seen.left.add(id);
    if (p.joined || p.left) {
      seen.withLists += 1;
      seen.maxListedCount = Math.max(seen.maxListedCount, p.count);
    }
    for (const w of [...waiters]) if (w.pred(seen)) w.resolve();
  });
  seen.until = (pred, what, timeoutMs = 20000) => {
    if (pred(seen)) return Promise.resolve();
    let done;
    const reached = new Promise((resolve) => (done = resolve));
    const w = { pred, resolve: () => (waiters.splice(waiters.indexOf(w), 1), done()) };
    waiters.push(w);
    return withTimeout(reached, timeoutMs, `${label}: ${what} (last count ${seen.count})`);
  };
  return seen;
}

test("300 clients join one room at once: few batched events, presence bytes linear in N, right counts; leaves and paging", async (t) => {
  const N = 300;
  // Presence at its defaults (500 ms window, pages of 100) but with lists up to 1000 users
  // (the default lists up to 100): the storm goes through the list path.
  const server = await startServer(["--presence-max-members-listed", "1000"]);
  t.after(() => server.stop());
  const sockets = await crowd(t, server, "u", N);
  const ids = sockets.map((_, i) => `guest:u${String(i).padStart(3, "0")}`);
  const seen = sockets.map((s, i) => watchPresence(s, ids[i]));

  const replies = await Promise.all(sockets.map((s) => s.timeout(20000).emitWithAck("join", { room: "storm" })));
  for (const r of replies) {
    assert.equal(r.ok, true);
    assert.ok(r.members.length <= 100 && r.members.length <= r.count, "the join reply is one page");
    assert.equal(r.next_cursor === null, r.members.length === r.count);
  }
  await Promise.all(seen.map((w) => w.until((w) => w.count === N, `count ${N}`)));

  // c = 100 bytes per joiner: a user in a list costs about 35 bytes, an event's frame about 40.
  // The old full-list events cost each early member about 20 000 bytes per joiner here.
  const C = 100;
  const most = seen.reduce((a, w) => (w.bytes > a.bytes ? w : a));
  t.diagnostic(`presence per member for ${N} joins: at most ${most.bytes} bytes (${(most.bytes / N).toFixed(1)} per joiner) in ${most.events} events; at most ${Math.max(...seen.map((w) => w.events))} events`);
  for (const [i, w] of seen.entries()) {
    assert.ok(w.bytes <= C * N, `${ids[i]} received ${w.bytes} presence bytes for ${N} joins`);
    assert.ok(w.events <= 20, `${ids[i]} received ${w.events} presence events: not batched`);
    assert.equal(w.both, 0, "no event says a user both joined and left");
    assert.equal(w.left.size, 0, "no one left");
  }
  // Whoever joined first heard of everyone else through presence.
  const firstHeard = Math.max(...seen.map((w) => w.joined.size));
  assert.equal(firstHeard, N, "the earliest member heard of all joins, itself included");

  // 100 disconnect, 50 leave: the 150 who stay see exactly those 150 go.
  const gone = new Set(ids.slice(N - 150));
  for (const s of sockets.slice(N - 100)) s.close();
  const leaves = await Promise.all(sockets.slice(N - 150, N - 100).map((s) => s.timeout(20000).emitWithAck("leave", { room: "storm" })));
  assert.ok(leaves.every((a) => a.ok));
  const stay = seen.slice(0, N - 150);
  await Promise.all(stay.map((w) => w.until((w) => w.count === N - 150 && w.left.size === 150, "150 gone")));
  for (const w of stay) assert.deepEqual([...w.left].sort(), [...gone].sort());

  // Paging through `members` lists every member exactly once, in id order.
  const pager = sockets[7];
  const listed = [];
  let cursor;
  for (let page = 0; page < 10; page++) {
    const reply = await pager.timeout(5000).emitWithAck("members", cursor ? { room: "storm", cursor, limit: 40 } : { room: "storm", limit: 40 });
    assert.equal(reply.ok, true, JSON.stringify(reply));
    assert.equal(reply.count, N - 150);
    assert.ok(reply.members.length <= 40);
    listed.push(...reply.members.map((m) => m.id));
    cursor = reply.next_cursor;
    if (cursor === null) break;
  }
  assert.equal(cursor, null, "paging ends");
  assert.deepEqual(listed, ids.slice(0, N - 150), "every member once, ordered by id");
});

test("rooms above --presence-max-members-listed get counts only", async (t) => {
  const server = await chatServer(t, ["--presence-max-members-listed", "20"]);
  const sockets = await crowd(t, server, "c", 30, 30);
  const watcher = watchPresence(sockets[0], "c000");
  for (const s of sockets) await s.emitWithAck("join", { room: "big" });
  await watcher.until((w) => w.count === 30, "count 30");
  assert.ok(watcher.maxListedCount <= 20, `lists were sent at ${watcher.maxListedCount} members`);
  const last = nextEvent(sockets[0], "presence");
  sockets[29].close();
  assert.deepEqual((await last)[0], { room: "big", count: 29 });
});

test("a notification reaches only its user's sockets, all of that user's tabs", async (t) => {
  const KEY = "chat-test-key-0123456789";
  const server = await startServer(["--api-keys", KEY, "--notify-topics", "news.*"]);
  t.after(() => server.stop());
  const open = (name, transports) =>
    connect(server.url + "/notifications", { auth: { name }, transports }).then((s) => {
      t.after(() => s.close());
      return s;
    });
  const tab1 = await open("Ada", ["polling"]);
  const tab2 = await open("Ada", ["websocket"]);
  const other = await open("Bob", ["websocket"]);
  const notify = (body) =>
    fetch(server.url + "/api/v1/notify", {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${KEY}` },
      body: JSON.stringify(body),
    }).then(async (r) => ({ status: r.status, body: await r.json() }));

  const otherSeen = collect(other, "notification");
  const got1 = nextEvent(tab1, "notification");
  const got2 = nextEvent(tab2, "notification");
  const sent = await notify({ users: ["guest:ada"], title: "Hi Ada", body: "only you", data: { k: [1] } });
  assert.equal(sent.status, 200);
  for (const [n] of [await got1, await got2]) {
    assert.deepEqual(n, {
      id: sent.body.id,
      title: "Hi Ada",
      body: "only you",
      data: { k: [1] },
      ts: sent.body.ts,
      positions: sent.body.positions,
    });
  }
  // Topics: Bob subscribes; a topic notification after the user one is ordered after it.
  const subscribed = await other.emitWithAck("subscribe", { topic: "news.eu" });
  assert.deepEqual(subscribed.topics, ["news.eu"]);
  assert.equal(typeof subscribed.positions["topic:news.eu"], "number");
  const topical = nextEvent(other, "notification");
  const sentTopic = await notify({ topic: "news.eu", title: "Topic" });
  assert.equal((await topical)[0].topic, "news.eu");
  assert.equal((await topical)[0].id, sentTopic.body.id);
  assert.equal(otherSeen.length, 1, "Bob got the topic notification only");

  assert.equal((await other.emitWithAck("subscribe", { topic: "weather" })).error.code, "invalid_topic");
  assert.equal((await other.emitWithAck("subscribe", { topic: "bad topic" })).error.code, "invalid_topic");
  assert.deepEqual(await other.emitWithAck("unsubscribe", { topic: "news.eu" }), { ok: true, topics: [] });
  assert.equal((await notify({ title: "nobody" })).body.error.code, "bad_request");
});
