// A StorageAdapter that keeps everything in memory: for tests and for apps that need no persistence.

import type { StorageAdapter } from '../store.js';

/** Keeps the store's keys in a Map; `failNextCommit` lets tests exercise rollback. */
export class MemoryStorage implements StorageAdapter {
  readonly data = new Map<string, Uint8Array>();
  /** When set, the next commit fails with this message (once). */
  failNextCommit: string | undefined;

  async load(): Promise<Iterable<[string, Uint8Array]>> {
    return [...this.data];
  }

  async commit(changes: Map<string, Uint8Array | null>): Promise<void> {
    if (this.failNextCommit !== undefined) {
      const message = this.failNextCommit;
      this.failNextCommit = undefined;
      throw new Error(message);
    }
    for (const [key, value] of changes) {
      if (value === null) this.data.delete(key);
      else this.data.set(key, value);
    }
  }

  async close(): Promise<void> {}
}
