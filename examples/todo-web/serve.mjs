// One command to try the example: builds the app, starts sync-server on the example model and serves the app.
//
//   node examples/todo-web/serve.mjs [--port 8080] [--sync-port 9999] [--no-server]
//
// The server binary comes from SYNC_SERVER_BIN (default target/debug/sync-server); its database
// lives in examples/todo-web/objectbox-data. Open http://127.0.0.1:8080/ in two browsers.

import { createServer } from 'node:http';
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { dirname, extname, join, resolve, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildApp, MODEL } from './build.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const TYPES = { '.html': 'text/html', '.js': 'text/javascript', '.css': 'text/css', '.json': 'application/json' };

/** Serves the app's files on 127.0.0.1:`port` (0 picks one); resolves with { url, close }. */
export async function serveApp(port = 0) {
  const server = createServer(async (req, res) => {
    const path = normalize(decodeURIComponent(new URL(req.url, 'http://x').pathname)).replace(/^(\.\.[/\\])+/, '');
    const file = join(here, path === '/' ? 'index.html' : path);
    if (!file.startsWith(here) || /node_modules|objectbox-data/.test(file)) {
      res.writeHead(403).end('forbidden');
      return;
    }
    try {
      const body = await readFile(file);
      res.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream', 'cache-control': 'no-store' });
      res.end(body);
    } catch {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
    }
  });
  await new Promise((r) => server.listen(port, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${server.address().port}/`, close: () => new Promise((r) => server.close(r)) };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const arg = (name, fallback) => {
    const i = process.argv.indexOf(name);
    return i > 0 ? process.argv[i + 1] : fallback;
  };
  const port = Number(arg('--port', 8080));
  const syncPort = Number(arg('--sync-port', 9999));
  console.log(`built dist/app.js (${await buildApp()} bytes)`);
  if (!process.argv.includes('--no-server')) {
    const bin = resolve(process.env.SYNC_SERVER_BIN ?? join(here, '../../target/debug/sync-server'));
    const child = spawn(bin, ['--model', MODEL, '--db-directory', join(here, 'objectbox-data'), '--bind', `ws://127.0.0.1:${syncPort}`,
      '--admin-off', '--unsecured-no-authentication'], { stdio: 'inherit' });
    child.on('error', (e) => {
      console.error(`cannot start ${bin}: ${e.message} (build it with cargo build -p server, or set SYNC_SERVER_BIN)`);
      process.exit(1);
    });
    process.on('SIGINT', () => {
      child.kill('SIGTERM');
      process.exit(0);
    });
  }
  const app = await serveApp(port);
  const query = syncPort === 9999 ? '' : `?server=ws://127.0.0.1:${syncPort}`;
  console.log(`open ${app.url}${query} (sync server ws://127.0.0.1:${syncPort})`);
}
