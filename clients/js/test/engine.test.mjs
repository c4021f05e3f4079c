// Unit tests of the sans-IO engine and store rules (docs/protocol.md 12.6, 13.4, 14.2) with scripted server frames.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Engine, LocalStore, MemoryStorage, encodeServer, decodeClient } from '../dist/index.js';
import { exampleModel } from './support.mjs';

const OTHER = 0xa1b2c3d4e5f60718n;

/** A store and engine fed by hand; `sent` collects decoded client messages, `events` the events. */
async function harness({ storage = new MemoryStorage(), mode = 'Auto' } = {}) {
  const store = await LocalStore.open(exampleModel(), storage);
  const sent = [];
  const events = [];
  const closes = [];
  const engine = new Engine(store, {
    send: (frame) => sent.push(decodeClient(frame)),
    emit: (e) => events.push(e),
    close: (retry) => closes.push(retry),
  }, { mode, credentials: { type: 'none' } });
  let now = 0;
  const feed = (message) => engine.onFrame(encodeServer(message), (now += 10));
  const login = async (headSeq = 0) => {
    engine.onConnected(now);
    await feed({ type: 'Hello', minVersion: 1, maxVersion: 1, nonce: new Uint8Array(32), serverTimeMs: 1 });
    await feed({ type: 'LoginResult', code: 20, message: '', serverTimeMs: 1, schemaVersion: 1, headSeq });
  };
  const me = store.peerId;
  const task = (id, text, clock) => ({ kind: 'Put', entity: 1, id, props: [[2, text], [6, BigInt(clock)]] });
  return { store, engine, sent, events, closes, feed, login, me, task, storage, tick: (ms) => engine.onTick((now += ms)) };
}

test('login sends the model hashes and position, then the whole queue pipelined', async () => {
  const h = await harness();
  await h.store.put('Task', { text: 'a' });
  await h.store.put('Task', { text: 'b' });
  await h.login();
  const [login, tx1, tx2] = h.sent;
  assert.equal(login.type, 'Login');
  assert.equal(login.schemaFullHash, 'b09c7ccd1ea9804339218cb39a247bcc');
  assert.equal(login.lastTxId, 2);
  assert.deepEqual(login.credentials, [{ kind: 'None' }]);
  assert.deepEqual([tx1.txId, tx2.txId], [1, 2]);
  await h.store.put('Task', { text: 'c' });
  h.engine.onQueueChanged(100);
  assert.equal(h.sent.at(-1).txId, 3, 'a new write goes out at once');
});

test('example 5: an own entry in the catch-up acknowledges the transaction before the next entry', async () => {
  const h = await harness();
  const id = await h.store.put('Task', { text: 'Buy milk' });
  const gid = [h.me, BigInt(id)];
  await h.login(1);
  await h.feed({ type: 'Push', txs: [{ seq: 1, origin: h.me, timeMs: 0, ops: [], txId: 1 }] });
  await h.feed({ type: 'SyncComplete', seq: 1 });
  await h.store.put('Task', { id, text: 'changed' });
  // The connection broke before the Ack of tx 2; another peer changed the task afterwards.
  h.engine.onDisconnected();
  await h.login(3);
  assert.equal(h.sent.at(-1).txId, 2, 'tx 2 is resent');
  await h.feed({
    type: 'Push',
    txs: [
      { seq: 2, origin: h.me, timeMs: 0, ops: [], txId: 2 },
      { seq: 3, origin: OTHER, timeMs: 0, ops: [h.task(gid, 'Buy oat milk', 2n ** 62n)], txId: 0 },
    ],
  });
  await h.feed({ type: 'SyncComplete', seq: 3 });
  await h.feed({ type: 'Ack', txId: 2, seq: 2, corrections: [] });
  assert.equal(h.store.get('Task', id).text, 'Buy oat milk', 'the later change of the other peer applies');
  assert.equal(h.store.queueLength(), 0);
  assert.equal(h.store.syncState().lastSeq, 3);
});

