// End-to-end: the built app (client-demo/dist), served by the real iorelay
// binary, driven in Debian's Chromium through playwright-core.
//
//   npm run build && npm run e2e        (from client-demo/, binary built with `cargo build -p iorelay`)
//
// IORELAY_BIN overrides the binary (default: <repo>/target/debug/iorelay);
// CHROMIUM_PATH overrides the browser (default: /usr/bin/chromium).
// Screenshots go to <repo>/tests/artifacts/client-demo/. No sleeps: every wait
// is for a state of the page.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import {
  ARTIFACTS,
  BIN,
  WAIT,
  badge,
  composer,
  dist,
  escapeRe,
  expectOnce,
  launchBrowser,
  member,
  members,
  messagesWithText,
  openPerson as openPersonIn,
  repoRoot,
  send,
  shot,
  shownIds,
  signIn,
  startIorelay,
  typing,
  waitForStatus,
  waitForTransport,
} from './support.mjs';

let server;
let browser;
let baseUrl;
/** Publish API key of the test server. */
const API_KEY = `e2e-${Math.random().toString(36).slice(2)}-${Date.now()}`;

/** Starts iorelay on a free port serving dist/, and resolves once it logs its address. */
function startServer(listen = '127.0.0.1:0') {
  return startIorelay(
    [
      // Short heartbeats so the server notices a dropped peer within seconds.
      '--ping-interval-ms', '3000',
      '--ping-timeout-ms', '3000',
      '--api-keys', API_KEY,
      // A short join history, so re-join catch-up and "Load earlier messages" really page.
      '--chat-join-history', '3',
    ],
    { listen },
  );
}

