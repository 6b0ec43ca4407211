import { Manager } from "socket.io-client";
import { startServer } from "/work/wt-hostile/tests/js/harness.mjs";
const server = await startServer(["--namespaces", "/tenant-*"]);
const m = new Manager(server.url, { transports: ["websocket"], reconnection: false });
let ok = 0, err = 0; const errs = {};
const N = Number(process.env.N ?? 3000);
const rss = async () => (await import("node:fs")).readFileSync(`/proc/${server.proc.pid}/status`, "utf8").match(/VmRSS:\s+(\d+)/)[1];
console.log("rss before", await rss());
const t0 = Date.now();
for (let i = 0; i < N; i++) {
  const s = m.socket(`/tenant-${i}`);
  await new Promise((r) => { s.once("connect", () => { ok++; r(); }); s.once("connect_error", (e) => { err++; errs[e.message] = (errs[e.message] ?? 0) + 1; r(); }); s.connect(); });
}
console.log({ ok, err, errs, ms: Date.now() - t0, rss: await rss() });
const metrics = await (await fetch(`${server.url}/metrics`)).text();
console.log(metrics.split("\n").filter(l => l.includes("tenant")).length, "metric lines with tenant");
process.exit(0);
