// Events, arguments, binary and acknowledgements against `iorelay conformance`
// with socket.io-client 4: "message" → "message-back" echo with any number and
// kind of arguments (strings, numbers, objects, null, Buffers in any position
// and nested), client → server acks ("message-with-ack"), server → client acks
// ("emit-with-ack"), the handshake auth echo on "/" and "/custom" (separately
// and multiplexed on one connection), event order, and connect_error
// "Invalid namespace" for unknown namespaces in conformance and production mode.

import { test } from "node:test";
import assert from "node:assert/strict";
import { Manager, io } from "socket.io-client";
import {
  ackArgs,
  ackOnceReady,
  collect,
  connect,
  connectError,
 
  nextEvent,
  reportDisconnects,
  useServer,
  useSocket,
  withTimeout,
} from "./harness.mjs";

const CONFORMANCE = { subcommand: ["conformance"] };
const TRANSPORTS = [["polling"], ["websocket"]];

const allBytes = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
const small = Buffer.from([0, 1, 2, 127, 128, 254, 255]);

/** Argument lists without binary, checked with deepEqual after the round trip. */
const PLAIN_ARG_LISTS = [
  [],
  ["one"],
  ["a", 1, -2, 3.25, 0, true, false, null],
  [{ x: { y: [1, "z", null, { deep: true }] } }, [1, [2, [3]]], {}, []],
  ["", "ünïcødé ✓ 🎉", 'quotes " and \\ backslash\nnewline\ttab'],
  [Number.MAX_SAFE_INTEGER, -Number.MAX_SAFE_INTEGER, 1e-7, 1.5e300],
  [{ "key with space": 1, "": 2, ü: 3 }],
];

/** Argument lists with Buffers in several positions and nested. */
const BINARY_ARG_LISTS = [
  [small],
  ["before", small, "after"],
  [small, allBytes, Buffer.alloc(0)],
  [{ nested: small, list: [allBytes, { deeper: small }], text: "t" }, 42],
  ["x", { a: { b: { c: [null, allBytes] } } }, small],
  [Buffer.alloc(200_000, 0xab)],
];

/** deepEqual that also says Buffers must arrive as Buffers with the same bytes. */
function assertSameArgs(actual, expected, what) {
  assert.equal(actual.length, expected.length, `${what}: argument count`);
  assert.deepEqual(actual, expected, what);
  const walk = (a, e, at) => {
    if (Buffer.isBuffer(e)) {
      assert.ok(Buffer.isBuffer(a), `${what}: ${at} should be a Buffer`);
      assert.ok(a.equals(e), `${what}: ${at} bytes differ`);
    } else if (e && typeof e === "object") {
      for (const k of Object.keys(e)) walk(a[k], e[k], `${at}.${k}`);
    }
  };
  walk(actual, expected, "args");
}

/**
 * Runs `setup` (which must clean up after itself when it throws) up to three
 * times. Conformance mode's heartbeat is 300/200 ms and its first PING is sent
 * at once (see the todo test in transports.test.mjs), so on a loaded machine a
 * connection can die while being set up; that is not what these tests are
 * about. Each retry is reported as a diagnostic.
 */
async function setUp(t, what, setup) {
  for (let attempt = 1; ; attempt++) {
    try {
      return await setup();
    } catch (err) {
      if (attempt === 3) throw err;
      t.diagnostic(`${what}: set-up attempt ${attempt} failed (${err.message}); retrying`);
    }
  }
}

/** A connected socket whose event handlers are known to be registered on the server. */
function ready(t, url, opts) {
  return setUp(t, url, async () => {
    const socket = await connect(url, opts);
    try {
      await ackOnceReady(socket, "message-with-ack", ["ready"]);
    } catch (err) {
      socket.close();
      throw err;
    }
    t.after(() => socket.close());
    reportDisconnects(t, socket, url);
    return socket;
  });
}

