// The built-in /chat namespace with real socket.io-client sockets, over
// long-polling and over WebSocket: chatting, history on join, catch-up after
// a dropped connection, typing, presence, and every validation error code.

import { test } from "node:test";
import assert from "node:assert/strict";
import { startServer, connect, nextEvent, collect } from "./harness.mjs";

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
  const server = await startServer(["--chat-history-size", "20", "--chat-join-history", "5", "--chat-max-message-chars", "50", "--max-rooms-per-socket", "3", ...args]);
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
    await ada.emitWithAck("join", { room: "general" });
    const adaSeesBob = nextEvent(ada, "presence");
    const joined = await bob.emitWithAck("join", { room: "general" });
    assert.equal(joined.ok, true);
    assert.deepEqual(joined.members, [
      { id: "guest:ada", name: "Ada" },
      { id: "guest:bob", name: "Bob" },
    ]);
    const [presence] = await adaSeesBob;
    assert.deepEqual(presence.joined, { id: "guest:bob", name: "Bob" });
    assert.equal(presence.members.length, 2);

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
    const adaSeesAll = eventWhere(ada, "presence", (p) => p.members.length === 3, "Ada sees all three");
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
    assert.deepEqual(left.left, { id: "guest:bob", name: "Bob" });
    assert.deepEqual(left.members.map((m) => m.name), ["Ada", "Cy"]);

    const goneSeenByAda = eventWhere(ada, "presence", (p) => p.left?.name === "Cy", "Ada sees Cy go");
    cy.close();
    const gone = await goneSeenByAda;
    assert.deepEqual(gone.left, { id: "guest:cy", name: "Cy" });
    assert.deepEqual(gone.members.map((m) => m.name), ["Ada"]);
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
  await ada.emitWithAck("join", { room: "a" });
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
    assert.deepEqual(n, { id: sent.body.id, title: "Hi Ada", body: "only you", data: { k: [1] }, ts: sent.body.ts });
  }
  // Topics: Bob subscribes; a topic notification after the user one is ordered after it.
  assert.deepEqual(await other.emitWithAck("subscribe", { topic: "news.eu" }), { ok: true, topics: ["news.eu"] });
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
