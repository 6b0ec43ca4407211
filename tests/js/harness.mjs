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

/**
 * Connects a socket.io-client 4 socket and resolves once it is connected;
 * rejects (and closes the socket) on connect_error or after `timeoutMs`.
 */
export async function connect(url, opts = {}, timeoutMs = 10000) {
  const socket = io(url, { forceNew: true, reconnection: false, ...opts });
  try {
    await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${url}: not connected within ${timeoutMs} ms`)), timeoutMs);
      socket.once("connect", () => {
        clearTimeout(timer);
        resolve();
      });
      socket.once("connect_error", (err) => {
        clearTimeout(timer);
        reject(err);
      });
    });
  } catch (err) {
    socket.close();
    throw err;
  }
  return socket;
}

/** Resolves with the arguments of the next `event` on `emitter`, or rejects after `timeoutMs`. */
export function nextEvent(emitter, event, timeoutMs = 5000) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      emitter.off(event, handler);
      reject(new Error(`no "${event}" within ${timeoutMs} ms`));
    }, timeoutMs);
    // A wait that lost a race must not keep the test process alive.
    timer.unref();
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

/**
 * Resolves with all the arguments of the acknowledgement of `event`
 * (socket.emitWithAck only gives the first one); rejects after `timeoutMs`.
 */
export function ackArgs(socket, event, args = [], timeoutMs = 5000) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`no ack of "${event}" within ${timeoutMs} ms (connected: ${socket.connected})`)),
      timeoutMs,
    );
    socket.emit(event, ...args, (...answer) => {
      clearTimeout(timer);
      resolve(answer);
    });
  });
}

/**
 * Opens a socket.io-client 4 socket that is expected to be refused: resolves
 * with the connect_error's Error, rejects if the socket connects. The socket
 * is closed either way.
 */
export function connectError(url, opts = {}, timeoutMs = 5000) {
  const socket = io(url, { forceNew: true, reconnection: false, ...opts });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no connect_error within ${timeoutMs} ms`)), timeoutMs);
    socket.once("connect", () => {
      clearTimeout(timer);
      reject(new Error(`${url} connected but should have been refused`));
    });
    socket.once("connect_error", (err) => {
      clearTimeout(timer);
      resolve(err);
    });
  }).finally(() => socket.close());
}

// Contexts whose servers are being stopped by their after hook.
const ending = new WeakSet();

/**
 * startServer, stopped (SIGTERM, SIGKILL after 5 s) when the node:test context
 * `t` ends. Register it before the test's sockets: after hooks run in order,
 * so the server closes its clients itself, which is quick.
 */
export async function useServer(t, args = [], opts = {}) {
  const server = await startServer(args, opts);
  t.after(async () => {
    ending.add(t);
    const kill = setTimeout(() => server.proc.kill("SIGKILL"), 5000);
    await server.stop();
    clearTimeout(kill);
  });
  return server;
}

/**
 * Reports a disconnect of `socket` that the test did not ask for as a test
 * diagnostic (it explains lost acks); quiet once the test's servers are stopping.
 */
export function reportDisconnects(t, socket, label) {
  const id = socket.id;
  socket.on("disconnect", (reason, details) => {
    if (reason === "io client disconnect" || ending.has(t)) return;
    const why = details?.description?.message ?? details?.description ?? "";
    t.diagnostic(`${label} socket ${id ?? ""} disconnected: ${reason} ${why}`.trim());
  });
}

/** connect, closed when the node:test context `t` ends. */
export async function useSocket(t, url, opts = {}) {
  const socket = await connect(url, opts);
  reportDisconnects(t, socket, url);
  t.after(() => socket.close());
  return socket;
}

/** Resolves like `promise`, or rejects with an Error naming `what` after `timeoutMs`. */
export function withTimeout(promise, timeoutMs, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: nothing within ${timeoutMs} ms`)), timeoutMs);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/**
 * Emits `event` (with `args`) until the server acknowledges it and resolves
 * with the ack's arguments. Each try waits `tryMs`; works with socket.io-client
 * 2 and 4. Only for idempotent events.
 *
 * Why: socketioxide sends the namespace CONNECT packet before the spawned
 * connect handler has registered the event handlers, so an event emitted right
 * on "connect" is sometimes dropped without an answer (see the todo tests named
 * "right after connect"). Tests whose concern is something else call this once
 * after connecting so that race cannot make them flaky.
 */
export async function ackOnceReady(socket, event, args = [], { tryMs = 250, tries = 12 } = {}) {
  for (let attempt = 1; attempt <= tries; attempt++) {
    if (!socket.connected) throw new Error(`socket disconnected while waiting for an ack of "${event}"`);
    const answer = await new Promise((resolve) => {
      // Longer waits on later tries, for slow machines.
      const timer = setTimeout(() => resolve(null), Math.min(tryMs * attempt, 1000));
      socket.emit(event, ...args, (...ack) => {
        clearTimeout(timer);
        resolve(ack);
      });
    });
    if (answer) return answer;
  }
  throw new Error(`no ack of "${event}" in ${tries} tries`);
}

/** Waits until the node's /readyz says the Flask bridge is subscribed; resolves with the body. */
export async function bridgeReady(url, timeoutMs = 10000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const body = await fetch(`${url}/readyz`).then((r) => r.json());
    if (body.checks?.flask_bridge?.ready) return body;
    if (Date.now() > deadline) throw new Error(`bridge not ready: ${JSON.stringify(body)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
