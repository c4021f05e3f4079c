// Reads an objectbox-model.json into a Model and computes its schema hashes exactly as model/src/hash.rs does.

import { Sha256, toHex } from './sha256.js';

/** Property type codes (docs/protocol.md section 6). */
export const PropertyType = {
  Bool: 1,
  Byte: 2,
  Short: 3,
  Char: 4,
  Int: 5,
  Long: 6,
  Float: 7,
  Double: 8,
  String: 9,
  Date: 10,
  Relation: 11,
  DateNano: 12,
  Flex: 13,
  BoolVector: 22,
  ByteVector: 23,
  ShortVector: 24,
  CharVector: 25,
  IntVector: 26,
  LongVector: 27,
  FloatVector: 28,
  DoubleVector: 29,
  StringVector: 30,
  DateVector: 31,
  DateNanoVector: 32,
} as const;

/** The name of each property type code. */
export const PROPERTY_TYPE_NAMES: Record<number, string> = Object.fromEntries(
  Object.entries(PropertyType).map(([name, code]) => [code, name]),
);

/** Property flags that matter to the client. */
export const PropertyFlags = {
  ID: 1,
  UNSIGNED: 8192,
  SYNC_CLOCK: 131_072,
  SYNC_PRECEDENCE: 262_144,
} as const;

/** Entity flags. */
export const EntityFlags = {
  SYNC_ENABLED: 2,
  SHARED_GLOBAL_IDS: 4,
} as const;

const DISTANCE_TYPES: Record<string, number> = {
  Unknown: 0,
  Euclidean: 1,
  Cosine: 2,
  DotProduct: 3,
  Geo: 6,
  DotProductNonNormalized: 10,
};

/** An `"ID:UID"` pair. */
export interface IdUid {
  id: number;
  uid: bigint;
}

export interface HnswParams {
  dimensions?: number;
  distanceType?: number;
  neighborsPerNode?: number;
  indexingSearchCount?: number;
  reparationBacklinkProbability?: number;
  vectorCacheHintSizeKb?: bigint;
  flags?: number;
}

export interface Property {
  id: IdUid;
  name: string;
  /** The type code; `undefined` for untyped properties (old model files). */
  type: number | undefined;
  flags: number;
  indexId?: IdUid;
  relationTarget?: string;
  externalType?: number;
  externalName?: string;
  hnsw?: HnswParams;
}

export interface Relation {
  id: IdUid;
  name: string;
  targetId: IdUid;
  externalName?: string;
  externalType?: number;
}

export interface Entity {
  id: IdUid;
  name: string;
  flags: number;
  lastPropertyId?: IdUid;
  externalName?: string;
  properties: Property[];
  relations: Relation[];
}

/** A parsed data model with lookups and its schema hashes. */
export class Model {
  readonly fullHash: string;
  readonly baseHash: string;
  private byId = new Map<number, Entity>();

  constructor(
    readonly entities: Entity[],
    readonly lastEntityId: IdUid | undefined,
    readonly lastIndexId: IdUid | undefined,
    readonly lastRelationId: IdUid | undefined,
    readonly retired: { entity: bigint[]; index: bigint[]; property: bigint[]; relation: bigint[] },
  ) {
    for (const e of entities) this.byId.set(e.id.id, e);
    this.fullHash = fullHash(this);
    this.baseHash = baseHash(this);
  }

  /** Parses the text of an objectbox-model.json file; throws `ModelError` naming the path of the problem. */
  static fromJson(text: string): Model {
    return parseModel(text);
  }

  entity(id: number): Entity | undefined {
    return this.byId.get(id);
  }

  /** The entity with this name, ignoring case. */
  entityByName(name: string): Entity | undefined {
    return this.entities.find((e) => sameName(e.name, name));
  }

  syncEntities(): Entity[] {
    return this.entities.filter(isSyncEnabled);
  }
}

/** A model file that cannot be read. */
export class ModelError extends Error {
  override name = 'ModelError';
  constructor(
    readonly path: string,
    message: string,
  ) {
    super(path ? `${path}: ${message}` : message);
  }
}

