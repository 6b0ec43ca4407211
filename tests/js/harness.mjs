// Starts the real iorelay binary on a free port and hands tests its URL.
//
// The binary is target/debug/iorelay (built by tests/run) unless IORELAY_BIN
// says otherwise. The server binds port 0 and the harness reads the port from
// its "listening on http://ADDR" log line, so parallel tests never collide.

import { spawn } from "node:child_process";
import { once } from "node:events";
import { fileURLToPath } from "node:url";
import path from "node:path";
import { io } from "socket.io-client";

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
export const BIN = process.env.IORELAY_BIN ?? path.join(repoRoot, "target/debug/iorelay");

/**
 * Starts iorelay with `args` (after `--listen 127.0.0.1:0` unless `listen` is given).
 * Returns { url, port, proc, logs(), waitForLog(re), stop(signal) }.
 */
export async function startServer(args = [], { env = {}, subcommand = [], listen = "127.0.0.1:0" } = {}) {
  const proc = spawn(BIN, [...subcommand, "--listen", listen, ...args], {
    env: { ...process.env, RUST_LOG: process.env.RUST_LOG ?? "info", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  const waiters = [];
  const onData = (chunk) => {
    output += chunk.toString();
    for (const w of [...waiters]) {
      const m = output.match(w.re);
      if (m) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(m);
      }
    }
  };
  proc.stdout.on("data", onData);
  proc.stderr.on("data", onData);
  const exited = once(proc, "exit");

  const waitForLog = (re, timeoutMs = 15000) =>
    new Promise((resolve, reject) => {
      const m = output.match(re);
      if (m) return resolve(m);
      const timer = setTimeout(() => {
        waiters.splice(waiters.indexOf(w), 1);
        reject(new Error(`timed out waiting for ${re} in server output:\n${output}`));
      }, timeoutMs);
      const w = {
        re,
        resolve: (x) => {
          clearTimeout(timer);
          resolve(x);
        },
      };
      waiters.push(w);
      exited.then(() => {
        if (waiters.includes(w)) {
          clearTimeout(timer);
          waiters.splice(waiters.indexOf(w), 1);
          reject(new Error(`server exited before ${re}:\n${output}`));
        }
      });
    });

  const [, addr] = await waitForLog(/listening on http:\/\/(\S+)/);
  const port = Number(addr.split(":").pop());
  const url = `http://127.0.0.1:${port}`;
  return {
    url,
    port,
    proc,
    logs: () => output,
    waitForLog,
    /** Sends `signal` and resolves with the exit code once the process has exited. */
    async stop(signal = "SIGTERM") {
      if (proc.exitCode !== null) return proc.exitCode;
      proc.kill(signal);
      const [code] = await exited;
      return code;
    },
  };
}

/** Connects a socket.io-client 4 socket and resolves once it is connected. */
export async function connect(url, opts = {}) {
  const socket = io(url, { forceNew: true, reconnection: false, ...opts });
  await new Promise((resolve, reject) => {
    socket.once("connect", resolve);
    socket.once("connect_error", reject);
  });
  return socket;
}

/** Resolves with the arguments of the next `event` on `emitter`, or rejects after `timeoutMs`. */
export function nextEvent(emitter, event, timeoutMs = 5000) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      emitter.off(event, handler);
      reject(new Error(`no "${event}" within ${timeoutMs} ms`));
    }, timeoutMs);
    function handler(...args) {
      clearTimeout(timer);
      resolve(args);
    }
    emitter.once(event, handler);
  });
}

/** Collects every `event` on `emitter` into an array (for asserting absence or order). */
export function collect(emitter, event) {
  const seen = [];
  emitter.on(event, (...args) => seen.push(args));
  return seen;
}
