// Raw Engine.IO / Socket.IO clients for the hostile suites: single HTTP
// requests, polling sessions and WebSockets that send exactly the bytes a
// test writes, so attacks that no well-behaved client would make can be made.
// Every helper takes the server's port first.

import http from "node:http";
import crypto from "node:crypto";
import assert from "node:assert/strict";
import WebSocket from "ws";
import { withTimeout } from "./harness.mjs";

/** One HTTP request to 127.0.0.1:`port`; resolves { status, headers, text }. */
export function request(port, method, path, { body, headers = {}, localAddress } = {}) {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: "127.0.0.1", port, method, path, headers, localAddress, agent: false },
      (res) => {
        const chunks = [];
        res.on("data", (c) => chunks.push(c));
        res.on("end", () =>
          resolve({ status: res.statusCode, headers: res.headers, text: Buffer.concat(chunks).toString() }),
        );
      },
    );
    req.setTimeout(10000, () => req.destroy(new Error(`${method} ${path}: no answer in 10 s`)));
    req.on("error", reject);
    if (body !== undefined) req.write(body);
    req.end();
  });
}

/** The value of the first `/metrics` sample whose line starts with `name` (0 when absent). */
export async function metric(port, name) {
  const res = await request(port, "GET", "/metrics");
  const line = res.text.split("\n").find((l) => l.startsWith(name));
  return line ? Number(line.split(" ").pop()) : 0;
}

/** Opens an Engine.IO v4 polling session; resolves its sid. */
export async function handshake(port, localAddress) {
  const res = await request(port, "GET", "/socket.io/?EIO=4&transport=polling", { localAddress });
  assert.equal(res.status, 200, res.text);
  return JSON.parse(res.text.slice(1)).sid;
}

/** The polling path of session `sid`. */
export const pollPath = (sid) => `/socket.io/?EIO=4&transport=polling&sid=${sid}`;

/**
 * Polls a session (at most 10 polls, answering pings) until a packet matches `re`;
 * resolves with every packet seen. Stops early when the session ends (non-200).
 */
export async function pollFor(port, sid, re, localAddress) {
  const seen = [];
  for (let i = 0; i < 10; i++) {
    const poll = await request(port, "GET", pollPath(sid), { localAddress });
    if (poll.status !== 200) break;
    const packets = poll.text.split("\x1e");
    seen.push(...packets);
    if (packets.some((p) => re.test(p))) break;
    if (packets.includes("2")) await request(port, "POST", pollPath(sid), { body: "3", localAddress });
  }
  return seen;
}

/** A raw Engine.IO v4 WebSocket with a queue of incoming frames (pings are answered). */
export function rawWs(port, { headers = {}, localAddress } = {}) {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/socket.io/?EIO=4&transport=websocket`, {
    headers,
    localAddress,
  });
  const frames = [];
  const waiters = [];
  let closed = null;
  let pings = 0;
  const wake = () => {
    for (const w of waiters.splice(0)) w();
  };
  ws.on("message", (data, isBinary) => {
    const frame = isBinary ? data : data.toString();
    if (frame === "2") {
      pings++;
      ws.send("3");
    } else frames.push(frame);
    wake();
  });
  ws.on("close", (code) => {
    closed = code;
    wake();
  });
  ws.on("error", () => {});
  const changed = () => new Promise((resolve) => waiters.push(resolve));
  return {
    ws,
    opened: new Promise((resolve, reject) => {
      ws.once("open", resolve);
      ws.once("unexpected-response", (_, res) => reject(Object.assign(new Error("refused"), { status: res.statusCode })));
      ws.once("error", reject);
    }),
    /** The next frame (or null once closed), at most 5 s. */
    async next() {
      return withTimeout(
        (async () => {
          while (!frames.length && closed === null) await changed();
          return frames.length ? frames.shift() : null;
        })(),
        5000,
        "websocket frame",
      );
    },
    /** The next frame within `ms`, or undefined when none came (null once closed). */
    async nextWithin(ms) {
      let timer;
      const timedOut = new Promise((resolve) => (timer = setTimeout(() => resolve("timeout"), ms)));
      while (!frames.length && closed === null) {
        if ((await Promise.race([changed(), timedOut])) === "timeout") break;
      }
      clearTimeout(timer);
      if (frames.length) return frames.shift();
      return closed !== null ? null : undefined;
    },
    /** Resolves once the server sends its next heartbeat ping (answered already), at most 5 s. */
    async nextPing() {
      const seen = pings;
      return withTimeout(
        (async () => {
          while (pings === seen && closed === null) await changed();
          assert.equal(closed, null, "the connection closed before the next ping");
        })(),
        5000,
        "heartbeat ping",
      );
    },
    /**
     * Resolves once the server answered a WebSocket ping sent now: it answers after it
     * has read every frame sent before, so what they carried has reached the server.
     */
    async readByServer() {
      const pong = new Promise((resolve) => ws.once("pong", resolve));
      ws.ping();
      return withTimeout(pong, 5000, "websocket pong");
    },
    /** Resolves with the close code once the server closes, at most `ms`. */
    async closes(ms = 5000) {
      return withTimeout(
        (async () => {
          while (closed === null) await changed();
          return closed;
        })(),
        ms,
        "websocket close",
      );
    },
  };
}

/** A raw WebSocket connected to namespace `ns` (CONNECT answered). */
export async function rawSocketIo(port, { ns = "/", auth, ...opts } = {}) {
  const c = rawWs(port, opts);
  await c.opened;
  assert.match(await c.next(), /^0\{/);
  const prefix = ns === "/" ? "" : `${ns},`;
  c.ws.send(`40${prefix}${auth === undefined ? "" : JSON.stringify(auth)}`);
  const answer = await c.next();
  assert.ok(answer.startsWith(`40${prefix}{"sid"`), answer);
  return c;
}

/** An HS256 JWT of `claims` signed with `secret`. */
export function signToken(claims, secret) {
  const b64 = (o) => Buffer.from(JSON.stringify(o)).toString("base64url");
  const body = `${b64({ alg: "HS256", typ: "JWT" })}.${b64(claims)}`;
  const sig = crypto.createHmac("sha256", secret).update(body).digest("base64url");
  return `${body}.${sig}`;
}

/** Seconds since the Unix epoch, as JWT claims count them. */
export const nowSecs = () => Math.floor(Date.now() / 1000);