export function isSyncEnabled(e: Entity): boolean {
  return (e.flags & EntityFlags.SYNC_ENABLED) !== 0;
}

export function hasSharedGlobalIds(e: Entity): boolean {
  return (e.flags & EntityFlags.SHARED_GLOBAL_IDS) !== 0;
}

export function idProperty(e: Entity): Property {
  return e.properties.find((p) => (p.flags & PropertyFlags.ID) !== 0)!;
}

export function syncClockProperty(e: Entity): Property | undefined {
  return e.properties.find((p) => (p.flags & PropertyFlags.SYNC_CLOCK) !== 0);
}

export function propertyById(e: Entity, id: number): Property | undefined {
  return e.properties.find((p) => p.id.id === id);
}

/** Compares names the way the ObjectBox core does: ignoring case. */
export function sameName(a: string, b: string): boolean {
  return a.toLowerCase() === b.toLowerCase();
}

// Helpers below.

function parseModel(text: string): Model {
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  const root = parseJson(text);
  if (!isObject(root)) throw new ModelError('', 'the model file must hold a JSON object');
  const entitiesJson = root['entities'];
  if (!Array.isArray(entitiesJson)) throw new ModelError('entities', 'missing (an array is required)');
  const entities = entitiesJson.map((e, i) => parseEntity(e, `entities[${i}]`));
  return new Model(
    entities,
    optLastId(root, 'lastEntityId', ''),
    optLastId(root, 'lastIndexId', ''),
    optLastId(root, 'lastRelationId', ''),
    {
      entity: uidList(root, 'retiredEntityUids'),
      index: uidList(root, 'retiredIndexUids'),
      property: uidList(root, 'retiredPropertyUids'),
      relation: uidList(root, 'retiredRelationUids'),
    },
  );
}

function parseEntity(json: unknown, path: string): Entity {
  if (!isObject(json)) throw new ModelError(path, 'is not an object');
  const name = reqName(json, 'name', path);
  const propsJson = json['properties'];
  if (!Array.isArray(propsJson)) throw new ModelError(`${path}.properties`, 'missing (an array is required)');
  const properties = propsJson.map((p, j) => parseProperty(p, `${path}.properties[${j}]`));
  const relationsJson = json['relations'] ?? [];
  if (!Array.isArray(relationsJson)) throw new ModelError(`${path}.relations`, 'is not an array');
  const relations = relationsJson.map((r, j) => parseRelation(r, `${path}.relations[${j}]`));
  // When no property has the ID flag, the one named "id" gets it, as the Go generator decides.
  if (!properties.some((p) => (p.flags & PropertyFlags.ID) !== 0)) {
    const named = properties.filter((p) => p.name.toLowerCase() === 'id');
    if (named.length !== 1) {
      throw new ModelError(`${path}.properties`, `entity ${name} has no ID property: no property has flag ID (1) and none is named "id"`);
    }
    named[0]!.flags |= PropertyFlags.ID;
  }
  return {
    id: reqId(json, 'id', path),
    name,
    flags: optU32(json, 'flags', path) ?? 0,
    lastPropertyId: optLastId(json, 'lastPropertyId', path),
    externalName: optStr(json, 'externalName', path),
    properties,
    relations,
  };
}

