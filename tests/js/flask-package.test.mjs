// Migrating a whole Flask-SocketIO app with the iorelay-flask package (issue #14),
// end to end with real parts: Flask-SocketIO 5.7 from PyPI, the package installed
// from python/iorelay-flask, the iorelay binary, Debian's nginx with
// deploy/nginx-same-origin.conf, redis-server and headless Chromium.
//
// tests/python/migrate_app is one app and its page. The page runs every check
// itself (echo, binary, send, session, rooms, close_room, catch-all, namespaces,
// refusals, a background task, views that emit and ask rooms(sid), acks both ways,
// call(), disconnect) and reports into window.__results. It runs under Flask-SocketIO and
// then, with only the app's import switched, under iorelay + the package through
// nginx on one origin: the same page, the same checks, and all must pass.

import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import fs from "node:fs";
import http from "node:http";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";
import { io } from "socket.io-client";
import { useServer, nextEvent, withTimeout, bridgeReady } from "./harness.mjs";
import { startNginx, startRedis, freePort, usePython, printedArgs } from "./services.mjs";

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, "../..");
const testsDir = path.join(root, "tests");
const FLASK_SOCKETIO_PYTHON = path.join(testsDir, ".venv/bin/python");
const PACKAGE_PYTHON = path.join(testsDir, ".venv-iorelay-flask/bin/python");
const APP = path.join(testsDir, "python/migrate_app/app.py");
const CLIENT_JS = path.join(here, "node_modules/socket.io-client/dist/socket.io.min.js");
const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const IORELAY_RUNS = Number(process.env.FLASK_PACKAGE_RUNS ?? 10);
const API_KEY = "flask-package-test-api-key-0123456789";
const FORWARD_SECRET = "flask-package-forward-secret-0123456789";

/** Runs a Python script to completion; resolves with its stdout. */
async function runPython(python, args, env = {}) {
  const proc = spawn(python, args, { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  let err = "";
  proc.stdout.on("data", (c) => (out += c));
  proc.stderr.on("data", (c) => (err += c));
  const [code] = await withTimeout(once(proc, "exit"), 20000, path.basename(args[0]));
  if (code !== 0) throw new Error(`${path.basename(args[0])} exited with ${code}:\n${err}`);
  return out;
}

async function useBrowser(t) {
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--no-first-run"],
  });
  t.after(() => browser.close());
  return browser;
}

/**
 * Opens the app's page at `url` in a fresh browser context (its own cookies) and
 * resolves with window.__results once the page is done. The page loads
 * socket.io-client from the CDN, as Flask templates do; the test serves it the
 * npm copy instead (no network in tests).
 */
async function runPage(browser, url) {
  const context = await browser.newContext();
  try {
    await context.route("https://cdn.socket.io/**", (route) =>
      route.fulfill({ path: CLIENT_JS, contentType: "application/javascript" }),
    );
    const page = await context.newPage();
    const errors = [];
    page.on("pageerror", (e) => errors.push(String(e)));
    await page.goto(url);
    await page.waitForFunction(() => window.__done === true, null, { timeout: 90000 });
    const results = await page.evaluate(() => window.__results);
    return { results, errors };
  } finally {
    await context.close();
  }
}

const CHECKS = 20;

function assertAllPassed({ results, errors }, label) {
  const failed = Object.entries(results).filter(([, r]) => !r.ok);
  assert.deepEqual(failed, [], `${label}: failed checks`);
  assert.equal(Object.keys(results).length, CHECKS, `${label}: every check ran: ${Object.keys(results).join(" | ")}`);
  assert.deepEqual(errors, [], `${label}: page errors`);
}

/** POSTs `body` to 127.0.0.1:`port` with `path` sent exactly as given; resolves with the status. */
function rawPost(port, path, headers, body) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: "127.0.0.1", port, path, method: "POST", headers: { "content-type": "application/json", ...headers } }, (res) => {
      res.resume();
      resolve(res.statusCode);
    });
    req.once("error", reject);
    req.end(body);
  });
}

