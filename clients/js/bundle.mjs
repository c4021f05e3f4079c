// Builds the browser bundle (dist/browser/sync-server-client.js, minified ESM) and prints its size raw and gzipped.

import { build } from 'esbuild';
import { gzipSync } from 'node:zlib';
import { readFileSync } from 'node:fs';

const outfile = 'dist/browser/sync-server-client.js';
await build({
  entryPoints: ['dist/browser.js'],
  bundle: true,
  minify: true,
  format: 'esm',
  platform: 'browser',
  target: 'es2022',
  // Node-only modules, reached only where there is no global WebSocket or with SqliteStorage.
  external: ['ws', 'better-sqlite3'],
  outfile,
  logLevel: 'warning',
});
const bytes = readFileSync(outfile);
console.log(`${outfile}: ${bytes.length} bytes minified, ${gzipSync(bytes, { level: 9 }).length} bytes gzipped`);
