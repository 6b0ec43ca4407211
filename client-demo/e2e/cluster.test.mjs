// End-to-end across a cluster: two iorelay nodes joined by a real redis-server
// (`--adapter redis`), each serving the built app. Two people, each on a
// different node, chat in one room; typing and presence cross nodes, and an
// offline catch-up on one node shows what was sent on the other exactly once.
//
//   npm run build && npm run e2e        (needs Debian's redis-server and the iorelay binary)
//
// No sleeps: every wait is for a state of the page or a line of a log.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import {
  ARTIFACTS,
  BIN,
  WAIT,
  badge,
  composer,
  dist,
  expectOnce,
  launchBrowser,
  member,
  messagesWithText,
  openPerson,
  send,
  shot,
  shownIds,
  signIn,
  startIorelay,
  startRedis,
  typing,
  waitForStatus,
  waitForTransport,
} from './support.mjs';

let redis;
let nodeA;
let nodeB;
let browser;

/** Waits until the connection badge names `node` (from GET /healthz of the node that answered). */
async function waitForNode(page, node) {
  await page.waitForFunction(
    (n) => document.querySelector('[data-testid="connection-badge"]')?.dataset.node === n,
    node,
    { timeout: WAIT },
  );
}

function startNode(nodeId) {
  return startIorelay(
    [
      '--adapter', 'redis',
      '--redis-url', redis.url,
      '--node-id', nodeId,
      // Short heartbeats so a dropped peer leaves the room within seconds.
      '--ping-interval-ms', '3000',
      '--ping-timeout-ms', '3000',
      '--chat-join-history', '3',
    ],
    { name: nodeId },
  );
}

before(async () => {
  assert.ok(existsSync(path.join(dist, 'index.html')), `${dist}/index.html is missing: run "npm run build" first`);
  assert.ok(existsSync(BIN), `${BIN} is missing: run "cargo build -p iorelay" first`);
  mkdirSync(ARTIFACTS, { recursive: true });
  redis = await startRedis();
  nodeA = await startNode('node-a');
  nodeB = await startNode('node-b');
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await nodeA?.stop();
  await nodeB?.stop();
  await redis?.stop();
});

test('two people on two nodes (redis adapter) chat, type, see presence and catch up once', async () => {
  assert.notEqual(nodeA.url, nodeB.url);
  const alice = await openPerson(browser, 'Alice', nodeA.url);
  const bob = await openPerson(browser, 'Bob', nodeB.url);
  try {
    await signIn(alice);
    await signIn(bob);
    await waitForTransport(alice.page, 'websocket');
    await waitForTransport(bob.page, 'websocket');

    // Each badge names the node its browser is connected to.
    await waitForNode(alice.page, 'node-a');
    await waitForNode(bob.page, 'node-b');
    assert.match(await badge(alice.page).innerText(), /Connected\s*·\s*websocket\s*·\s*node-a/);
    assert.match(await badge(bob.page).innerText(), /Connected\s*·\s*websocket\s*·\s*node-b/);

    // Presence crosses nodes.
    await member(alice.page, 'Bob').waitFor({ timeout: WAIT });
    await member(bob.page, 'Alice').waitFor({ timeout: WAIT });

    // Typing crosses nodes, both ways.
    await composer(bob.page).pressSequentially('Hello from node');
    await typing(alice.page).getByText('Bob is typing…').waitFor({ timeout: WAIT });
    await composer(bob.page).pressSequentially(' B');
    await composer(bob.page).press('Enter');
    await expectOnce(alice.page, 'Hello from node B');
    await composer(alice.page).pressSequentially('Hi Bob');
    await typing(bob.page).getByText('Alice is typing…').waitFor({ timeout: WAIT });
    await composer(alice.page).press('Enter');
    await expectOnce(bob.page, 'Hi Bob');
    await expectOnce(alice.page, 'Hi Bob');

    await send(alice.page, 'Sent on node A');
    await expectOnce(bob.page, 'Sent on node A');
    await send(bob.page, 'Sent on node B');
    await expectOnce(alice.page, 'Sent on node B');

    // Bob (on node B) goes offline; node A's Alice sees him leave.
    await bob.context.setOffline(true);
    await waitForStatus(bob.page, 'offline', 'reconnecting');
    assert.doesNotMatch(await badge(bob.page).innerText(), /node-b/);
    await member(alice.page, 'Bob').waitFor({ state: 'detached', timeout: WAIT });

    const missed = ['Across nodes while away: 1', 'Across nodes while away: 2', 'Across nodes while away: 3'];
    for (const text of missed) await send(alice.page, text);
    for (const text of missed) assert.equal(await messagesWithText(bob.page, text).count(), 0);

    // Back online on node B: re-joined, and every message sent on node A shown once.
    await bob.context.setOffline(false);
    await waitForStatus(bob.page, 'connected');
    await waitForNode(bob.page, 'node-b');
    await member(alice.page, 'Bob').waitFor({ timeout: WAIT });
    for (const text of missed) await expectOnce(bob.page, text);
    for (const text of ['Hello from node B', 'Hi Bob', 'Sent on node A', 'Sent on node B']) {
      await expectOnce(bob.page, text);
    }
    const bobIds = await shownIds(bob.page);
    assert.equal(new Set(bobIds).size, bobIds.length, 'no message shown twice');
    assert.equal(bobIds.length, 7);
    assert.deepEqual(await shownIds(alice.page), bobIds, 'both nodes show the same history');

    await send(bob.page, 'Back on node B');
    await expectOnce(alice.page, 'Back on node B');
    await shot(bob.page, '09-cluster-bob-node-b');

    assert.deepEqual(alice.errors, []);
    assert.deepEqual(bob.errors, []);
  } catch (e) {
    for (const p of [alice, bob]) {
      await p.page.screenshot({ path: path.join(ARTIFACTS, `FAILED-cluster-${p.name}.png`) }).catch(() => {});
    }
    writeFileSync(path.join(ARTIFACTS, 'FAILED-cluster-node-a.log'), nodeA.logs());
    writeFileSync(path.join(ARTIFACTS, 'FAILED-cluster-node-b.log'), nodeB.logs());
    throw e;
  } finally {
    await alice.context.close();
    await bob.context.close();
  }
});
