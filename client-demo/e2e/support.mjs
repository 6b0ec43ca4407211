// Shared by the e2e tests: the iorelay binary, redis-server, Chromium and
// page helpers. Every wait is for a state of the page or a line of a log; no sleeps.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = path.dirname(fileURLToPath(import.meta.url));
export const demoDir = path.resolve(here, '..');
export const repoRoot = path.resolve(demoDir, '..');
export const dist = path.join(demoDir, 'dist');
export const BIN = process.env.IORELAY_BIN ?? path.join(repoRoot, 'target/debug/iorelay');
export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
export const ARTIFACTS = path.join(repoRoot, 'tests/artifacts/client-demo');
export const WAIT = 20_000;

/** A TCP port that was free a moment ago on 127.0.0.1. */
export async function freePort() {
  const server = net.createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address();
  server.close();
  await once(server, 'close');
  return port;
}

/** Resolves with the first match of `re` in the process's output; rejects if it exits first. */
function waitForOutput(proc, re, what, timeoutMs = 15_000) {
  let output = '';
  const result = new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${what} did not start:\n${output}`)), timeoutMs);
    const onData = (chunk) => {
      output += chunk.toString();
      const m = output.match(re);
      if (m) {
        clearTimeout(timer);
        resolve(m);
      }
    };
    proc.stdout.on('data', onData);
    proc.stderr.on('data', onData);
    proc.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${what} exited with ${code}:\n${output}`));
    });
  });
  return { result, logs: () => output };
}

/**
 * Starts iorelay serving dist/ (or `staticDir`; none when null) with `args` added, and
 * resolves once it logs its address. Returns { url, logs(), stop() }.
 */
export async function startIorelay(args = [], { listen = '127.0.0.1:0', name = 'iorelay', staticDir = dist } = {}) {
  const served = staticDir === null ? [] : ['--static-dir', staticDir];
  const proc = spawn(BIN, ['--listen', listen, ...served, ...args], {
    env: { ...process.env, RUST_LOG: process.env.RUST_LOG ?? 'info' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const started = waitForOutput(proc, /listening on (http:\/\/[^\s"]+)/, name);
  const [, url] = await started.result;
  return {
    url,
    logs: started.logs,
    async stop() {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      const exited = once(proc, 'exit');
      proc.kill('SIGTERM');
      await exited;
    },
  };
}

/** Starts Debian's redis-server on a free port, without persistence. Returns { url, logs(), stop() }. */
export async function startRedis() {
  const port = await freePort();
  const proc = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const started = waitForOutput(proc, /Ready to accept connections/, 'redis-server');
  await started.result;
  return {
    url: `redis://127.0.0.1:${port}`,
    logs: started.logs,
    async stop() {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      const exited = once(proc, 'exit');
      proc.kill('SIGKILL');
      await exited;
    },
  };
}

export function launchBrowser() {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
    ],
  });
}

/** A new browser context (one person) with a page on `url`. */
export async function openPerson(browser, name, url, { viewport = { width: 1280, height: 800 }, isMobile = false } = {}) {
  const context = await browser.newContext({ viewport, isMobile, hasTouch: isMobile, deviceScaleFactor: 1 });
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e));
  await page.goto(url);
  return { name, context, page, errors };
}

export async function signIn({ page, name }, room = 'general') {
  await page.getByLabel('Your name').fill(name);
  await page.getByLabel('Room', { exact: true }).fill(room);
  await page.getByRole('button', { name: 'Join chat' }).click();
  await waitForStatus(page, 'connected');
  // Joined once the server lists us as a member of the room.
  await member(page, name).waitFor({ state: 'attached', timeout: WAIT });
}

/** A person in the members list; guest ids are `guest:` + the name in lower case. */
export const member = (page, name) => page.getByTestId('members').locator(`[data-user-id="guest:${name.toLowerCase()}"]`);
export const badge = (page) => page.getByTestId('connection-badge');
export const members = (page) => page.getByTestId('members');
export const typing = (page) => page.getByTestId('typing');
export const composer = (page, room = 'general') => page.getByLabel(`Message #${room}`);

export async function waitForStatus(page, ...statuses) {
  await page.waitForFunction(
    (wanted) => wanted.includes(document.querySelector('[data-testid="connection-badge"]')?.dataset.status),
    statuses,
    { timeout: WAIT },
  );
}

export async function waitForTransport(page, transport) {
  await page.waitForFunction(
    (t) => document.querySelector('[data-testid="connection-badge"]')?.dataset.transport === t,
    transport,
    { timeout: WAIT },
  );
}

/** Stored messages (not pending ones) whose text is exactly `text`. */
export function messagesWithText(page, text) {
  return page.getByTestId('message').filter({ has: page.locator('.message-text', { hasText: new RegExp(`^${escapeRe(text)}$`) }) });
}

export function escapeRe(s) {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

export async function expectOnce(page, text) {
  const found = messagesWithText(page, text);
  await found.first().waitFor({ timeout: WAIT });
  assert.equal(await found.count(), 1, `"${text}" should be shown exactly once`);
}

/** Ids of all stored messages shown, in order. */
export async function shownIds(page) {
  return page.getByTestId('message').evaluateAll((els) => els.map((el) => Number(el.dataset.id)));
}

export async function send(page, text, room = 'general') {
  const box = composer(page, room);
  await box.fill(text);
  await box.press('Enter');
  // Acknowledged: it is a stored message (with its server id), no longer pending.
  await messagesWithText(page, text).first().waitFor({ timeout: WAIT });
  await page.getByTestId('pending-message').waitFor({ state: 'detached', timeout: WAIT });
}

export async function shot(page, name) {
  const file = path.join(ARTIFACTS, `${name}.png`);
  // Finite animations (toasts sliding in) are finished first, so a screenshot shows the final state.
  await page.screenshot({ path: file, animations: 'disabled' });
  return file;
}
