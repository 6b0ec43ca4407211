// Multi-node: several real iorelay processes on one real redis-server, with
// Debian's nginx (the repo's deploy/nginx.conf, rendered for test ports) in
// front. Checks that N nodes behave like one: chat across nodes, publishing on
// one node reaching sockets on others, remote acks and disconnects, long-polling
// affinity through nginx, surviving a Redis restart, draining a node on SIGTERM,
// and that docker-compose.yml agrees with the nginx config and the binary's flags.

import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import http from "node:http";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { execFileSync } from "node:child_process";
import { io } from "socket.io-client";
import YAML from "yaml";
import { startServer, connect, nextEvent, collect, BIN } from "./harness.mjs";
import { startRedis, startRedisCluster, startNginx, freePort } from "./services.mjs";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const KEY = "cluster-test-key-0123456789";

async function cluster(t, count, extra = []) {
  const redis = await startRedis();
  const args = ["--adapter", "redis", "--redis-url", redis.url, "--api-keys", KEY, ...extra];
  const nodes = [];
  for (let i = 0; i < count; i++) nodes.push(await startServer([...args, "--node-id", `node-${i + 1}`]));
  t.after(async () => {
    await Promise.all(nodes.map((n) => n.stop("SIGKILL")));
    await redis.stop();
  });
  return { redis, nodes };
}

function api(node, route, body) {
  return fetch(node.url + route, {
    method: body === undefined ? "GET" : "POST",
    headers: { "content-type": "application/json", "x-api-key": KEY },
    body: body === undefined ? undefined : JSON.stringify(body),
  }).then(async (r) => ({ status: r.status, body: await r.json() }));
}

/** Resolves with the first `presence` on `socket` that satisfies `accept`. */
function presenceWhere(socket, accept, timeoutMs = 10000) {
  return new Promise((resolve, reject) => {
    const seen = [];
    const timer = setTimeout(() => {
      socket.off("presence", on);
      reject(new Error(`no matching presence within ${timeoutMs} ms; saw ${JSON.stringify(seen)}`));
    }, timeoutMs);
    function on(p) {
      seen.push(p);
      if (!accept(p)) return;
      clearTimeout(timer);
      socket.off("presence", on);
      resolve(p);
    }
    socket.on("presence", on);
  });
}

function closeAll(t, sockets) {
  t.after(() => sockets.forEach((s) => s.close()));
}

test("chat across two nodes: messages both ways, cluster-wide presence, shared history", async (t) => {
  const { redis, nodes } = await cluster(t, 2);
  const [A, B] = nodes;
  const ada = await connect(A.url + "/chat", { auth: { name: "Ada" } });
  const bob = await connect(B.url + "/chat", { auth: { name: "Bob" }, transports: ["polling"] });
  closeAll(t, [ada, bob]);

  const joinedA = await ada.emitWithAck("join", { room: "lobby" });
  assert.deepEqual(joinedA.members.map((m) => m.name), ["Ada"]);
  const presenceOnA = presenceWhere(ada, (p) => p.joined?.some((u) => u.name === "Bob"));
  const joinedB = await bob.emitWithAck("join", { room: "lobby" });
  assert.deepEqual(joinedB.members.map((m) => m.name), ["Ada", "Bob"], "members from both nodes");
  assert.equal(joinedB.count, 2);
  const presence = await presenceOnA;
  assert.equal(presence.count, 2, "the count is cluster-wide");
  const toAda = nextEvent(ada, "message");
  const sentByBob = await bob.emitWithAck("message", { room: "lobby", text: "hello from B" });
  const [gotAda] = await toAda;
  assert.equal(gotAda.id, sentByBob.id);
  assert.equal(gotAda.text, "hello from B");

  const toBob = nextEvent(bob, "message");
  const sentByAda = await ada.emitWithAck("message", { room: "lobby", text: "hello from A" });
  assert.equal(sentByAda.id, sentByBob.id + 1, "ids stay monotonic across nodes");
  assert.equal((await toBob)[0].text, "hello from A");

  // History written via A and B reads the same via either node.
  const viaB = await bob.emitWithAck("history", { room: "lobby", after: 0 });
  const viaA = await ada.emitWithAck("history", { room: "lobby", after: 0 });
  assert.deepEqual(viaB.messages.map((m) => m.text), ["hello from B", "hello from A"]);
  assert.deepEqual(viaA.messages, viaB.messages);

  // A late joiner on A gets the history written through B.
  const cy = await connect(A.url + "/chat", { auth: { name: "Cy" } });
  closeAll(t, [cy]);
  const cyJoinSeenByAda = presenceWhere(ada, (p) => p.joined?.some((u) => u.name === "Cy"));
  const joinedC = await cy.emitWithAck("join", { room: "lobby" });
  // Node A's batch may also carry Ada's own join, when Cy came within its window.
  assert.equal((await cyJoinSeenByAda).count, 3);
  assert.deepEqual(joinedC.messages.map((m) => m.id), [sentByBob.id, sentByAda.id]);
  const rooms = await cy.emitWithAck("rooms");
  assert.deepEqual(rooms.rooms, [{ room: "lobby", members: 3 }]);

  // Presence on disconnect reaches the other node.
  const leftOnA = presenceWhere(ada, (p) => p.left);
  bob.close();
  assert.deepEqual(await leftOnA, { room: "lobby", left: [{ id: "guest:bob", name: "Bob" }], count: 2 });

  // Paging reads the cluster-wide members; idle history keys expire in Redis.
  const page = await cy.emitWithAck("members", { room: "lobby", limit: 1 });
  assert.deepEqual(page, { ok: true, members: [{ id: "guest:ada", name: "Ada" }], next_cursor: "guest:ada", count: 2 });
  const rest = await cy.emitWithAck("members", { room: "lobby", cursor: page.next_cursor });
  assert.deepEqual(rest, { ok: true, members: [{ id: "guest:cy", name: "Cy" }], next_cursor: null, count: 2 });
  const ttl = Number(execFileSync("redis-cli", ["-p", String(redis.port), "TTL", "iorelay:chat:history:{lobby}"]).toString());
  assert.ok(ttl > 600_000 && ttl <= 7 * 24 * 3600, `history TTL ${ttl}`);
});

