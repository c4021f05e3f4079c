// Integration tests of the JS client against the real sync-server: logins, values, pushes, catch-up, conflicts, restarts.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync, sign } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { WebSocketServer } from 'ws';
import { decodeServer, Model } from '../dist/index.js';
import { startServer, openPeer, tempDir, writeModel, EXAMPLE_MODEL, eventually } from './support.mjs';

const ALL_TYPES = new URL('./fixtures/all-types-model.json', import.meta.url).pathname;
const allTypesModel = () => Model.fromJson(readFileSync(ALL_TYPES, 'utf8'));

/** Message names received by a client, via its trace hook. */
function recorder() {
  const names = [];
  return {
    names,
    trace: (dir, frame) => {
      if (dir === 'in') names.push(decodeServer(frame).type);
    },
  };
}

test('login without credentials; a put reaches another client', async (t) => {
  const server = await startServer();
  t.after(() => server.stop());
  const a = await openPeer({ url: server.url });
  const b = await openPeer({ url: server.url });
  t.after(() => Promise.all([a.close(), b.close()]));
  const project = await a.store.put('Project', { name: 'Home', color: 3 });
  const task = await a.store.put('Task', { text: 'dishes', projectId: project, dateCreated: 1735689600000 });
  assert.equal(a.store.queueLength(), 2, 'both writes are queued offline');
  a.client.start();
  b.client.start();
  await a.client.whenSynced(10_000);
  await b.client.waitFor(() => b.store.count('Task') === 1 && b.store.count('Project') === 1, 10_000, 'the task on b');
  const got = b.store.all('Task')[0];
  assert.equal(got.text, 'dishes');
  assert.equal(got.dateCreated, 1735689600000);
  assert.equal(b.store.get('Project', got.projectId).name, 'Home', 'the relation points at the synced project');
  assert.deepEqual(b.store.globalId('Task', got.id), a.store.globalId('Task', task));
  const kinds = a.events.map((e) => e.type);
  for (const k of ['connected', 'loggedIn', 'syncComplete', 'txAcked']) assert.ok(kinds.includes(k), `event ${k} in ${kinds}`);
  assert.equal(a.events.find((e) => e.type === 'txAcked').txId, 1);
  const time = a.client.serverTimeMs();
  assert.ok(Math.abs(time - Date.now()) < 60_000, `server time ${time} is near the local clock`);
});

test('shared secret: a wrong secret is refused with code 43 until new credentials arrive', async (t) => {
  const server = await startServer({ config: { auth: { sharedSecret: 's3cret' } } });
  t.after(() => server.stop());
  const good = await openPeer({ url: server.url, credentials: { type: 'sharedSecret', secret: 's3cret' } });
  const bad = await openPeer({ url: server.url, credentials: { type: 'sharedSecret', secret: 'wrong' } });
  const none = await openPeer({ url: server.url });
  t.after(() => Promise.all([good.close(), bad.close(), none.close()]));
  good.client.start();
  bad.client.start();
  none.client.start();
  await good.client.whenSynced(10_000);
  await assert.rejects(bad.client.whenSynced(10_000), /CREDENTIALS_REJECTED \(43\)/);
  const failed = bad.events.find((e) => e.type === 'loginFailed');
  assert.equal(failed.code, 43);
  assert.equal(failed.retry, 'whenCredentialsChange');
  assert.equal(bad.client.state, 'waiting');
  await assert.rejects(none.client.whenSynced(10_000), /CREDENTIALS_REJECTED/);
  bad.client.setCredentials({ type: 'sharedSecret', secret: 's3cret' });
  await bad.client.whenSynced(10_000);
});

test('JWT: an ES256 token signed with node:crypto logs in; an expired one is refused', async (t) => {
  const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const server = await startServer({ config: { auth: { jwt: { publicKey: publicKey.export({ type: 'spki', format: 'pem' }) } } } });
  t.after(() => server.stop());
  const jwt = (exp) => {
    const b64 = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
    const body = `${b64({ alg: 'ES256', typ: 'JWT' })}.${b64({ sub: 'user-1', exp })}`;
    const sig = sign('sha256', Buffer.from(body), { key: privateKey, dsaEncoding: 'ieee-p1363' }).toString('base64url');
    return `${body}.${sig}`;
  };
  const now = Math.floor(Date.now() / 1000);
  const ok = await openPeer({ url: server.url, credentials: { type: 'jwt', token: jwt(now + 600) } });
  const expired = await openPeer({ url: server.url, credentials: { type: 'jwt', token: jwt(now - 3600), kind: 'Access' } });
  t.after(() => Promise.all([ok.close(), expired.close()]));
  ok.client.start();
  expired.client.start();
  await ok.client.whenSynced(10_000);
  await assert.rejects(expired.client.whenSynced(10_000), /CREDENTIALS_REJECTED \(43\)/);
});

