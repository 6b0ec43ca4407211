// Client relay (production mode with --client-relay and --namespaces):
// rooms:join / rooms:leave and their sorted room lists, relay to one room,
// several rooms (no duplicate delivery) or the whole namespace, with and
// without the sender (include_self), binary arguments, relay with ack
// collecting every receiver's ack, namespace isolation, and every validation
// error code (bad_request, invalid_room, invalid_event, not_in_room,
// too_many_rooms).
//
// Absence is asserted after an event that the server necessarily sent later:
// the sender's own relay ack (the broadcast is queued before the ack), or a
// marker relayed once the first relay was acknowledged.

import { test } from "node:test";
import assert from "node:assert/strict";
import { ackOnceReady, collect, connect, nextEvent, useServer, useSocket } from "./harness.mjs";

const RELAY_ARGS = ["--client-relay", "--namespaces", "/a,/b"];

/** Connected to `ns`, handlers known to be registered, member of `rooms`. */
async function member(t, srv, ns = "/a", rooms = [], opts = {}) {
  const socket = await useSocket(t, `${srv.url}${ns === "/" ? "" : ns}`, opts);
  await ackOnceReady(socket, "rooms:leave", [{ room: "warm-up" }]);
  for (const room of rooms) {
    const ack = await join(socket, room);
    assert.equal(ack.ok, true, `join ${room}: ${JSON.stringify(ack)}`);
  }
  return socket;
}

const join = (socket, room) => socket.timeout(5000).emitWithAck("rooms:join", { room });
const leave = (socket, room) => socket.timeout(5000).emitWithAck("rooms:leave", { room });
const relay = (socket, request) => socket.timeout(5000).emitWithAck("relay", request);

/** Asserts an error ack: {ok:false, error:{code, message}} and nothing else. */
function assertError(ack, code, what) {
  assert.equal(ack.ok, false, `${what}: ${JSON.stringify(ack)}`);
  assert.deepEqual(Object.keys(ack).sort(), ["error", "ok"], what);
  assert.deepEqual(Object.keys(ack.error).sort(), ["code", "message"], what);
  assert.equal(ack.error.code, code, `${what}: ${JSON.stringify(ack)}`);
  assert.equal(typeof ack.error.message, "string");
  assert.ok(ack.error.message.length > 0, `${what}: empty message`);
}

/** Relays `marker` from `sender` to `to` (or the namespace) and waits until every receiver got it. */
async function marker(sender, receivers, to) {
  const got = receivers.map((r) => nextEvent(r, "marker"));
  assert.deepEqual(await relay(sender, { ...(to ? { to } : {}), event: "marker" }), { ok: true });
  await Promise.all(got);
}

test("rooms:join and rooms:leave answer the sorted rooms the socket is in", async (t) => {
  const srv = await useServer(t, RELAY_ARGS);
  const s = await member(t, srv, "/a");
  assert.deepEqual(await join(s, "zeta"), { ok: true, rooms: ["zeta"] });
  assert.deepEqual(await join(s, "alpha:1"), { ok: true, rooms: ["alpha:1", "zeta"] });
  assert.deepEqual(await join(s, "m.x_y-z"), { ok: true, rooms: ["alpha:1", "m.x_y-z", "zeta"] });
  assert.deepEqual(await join(s, "zeta"), { ok: true, rooms: ["alpha:1", "m.x_y-z", "zeta"] }, "joining twice is a no-op");
  const long = "r".repeat(64);
  assert.deepEqual(await join(s, long), { ok: true, rooms: ["alpha:1", "m.x_y-z", long, "zeta"] }, "64 characters is allowed");
  assert.deepEqual(await leave(s, long), { ok: true, rooms: ["alpha:1", "m.x_y-z", "zeta"] });
  assert.deepEqual(await leave(s, "alpha:1"), { ok: true, rooms: ["m.x_y-z", "zeta"] });
  assert.deepEqual(await leave(s, "never-joined"), { ok: true, rooms: ["m.x_y-z", "zeta"] }, "leaving a room not joined is a no-op");
  assert.deepEqual(await leave(s, "zeta"), { ok: true, rooms: ["m.x_y-z"] });
  assert.deepEqual(await leave(s, "m.x_y-z"), { ok: true, rooms: [] });
});

