// Builds the example app: generates src/model.ts from the example model and bundles src/app.ts into dist/app.js.

import { createRequire } from 'node:module';
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const sdk = resolve(here, '../../clients/js');
export const MODEL = resolve(here, '../objectbox-model.json');
// The SDK's dev dependencies (esbuild) serve the example too: run `npm ci` in clients/js first.
const { build } = createRequire(join(sdk, 'package.json'))('esbuild');

/** Regenerates the types, then bundles; resolves with the bundle's size in bytes. */
export async function buildApp() {
  const { Model } = await import(join(sdk, 'dist/model.js'));
  const { generateTypes } = await import(join(sdk, 'dist/codegen.js'));
  const text = readFileSync(MODEL, 'utf8');
  writeFileSync(join(here, 'src/model.ts'), generateTypes(Model.fromJson(text), text, 'examples/objectbox-model.json'));
  // The app imports the SDK by its package name; map it to this checkout's build.
  const sdkAlias = {
    name: 'sdk-alias',
    setup(b) {
      b.onResolve({ filter: /^sync-server-client(\/browser)?$/ }, () => ({ path: join(sdk, 'dist/browser.js') }));
    },
  };
  const result = await build({
    entryPoints: [join(here, 'src/app.ts')],
    bundle: true,
    minify: true,
    format: 'esm',
    target: 'es2022',
    platform: 'browser',
    external: ['ws', 'better-sqlite3'],
    outfile: join(here, 'dist/app.js'),
    plugins: [sdkAlias],
    metafile: true,
    logLevel: 'warning',
  });
  return Object.values(result.metafile.outputs).reduce((n, o) => n + o.bytes, 0);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  console.log(`dist/app.js: ${await buildApp()} bytes`);
}
