// The official Socket.IO Admin UI (`ui/dist` of the @socket.io/admin-ui npm
// package, installed by tests/js, served by iorelay with --admin-ui-dir) in real
// headless Chromium, driving a two-node iorelay cluster on a real redis-server.
// A real socket.io-client on the other node sees what the UI does to it.
//
//   npm --prefix tests/js ci && npm --prefix client-demo run e2e
//   (UPDATE_DEMO_SCREENSHOT=1 also refreshes docs/admin-ui.png, README's picture)
//
// No sleeps: every wait is for a state of the page or an event of the client.
// The UI loads fonts and icons from CDNs; those requests are refused here
// (air-gapped), so buttons are found by their icon's class, not by its glyph.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdirSync } from 'node:fs';
import { once } from 'node:events';
import path from 'node:path';
import { io } from 'socket.io-client';
import { ARTIFACTS, BIN, WAIT, launchBrowser, repoRoot, shot, startIorelay, startRedis } from './support.mjs';

const UI_DIR = path.join(repoRoot, 'tests/js/node_modules/@socket.io/admin-ui/ui/dist');
const PASSWORD = 'correct horse battery staple';
// bcryptjs.hashSync(PASSWORD, 4): the smallest cost, so logins stay quick in tests.
const HASH = '$2a$04$NYc2WieVeTMJRUWSL9UbduJQt57go5zoqib8bs.M2i3hVwHRYXQKS';

let redis;
let nodeA;
let nodeB;
let browser;

before(async () => {
  assert.ok(existsSync(BIN), `${BIN} is missing: run cargo build first`);
  assert.ok(existsSync(path.join(UI_DIR, 'index.html')), `${UI_DIR} is missing: run npm --prefix tests/js ci`);
  mkdirSync(ARTIFACTS, { recursive: true });
  redis = await startRedis();
  const cluster = ['--adapter', 'redis', '--redis-url', redis.url, '--admin-password-hash', HASH, '--admin-mode', 'development'];
  nodeA = await startIorelay([...cluster, '--node-id', 'node-a', '--admin-ui-dir', UI_DIR], { staticDir: null, name: 'node-a' });
  nodeB = await startIorelay([...cluster, '--node-id', 'node-b'], { staticDir: null, name: 'node-b' });
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await nodeA?.stop();
  await nodeB?.stop();
  await redis?.stop();
});

/** A socket.io-client on `url`, connected over WebSocket. */
async function client(url) {
  const socket = io(url, { forceNew: true, reconnection: false, transports: ['websocket'] });
  await once(socket, 'connect');
  return socket;
}

