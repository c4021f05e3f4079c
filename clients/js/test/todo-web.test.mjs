// End-to-end test of examples/todo-web in Chromium: offline use, reload, sync through the real server, two users; with screenshots.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { startServer, ROOT, CHROMIUM, CHROMIUM_ARGS } from './support.mjs';

const APP = join(ROOT, 'examples/todo-web');
const SHOTS = join(ROOT, 'clients/js/test-results/todo-web');

test('todo-web: the app type-checks against the generated model types', async () => {
  const { buildApp } = await import(join(APP, 'build.mjs'));
  assert.ok((await buildApp()) > 1000, 'the bundle was written');
  try {
    execFileSync(process.execPath, [join(ROOT, 'clients/js/node_modules/typescript/bin/tsc'), '-p', join(APP, 'tsconfig.json')], { encoding: 'utf8' });
  } catch (e) {
    assert.fail(`tsc --noEmit over examples/todo-web failed:\n${e.stdout}${e.stderr}`);
  }
});

test('todo-web: offline tasks survive a reload, sync when the server is up, and two users converge', { skip: !existsSync(CHROMIUM) && `no Chromium at ${CHROMIUM}` }, async (t) => {
  const { chromium } = await import('playwright-core');
  const { serveApp } = await import(join(APP, 'serve.mjs'));
  mkdirSync(SHOTS, { recursive: true });
  const first = await startServer();
  const { port, dbDir } = first;
  await first.stop();
  const site = await serveApp(0);
  t.after(() => site.close());
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  t.after(() => browser.close());
  const appUrl = `${site.url}?server=ws://127.0.0.1:${port}`;
  const open = async () => {
    const page = await (await browser.newContext({ viewport: { width: 800, height: 640 } })).newPage();
    const errors = [];
    page.on('pageerror', (e) => errors.push(e.message));
    page.errors = errors;
    await page.goto(appUrl);
    await page.waitForSelector('body[data-ready="true"]', { timeout: 10_000 });
    return page;
  };
  const status = (page) => page.locator('#status');
  const items = (page) => page.locator('#tasks li .text');

  // Alice works offline: the server is down.
  const alice = await open();
  await alice.fill('#project-name', 'Home');
  await alice.click('#new-project button');
  await alice.fill('#task-text', 'Buy milk');
  await alice.press('#task-text', 'Enter');
  await alice.fill('#task-text', 'Walk the dog');
  await alice.press('#task-text', 'Enter');
  await assertText(items(alice), ['Walk the dog', 'Buy milk']);
  await waitForText(status(alice), /offline · 3 changes to send/);
  await alice.screenshot({ path: join(SHOTS, '1-alice-offline.png') });

  await alice.reload();
  await alice.waitForSelector('body[data-ready="true"]');
  await assertText(items(alice), ['Walk the dog', 'Buy milk']);
  await waitForText(alice.locator('#tasks li .project').first(), /Home/);
  await alice.screenshot({ path: join(SHOTS, '2-alice-after-reload.png') });

  // The server comes up: Alice's queue goes out.
  const server = await startServer({ port, dbDir });
  t.after(() => server.stop());
  await waitForText(status(alice), /^synced$/, 20_000);
  await alice.screenshot({ path: join(SHOTS, '3-alice-synced.png') });

  // Bob, in another browser context, gets everything and finishes a task.
  const bob = await open();
  await assertText(items(bob), ['Walk the dog', 'Buy milk']);
  await bob.getByLabel('finished: Buy milk').check();
  await bob.fill('#task-text', 'Call grandma');
  await bob.press('#task-text', 'Enter');
  await waitForText(status(bob), /^synced$/, 20_000);
  await bob.screenshot({ path: join(SHOTS, '4-bob.png') });

  await assertText(items(alice), ['Call grandma', 'Walk the dog', 'Buy milk']);
  await alice.locator('#tasks li.done .text').filter({ hasText: 'Buy milk' }).waitFor({ timeout: 10_000 });
  await alice.getByLabel('delete: Walk the dog').click();
  await assertText(items(bob), ['Call grandma', 'Buy milk']);
  await alice.screenshot({ path: join(SHOTS, '5-alice-converged.png') });
  await bob.screenshot({ path: join(SHOTS, '6-bob-converged.png') });
  assert.deepEqual(alice.errors, []);
  assert.deepEqual(bob.errors, []);
});

/** Waits (at most `timeoutMs`) until the locator's texts equal `expected`. */
async function assertText(locator, expected, timeoutMs = 15_000) {
  const deadline = Date.now() + timeoutMs;
  let last = [];
  while (Date.now() < deadline) {
    last = await locator.allTextContents();
    if (JSON.stringify(last) === JSON.stringify(expected)) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.deepEqual(last, expected);
}

async function waitForText(locator, pattern, timeoutMs = 15_000) {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    last = (await locator.textContent()) ?? '';
    if (pattern.test(last)) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.match(last, pattern);
}
