// Shared helpers of the e2e tests: the server's addresses, logging in, running the real
// `sync-client` command line, and screenshots of every page.
import { execFile, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { expect } from '@playwright/test';

const here = dirname(fileURLToPath(import.meta.url));
export const ROOT = resolve(here, '../..');
const TARGET = process.env.CARGO_TARGET_DIR ?? join(ROOT, 'target');
// Debug builds by default (what `cargo test` built); E2E_PROFILE=release for release binaries.
const PROFILE = process.env.E2E_PROFILE ?? 'debug';
export const SERVER_BINARY = join(TARGET, PROFILE, 'sync-server');
export const CLIENT_BINARY = join(TARGET, PROFILE, 'sync-client');
export const MODEL = join(ROOT, 'examples/objectbox-model.json');
export const SCREENSHOTS = join(here, '../test-results/screenshots');

export const ADMIN = { user: 'admin', password: 'e2e-admin-password-1' };

async function freePort() {
  return new Promise((ok, fail) => {
    const server = createServer();
    server.unref();
    server.on('error', fail);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => ok(port));
    });
  });
}

/// Picks the ports and the database directory once; worker processes inherit them through the
/// environment, so every process of a run agrees.
export async function serverEnvironment() {
  if (!process.env.E2E_ADMIN_PORT) {
    process.env.E2E_ADMIN_PORT = String(await freePort());
    process.env.E2E_SYNC_PORT = String(await freePort());
    process.env.E2E_DB_DIR = join(mkdtempSync(join(tmpdir(), 'sync-e2e-')), 'db');
  }
  return {
    adminUrl: `http://127.0.0.1:${process.env.E2E_ADMIN_PORT}`,
    syncUrl: `ws://127.0.0.1:${process.env.E2E_SYNC_PORT}`,
    dbDirectory: process.env.E2E_DB_DIR,
  };
}

export function syncUrl() {
  return `ws://127.0.0.1:${process.env.E2E_SYNC_PORT}`;
}

/// A fresh directory for one sync-client's local database.
export function clientDir(name) {
  return mkdtempSync(join(tmpdir(), `sync-e2e-client-${name}-`));
}

/// Runs `sync-client --dir DIR --server ... --model ... ARGS...` to the end; returns stdout.
/// Fails the test with the client's stderr when it exits non-zero.
export async function syncClient(dir, ...args) {
  const run = promisify(execFile);
  const { stdout } = await run(
    CLIENT_BINARY,
    ['--server', syncUrl(), '--model', MODEL, '--dir', dir, ...args],
    { timeout: 60_000 },
  );
  return stdout.trim();
}

/// Starts a long-running `sync-client ... watch` (a connected client); kill it with `.kill()`.
export function watchingClient(dir) {
  const child = spawn(
    CLIENT_BINARY,
    ['--server', syncUrl(), '--model', MODEL, '--dir', dir, 'watch'],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  child.stdout.resume();
  child.stderr.resume();
  return child;
}

/// Logs in through the login page and waits for the app's navigation.
export async function login(page, user = ADMIN.user, password = ADMIN.password) {
  await page.goto('/');
  await page.getByLabel('User').fill(user);
  await page.getByLabel('Password', { exact: true }).fill(password);
  await page.getByRole('button', { name: 'Log in' }).click();
  await expect(page.locator('nav.sidebar')).toBeVisible();
}

/// Saves a full-page screenshot as test output: test-results/screenshots/NAME.png.
export async function screenshot(page, name) {
  mkdirSync(SCREENSHOTS, { recursive: true });
  await page.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage: true });
}

/// Collects console errors of a page, minus two expected ones: trunk's SRI-on-preload warning,
/// and the browser's note on a 401 (the app asks for its session before anyone logged in).
export function consoleErrors(page) {
  const errors = [];
  page.on('console', (msg) => {
    const text = msg.text();
    if (msg.type() !== 'error' || text.includes('integrity')) return;
    if (text.includes('status of 401')) return;
    errors.push(text);
  });
  page.on('pageerror', (err) => errors.push(String(err)));
  return errors;
}
