// Cross-SDK conformance: the same scenarios run with every pairing of the Rust sync-client CLI and the JS client, which must converge.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { LocalStore, Model, SyncClient, PropertyType } from '../dist/index.js';
import { parseJson } from '../dist/model.js';
import { SqliteStorage } from '../dist/storage/sqlite.js';
import { CLIENT_BIN, EXAMPLE_MODEL, startServer, tempDir } from './support.mjs';

const run = promisify(execFile);
const ALL_TYPES = new URL('./fixtures/all-types-model.json', import.meta.url).pathname;

/** An actor edits its own local store and syncs on demand; both kinds take and give objects in the Rust CLI's JSON forms. */
class RustActor {
  kind = 'rust';
  constructor(server, modelFile, secret) {
    this.args = ['--server', server.url, '--model', modelFile, '--dir', tempDir('sync-js-rust-'), '--timeout', '20'];
    if (secret) this.args.push('--shared-secret', secret);
  }
  async cli(...args) {
    try {
      return (await run(CLIENT_BIN, [...this.args, ...args], { timeout: 30_000 })).stdout;
    } catch (e) {
      throw new Error(`sync-client ${args.join(' ')} failed (${e.code}): ${e.stderr}`);
    }
  }
  async put(entity, json) {
    return Number((await this.cli('put', entity, json)).trim());
  }
  async remove(entity, id) {
    await this.cli('remove', entity, String(id));
  }
  async list(entity) {
    return (await this.cli('list', entity)).split('\n').filter(Boolean).map((line) => normalize(parseJson(line)));
  }
  async sync() {
    await this.cli('sync');
  }
}

class JsActor {
  kind = 'js';
  constructor(server, modelFile, secret) {
    this.server = server;
    this.model = Model.fromJson(readFileSync(modelFile, 'utf8'));
    this.path = join(tempDir('sync-js-actor-'), 'store.sqlite');
    this.credentials = secret ? { type: 'sharedSecret', secret } : { type: 'none' };
  }
  async store() {
    this.opened ??= LocalStore.open(this.model, await SqliteStorage.open(this.path));
    return this.opened;
  }
  async put(entity, json) {
    const store = await this.store();
    return store.put(entity, fromJsonForms(store.entity(entity), parseJson(json)));
  }
  async remove(entity, id) {
    assert.equal(await (await this.store()).remove(entity, id), true, `${entity} ${id} existed`);
  }
  async list(entity) {
    return (await this.store()).all(entity).map(normalize);
  }
  /** Like `sync-client sync`: connect, send the queue, catch up, wait for every ack, disconnect. */
  async sync() {
    const client = new SyncClient(await this.store(), { url: this.server.url, credentials: this.credentials, initialBackoffMs: 50 });
    client.start();
    try {
      await client.whenSynced(20_000);
    } finally {
      await client.stop();
    }
  }
  async close() {
    if (this.opened) await (await this.opened).close();
  }
}

/** The Rust CLI's JSON forms to SDK values: ByteVector from base64, integers stay exact. */
function fromJsonForms(entity, json) {
  const out = {};
  for (const [key, value] of Object.entries(json)) {
    const p = entity.properties.find((x) => x.name === key);
    out[key] = p?.type === PropertyType.ByteVector && typeof value === 'string' ? Uint8Array.from(Buffer.from(value, 'base64')) : value;
  }
  return out;
}

/** One comparable form for both SDKs: numbers as their shortest decimal text, bytes as base64. */
function normalize(v) {
  if (v === null || v === undefined) return null;
  if (typeof v === 'bigint' || typeof v === 'number') return String(v);
  if (v instanceof Uint8Array) return Buffer.from(v).toString('base64');
  if (Array.isArray(v)) return v.map(normalize);
  if (typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, normalize(x)]));
  return v;
}

/** Tasks without local ids, the project given by name, sorted by text. */
async function taskView(actor) {
  const projects = new Map((await actor.list('Project')).map((p) => [p.id, p.name]));
  return (await actor.list('Task'))
    .map(({ id, projectId, syncClock, ...rest }) => ({ ...rest, project: projectId === null ? null : projects.get(projectId) ?? `missing ${projectId}` }))
    .sort((a, b) => String(a.text).localeCompare(String(b.text)));
}

const KINDS = { rust: RustActor, js: JsActor };
const PAIRS = [['rust', 'js'], ['js', 'rust'], ['js', 'js'], ['rust', 'rust']];

/** Runs `scenario(x, y, server)` once per pairing, each with a fresh server. */
function conformance(name, { model = EXAMPLE_MODEL, config } = {}, scenario) {
  for (const [a, b] of PAIRS) {
    test(`${name} [${a} → ${b}]`, async (t) => {
      const server = await startServer({ model, config });
      t.after(() => server.stop());
      const secret = config?.auth?.sharedSecret;
      const x = new KINDS[a](server, model, secret);
      const y = new KINDS[b](server, model, secret);
      t.after(() => Promise.all([x.close?.(), y.close?.()]));
      await scenario(x, y, server);
    });
  }
}

conformance('create on one, finish and add on the other', {}, async (x, y) => {
  const home = await x.put('Project', '{"name":"Home","color":3}');
  await x.put('Task', `{"text":"dishes","dateCreated":1735689600000,"projectId":${home}}`);
  await x.sync();
  await y.sync();
  const [dishes] = await y.list('Task');
  assert.equal(dishes.text, 'dishes');
  await y.put('Task', JSON.stringify({ id: Number(dishes.id), text: 'dishes', dateCreated: 1735689600000, dateFinished: 1735689700000, projectId: Number(dishes.projectId) }));
  await y.put('Task', '{"text":"laundry"}');
  await y.sync();
  await x.sync();
  const expected = [
    { text: 'dishes', dateCreated: '1735689600000', dateFinished: '1735689700000', project: 'Home' },
    { text: 'laundry', dateCreated: null, dateFinished: null, project: null },
  ];
  assert.deepEqual(await taskView(x), expected);
  assert.deepEqual(await taskView(y), expected);
});

