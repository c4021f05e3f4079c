// Browser tests in Chromium via playwright-core: offline writes, a reload keeps them, two contexts converge through the server.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startServer, EXAMPLE_MODEL, ROOT, CHROMIUM, CHROMIUM_ARGS } from './support.mjs';

const BUNDLE = join(ROOT, 'clients/js/dist/browser/sync-server-client.js');

/** Serves the SDK bundle, the example model and an empty page on 127.0.0.1; resolves with its URL and a close function. */
async function servePage() {
  const files = {
    '/': ['text/html', '<!doctype html><title>sdk test</title><script type="module">import * as sdk from "/sdk.js"; window.sdk = sdk; window.sdkReady = true;</script>'],
    '/sdk.js': ['text/javascript', readFileSync(BUNDLE)],
    '/model.json': ['application/json', readFileSync(EXAMPLE_MODEL)],
  };
  const server = createServer((req, res) => {
    const file = files[req.url];
    res.writeHead(file ? 200 : 404, { 'content-type': file ? file[0] : 'text/plain' });
    res.end(file ? file[1] : 'not found');
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${server.address().port}/`, close: () => new Promise((r) => server.close(r)) };
}

/** Opens the page, then a store on IndexedDB and a client for `syncUrl` inside it. */
async function openPeer(page, pageUrl, syncUrl) {
  await page.goto(pageUrl);
  await page.waitForFunction(() => window.sdkReady === true, null, { timeout: 10_000 });
  await page.evaluate(async (url) => {
    const { IndexedDbStorage, LocalStore, Model, SyncClient } = window.sdk;
    const model = Model.fromJson(await (await fetch('/model.json')).text());
    const store = await LocalStore.open(model, await IndexedDbStorage.open('sync-test'));
    const client = new SyncClient(store, { url, initialBackoffMs: 100, maxBackoffMs: 400 });
    window.errors = [];
    client.on((e) => (e.type === 'storeError' || e.type === 'protocolError') && window.errors.push(e.message));
    client.start();
    window.peer = { store, client };
  }, syncUrl);
}

const texts = (page) => page.evaluate(() => window.peer.store.all('Task').map((t) => t.text).sort());

test('Chromium: offline writes survive a reload and two browser contexts converge', { skip: !existsSync(CHROMIUM) && `no Chromium at ${CHROMIUM}` }, async (t) => {
  const { chromium } = await import('playwright-core');
  const first = await startServer();
  const { port, dbDir } = first;
  await first.stop();
  const site = await servePage();
  t.after(() => site.close());
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  t.after(() => browser.close());
  const syncUrl = `ws://127.0.0.1:${port}`;

  const a = await (await browser.newContext()).newPage();
  await openPeer(a, site.url, syncUrl);
  await a.evaluate(async () => {
    const { store } = window.peer;
    const project = await store.put('Project', { name: 'Home', color: 1 });
    await store.put('Task', { text: 'written offline', projectId: project, dateCreated: Date.now() });
  });
  assert.equal(await a.evaluate(() => window.peer.store.queueLength()), 2, 'both writes are queued while the server is down');

  await a.reload();
  await openPeer(a, site.url, syncUrl);
  assert.deepEqual(await texts(a), ['written offline'], 'the reload keeps the data');
  assert.equal(await a.evaluate(() => window.peer.store.queueLength()), 2, 'and the queue');

  const server = await startServer({ port, dbDir });
  t.after(() => server.stop());
  await a.evaluate(() => window.peer.client.whenSynced(20_000));
  assert.equal(await a.evaluate(() => window.peer.store.queueLength()), 0);

  const b = await (await browser.newContext()).newPage();
  await openPeer(b, site.url, syncUrl);
  await b.evaluate(() => window.peer.client.waitFor(() => window.peer.store.count('Task') === 1, 20_000, 'the task from a'));
  assert.deepEqual(await texts(b), ['written offline']);
  await b.evaluate(async () => {
    const { store } = window.peer;
    const [task] = store.all('Task');
    await store.put('Task', { ...task, dateFinished: 1735689600000 });
    await store.put('Task', { text: 'from b' });
  });
  await a.evaluate(() => window.peer.client.waitFor(
    () => window.peer.store.count('Task') === 2 && window.peer.store.query('Task').where('dateFinished', 'notNull').count() === 1,
    20_000, 'b\'s changes on a'));
  assert.deepEqual(await texts(a), ['from b', 'written offline']);
  assert.deepEqual(await a.evaluate(() => window.errors), []);
  assert.deepEqual(await b.evaluate(() => window.errors), []);
});
