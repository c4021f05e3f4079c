// Benchmarks of the JS client in Node against a real sync-server: catch-up of N objects and ingest of single-object ACKed transactions.
//
//   SYNC_SERVER_BIN=../../target/release/sync-server node bench.mjs [--objects 100000] [--txs 2000]
//
// Catch-up: a writer puts N Task objects (1,000 per transaction) and syncs them; then a fresh
// client full-syncs them (memory store, then SQLite), and a client that was at position 0 with
// nothing on the server catches up by delta (the log's N/1000 pushes). Ingest: one client puts
// single-object transactions, first one at a time waiting for each Ack, then pipelined (all
// queued, time until the last Ack).

import { join } from 'node:path';
import { LocalStore, MemoryStorage, SyncClient } from './dist/index.js';
import { SqliteStorage } from './dist/storage/sqlite.js';
import { exampleModel, startServer, tempDir } from './test/support.mjs';

const arg = (name, fallback) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
};
const N = arg('--objects', 100_000);
const TXS = arg('--txs', 2_000);
const BATCH = 1_000;
const results = [];
const report = (what, count, ms, unit) => {
  const rate = Math.round((count / ms) * 1000);
  results.push({ what, count, seconds: +(ms / 1000).toFixed(2), rate: `${rate} ${unit}` });
  console.log(`${what}: ${count} in ${(ms / 1000).toFixed(2)} s = ${rate} ${unit}`);
};

async function peer(server, storage = new MemoryStorage()) {
  const store = await LocalStore.open(exampleModel(), storage);
  const client = new SyncClient(store, { url: server.url });
  return { store, client, async close() { await client.stop(); await store.close(); } };
}

const server = await startServer();
try {
  // A delta-catch-up client: synced at position 0 before any data exists, then offline.
  const lagging = await peer(server);
  lagging.client.start();
  await lagging.client.whenSynced();
  await lagging.client.stop();

  const writer = await peer(server);
  let t0 = performance.now();
  for (let i = 0; i < N; i += BATCH) {
    const objects = [];
    for (let j = i; j < Math.min(N, i + BATCH); j++) objects.push({ text: `task ${j}`, dateCreated: 1735689600000 + j });
    await writer.store.putMany('Task', objects);
  }
  report(`local writes (${BATCH} objects per transaction, memory store)`, N, performance.now() - t0, 'objects/s');
  t0 = performance.now();
  writer.client.start();
  await writer.client.whenSynced(600_000);
  report(`upload (${BATCH} objects per ApplyTx, until the last Ack)`, N, performance.now() - t0, 'objects/s');

  for (const [name, storage] of [['memory store', () => new MemoryStorage()], ['SQLite store', () => SqliteStorage.open(join(tempDir(), 'bench.sqlite'), { synchronous: 'NORMAL' })]]) {
    const fresh = await peer(server, await storage());
    t0 = performance.now();
    fresh.client.start();
    await fresh.client.whenSynced(600_000);
    const ms = performance.now() - t0;
    if (fresh.store.count('Task') !== N) throw new Error(`full sync delivered ${fresh.store.count('Task')} of ${N}`);
    report(`catch-up by full sync, ${name}`, N, ms, 'objects/s');
    await fresh.close();
  }

  t0 = performance.now();
  lagging.client.start();
  await lagging.client.waitFor(() => lagging.store.count('Task') === N && lagging.client.isSynced(), 600_000, 'the delta catch-up');
  report('catch-up by delta (pushes of 1,000-object entries), memory store', N, performance.now() - t0, 'objects/s');
  await lagging.close();

  for (const [name, storage] of [['memory store', () => new MemoryStorage()], ['SQLite store (synchronous=FULL)', () => SqliteStorage.open(join(tempDir(), 'ingest.sqlite'))]]) {
    const one = await peer(server, await storage());
    one.client.start();
    await one.client.whenSynced(600_000);
    t0 = performance.now();
    for (let i = 0; i < TXS; i++) {
      await one.store.put('Project', { name: `p${i}`, color: i });
      await one.client.waitFor(() => one.store.queueLength() === 0, 10_000, 'the ack');
    }
    report(`ingest, one single-object transaction at a time until its Ack, ${name}`, TXS, performance.now() - t0, 'tx/s');
    t0 = performance.now();
    for (let i = 0; i < TXS; i++) await one.store.put('Project', { name: `q${i}`, color: i });
    await one.client.waitFor(() => one.store.queueLength() === 0, 600_000, 'the last ack');
    report(`ingest, single-object transactions pipelined until the last Ack, ${name}`, TXS, performance.now() - t0, 'tx/s');
    await one.close();
  }
  await writer.close();
} finally {
  await server.stop();
}
console.log(JSON.stringify(results, null, 1));