conformance('concurrent offline edits converge, also for a newcomer', {}, async (x, y, server) => {
  const id = await x.put('Task', '{"text":"original"}');
  await x.sync();
  await y.sync();
  const [copy] = await y.list('Task');
  await x.put('Task', JSON.stringify({ id, text: 'edited by x' }));
  await y.put('Task', JSON.stringify({ id: Number(copy.id), text: 'edited by y' }));
  await x.sync();
  await y.sync();
  await x.sync();
  const viewX = await taskView(x);
  assert.deepEqual(await taskView(y), viewX);
  assert.equal(viewX.length, 1);
  assert.ok(['edited by x', 'edited by y'].includes(viewX[0].text), viewX[0].text);
  const newcomer = new JsActor(server, EXAMPLE_MODEL);
  await newcomer.sync();
  assert.deepEqual(await taskView(newcomer), viewX, 'the server holds the same state');
  await newcomer.close();
});

conformance('a remove reaches the other SDK', {}, async (x, y) => {
  await y.put('Task', '{"text":"keep"}');
  await y.put('Task', '{"text":"drop"}');
  await y.sync();
  await x.sync();
  const drop = (await x.list('Task')).find((t) => t.text === 'drop');
  await x.remove('Task', Number(drop.id));
  await x.sync();
  await y.sync();
  assert.deepEqual((await y.list('Task')).map((t) => t.text), ['keep']);
});

conformance('every value type in the Rust CLI\'s JSON forms', { model: ALL_TYPES }, async (x, y) => {
  const item = {
    flag: true, byteVal: -128, shortVal: 65535, charVal: 65, intVal: -2147483648, longVal: '-9223372036854775808',
    floatVal: 1.5, doubleVal: 3.141592653589793, text: 'héllo ✓', date: 1735689600000, dateNano: '1735689600000000001',
    flex: { a: 1, b: [true, 'x', null], c: { d: 2.5 } }, boolVec: [true, false], byteVec: 'AAH+/w==', shortVec: [1, -2],
    charVec: [65, 66], intVec: [2147483647, -5], longVec: [1, '-9223372036854775808'], floatVec: [1.5, 2], doubleVec: [0.1, -1e300],
    stringVec: ['a', '', 'ü'], dateVec: [0, 1735689600000], dateNanoVec: [3], unsignedLong: '18446744073709551615',
  };
  // Big integers go into the JSON text as bare digits.
  const json = JSON.stringify(item).replace(/"(-?\d{16,})"/g, '$1');
  await x.put('Item', json);
  await x.sync();
  await y.sync();
  const strip = ({ id, parentId, ...rest }) => rest;
  const [fromX] = (await x.list('Item')).map(strip);
  const [fromY] = (await y.list('Item')).map(strip);
  assert.deepEqual(fromY, fromX);
  assert.equal(fromY.unsignedLong, '18446744073709551615');
  assert.equal(fromY.longVal, '-9223372036854775808');
  assert.equal(fromY.byteVec, 'AAH+/w==');
  assert.equal(fromY.floatVec[1], '2');
});

conformance('shared-secret login', { config: { auth: { sharedSecret: 'conformance' } } }, async (x, y) => {
  await x.put('Project', '{"name":"secret"}');
  await x.sync();
  await y.sync();
  assert.deepEqual((await y.list('Project')).map((p) => p.name), ['secret']);
});

test('live: a running JS client sees the Rust CLI\'s sync at once, and `sync-client watch` sees the JS client\'s writes', async (t) => {
  const server = await startServer();
  t.after(() => server.stop());
  const js = new JsActor(server, EXAMPLE_MODEL);
  t.after(() => js.close());
  const store = await js.store();
  const client = new SyncClient(store, { url: server.url });
  client.start();
  t.after(() => client.stop());
  await client.whenSynced(10_000);
  const seen = [];
  const off = store.query('Task').orderBy('text').subscribe((rows) => seen.push(rows.map((r) => r.text)));
  t.after(off);

  const rust = new RustActor(server, EXAMPLE_MODEL);
  await rust.put('Task', '{"text":"from rust"}');
  await rust.sync();
  await client.waitFor(() => store.count('Task') === 1, 10_000, 'the live push from the Rust client');
  assert.deepEqual(seen.at(-1), ['from rust']);

  const watch = spawn(CLIENT_BIN, [...rust.args, 'watch'], { stdio: ['ignore', 'pipe', 'pipe'] });
  const watchExited = new Promise((r) => watch.once('exit', r));
  t.after(async () => {
    if (watch.exitCode === null) process.kill(watch.pid, 'SIGTERM');
    await watchExited;
  });
  let stderr = '';
  watch.stderr.on('data', (c) => (stderr += c));
  let lines = '';
  watch.stdout.on('data', (c) => (lines += c));
  const until = async (pred, what) => {
    const deadline = Date.now() + 15_000;
    while (!pred() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    assert.ok(pred(), `${what}; watch stderr: ${stderr}`);
  };
  await until(() => /up to date/.test(stderr), 'watch caught up');
  await store.put('Task', { text: 'from js, live' });
  await until(() => lines.includes('from js, live'), 'watch printed the JS write');
  const change = JSON.parse(lines.trim().split('\n').find((l) => l.includes('from js, live')));
  assert.equal(change.entity, 'Task');
  assert.equal(change.op, 'put');
  assert.equal(change.object.text, 'from js, live');
});