function parseProperty(json: unknown, path: string): Property {
  if (!isObject(json)) throw new ModelError(path, 'is not an object');
  const type = optU32(json, 'type', path);
  if (type !== undefined && PROPERTY_TYPE_NAMES[type] === undefined) {
    throw new ModelError(`${path}.type`, `${type} is not a known property type code (valid: 1-13, 22-32)`);
  }
  const property: Property = {
    id: reqId(json, 'id', path),
    name: reqName(json, 'name', path),
    type,
    flags: optU32(json, 'flags', path) ?? 0,
  };
  const indexId = json['indexId'];
  if (indexId !== undefined) property.indexId = parseIdUid(indexId, `${path}.indexId`);
  const target = optStr(json, 'relationTarget', path);
  if (target !== undefined) property.relationTarget = target;
  const externalType = optU32(json, 'externalType', path);
  if (externalType !== undefined) property.externalType = externalType;
  const externalName = optStr(json, 'externalName', path);
  if (externalName !== undefined) property.externalName = externalName;
  const hnsw = json['hnswParams'];
  if (hnsw !== undefined) {
    const hp = `${path}.hnswParams`;
    if (!isObject(hnsw)) throw new ModelError(hp, 'is not an object');
    const params: HnswParams = {};
    const set = <K extends keyof HnswParams>(k: K, v: HnswParams[K] | undefined) => {
      if (v !== undefined) params[k] = v;
    };
    set('dimensions', optU32(hnsw, 'dimensions', hp));
    const dist = optStr(hnsw, 'distance-type', hp);
    if (dist !== undefined) {
      const code = DISTANCE_TYPES[dist];
      if (code === undefined) throw new ModelError(`${hp}.distance-type`, `"${dist}" is not a known distance type`);
      params.distanceType = code;
    }
    set('neighborsPerNode', optU32(hnsw, 'neighbors-per-node', hp));
    set('indexingSearchCount', optU32(hnsw, 'indexing-search-count', hp));
    const prob = hnsw['reparation-backlink-probability'];
    if (prob !== undefined) params.reparationBacklinkProbability = Number(prob);
    const cache = hnsw['vector-cache-hint-size-kb'];
    if (cache !== undefined) params.vectorCacheHintSizeKb = BigInt(cache as number | bigint);
    set('flags', optU32(hnsw, 'flags', hp));
    property.hnsw = params;
  }
  return property;
}

function parseRelation(json: unknown, path: string): Relation {
  if (!isObject(json)) throw new ModelError(path, 'is not an object');
  const relation: Relation = {
    id: reqId(json, 'id', path),
    name: reqName(json, 'name', path),
    targetId: reqId(json, 'targetId', path),
  };
  const externalName = optStr(json, 'externalName', path);
  if (externalName !== undefined) relation.externalName = externalName;
  const externalType = optU32(json, 'externalType', path);
  if (externalType !== undefined) relation.externalType = externalType;
  return relation;
}

type JsonObject = Record<string, unknown>;

function isObject(v: unknown): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function reqName(obj: JsonObject, key: string, path: string): string {
  const v = obj[key];
  if (typeof v !== 'string' || v.trim() === '') throw new ModelError(`${path}.${key}`, 'missing or empty; every element needs a name');
  return v;
}

function optStr(obj: JsonObject, key: string, path: string): string | undefined {
  const v = obj[key];
  if (v === undefined) return undefined;
  if (typeof v !== 'string') throw new ModelError(`${path}.${key}`, `${String(v)} is not a string`);
  return v;
}

function optU32(obj: JsonObject, key: string, path: string): number | undefined {
  const v = obj[key];
  if (v === undefined) return undefined;
  const n = typeof v === 'bigint' ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 0 || n > 0xffffffff) {
    throw new ModelError(`${path}.${key}`, `${String(v)} is not an integer from 0 to ${0xffffffff}`);
  }
  return n;
}

function parseIdUid(v: unknown, path: string): IdUid {
  if (typeof v !== 'string') throw new ModelError(path, `${String(v)} is not an "ID:UID" string`);
  const m = /^([1-9][0-9]*):([1-9][0-9]*)$/.exec(v);
  if (!m) throw new ModelError(path, `"${v}" is not an "ID:UID" pair of positive integers`);
  const id = Number(m[1]);
  const uid = BigInt(m[2]!);
  if (id > 0xffffffff || uid >= 1n << 64n) throw new ModelError(path, `"${v}" is out of range`);
  return { id, uid };
}

function reqId(obj: JsonObject, key: string, path: string): IdUid {
  if (obj[key] === undefined) throw new ModelError(`${path ? path + '.' : ''}${key}`, 'missing (an "ID:UID" string is required)');
  return parseIdUid(obj[key], `${path ? path + '.' : ''}${key}`);
}