test("relay to a room reaches its other members with every argument, not the sender or others", async (t) => {
  const srv = await useServer(t, RELAY_ARGS);
  const sender = await member(t, srv, "/a", ["room1"]);
  const peer = await member(t, srv, "/a", ["room1"]);
  const outsider = await member(t, srv, "/a");
  const elsewhere = await member(t, srv, "/a", ["room2"]);
  const seen = {
    sender: collect(sender, "hello"),
    outsider: collect(outsider, "hello"),
    elsewhere: collect(elsewhere, "hello"),
  };
  const bytes = Buffer.from([0, 255, 1, 254]);
  const args = ["text", 42, null, { nested: { list: [1, "two", false] }, bin: bytes }, bytes];
  const got = nextEvent(peer, "hello");
  assert.deepEqual(await relay(sender, { to: "room1", event: "hello", args }), { ok: true });
  const received = await got;
  assert.deepEqual(received, args, "the args array arrives as separate arguments");
  assert.ok(Buffer.isBuffer(received[4]) && received[4].equals(bytes), "binary argument byte-exact");
  assert.ok(Buffer.isBuffer(received[3].bin) && received[3].bin.equals(bytes), "nested binary byte-exact");
  // The sender's ack was queued after the broadcast: had it been a receiver, it would have it by now.
  assert.deepEqual(seen.sender, [], "the sender is excluded by default");
  await marker(sender, [outsider, elsewhere]);
  assert.deepEqual(seen.outsider, [], "a socket in no room gets nothing");
  assert.deepEqual(seen.elsewhere, [], "a socket in another room gets nothing");

  // No args: the event arrives without arguments.
  const bare = nextEvent(peer, "bare");
  assert.deepEqual(await relay(sender, { to: ["room1"], event: "bare" }), { ok: true });
  assert.deepEqual(await bare, []);
});

test("include_self also delivers to the sender, once", async (t) => {
  const srv = await useServer(t, RELAY_ARGS);
  const sender = await member(t, srv, "/a", ["room1"]);
  const peer = await member(t, srv, "/a", ["room1"]);
  const mine = collect(sender, "hello");
  const theirs = collect(peer, "hello");
  const peerGot = nextEvent(peer, "hello");
  const selfGot = nextEvent(sender, "hello");
  assert.deepEqual(await relay(sender, { to: "room1", event: "hello", args: [1], include_self: true }), { ok: true });
  assert.deepEqual(await selfGot, [1]);
  assert.deepEqual(await peerGot, [1]);
  await marker(sender, [peer], "room1");
  assert.deepEqual(mine, [[1]]);
  assert.deepEqual(theirs, [[1]]);
});

test("relay without `to` reaches the whole namespace; the sender only with include_self", async (t) => {
  const srv = await useServer(t, RELAY_ARGS);
  const sender = await member(t, srv, "/a");
  const inRoom = await member(t, srv, "/a", ["room1"]);
  const inNoRoom = await member(t, srv, "/a");
  const mine = collect(sender, "all");
  const a = nextEvent(inRoom, "all");
  const b = nextEvent(inNoRoom, "all");
  assert.deepEqual(await relay(sender, { event: "all", args: ["x"] }), { ok: true });
  assert.deepEqual(await a, ["x"]);
  assert.deepEqual(await b, ["x"]);
  assert.deepEqual(mine, [], "sender excluded");

  const self = nextEvent(sender, "all");
  const a2 = nextEvent(inRoom, "all");
  const b2 = nextEvent(inNoRoom, "all");
  assert.deepEqual(await relay(sender, { event: "all", args: ["y"], include_self: true }), { ok: true });
  assert.deepEqual(await self, ["y"]);
  assert.deepEqual(await a2, ["y"]);
  assert.deepEqual(await b2, ["y"]);
});