test("a node that dies without cleaning up: its users leave the room for the others", async (t) => {
  const { redis, nodes } = await cluster(t, 2);
  const [A, B] = nodes;
  const ada = await connect(A.url + "/chat", { auth: { name: "Ada" } });
  const bob = await connect(B.url + "/chat", { auth: { name: "Bob" } });
  closeAll(t, [ada, bob]);
  await ada.emitWithAck("join", { room: "crash" });
  const seesBob = presenceWhere(ada, (p) => p.count === 2);
  await bob.emitWithAck("join", { room: "crash" });
  await seesBob;
  const bobGone = presenceWhere(ada, (p) => p.left, 40000);
  await B.stop("SIGKILL");
  // B's heartbeat key expires (15 s), then A's reaper (every 5 s) removes B's sockets.
  assert.deepEqual(await bobGone, { room: "crash", left: [{ id: "guest:bob", name: "Bob" }], count: 1 });
  const page = await ada.emitWithAck("members", { room: "crash" });
  assert.deepEqual(page.members.map((m) => m.name), ["Ada"]);
  // Once the room is empty nothing of its presence is left in Redis.
  ada.close();
  const keys = () => execFileSync("redis-cli", ["-p", String(redis.port), "--scan", "--pattern", "iorelay:chat:presence*"]).toString().split("\n").filter(Boolean).sort();
  for (let i = 0; i < 50 && keys().length > 1; i++) await new Promise((r) => setTimeout(r, 100));
  assert.deepEqual(keys(), ["iorelay:chat:presence-nodes"], "only the list of nodes with presence is left");
});