/** A `last*Id` value, where absent, `""` and `"0:0"` all mean none. */
function optLastId(obj: JsonObject, key: string, path: string): IdUid | undefined {
  const v = obj[key];
  if (v === undefined || v === '' || v === '0:0') return undefined;
  return parseIdUid(v, `${path ? path + '.' : ''}${key}`);
}

function uidList(obj: JsonObject, key: string): bigint[] {
  const v = obj[key];
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw new ModelError(key, 'is not an array');
  return v.map((item, i) => {
    if ((typeof item !== 'number' && typeof item !== 'bigint') || !Number.isInteger(Number(item)) || Number(item) <= 0) {
      throw new ModelError(`${key}[${i}]`, `${String(item)} is not a UID`);
    }
    return BigInt(item);
  });
}

/** JSON.parse, but integers beyond 2^53 become `bigint` so 64-bit UIDs keep every digit. */
export function parseJson(text: string): unknown {
  let i = 0;
  const fail = (what: string): never => {
    const line = text.slice(0, i).split('\n').length;
    throw new ModelError('', `model file is not valid JSON at line ${line}: ${what}`);
  };
  const ws = () => {
    while (i < text.length && ' \t\n\r'.includes(text[i]!)) i++;
  };
  const value = (): unknown => {
    ws();
    const c = text[i];
    if (c === '{') {
      i++;
      const obj: JsonObject = {};
      ws();
      if (text[i] === '}') {
        i++;
        return obj;
      }
      for (;;) {
        ws();
        if (text[i] !== '"') fail('expected a key string');
        const key = str();
        ws();
        if (text[i] !== ':') fail('expected ":"');
        i++;
        if (Object.prototype.hasOwnProperty.call(obj, key)) fail(`duplicate key "${key}"`);
        obj[key] = value();
        ws();
        if (text[i] === ',') {
          i++;
          continue;
        }
        if (text[i] === '}') {
          i++;
          return obj;
        }
        fail('expected "," or "}"');
      }
    }
    if (c === '[') {
      i++;
      const arr: unknown[] = [];
      ws();
      if (text[i] === ']') {
        i++;
        return arr;
      }
      for (;;) {
        arr.push(value());
        ws();
        if (text[i] === ',') {
          i++;
          continue;
        }
        if (text[i] === ']') {
          i++;
          return arr;
        }
        fail('expected "," or "]"');
      }
    }
    if (c === '"') return str();
    const m = /^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?/.exec(text.slice(i, i + 400));
    if (m && m[0].length > 0) {
      i += m[0].length;
      if (m[2] === undefined && m[3] === undefined) {
        const n = Number(m[0]);
        return Number.isSafeInteger(n) ? n : BigInt(m[0]);
      }
      return Number(m[0]);
    }
    for (const [word, v] of [['true', true], ['false', false], ['null', null]] as const) {
      if (text.startsWith(word, i)) {
        i += word.length;
        return v;
      }
    }
    return fail(text.startsWith('<<<<<<<', i) ? 'an unresolved merge conflict marker' : `unexpected ${c === undefined ? 'end of input' : JSON.stringify(c)}`);
  };
  const str = (): string => {
    const start = i;
    i++;
    while (i < text.length && text[i] !== '"') i += text[i] === '\\' ? 2 : 1;
    if (i >= text.length) fail('unterminated string');
    i++;
    return JSON.parse(text.slice(start, i)) as string;
  };
  const out = value();
  ws();
  if (i !== text.length) fail('trailing characters after the JSON value');
  return out;
}

/** Feeds the canonical encoding of model/src/hash.rs into SHA-256. */
class HashWriter {
  private sha = new Sha256();
  private scratch = new DataView(new ArrayBuffer(8));

  constructor(domain: string) {
    this.str(domain);
  }

  u8(v: number): void {
    this.sha.update(Uint8Array.of(v));
  }

  u32(v: number): void {
    this.scratch.setUint32(0, v, true);
    this.sha.update(new Uint8Array(this.scratch.buffer, 0, 4));
  }