test('strict schema validation accepts the hashes this client computes and refuses another model', async (t) => {
  const server = await startServer({ config: { unsecuredNoAuthentication: true, clientSchemaValidation: { strict: true } } });
  t.after(() => server.stop());
  const same = await openPeer({ url: server.url });
  const json = JSON.parse(readFileSync(EXAMPLE_MODEL, 'utf8'));
  json.entities[1].name = 'Folder';
  const other = await openPeer({ url: server.url, model: writeModel(json).model });
  t.after(() => Promise.all([same.close(), other.close()]));
  same.client.start();
  other.client.start();
  await same.client.whenSynced(10_000);
  await assert.rejects(other.client.whenSynced(10_000), /UNSUPPORTED_DATA_MODEL \(57\)/);
  assert.equal(other.events.find((e) => e.type === 'loginFailed').retry, 'never');
  await eventually(() => other.client.state === 'stopped', 5_000, 'the refused client to stop');
});

test('every value type survives the trip through the server', async (t) => {
  const server = await startServer({ model: ALL_TYPES });
  t.after(() => server.stop());
  const a = await openPeer({ url: server.url, model: allTypesModel() });
  const b = await openPeer({ url: server.url, model: allTypesModel() });
  t.after(() => Promise.all([a.close(), b.close()]));
  const parent = await a.store.put('Item', { text: 'parent' });
  const values = {
    flag: true, byteVal: -128, shortVal: 65535, charVal: 65, intVal: -2147483648, longVal: -(2n ** 63n),
    floatVal: 1.5, doubleVal: Math.PI, text: 'héllo ✓ 🎉', date: 1735689600000, dateNano: 1735689600000000001n,
    flex: { a: 1, b: [true, 'x', null], c: { d: 2.5 }, big: 2n ** 60n },
    boolVec: [true, false, true], byteVec: Uint8Array.of(0, 1, 254, 255), shortVec: [1, -2], charVec: [65, 66],
    intVec: [2147483647, -5], longVec: [1n, -(2n ** 63n), 2n ** 63n - 1n], floatVec: [1.5, 2], doubleVec: [0.1, -1e300],
    stringVec: ['a', '', 'ü'], dateVec: [0, 1735689600000], dateNanoVec: [3n], unsignedLong: 2n ** 64n - 1n, parentId: parent,
  };
  const id = await a.store.put('Item', values);
  const nulls = await a.store.put('Item', {});
  a.client.start();
  b.client.start();
  await a.client.whenSynced(10_000);
  await b.client.waitFor(() => b.store.count('Item') === 3, 10_000, 'three items on b');
  const byText = (store, text) => store.all('Item').find((o) => o.text === text);
  const got = byText(b.store, values.text);
  const expected = { ...a.store.get('Item', id) };
  assert.equal(byText(b.store, 'parent').id, got.parentId, 'the to-one relation maps to b\'s local id of the parent');
  delete expected.id;
  delete expected.parentId;
  const { id: _id, parentId: _p, ...rest } = got;
  assert.deepEqual(rest, expected);
  assert.equal(rest.unsignedLong, 2n ** 64n - 1n);
  const empty = b.store.all('Item').find((o) => o.text === null);
  assert.ok(empty, 'the empty item arrived');
  assert.ok(Object.entries(empty).every(([k, v]) => k === 'id' || v === null), 'all its values are null');
  void nulls;
});

