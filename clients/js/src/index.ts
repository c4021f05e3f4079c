// The package's public API: the store, the sync client, the model and the protocol codec.

export * from './protocol.js';
export { Model, ModelError, PropertyType, PropertyFlags, EntityFlags } from './model.js';
export type { Entity, Property, Relation, IdUid } from './model.js';
export { DecodeError } from './msgpack.js';
export { sha256, hmacSha256, toHex } from './sha256.js';
