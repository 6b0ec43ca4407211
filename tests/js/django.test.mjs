// Django Channels migration, end to end with real Django + channels + channels_redis
// from PyPI (tests/.venv-django): `async_to_sync(channel_layer.group_send)(...)` after
// `django.setup()`, through a real redis-server, reaches real socket.io-client sockets.
// - both layer kinds (core RedisChannelLayer, pubsub RedisPubSubChannelLayer), two
//   nodes on the Redis adapter: each room-group message reaches each member once,
//   a `user.<id>` group reaches that user's /notifications tabs (on both nodes) once;
// - an encrypted layer: the right key works, a wrong one is refused and counted;
// - mutated real messages and garbage on the layer's keys and channels never stop
//   the bridge: each is counted and the next good message is applied.
//
// "Did not receive" is asserted after a later marker arrived on the same socket:
// a node applies one inbox's (or one subscription's) messages in order and a
// socket's packets are delivered in order, so anything meant for it came before.

import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { useServer, useSocket, nextEvent, collect, ackOnceReady, withTimeout } from "./harness.mjs";
import { startRedis } from "./services.mjs";
import { metric, signToken, nowSecs } from "./raw.mjs";

const testsDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const PYTHON = path.join(testsDir, ".venv-django/bin/python");
const SECRET = "django-bridge-test-secret-0123456789";

/** Runs tests/python/django_layer.py with `ops` on the layer at `redis` (one or a list) of `kind`. */
function django(redis, kind, ops, keys = "") {
  const hosts = [redis].flat().map((r) => r.url).join(",");
  const proc = spawn(PYTHON, [path.join(testsDir, "python", "django_layer.py"), hosts, kind, keys], {
    stdio: ["pipe", "pipe", "pipe"],
  });
  let err = "";
  proc.stderr.on("data", (c) => (err += c));
  proc.stdout.resume();
  proc.stdin.end(JSON.stringify(ops));
  return withTimeout(
    once(proc, "exit").then(([code]) => {
      if (code !== 0) throw new Error(`django_layer.py exited with ${code}:\n${err}`);
    }),
    30000,
    "django_layer.py",
  );
}

const send = (group, message) => ({ op: "group_send", group, message });

async function useRedis(t) {
  const redis = await startRedis();
  t.after(() => redis.stop());
  return redis;
}