test("relay to several rooms delivers once to a socket in several of them", async (t) => {
  const srv = await useServer(t, RELAY_ARGS);
  const sender = await member(t, srv, "/a", ["r1", "r2", "r3"]);
  const both = await member(t, srv, "/a", ["r1", "r2"]);
  const onlyR1 = await member(t, srv, "/a", ["r1"]);
  const onlyR2 = await member(t, srv, "/a", ["r2"]);
  const onlyR3 = await member(t, srv, "/a", ["r3"]);
  const receivers = { both, onlyR1, onlyR2, onlyR3 };
  const seen = Object.fromEntries(Object.entries(receivers).map(([k, s]) => [k, collect(s, "multi")]));
  const firsts = [both, onlyR1, onlyR2].map((s) => nextEvent(s, "multi"));
  const mine = collect(sender, "multi");
  assert.deepEqual(await relay(sender, { to: ["r1", "r2"], event: "multi", args: ["m"] }), { ok: true });
  await Promise.all(firsts);
  // Same with include_self: the sender is in both rooms and must get it once too.
  const self = nextEvent(sender, "multi");
  assert.deepEqual(await relay(sender, { to: ["r2", "r1", "r2"], event: "multi", args: ["n"], include_self: true }), {
    ok: true,
  });
  await self;
  await marker(sender, [both, onlyR1, onlyR2, onlyR3], ["r1", "r2", "r3"]);
  assert.deepEqual(seen.both, [["m"], ["n"]], "in both rooms: each relay once");
  assert.deepEqual(seen.onlyR1, [["m"], ["n"]]);
  assert.deepEqual(seen.onlyR2, [["m"], ["n"]]);
  assert.deepEqual(seen.onlyR3, [], "r3 was not targeted");
  assert.deepEqual(mine, [["n"]], "sender: only the include_self relay, once");
});

test("after rooms:leave a socket no longer receives relays to that room", async (t) => {
  const srv = await useServer(t, RELAY_ARGS);
  const sender = await member(t, srv, "/a", ["room1"]);
  const leaver = await member(t, srv, "/a", ["room1"]);
  const stayer = await member(t, srv, "/a", ["room1"]);
  const left = collect(leaver, "hello");
  assert.deepEqual(await leave(leaver, "room1"), { ok: true, rooms: [] });
  const got = nextEvent(stayer, "hello");
  assert.deepEqual(await relay(sender, { to: "room1", event: "hello" }), { ok: true });
  await got;
  await marker(sender, [leaver]);
  assert.deepEqual(left, []);
  assertError(await relay(leaver, { to: "room1", event: "hello" }), "not_in_room", "relay to a room left");
});

test("namespaces are isolated: a relay in /a never reaches /b or /", async (t) => {
  const srv = await useServer(t, RELAY_ARGS);
  const a1 = await member(t, srv, "/a", ["shared"]);
  const a2 = await member(t, srv, "/a", ["shared"]);
  const b1 = await member(t, srv, "/b", ["shared"]);
  const b2 = await member(t, srv, "/b", ["shared"]);
  const root = await member(t, srv, "/", ["shared"]);
  const seenB = collect(b1, "leak");
  const seenRoot = collect(root, "leak");
  const seenA = collect(a2, "leak");

  const got = nextEvent(a2, "leak");
  assert.deepEqual(await relay(a1, { to: "shared", event: "leak", args: ["room"] }), { ok: true });
  assert.deepEqual(await relay(a1, { event: "leak", args: ["namespace"], include_self: true }), { ok: true });
  await got;
  // Everything a1 relayed was queued before its acks; these markers come later.
  await marker(b2, [b1], "shared");
  const rootMarker = nextEvent(root, "marker");
  assert.deepEqual(await relay(root, { event: "marker", include_self: true }), { ok: true });
  await rootMarker;
  assert.deepEqual(seenB, [], "/b got nothing from /a");
  assert.deepEqual(seenRoot, [], "/ got nothing from /a");

  // And the other way round: /b's relay does not reach /a.
  assert.deepEqual(await relay(b2, { to: "shared", event: "leak", args: ["from-b"] }), { ok: true });
  await marker(a1, [a2], "shared");
  assert.deepEqual(seenA, [["room"], ["namespace"]]);
});