test("a join storm across two nodes: batched changes from each node, cluster-wide counts, every member paged once", async (t) => {
  const N = 120;
  const { nodes } = await cluster(t, 2);
  const names = Array.from({ length: N }, (_, i) => `s${String(i).padStart(3, "0")}`);
  const sockets = await Promise.all(names.map((name, i) => connect(nodes[i % 2].url + "/chat", { auth: { name }, transports: ["websocket"] }, 20000)));
  closeAll(t, sockets);
  const seen = sockets.map(() => ({ bytes: 0, count: 0, left: new Set() }));
  const settled = (pred) =>
    Promise.all(
      sockets.map(
        (s, i) =>
          new Promise((resolve, reject) => {
            const timer = setTimeout(() => reject(new Error(`${names[i]}: last count ${seen[i].count}`)), 20000);
            const check = () => pred(seen[i]) && (clearTimeout(timer), s.off("presence", check), resolve());
            s.on("presence", check);
            check();
          }),
      ),
    );
  sockets.forEach((s, i) =>
    s.on("presence", (p) => {
      seen[i].bytes += Buffer.byteLength(JSON.stringify(p));
      seen[i].count = p.count;
      for (const u of p.left ?? []) seen[i].left.add(u.id);
    }),
  );
  const all = settled((w) => w.count === N);
  const replies = await Promise.all(sockets.map((s) => s.timeout(20000).emitWithAck("join", { room: "storm" })));
  assert.ok(replies.every((r) => r.ok && r.members.length <= 100));
  await all;
  const most = Math.max(...seen.map((w) => w.bytes));
  t.diagnostic(`two nodes, ${N} joins: at most ${most} presence bytes per member (${(most / N).toFixed(1)} per joiner)`);
  assert.ok(most <= 100 * N, `${most} presence bytes for ${N} joins`);

  // Half disconnect, from both nodes; the rest see exactly them go.
  const gone = new Set(names.slice(N / 2).map((n) => `guest:${n}`));
  const stay = sockets.slice(0, N / 2);
  const rest = Promise.all(
    stay.map((s, i) =>
      new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`${names[i]}: count ${seen[i].count}, ${seen[i].left.size} left`)), 20000);
        const check = () => seen[i].count === N / 2 && seen[i].left.size === N / 2 && (clearTimeout(timer), s.off("presence", check), resolve());
        s.on("presence", check);
      }),
    ),
  );
  sockets.slice(N / 2).forEach((s) => s.close());
  await rest;
  for (const w of seen.slice(0, N / 2)) assert.deepEqual([...w.left].sort(), [...gone].sort());
  const listed = [];
  let cursor = null;
  do {
    const page = await stay[1].emitWithAck("members", cursor ? { room: "storm", cursor, limit: 25 } : { room: "storm", limit: 25 });
    listed.push(...page.members.map((m) => m.id));
    cursor = page.next_cursor;
  } while (cursor);
  assert.deepEqual(listed, names.slice(0, N / 2).map((n) => `guest:${n}`));
});

test("publishing on node A reaches sockets on B and C, rooms joined across nodes", async (t) => {
  const { nodes } = await cluster(t, 3);
  const [A, B, C] = nodes;
  const onB = await connect(B.url);
  const onC = await connect(C.url, { transports: ["polling"] });
  const outsider = await connect(C.url);
  closeAll(t, [onB, onC, outsider]);

  for (const s of [onB, onC]) {
    const r = await api(A, "/api/v1/rooms/join", { target: s.id, rooms: ["team"] });
    assert.deepEqual(r, { status: 200, body: { ok: true } });
  }
  const listed = await api(A, "/api/v1/namespaces/%2F/rooms/team/sockets");
  assert.deepEqual(listed.body.sockets.map((s) => s.id).sort(), [onB.id, onC.id].sort());
  // A socket's rooms, asked on a node that does not hold it.
  assert.deepEqual(await api(A, `/api/v1/namespaces/%2F/sockets/${onB.id}/rooms`), {
    status: 200,
    body: { rooms: [onB.id, "team"].sort() },
  });
  const unknown = await api(A, "/api/v1/namespaces/%2F/sockets/AAAAAAAAAAAAAAAA/rooms");
  assert.equal(unknown.status, 404);
  assert.equal(unknown.body.error.code, "unknown_socket");

  const seenByOutsider = collect(outsider, "news");
  const gotB = nextEvent(onB, "news");
  const gotC = nextEvent(onC, "news");
  const sent = await api(A, "/api/v1/emit", { event: "news", args: ["x", { n: 1 }, { $binary: "AQID" }], rooms: "team" });
  assert.equal(sent.status, 200);
  for (const got of [await gotB, await gotC]) {
    assert.equal(got[0], "x");
    assert.deepEqual(got[1], { n: 1 });
    assert.deepEqual([...got[2]], [1, 2, 3]);
  }
  // The outsider is on C too; a broadcast to everyone after the room emit arrives after it.
  const marker = nextEvent(outsider, "marker");
  await api(A, "/api/v1/emit", { event: "marker" });
  await marker;
  assert.equal(seenByOutsider.length, 0, "not in the room, nothing delivered");

  // Acks from remote sockets come back to the node that asked.
  onB.on("question", (n, ack) => ack({ from: "B", answer: n * 2 }));
  onC.on("question", (n, ack) => ack({ from: "C", answer: n * 3 }));
  const asked = await api(A, "/api/v1/emit", { event: "question", args: [7], rooms: ["team"], ack_timeout_ms: 3000 });
  assert.equal(asked.status, 200);
  const byFrom = (a, b) => a.args[0].from.localeCompare(b.args[0].from);
  assert.deepEqual(asked.body.acks.sort(byFrom), [
    { sid: onB.id, args: [{ from: "B", answer: 14 }] },
    { sid: onC.id, args: [{ from: "C", answer: 21 }] },
  ]);
  assert.equal(asked.body.timeouts, 0);
  assert.deepEqual(asked.body.timed_out, []);

  // A disconnect requested on A closes the socket on B.
  const reason = nextEvent(onB, "disconnect");
  assert.equal((await api(A, "/api/v1/disconnect", { sid: onB.id })).status, 200);
  assert.equal((await reason)[0], "io server disconnect");
});