/** deploy/nginx-same-origin.conf with test ports. */
function renderSameOrigin({ listen, iorelay, flask }) {
  let conf = fs.readFileSync(path.join(root, "deploy/nginx-same-origin.conf"), "utf8");
  conf = conf.replace(/listen 8080;/, `listen 127.0.0.1:${listen};`);
  conf = conf.replace(/worker_processes auto;/, "worker_processes 1;");
  conf = conf.replace(/worker_connections \d+;/, "worker_connections 1024;");
  conf = conf.replace("server 127.0.0.1:3000;", `server 127.0.0.1:${iorelay};`);
  conf = conf.replace("server 127.0.0.1:5000;", `server 127.0.0.1:${flask};`);
  assert.doesNotMatch(conf, /:3000;|:5000;|listen 8080/, "every address rendered");
  return conf;
}

/**
 * The migrated deployment: the app under iorelay-flask, iorelay with the flags the
 * app printed, nginx in front. Returns { front, app, iorelay, appPort }.
 */
async function useMigratedApp(t, { appEnv = {} } = {}) {
  const [appPort, iorelayPort, frontPort] = [await freePort(), await freePort(), await freePort()];
  const app = await usePython(t, PACKAGE_PYTHON, [APP, String(appPort)], {
    env: {
      MIGRATE_APP_SERVER: "iorelay",
      IORELAY_URL: `http://127.0.0.1:${iorelayPort}`,
      IORELAY_API_KEY: API_KEY,
      IORELAY_FORWARD_SECRET: FORWARD_SECRET,
      ...appEnv,
    },
    ready: /run iorelay with: (iorelay .*?)  \(environment[\s\S]*Running on http/,
  });
  const flags = printedArgs(app.match[1]);
  const iorelay = await useServer(t, flags, {
    listen: `127.0.0.1:${iorelayPort}`,
    env: { IORELAY_API_KEYS: API_KEY, IORELAY_FORWARD_SECRET: FORWARD_SECRET },
  });
  const nginx = await startNginx(renderSameOrigin({ listen: frontPort, iorelay: iorelayPort, flask: appPort }));
  t.after(() => nginx.stop());
  return { front: `http://127.0.0.1:${frontPort}`, app, iorelay, appPort, flags };
}

test("the page passes every check under Flask-SocketIO 5.7 (the app before migrating)", async (t) => {
  const port = await freePort();
  await usePython(t, FLASK_SOCKETIO_PYTHON, [APP, String(port)]);
  const browser = await useBrowser(t);
  assertAllPassed(await runPage(browser, `http://127.0.0.1:${port}/`), "Flask-SocketIO");
});

test(`the same page passes every check under iorelay + iorelay-flask through nginx, ${IORELAY_RUNS} runs in a row`, async (t) => {
  const { front, flags } = await useMigratedApp(t);
  assert.equal(flags.length, 6, `flags ${flags}`);
  assert.deepEqual([flags[0], flags[1], flags[2], flags[4]], ["--namespaces", "/admin", "--connect-url", "--forward-url"]);
  assert.match(flags[3], /^\/=http:\/\/127\.0\.0\.1:\d+\/_iorelay\/connect,\/admin=http:\/\/127\.0\.0\.1:\d+\/_iorelay\/connect$/);
  assert.match(flags[5], /^\/=http:\/\/127\.0\.0\.1:\d+\/_iorelay\/event,\/admin=http:\/\/127\.0\.0\.1:\d+\/_iorelay\/event$/);
  const browser = await useBrowser(t);
  for (let run = 1; run <= IORELAY_RUNS; run++) {
    assertAllPassed(await runPage(browser, `${front}/`), `iorelay run ${run}`);
  }
});

test("the hook routes are private: 404 through the front, 403 without the secret", async (t) => {
  const { front, appPort } = await useMigratedApp(t);
  const body = JSON.stringify({ sid: "x", namespace: "/", event: "echo", args: [1], user: null });
  const post = (url, headers = {}) =>
    fetch(url, { method: "POST", headers: { "content-type": "application/json", ...headers }, body });
  // node:http sends the path as written (fetch would resolve dot segments first).
  const frontPort = Number(new URL(front).port);
  const paths = ["/_iorelay/event", "/_iorelay/connect", "//_iorelay/event", "/%5Fiorelay/event", "/_iorelay%2Fevent",
    "/x/../_iorelay/event", "/_iorelay/./event", "/_IORELAY/event"];
  for (const p of paths) {
    const status = await rawPost(frontPort, p, { "X-Iorelay-Secret": FORWARD_SECRET }, body);
    assert.equal(status, 404, `${p} through the front`);
  }
  assert.equal((await fetch(`${front}/api/v1/openapi.json`)).status, 404, "iorelay's API is not on the front");
  assert.equal((await fetch(`${front}/`)).status, 200, "pages are");
  const direct = `http://127.0.0.1:${appPort}/_iorelay/event`;
  assert.equal((await post(direct)).status, 403, "no secret");
  assert.equal((await post(direct, { "X-Iorelay-Secret": FORWARD_SECRET.slice(0, -1) + "x" })).status, 403, "wrong secret");
  const ok = await post(direct, { "X-Iorelay-Secret": FORWARD_SECRET });
  assert.equal(ok.status, 200, "iorelay's secret opens it");
  assert.deepEqual(await ok.json(), { ack: [1], ops: [] });
});

test("with message_queue: the page passes through the queue, and Celery-style emitters of Flask-SocketIO and iorelay-flask reach its sockets", async (t) => {
  const redis = await startRedis();
  t.after(() => redis.stop());
  const { front, iorelay, flags } = await useMigratedApp(t, { appEnv: { MESSAGE_QUEUE: redis.url } });
  assert.deepEqual(flags.slice(-2), ["--flask-queue", redis.url], "the app printed its queue");
  await bridgeReady(iorelay.url);
  // Sessions now live in Redis, the ticker and the views emit through the queue.
  const browser = await useBrowser(t);
  assertAllPassed(await runPage(browser, `${front}/`), "iorelay with message_queue");

  const socket = io(front, { transports: ["websocket"], forceNew: true, reconnection: false, autoConnect: false });
  t.after(() => socket.close());
  // The connect handler joins "lobby" before it emits "welcome": once it arrived, the room is set.
  const welcomed = nextEvent(socket, "welcome", 10000);
  socket.connect();
  await welcomed;
  for (const [label, python] of [["Flask-SocketIO", FLASK_SOCKETIO_PYTHON], ["iorelay-flask", PACKAGE_PYTHON]]) {
    const toSid = nextEvent(socket, "task_done", 10000);
    const toLobby = nextEvent(socket, "lobby_news", 10000);
    const blob = nextEvent(socket, "blob", 10000);
    await runPython(python, [path.join(testsDir, "python/migrate_app/worker.py"), redis.url, socket.id]);
    assert.deepEqual(await toSid, [{ task: 7, by: label === "Flask-SocketIO" ? "flask_socketio" : "iorelay_flask" }], label);
    assert.deepEqual(await toLobby, ["lobby", 2], `${label}: a tuple is several arguments, to a room`);
    const [{ raw }] = await blob;
    assert.ok(Buffer.isBuffer(raw), `${label}: bytes arrive as binary`);
    assert.deepEqual([...raw], [0, 1, 255]);
  }
  const keys = await new Promise((resolve, reject) => {
    const sub = spawn("redis-cli", ["-u", redis.url, "--scan", "--pattern", "iorelay-flask:socket:*"]);
    let out = "";
    sub.stdout.on("data", (c) => (out += c));
    sub.once("exit", (code) => (code === 0 ? resolve(out.split("\n").filter(Boolean)) : reject(new Error(`redis-cli ${code}`))));
  });
  assert.ok(keys.includes(`iorelay-flask:socket:${socket.id}`), `the socket's session is in Redis: ${keys}`);
});