test('removes, standalone links, shared global ids and local-only entities', async (t) => {
  const server = await startServer({ model: ALL_TYPES });
  t.after(() => server.stop());
  const a = await openPeer({ url: server.url, model: allTypesModel() });
  const b = await openPeer({ url: server.url, model: allTypesModel() });
  t.after(() => Promise.all([a.close(), b.close()]));
  a.client.start();
  b.client.start();
  const note = await a.store.put('Note', { text: 'n1' });
  const tag = await a.store.put('Tag', { id: 42, name: 'red' });
  await a.store.put('LocalOnly', { name: 'stays here' });
  await a.store.link('Note', 'tags', note, tag);
  assert.equal(a.store.queueLength() <= 3, true, 'the local-only put is not queued');
  await a.client.whenSynced(10_000);
  await b.client.waitFor(() => b.store.count('Note') === 1 && b.store.get('Tag', 42) !== undefined, 10_000, 'note and tag on b');
  const bNote = b.store.all('Note')[0].id;
  await b.client.waitFor(() => b.store.linked('Note', 'tags', bNote).length === 1, 10_000, 'the link on b');
  assert.deepEqual(b.store.linked('Note', 'tags', bNote), [42], 'shared global ids keep the id');
  assert.equal(b.store.count('LocalOnly'), 0);
  await a.store.unlink('Note', 'tags', note, tag);
  await b.client.waitFor(() => b.store.linked('Note', 'tags', bNote).length === 0, 10_000, 'the unlink on b');
  assert.equal(await a.store.remove('Note', note), true);
  assert.equal(await a.store.remove('Note', note), false, 'a second remove finds nothing');
  await b.client.waitFor(() => b.store.count('Note') === 0, 10_000, 'the remove on b');
  await a.client.whenSynced(10_000);
});

test('a new client gets a full sync, a returning one a delta', async (t) => {
  const server = await startServer();
  t.after(() => server.stop());
  const a = await openPeer({ url: server.url });
  t.after(() => a.close());
  for (let i = 0; i < 5; i++) await a.store.put('Task', { text: `t${i}` });
  a.client.start();
  await a.client.whenSynced(10_000);
  const path = join(tempDir(), 'b.sqlite');
  const rec1 = recorder();
  let b = await openPeer({ url: server.url, path, trace: rec1.trace });
  b.client.start();
  await b.client.whenSynced(10_000);
  assert.equal(b.store.count('Task'), 5);
  assert.ok(rec1.names.includes('FullSyncBegin') && rec1.names.includes('FullSyncEnd'), `full sync: ${rec1.names}`);
  await b.close();
  await a.store.put('Task', { text: 'while b was away' });
  await a.store.remove('Task', 1);
  await a.client.whenSynced(10_000);
  const rec2 = recorder();
  b = await openPeer({ url: server.url, path, trace: rec2.trace });
  t.after(() => b.close());
  assert.equal(b.store.count('Task'), 5, 'the SQLite store kept its data');
  b.client.start();
  await b.client.whenSynced(10_000);
  assert.ok(!rec2.names.includes('FullSyncBegin'), `no full sync the second time: ${rec2.names}`);
  assert.ok(rec2.names.includes('Push'), `a delta push: ${rec2.names}`);
  assert.deepEqual(b.store.all('Task').map((o) => o.text).sort(), ['t1', 't2', 't3', 't4', 'while b was away']);
});

test('conflicts: higher precedence wins, then the higher clock; the loser gets a correction', async (t) => {
  const server = await startServer({ model: ALL_TYPES });
  t.after(() => server.stop());
  const a = await openPeer({ url: server.url, model: allTypesModel() });
  const b = await openPeer({ url: server.url, model: allTypesModel() });
  t.after(() => Promise.all([a.close(), b.close()]));
  a.client.start();
  b.client.start();
  const id = await a.store.put('Note', { text: 'original' });
  await a.client.whenSynced(10_000);
  await b.client.waitFor(() => b.store.count('Note') === 1, 10_000, 'the note on b');
  const bId = b.store.all('Note')[0].id;
  await a.client.stop();
  await b.client.stop();

  // Precedence: a's edit with precedence 1 beats b's later edit with precedence 0, whatever the order.
  await a.store.put('Note', { id, text: 'from a', precedence: 1 });
  await b.store.put('Note', { id: bId, text: 'from b', precedence: 0 });
  b.client.start();
  await b.client.whenSynced(10_000);
  a.client.start();
  await a.client.whenSynced(10_000);
  await b.client.waitFor(() => b.store.get('Note', bId).text === 'from a', 10_000, 'b to take a\'s edit');
  assert.equal(a.store.get('Note', id).text, 'from a');

  // Clock: with equal precedence the later write (higher clock) wins even if it arrives first.
  await a.client.stop();
  await b.client.stop();
  await a.store.put('Note', { id, text: 'a older', precedence: 1 });
  await b.store.put('Note', { id: bId, text: 'b newer', precedence: 1 });
  // Within one millisecond both clocks may tie; then the first write received (b's) wins as well.
  assert.ok(b.store.get('Note', bId).clock >= a.store.get('Note', id).clock, 'b\'s clock is not lower');
  b.client.start();
  await b.client.whenSynced(10_000);
  a.client.start();
  await a.client.whenSynced(10_000);
  await a.client.waitFor(() => a.store.get('Note', id).text === 'b newer', 10_000, 'the correction on a');
  assert.equal(b.store.get('Note', bId).text, 'b newer');
});