test("client relay and /notifications work across nodes", async (t) => {
  const { nodes } = await cluster(t, 2, ["--client-relay"]);
  const [A, B] = nodes;
  const a = await connect(A.url);
  const b = await connect(B.url);
  const tabA = await connect(A.url + "/notifications", { auth: { name: "Dee" } });
  const tabB = await connect(B.url + "/notifications", { auth: { name: "Dee" }, transports: ["polling"] });
  closeAll(t, [a, b, tabA, tabB]);
  await a.emitWithAck("rooms:join", { room: "r" });
  await b.emitWithAck("rooms:join", { room: "r" });
  const got = nextEvent(b, "hello");
  assert.deepEqual(await a.emitWithAck("relay", { to: "r", event: "hello", args: [1, "two"] }), { ok: true });
  assert.deepEqual(await got, [1, "two"]);

  const n1 = nextEvent(tabA, "notification");
  const n2 = nextEvent(tabB, "notification");
  const sent = await api(B, "/api/v1/notify", { users: ["guest:dee"], title: "Both tabs" });
  assert.equal(sent.status, 200);
  assert.equal((await n1)[0].id, sent.body.id);
  assert.equal((await n2)[0].id, sent.body.id);
});

test("Redis restart: local delivery goes on, readiness reports it, cross-node delivery resumes", async (t) => {
  const { redis, nodes } = await cluster(t, 2, ["--client-relay"]);
  const [A, B] = nodes;
  const a1 = await connect(A.url);
  const a2 = await connect(A.url);
  const b1 = await connect(B.url);
  closeAll(t, [a1, a2, b1]);
  for (const s of [a1, a2, b1]) await s.emitWithAck("rooms:join", { room: "r" });

  await redis.stop();
  await A.waitForLog(/lost the connection to Redis/);
  let ready;
  for (let i = 0; i < 100; i++) {
    ready = await fetch(A.url + "/readyz").then(async (r) => ({ status: r.status, body: await r.json() }));
    if (ready.status === 503) break;
  }
  assert.equal(ready.status, 503);
  assert.equal(ready.body.checks.redis.ready, false);
  assert.ok(ready.body.checks.redis.cause, "the cause is reported");

  // Local delivery goes on while Redis is away.
  const local = nextEvent(a2, "during");
  assert.deepEqual(await a1.emitWithAck("relay", { to: "r", event: "during", args: ["outage"] }), { ok: true });
  assert.deepEqual(await local, ["outage"]);
  assert.equal((await fetch(A.url + "/healthz")).status, 200, "alive all along");

  await redis.restart();
  await A.waitForLog(/Redis connection restored/, 20000);
  await B.waitForLog(/Redis connection restored/, 20000);
  // The pub/sub subscription comes back with the reconnect; retry until a message crosses.
  let crossed = false;
  for (let i = 0; i < 50 && !crossed; i++) {
    const got = nextEvent(b1, "after", 200).then(() => true, () => false);
    await a1.emitWithAck("relay", { to: "r", event: "after", args: [i] });
    crossed = await got;
  }
  assert.ok(crossed, "cross-node delivery resumed after the Redis restart");
  const readyAgain = await fetch(A.url + "/readyz");
  assert.equal(readyAgain.status, 200);
  assert.ok(!A.logs().includes("panicked") && !B.logs().includes("panicked"));
});

