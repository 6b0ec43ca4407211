// Real services the e2e tests start for themselves: redis-server, nginx and Python apps,
// each on a free loopback port, torn down by the test that started it.

import { spawn } from "node:child_process";
import { once } from "node:events";
import net from "node:net";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import assert from "node:assert/strict";
import { withTimeout } from "./harness.mjs";

/** A TCP port that was free a moment ago on 127.0.0.1. */
export async function freePort() {
  const server = net.createServer();
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address();
  server.close();
  await once(server, "close");
  return port;
}

function waitForOutput(proc, re, what, timeoutMs = 10000) {
  return new Promise((resolve, reject) => {
    let output = "";
    const timer = setTimeout(() => reject(new Error(`${what} did not start:\n${output}`)), timeoutMs);
    const onData = (chunk) => {
      output += chunk.toString();
      if (re.test(output)) {
        clearTimeout(timer);
        resolve();
      }
    };
    proc.stdout?.on("data", onData);
    proc.stderr?.on("data", onData);
    proc.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`${what} exited with ${code}:\n${output}`));
    });
  });
}

/**
 * Starts redis-server on a free port (no persistence).
 * Returns { url, port, stop(), restart() }: restart() starts it again on the same port.
 */
export async function startRedis() {
  const port = await freePort();
  let proc;
  const launch = async () => {
    proc = spawn("redis-server", ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    await waitForOutput(proc, /Ready to accept connections/, "redis-server");
  };
  await launch();
  const stop = async () => {
    if (proc.exitCode !== null || proc.signalCode !== null) return;
    const exited = once(proc, "exit");
    proc.kill("SIGKILL");
    await exited;
  };
  return { url: `redis://127.0.0.1:${port}`, port, stop, restart: launch };
}

/**
 * Starts a three-master Redis Cluster on free ports (no replicas, no persistence).
 * Returns { urls, stop() }.
 */
export async function startRedisCluster() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "iorelay-redis-cluster-"));
  const nodes = [];
  const ports = [];
  for (let i = 0; i < 3; i++) {
    const port = await freePort();
    const proc = spawn(
      "redis-server",
      ["--port", String(port), "--bind", "127.0.0.1", "--cluster-enabled", "yes", "--cluster-config-file", path.join(dir, `nodes-${port}.conf`), "--save", "", "--appendonly", "no"],
      { stdio: ["ignore", "pipe", "pipe"], cwd: dir },
    );
    await waitForOutput(proc, /Ready to accept connections/, "redis-server (cluster)");
    nodes.push(proc);
    ports.push(port);
  }
  const create = spawn(
    "redis-cli",
    ["--cluster", "create", ...ports.map((p) => `127.0.0.1:${p}`), "--cluster-replicas", "0", "--cluster-yes"],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  await waitForOutput(create, /All 16384 slots covered/, "redis-cli --cluster create", 20000);
  await once(create, "exit");
  return {
    urls: ports.map((p) => `redis://127.0.0.1:${p}`),
    async stop() {
      await Promise.all(
        nodes.map(async (proc) => {
          if (proc.exitCode !== null || proc.signalCode !== null) return;
          const exited = once(proc, "exit");
          proc.kill("SIGKILL");
          await exited;
        }),
      );
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * Starts Debian's nginx with `conf` (a full nginx.conf text) in a scratch prefix.
 * Returns { stop(), dir }.
 */
export async function startNginx(conf) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "iorelay-nginx-"));
  // nginx workers drop root privileges; they must reach the prefix (temp files, pid).
  fs.chmodSync(dir, 0o755);
  fs.mkdirSync(path.join(dir, "logs"));
  const confPath = path.join(dir, "nginx.conf");
  fs.writeFileSync(confPath, conf);
  const proc = spawn("nginx", ["-p", dir, "-c", confPath, "-e", path.join(dir, "logs/error.log"), "-g", "daemon off;"], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  let exitedEarly = null;
  proc.once("exit", (code) => (exitedEarly = code));
  // nginx prints nothing when it starts; wait until its port answers.
  const listen = conf.match(/listen\s+127\.0\.0\.1:(\d+)/);
  const port = listen ? Number(listen[1]) : 0;
  const deadline = Date.now() + 10000;
  for (;;) {
    if (exitedEarly !== null) {
      const log = fs.existsSync(path.join(dir, "logs/error.log")) ? fs.readFileSync(path.join(dir, "logs/error.log"), "utf8") : "";
      throw new Error(`nginx exited with ${exitedEarly}: ${log}`);
    }
    const ok = await new Promise((resolve) => {
      const s = net.connect(port, "127.0.0.1", () => {
        s.end();
        resolve(true);
      });
      s.once("error", () => resolve(false));
    });
    if (ok) break;
    if (Date.now() > deadline) throw new Error("nginx did not listen");
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    dir,
    async stop() {
      if (proc.exitCode !== null) return;
      const exited = once(proc, "exit");
      proc.kill("SIGQUIT");
      await exited;
    },
  };
}

/** Starts a Python script; resolves once `ready` shows in its output. Stopped when `t` ends. */
export async function usePython(t, python, args, { env = {}, ready = /Running on http/ } = {}) {
  const proc = spawn(python, args, {
    env: { ...process.env, PYTHONUNBUFFERED: "1", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  const exited = once(proc, "exit");
  const started = new Promise((resolve, reject) => {
    const onData = (chunk) => {
      output += chunk;
      const m = output.match(ready);
      if (m) resolve(m);
    };
    proc.stdout.on("data", onData);
    proc.stderr.on("data", onData);
    exited.then(([code]) => reject(new Error(`${path.basename(args[0])} exited with ${code}:\n${output}`)));
  });
  t.after(async () => {
    if (proc.exitCode !== null || proc.signalCode !== null) return;
    proc.kill("SIGTERM");
    await exited;
  });
  const match = await withTimeout(started, 20000, `${path.basename(args[0])} start`);
  return { proc, match, logs: () => output };
}

/** The iorelay flags the app printed at start (`socketio.run`), parsed like a shell would. */
export function printedArgs(line) {
  const words = [...line.matchAll(/'([^']*)'|(\S+)/g)].map((m) => m[1] ?? m[2]);
  assert.equal(words.shift(), "iorelay");
  return words;
}
