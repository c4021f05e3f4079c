// Unit tests of queries, live queries, change listeners and the codegen (its output checked with tsc --noEmit).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { LocalStore, MemoryStorage, Model } from '../dist/index.js';
import { generateTypes } from '../dist/codegen.js';
import { exampleModel, EXAMPLE_MODEL, ROOT } from './support.mjs';

async function tasks() {
  const store = await LocalStore.open(exampleModel(), new MemoryStorage());
  const home = await store.put('Project', { name: 'Home', color: 1 });
  const work = await store.put('Project', { name: 'Work', color: 2 });
  const rows = [
    ['dishes', 30, home], ['laundry', 10, home], ['report', 20, work], ['mail', 40, work], ['plants', null, home],
  ];
  for (const [text, date, projectId] of rows) await store.put('Task', { text, dateCreated: date, projectId });
  return { store, home, work };
}

test('equality, ranges, null checks and string operators', async () => {
  const { store, home } = await tasks();
  const texts = (q) => q.find().map((t) => t.text);
  assert.deepEqual(texts(store.query('Task').where('projectId', 'eq', home)), ['dishes', 'laundry', 'plants']);
  assert.deepEqual(texts(store.query('Task').where('dateCreated', 'gt', 15).where('dateCreated', 'le', 30)), ['dishes', 'report']);
  assert.deepEqual(texts(store.query('Task').where('dateCreated', 'between', 10, 20)), ['laundry', 'report']);
  assert.deepEqual(texts(store.query('Task').where('dateCreated', 'isNull')), ['plants']);
  assert.deepEqual(texts(store.query('Task').where('text', 'in', ['mail', 'nope', 'report'])), ['report', 'mail']);
  assert.deepEqual(texts(store.query('Task').where('text', 'startsWith', 'p')), ['plants']);
  assert.deepEqual(texts(store.query('Task').where('text', 'contains', 'a')), ['laundry', 'mail', 'plants']);
  assert.deepEqual(texts(store.query('Task').where('text', 'ne', 'mail').where('dateCreated', 'lt', 25)), ['laundry', 'report']);
  assert.deepEqual(texts(store.query('Task').where('id', 'ge', 4)), ['mail', 'plants']);
  assert.equal(store.query('Task').where('dateCreated', 'notNull').count(), 4);
  assert.throws(() => store.query('Task').where('colour', 'eq', 1), /Task has no property "colour"/);
  assert.throws(() => store.query('Task').where('text', 'in', 'x'), /"in" needs an array/);
});

test('ordering (with nulls first) and paging', async () => {
  const { store } = await tasks();
  const q = () => store.query('Task').orderBy('dateCreated');
  assert.deepEqual(q().find().map((t) => t.text), ['plants', 'laundry', 'report', 'dishes', 'mail']);
  assert.deepEqual(store.query('Task').orderBy('dateCreated', 'desc').find().map((t) => t.text), ['mail', 'dishes', 'report', 'laundry', 'plants']);
  assert.deepEqual(q().offset(1).limit(2).find().map((t) => t.text), ['laundry', 'report']);
  assert.deepEqual(q().offset(4).limit(10).find().map((t) => t.text), ['mail']);
  assert.deepEqual(q().offset(9).find(), []);
  assert.equal(q().first().text, 'plants');
  assert.deepEqual(store.query('Task').orderBy('projectId').orderBy('text', 'desc').findIds(), [5, 2, 1, 3, 4]);
});

test('live queries re-run on changes that alter the results, and only then', async () => {
  const { store, work } = await tasks();
  const seen = [];
  const off = store.query('Task').where('projectId', 'eq', work).orderBy('text').subscribe((rows) => seen.push(rows.map((r) => r.text)));
  assert.deepEqual(seen, [['mail', 'report']], 'called at once with the current results');
  await store.put('Task', { text: 'budget', projectId: work });
  await store.put('Project', { name: 'unrelated' });
  await store.put('Task', { text: 'elsewhere' });
  await store.remove('Task', 4);
  assert.deepEqual(seen, [['mail', 'report'], ['budget', 'mail', 'report'], ['budget', 'report']]);
  off();
  await store.put('Task', { text: 'after unsubscribe', projectId: work });
  assert.equal(seen.length, 3);
});

