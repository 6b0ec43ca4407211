// An attacker against namespace patterns: one connection that keeps joining
// new names of `/tenant-*` must not make the node hold any number of them.

import { test } from "node:test";
import assert from "node:assert/strict";
import { Manager } from "socket.io-client";
import { useServer, connect } from "./harness.mjs";

/** Connects `socket`; resolves with null, or the connect_error's message. */
function outcome(socket) {
  return new Promise((resolve) => {
    socket.once("connect", () => resolve(null));
    socket.once("connect_error", (e) => resolve(e.message));
    socket.connect();
  });
}

test("a node holds at most --max-pattern-namespaces namespaces of patterns; held ones stay open", async (t) => {
  const server = await useServer(t, ["--namespaces", "/tenant-*", "--max-pattern-namespaces", "50"]);
  const manager = new Manager(server.url, { transports: ["websocket"], reconnection: false });
  t.after(() => manager.engine?.close());
  const results = [];
  for (let i = 0; i < 80; i++) results.push(await outcome(manager.socket(`/tenant-${i}`)));
  const joined = results.filter((r) => r === null).length;
  const refused = results.filter((r) => r?.startsWith("too_many_namespaces:")).length;
  assert.equal(joined, 50, results.filter(Boolean).join("; "));
  assert.equal(refused, 30);
  // A namespace the node holds still takes new clients; a new name does not.
  const tenant = await connect(`${server.url}/tenant-7`, { transports: ["websocket"] });
  t.after(() => tenant.close());
  assert.ok(tenant.connected);
  const metrics = await (await fetch(`${server.url}/metrics`)).text();
  assert.match(metrics, /iorelay_rate_limited_total\{limit="pattern_namespaces"\} \d+/);
});