test('a rejected transaction leaves the queue; the local change stays', async (t) => {
  const server = await startServer();
  t.after(() => server.stop());
  const json = JSON.parse(readFileSync(EXAMPLE_MODEL, 'utf8'));
  json.entities.push({
    id: '3:111', name: 'Extra', flags: 2, lastPropertyId: '2:113',
    properties: [{ id: '1:112', name: 'id', type: 6, flags: 1 }, { id: '2:113', name: 'label', type: 9 }], relations: [],
  });
  json.lastEntityId = '3:111';
  const peer = await openPeer({ url: server.url, model: writeModel(json).model });
  t.after(() => peer.close());
  await peer.store.put('Extra', { label: 'unknown to the server' });
  await peer.store.put('Project', { name: 'known' });
  peer.client.start();
  await peer.client.waitFor(() => peer.events.some((e) => e.type === 'txAcked' && e.txId === 2), 10_000, 'the ack of tx 2');
  const rejected = peer.events.find((e) => e.type === 'txRejected');
  assert.equal(rejected.code, 2);
  assert.equal(rejected.codeName, 'UNKNOWN_ENTITY');
  assert.match(rejected.message, /entity/i, rejected.message);
  assert.equal(peer.store.count('Extra'), 1);
  assert.equal(peer.store.queueLength(), 0);
});

test('reconnect after a server restart; offline edits go out afterwards', async (t) => {
  let server = await startServer();
  const { port, dbDir } = server;
  t.after(() => server.stop());
  const a = await openPeer({ url: server.url });
  const b = await openPeer({ url: server.url });
  t.after(() => Promise.all([a.close(), b.close()]));
  a.client.start();
  b.client.start();
  await a.store.put('Task', { text: 'before' });
  await a.client.whenSynced(10_000);
  await server.stop();
  await a.client.waitFor(() => a.events.some((e) => e.type === 'connectFailed'), 10_000, 'a failed reconnect');
  await a.store.put('Task', { text: 'while the server was down' });
  assert.equal(a.store.queueLength(), 1);
  server = await startServer({ port, dbDir });
  await a.client.whenSynced(15_000);
  await b.client.waitFor(() => b.store.count('Task') === 2, 15_000, 'both tasks on b');
  assert.ok(a.events.filter((e) => e.type === 'loggedIn').length >= 2, 'a logged in again');
});

test('offline writes survive a restart of the client (SQLite) and sync afterwards', async (t) => {
  const server = await startServer();
  t.after(() => server.stop());
  const path = join(tempDir(), 'offline.sqlite');
  let a = await openPeer({ path });
  const peerId = a.store.peerId;
  await a.store.put('Project', { name: 'P' });
  await a.store.put('Task', { text: 'offline 1', projectId: 1 });
  await a.store.remove('Project', 1);
  await a.close();
  a = await openPeer({ path, url: server.url });
  t.after(() => a.close());
  assert.equal(a.store.peerId, peerId, 'the peer id is kept');
  assert.equal(a.store.queueLength(), 3, 'the queue survived');
  assert.deepEqual(a.store.queuedOps().map(([txId]) => txId), [1, 2, 3]);
  const b = await openPeer({ url: server.url });
  t.after(() => b.close());
  a.client.start();
  b.client.start();
  await a.client.whenSynced(10_000);
  await b.client.waitFor(() => b.store.syncState().lastSeq === 3, 10_000, 'b at seq 3');
  assert.equal(b.store.count('Task'), 1);
  assert.equal(b.store.count('Project'), 0, 'the removed project is gone on b too');
  assert.equal(a.store.syncState().lastAckedTxId, 3);
});