/** Waits until /readyz says the node and its bridge are ready. */
async function bridgeReady(url, timeoutMs = 10000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const res = await fetch(`${url}/readyz`);
    const body = await res.json();
    if (res.ok && body.checks?.django_bridge?.ready) return body;
    if (Date.now() > deadline) throw new Error(`bridge not ready: ${JSON.stringify(body)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** A connected socket of `/` in `rooms` (through the client relay). */
async function inRooms(t, url, rooms, opts = {}) {
  const socket = await useSocket(t, url, { transports: ["websocket"], ...opts });
  for (const room of rooms) {
    const [reply] = await ackOnceReady(socket, "rooms:join", [{ room }]);
    assert.equal(reply.ok, true, JSON.stringify(reply));
  }
  return socket;
}

/** A /notifications tab of user `sub`. */
async function tab(t, url, sub) {
  const socket = await useSocket(t, `${url}/notifications`, {
    transports: ["websocket"],
    auth: { token: signToken({ sub, exp: nowSecs() + 600 }, SECRET) },
  });
  return socket;
}

/** Resolves once `socket` got a `marker` event whose payload has `n`. */
async function marker(socket, seen, n) {
  while (!seen.some(([payload]) => payload.n === n)) await nextEvent(socket, "marker", 10000);
}

/** Resolves once `socket` got a notification whose data has `n`. */
async function noted(socket, seen, n) {
  while (!seen.some(([note]) => note.data.n === n)) await nextEvent(socket, "notification", 10000);
}

for (const kind of ["core", "pubsub"]) {
  test(`${kind} layer, two nodes: group_send reaches the room's sockets on both nodes once, user groups only that user`, async (t) => {
    const redis = await startRedis();
    const args = [
      "--client-relay", "--adapter", "redis", "--redis-url", redis.url, "--jwt-secret", SECRET,
      "--django-layer", redis.url, "--django-layer-kind", kind,
    ];
    const n1 = await useServer(t, [...args, "--node-id", "n1"]);
    const n2 = await useServer(t, [...args, "--node-id", "n2"]);
    // After hooks run in order: the nodes leave their groups while Redis still answers.
    t.after(() => redis.stop());
    await Promise.all([bridgeReady(n1.url), bridgeReady(n2.url)]);

    const s1 = await inRooms(t, n1.url, ["orders"]);
    const s2 = await inRooms(t, n2.url, ["orders"]);
    const other = await inRooms(t, n1.url, ["others"]);
    const [u1a, u1b, u2] = [await tab(t, n1.url, "u1"), await tab(t, n2.url, "u1"), await tab(t, n2.url, "u2")];
    const updates = [s1, s2, other].map((s) => collect(s, "order.update"));
    const markers = [s1, s2, other].map((s) => collect(s, "marker"));
    const notes = [u1a, u1b, u2].map((s) => collect(s, "notification"));

    const order = { type: "order.update", id: 7, items: ["a", "b"], total: 12.5, paid: true };
    const ready =
      kind === "core"
        ? [
            { op: "await_members", group: "orders", count: 2 },
            { op: "await_members", group: "others", count: 1 },
            { op: "await_members", group: "user.u1", count: 1 },
            { op: "await_members", group: "user.u2", count: 1 },
          ]
        : [];
    await django(redis, kind, [
      ...ready,
      send("orders", order),
      send("user.u1", { type: "invoice.paid", title: "Paid", body: "Invoice 12 is paid", n: 1 }),
      send("orders", { type: "marker", n: 1 }),
      send("others", { type: "marker", n: 1 }),
    ]);
    await Promise.all([s1, s2, other].map((s, i) => marker(s, markers[i], 1)));
    const { type: _, ...payload } = order;
    assert.deepEqual(updates[0], [[payload]], "once on n1, the type as event and the rest as payload");
    assert.deepEqual(updates[1], [[payload]], "once on n2");
    assert.deepEqual(updates[2], [], "not in the room");

    await Promise.all([noted(u1a, notes[0], 1), noted(u1b, notes[1], 1)]);
    const [note] = notes[0][0];
    assert.equal(note.title, "Paid");
    assert.equal(note.body, "Invoice 12 is paid");
    assert.deepEqual(note.data, { type: "invoice.paid", n: 1 });
    assert.equal(notes[1][0][0].id, note.id, "the same notification on both tabs");

    await django(redis, kind, [
      send("user.u2", { type: "ping", n: 2 }),
      send("user.u1", { type: "ping", n: 3 }),
    ]);
    await Promise.all([noted(u2, notes[2], 2), noted(u1a, notes[0], 3), noted(u1b, notes[1], 3)]);
    assert.deepEqual(notes[2].map(([n]) => n.data.n), [2], "u2 gets only its own");
    assert.deepEqual(notes[0].map(([n]) => n.data.n), [1, 3], "each u1 message once on n1's tab");
    assert.deepEqual(notes[1].map(([n]) => n.data.n), [1, 3], "each u1 message once on n2's tab");
    if (kind !== "core") return;

    // A node leaves a group when its last socket in the room leaves, and every room
    // group when it stops; a user group stays (another node may serve the user).
    assert.deepEqual(await ackOnceReady(s1, "rooms:leave", [{ room: "orders" }]), [{ ok: true, rooms: [] }]);
    await django(redis, kind, [{ op: "await_members", group: "orders", count: 1 }]);
    for (const s of [s2, u1b, u2]) s.close();
    await n2.stop();
    await django(redis, kind, [
      { op: "await_members", group: "orders", count: 0 },
      { op: "await_members", group: "others", count: 1 },
      { op: "await_members", group: "user.u1", count: 1 },
    ]);
  });
}

