// A StorageAdapter for browsers: one IndexedDB object store, one IndexedDB transaction per commit.

import type { StorageAdapter } from '../store.js';
import { StoreError } from '../store.js';

/** The object store holding every key of the local store. */
const OBJECT_STORE = 'kv';

export interface IndexedDbOptions {
  /** IndexedDB's durability hint for commits: 'strict' flushes to disk before completing (slower). */
  durability?: 'default' | 'strict' | 'relaxed';
  /** The IDBFactory to use; defaults to `globalThis.indexedDB`. */
  factory?: IDBFactory;
}

/** Stores the keys in IndexedDB database `name` (created if missing). */
export class IndexedDbStorage implements StorageAdapter {
  private constructor(
    private db: IDBDatabase,
    private durability: 'default' | 'strict' | 'relaxed',
  ) {}

  static async open(name: string, options: IndexedDbOptions = {}): Promise<IndexedDbStorage> {
    const factory = options.factory ?? globalThis.indexedDB;
    if (!factory) throw new StoreError('IndexedDB is not available in this environment');
    const request = factory.open(name, 1);
    request.onupgradeneeded = () => {
      if (!request.result.objectStoreNames.contains(OBJECT_STORE)) request.result.createObjectStore(OBJECT_STORE);
    };
    const db = await promised(request, `cannot open IndexedDB database "${name}"`);
    // Another tab upgrading the database (a newer app version) needs this one closed.
    db.onversionchange = () => db.close();
    return new IndexedDbStorage(db, options.durability ?? 'default');
  }

  async load(): Promise<Iterable<[string, Uint8Array]>> {
    const tx = this.db.transaction(OBJECT_STORE, 'readonly');
    const store = tx.objectStore(OBJECT_STORE);
    const [keys, values] = await Promise.all([
      promised(store.getAllKeys(), 'cannot read the local store'),
      promised(store.getAll(), 'cannot read the local store'),
    ]);
    return keys.map((k, i) => [String(k), toBytes(values[i])] as [string, Uint8Array]);
  }

  commit(changes: Map<string, Uint8Array | null>): Promise<void> {
    return new Promise((resolve, reject) => {
      let tx: IDBTransaction;
      try {
        tx = this.db.transaction(OBJECT_STORE, 'readwrite', { durability: this.durability });
      } catch (e) {
        reject(new StoreError(`cannot start an IndexedDB transaction: ${(e as Error).message}`));
        return;
      }
      const store = tx.objectStore(OBJECT_STORE);
      for (const [key, value] of changes) {
        if (value === null) store.delete(key);
        else store.put(value, key);
      }
      tx.oncomplete = () => resolve();
      tx.onerror = () => reject(new StoreError(`IndexedDB commit failed: ${tx.error?.message ?? 'unknown error'}`));
      tx.onabort = () => reject(new StoreError(`IndexedDB commit aborted: ${tx.error?.message ?? 'unknown reason'}`));
    });
  }

  async close(): Promise<void> {
    this.db.close();
  }

  /** Deletes database `name` (for tests and "sign out" flows); close every store on it first. */
  static async destroy(name: string, factory: IDBFactory = globalThis.indexedDB): Promise<void> {
    await promised(factory.deleteDatabase(name), `cannot delete IndexedDB database "${name}"`);
  }
}

function promised<T>(request: IDBRequest<T>, what: string): Promise<T> {
  return new Promise((resolve, reject) => {
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(new StoreError(`${what}: ${request.error?.message ?? 'unknown error'}`));
  });
}

function toBytes(v: unknown): Uint8Array {
  if (v instanceof Uint8Array) return v;
  if (v instanceof ArrayBuffer) return new Uint8Array(v);
  throw new StoreError(`the local store holds a value of type ${typeof v}, expected bytes`);
}
