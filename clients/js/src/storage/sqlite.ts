// A StorageAdapter on disk for Node: one SQLite file through better-sqlite3, one SQLite transaction per commit.

import type { StorageAdapter } from '../store.js';
import { StoreError } from '../store.js';

/** The subset of better-sqlite3's Database this adapter uses. */
interface Database {
  pragma(source: string): unknown;
  exec(source: string): unknown;
  prepare(source: string): { run(...args: unknown[]): unknown; all(...args: unknown[]): unknown[] };
  transaction<F extends (...args: never[]) => unknown>(fn: F): F;
  close(): unknown;
}

export interface SqliteOptions {
  /** SQLite's `synchronous` setting: FULL (the default) survives power loss, NORMAL only process crashes. */
  synchronous?: 'FULL' | 'NORMAL';
}

/** Stores the keys in table `kv` of the SQLite file at `path` (created if missing). */
export class SqliteStorage implements StorageAdapter {
  private constructor(private db: Database) {}

  /** Opens `path` with better-sqlite3 (a peer dependency, loaded only here). */
  static async open(path: string, options: SqliteOptions = {}): Promise<SqliteStorage> {
    let Driver: new (path: string) => Database;
    try {
      Driver = (await import('better-sqlite3')).default as unknown as new (path: string) => Database;
    } catch (e) {
      throw new StoreError(`SqliteStorage needs the package better-sqlite3 (npm install better-sqlite3@12): ${(e as Error).message}`);
    }
    let db: Database;
    try {
      db = new Driver(path);
      // WAL with synchronous=NORMAL survives process crashes; FULL also survives power loss.
      db.pragma('journal_mode = WAL');
      db.pragma(`synchronous = ${options.synchronous ?? 'FULL'}`);
      db.exec('CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY, value BLOB NOT NULL) WITHOUT ROWID');
    } catch (e) {
      throw new StoreError(`cannot open the SQLite store ${path}: ${(e as Error).message}`);
    }
    return new SqliteStorage(db);
  }

  async load(): Promise<Iterable<[string, Uint8Array]>> {
    const rows = this.db.prepare('SELECT key, value FROM kv ORDER BY key').all() as Array<{ key: string; value: Uint8Array }>;
    return rows.map((r) => [r.key, new Uint8Array(r.value.buffer, r.value.byteOffset, r.value.byteLength)]);
  }

  async commit(changes: Map<string, Uint8Array | null>): Promise<void> {
    const put = this.db.prepare('INSERT OR REPLACE INTO kv (key, value) VALUES (?, ?)');
    const del = this.db.prepare('DELETE FROM kv WHERE key = ?');
    const apply = this.db.transaction(() => {
      for (const [key, value] of changes) {
        if (value === null) del.run(key);
        else put.run(key, value);
      }
    });
    apply();
  }

  async close(): Promise<void> {
    this.db.close();
  }
}