test('example 6: an own entry carries the correction of a put that lost', async () => {
  const h = await harness();
  const id = await h.store.put('Task', { text: 'Buy oat milk' });
  const gid = [h.me, BigInt(id)];
  await h.login();
  await h.feed({ type: 'Ack', txId: 1, seq: 1, corrections: [] });
  await h.feed({ type: 'Push', txs: [{ seq: 1, origin: h.me, timeMs: 0, ops: [], txId: 1 }] });
  h.engine.onDisconnected();
  await h.store.put('Task', { id, text: 'Buy soy milk' });
  await h.login(3);
  // Entry 2 (the other peer) is skipped: queued tx 2 changes the task.
  await h.feed({ type: 'Push', txs: [{ seq: 2, origin: OTHER, timeMs: 0, ops: [h.task(gid, 'Buy rice milk', 2n ** 62n)], txId: 0 }] });
  assert.equal(h.store.get('Task', id).text, 'Buy soy milk', 'protected by the queued transaction');
  h.engine.onDisconnected();
  await h.login(3);
  await h.feed({ type: 'Push', txs: [{ seq: 3, origin: h.me, timeMs: 0, ops: [h.task(gid, 'Buy rice milk', 2n ** 62n)], txId: 2 }] });
  await h.feed({ type: 'SyncComplete', seq: 3 });
  await h.feed({ type: 'Ack', txId: 2, seq: 3, corrections: [] });
  assert.equal(h.store.get('Task', id).text, 'Buy rice milk', 'the server state from the own entry');
  assert.equal(h.store.get('Task', id).syncClock, 2n ** 62n);
  // The observed clock moves local clocks beyond it.
  await h.store.put('Task', { id, text: 'mine again' });
  assert.ok(h.store.get('Task', id).syncClock > 2n ** 62n);
});

test('settling: an Ack ahead of the stream protects its objects from older entries only', async () => {
  const h = await harness();
  await h.login();
  const id = await h.store.put('Task', { text: 'mine' });
  const gid = [h.me, BigInt(id)];
  h.engine.onQueueChanged(0);
  // The Ack (seq 5) overtakes entry 4 of another peer, committed before it.
  await h.feed({ type: 'Ack', txId: 1, seq: 5, corrections: [] });
  assert.equal(h.store.queueLength(), 0);
  await h.feed({ type: 'Push', txs: [{ seq: 4, origin: OTHER, timeMs: 0, ops: [{ kind: 'Remove', entity: 1, id: gid }], txId: 0 }] });
  assert.equal(h.store.get('Task', id)?.text, 'mine', 'the older remove is skipped');
  await h.feed({ type: 'Push', txs: [{ seq: 5, origin: h.me, timeMs: 0, ops: [], txId: 1 }] });
  await h.feed({ type: 'Push', txs: [{ seq: 6, origin: OTHER, timeMs: 0, ops: [h.task(gid, 'newer', 1)], txId: 0 }] });
  assert.equal(h.store.get('Task', id).text, 'newer', 'entries after the settle seq apply');
  // Entries at or below the position are ignored.
  await h.feed({ type: 'Push', txs: [{ seq: 6, origin: OTHER, timeMs: 0, ops: [h.task(gid, 'replayed', 1)], txId: 0 }] });
  assert.equal(h.store.get('Task', id).text, 'newer');
});

test('an Ack with corrections overwrites the object and re-applies still-queued changes', async () => {
  const h = await harness();
  await h.login();
  const id = await h.store.put('Task', { text: 'v1' });
  const gid = [h.me, BigInt(id)];
  const project = await h.store.put('Project', { name: 'queued' });
  await h.feed({ type: 'Ack', txId: 1, seq: 1, corrections: [h.task(gid, 'server', 9)] });
  assert.equal(h.store.get('Task', id).text, 'server');
  assert.equal(h.store.get('Project', project).name, 'queued', 'other objects are untouched');
  await h.store.put('Task', { id, text: 'v2' });
  await h.feed({ type: 'Ack', txId: 2, seq: 2, corrections: [{ kind: 'Remove', entity: 2, id: [h.me, BigInt(project)] }] });
  assert.equal(h.store.get('Project', project), undefined, 'a Remove correction deletes');
  assert.equal(h.store.get('Task', id).text, 'v2', 'the queued tx 3 is not affected by tx 2\'s correction');
});