for (const kind of ["core", "pubsub"]) {
  test(`${kind} layer, encrypted: the right key opens messages, a wrong one is refused and counted`, async (t) => {
    const redis = await useRedis(t);
    const srv = await useServer(t, [
      "--client-relay", "--django-layer", redis.url, "--django-layer-kind", kind,
      "--django-encryption-keys", "key-2026,key-2025", "--django-namespace", "/",
    ]);
    await bridgeReady(srv.url);
    const s = await inRooms(t, srv.url, ["orders"]);
    const seen = collect(s, "order.update");
    const markers = collect(s, "marker");
    const ready = kind === "core" ? [{ op: "await_members", group: "orders", count: 1 }] : [];

    // The layer encrypts with its first key; iorelay has it second (a key rotation).
    await django(redis, kind, [...ready, send("orders", { type: "order.update", id: 1 })], "key-2025");
    while (seen.length === 0) await nextEvent(s, "order.update", 10000);
    await django(
      redis,
      kind,
      [
        { op: "mutated", group: "orders", message: { type: "order.update", id: 2 }, mutation: "none", keys: ["wrong"] },
        { op: "mutated", group: "orders", message: { type: "order.update", id: 3 }, mutation: "plain" },
        send("orders", { type: "marker", n: 1 }),
      ],
      "key-2026",
    );
    await marker(s, markers, 1);
    assert.deepEqual(seen, [[{ id: 1 }]], "only the message the keys open");
    assert.equal(await metric(srv.port, 'iorelay_django_bridge_messages_total{result="bad_encryption"}'), 2);
    assert.equal(await metric(srv.port, 'iorelay_django_bridge_messages_total{result="applied"}'), 2);
  });
}

for (const kind of ["core", "pubsub"]) {
  test(`${kind} layer: mutated real messages and garbage are counted, never stop the bridge`, async (t) => {
    const redis = await useRedis(t);
    // Every rejection is logged here (by default a repeating warning is logged once per 10 s).
    const srv = await useServer(t, [
      "--client-relay", "--django-layer", redis.url, "--django-layer-kind", kind, "--log-repeat-interval-ms", "0",
      "--node-id", "dj1",
    ]);
    await bridgeReady(srv.url);
    // Core: a group key that is not a sorted set; the node's other groups still join.
    if (kind === "core") await django(redis, kind, [{ op: "raw_set", key: "asgi:group:broken", value: "garbage" }]);
    const s = await inRooms(t, srv.url, ["broken", "orders"]);
    const seen = { update: collect(s, "order.update"), connect: collect(s, "connect"), x: collect(s, "x") };
    const markers = collect(s, "marker");
    const message = { type: "order.update", id: 1 };
    const mutated = (mutation, m = message) => ({ op: "mutated", group: "orders", message: m, mutation });
    const inbox = "asgiiorelay.dj1!";
    const ready =
      kind === "core"
        ? [
            { op: "await_members", group: "orders", count: 1 },
            // Garbage in the node's inbox key is deleted (it would block the inbox).
            { op: "raw_set", key: inbox, value: "garbage" },
            { op: "await_gone", key: inbox },
          ]
        : [];
    const expected = {
      malformed_msgpack: 3, // truncate, flip, garbage
      too_large: 1,
      bad_shape: 4, // not_a_dict, no_type, ext, int_keys
      invalid_event: 1,
      unknown_group: kind === "core" ? 1 : 0,
      wrong_key_type: kind === "core" ? 1 : 0,
    };

    await django(redis, kind, [
      ...ready,
      mutated("truncate"),
      mutated("flip"),
      mutated("garbage"),
      mutated("huge"),
      mutated("not_a_dict"),
      mutated("no_type"),
      mutated("ext"),
      mutated("int_keys"),
      mutated("none", { type: "connect", id: 1 }),
      ...(kind === "core" ? [mutated("foreign_channel")] : []),
      mutated("none", { type: "order.update", id: 2 }),
      send("orders", { type: "marker", n: 1 }),
    ]);
    await marker(s, markers, 1);
    assert.deepEqual(seen.update, [[{ id: 2 }]], "the good message after the garbage is applied");
    assert.deepEqual(seen.connect, []);
    for (const [reason, count] of Object.entries(expected)) {
      const counted = await metric(srv.port, `iorelay_django_bridge_messages_total{result="${reason}"}`);
      assert.equal(counted, count, reason);
    }
    const rejected = Object.values(expected).reduce((a, b) => a + b, 0);
    const logged = srv.logs().match(/rejected a Django channel-layer message|cannot hold a channel-layer message/g);
    assert.equal(logged.length, rejected, "each logged");
    assert.ok((await fetch(`${srv.url}/readyz`)).ok, "still ready");
  });
}

