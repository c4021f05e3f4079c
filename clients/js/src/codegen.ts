// Writes TypeScript types for a model's entities: one interface per entity and an `Entities` map for a typed LocalStore.

import { type Entity, type Model, type Property, PropertyFlags, PropertyType as T, PROPERTY_TYPE_NAMES, isSyncEnabled } from './model.js';

/** The TypeScript module for `model`; `modelText` is embedded so apps need not load the file. */
export function generateTypes(model: Model, modelText: string, source: string): string {
  const lines = [
    `// Types of the entities in ${source}, written by \`sync-server-client codegen\`; do not edit, regenerate instead.`,
    '',
    "import { Model, LocalStore, type StorageAdapter } from 'sync-server-client';",
    '',
  ];
  for (const entity of model.entities) lines.push(...entityInterface(model, entity), '');
  lines.push('/** Entity names to their object types, for `LocalStore<Entities>`. */');
  lines.push('export interface Entities {');
  for (const entity of model.entities) lines.push(`  ${entity.name}: ${entity.name};`);
  lines.push('}', '');
  lines.push(`/** The model file's text (schema hashes ${model.fullHash} full, ${model.baseHash} base). */`);
  lines.push(`export const MODEL_JSON = ${JSON.stringify(modelText)};`, '');
  lines.push('/** The parsed model. */');
  lines.push('export const model: Model = Model.fromJson(MODEL_JSON);', '');
  lines.push('/** Opens a typed store of this model on `storage`. */');
  lines.push('export function openStore(storage: StorageAdapter): Promise<LocalStore<Entities>> {');
  lines.push('  return LocalStore.open<Entities>(model, storage);');
  lines.push('}', '');
  return lines.join('\n');
}

function entityInterface(model: Model, entity: Entity): string[] {
  const notes = [isSyncEnabled(entity) ? 'synced' : 'local only'];
  const out = [`/** Entity ${entity.name} (ID ${entity.id.id}, ${notes.join(', ')}). */`, `export interface ${entity.name} {`];
  for (const p of entity.properties) {
    if (!/^[A-Za-z_$][A-Za-z0-9_$]*$/.test(p.name)) throw new Error(`${entity.name}.${p.name} is not a valid TypeScript identifier`);
    const isId = (p.flags & PropertyFlags.ID) !== 0;
    const doc = describe(model, p);
    if (doc) out.push(`  /** ${doc} */`);
    out.push(`  ${p.name}: ${isId ? 'number' : `${tsType(p)} | null`};`);
  }
  out.push('}');
  return out;
}

function describe(model: Model, p: Property): string {
  const parts: string[] = [];
  if ((p.flags & PropertyFlags.ID) !== 0) parts.push('The local object id.');
  if (p.type === T.Relation) parts.push(`To-one relation to ${model.entityByName(p.relationTarget ?? '')?.name ?? p.relationTarget}: the target's local id.`);
  if (p.type === T.Date) parts.push('Milliseconds since the Unix epoch.');
  if (p.type === T.DateNano) parts.push('Nanoseconds since the Unix epoch.');
  if ((p.flags & PropertyFlags.SYNC_CLOCK) !== 0) parts.push('Sync clock, set by the store on every put.');
  if ((p.flags & PropertyFlags.SYNC_PRECEDENCE) !== 0) parts.push('Sync precedence: the higher value wins a conflict.');
  if ((p.flags & PropertyFlags.UNSIGNED) !== 0) parts.push('Unsigned.');
  if (p.type === undefined) parts.push('Untyped in the model: it cannot hold a value.');
  return parts.join(' ');
}

function tsType(p: Property): string {
  switch (p.type) {
    case T.Bool:
      return 'boolean';
    case T.Byte:
    case T.Short:
    case T.Char:
    case T.Int:
    case T.Float:
    case T.Double:
    case T.Date:
    case T.Relation:
      return 'number';
    case T.Long:
    case T.DateNano:
      return 'bigint';
    case T.String:
      return 'string';
    case T.ByteVector:
      return 'Uint8Array';
    case T.BoolVector:
      return 'boolean[]';
    case T.LongVector:
    case T.DateNanoVector:
      return 'bigint[]';
    case T.StringVector:
      return 'string[]';
    case T.Flex:
      return 'unknown';
    case undefined:
      return 'never';
    default:
      if (PROPERTY_TYPE_NAMES[p.type]?.endsWith('Vector')) return 'number[]';
      return 'unknown';
  }
}
