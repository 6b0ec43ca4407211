// End-to-end: sign-in with dev tokens. The server runs with --dev-auth and a
// private /chat, so a connection needs `auth: {token}`; the app asks
// POST /auth/dev-token for one by itself and connects with it.
//
//   npm run build && npm run e2e
//
// No sleeps: every wait is for a state of the page.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import {
  ARTIFACTS,
  BIN,
  WAIT,
  dist,
  expectOnce,
  launchBrowser,
  openPerson,
  send,
  shot,
  startIorelay,
  waitForStatus,
} from './support.mjs';

let server;
let browser;
const SECRET = `e2e-dev-auth-secret-${Math.random().toString(36).slice(2)}-0123456789abcdef`;

before(async () => {
  assert.ok(existsSync(path.join(dist, 'index.html')), `${dist}/index.html is missing: run "npm run build" first`);
  assert.ok(existsSync(BIN), `${BIN} is missing: run "cargo build -p iorelay" first`);
  mkdirSync(ARTIFACTS, { recursive: true });
  server = await startIorelay(['--dev-auth', '--jwt-secret', SECRET, '--private-namespaces', '/chat']);
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

/** A person in the members list; dev-token users are `dev:` + the name in lower case. */
const devMember = (page, name) => page.getByTestId('members').locator(`[data-user-id="dev:${name.toLowerCase()}"]`);

async function signIn({ page, name }) {
  await page.getByLabel('Your name').fill(name);
  await page.getByLabel('Room', { exact: true }).fill('general');
  await page.getByRole('button', { name: 'Join chat' }).click();
  await waitForStatus(page, 'connected');
  await devMember(page, name).waitFor({ state: 'attached', timeout: WAIT });
}

test('with --dev-auth and a private /chat, sign-in gets a dev token and chat works', async () => {
  // The endpoint is on.
  const tokenReply = await fetch(new URL('/auth/dev-token', server.url), {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'Probe' }),
  });
  assert.equal(tokenReply.status, 200);

  const judy = await openPerson(browser, 'Judy', server.url);
  const ken = await openPerson(browser, 'Ken', server.url);
  try {
    // The app asks for Judy's token itself, once.
    const tokenRequests = [];
    judy.page.on('request', (req) => {
      if (req.url().includes('/auth/dev-token')) tokenRequests.push(req.postDataJSON());
    });
    await signIn(judy);
    await signIn(ken);
    assert.deepEqual(tokenRequests, [{ name: 'Judy' }]);
    await devMember(judy.page, 'Ken').waitFor({ timeout: WAIT });
    await devMember(ken.page, 'Judy').waitFor({ timeout: WAIT });

    await send(judy.page, 'Signed in with a dev token');
    await expectOnce(ken.page, 'Signed in with a dev token');
    await send(ken.page, 'Me too');
    await expectOnce(judy.page, 'Me too');
    // Own messages are recognised as such under the token's user id.
    await judy.page.getByTestId('message').filter({ hasText: 'Signed in with a dev token' }).getByText('you').waitFor({ timeout: WAIT });

    // A reconnect (network gone and back) hands a token again and re-joins.
    await ken.context.setOffline(true);
    await waitForStatus(ken.page, 'offline', 'reconnecting');
    await send(judy.page, 'While Ken was away');
    await ken.context.setOffline(false);
    await waitForStatus(ken.page, 'connected');
    await expectOnce(ken.page, 'While Ken was away');
    await shot(judy.page, '10-dev-token-sign-in');

    assert.deepEqual(judy.errors, []);
    assert.deepEqual(ken.errors, []);
  } catch (e) {
    for (const p of [judy, ken]) {
      await p.page.screenshot({ path: path.join(ARTIFACTS, `FAILED-auth-${p.name}.png`) }).catch(() => {});
    }
    writeFileSync(path.join(ARTIFACTS, 'FAILED-auth-server.log'), server.logs());
    throw e;
  } finally {
    await judy.context.close();
    await ken.context.close();
  }
});

test('a guest handshake is refused by the private /chat (so the token above was needed)', async () => {
  // The stock client's refusal for a bare name, seen from Node through the same server.
  const { io } = await import('socket.io-client');
  const socket = io(`${server.url}/chat`, { auth: { name: 'Guest' }, forceNew: true, reconnection: false, transports: ['websocket'] });
  try {
    const err = await new Promise((resolve, reject) => {
      socket.once('connect_error', resolve);
      socket.once('connect', () => reject(new Error('a guest connected to a private /chat')));
    });
    assert.match(err.message, /^token_missing/);
  } finally {
    socket.close();
  }
});