test("relay with ack: the sender gets the first ack argument of every receiver", async (t) => {
  const srv = await useServer(t, RELAY_ARGS);
  const sender = await member(t, srv, "/a", ["room1"]);
  const b = await member(t, srv, "/a", ["room1"]);
  const c = await member(t, srv, "/a", ["room1"]);
  const outsider = await member(t, srv, "/a");
  const asked = [];
  b.on("question", (...args) => {
    const cb = args.pop();
    asked.push(["b", ...args]);
    cb("from-b", "second argument is dropped");
  });
  c.on("question", (...args) => {
    const cb = args.pop();
    asked.push(["c", ...args]);
    cb({ from: "c", n: [1, null] });
  });
  sender.on("question", (...args) => args.pop()(["from-sender"]));
  outsider.on("question", (...args) => args.pop()("from-outsider"));
  const sorted = (acks) => acks.map((x) => JSON.stringify(x)).sort();

  const reply = await relay(sender, { to: "room1", event: "question", args: ["q", 2], ack: true });
  assert.equal(reply.ok, true, JSON.stringify(reply));
  assert.deepEqual(Object.keys(reply).sort(), ["acks", "ok"]);
  assert.deepEqual(sorted(reply.acks), sorted(["from-b", { from: "c", n: [1, null] }]));
  assert.deepEqual(asked.sort(), [
    ["b", "q", 2],
    ["c", "q", 2],
  ]);

  const withSelf = await relay(sender, { to: "room1", event: "question", ack: true, include_self: true });
  assert.equal(withSelf.ok, true);
  assert.deepEqual(sorted(withSelf.acks), sorted(["from-b", { from: "c", n: [1, null] }, ["from-sender"]]));

  // Whole namespace with ack: the outsider answers too.
  const all = await relay(sender, { event: "question", ack: true });
  assert.equal(all.ok, true);
  assert.deepEqual(sorted(all.acks), sorted(["from-b", { from: "c", n: [1, null] }, "from-outsider"]));

  // Nobody else in the room: an empty list, at once.
  assert.deepEqual(await join(b, "solo"), { ok: true, rooms: ["room1", "solo"] });
  assert.deepEqual(await relay(b, { to: "solo", event: "question", ack: true }), { ok: true, acks: [] });
});

test("relay with ack: binary in a receiver's ack reaches the sender as binary", async (t) => {
  const srv = await useServer(t, RELAY_ARGS);
  const sender = await member(t, srv, "/a", ["room1"]);
  const receiver = await member(t, srv, "/a", ["room1"]);
  const bytes = Buffer.from([9, 8, 7, 0, 255]);
  receiver.on("question", (cb) => cb({ bin: bytes, list: [bytes] }));
  const reply = await relay(sender, { to: "room1", event: "question", ack: true });
  assert.equal(reply.ok, true);
  const [ack] = reply.acks;
  assert.ok(Buffer.isBuffer(ack.bin), `bin arrived as ${JSON.stringify(ack.bin)}`);
  assert.ok(ack.bin.equals(bytes));
  assert.ok(Buffer.isBuffer(ack.list[0]) && ack.list[0].equals(bytes));
});

test("relay with ack: a receiver that never acks is left out after --ack-timeout-ms", async (t) => {
  const srv = await useServer(t, [...RELAY_ARGS, "--ack-timeout-ms", "400"]);
  const sender = await member(t, srv, "/a", ["room1"]);
  const answers = await member(t, srv, "/a", ["room1"]);
  const silent = await member(t, srv, "/a", ["room1"]);
  answers.on("question", (cb) => cb("here"));
  const silentGot = nextEvent(silent, "question");
  const started = Date.now();
  const reply = await relay(sender, { to: "room1", event: "question", ack: true });
  assert.deepEqual(reply, { ok: true, acks: ["here"] });
  assert.ok(Date.now() - started >= 350, "the relay waited for the silent receiver");
  await silentGot;
});

test("bad_request: payloads of the wrong shape", async (t) => {
  const srv = await useServer(t, RELAY_ARGS);
  const s = await member(t, srv, "/a", ["room1"]);
  const ask = (event, ...args) => s.timeout(5000).emitWithAck(event, ...args);
  const cases = [
    ["rooms:join", []],
    ["rooms:join", ["room1"]],
    ["rooms:join", [{}]],
    ["rooms:join", [{ room: 1 }]],
    ["rooms:join", [{ room: "room1", extra: true }]],
    ["rooms:leave", [null]],
    ["rooms:leave", [{ name: "room1" }]],
    ["relay", []],
    ["relay", [{}]],
    ["relay", [{ to: "room1" }]],
    ["relay", [{ event: 5 }]],
    ["relay", [{ event: "x", to: 5 }]],
    ["relay", [{ event: "x", to: [1] }]],
    ["relay", [{ event: "x", args: "not-an-array" }]],
    ["relay", [{ event: "x", include_self: "yes" }]],
    ["relay", [{ event: "x", ack: 1 }]],
    ["relay", [{ event: "x", unknown: 1 }]],
  ];
  for (const [event, args] of cases) {
    assertError(await ask(event, ...args), "bad_request", `${event} ${JSON.stringify(args)}`);
  }
  // Nothing changed: still in room1 only.
  assert.deepEqual(await leave(s, "nothing"), { ok: true, rooms: ["room1"] });
});

