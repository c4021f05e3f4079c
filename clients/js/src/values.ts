// Converts application objects (plain JS objects keyed by property name) to stored values keyed by property id and back.
//
// JS forms by property type: Bool `boolean`; Byte, Short, Char, Int, Date (ms) `number`; Long
// and DateNano `bigint` (a `number` is accepted on input); Float and Double `number`; String
// `string`; Relation (to-one) the target's local id as `number`, `null` for none; ByteVector
// `Uint8Array`; the other vectors arrays of their element form; Flex any JSON-like value with
// integers as `number` (or `bigint` beyond 2^53) and maps as plain objects. `null` or a missing
// key is "no value". Unsigned Long values read as their u64 value.
//
// Architecture invariant: this module knows property types and names, never ids of other peers;
// relation values stay local ids here and `store` maps them to global ids.

import { type Entity, type Property, PropertyFlags, PropertyType as T, PROPERTY_TYPE_NAMES, sameName } from './model.js';
import { type Props, type Value, ValueMap } from './protocol.js';

/** A value that does not fit its property, or an unknown property name. */
export class ValueError extends Error {
  override name = 'ValueError';
}

/** An application object: property names to JS values. */
export type PlainObject = Record<string, unknown>;

const RANGES: Record<number, [number, number]> = {
  [T.Byte]: [-128, 255],
  [T.Short]: [-32768, 65535],
  [T.Char]: [-32768, 65535],
  [T.Int]: [-2147483648, 4294967295],
};

/** Splits an object into its id (`undefined` when absent, null or 0) and its values in property order. */
export function objectToProps(entity: Entity, object: PlainObject): { id: number | undefined; props: Props } {
  if (typeof object !== 'object' || object === null || Array.isArray(object)) {
    throw new ValueError(`${entity.name}: expected an object, found ${describe(object)}`);
  }
  let id: number | undefined;
  const given = new Map<number, unknown>();
  for (const [key, value] of Object.entries(object)) {
    const property = entity.properties.find((p) => sameName(p.name, key));
    if (!property) throw new ValueError(`${entity.name} has no property "${key}"`);
    if ((property.flags & PropertyFlags.ID) !== 0) {
      if (value === undefined || value === null || value === 0 || value === 0n) continue;
      const n = typeof value === 'bigint' ? Number(value) : value;
      if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0) {
        throw new ValueError(`${entity.name}.${property.name} (ID): expected a positive integer id, found ${describe(value)}`);
      }
      id = n;
    } else {
      given.set(property.id.id, value);
    }
  }
  const props: Props = [];
  for (const property of entity.properties) {
    if ((property.flags & PropertyFlags.ID) !== 0) continue;
    const value = given.get(property.id.id);
    if (property.type === undefined) {
      if (value !== undefined && value !== null) {
        throw new ValueError(`${entity.name}.${property.name} has no type in the model and cannot hold a value`);
      }
      continue;
    }
    props.push([property.id.id, toValue(entity, property, value)]);
  }
  return { id, props };
}

/** Builds the application object of `id` with every property of the entity (null for missing values). */
export function propsToObject(entity: Entity, id: number, props: Props): PlainObject {
  const out: PlainObject = {};
  for (const property of entity.properties) {
    if ((property.flags & PropertyFlags.ID) !== 0) {
      out[property.name] = id;
      continue;
    }
    const pair = props.find(([pid]) => pid === property.id.id);
    out[property.name] = pair ? fromValue(property, pair[1]) : null;
  }
  return out;
}