test('full sync: acked_tx_id drops the queue it covers; undelivered objects go unless queued', async () => {
  const h = await harness();
  const acked = await h.store.put('Task', { text: 'acked, not in the snapshot' });
  const queued = await h.store.put('Task', { text: 'queued, not in the snapshot' });
  await h.login(20);
  const foreign = [OTHER, 7n];
  await h.feed({ type: 'FullSyncBegin', seq: 20, ackedTxId: 1 });
  assert.equal(h.store.queueLength(), 1, 'tx 1 is in the snapshot');
  assert.equal(h.store.syncState().lastSeq, 0, 'the position is 0 until the end');
  await h.feed({ type: 'FullSyncChunk', ops: [h.task(foreign, 'from the snapshot', 1), h.task([h.me, BigInt(queued)], 'server version', 1)] });
  assert.equal(h.store.get('Task', queued).text, 'queued, not in the snapshot', 'the queued object keeps its local version');
  await h.feed({ type: 'FullSyncEnd', seq: 20 });
  await h.feed({ type: 'SyncComplete', seq: 20 });
  assert.equal(h.store.get('Task', acked), undefined, 'an acked object the server does not have is deleted');
  assert.equal(h.store.get('Task', queued).text, 'queued, not in the snapshot');
  assert.deepEqual(h.store.all('Task').map((o) => o.text).sort(), ['from the snapshot', 'queued, not in the snapshot']);
  assert.equal(h.store.syncState().lastSeq, 20);
  assert.equal(h.events.filter((e) => e.type === 'syncComplete').length, 1, 'FullSyncEnd and SyncComplete report once');
});

test('login failures: permanent codes block, credentials rejection waits, a bad version is refused locally', async () => {
  for (const [code, retry] of [[57, 'never'], [43, 'whenCredentialsChange'], [61, 'backoff'], [99, 'backoff']]) {
    const h = await harness();
    h.engine.onConnected(0);
    await h.feed({ type: 'Hello', minVersion: 1, maxVersion: 1, nonce: new Uint8Array(32), serverTimeMs: 1 });
    await h.feed({ type: 'LoginResult', code, message: 'no', serverTimeMs: 1, schemaVersion: 0, headSeq: 0 });
    assert.deepEqual(h.closes, [retry], `code ${code}`);
    assert.equal(h.engine.blocked?.code, retry === 'backoff' ? undefined : code);
  }
  const h = await harness();
  h.engine.onConnected(0);
  await h.feed({ type: 'Hello', minVersion: 2, maxVersion: 3, nonce: new Uint8Array(32), serverTimeMs: 1 });
  assert.equal(h.sent.length, 0, 'no Login for an unsupported version');
  assert.match(h.events.find((e) => e.type === 'loginFailed').message, /protocol versions 2..=3, this client speaks 1/);
});

test('heartbeats when silent, idle timeout when the server is silent, Error closes', async () => {
  const h = await harness();
  await h.login();
  h.tick(15_000);
  assert.equal(h.sent.at(-1).type, 'Heartbeat');
  h.tick(31_000);
  assert.deepEqual(h.closes, ['backoff'], 'nothing received for 45 s closes');
  const g = await harness();
  await g.login();
  await g.feed({ type: 'Error', code: 6, message: 'bye' });
  assert.deepEqual(g.closes, ['backoff']);
  assert.equal(g.events.at(-1).codeName, 'SHUTTING_DOWN');
});

test('a crash after FullSyncBegin leaves position 0, so the next login asks for a full sync', async () => {
  const storage = new MemoryStorage();
  const h = await harness({ storage });
  await h.login(5);
  await h.feed({ type: 'Push', txs: [{ seq: 5, origin: OTHER, timeMs: 0, ops: [h.task([OTHER, 1n], 'x', 1)], txId: 0 }] });
  await h.feed({ type: 'FullSyncBegin', seq: 9, ackedTxId: 0 });
  const reopened = await harness({ storage });
  assert.equal(reopened.store.syncState().lastSeq, 0);
  assert.equal(reopened.store.count('Task'), 1, 'the old data stays visible');
  assert.equal(reopened.store.peerId, h.store.peerId);
});