test("invalid_room: empty, longer than 64, or characters outside letters/digits/-/_/./:", async (t) => {
  const srv = await useServer(t, RELAY_ARGS);
  const s = await member(t, srv, "/a", ["room1"]);
  const peer = await member(t, srv, "/a", ["room1"]);
  const leaked = collect(peer, "x");
  for (const room of ["", "r".repeat(65), "has space", "a/b", "semi;colon", "emoji🎉", "tab\t", "quote\"", "#hash"]) {
    assertError(await join(s, room), "invalid_room", `join ${JSON.stringify(room)}`);
    assertError(await leave(s, room), "invalid_room", `leave ${JSON.stringify(room)}`);
    assertError(await relay(s, { to: room, event: "x" }), "invalid_room", `relay to ${JSON.stringify(room)}`);
    assertError(await relay(s, { to: ["room1", room], event: "x" }), "invalid_room", `relay to [room1, ${JSON.stringify(room)}]`);
  }
  assert.deepEqual(await leave(s, "nothing"), { ok: true, rooms: ["room1"] }, "no invalid room was joined");
  await marker(s, [peer], "room1");
  assert.deepEqual(leaked, [], "refused relays delivered nothing");
});

test("invalid_event: empty, longer than 64 characters, or reserved", async (t) => {
  const srv = await useServer(t, RELAY_ARGS);
  const s = await member(t, srv, "/a", ["room1"]);
  const peer = await member(t, srv, "/a", ["room1"]);
  const reserved = ["connect", "connect_error", "disconnect", "disconnecting", "newListener", "removeListener"];
  const leaked = [];
  for (const name of ["x".repeat(65), ...reserved]) peer.on(name, (...a) => leaked.push([name, ...a]));
  peer.onAny((name, ...a) => leaked.push([name, ...a]));
  for (const event of ["", "x".repeat(65), ...reserved]) {
    assertError(await relay(s, { to: "room1", event }), "invalid_event", `event ${JSON.stringify(event)}`);
    assertError(await relay(s, { event }), "invalid_event", `namespace-wide event ${JSON.stringify(event)}`);
  }
  // The limit itself is allowed.
  const ok = nextEvent(peer, "y".repeat(64));
  assert.deepEqual(await relay(s, { to: "room1", event: "y".repeat(64) }), { ok: true });
  await ok;
  await marker(s, [peer], "room1");
  assert.deepEqual(
    leaked.map(([name]) => name),
    ["y".repeat(64), "marker"],
    "refused relays delivered nothing",
  );
  assert.equal(peer.connected, true, "a relay named like a reserved event did not disconnect anyone");
});

test(
  "invalid_event counts characters, not bytes: a 64-character non-ASCII name is accepted",
  async (t) => {
    const srv = await useServer(t, RELAY_ARGS);
    const s = await member(t, srv, "/a", ["room1"]);
    const peer = await member(t, srv, "/a", ["room1"]);
    const event = "é".repeat(64);
    const got = nextEvent(peer, event);
    assert.deepEqual(await relay(s, { to: "room1", event, args: [1] }), { ok: true });
    assert.deepEqual(await got, [1]);
  },
);

test("not_in_room: relaying to a room the sender has not joined", async (t) => {
  const srv = await useServer(t, RELAY_ARGS);
  const s = await member(t, srv, "/a", ["mine"]);
  const other = await member(t, srv, "/a", ["theirs", "mine"]);
  const leaked = collect(other, "x");
  assertError(await relay(s, { to: "theirs", event: "x" }), "not_in_room", "single room");
  assertError(await relay(s, { to: ["mine", "theirs"], event: "x" }), "not_in_room", "one of several rooms");
  assertError(await relay(s, { to: ["theirs"], event: "x", ack: true }), "not_in_room", "with ack");
  // Rooms are per namespace: joining "theirs" in /b does not allow relaying to it in /a.
  const inB = await member(t, srv, "/b", ["theirs"]);
  assert.ok(inB.connected);
  assertError(await relay(s, { to: "theirs", event: "x" }), "not_in_room", "joined elsewhere");
  await marker(s, [other], "mine");
  assert.deepEqual(leaked, [], "refused relays delivered nothing");
});