/** One JS value to the stored value of `property`. */
export function toValue(entity: Entity, property: Property, v: unknown): Value {
  if (v === undefined || v === null) return null;
  const where = `${entity.name}.${property.name} (${PROPERTY_TYPE_NAMES[property.type ?? 0] ?? 'untyped'})`;
  const fail = (expected: string): never => {
    throw new ValueError(`${where}: expected ${expected}, found ${describe(v)}`);
  };
  const int = (x: unknown, min?: number, max?: number): bigint => {
    let n: bigint;
    if (typeof x === 'bigint') n = x;
    else if (typeof x === 'number' && Number.isSafeInteger(x)) n = BigInt(x);
    else return fail('an integer');
    if (min !== undefined && (n < BigInt(min) || n > BigInt(max!))) {
      throw new ValueError(`${where}: value ${n} is out of range ${min}..=${max}`);
    }
    if (n < -(1n << 63n) || n >= 1n << 64n) throw new ValueError(`${where}: value ${n} does not fit in 64 bits`);
    return BigInt.asIntN(64, n);
  };
  const float = (x: unknown): number => (typeof x === 'number' ? x : typeof x === 'bigint' ? Number(x) : fail('a number'));
  const list = (f: (x: unknown) => Value): Value[] => (Array.isArray(v) ? v.map(f) : fail('an array'));
  switch (property.type) {
    case T.Bool:
      return typeof v === 'boolean' ? v : fail('a boolean');
    case T.Char:
      if (typeof v === 'string' && v.length === 1) return BigInt(v.charCodeAt(0));
      return int(v, ...RANGES[T.Char]!);
    case T.Byte:
    case T.Short:
    case T.Int:
      return int(v, ...RANGES[property.type]!);
    case T.Long:
    case T.Date:
    case T.DateNano:
      return int(v);
    case T.Relation: {
      const n = int(v);
      return n === 0n ? null : n;
    }
    case T.Float:
    case T.Double:
      return float(v);
    case T.String:
      return typeof v === 'string' ? v : fail('a string');
    case T.ByteVector:
      if (v instanceof Uint8Array) return v;
      if (Array.isArray(v)) return Uint8Array.from(v.map((b) => Number(int(b, 0, 255))));
      return fail('a Uint8Array');
    case T.BoolVector:
      return list((x) => (typeof x === 'boolean' ? x : fail('an array of booleans')));
    case T.ShortVector:
    case T.CharVector:
    case T.IntVector:
    case T.LongVector:
    case T.DateVector:
    case T.DateNanoVector:
      return list((x) => int(x));
    case T.FloatVector:
    case T.DoubleVector:
      return list(float);
    case T.StringVector:
      return list((x) => (typeof x === 'string' ? x : fail('an array of strings')));
    case T.Flex:
      return flexToValue(v, where);
    default:
      return fail('nothing (the property has no usable type)');
  }
}

/** One stored value to its JS form for `property`. */
export function fromValue(property: Property, v: Value): unknown {
  if (v === null) return null;
  const unsigned = (property.flags & PropertyFlags.UNSIGNED) !== 0;
  switch (property.type) {
    case T.Long:
    case T.DateNano:
      if (typeof v === 'bigint') return unsigned ? BigInt.asUintN(64, v) : v;
      return generic(v);
    case T.Byte:
    case T.Short:
    case T.Char:
    case T.Int:
    case T.Date:
    case T.Relation:
      if (typeof v === 'bigint') return Number(unsigned || property.type === T.Relation ? BigInt.asUintN(64, v) : v);
      return generic(v);
    case T.Float:
    case T.Double:
      // Senders may send an Int for a Float property; the receiver converts it (section 6).
      return typeof v === 'bigint' ? Number(v) : generic(v);
    case T.FloatVector:
    case T.DoubleVector:
      return Array.isArray(v) ? v.map((x) => (typeof x === 'bigint' ? Number(x) : generic(x))) : generic(v);
    case T.LongVector:
    case T.DateNanoVector:
      return Array.isArray(v) ? v.map((x) => (typeof x === 'bigint' && unsigned ? BigInt.asUintN(64, x) : x)) : generic(v);
    case T.ShortVector:
    case T.CharVector:
    case T.IntVector:
    case T.DateVector:
      return Array.isArray(v) ? v.map((x) => (typeof x === 'bigint' ? Number(x) : generic(x))) : generic(v);
    case T.BoolVector:
      // The server also accepts Bytes for a BoolVector.
      if (v instanceof Uint8Array) return Array.from(v, (b) => b !== 0);
      return generic(v);
    default:
      return generic(v);
  }
}

/** A stored value without a type to guide it (Flex): integers as numbers when they fit. */
export function generic(v: Value): unknown {
  if (typeof v === 'bigint') return Number.isSafeInteger(Number(v)) ? Number(v) : v;
  if (Array.isArray(v)) return v.map(generic);
  if (v instanceof ValueMap) return Object.fromEntries(v.entries.map(([k, x]) => [k, generic(x)]));
  return v;
}

function flexToValue(v: unknown, where: string): Value {
  if (v === null || v === undefined) return null;
  if (typeof v === 'boolean' || typeof v === 'string' || v instanceof Uint8Array) return v;
  if (typeof v === 'bigint') return BigInt.asIntN(64, v);
  if (typeof v === 'number') return Number.isSafeInteger(v) ? BigInt(v) : v;
  if (Array.isArray(v)) return v.map((x) => flexToValue(x, where));
  if (typeof v === 'object') {
    return new ValueMap(Object.entries(v as PlainObject).map(([k, x]) => [k, flexToValue(x, where)]));
  }
  throw new ValueError(`${where}: ${describe(v)} cannot be stored in a Flex property`);
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (v instanceof Uint8Array) return `${v.length} bytes`;
  if (typeof v === 'string') return `string ${JSON.stringify(v.length > 40 ? v.slice(0, 40) + '…' : v)}`;
  if (typeof v === 'object') return 'an object';
  return `${typeof v} ${String(v)}`;
}