test("--redis-sharded on a real Redis Cluster: chat, presence and API emits across nodes", async (t) => {
  const redis = await startRedisCluster();
  const args = (url) => ["--adapter", "redis", "--redis-sharded", "--redis-url", url, "--api-keys", KEY];
  const A = await startServer(args(redis.urls[0]));
  const B = await startServer(args(redis.urls[1]));
  t.after(async () => {
    await Promise.all([A.stop("SIGKILL"), B.stop("SIGKILL")]);
    await redis.stop();
  });
  const ada = await connect(A.url + "/chat", { auth: { name: "Ada" } });
  const bob = await connect(B.url + "/chat", { auth: { name: "Bob" } });
  const plain = await connect(B.url);
  closeAll(t, [ada, bob, plain]);
  const seesBob = presenceWhere(ada, (p) => p.joined?.some((u) => u.name === "Bob"));
  await ada.emitWithAck("join", { room: "sharded" });
  const joined = await bob.emitWithAck("join", { room: "sharded" });
  assert.deepEqual(joined.members.map((m) => m.name), ["Ada", "Bob"], "presence across nodes");
  assert.equal((await seesBob).count, 2);
  const toAda = nextEvent(ada, "message");
  const sent = await bob.emitWithAck("message", { room: "sharded", text: "over SPUBLISH" });
  assert.equal((await toAda)[0].id, sent.id);
  const history = await ada.emitWithAck("history", { room: "sharded", after: 0 });
  assert.deepEqual(history.messages.map((m) => m.text), ["over SPUBLISH"]);
  const got = nextEvent(plain, "direct");
  assert.equal((await api(A, "/api/v1/emit", { event: "direct", args: [42], rooms: [plain.id] })).status, 200);
  assert.deepEqual(await got, [42]);
});

test("Redis unreachable at start: one clear line, non-zero exit", async () => {
  const port = await freePort();
  const out = (() => {
    try {
      execFileSync(BIN, ["--listen", "127.0.0.1:0", "--adapter", "redis", "--redis-url", `redis://:secret@127.0.0.1:${port}`], {
        stdio: "pipe",
        timeout: 20000,
      });
      return { code: 0, stderr: "" };
    } catch (e) {
      return { code: e.status, stderr: e.stderr.toString() };
    }
  })();
  assert.equal(out.code, 1);
  assert.match(out.stderr, /iorelay: cannot use Redis at redis:\/\/:<redacted>@127\.0\.0\.1:\d+/);
  assert.doesNotMatch(out.stderr, /secret|panicked/);
});

function renderNginx(nodePorts, listenPort) {
  let conf = fs.readFileSync(path.join(root, "deploy/nginx.conf"), "utf8");
  conf = conf.replace(/listen 8080;/, `listen 127.0.0.1:${listenPort};`);
  conf = conf.replace(/worker_processes auto;/, "worker_processes 1;");
  conf = conf.replace(/worker_connections \d+;/, "worker_connections 1024;");
  nodePorts.forEach((port, i) => {
    conf = conf.replace(`server iorelay-${i + 1}:3000`, `server 127.0.0.1:${port}`);
  });
  assert.doesNotMatch(conf, /iorelay-\d:3000/, "every upstream rendered");
  return conf;
}

