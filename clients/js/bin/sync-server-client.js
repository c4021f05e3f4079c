#!/usr/bin/env node
// The package's command line: `sync-server-client codegen objectbox-model.json [--out types.ts]`.

import { readFileSync, writeFileSync } from 'node:fs';
import { basename } from 'node:path';
import { Model } from '../dist/model.js';
import { generateTypes } from '../dist/codegen.js';

const USAGE = 'usage: sync-server-client codegen <objectbox-model.json> [--out <file.ts>]';
const [command, ...rest] = process.argv.slice(2);
if (command !== 'codegen') {
  console.error(command === undefined || command === '--help' ? USAGE : `unknown command "${command}"\n${USAGE}`);
  process.exit(command === '--help' ? 0 : 2);
}
let input;
let out;
for (let i = 0; i < rest.length; i++) {
  if (rest[i] === '--out' || rest[i] === '-o') out = rest[++i];
  else if (input === undefined) input = rest[i];
  else {
    console.error(`unexpected argument "${rest[i]}"\n${USAGE}`);
    process.exit(2);
  }
}
if (input === undefined || (out === undefined && rest.includes('--out'))) {
  console.error(USAGE);
  process.exit(2);
}
try {
  const text = readFileSync(input, 'utf8');
  const source = generateTypes(Model.fromJson(text), text, basename(input));
  if (out) writeFileSync(out, source);
  else process.stdout.write(source);
} catch (e) {
  console.error(`sync-server-client codegen: ${input}: ${e.message}`);
  process.exit(1);
}