/** Opens a socket and resolves with it and the auth the server echoed on connect. */
function connectWithAuth(t, url, opts) {
  return setUp(t, url, async () => {
    const socket = io(url, { forceNew: true, reconnection: false, ...opts });
    const auth = nextEvent(socket, "auth");
    const connected = nextEvent(socket, "connect");
    const refused = nextEvent(socket, "connect_error").then(([err]) => {
      throw err;
    });
    for (const p of [auth, connected, refused]) p.catch(() => {});
    try {
      await Promise.race([connected, refused]);
      const [echoed] = await auth;
      await ackOnceReady(socket, "message-with-ack", ["ready"]);
      t.after(() => socket.close());
      reportDisconnects(t, socket, url);
      return { socket, auth: echoed };
    } catch (err) {
      socket.close();
      throw err;
    }
  });
}

test("handshake auth is echoed as the auth event on / and /custom", async (t) => {
  const srv = await useServer(t, [], CONFORMANCE);
  const root = await connectWithAuth(t, srv.url, { auth: { token: "abc", n: [1, null], nested: { ok: true } } });
  assert.deepEqual(root.auth, { token: "abc", n: [1, null], nested: { ok: true } });
  const custom = await connectWithAuth(t, `${srv.url}/custom`, { auth: { who: "custom" } });
  assert.deepEqual(custom.auth, { who: "custom" });
  // /custom echoes events like /.
  const back = nextEvent(custom.socket, "message-back");
  custom.socket.emit("message", "on-custom", 1);
  assert.deepEqual(await back, ["on-custom", 1]);
});

test("/ and /custom multiplexed on one connection keep their own auth and events", async (t) => {
  const srv = await useServer(t, [], CONFORMANCE);
  const { root, custom } = await setUp(t, "manager", async () => {
    const manager = new Manager(srv.url, { reconnection: false });
    const root = manager.socket("/", { auth: { ns: "root" } });
    const custom = manager.socket("/custom", { auth: { ns: "custom" } });
    const close = () => {
      root.close();
      custom.close();
      manager.engine?.close();
    };
    try {
      const rootAuth = nextEvent(root, "auth");
      const customAuth = nextEvent(custom, "auth");
      rootAuth.catch(() => {});
      customAuth.catch(() => {});
      assert.deepEqual(await rootAuth, [{ ns: "root" }]);
      assert.deepEqual(await customAuth, [{ ns: "custom" }]);
      await ackOnceReady(root, "message-with-ack", ["ready"]);
      await ackOnceReady(custom, "message-with-ack", ["ready"]);
    } catch (err) {
      close();
      throw err;
    }
    t.after(close);
    return { root, custom };
  });
  assert.equal(root.io, custom.io, "one manager, one Engine.IO connection");

  const rootBacks = collect(root, "message-back");
  const customBacks = collect(custom, "message-back");
  const r = nextEvent(root, "message-back");
  const c = nextEvent(custom, "message-back");
  root.emit("message", "to-root");
  custom.emit("message", "to-custom");
  assert.deepEqual(await r, ["to-root"]);
  assert.deepEqual(await c, ["to-custom"]);
  // Each namespace's ack is ordered after its echo: no cross-talk arrived before.
  await ackArgs(root, "message-with-ack", ["sync"]);
  await ackArgs(custom, "message-with-ack", ["sync"]);
  assert.deepEqual(rootBacks, [["to-root"]]);
  assert.deepEqual(customBacks, [["to-custom"]]);
});