test("long-polling through nginx keeps affinity; SIGTERM on a node moves its clients", async (t) => {
  const { nodes } = await cluster(t, 3, ["--shutdown-timeout-ms", "3000"]);
  const lbPort = await freePort();
  const nginx = await startNginx(renderNginx(nodes.map((n) => n.port), lbPort));
  t.after(() => nginx.stop());
  const lb = `http://127.0.0.1:${lbPort}`;

  // Clients from different loopback addresses, so the address hash spreads them.
  const clients = [];
  for (let i = 0; i < 6; i++) {
    const agent = new http.Agent({ localAddress: `127.0.0.${i + 2}`, keepAlive: true });
    const socket = io(lb + "/chat", {
      forceNew: true,
      transports: ["polling"],
      agent,
      auth: { name: `user${i}` },
      reconnectionDelay: 100,
      reconnectionDelayMax: 300,
    });
    clients.push(socket);
  }
  closeAll(t, clients);
  await Promise.all(clients.map((s) => (s.connected ? null : nextEvent(s, "connect", 10000))));
  for (const s of clients) assert.equal((await s.emitWithAck("join", { room: "poll" })).ok, true);

  const where = await api(nodes[0], "/api/v1/namespaces/chat/rooms/poll/sockets");
  const byNode = new Map();
  for (const s of where.body.sockets) byNode.set(s.node, (byNode.get(s.node) ?? 0) + 1);
  assert.ok(byNode.size >= 2, `clients spread over nodes: ${JSON.stringify([...byNode])}`);

  // Several polling round trips per client: each must reach the node holding its session.
  for (let round = 0; round < 3; round++) {
    const received = clients.map((s) => nextEvent(s, "message", 10000));
    const sender = clients[round];
    await sender.emitWithAck("message", { room: "poll", text: `round ${round}` });
    for (const got of await Promise.all(received)) assert.equal(got[0].text, `round ${round}`);
  }
  for (const s of clients) assert.equal(s.io.engine.transport.name, "polling");

  // Stop the node holding client 0: its clients reconnect through nginx to the others.
  const sid0 = clients[0].id;
  const holder = where.body.sockets.find((s) => s.id === sid0).node;
  const victimIndex = (await Promise.all(nodes.map((n) => isLocal(n, sid0)))).indexOf(true);
  assert.notEqual(victimIndex, -1, `found the node holding ${sid0}`);
  const victim = nodes[victimIndex];
  const moved = clients.filter((s) => where.body.sockets.find((x) => x.id === s.id).node === holder);
  const reconnected = moved.map((s) => nextEvent(s.io, "reconnect", 15000));
  assert.equal(await victim.stop("SIGTERM"), 0, "drained and exited 0");
  await Promise.all(reconnected);
  for (const s of moved) {
    const again = await s.emitWithAck("join", { room: "poll" });
    assert.equal(again.ok, true);
  }
  const survivor = nodes.find((n) => n !== victim);
  const after = await api(survivor, "/api/v1/namespaces/chat/rooms/poll/sockets");
  assert.ok(!after.body.sockets.some((s) => s.node === holder), "no socket left on the stopped node");
  assert.equal(after.body.sockets.length, clients.length);
});

/** Whether `node` holds socket `sid` itself (its listing of the sid's own room marks local sockets). */
async function isLocal(node, sid) {
  const r = await api(node, `/api/v1/namespaces/chat/rooms/${encodeURIComponent(sid)}/sockets`);
  return r.body.sockets.length === 1 && r.body.sockets[0].local === true;
}

test("docker-compose.yml agrees with deploy/nginx.conf and the binary's flags", () => {
  const compose = YAML.parse(fs.readFileSync(path.join(root, "docker-compose.yml"), "utf8"), { merge: true });
  const nginxConf = fs.readFileSync(path.join(root, "deploy/nginx.conf"), "utf8");
  const help = execFileSync(BIN, ["--help"]).toString();
  const knownEnv = new Set([...help.matchAll(/\[env: (IORELAY_[A-Z0-9_]+)/g)].map((m) => m[1]));

  const nodeNames = Object.keys(compose.services).filter((n) => /^iorelay-\d+$/.test(n));
  assert.ok(nodeNames.length >= 2, "several nodes");
  const upstreams = [...nginxConf.matchAll(/server (iorelay-\d+):(\d+)/g)].map((m) => ({ host: m[1], port: m[2] }));
  assert.deepEqual(upstreams.map((u) => u.host).sort(), nodeNames.sort(), "nginx balances exactly the compose nodes");
  assert.match(nginxConf, /hash \$remote_addr consistent;|ip_hash;/, "session affinity");
  assert.match(nginxConf, /proxy_set_header Upgrade \$http_upgrade;/);

  for (const name of nodeNames) {
    const env = compose.services[name].environment;
    const listenPort = env.IORELAY_LISTEN.split(":").pop();
    for (const u of upstreams.filter((u) => u.host === name)) assert.equal(u.port, listenPort, `${name} port`);
    assert.equal(env.IORELAY_ADAPTER, "redis");
    assert.match(env.IORELAY_REDIS_URL, /^redis:\/\/redis:6379/);
    for (const key of Object.keys(env).filter((k) => k.startsWith("IORELAY_"))) {
      assert.ok(knownEnv.has(key), `${name}: ${key} is a real iorelay setting`);
    }
  }
  assert.ok(compose.services.redis, "redis service");
  const lbPort = nginxConf.match(/listen (\d+);/)[1];
  assert.ok(compose.services.nginx.ports.some((p) => p.endsWith(`:${lbPort}`)), "nginx publishes its listen port");
  assert.ok(
    compose.services.nginx.volumes.some((v) => v.startsWith("./deploy/nginx.conf:")),
    "nginx uses the repo's config",
  );
});
