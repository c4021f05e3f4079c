// Crash consistency: a Node process writing to a SQLite store is killed with SIGKILL mid-stream; the reopened store is consistent and syncs.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { writeFileSync } from 'node:fs';
import { LocalStore } from '../dist/index.js';
import { SqliteStorage } from '../dist/storage/sqlite.js';
import { exampleModel, openPeer, startServer, tempDir, ROOT } from './support.mjs';

test('SIGKILL during writes: every stored object has its queued transaction, and the queue syncs', async (t) => {
  const dir = tempDir();
  const path = join(dir, 'crash.sqlite');
  const writer = join(dir, 'writer.mjs');
  writeFileSync(writer, `
import { LocalStore, Model } from ${JSON.stringify(join(ROOT, 'clients/js/dist/index.js'))};
import { SqliteStorage } from ${JSON.stringify(join(ROOT, 'clients/js/dist/storage/sqlite.js'))};
import { readFileSync } from 'node:fs';
const model = Model.fromJson(readFileSync(${JSON.stringify(join(ROOT, 'examples/objectbox-model.json'))}, 'utf8'));
const store = await LocalStore.open(model, await SqliteStorage.open(${JSON.stringify(path)}));
for (let i = 1; i <= 100000; i++) {
  const id = await store.put('Task', { text: 'task ' + i, dateCreated: i });
  if (i % 3 === 0) await store.put('Task', { id, text: 'edited ' + i, dateCreated: i });
  if (i % 5 === 0) await store.remove('Task', id);
  if (i % 50 === 0) process.stdout.write(i + '\\n');
}
`);
  const child = spawn(process.execPath, [writer], { stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = new Promise((r) => child.once('exit', r));
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the writer made no progress within 20 s')), 20_000);
    child.stdout.on('data', (chunk) => {
      const n = Number(String(chunk).trim().split('\n').pop());
      if (n >= 300) {
        clearTimeout(timer);
        resolve();
      }
    });
  });
  process.kill(child.pid, 'SIGKILL');
  await exited;

  const store = await LocalStore.open(exampleModel(), await SqliteStorage.open(path));
  const queued = store.queuedOps();
  const state = store.syncState();
  assert.ok(queued.length >= 300, `at least 300 transactions survived (${queued.length})`);
  assert.equal(queued.length, state.lastTxId, 'tx ids 1..last are all queued, none lost or torn');
  assert.deepEqual(queued.map(([txId]) => txId), Array.from({ length: queued.length }, (_, i) => i + 1));
  // Replaying the queue's puts and removes gives exactly the stored objects.
  const expected = new Map();
  for (const [, ops] of queued) {
    for (const op of ops) {
      if (op.kind === 'Put') expected.set(Number(op.id[1]), op.props.find(([pid]) => pid === 2)[1]);
      else expected.delete(Number(op.id[1]));
    }
  }
  assert.deepEqual(new Map(store.all('Task').map((t) => [t.id, t.text])), expected);
  await store.close();

  const server = await startServer();
  t.after(() => server.stop());
  const a = await openPeer({ path, url: server.url });
  const b = await openPeer({ url: server.url });
  t.after(() => Promise.all([a.close(), b.close()]));
  a.client.start();
  b.client.start();
  await a.client.whenSynced(30_000);
  await b.client.waitFor(() => b.store.count('Task') === expected.size && b.client.isSynced(), 30_000, 'the replayed tasks on b');
  assert.deepEqual(b.store.all('Task').map((t) => t.text).sort(), [...expected.values()].sort());
});
