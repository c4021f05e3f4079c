// Queries over one entity's local objects (conditions, order, paging) and live queries that re-run when the entity changes.

import { type Entity, type Property, PropertyFlags, sameName } from './model.js';
import type { Props } from './protocol.js';
import type { LocalStore } from './store.js';
import { ValueError, fromValue, propsToObject, type PlainObject } from './values.js';

/** Comparison operators of a condition. */
export type Operator = 'eq' | 'ne' | 'lt' | 'le' | 'gt' | 'ge' | 'between' | 'in' | 'isNull' | 'notNull' | 'startsWith' | 'contains';

interface Condition {
  property: Property;
  op: Operator;
  value?: unknown;
  value2?: unknown;
}

/** A query on one entity; build it with `where`/`orderBy`/`offset`/`limit`, run it with `find`, `count`, `first` or `subscribe`. */
export class Query<T = PlainObject> {
  private conditions: Condition[] = [];
  private order: Array<{ property: Property; descending: boolean }> = [];
  private skip = 0;
  private take = Infinity;

  constructor(
    private store: LocalStore,
    readonly entity: Entity,
  ) {}

  /**
   * Adds a condition (all conditions must hold). `between` takes two bounds (inclusive), `in` an
   * array, `isNull`/`notNull` no value; string operators compare case-sensitively.
   */
  where<K extends keyof T & string>(property: K, op: Operator, value?: T[K] | T[K][] | unknown, value2?: T[K]): this {
    const p = this.property(property);
    if (op === 'in' && !Array.isArray(value)) throw new ValueError(`${this.entity.name}.${p.name}: "in" needs an array of values`);
    if (op === 'between' && (value === undefined || value2 === undefined)) throw new ValueError(`${this.entity.name}.${p.name}: "between" needs two bounds`);
    this.conditions.push({ property: p, op, value, value2 });
    return this;
  }

  /** Orders by a property (null values first when ascending); several calls order by each in turn, then by id. */
  orderBy<K extends keyof T & string>(property: K, direction: 'asc' | 'desc' = 'asc'): this {
    this.order.push({ property: this.property(property), descending: direction === 'desc' });
    return this;
  }

  /** Skips the first `n` results. */
  offset(n: number): this {
    if (!Number.isInteger(n) || n < 0) throw new ValueError(`offset must be a non-negative integer, got ${n}`);
    this.skip = n;
    return this;
  }

  /** Returns at most `n` results. */
  limit(n: number): this {
    if (!Number.isInteger(n) || n < 0) throw new ValueError(`limit must be a non-negative integer, got ${n}`);
    this.take = n;
    return this;
  }

  /** The matching objects, ordered and paged. */
  find(): T[] {
    return this.rows().map(([id, props]) => propsToObject(this.entity, id, props) as T);
  }

  /** The ids of the matching objects, ordered and paged. */
  findIds(): number[] {
    return this.rows().map(([id]) => id);
  }

  /** The first match, or `undefined`. */
  first(): T | undefined {
    const saved = this.take;
    this.take = Math.min(this.take, 1);
    try {
      return this.find()[0];
    } finally {
      this.take = saved;
    }
  }

  /** How many objects match (ignoring offset and limit). */
  count(): number {
    return this.matching().length;
  }

  /**
   * A live query: calls `listener` with the results now and again after every committed change
   * to this entity that changes the results. Returns the unsubscribe function.
   */
  subscribe(listener: (results: T[]) => void): () => void {
    let last: Array<[number, Props]> = this.rows();
    listener(last.map(([id, props]) => propsToObject(this.entity, id, props) as T));
    return this.store.onChange((changes) => {
      if (!changes.some((c) => sameName(c.entity, this.entity.name))) return;
      const next = this.rows();
      // Stored props are replaced, never mutated, so identity tells whether an object changed.
      const same = next.length === last.length && next.every(([id, props], i) => last[i]![0] === id && last[i]![1] === props);
      if (same) return;
      last = next;
      listener(next.map(([id, props]) => propsToObject(this.entity, id, props) as T));
    });
  }

  // Helpers below.

  private property(name: string): Property {
    const p = this.entity.properties.find((x) => sameName(x.name, name));
    if (!p) throw new ValueError(`${this.entity.name} has no property "${name}"`);
    return p;
  }

  private matching(): Array<[number, Props]> {
    const out: Array<[number, Props]> = [];
    for (const [id, props] of this.store.entries(this.entity)) {
      if (this.conditions.every((c) => test(c, valueOf(c.property, id, props)))) out.push([id, props]);
    }
    return out;
  }

  private rows(): Array<[number, Props]> {
    const rows = this.matching();
    rows.sort((a, b) => {
      for (const { property, descending } of this.order) {
        const c = compare(valueOf(property, a[0], a[1]), valueOf(property, b[0], b[1]));
        if (c !== 0) return descending ? -c : c;
      }
      return a[0] - b[0];
    });
    return rows.slice(this.skip, this.take === Infinity ? undefined : this.skip + this.take);
  }
}

function valueOf(property: Property, id: number, props: Props): unknown {
  if ((property.flags & PropertyFlags.ID) !== 0) return id;
  const pair = props.find(([pid]) => pid === property.id.id);
  return pair ? fromValue(property, pair[1]) : null;
}

function test(c: Condition, v: unknown): boolean {
  switch (c.op) {
    case 'isNull':
      return v === null;
    case 'notNull':
      return v !== null;
    case 'eq':
      return compare(v, c.value) === 0 && v !== null;
    case 'ne':
      return compare(v, c.value) !== 0;
    case 'in':
      return v !== null && (c.value as unknown[]).some((x) => compare(v, x) === 0);
    case 'startsWith':
      return typeof v === 'string' && v.startsWith(String(c.value));
    case 'contains':
      return typeof v === 'string' ? v.includes(String(c.value)) : Array.isArray(v) && v.some((x) => compare(x, c.value) === 0);
  }
  if (v === null) return false;
  const k = compare(v, c.value);
  switch (c.op) {
    case 'lt':
      return k < 0;
    case 'le':
      return k <= 0;
    case 'gt':
      return k > 0;
    case 'ge':
      return k >= 0;
    case 'between':
      return k >= 0 && compare(v, c.value2) <= 0;
  }
  return false;
}

/** Orders values: null first, then numbers and bigints together, strings, booleans; arrays and bytes by length. */
export function compare(a: unknown, b: unknown): number {
  if (a === b) return 0;
  if (a === null || a === undefined) return b === null || b === undefined ? 0 : -1;
  if (b === null || b === undefined) return 1;
  if ((typeof a === 'number' || typeof a === 'bigint') && (typeof b === 'number' || typeof b === 'bigint')) {
    return a < b ? -1 : a > b ? 1 : 0;
  }
  if (typeof a === 'string' && typeof b === 'string') return a < b ? -1 : a > b ? 1 : 0;
  if (typeof a === 'boolean' && typeof b === 'boolean') return Number(a) - Number(b);
  if (a instanceof Uint8Array && b instanceof Uint8Array) {
    for (let i = 0; i < Math.min(a.length, b.length); i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
    return a.length - b.length;
  }
  if (Array.isArray(a) && Array.isArray(b)) {
    for (let i = 0; i < Math.min(a.length, b.length); i++) {
      const c = compare(a[i], b[i]);
      if (c !== 0) return c;
    }
    return a.length - b.length;
  }
  const rank = (x: unknown) => ['number', 'bigint', 'string', 'boolean', 'object'].indexOf(typeof x);
  return rank(a) - rank(b) || (JSON.stringify(a) ?? '').localeCompare(JSON.stringify(b) ?? '');
}
