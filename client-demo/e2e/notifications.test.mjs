// Notifications that are never missed, in real Chromium: the demo's toasts
// survive going offline (the reconnect catches up from the cursor), and a
// plain EventSource page (public/sse.html) resumes with Last-Event-ID after
// its server node is restarted, nothing lost or duplicated. History lives in a
// real redis-server, so the restarted node still has it.
//
//   npm run build && npm run e2e        (needs Debian's redis-server and the iorelay binary)

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { BIN, WAIT, dist, freePort, launchBrowser, openPerson, signIn, startIorelay, startRedis, waitForStatus } from './support.mjs';

const KEY = 'demo-e2e-key-0123456789';
let redis;
let browser;
const nodes = [];

before(async () => {
  assert.ok(existsSync(path.join(dist, 'sse.html')), `${dist}/sse.html is missing: run "npm run build" first`);
  assert.ok(existsSync(BIN), `${BIN} is missing: run "cargo build -p iorelay" first`);
  redis = await startRedis();
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  for (const node of nodes) await node.stop();
  await redis?.stop();
});

async function node(nodeId, listen = '127.0.0.1:0') {
  const n = await startIorelay(
    ['--adapter', 'redis', '--redis-url', redis.url, '--node-id', nodeId, '--api-keys', KEY],
    { listen, name: nodeId },
  );
  nodes.push(n);
  return n;
}

async function notify(server, body) {
  const r = await fetch(`${server.url}/api/v1/notify`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${KEY}` },
    body: JSON.stringify(body),
  });
  const json = await r.json();
  assert.equal(r.status, 200, JSON.stringify(json));
  return json;
}

test('the demo shows notifications published while it was offline, once each, after it reconnects', async () => {
  const a = await node('demo-a');
  const alice = await openPerson(browser, 'Alice', a.url);
  // Every toast title that ever appears, in order (toasts expire after a while).
  await alice.page.evaluate(() => {
    window.__toasts = [];
    new MutationObserver((changes) => {
      for (const change of changes)
        for (const n of change.addedNodes)
          if (n instanceof HTMLElement && n.dataset.testid === 'toast') window.__toasts.push(n.querySelector('.toast-title')?.firstChild?.textContent ?? '');
    }).observe(document.body, { childList: true, subtree: true });
  });
  await signIn(alice);
  const toasts = (n) =>
    alice.page.waitForFunction((count) => window.__toasts.length >= count, n, { timeout: WAIT }).then(() => alice.page.evaluate(() => window.__toasts));
  await notify(a, { users: ['guest:alice'], title: 'first' });
  assert.deepEqual(await toasts(1), ['first']);

  await alice.context.setOffline(true);
  await waitForStatus(alice.page, 'offline', 'reconnecting');
  await notify(a, { users: ['guest:alice'], title: 'while away 1' });
  await notify(a, { topic: 'announcements', title: 'while away 2' });
  await notify(a, { users: ['guest:bob'], title: 'not for Alice' });
  await notify(a, { users: ['guest:alice'], topic: 'announcements', title: 'while away 3' });
  await alice.context.setOffline(false);
  await waitForStatus(alice.page, 'connected');
  const seen = await toasts(4);
  await notify(a, { users: ['guest:alice'], title: 'live again' });
  const all = await toasts(5);
  assert.deepEqual(all, ['first', 'while away 1', 'while away 2', 'while away 3', 'live again'], `seen: ${seen}`);
  assert.deepEqual(alice.errors, []);
  await alice.context.close();
});

test('a plain EventSource resumes with Last-Event-ID after its node restarts: nothing lost or duplicated', async () => {
  const port = await freePort();
  let a = await node('sse-a', `127.0.0.1:${port}`);
  const b = await node('sse-b');
  const reader = await openPerson(browser, 'Reader', `${a.url}/sse.html?name=Reader&topics=news`);
  const page = reader.page;
  const state = page.getByTestId('sse-state');
  await page.waitForFunction(() => document.querySelector('[data-testid="sse-state"]')?.textContent.startsWith('live'), null, { timeout: WAIT });
  const items = (n) =>
    page
      .waitForFunction((count) => document.querySelectorAll('[data-testid="sse-list"] li').length >= count, n, { timeout: WAIT })
      .then(() => page.$$eval('[data-testid="sse-list"] li', (lis) => lis.map((li) => li.dataset.id)));
  const sent = [];
  sent.push((await notify(b, { users: ['guest:reader'], title: 'one' })).id);
  sent.push((await notify(b, { topic: 'news', title: 'two' })).id);
  assert.deepEqual(await items(2), sent);

  // Cut the stream: the node serving it goes away (SIGTERM ends SSE streams).
  await a.stop();
  nodes.splice(nodes.indexOf(a), 1);
  await page.waitForFunction(() => document.querySelector('[data-testid="sse-state"]')?.textContent !== 'live', null, { timeout: WAIT });
  for (const title of ['three', 'four']) sent.push((await notify(b, { users: ['guest:reader'], topic: 'news', title })).id);
  await notify(b, { topic: 'weather', title: 'not subscribed' });
  a = await node('sse-a', `127.0.0.1:${port}`);
  // EventSource reconnects by itself with Last-Event-ID.
  assert.deepEqual(await items(4), sent);
  await page.waitForFunction(() => document.querySelector('[data-testid="sse-state"]')?.textContent.startsWith('live'), null, { timeout: WAIT });
  sent.push((await notify(b, { users: ['guest:reader'], title: 'five' })).id);
  const final = await items(5);
  assert.deepEqual(final, sent, 'every one, once, in order');
  assert.equal(await state.textContent(), 'live');
  assert.deepEqual(reader.errors, []);
  await reader.context.close();
});