/** Resolves with the arguments of the next `event` on `socket`. */
function next(socket, event) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no "${event}" within ${WAIT} ms`)), WAIT);
    socket.once(event, (...args) => {
      clearTimeout(timer);
      resolve(args);
    });
  });
}

async function openUi() {
  const context = await browser.newContext({ viewport: { width: 1400, height: 900 }, deviceScaleFactor: 1 });
  const page = await context.newPage();
  const local = new URL(nodeA.url).host;
  // Air-gapped: nothing but the node itself (the UI asks Google Fonts and jsDelivr for fonts).
  await page.route('**/*', (route) => (new URL(route.request().url()).host === local ? route.continue() : route.abort()));
  const errors = [];
  page.on('pageerror', (e) => errors.push(e));
  await page.goto(`${nodeA.url}/admin-ui/`);
  return { page, errors };
}

async function logIn(page, password) {
  const dialog = page.locator('.v-dialog--active');
  await dialog.getByLabel('Server URL').fill(nodeA.url);
  await dialog.getByLabel('Username').fill('admin');
  await dialog.getByLabel('Password').fill(password);
  await dialog.getByRole('button', { name: 'Connect' }).click();
}

test('the Admin UI logs in to a two-node cluster, lists sockets and rooms, joins, and disconnects', async () => {
  const user = await client(nodeB.url);
  const userId = user.id;
  const { page, errors } = await openUi();

  // A wrong password is refused and the UI says so.
  await logIn(page, 'not the password');
  await page.locator('.v-dialog--active').getByText('Invalid credentials').waitFor({ timeout: WAIT });

  await logIn(page, PASSWORD);
  await page.locator('.v-dialog--active').waitFor({ state: 'detached', timeout: WAIT });

  // Both nodes, each with its client count.
  await page.goto(`${nodeA.url}/admin-ui/#/servers/`);
  const rowOf = (text) => page.locator('tbody tr', { hasText: text });
  await rowOf('node-a').waitFor({ timeout: WAIT });
  await rowOf('node-b').waitFor({ timeout: WAIT });
  // Columns: id, hostname, pid, uptime, clients, last ping, status.
  const clientsOf = async (node) => Number((await rowOf(node).locator('td').nth(4).innerText()).trim());
  await page.waitForFunction(
    () => [...document.querySelectorAll('tbody tr')].some((tr) => tr.innerText.includes('node-b') && Number(tr.querySelectorAll('td')[4]?.innerText) >= 1),
    null,
    { timeout: WAIT },
  );
  assert.ok((await clientsOf('node-b')) >= 1, 'node-b holds the user');
  assert.ok((await clientsOf('node-a')) >= 1, 'node-a holds the admin UI');
  // README's picture: the cluster as the UI sees it (the dashboard's charts are redrawn
  // with every server_stats, so a still of them is always caught mid-animation).
  const servers = await shot(page, 'admin-ui-servers');
  if (process.env.UPDATE_DEMO_SCREENSHOT) copyFileSync(servers, path.join(repoRoot, 'docs/admin-ui.png'));

  // The dashboard's namespaces, from the whole cluster.
  await page.goto(`${nodeA.url}/admin-ui/#/`);
  const namespaces = page.locator('.v-card', { hasText: 'Namespaces' });
  await namespaces.locator('tr', { hasText: '/admin' }).waitFor({ timeout: WAIT });
  await namespaces.locator('tr', { has: page.locator('code', { hasText: /^\/$/ }) }).waitFor({ timeout: WAIT });
  await shot(page, 'admin-ui-dashboard');

  // The user's socket (on node B) and its own room, in development mode's socket list.
  await page.goto(`${nodeA.url}/admin-ui/#/sockets/`);
  // The namespace selector: `/`, where the user is.
  await page.locator('.v-main .v-select.selector').click();
  await page.locator('.menuable__content__active .v-list-item__title').getByText('/', { exact: true }).click();
  await page.locator('tbody tr', { hasText: userId }).click({ timeout: WAIT });
  const rooms = page.locator('.v-card', { hasText: 'Rooms' });
  await rooms.locator('tbody tr', { hasText: userId }).waitFor({ timeout: WAIT });

  // Join a room from the UI: the room shows up, and an emit to it reaches the user.
  await rooms.getByLabel('Join a room').fill('vip');
  await rooms.locator('button[type=submit]').click();
  await rooms.locator('tbody tr', { hasText: 'vip' }).waitFor({ timeout: WAIT });
  await shot(page, 'admin-ui-socket');
  // The 0.5 UI has no emit form: its `emit` command goes over the same admin connection.
  const greeted = next(user, 'announcement');
  const admin = io(`${nodeA.url}/admin`, { forceNew: true, reconnection: false, transports: ['websocket'], auth: { username: 'admin', password: PASSWORD } });
  await once(admin, 'connect');
  admin.emit('emit', '/', 'vip', 'announcement', 'from the admin UI');
  assert.deepEqual(await greeted, ['from the admin UI']);
  admin.close();

  // Disconnect the socket from the UI: the user is put out, the UI shows it disconnected.
  const gone = next(user, 'disconnect');
  await page.locator('.v-card', { hasText: 'Details' }).locator('button:has(i.mdi-logout)').last().click();
  assert.equal((await gone)[0], 'io server disconnect');
  await page.getByText('disconnected').first().waitFor({ timeout: WAIT });
  await shot(page, 'admin-ui-disconnected');

  assert.deepEqual(errors, []);
  user.close();
});
