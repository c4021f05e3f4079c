// The browser bundle's entry: the public API plus the IndexedDB adapter.

export * from './index.js';
export { IndexedDbStorage } from './storage/indexeddb.js';
export type { IndexedDbOptions } from './storage/indexeddb.js';