  u64(v: bigint): void {
    this.scratch.setBigUint64(0, v, true);
    this.sha.update(new Uint8Array(this.scratch.buffer, 0, 8));
  }

  str(s: string): void {
    const bytes = new TextEncoder().encode(s);
    this.u32(bytes.length);
    this.sha.update(bytes);
  }

  id(id: IdUid | undefined): void {
    this.u32(id?.id ?? 0);
    this.u64(id?.uid ?? 0n);
  }

  optStr(s: string | undefined): void {
    if (s === undefined) this.u8(0);
    else {
      this.u8(1);
      this.str(s);
    }
  }

  optU32(v: number | undefined): void {
    if (v === undefined) this.u8(0);
    else {
      this.u8(1);
      this.u32(v);
    }
  }

  optU64(v: bigint | undefined): void {
    if (v === undefined) this.u8(0);
    else {
      this.u8(1);
      this.u64(v);
    }
  }

  finish(): string {
    return toHex(this.sha.digest().subarray(0, 16));
  }
}

function sortedById<T extends { id: IdUid }>(items: T[]): T[] {
  // Array.prototype.sort is stable, keeping file order among equal IDs as the Rust code does.
  return [...items].sort((a, b) => a.id.id - b.id.id);
}

function baseHash(model: Model): string {
  const w = new HashWriter('sync-server base v1');
  const entities = sortedById(model.entities);
  w.u32(entities.length);
  for (const e of entities) {
    w.u64(e.id.uid);
    w.str(e.name);
    const props = sortedById(e.properties);
    w.u32(props.length);
    for (const p of props) {
      w.u64(p.id.uid);
      w.str(p.name);
      w.u32(p.type ?? 0);
    }
  }
  return w.finish();
}

function fullHash(model: Model): string {
  const w = new HashWriter('sync-server full v1');
  w.id(model.lastEntityId);
  w.id(model.lastIndexId);
  w.id(model.lastRelationId);
  for (const list of [model.retired.entity, model.retired.index, model.retired.property, model.retired.relation]) {
    const sorted = [...list].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    w.u32(sorted.length);
    for (const uid of sorted) w.u64(uid);
  }
  const entities = sortedById(model.entities);
  w.u32(entities.length);
  for (const e of entities) {
    w.id(e.id);
    w.str(e.name);
    w.u32(e.flags);
    w.optStr(e.externalName);
    w.id(e.lastPropertyId);
    const props = sortedById(e.properties);
    w.u32(props.length);
    for (const p of props) {
      w.id(p.id);
      w.str(p.name);
      w.u32(p.type ?? 0);
      w.u32(p.flags);
      w.id(p.indexId);
      if (p.relationTarget === undefined) w.u8(0);
      else {
        const target = model.entityByName(p.relationTarget);
        if (target) {
          w.u8(1);
          w.u64(target.id.uid);
        } else {
          w.u8(2);
          w.str(p.relationTarget);
        }
      }
      w.optU32(p.externalType);
      w.optStr(p.externalName);
      if (p.hnsw === undefined) w.u8(0);
      else {
        const h = p.hnsw;
        w.u8(1);
        w.optU32(h.dimensions);
        w.optU32(h.distanceType);
        w.optU32(h.neighborsPerNode);
        w.optU32(h.indexingSearchCount);
        w.optU64(h.reparationBacklinkProbability === undefined ? undefined : f64Bits(h.reparationBacklinkProbability));
        w.optU64(h.vectorCacheHintSizeKb);
        w.optU32(h.flags);
      }
    }
    const relations = sortedById(e.relations);
    w.u32(relations.length);
    for (const r of relations) {
      w.id(r.id);
      w.str(r.name);
      w.id(r.targetId);
      w.optStr(r.externalName);
      w.optU32(r.externalType);
    }
  }
  return w.finish();
}

function f64Bits(v: number): bigint {
  const view = new DataView(new ArrayBuffer(8));
  view.setFloat64(0, v);
  return view.getBigUint64(0);
}