test('change listeners per entity hear local writes after they commit', async () => {
  const { store } = await tasks();
  const changes = [];
  const off = store.subscribe('Project', (c) => changes.push({ ...c, count: store.count('Project') }));
  const id = await store.put('Project', { name: 'New' });
  await store.put('Task', { text: 'not a project' });
  await store.remove('Project', id);
  off();
  assert.deepEqual(changes, [
    { entity: 'Project', puts: [id], removes: [], count: 3 },
    { entity: 'Project', puts: [], removes: [id], count: 2 },
  ]);
});

test('codegen writes types that tsc accepts for correct use and rejects for wrong use', () => {
  const dir = join(ROOT, 'clients/js/test/generated');
  mkdirSync(dir, { recursive: true });
  const models = { example: EXAMPLE_MODEL, allTypes: new URL('./fixtures/all-types-model.json', import.meta.url).pathname };
  for (const [name, file] of Object.entries(models)) {
    const text = readFileSync(file, 'utf8');
    writeFileSync(join(dir, `${name}.ts`), generateTypes(Model.fromJson(text), text, `${name}.json`));
  }
  writeFileSync(join(dir, 'use.ts'), `
import { MemoryStorage } from 'sync-server-client';
import { openStore, type Task } from './example.js';
import { openStore as openAll, type Item } from './allTypes.js';

export async function use(): Promise<string> {
  const store = await openStore(new MemoryStorage());
  const project = await store.put('Project', { name: 'Home', color: 3 });
  await store.put('Task', { text: 'dishes', projectId: project, dateCreated: Date.now() });
  const open: Task[] = store.query('Task').where('dateFinished', 'isNull').orderBy('dateCreated', 'desc').limit(10).find();
  const clock: bigint | null | undefined = store.get('Task', 1)?.syncClock;
  // @ts-expect-error text is a string
  await store.put('Task', { text: 5 });
  // @ts-expect-error no such entity
  store.all('Folder');
  // @ts-expect-error no such property
  store.query('Task').where('colour', 'eq', 1);
  const all = await openAll(new MemoryStorage());
  const item: Item | undefined = all.get('Item', 1);
  const bytes: Uint8Array | null | undefined = item?.byteVec;
  const longs: bigint[] | null | undefined = item?.longVec;
  return String(open.length) + String(clock) + String(bytes) + String(longs);
}
`);
  writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify({
    compilerOptions: {
      target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, noEmit: true, skipLibCheck: true,
      lib: ['ES2022', 'DOM'], paths: { 'sync-server-client': ['../../dist/index.d.ts'] },
    },
    include: ['*.ts'],
  }));
  const tsc = join(ROOT, 'clients/js/node_modules/typescript/bin/tsc');
  try {
    execFileSync(process.execPath, [tsc, '--noEmit', '-p', join(dir, 'tsconfig.json')], { encoding: 'utf8' });
  } catch (e) {
    assert.fail(`tsc --noEmit failed on the generated types:\n${e.stdout}${e.stderr}`);
  }
  const generated = readFileSync(join(dir, 'example.ts'), 'utf8');
  assert.match(generated, /export interface Task \{/);
  assert.match(generated, /syncClock: bigint \| null;/);
  assert.match(generated, /b09c7ccd1ea9804339218cb39a247bcc/);
});

test('the codegen CLI writes a file and fails clearly on a bad model', () => {
  const dir = join(ROOT, 'clients/js/test/generated');
  mkdirSync(dir, { recursive: true });
  const bin = join(ROOT, 'clients/js/bin/sync-server-client.js');
  execFileSync(process.execPath, [bin, 'codegen', EXAMPLE_MODEL, '--out', join(dir, 'cli.ts')]);
  assert.match(readFileSync(join(dir, 'cli.ts'), 'utf8'), /export interface Project/);
  writeFileSync(join(dir, 'bad.json'), '{"entities": [{"id": "1:x"}]}');
  let stderr = '';
  try {
    execFileSync(process.execPath, [bin, 'codegen', join(dir, 'bad.json')], { encoding: 'utf8', stdio: 'pipe' });
  } catch (e) {
    stderr = e.stderr;
    assert.equal(e.status, 1);
  }
  assert.match(stderr, /entities\[0\]/);
});