test('modes: Manual waits for requestUpdates, AutoNoPushes catches up once', async (t) => {
  const server = await startServer();
  t.after(() => server.stop());
  const a = await openPeer({ url: server.url });
  const manual = await openPeer({ url: server.url, mode: 'Manual' });
  const once = await openPeer({ url: server.url, mode: 'AutoNoPushes' });
  t.after(() => Promise.all([a.close(), manual.close(), once.close()]));
  await a.store.put('Task', { text: 'first' });
  a.client.start();
  await a.client.whenSynced(10_000);
  manual.client.start();
  once.client.start();
  await once.client.whenSynced(10_000);
  assert.equal(once.store.count('Task'), 1);
  await manual.client.waitFor(() => manual.client.state === 'loggedIn', 10_000, 'manual login');
  assert.equal(manual.client.isSynced(), false, 'manual has not caught up');
  assert.equal(manual.store.count('Task'), 0);
  assert.equal(manual.client.requestUpdates(false), true);
  await manual.client.whenSynced(10_000);
  assert.equal(manual.store.count('Task'), 1);
  await a.store.put('Task', { text: 'second' });
  await a.client.whenSynced(10_000);
  once.client.requestUpdates(true);
  await once.client.waitFor(() => once.store.count('Task') === 2, 10_000, 'the second task after requestUpdates');
});

test('several server URLs: the client finds the live one', async (t) => {
  const server = await startServer();
  t.after(() => server.stop());
  const dead = await startServer();
  const deadUrl = dead.url;
  await dead.stop();
  const a = await openPeer({ url: [deadUrl, server.url, deadUrl] });
  t.after(() => a.close());
  a.client.start();
  await a.client.whenSynced(20_000);
});

test('malformed frames and text messages from a server give clear errors and a reconnect, never a crash', async (t) => {
  const frames = [
    Uint8Array.of(0xc1),
    Uint8Array.of(0x81, 0xa5, 0x48, 0x65, 0x6c, 0x6c, 0x6f, 0x80),
    'text message',
    new Uint8Array(50000).fill(0x91),
  ];
  let connections = 0;
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await new Promise((r) => wss.once('listening', r));
  t.after(() => new Promise((r) => wss.close(r)));
  wss.on('connection', (ws) => {
    const frame = frames[connections++ % frames.length];
    ws.send(frame, { binary: typeof frame !== 'string' });
  });
  const peer = await openPeer({ url: `ws://127.0.0.1:${wss.address().port}` });
  t.after(() => peer.close());
  peer.client.start();
  await peer.client.waitFor(() => peer.events.filter((e) => e.type === 'protocolError').length >= 4, 15_000, 'four protocol errors');
  const messages = peer.events.filter((e) => e.type === 'protocolError').map((e) => e.message);
  assert.match(messages[0], /0xc1/);
  assert.match(messages[1], /Hello: missing field min_version/);
  assert.match(messages[2], /text message/);
  assert.match(messages[3], /nesting deeper/);
  await peer.store.put('Task', { text: 'still works' });
  assert.equal(peer.store.count('Task'), 1);
});

test('the store refuses writes after close and names unknown entities and properties', async () => {
  const peer = await openPeer();
  await assert.rejects(peer.store.put('Nope', {}), /no entity "Nope"/);
  await assert.rejects(peer.store.put('Task', { colour: 1 }), /Task has no property "colour"/);
  await assert.rejects(peer.store.put('Project', { color: 2 ** 40 }), /Project.color \(Int\): value 1099511627776 is out of range/);
  await assert.rejects(peer.store.put('Task', { text: 5 }), /Task.text \(String\): expected a string, found number 5/);
  assert.equal(peer.store.queueLength(), 0, 'failed writes queue nothing');
  await peer.close();
  await assert.rejects(peer.store.put('Task', {}), /closed/);
});

test('a failed commit rolls the write back completely', async () => {
  const peer = await openPeer();
  await peer.store.put('Task', { text: 'kept' });
  peer.storage.failNextCommit = 'disk on fire';
  await assert.rejects(peer.store.put('Task', { text: 'lost' }), /could not commit a write: disk on fire/);
  assert.deepEqual(peer.store.all('Task').map((o) => o.text), ['kept']);
  assert.equal(peer.store.queueLength(), 1);
  assert.equal(peer.store.syncState().lastTxId, 1);
  const id = await peer.store.put('Task', { text: 'next' });
  assert.equal(id, 2, 'the id of the rolled-back write is handed out again');
  await peer.close();
});