for (const kind of ["core", "pubsub"]) {
  test(`${kind} layer sharded over two hosts: every group is read where channels_redis puts it`, async (t) => {
    const hosts = [await useRedis(t), await useRedis(t)];
    const srv = await useServer(t, [
      "--client-relay", "--django-layer", hosts.map((h) => h.url).join(","), "--django-layer-kind", kind,
    ]);
    await bridgeReady(srv.url);
    const ready = await fetch(`${srv.url}/readyz`).then((r) => r.json());
    assert.equal(ready.checks.django_bridge_2?.ready, true, "one check per host");
    // channels_redis's CRC-32 puts these on both hosts: as core groups on 1, 1, 0, 1, 0,
    // as pub/sub channels (asgi__group__<name>) on 0, 1, 1, 0, 1.
    const groups = ["orders", "invoices", "chat", "news", "stock"];
    const s = await inRooms(t, srv.url, groups);
    const seen = collect(s, "hello");
    const joined = kind === "core" ? groups.map((group) => ({ op: "await_members", group, count: 1 })) : [];
    await django(hosts, kind, [...joined, ...groups.map((g) => send(g, { type: "hello", group: g }))]);
    while (seen.length < groups.length) await nextEvent(s, "hello", 10000);
    assert.deepEqual(seen.map(([p]) => p.group).sort(), [...groups].sort());
  });
}


/** Waits until /readyz says the bridge is not ready; resolves with its cause. */
async function bridgeDown(url, timeoutMs = 10000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const check = (await fetch(`${url}/readyz`).then((r) => r.json())).checks?.django_bridge;
    if (check && !check.ready) return check.cause;
    if (Date.now() > deadline) throw new Error("bridge still ready");
    await new Promise((r) => setTimeout(r, 50));
  }
}

for (const kind of ["core", "pubsub"]) {
  test(`${kind} layer: not ready while the layer is unreachable, delivering again once it is back (memberships restored)`, async (t) => {
    const redis = await useRedis(t);
    await redis.stop();
    const srv = await useServer(t, ["--client-relay", "--django-layer", redis.url, "--django-layer-kind", kind]);
    assert.match(await bridgeDown(srv.url), /not yet|unreachable|cannot/);
    await redis.restart();
    await bridgeReady(srv.url, 15000);
    const s = await inRooms(t, srv.url, ["orders"]);
    const seen = collect(s, "order.update");
    const joined = kind === "core" ? [{ op: "await_members", group: "orders", count: 1 }] : [];
    await django(redis, kind, [...joined, send("orders", { type: "order.update", n: 1 })]);
    while (seen.length < 1) await nextEvent(s, "order.update", 10000);

    // A restart without persistence loses the memberships: the node joins again.
    await redis.stop();
    assert.match(await bridgeDown(srv.url), /unreachable|did not answer|cannot/);
    await redis.restart();
    await bridgeReady(srv.url, 15000);
    await django(redis, kind, [...joined, send("orders", { type: "order.update", n: 2 })]);
    while (seen.length < 2) await nextEvent(s, "order.update", 10000);
    assert.deepEqual(seen, [[{ n: 1 }], [{ n: 2 }]]);
  });
}
