// Test helpers: paths, temp dirs, test models, and starting and stopping the real sync-server by PID.

import { fileURLToPath } from 'node:url';
import { dirname, resolve, join } from 'node:path';
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { Model, LocalStore, SyncClient, MemoryStorage } from '../dist/index.js';
import { SqliteStorage } from '../dist/storage/sqlite.js';

/** The repository root (clients/js/test → ../../..). */
export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const JS = resolve(ROOT, 'clients/js');
export const SERVER_BIN = resolve(JS, process.env.SYNC_SERVER_BIN ?? '../../target/debug/sync-server');
export const CLIENT_BIN = resolve(JS, process.env.SYNC_CLIENT_BIN ?? '../../target/debug/sync-client');
/** Debian's Chromium, driven by playwright-core (never a downloaded browser). */
export const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
export const CHROMIUM_ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];
export const EXAMPLE_MODEL = join(ROOT, 'examples/objectbox-model.json');
export const exampleModel = () => Model.fromJson(readFileSync(EXAMPLE_MODEL, 'utf8'));

const temps = [];
/** A fresh temp directory, removed at process exit. */
export function tempDir(prefix = 'sync-js-') {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  temps.push(dir);
  return dir;
}
process.on('exit', () => {
  for (const d of temps) rmSync(d, { recursive: true, force: true });
});

/**
 * Starts sync-server on 127.0.0.1 (port 0 unless `port` is given) and resolves once it listens.
 * `config` is written to a JSON file passed with --conf. Returns { url, port, dbDir, stop }.
 */
export async function startServer({ model = EXAMPLE_MODEL, config, port = 0, dbDir, unsecured = !config } = {}) {
  dbDir ??= join(tempDir('sync-js-server-'), 'db');
  const args = ['--model', model, '--db-directory', dbDir, '--bind', `ws://127.0.0.1:${port}`, '--admin-off', '--log-level', 'info'];
  if (unsecured) args.push('--unsecured-no-authentication');
  if (config) {
    const file = join(tempDir('sync-js-conf-'), 'config.json');
    writeFileSync(file, JSON.stringify(config));
    args.push('--conf', file);
  }
  const child = spawn(SERVER_BIN, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  const exited = new Promise((r) => child.once('exit', (code, signal) => r({ code, signal })));
  const actualPort = await new Promise((resolvePort, reject) => {
    const timer = setTimeout(() => reject(new Error(`sync-server did not start within 20 s:\n${log}`)), 20_000);
    const onData = (chunk) => {
      log += chunk;
      const m = /Started on port (\d+)/.exec(log);
      if (m) {
        clearTimeout(timer);
        resolvePort(Number(m[1]));
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.once('error', (e) => {
      clearTimeout(timer);
      reject(new Error(`cannot start ${SERVER_BIN}: ${e.message}`));
    });
    exited.then(({ code }) => {
      clearTimeout(timer);
      reject(new Error(`sync-server exited with ${code} before listening:\n${log}`));
    });
  });
  const server = {
    url: `ws://127.0.0.1:${actualPort}`,
    port: actualPort,
    dbDir,
    pid: child.pid,
    log: () => log,
    /** Stops the server by PID (SIGTERM, then SIGKILL after 5 s) and waits for it to exit. */
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      process.kill(child.pid, 'SIGTERM');
      const timer = setTimeout(() => child.exitCode === null && process.kill(child.pid, 'SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
    },
  };
  running.add(server);
  exited.then(() => running.delete(server));
  return server;
}
const running = new Set();
process.on('exit', () => {
  for (const s of running) {
    try {
      process.kill(s.pid, 'SIGKILL');
    } catch {
      // Already gone.
    }
  }
});

/** Opens a store (memory, or SQLite at `path`) and a client for `url`; `close()` stops both. */
export async function openPeer({ model = exampleModel(), url, path, storage, ...options } = {}) {
  storage ??= path ? await SqliteStorage.open(path) : new MemoryStorage();
  const store = await LocalStore.open(model, storage);
  const client = url ? new SyncClient(store, { url, initialBackoffMs: 50, maxBackoffMs: 500, ...options }) : undefined;
  const events = [];
  client?.on((e) => events.push(e));
  return {
    store,
    client,
    events,
    storage,
    async close() {
      await client?.stop();
      await store.close();
    },
  };
}

/** Waits until `predicate()` is true, polling every 20 ms, at most `timeoutMs`. */
export async function eventually(predicate, timeoutMs = 10_000, what = 'condition') {
  const deadline = Date.now() + timeoutMs;
  for (let i = 0; Date.now() < deadline; i++) {
    if (await predicate()) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

/** Writes a model file built from `entities` (see testModel) and returns its path and Model. */
export function writeModel(json) {
  const file = join(tempDir('sync-js-model-'), 'objectbox-model.json');
  writeFileSync(file, JSON.stringify(json, null, 2));
  return { file, model: Model.fromJson(readFileSync(file, 'utf8')) };
}