for (const transports of TRANSPORTS) {
  const on = transports[0];

  test(`${on}: message is echoed as message-back with the same arguments`, async (t) => {
    const srv = await useServer(t, [], CONFORMANCE);
    const socket = await ready(t, srv.url, { transports });
    for (const args of PLAIN_ARG_LISTS) {
      const back = nextEvent(socket, "message-back");
      socket.emit("message", ...args);
      assertSameArgs(await back, args, `echo of ${JSON.stringify(args)}`);
    }
  });

  test(`${on}: binary arguments are echoed byte-exact in every position`, async (t) => {
    const srv = await useServer(t, [], CONFORMANCE);
    const socket = await ready(t, srv.url, { transports });
    for (const [i, args] of BINARY_ARG_LISTS.entries()) {
      const back = nextEvent(socket, "message-back");
      socket.emit("message", ...args);
      assertSameArgs(await back, args, `binary echo #${i}`);
    }
  });

  test(`${on}: client → server acks carry every argument, binary included`, async (t) => {
    const srv = await useServer(t, [], CONFORMANCE);
    const socket = await ready(t, srv.url, { transports });
    for (const [i, args] of [...PLAIN_ARG_LISTS, ...BINARY_ARG_LISTS].entries()) {
      assertSameArgs(await ackArgs(socket, "message-with-ack", args), args, `ack #${i}`);
    }
  });

  test(`${on}: server → client ack (emit-with-ack) returns what the client acked`, async (t) => {
    const srv = await useServer(t, [], CONFORMANCE);
    const socket = await ready(t, srv.url, { transports });
    const asked = [];
    const reports = [];
    let answer = [];
    let onReport = () => {};
    socket.on("emit-with-ack", (...args) => {
      if (typeof args.at(-1) === "function") {
        const cb = args.pop();
        asked.push(args);
        cb(...answer);
      } else {
        reports.push(args);
        onReport();
      }
    });
    const cases = [
      { question: ["q", 1, { k: null }], answer: ["r1", 2, { ok: true }, null] },
      { question: [small], answer: ["bin", small, { nested: allBytes }] },
      { question: [], answer: [] },
    ];
    for (const c of cases) {
      answer = c.answer;
      const reported = withTimeout(
        new Promise((resolve) => (onReport = resolve)),
        5000,
        `report of emit-with-ack ${JSON.stringify(c.question)}`,
      );
      socket.emit("emit-with-ack", ...c.question);
      await reported;
      assertSameArgs(asked.at(-1), c.question, "the server's question carries the emitted arguments");
      assertSameArgs(reports.at(-1), c.answer, "the server reports exactly the client's ack");
    }
    assert.equal(asked.length, cases.length);
    assert.equal(reports.length, cases.length);
  });

  test(
    `${on}: events are handled (echoed) in the order they were sent`,
    async (t) => {
      const srv = await useServer(t, [], CONFORMANCE);
      const socket = await ready(t, srv.url, { transports });
      const backs = collect(socket, "message-back");
      const count = 100;
      for (let i = 0; i < count; i++) socket.emit("message", i, i % 10 === 0 ? Buffer.from([i]) : `n${i}`);
      while (backs.length < count) await nextEvent(socket, "message-back");
      for (const [i, payload] of backs) {
        if (i % 10 === 0) assert.ok(Buffer.isBuffer(payload) && payload[0] === i, `binary #${i}`);
        else assert.equal(payload, `n${i}`);
      }
      assert.deepEqual(
        backs.map(([i]) => i),
        Array.from({ length: count }, (_, i) => i),
      );
    },
  );
}

test("conformance: an unknown namespace gets connect_error Invalid namespace", async (t) => {
  const srv = await useServer(t, [], CONFORMANCE);
  for (const transports of TRANSPORTS) {
    const err = await connectError(`${srv.url}/nope`, { transports });
    assert.equal(err.message, "Invalid namespace");
  }
  // The known namespaces still accept connections afterwards.
  await ready(t, `${srv.url}/custom`);
});

test("production: an unknown namespace gets connect_error Invalid namespace", async (t) => {
  const srv = await useServer(t, ["--namespaces", "/a,/b"]);
  for (const transports of TRANSPORTS) {
    for (const ns of ["/nope", "/custom", "/a/b"]) {
      const err = await connectError(`${srv.url}${ns}`, { transports });
      assert.equal(err.message, "Invalid namespace", `${ns} over ${transports}`);
    }
  }
  for (const ns of ["/", "/a", "/b"]) await useSocket(t, `${srv.url}${ns}`);
});

test(
  "an event emitted right after connect is handled (not dropped)",
  async (t) => {
    const srv = await useServer(t, [], CONFORMANCE);
    // One connection after the other: the first dropped event fails the test.
    for (let i = 0; i < 100; i++) {
      const socket = await connect(srv.url, { transports: ["websocket"] });
      try {
        // Emitted in the same tick as the client's connect event.
        const [answer] = await ackArgs(socket, "message-with-ack", [i], 1000);
        assert.equal(answer, i);
      } catch (err) {
        assert.fail(`connection #${i}: the event emitted on connect got no ack (${err.message})`);
      } finally {
        socket.close();
      }
    }
  },
);
