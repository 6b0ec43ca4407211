// An attacker against the Admin UI namespace, with real processes: floods of
// wrong logins (bcrypt is CPU by design), and what development mode's mirror
// shows of other clients' credentials.

import { test } from "node:test";
import assert from "node:assert/strict";
import bcrypt from "bcryptjs";
import { io } from "socket.io-client";
import { useServer, useSocket, connectError, ackArgs, nextEvent, withTimeout } from "./harness.mjs";

const PASSWORD = "correct horse battery staple";
// Cost 8: each wrong login costs the (debug) server real CPU, as an attacker wants.
const HASH = bcrypt.hashSync(PASSWORD, 8);
const OPEN_DOORS = ["--handshake-rate", "10000", "--handshake-burst", "10000", "--max-connections-per-ip", "10000"];

test("a flood of wrong logins is bounded: refused at once past a few, other clients unharmed", async (t) => {
  const server = await useServer(t, ["--admin-password-hash", HASH, "--client-relay", ...OPEN_DOORS]);
  const user = await useSocket(t, server.url, { transports: ["websocket"] });
  const flood = Array.from({ length: 64 }, () =>
    connectError(`${server.url}/admin`, { transports: ["websocket"], auth: { username: "admin", password: "guess" } }, 30000),
  );
  // While the flood is being checked, the node answers other clients quickly.
  let slowest = 0;
  for (let i = 0; i < 20; i++) {
    const started = performance.now();
    const [ack] = await ackArgs(user, "rooms:join", [{ room: `r${i % 4}` }]);
    assert.equal(ack.ok, true);
    slowest = Math.max(slowest, performance.now() - started);
    await new Promise((r) => setTimeout(r, 20));
  }
  const messages = (await Promise.all(flood)).map((e) => e.message);
  const busy = messages.filter((m) => m.startsWith("rate_limited: too many logins in progress")).length;
  const wrong = messages.filter((m) => m === "invalid credentials").length;
  t.diagnostic(`slowest round-trip during the flood: ${slowest.toFixed(0)} ms; ${wrong} checked, ${busy} refused as busy`);
  assert.equal(busy + wrong, 64, messages.join("; "));
  assert.ok(busy >= 32, `most of the flood is refused without running bcrypt (${busy} of 64)`);
  assert.ok(slowest < 500, `round-trip ${slowest} ms during the flood`);
  // Once it is over, the right password logs in.
  const admin = io(`${server.url}/admin`, { forceNew: true, reconnection: false, transports: ["websocket"], auth: { username: "admin", password: PASSWORD } });
  t.after(() => admin.close());
  const [session] = await nextEvent(admin, "session", 10000);
  assert.match(session, /^[0-9a-f]{16}$/);
  const metrics = await (await fetch(`${server.url}/metrics`)).text();
  assert.match(metrics, /iorelay_auth_failures_total\{code="admin_logins_busy"\} \d+/);
});

test("development mode masks credentials in handshakes and mirrored events", async (t) => {
  const server = await useServer(t, ["--admin-no-auth", "--admin-mode", "development", "--client-relay"]);
  const admin = io(`${server.url}/admin`, { forceNew: true, reconnection: false, transports: ["websocket"] });
  t.after(() => admin.close());
  const connected = [];
  const received = [];
  admin.on("socket_connected", (s) => connected.push(s));
  admin.on("event_received", (nsp, id, args) => received.push({ nsp, id, args }));
  await nextEvent(admin, "all_sockets", 10000);
  const user = await useSocket(t, server.url, {
    transports: ["websocket"],
    query: { access_token: "eyJ.query.token", room: "lobby" },
    extraHeaders: { "x-api-key": "k-123", "x-team": "blue" },
  });
  user.emit("auth:refresh", { token: "eyJ.refresh.token" });
  user.emit("login", { user: "ada", password: "hunter2" });
  user.emit("visible", { text: "hello" });
  await withTimeout(
    (async () => {
      while (!received.some((r) => r.args[0] === "visible") || !connected.some((s) => s.id === user.id)) {
        await new Promise((r) => setTimeout(r, 50));
      }
    })(),
    10000,
    "mirrored records",
  );
  const shown = connected.find((s) => s.id === user.id);
  assert.equal(shown.handshake.query.access_token, "<redacted>");
  assert.equal(shown.handshake.query.room, "lobby");
  assert.equal(shown.handshake.headers["x-api-key"], "<redacted>");
  assert.equal(shown.handshake.headers["x-team"], "blue");
  assert.doesNotMatch(shown.handshake.url, /eyJ/);
  const everything = JSON.stringify(received);
  assert.doesNotMatch(everything, /eyJ|hunter2/, everything);
  assert.deepEqual(received.find((r) => r.args[0] === "login").args, ["login", { user: "ada", password: "<redacted>" }]);
  assert.deepEqual(received.find((r) => r.args[0] === "visible").args, ["visible", { text: "hello" }]);
});
