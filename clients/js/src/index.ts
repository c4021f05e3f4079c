// The package's public API: the store, the sync client, the model and the protocol codec.

export * from './protocol.js';
export { Model, ModelError, PropertyType, PropertyFlags, EntityFlags } from './model.js';
export type { Entity, Property, Relation, IdUid } from './model.js';
export { DecodeError } from './msgpack.js';
export { sha256, hmacSha256, toHex } from './sha256.js';
export { LocalStore, StoreError, KEY, META, SYNC_CLOCK_LOGICAL_BITS } from './store.js';
export type { StorageAdapter, Change, SyncState, EntityMap, Input } from './store.js';
export { Query, compare } from './query.js';
export type { Operator } from './query.js';
export { ValueError } from './values.js';
export type { PlainObject } from './values.js';
export { Engine, retryAfterLogin, sharedSecretProof } from './engine.js';
export type { Credentials, Retry, SyncEvent, EngineHost, EngineState } from './engine.js';
export { SyncClient, INITIAL_BACKOFF_MS, MAX_BACKOFF_MS, CONNECT_TIMEOUT_MS } from './client.js';
export type { SyncClientOptions, ClientState, ClientEvent, WebSocketLike, WebSocketFactory } from './client.js';
export { MemoryStorage } from './storage/memory.js';
