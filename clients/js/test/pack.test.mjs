// Checks that `npm pack` produces an installable package: its exports, type declarations and the codegen bin work from the tarball.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, symlinkSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, EXAMPLE_MODEL, tempDir } from './support.mjs';

const JS = join(ROOT, 'clients/js');

test('npm pack: the tarball installs and its entry points load', () => {
  const dir = tempDir('sync-js-pack-');
  const out = execFileSync('npm', ['pack', '--pack-destination', dir, '--json'], { cwd: JS, encoding: 'utf8' });
  const [{ filename, files }] = JSON.parse(out);
  const paths = files.map((f) => f.path);
  for (const p of ['dist/index.js', 'dist/index.d.ts', 'dist/storage/sqlite.js', 'dist/storage/indexeddb.js', 'dist/browser/sync-server-client.js', 'bin/sync-server-client.js', 'README.md']) {
    assert.ok(paths.includes(p), `the package contains ${p}`);
  }
  assert.ok(!paths.some((p) => p.startsWith('test/') || p.startsWith('src/')), 'no tests or sources in the package');
  // Install by hand: unpack into node_modules and link the one runtime dependency from here.
  const app = join(dir, 'app');
  const pkg = join(app, 'node_modules/sync-server-client');
  mkdirSync(pkg, { recursive: true });
  execFileSync('tar', ['-xzf', join(dir, filename), '-C', pkg, '--strip-components=1']);
  symlinkSync(join(JS, 'node_modules/ws'), join(app, 'node_modules/ws'));
  symlinkSync(join(JS, 'node_modules/better-sqlite3'), join(app, 'node_modules/better-sqlite3'));
  writeFileSync(join(app, 'package.json'), '{"type":"module","private":true}');
  writeFileSync(join(app, 'main.js'), `
import { LocalStore, MemoryStorage, Model, SyncClient } from 'sync-server-client';
import { SqliteStorage } from 'sync-server-client/sqlite';
import { IndexedDbStorage } from 'sync-server-client/indexeddb';
import { readFileSync } from 'node:fs';
const model = Model.fromJson(readFileSync(${JSON.stringify(EXAMPLE_MODEL)}, 'utf8'));
const store = await LocalStore.open(model, await SqliteStorage.open(':memory:'));
await store.put('Task', { text: 'packed' });
new SyncClient(store, { url: 'ws://127.0.0.1:1' });
console.log(store.all('Task')[0].text, model.fullHash, typeof IndexedDbStorage, typeof MemoryStorage);
`);
  assert.equal(execFileSync(process.execPath, ['main.js'], { cwd: app, encoding: 'utf8' }).trim(), 'packed b09c7ccd1ea9804339218cb39a247bcc function function');
  execFileSync(process.execPath, [join(pkg, 'bin/sync-server-client.js'), 'codegen', EXAMPLE_MODEL, '--out', join(app, 'model.ts')]);
  assert.ok(existsSync(join(app, 'model.ts')));
});