test("too_many_rooms: more than --max-rooms-per-socket rooms", async (t) => {
  const srv = await useServer(t, [...RELAY_ARGS, "--max-rooms-per-socket", "2"]);
  const s = await member(t, srv, "/a");
  assert.deepEqual(await join(s, "one"), { ok: true, rooms: ["one"] });
  assert.deepEqual(await join(s, "two"), { ok: true, rooms: ["one", "two"] });
  assertError(await join(s, "three"), "too_many_rooms", "third room");
  assert.deepEqual(await join(s, "two"), { ok: true, rooms: ["one", "two"] }, "rejoining at the limit is fine");
  assert.deepEqual(await leave(s, "one"), { ok: true, rooms: ["two"] });
  assert.deepEqual(await join(s, "three"), { ok: true, rooms: ["three", "two"] }, "leaving frees a slot");
  // The limit is per socket and per namespace.
  const other = await member(t, srv, "/a", ["one", "two"]);
  const inB = await member(t, srv, "/b", ["one", "two"]);
  assert.ok(other.connected && inB.connected);
  assertError(await join(inB, "three"), "too_many_rooms", "limit in /b too");
});

test("too_many_rooms: the default limit is 50", async (t) => {
  const srv = await useServer(t, RELAY_ARGS);
  const s = await member(t, srv, "/a");
  for (let i = 0; i < 50; i++) assert.equal((await join(s, `room-${i}`)).ok, true, `room ${i}`);
  assertError(await join(s, "room-50"), "too_many_rooms", "51st room");
});

test(
  "relayed events reach a receiver in the order the sender emitted them",
  async (t) => {
    const srv = await useServer(t, RELAY_ARGS);
    const sender = await member(t, srv, "/a", ["room1"]);
    const peer = await member(t, srv, "/a", ["room1"]);
    const got = collect(peer, "seq");
    const count = 100;
    const acks = [];
    for (let i = 0; i < count; i++) acks.push(relay(sender, { to: "room1", event: "seq", args: [i] }));
    await Promise.all(acks);
    while (got.length < count) await nextEvent(peer, "seq");
    assert.deepEqual(
      got.map(([i]) => i),
      Array.from({ length: count }, (_, i) => i),
    );
  },
);

test(
  "rooms:join emitted right after connect is answered",
  async (t) => {
    const srv = await useServer(t, RELAY_ARGS);
    for (let i = 0; i < 100; i++) {
      const socket = await connect(`${srv.url}/a`, { transports: ["websocket"] });
      try {
        const ack = await socket.timeout(1000).emitWithAck("rooms:join", { room: "first" });
        assert.deepEqual(ack, { ok: true, rooms: ["first"] });
      } catch (err) {
        assert.fail(`connection #${i}: rooms:join emitted on connect got no answer (${err.message})`);
      } finally {
        socket.close();
      }
    }
  },
);

test("rooms clients can make in one namespace are capped (--max-rooms-per-namespace); existing ones stay joinable", async (t) => {
  const srv = await useServer(t, [...RELAY_ARGS, "--max-rooms-per-namespace", "3"]);
  const a = await member(t, srv, "/a", ["r1", "r2"]);
  const b = await member(t, srv, "/a", ["r3"]);
  assertError(await join(b, "r4"), "too_many_rooms", "a fourth room");
  assert.equal((await join(b, "r1")).ok, true, "an existing room is still joinable");
  // Another namespace has its own cap.
  const other = await member(t, srv, "/b", ["x1", "x2", "x3"]);
  assertError(await join(other, "x4"), "too_many_rooms", "a fourth room in /b");
  // Rooms that empty out stop counting.
  assert.equal((await leave(a, "r2")).ok, true);
  assert.equal((await join(b, "r4")).ok, true, "r2 is gone, so r4 fits");
});
