// /chat against an attacker (issue #17): what `rooms` lets a guest see,
// display names made to pass for a signed-in user (case, zero-width and bidi
// characters, homoglyphs), messages with nothing visible in them, and guests
// filling new rooms with big messages to grow the server's memory. Each case
// checks the exact answer, and that a bystander chatting meanwhile loses nothing.

import { test } from "node:test";
import assert from "node:assert/strict";
import crypto from "node:crypto";
import fs from "node:fs";
import { useServer, connect, connectError, nextEvent, collect } from "./harness.mjs";

const SECRET = "hostile-chat-secret-0123456789abcdef";

function signToken(claims) {
  const b64 = (o) => Buffer.from(JSON.stringify(o)).toString("base64url");
  const body = `${b64({ alg: "HS256", typ: "JWT" })}.${b64(claims)}`;
  const sig = crypto.createHmac("sha256", SECRET).update(body).digest("base64url");
  return `${body}.${sig}`;
}

function tokenFor(sub, name) {
  return signToken({ sub, name, exp: Math.floor(Date.now() / 1000) + 600 });
}

async function open(t, url, auth) {
  const socket = await connect(url + "/chat", { auth, transports: ["websocket"] });
  t.after(() => socket.close());
  return socket;
}

/** A bystander pair in `room`: `say(text)` sends from one and resolves once the other got it. */
async function bystanders(t, url, room) {
  const carol = await open(t, url, { name: "Carol" });
  const dave = await open(t, url, { name: "Dave" });
  await carol.emitWithAck("join", { room });
  await dave.emitWithAck("join", { room });
  const received = collect(dave, "message");
  const sent = [];
  return {
    carol,
    received,
    sent,
    async say(text) {
      const got = new Promise((resolve) => {
        const on = (m) => {
          if (m.text === text) {
            dave.off("message", on);
            resolve(m);
          }
        };
        dave.on("message", on);
      });
      const ack = await carol.timeout(10000).emitWithAck("message", { room, text });
      assert.equal(ack.ok, true, JSON.stringify(ack));
      sent.push(text);
      return got;
    },
    /** Every bystander message arrived, once, in order. */
    assertNothingLost() {
      assert.deepEqual(
        received.filter(([m]) => m.from.name === "Carol").map(([m]) => m.text),
        sent,
      );
    },
  };
}

test("rooms lists only the caller's own rooms, and --chat-public-rooms", async (t) => {
  for (const [args, eveSees] of [
    [[], []],
    [["--chat-public-rooms", "lobby,pub.*"], [{ room: "lobby", members: 1 }, { room: "pub.news", members: 1 }]],
  ]) {
    const server = await useServer(t, args);
    const by = await bystanders(t, server.url, "team-secret");
    for (const room of ["lobby", "pub.news", "ops-private"]) await by.carol.emitWithAck("join", { room });
    await by.say("before");

    const eve = await open(t, server.url, { name: "Eve" });
    assert.deepEqual(await eve.emitWithAck("rooms"), { ok: true, rooms: eveSees }, `${args}: a stranger`);
    await eve.emitWithAck("join", { room: "eves-room" });
    assert.deepEqual(
      await eve.emitWithAck("rooms"),
      { ok: true, rooms: [...eveSees, { room: "eves-room", members: 1 }].sort((a, b) => b.members - a.members || a.room.localeCompare(b.room)) },
      `${args}: her own room too`,
    );
    // A member sees its own rooms, busiest first.
    assert.deepEqual((await by.carol.emitWithAck("rooms")).rooms, [
      { room: "team-secret", members: 2 },
      { room: "lobby", members: 1 },
      { room: "ops-private", members: 1 },
      { room: "pub.news", members: 1 },
    ]);
    await by.say("after");
    by.assertNothingLost();
  }
});

test("a guest cannot pass for a signed-in user: case, invisible characters, homoglyphs", async (t) => {
  const server = await useServer(t, ["--jwt-secret", SECRET]);
  const by = await bystanders(t, server.url, "town");
  const ada = await open(t, server.url, { token: tokenFor("user-ada", "Ada") });
  const joined = await ada.emitWithAck("join", { room: "town" });
  assert.deepEqual(joined.members.find((m) => m.name === "Ada"), { id: "user-ada", name: "Ada" });

  const taken = (name) => `invalid_name: ${JSON.stringify(name)} is the name of a signed-in user; choose another`;
  const invisible = "invalid_name: display names may not contain invisible characters (zero-width, direction controls)";
  const cases = [
    ["Ada", taken("Ada")],
    ["ada", taken("ada")],
    ["ADA", taken("ADA")],
    ["  Ada  ", taken("Ada")],
    ["\uFF21\uFF44\uFF41", taken("Ada")], // full-width: NFKC makes it "Ada"
    ["\u0410da", taken("\u0410da")], // Cyrillic А
    ["\u0410\u0501\u0430", taken("\u0410\u0501\u0430")], // all Cyrillic lookalikes
    ["Ad\u200Ba", invisible], // zero-width space
    ["A\u200Dda", invisible], // zero-width joiner
    ["\u202EadA", invisible], // right-to-left override
    ["Ada\u2066", invisible], // left-to-right isolate
    ["Ada\u200E", invisible], // left-to-right mark
    ["\u2800", "invalid_name: a display name is required"], // braille blank
  ];
  for (const [name, expected] of cases) {
    const err = await connectError(server.url + "/chat", { auth: { name }, transports: ["websocket"] });
    assert.equal(err.message, expected, JSON.stringify(name));
  }
  await by.say("during");

  // Other names are fine, and Ada's name is free again once she is gone.
  const adam = await open(t, server.url, { name: "Adam" });
  assert.equal((await adam.emitWithAck("join", { room: "town" })).ok, true);
  const gone = nextEvent(ada, "disconnect");
  ada.close();
  await gone;
  // Her disconnect is handled by the server when her presence leaves the room.
  const adaLeft = new Promise((resolve) => {
    const on = (p) => {
      if (p.left?.some((u) => u.id === "user-ada")) {
        by.carol.off("presence", on);
        resolve();
      }
    };
    by.carol.on("presence", on);
  });
  await adaLeft;
  const guestAda = await open(t, server.url, { name: "ADA" });
  const reply = await guestAda.emitWithAck("join", { room: "town" });
  assert.ok(reply.members.some((m) => m.id === "guest:ada" && m.name === "ADA"));
  await by.say("after");
  by.assertNothingLost();
});