before(async () => {
  assert.ok(existsSync(path.join(dist, 'index.html')), `${dist}/index.html is missing: run "npm run build" first`);
  assert.ok(existsSync(BIN), `${BIN} is missing: run "cargo build -p iorelay" first`);
  mkdirSync(ARTIFACTS, { recursive: true });
  server = await startServer();
  baseUrl = server.url;
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

// ---------------------------------------------------------------------------
// Helpers

function openPerson(name, { url = baseUrl, ...options } = {}) {
  return openPersonIn(browser, name, url, options);
}

/** Runs `body`; on failure, saves each person's page and the server log before rethrowing. */
async function withFailureShots(label, people, body, getServer = () => server) {
  try {
    await body();
  } catch (e) {
    for (const p of people) {
      await p.page.screenshot({ path: path.join(ARTIFACTS, `FAILED-${label}-${p.name}.png`) }).catch(() => {});
    }
    const srv = getServer();
    if (srv) writeFileSync(path.join(ARTIFACTS, `FAILED-${label}-server.log`), srv.logs());
    throw e;
  }
}

const yourRooms = (page) => page.getByRole('navigation', { name: 'Your rooms' });

/** Joins (or creates) a room with the sidebar's field, and waits until it is shown and joined. */
async function joinRoom(page, room) {
  const field = page.getByLabel('Join or create a room');
  await field.fill(room);
  await field.press('Enter');
  await page.getByRole('heading', { name: room, exact: true }).waitFor({ timeout: WAIT });
  await page.waitForFunction(
    (r) => !document.querySelector('.composer-hint')?.textContent?.startsWith(`Joining #${r}`),
    room,
    { timeout: WAIT },
  );
}

async function showRoom(page, room) {
  await yourRooms(page).getByRole('button', { name: new RegExp(`^${escapeRe(room)}`) }).click();
  await page.getByRole('heading', { name: room, exact: true }).waitFor({ timeout: WAIT });
}

/** POST to the publish API of the test server. */
async function api(pathname, body) {
  const res = await fetch(new URL(pathname, baseUrl), {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-api-key': API_KEY },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: await res.json().catch(() => null) };
}

// ---------------------------------------------------------------------------

test('two people chat; typing, presence and an offline catch-up work', async () => {
  const alice = await openPerson('Alice');
  const bob = await openPerson('Bob');
  try {
    await withFailureShots('chat', [alice, bob], async () => {
    // Sign-in screen.
    await alice.page.getByRole('form', { name: 'Sign in' }).waitFor();
    await shot(alice.page, '01-sign-in');

    await signIn(alice);
    await signIn(bob);

    // Both upgrade from polling to WebSocket, and the badge says so.
    await waitForTransport(alice.page, 'websocket');
    await waitForTransport(bob.page, 'websocket');
    assert.match(await badge(alice.page).innerText(), /Connected\s*·\s*websocket/);

    // Presence: each sees the other.
    await member(alice.page, 'Bob').waitFor({ timeout: WAIT });
    await member(bob.page, 'Alice').waitFor({ timeout: WAIT });

    // Typing shows up on the other side, and goes away when the message is sent.
    await composer(bob.page).pressSequentially('Hi Ali');
    await typing(alice.page).getByText('Bob is typing…').waitFor({ timeout: WAIT });
    await composer(bob.page).pressSequentially('ce!');
    await composer(bob.page).press('Enter');
    await expectOnce(alice.page, 'Hi Alice!');
    await alice.page.waitForFunction(() => document.querySelector('[data-testid="typing"]')?.textContent === '', null, {
      timeout: WAIT,
    });

    await send(alice.page, 'Hey Bob, welcome to iorelay — ünïcode and all');
    await expectOnce(bob.page, 'Hey Bob, welcome to iorelay — ünïcode and all');
    await send(bob.page, 'Thanks! Socket.IO over Rust, nice.');
    await expectOnce(alice.page, 'Thanks! Socket.IO over Rust, nice.');

    // Bob's network goes away.
    await bob.context.setOffline(true);
    await waitForStatus(bob.page, 'offline', 'reconnecting');
    // The server noticed: Bob left the room.
    await member(alice.page, 'Bob').waitFor({ state: 'detached', timeout: WAIT });

    const missed = ['While you were away: 1', 'While you were away: 2', 'While you were away: 3'];
    for (const text of missed) await send(alice.page, text);
    for (const text of missed) assert.equal(await messagesWithText(bob.page, text).count(), 0);
    await shot(bob.page, '03-bob-offline');

    // Back online: Bob reconnects, re-joins, and catches up exactly once.
    await bob.context.setOffline(false);
    await waitForStatus(bob.page, 'connected');
    await member(alice.page, 'Bob').waitFor({ timeout: WAIT });
    for (const text of missed) await expectOnce(bob.page, text);
    await expectOnce(bob.page, 'Hi Alice!');
    await expectOnce(bob.page, 'Hey Bob, welcome to iorelay — ünïcode and all');

    const bobIds = await shownIds(bob.page);
    assert.deepEqual(bobIds, [1, 2, 3, 4, 5, 6], 'Bob sees every message once, in order');
    assert.deepEqual(await shownIds(alice.page), bobIds, 'both see the same history');

    // And the conversation goes on both ways.
    await send(bob.page, 'Back online, got all three.');
    await expectOnce(alice.page, 'Back online, got all three.');

    // A second room: joined from the sidebar; its messages count as unread while another room is shown.
    await joinRoom(alice.page, 'release-notes');
    await joinRoom(bob.page, 'release-notes');
    await member(alice.page, 'Bob').waitFor({ timeout: WAIT });
    await showRoom(alice.page, 'general');
    await send(bob.page, 'v0.1 is out: rooms, history, typing, presence.', 'release-notes');
    await yourRooms(alice.page).getByLabel('1 unread').waitFor({ timeout: WAIT });
    assert.equal(await messagesWithText(alice.page, 'v0.1 is out: rooms, history, typing, presence.').count(), 0);
    await showRoom(bob.page, 'general');

    // A desktop screenshot for the README: Bob is typing, Alice sees it.
    await composer(bob.page).pressSequentially('Let me try the phone layout');
    await typing(alice.page).getByText('Bob is typing…').waitFor({ timeout: WAIT });
    const demo = await shot(alice.page, '02-desktop-chat');
    if (process.env.UPDATE_DEMO_SCREENSHOT) copyFileSync(demo, path.join(repoRoot, 'docs/demo.png'));
    await shot(bob.page, '04-bob-caught-up');

    assert.deepEqual(alice.errors, []);
    assert.deepEqual(bob.errors, []);
    });
  } finally {
    await alice.context.close();
    await bob.context.close();
  }
});

test('works at phone width: rooms drawer, history and sending', async () => {
  const carol = await openPerson('Carol', { viewport: { width: 390, height: 844 }, isMobile: true });
  const dave = await openPerson('Dave');
  try {
    await withFailureShots('phone', [carol, dave], async () => {
    await signIn(dave);
    const agenda = ['Agenda for today:', '1. release notes', '2. phone demo', 'Posted before Carol came'];
    for (const text of agenda) await send(dave.page, text);
    await signIn(carol);
    // The room's latest messages come with the join (3, as configured), older ones on demand.
    await expectOnce(carol.page, 'Posted before Carol came');
    assert.equal((await shownIds(carol.page)).length, 3);
    const older = carol.page.getByRole('button', { name: 'Load earlier messages' });
    // The count grows and "Loading…" ends in the same update, so the button's presence is settled here.
    while (await older.isVisible()) {
      const before = (await shownIds(carol.page)).length;
      await older.click();
      await carol.page.waitForFunction(
        (n) => document.querySelectorAll('[data-testid="message"]').length > n,
        before,
        { timeout: WAIT },
      );
    }
    const all = await shownIds(carol.page);
    assert.deepEqual(all, Array.from({ length: all.length }, (_, i) => i + 1), 'every message from id 1 on, once, in order');
    for (const text of agenda) await expectOnce(carol.page, text);

    // The members column is hidden; the rooms list is a drawer.
    assert.equal(await members(carol.page).isVisible(), false);
    await carol.page.getByRole('button', { name: 'Rooms' }).click();
    const joinField = carol.page.getByLabel('Join or create a room');
    await joinField.waitFor({ state: 'visible' });
    // The drawer has slid in completely.
    await carol.page.waitForFunction(() => document.getElementById('sidebar')?.getBoundingClientRect().left === 0);
    await shot(carol.page, '06-phone-rooms-drawer');
    await joinField.fill('design-review');
    await joinField.press('Enter');
    await carol.page.getByRole('heading', { name: 'design-review', exact: true }).waitFor({ timeout: WAIT });
    await member(carol.page, 'Carol').waitFor({ state: 'attached', timeout: WAIT });
    await send(carol.page, 'Notes from the phone', 'design-review');

    // Back to #general from the drawer, and chat with a desktop user.
    await carol.page.getByRole('button', { name: 'Rooms' }).click();
    await showRoom(carol.page, 'general');
    await send(carol.page, 'Hello from a phone');
    await expectOnce(dave.page, 'Hello from a phone');
    await send(dave.page, 'Hi Carol');
    await expectOnce(carol.page, 'Hi Carol');
    await shot(carol.page, '05-phone-chat');

    // Nothing overflows horizontally at phone width.
    const overflow = await carol.page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 0, `page is ${overflow}px wider than the phone`);
    assert.deepEqual(carol.errors, []);
    });
  } finally {
    await carol.context.close();
    await dave.context.close();
  }
});

test('notifications published through the HTTP API pop up as toasts', async (t) => {
  const erin = await openPerson('Erin');
  const frank = await openPerson('Frank');
  try {
    await withFailureShots('toast', [erin, frank], async () => {
      await signIn(erin);
      await signIn(frank);
      // /notifications is connected and the topic subscribed (the sidebar says so).
      for (const p of [erin, frank]) {
        await p.page.waitForFunction(
          () => document.querySelector('[data-testid="topics"]')?.dataset.topics?.split(',').includes('announcements'),
          null,
          { timeout: WAIT },
        );
      }

      // To one user: only Erin gets it.
      const direct = await api('/api/v1/notify', {
        users: ['guest:erin'],
        title: 'Build #1289 passed',
        body: 'main is green again.',
        data: { build: 1289 },
      });
      if (direct.status === 404) {
        t.skip('this iorelay build has no POST /api/v1/notify');
        return;
      }
      assert.equal(direct.status, 200, JSON.stringify(direct.body));
      const toast = erin.page.getByTestId('toast').filter({ hasText: 'Build #1289 passed' });
      await toast.waitFor({ timeout: WAIT });
      assert.match(await toast.innerText(), /main is green again\./);

      // To a topic the app subscribes to on connect: both get it.
      const broadcast = await api('/api/v1/notify', {
        topic: 'announcements',
        title: 'Maintenance at 18:00',
        body: 'Expect a short reconnect; no message will be lost.',
      });
      assert.equal(broadcast.status, 200, JSON.stringify(broadcast.body));
      for (const p of [erin, frank]) {
        await p.page.getByTestId('toast').filter({ hasText: 'Maintenance at 18:00' }).waitFor({ timeout: WAIT });
      }
      assert.equal(await frank.page.getByTestId('toast').filter({ hasText: 'Build #1289 passed' }).count(), 0);
      await shot(erin.page, '07-toasts');

      // Dismissed with its button.
      await toast.getByRole('button', { name: /Dismiss notification/ }).click();
      await toast.waitFor({ state: 'detached', timeout: WAIT });
      assert.deepEqual(erin.errors, []);
    });
  } finally {
    await erin.context.close();
    await frank.context.close();
  }
});

test('after a server restart, clients reconnect by themselves, re-join and carry on', async () => {
  // A server of its own, restarted on the same port.
  let restartable = await startServer();
  const url = restartable.url;
  const henry = await openPerson('Henry', { url });
  const iris = await openPerson('Iris', { url });
  try {
    await withFailureShots('restart', [henry, iris], async () => {
      await signIn(henry);
      await signIn(iris);
      await send(henry.page, 'Before the restart');
      await expectOnce(iris.page, 'Before the restart');

      await restartable.stop();
      await waitForStatus(henry.page, 'reconnecting', 'offline');
      await waitForStatus(iris.page, 'reconnecting', 'offline');
      restartable = await startServer(new URL(url).host);

      for (const p of [henry, iris]) await waitForStatus(p.page, 'connected');
      await member(henry.page, 'Iris').waitFor({ timeout: WAIT });
      await member(iris.page, 'Henry').waitFor({ timeout: WAIT });

      // The in-memory history started over with id 1: the app shows the new
      // messages rather than hiding them behind the old ones with the same ids.
      await send(iris.page, 'After the restart');
      await expectOnce(henry.page, 'After the restart');
      await expectOnce(iris.page, 'After the restart');
      assert.equal(await messagesWithText(henry.page, 'Before the restart').count(), 0);
      await henry.page.getByRole('alert').filter({ hasText: 'started over' }).waitFor({ timeout: WAIT });
      await shot(henry.page, '08-after-server-restart');
      assert.deepEqual(henry.errors, []);
      assert.deepEqual(iris.errors, []);
    }, () => restartable);
  } finally {
    await henry.context.close();
    await iris.context.close();
    await restartable.stop();
  }
});