test("messages with no visible character are refused; the room sees none of them", async (t) => {
  const server = await useServer(t, []);
  const by = await bystanders(t, server.url, "quiet");
  const mallory = await open(t, server.url, { name: "Mallory" });
  await mallory.emitWithAck("join", { room: "quiet" });
  await by.say("before");
  const refused = { ok: false, error: { code: "invalid_text", message: "the message has no visible character" } };
  for (const text of ["\u200B\u200B\u200B", "\u202E", "\u2066\u2069", "\uFEFF", " \u200D \n\t", "\u3164", "\u2800\u2800", "\u0301\u0301"]) {
    assert.deepEqual(await mallory.emitWithAck("message", { room: "quiet", text }), refused, JSON.stringify(text));
  }
  // Text with direction controls around visible characters is fine (right-to-left users need them).
  const fine = await mallory.emitWithAck("message", { room: "quiet", text: "\u2067שלום\u2069" });
  assert.equal(fine.ok, true);
  assert.equal(fine.id, 2, "the refused messages were never stored");
  await by.say("after");
  const history = await by.carol.emitWithAck("history", { room: "quiet", after: 0 });
  assert.deepEqual(history.messages.map((m) => m.text), ["before", "\u2067שלום\u2069", "after"]);
  by.assertNothingLost();
});

function rssKiB(pid) {
  const status = fs.readFileSync(`/proc/${pid}/status`, "utf8");
  return Number(status.match(/VmRSS:\s+(\d+) kB/)[1]);
}

/**
 * Ten guests fill new rooms with 8 KB messages (10 rooms each, 10 messages per
 * room, then leave: 8 MB a round) while two bystanders chat in their own room.
 * One warm-up round, then four more; returns VmRSS (KiB) at start, after the
 * warm-up and after each further round.
 */
async function fillRooms(t, args) {
  const server = await useServer(t, ["--event-rate", "0", "--chat-max-message-chars", "2000", ...args]);
  const pid = server.proc.pid;
  const by = await bystanders(t, server.url, "bystanders");
  const guests = [];
  for (let g = 0; g < 10; g++) guests.push(await open(t, server.url, { name: `filler${g}` }));
  const big = (g, i) => `${g}:${i}:` + "\u{1F600}".repeat(1995); // about 8 000 bytes of UTF-8
  let round = 0;
  const fill = async () => {
    round += 1;
    await Promise.all(
      guests.map(async (s, g) => {
        for (let r = 0; r < 10; r++) {
          const room = `fill-${round}-${g}-${r}`;
          assert.equal((await s.timeout(10000).emitWithAck("join", { room })).ok, true);
          for (let i = 0; i < 10; i++) {
            const ack = await s.timeout(10000).emitWithAck("message", { room, text: big(g, i) });
            assert.equal(ack.ok, true, JSON.stringify(ack));
          }
          await s.timeout(10000).emitWithAck("leave", { room });
        }
      }),
    );
    await by.say(`round ${round}`);
  };
  const start = rssKiB(pid);
  await fill();
  const baseline = rssKiB(pid);
  const rounds = [];
  for (let i = 0; i < 4; i++) {
    await fill();
    rounds.push(rssKiB(pid));
  }
  return { start, baseline, rounds, after: rounds.at(-1), by };
}

test("guests filling new rooms with 8 KB messages do not grow the server's memory past the history cap", async (t) => {
  const CAP = 4 * 1024 * 1024;
  const { start, baseline, rounds, after, by } = await fillRooms(t, ["--chat-history-max-bytes", String(CAP)]);
  t.diagnostic(`cap ${CAP / 1024} KiB: VmRSS ${start} KiB at start, ${baseline} KiB after the warm-up (8 MB written), ${rounds.join(", ")} KiB after each further 8 MB`);
  assert.ok(after <= baseline * 1.2, `VmRSS grew from ${baseline} to ${after} KiB after 32 MB more of history`);

  // The bystanders' room was in use all along: its history is whole, and every message arrived.
  const history = await by.carol.emitWithAck("history", { room: "bystanders", after: 0 });
  assert.deepEqual(history.messages.map((m) => m.text), by.sent);
  by.assertNothingLost();
});

test("control: with the default 64 MiB cap the same load does grow the server's memory", async (t) => {
  const { start, baseline, rounds, after } = await fillRooms(t, []);
  t.diagnostic(`default cap: VmRSS ${start} KiB at start, ${baseline} KiB after the warm-up, ${rounds.join(", ")} KiB after each further 8 MB`);
  assert.ok(after > baseline * 1.2, "the measurement sees history grow when nothing bounds it below 40 MB");
});
