// The client's local database: objects, id maps, links, the sync position, the outgoing queue and the settling transactions.
//
// The whole dataset lives in memory and every change is persisted through a `StorageAdapter`
// (IndexedDB, SQLite or memory) as one atomic batch. Every local write to a sync-enabled entity
// changes the object and appends its `ApplyTx` to the queue in the same batch, so the queue never
// disagrees with the data; every server message is applied in one batch together with the new
// position. These are the rules of docs/protocol.md 12.6 and 13.4, ported from the Rust
// client's `client/src/store.rs`.
//
// Concurrency: writes run one at a time through `write()` (a promise chain is the single owner
// of the write path). A write's body runs synchronously on the in-memory state and records an
// undo log; if the adapter's commit fails, the undo log restores the state and the write fails.
// Listeners hear of a write only after its commit returned.
//
// Ids: objects have local ids per entity (from 1, never reused). On the wire an object is named
// by its `GlobalId`: objects created here are `[peerId, localId]`, objects created elsewhere get
// a fresh local id and a stored mapping, and SHARED_GLOBAL_IDS entities use `[0, id]` everywhere.

import { Writer, decodeExact } from './msgpack.js';
import {
  type Entity, type Model, type Property, PropertyType, hasSharedGlobalIds, isSyncEnabled, propertyById,
  sameName, syncClockProperty,
} from './model.js';
import {
  type GlobalId, type Op, type Props, type TxEntry, type Value, decodeClient, encodeClient, readProps, writeProps,
} from './protocol.js';
import { Query } from './query.js';
import { type PlainObject, objectToProps, propsToObject } from './values.js';

/** Persists the store's keys and values; `commit` is atomic and durable when it resolves. */
export interface StorageAdapter {
  /** Every stored key with its value. */
  load(): Promise<Iterable<[string, Uint8Array]>>;
  /** Writes the values (a `null` value deletes the key) in one transaction. */
  commit(changes: Map<string, Uint8Array | null>): Promise<void>;
  close(): Promise<void>;
}

/** Sync clock values hold milliseconds since the epoch shifted left by this many bits, plus a counter. */
export const SYNC_CLOCK_LOGICAL_BITS = 16n;

/** The layout version written to the store. */
export const STORE_FORMAT_VERSION = 1;

/** Key prefixes of the stored layout. */
export const KEY = {
  /** `m:<name>`: a u64 of the sync bookkeeping, see `META`. */
  meta: 'm:',
  /** `o:<entity>:<local id>`: the object's props (relations as local ids), MessagePack. */
  object: 'o:',
  /** `n:<entity>`: the next local id to hand out. */
  nextId: 'n:',
  /** `g:<entity>:<peer>:<peer's local id>`: the local id of an object created by another peer. */
  globalToLocal: 'g:',
  /** `l:<relation>:<source>:<target>`: a standalone relation link between local ids. */
  link: 'l:',
  /** `q:<tx id, 16 digits>`: a queued transaction as its `ApplyTx` frame, exactly as sent. */
  queue: 'q:',
  /** `s:<tx id, 16 digits>`: an acknowledged transaction the stream has not reached: [settle seq, frame]. */
  settling: 's:',
} as const;

/** Names of the `m:` keys. */
export const META = {
  format: 'format',
  peerId: 'peer-id',
  lastSeq: 'last-seq',
  nextTxId: 'next-tx-id',
  lastAckedTxId: 'last-acked-tx-id',
  syncClock: 'sync-clock',
} as const;

/** A failure of the local store, naming what is wrong. */
export class StoreError extends Error {
  override name = 'StoreError';
}

/** Local ids of one entity's objects that a write put or removed. */
export interface Change {
  entity: string;
  puts: number[];
  removes: number[];
}

/** The sync bookkeeping. */
export interface SyncState {
  peerId: bigint;
  lastSeq: number;
  lastTxId: number;
  lastAckedTxId: number;
  queueLength: number;
}

interface QueuedTx {
  frame: Uint8Array;
  ops: Op[];
}

interface SettlingTx extends QueuedTx {
  seq: number;
}

/** The in-memory copy of everything stored. */
interface State {
  meta: Map<string, bigint>;
  objects: Map<number, Map<number, Props>>;
  nextIds: Map<number, number>;
  /** entity → peer → peer's local id → local id, for objects created by other peers. */
  globalToLocal: Map<number, Map<bigint, Map<bigint, number>>>;
  /** entity → local id → global id; the reverse of `globalToLocal`. */
  localToGlobal: Map<number, Map<number, GlobalId>>;
  links: Set<string>;
  queue: Map<number, QueuedTx>;
  settling: Map<number, SettlingTx>;
}

/** Entity names to their object types, as `codegen` writes them (`Entities`); any interface fits. */
export type EntityMap = object;

/** What `put` accepts: any subset of the properties; a missing or null id makes a new object. */
export type Input<T> = { [P in keyof T]?: T[P] | null };

/** The local store of one model. Open it with `LocalStore.open`; `T` gives typed objects. */
export class LocalStore<T extends EntityMap = Record<string, PlainObject>> {
  private chain: Promise<unknown> = Promise.resolve();
  private changeListeners = new Set<(changes: Change[]) => void>();
  private queueListeners = new Set<() => void>();
  /** What the running full sync delivered (`o:<entity>:<id>` and link keys); memory only. */
  private fullSyncSeen = new Set<string>();
  private closed = false;

  private constructor(
    readonly model: Model,
    private adapter: StorageAdapter,
    private state: State,
    readonly peerId: bigint,
  ) {}

  /** Loads the store from `adapter`, creating the bookkeeping (and a random peer id) for a new one. */
  static async open<T extends EntityMap = Record<string, PlainObject>>(model: Model, adapter: StorageAdapter): Promise<LocalStore<T>> {
    const state: State = {
      meta: new Map(),
      objects: new Map(),
      nextIds: new Map(),
      globalToLocal: new Map(),
      localToGlobal: new Map(),
      links: new Set(),
      queue: new Map(),
      settling: new Map(),
    };
    for (const [key, value] of await adapter.load()) loadEntry(state, key, value);
    // Queue and settling keys load in key order (zero-padded tx ids), as Map order is insertion order.
    state.queue = new Map([...state.queue].sort((a, b) => a[0] - b[0]));
    state.settling = new Map([...state.settling].sort((a, b) => a[0] - b[0]));
    const format = state.meta.get(META.format);
    if (format !== undefined && format > BigInt(STORE_FORMAT_VERSION)) {
      throw new StoreError(`store layout version ${format} is newer than this client supports (${STORE_FORMAT_VERSION})`);
    }
    let peerId = state.meta.get(META.peerId) ?? 0n;
    const store = new LocalStore<T>(model, adapter, state, peerId);
    if (peerId === 0n) {
      peerId = randomPeerId();
      (store as { peerId: bigint }).peerId = peerId;
      await store.write((t) => {
        t.setMeta(META.format, BigInt(STORE_FORMAT_VERSION));
        t.setMeta(META.peerId, peerId);
        t.setMeta(META.nextTxId, 1n);
        t.setMeta(META.lastSeq, 0n);
        t.setMeta(META.lastAckedTxId, 0n);
      });
    }
    return store;
  }

  /** Writes an object and returns its local id (a new object when its id is absent, null or 0). */
  async put<K extends keyof T & string>(entityName: K, object: Input<T[K]>): Promise<number> {
    const entity = this.entity(entityName);
    const { id: given, props } = objectToProps(entity, object as PlainObject);
    return this.write((t) => {
      const id = given === undefined ? t.allocateId(entity) : (t.reserveId(entity, given), given);
      const clock = syncClockProperty(entity);
      if (isSyncEnabled(entity) && clock) setProp(props, clock.id.id, t.tickClock(entity, clock.id.id, id));
      t.putObject(entity, id, props);
      t.changes.put(entity.id.id, id);
      if (isSyncEnabled(entity)) {
        t.enqueue([{ kind: 'Put', entity: entity.id.id, id: t.globalOf(entity, id), props: t.propsToWire(entity, props) }]);
      }
      return id;
    });
  }

  /** Writes several objects of one entity in one local transaction (and one queued transaction). */
  async putMany<K extends keyof T & string>(entityName: K, objects: Array<Input<T[K]>>): Promise<number[]> {
    const entity = this.entity(entityName);
    const converted = objects.map((o) => objectToProps(entity, o as PlainObject));
    return this.write((t) => {
      const ops: Op[] = [];
      const ids = converted.map(({ id: given, props }) => {
        const id = given === undefined ? t.allocateId(entity) : (t.reserveId(entity, given), given);
        const clock = syncClockProperty(entity);
        if (isSyncEnabled(entity) && clock) setProp(props, clock.id.id, t.tickClock(entity, clock.id.id, id));
        t.putObject(entity, id, props);
        t.changes.put(entity.id.id, id);
        ops.push({ kind: 'Put', entity: entity.id.id, id: t.globalOf(entity, id), props: t.propsToWire(entity, props) });
        return id;
      });
      if (isSyncEnabled(entity) && ops.length > 0) t.enqueue(ops);
      return ids;
    });
  }

  /** Removes an object; returns whether it existed. */
  async remove(entityName: keyof T & string, id: number): Promise<boolean> {
    const entity = this.entity(entityName);
    return this.write((t) => {
      if (!t.removeObject(entity, id)) return false;
      t.changes.removed(entity.id.id, id);
      if (isSyncEnabled(entity)) t.enqueue([{ kind: 'Remove', entity: entity.id.id, id: t.globalOf(entity, id) }]);
      return true;
    });
  }

  /** Adds a standalone relation link from `source` (an object of `entityName`) to `target`. */
  async link(entityName: keyof T & string, relationName: string, source: number, target: number): Promise<void> {
    await this.changeLink(entityName, relationName, source, target, true);
  }

  /** Removes a standalone relation link. */
  async unlink(entityName: keyof T & string, relationName: string, source: number, target: number): Promise<void> {
    await this.changeLink(entityName, relationName, source, target, false);
  }

  /** Local ids of the targets `source` links to through a standalone relation, ascending. */
  linked(entityName: keyof T & string, relationName: string, source: number): number[] {
    const entity = this.entity(entityName);
    const relation = relationByName(entity, relationName);
    const prefix = `${KEY.link}${relation.id.id}:${source}:`;
    const out: number[] = [];
    for (const key of this.state.links) if (key.startsWith(prefix)) out.push(Number(key.slice(prefix.length)));
    return out.sort((a, b) => a - b);
  }

  /** The object with every property of its entity, or `undefined`. */
  get<K extends keyof T & string>(entityName: K, id: number): T[K] | undefined {
    const entity = this.entity(entityName);
    const props = this.state.objects.get(entity.id.id)?.get(id);
    return props && (propsToObject(entity, id, props) as T[K]);
  }

  /** All objects of an entity, in id order. */
  all<K extends keyof T & string>(entityName: K): Array<T[K]> {
    const entity = this.entity(entityName);
    const objects = this.state.objects.get(entity.id.id);
    if (!objects) return [];
    return [...objects.keys()].sort((a, b) => a - b).map((id) => propsToObject(entity, id, objects.get(id)!) as T[K]);
  }

  /** How many objects an entity has. */
  count(entityName: keyof T & string): number {
    return this.state.objects.get(this.entity(entityName).id.id)?.size ?? 0;
  }

  /** A query on one entity: `store.query('Task').where('done', 'eq', false).orderBy('date').find()`. */
  query<K extends keyof T & string>(entityName: K): Query<T[K]> {
    return new Query<T[K]>(this as unknown as LocalStore, this.entity(entityName));
  }

  /** Calls `listener` after every committed write that put or removed objects of `entityName`. */
  subscribe(entityName: keyof T & string, listener: (change: Change) => void): () => void {
    const entity = this.entity(entityName);
    return this.onChange((changes) => {
      for (const c of changes) if (c.entity === entity.name) listener(c);
    });
  }

  /** The stored values of an object (relations as local ids). */
  values(entity: Entity, id: number): Props | undefined {
    return this.state.objects.get(entity.id.id)?.get(id);
  }

  /** Every (id, values) of an entity, unordered. */
  entries(entity: Entity): IterableIterator<[number, Props]> {
    return (this.state.objects.get(entity.id.id) ?? new Map<number, Props>()).entries();
  }

  /** The entity with this name, ignoring case; throws naming the entity if there is none. */
  entity(name: string): Entity {
    const entity = this.model.entityByName(name);
    if (!entity) throw new StoreError(`the model has no entity "${name}" (it has ${this.model.entities.map((e) => e.name).join(', ')})`);
    return entity;
  }

  /** The object's global id as other peers know it. */
  globalId(entityName: keyof T & string, id: number): GlobalId {
    return globalOf(this.state, this.peerId, this.entity(entityName), id);
  }

  syncState(): SyncState {
    const meta = this.state.meta;
    return {
      peerId: this.peerId,
      lastSeq: Number(meta.get(META.lastSeq) ?? 0n),
      lastTxId: Number(meta.get(META.nextTxId) ?? 1n) - 1,
      lastAckedTxId: Number(meta.get(META.lastAckedTxId) ?? 0n),
      queueLength: this.state.queue.size,
    };
  }

  /** How many local transactions wait for the server's acknowledgement. */
  queueLength(): number {
    return this.state.queue.size;
  }

  /** The queued transactions with a tx id above `after`, in order, as ready-to-send frames. */
  queuedFrames(after: number): Array<[number, Uint8Array]> {
    const out: Array<[number, Uint8Array]> = [];
    for (const [txId, tx] of this.state.queue) if (txId > after) out.push([txId, tx.frame]);
    return out;
  }

  /** The queued transactions' ops, in order (for tests and tools). */
  queuedOps(): Array<[number, Op[]]> {
    return [...this.state.queue].map(([txId, tx]) => [txId, tx.ops]);
  }

  /** Calls `listener` after every committed write with the objects it changed (local or from the server). */
  onChange(listener: (changes: Change[]) => void): () => void {
    this.changeListeners.add(listener);
    return () => this.changeListeners.delete(listener);
  }

  /** Calls `listener` after every committed write that queued or dropped transactions. */
  onQueueChange(listener: () => void): () => void {
    this.queueListeners.add(listener);
    return () => this.queueListeners.delete(listener);
  }

  /** Waits for pending writes, then closes the adapter. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.chain.catch(() => undefined);
    await this.adapter.close();
  }

  // The protocol rules, called by the engine; each is one write.

  /**
   * Applies pushed transactions in order: skips those at or below the position, applies other
   * peers' ops except to protected objects, and for own entries drops the queued and settling
   * transactions they acknowledge and applies their corrections (12.6 rules 4, 6, 7; 14).
   */
  applyPush(txs: TxEntry[]): Promise<void> {
    return this.write((t) => {
      let lastSeq = t.meta(META.lastSeq);
      // The queued objects change only when an own entry drops transactions; computing them
      // once per message (not per entry) keeps a long queue from making catch-up quadratic.
      let queued: Set<string> | undefined;
      for (const tx of txs) {
        if (tx.seq <= lastSeq) continue;
        if (tx.origin === this.peerId && tx.txId > 0) {
          t.dropAcknowledged(tx.txId);
          queued = undefined;
        }
        if ((tx.origin !== this.peerId || tx.txId > 0) && tx.ops.length > 0) {
          queued ??= t.pendingObjects();
          const pending = t.pendingObjectsAt(tx.seq, queued);
          for (const op of tx.ops) t.applyOp(op, pending);
        }
        lastSeq = tx.seq;
      }
      t.setMeta(META.lastSeq, BigInt(lastSeq));
      t.settleUpTo(lastSeq);
    });
  }

  /** Starts a full sync: drops what `ackedTxId` acknowledges and resets the position to 0 (13.4). */
  beginFullSync(seq: number, ackedTxId: number): Promise<void> {
    return this.write((t) => {
      if (ackedTxId > 0) t.dropAcknowledged(ackedTxId);
      this.fullSyncSeen.clear();
      t.setMeta(META.lastSeq, 0n);
      void seq;
    });
  }

  /** Applies one full-sync chunk, skipping puts of objects with queued changes, and marks what it delivered. */
  applyFullSyncChunk(ops: Op[]): Promise<void> {
    return this.write((t) => {
      const pending = t.pendingObjects();
      for (const op of ops) {
        t.applyOp(op, pending);
        const mark = t.deliveredKey(op);
        if (mark) this.fullSyncSeen.add(mark);
      }
    });
  }

  /** Ends a full sync: removes undelivered synced data except protected objects, re-applies the queue, stores `seq`. */
  endFullSync(seq: number): Promise<void> {
    return this.write((t) => {
      t.removeUndelivered(seq, this.fullSyncSeen);
      t.reapplyQueue(undefined);
      t.setMeta(META.lastSeq, BigInt(seq));
      t.settleUpTo(seq);
      this.fullSyncSeen.clear();
    });
  }

  /** Handles an `Ack`: queue up to `txId` leaves (settling if `seq` is ahead), corrections apply (12.6 rule 3). */
  applyAck(txId: number, seq: number, corrections: Op[]): Promise<void> {
    return this.write((t) => {
      const position = t.meta(META.lastSeq);
      // The queue is in tx id order; deleting entries while iterating a Map is safe.
      for (const [id, tx] of this.state.queue) {
        if (id > txId) break;
        t.deleteQueued(id);
        if (seq > position) t.putSettling(id, { ...tx, seq });
      }
      t.setMeta(META.lastAckedTxId, BigInt(Math.max(t.meta(META.lastAckedTxId), txId)));
      if (corrections.length > 0) {
        const corrected = new Set<string>();
        for (const op of corrections) {
          const key = opObject(op);
          if (key) corrected.add(key);
          t.applyOp(op, undefined);
        }
        t.reapplyQueue(corrected);
      }
    });
  }

  /** Drops a rejected transaction from the queue; its local changes stay. */
  dropRejected(txId: number): Promise<void> {
    return this.write((t) => {
      if (this.state.queue.has(txId)) t.deleteQueued(txId);
    });
  }

  /** Moves the position to `seq` unless it is already there or beyond. */
  advanceSeq(seq: number): Promise<void> {
    return this.write((t) => {
      if (seq > t.meta(META.lastSeq)) {
        t.setMeta(META.lastSeq, BigInt(seq));
        t.settleUpTo(seq);
      }
    });
  }

  // Helpers below.

  private async changeLink(entityName: string, relationName: string, source: number, target: number, add: boolean): Promise<void> {
    const entity = this.entity(entityName);
    const relation = relationByName(entity, relationName);
    const targetEntity = this.model.entity(relation.targetId.id);
    if (!targetEntity) throw new StoreError(`relation ${entity.name}.${relation.name} targets entity #${relation.targetId.id}, which the model lacks`);
    await this.write((t) => {
      const key = linkKey(relation.id.id, source, target);
      const changed = add ? t.putLink(key) : t.deleteLink(key);
      if (changed) t.changes.put(entity.id.id, source);
      if (!changed || !isSyncEnabled(entity)) return;
      const op: Op = {
        kind: add ? 'RelAdd' : 'RelRemove',
        relation: relation.id.id,
        source: t.globalOf(entity, source),
        target: t.globalOf(targetEntity, target),
      };
      t.enqueue([op]);
    });
  }

  /**
   * Runs `body` on the in-memory state, then commits what it changed; on any failure the state
   * is restored and the write fails. Writes run strictly one after another.
   */
  write<R>(body: (t: Txn) => R): Promise<R> {
    if (this.closed) return Promise.reject(new StoreError('the store is closed'));
    const run = async (): Promise<R> => {
      const t = new Txn(this.state, this.model, this.peerId);
      let result: R;
      try {
        result = body(t);
      } catch (e) {
        t.rollback();
        throw e;
      }
      if (t.persisted.size > 0) {
        try {
          await this.adapter.commit(t.persisted);
        } catch (e) {
          t.rollback();
          throw new StoreError(`the local store could not commit a write: ${(e as Error).message ?? e}`);
        }
      }
      const changes = t.changes.finish(this.model);
      if (changes.length > 0) for (const l of [...this.changeListeners]) safeCall(() => l(changes));
      if (t.queueTouched) for (const l of [...this.queueListeners]) safeCall(l);
      return result;
    };
    const p = this.chain.then(run, run);
    this.chain = p.catch(() => undefined);
    return p;
  }
}

/** Collects per-entity puts and removes; the last change of an object wins. */
class ChangeSet {
  private byEntity = new Map<number, { puts: Set<number>; removes: Set<number> }>();

  put(entity: number, id: number): void {
    const e = this.of(entity);
    e.removes.delete(id);
    e.puts.add(id);
  }

  removed(entity: number, id: number): void {
    const e = this.of(entity);
    e.puts.delete(id);
    e.removes.add(id);
  }

  finish(model: Model): Change[] {
    return [...this.byEntity]
      .sort((a, b) => a[0] - b[0])
      .filter(([, c]) => c.puts.size > 0 || c.removes.size > 0)
      .map(([id, c]) => ({ entity: model.entity(id)?.name ?? String(id), puts: [...c.puts], removes: [...c.removes] }));
  }

  private of(entity: number) {
    let e = this.byEntity.get(entity);
    if (!e) this.byEntity.set(entity, (e = { puts: new Set(), removes: new Set() }));
    return e;
  }
}

/** One write: mutates the state, recording an undo log and the keys to persist. */
class Txn {
  readonly persisted = new Map<string, Uint8Array | null>();
  readonly changes = new ChangeSet();
  queueTouched = false;
  private undo: Array<() => void> = [];

  constructor(
    private s: State,
    private model: Model,
    private peerId: bigint,
  ) {}

  rollback(): void {
    for (let i = this.undo.length - 1; i >= 0; i--) this.undo[i]!();
    this.undo = [];
  }

  meta(name: string): number {
    return Number(this.s.meta.get(name) ?? 0n);
  }

  setMeta(name: string, value: bigint): void {
    const had = this.s.meta.get(name);
    this.s.meta.set(name, value);
    this.undo.push(() => (had === undefined ? this.s.meta.delete(name) : this.s.meta.set(name, had)));
    this.persisted.set(KEY.meta + name, packU64(value));
  }

  allocateId(entity: Entity): number {
    const next = this.nextId(entity);
    this.setNextId(entity, next + 1);
    return next;
  }

  reserveId(entity: Entity, id: number): void {
    if (id === 0) throw new StoreError(`object id 0 is not valid for ${entity.name}; ids start at 1`);
    if (id >= this.nextId(entity)) this.setNextId(entity, id + 1);
  }

  putObject(entity: Entity, id: number, props: Props): void {
    let objects = this.s.objects.get(entity.id.id);
    if (!objects) {
      objects = new Map();
      this.s.objects.set(entity.id.id, objects);
      const created = objects;
      this.undo.push(() => {
        if (created.size === 0) this.s.objects.delete(entity.id.id);
      });
    }
    const had = objects.get(id);
    objects.set(id, props);
    const map = objects;
    this.undo.push(() => (had === undefined ? map.delete(id) : map.set(id, had)));
    writeProps(SCRATCH.reset(), props);
    this.persisted.set(`${KEY.object}${entity.id.id}:${id}`, SCRATCH.finish());
  }

  /** Removes the object and the links it is the source of; returns whether it existed. */
  removeObject(entity: Entity, id: number): boolean {
    const objects = this.s.objects.get(entity.id.id);
    const had = objects?.get(id);
    if (objects && had !== undefined) {
      objects.delete(id);
      this.undo.push(() => objects.set(id, had));
      this.persisted.set(`${KEY.object}${entity.id.id}:${id}`, null);
    }
    for (const relation of entity.relations) {
      const prefix = `${KEY.link}${relation.id.id}:${id}:`;
      for (const key of [...this.s.links]) if (key.startsWith(prefix)) this.deleteLink(key);
    }
    return had !== undefined;
  }

  putLink(key: string): boolean {
    if (this.s.links.has(key)) return false;
    this.s.links.add(key);
    this.undo.push(() => this.s.links.delete(key));
    this.persisted.set(key, EMPTY);
    return true;
  }

  deleteLink(key: string): boolean {
    if (!this.s.links.delete(key)) return false;
    this.undo.push(() => this.s.links.add(key));
    this.persisted.set(key, null);
    return true;
  }

  globalOf(entity: Entity, id: number): GlobalId {
    return globalOf(this.s, this.peerId, entity, id);
  }

  /** The local id of a global id, allocating one (and a mapping) if it is new and `allocate` is set. */
  localOf(entity: Entity, gid: GlobalId, allocate: boolean): number | undefined {
    const [peer, local] = gid;
    if ((hasSharedGlobalIds(entity) && peer === 0n) || peer === this.peerId) {
      if (local > BigInt(Number.MAX_SAFE_INTEGER)) throw new StoreError(`${entity.name} id ${local} is above this client's limit of 2^53-1`);
      if (allocate) this.reserveId(entity, Number(local));
      return Number(local);
    }
    const known = this.s.globalToLocal.get(entity.id.id)?.get(peer)?.get(local);
    if (known !== undefined) return known;
    if (!allocate) return undefined;
    const id = this.allocateId(entity);
    mapGlobal(this.s, entity.id.id, gid, id);
    this.undo.push(() => {
      this.s.globalToLocal.get(entity.id.id)?.get(peer)?.delete(local);
      this.s.localToGlobal.get(entity.id.id)?.delete(id);
    });
    this.persisted.set(`${KEY.globalToLocal}${entity.id.id}:${peer}:${local}`, packU64(BigInt(id)));
    return id;
  }

  /** Local values to wire values: to-one relations become the target's global id. */
  propsToWire(entity: Entity, props: Props): Props {
    return props.map(([pid, value]) => {
      const target = relationTarget(this.model, propertyById(entity, pid));
      if (!target) return [pid, value];
      if (typeof value === 'bigint' && value !== 0n) {
        const [peer, local] = this.globalOf(target, Number(value));
        return [pid, [BigInt.asIntN(64, peer), BigInt.asIntN(64, local)]];
      }
      return [pid, null];
    });
  }

  /** Wire values to local values: relation targets become local ids (allocated if new); unknown properties are dropped. */
  propsFromWire(entity: Entity, props: Props): Props {
    const out: Props = [];
    for (const [pid, value] of props) {
      const property = propertyById(entity, pid);
      if (!property || (property.flags & 1) !== 0) continue;
      const target = relationTarget(this.model, property);
      if (!target) {
        out.push([pid, value]);
        continue;
      }
      const gid = valueGid(value);
      const local = gid && this.localOf(target, gid, true);
      out.push([pid, local === undefined ? null : BigInt(local)]);
    }
    return out;
  }

  /** The next sync clock for a local put of `id`: above every clock issued or seen, at least the wall clock. */
  tickClock(entity: Entity, clockPid: number, id: number): bigint {
    const current = this.s.objects.get(entity.id.id)?.get(id);
    const currentClock = current ? clockOf(current, clockPid) : 0n;
    const last = this.s.meta.get(META.syncClock) ?? 0n;
    let next = BigInt(Date.now()) << SYNC_CLOCK_LOGICAL_BITS;
    if (last + 1n > next) next = last + 1n;
    if (currentClock + 1n > next) next = currentClock + 1n;
    this.setMeta(META.syncClock, next);
    return next;
  }

  observeClock(value: bigint): void {
    if (value > (this.s.meta.get(META.syncClock) ?? 0n)) this.setMeta(META.syncClock, value);
  }

  /** Appends a transaction to the queue and returns its tx id. */
  enqueue(ops: Op[]): number {
    const txId = Number(this.s.meta.get(META.nextTxId) ?? 1n);
    this.setMeta(META.nextTxId, BigInt(txId + 1));
    const frame = encodeClient({ type: 'ApplyTx', txId, ops });
    this.s.queue.set(txId, { frame, ops });
    this.undo.push(() => this.s.queue.delete(txId));
    this.persisted.set(KEY.queue + pad(txId), frame);
    this.queueTouched = true;
    return txId;
  }

  deleteQueued(txId: number): void {
    const had = this.s.queue.get(txId);
    if (!had) return;
    this.s.queue.delete(txId);
    this.undo.push(() => {
      // Restore in tx id order.
      this.s.queue.set(txId, had);
      this.s.queue = new Map([...this.s.queue].sort((a, b) => a[0] - b[0]));
    });
    this.persisted.set(KEY.queue + pad(txId), null);
    this.queueTouched = true;
  }

  putSettling(txId: number, tx: SettlingTx): void {
    const had = this.s.settling.get(txId);
    this.s.settling.set(txId, tx);
    this.undo.push(() => (had === undefined ? this.s.settling.delete(txId) : this.s.settling.set(txId, had)));
    const w = new Writer(tx.frame.length + 16);
    w.arrayHeader(2);
    w.uint(tx.seq);
    w.bin(tx.frame);
    this.persisted.set(KEY.settling + pad(txId), w.finish());
  }

  deleteSettling(txId: number): void {
    const had = this.s.settling.get(txId);
    if (!had) return;
    this.s.settling.delete(txId);
    this.undo.push(() => this.s.settling.set(txId, had));
    this.persisted.set(KEY.settling + pad(txId), null);
  }

  /** Drops every queued and settling transaction up to `txId`: the server has it (12.6 rule 4, 13.4). */
  dropAcknowledged(txId: number): void {
    for (const id of this.s.queue.keys()) {
      if (id > txId) break;
      this.deleteQueued(id);
    }
    for (const id of [...this.s.settling.keys()]) if (id <= txId) this.deleteSettling(id);
    if (txId > this.meta(META.lastAckedTxId)) this.setMeta(META.lastAckedTxId, BigInt(txId));
  }

  /** Forgets settling transactions the stream has reached (settle seq at or below `seq`). */
  settleUpTo(seq: number): void {
    for (const [id, tx] of [...this.s.settling]) if (tx.seq <= seq) this.deleteSettling(id);
  }

  /** Objects that queued transactions change (`entity:peer:local`). */
  pendingObjects(): Set<string> {
    const out = new Set<string>();
    for (const tx of this.s.queue.values()) for (const op of tx.ops) addObject(out, op);
    return out;
  }

  /** Objects an entry committed at `seq` must not touch: queued ones and settling ones committed after `seq`. */
  pendingObjectsAt(seq: number, queued: Set<string> = this.pendingObjects()): Set<string> {
    let out = queued;
    for (const tx of this.s.settling.values()) {
      if (tx.seq <= seq) continue;
      if (out === queued) out = new Set(queued);
      for (const op of tx.ops) addObject(out, op);
    }
    return out;
  }

  /** The full-sync mark of what `op` delivered (after `applyOp` allocated its ids). */
  deliveredKey(op: Op): string | undefined {
    if (op.kind === 'Put') {
      const entity = this.model.entity(op.entity);
      if (!entity || !isSyncEnabled(entity)) return undefined;
      const local = this.localOf(entity, op.id, false);
      return local === undefined ? undefined : `${KEY.object}${entity.id.id}:${local}`;
    }
    if (op.kind === 'RelAdd') {
      const found = linkRelation(this.model, op.relation);
      if (!found) return undefined;
      const source = this.localOf(found.entity, op.source, false) ?? 0;
      const target = this.localOf(found.target, op.target, false) ?? 0;
      return linkKey(op.relation, source, target);
    }
    return undefined;
  }

  /** Removes synced objects and links the full sync did not deliver, except objects protected at `seq`. */
  removeUndelivered(seq: number, seen: Set<string>): void {
    const pending = this.pendingObjectsAt(seq);
    for (const entity of this.model.syncEntities()) {
      const objects = this.s.objects.get(entity.id.id);
      for (const id of objects ? [...objects.keys()] : []) {
        if (seen.has(`${KEY.object}${entity.id.id}:${id}`)) continue;
        const [peer, local] = this.globalOf(entity, id);
        if (pending.has(`${entity.id.id}:${peer}:${local}`)) continue;
        if (this.removeObject(entity, id)) this.changes.removed(entity.id.id, id);
      }
      for (const relation of entity.relations) {
        const prefix = `${KEY.link}${relation.id.id}:`;
        for (const key of [...this.s.links]) if (key.startsWith(prefix) && !seen.has(key)) this.deleteLink(key);
      }
    }
  }

  /** Applies the queued transactions' ops again (all, or only those changing an object in `only`). */
  reapplyQueue(only: Set<string> | undefined): void {
    for (const tx of [...this.s.queue.values()]) {
      for (const op of tx.ops) {
        const object = opObject(op);
        if (only === undefined || (object !== undefined && only.has(object))) this.applyOp(op, undefined);
      }
    }
  }

  /** Applies one op received from the server, skipping unknown entities and objects in `skip`. */
  applyOp(op: Op, skip: Set<string> | undefined): void {
    if (skip && skip.size > 0) {
      const object = opObject(op);
      if (object && skip.has(object)) return;
    }
    switch (op.kind) {
      case 'Put': {
        const entity = this.model.entity(op.entity);
        if (!entity || !isSyncEnabled(entity)) return;
        const local = this.localOf(entity, op.id, true)!;
        const props = this.propsFromWire(entity, op.props);
        const clock = syncClockProperty(entity);
        if (clock) this.observeClock(clockOf(props, clock.id.id));
        this.putObject(entity, local, props);
        this.changes.put(entity.id.id, local);
        return;
      }
      case 'Remove': {
        const entity = this.model.entity(op.entity);
        if (!entity || !isSyncEnabled(entity)) return;
        const local = this.localOf(entity, op.id, false);
        if (local !== undefined && this.removeObject(entity, local)) this.changes.removed(entity.id.id, local);
        return;
      }
      case 'RelAdd':
      case 'RelRemove': {
        const found = linkRelation(this.model, op.relation);
        if (!found) return;
        const source = this.localOf(found.entity, op.source, true) ?? 0;
        const target = this.localOf(found.target, op.target, true) ?? 0;
        const key = linkKey(op.relation, source, target);
        // A link change counts as a change of its source object, for listeners and live queries.
        if (op.kind === 'RelAdd' ? this.putLink(key) : this.deleteLink(key)) this.changes.put(found.entity.id.id, source);
        return;
      }
    }
  }

  private nextId(entity: Entity): number {
    return this.s.nextIds.get(entity.id.id) ?? 1;
  }

  private setNextId(entity: Entity, next: number): void {
    const had = this.s.nextIds.get(entity.id.id);
    this.s.nextIds.set(entity.id.id, next);
    this.undo.push(() => (had === undefined ? this.s.nextIds.delete(entity.id.id) : this.s.nextIds.set(entity.id.id, had)));
    this.persisted.set(`${KEY.nextId}${entity.id.id}`, packU64(BigInt(next)));
  }
}

const EMPTY = new Uint8Array(0);
/** A reusable encoder for stored values; `finish()` copies, so reuse is safe. */
const SCRATCH = new Writer(1024);

function loadEntry(s: State, key: string, value: Uint8Array): void {
  const fail = (why: string): never => {
    throw new StoreError(`stored value under "${key}" is corrupt: ${why}`);
  };
  try {
    if (key.startsWith(KEY.meta)) s.meta.set(key.slice(2), unpackU64(value));
    else if (key.startsWith(KEY.object)) {
      const [entity, id] = key.slice(2).split(':').map(Number);
      let objects = s.objects.get(entity!);
      if (!objects) s.objects.set(entity!, (objects = new Map()));
      objects.set(id!, readProps(decodeExact(value), key));
    } else if (key.startsWith(KEY.nextId)) s.nextIds.set(Number(key.slice(2)), Number(unpackU64(value)));
    else if (key.startsWith(KEY.globalToLocal)) {
      const [entity, peer, local] = key.slice(2).split(':');
      mapGlobal(s, Number(entity), [BigInt(peer!), BigInt(local!)], Number(unpackU64(value)));
    } else if (key.startsWith(KEY.link)) s.links.add(key);
    else if (key.startsWith(KEY.queue)) s.queue.set(Number(key.slice(2)), queued(value));
    else if (key.startsWith(KEY.settling)) {
      const packed = decodeExact(value);
      if (!Array.isArray(packed) || typeof packed[0] !== 'bigint' || !(packed[1] instanceof Uint8Array)) fail('expected [seq, frame]');
      const arr = packed as [bigint, Uint8Array];
      s.settling.set(Number(key.slice(2)), { seq: Number(arr[0]), ...queued(arr[1]) });
    }
    // Unknown keys are left alone (written by a newer layout of the same format).
  } catch (e) {
    if (e instanceof StoreError) throw e;
    fail((e as Error).message);
  }
}

function queued(frame: Uint8Array): QueuedTx {
  const message = decodeClient(frame);
  if (message.type !== 'ApplyTx') throw new StoreError(`a queued frame is ${message.type}, not ApplyTx`);
  return { frame, ops: message.ops };
}

function globalOf(s: State, peerId: bigint, entity: Entity, id: number): GlobalId {
  if (hasSharedGlobalIds(entity)) return [0n, BigInt(id)];
  return s.localToGlobal.get(entity.id.id)?.get(id) ?? [peerId, BigInt(id)];
}

function mapGlobal(s: State, entity: number, gid: GlobalId, id: number): void {
  let byPeer = s.globalToLocal.get(entity);
  if (!byPeer) s.globalToLocal.set(entity, (byPeer = new Map()));
  let byLocal = byPeer.get(gid[0]);
  if (!byLocal) byPeer.set(gid[0], (byLocal = new Map()));
  byLocal.set(gid[1], id);
  let reverse = s.localToGlobal.get(entity);
  if (!reverse) s.localToGlobal.set(entity, (reverse = new Map()));
  reverse.set(id, gid);
}

function relationByName(entity: Entity, name: string) {
  const relation = entity.relations.find((r) => sameName(r.name, name));
  if (!relation) throw new StoreError(`entity ${entity.name} has no standalone relation "${name}"`);
  return relation;
}

function relationTarget(model: Model, property: Property | undefined): Entity | undefined {
  if (!property || property.type !== PropertyType.Relation || property.relationTarget === undefined) return undefined;
  return model.entityByName(property.relationTarget);
}

/** The sync-enabled entity owning standalone relation `id`, and the relation's target entity. */
function linkRelation(model: Model, id: number): { entity: Entity; target: Entity } | undefined {
  for (const entity of model.syncEntities()) {
    const relation = entity.relations.find((r) => r.id.id === id);
    if (!relation) continue;
    const target = model.entity(relation.targetId.id);
    if (target) return { entity, target };
  }
  return undefined;
}

function linkKey(relation: number, source: number, target: number): string {
  return `${KEY.link}${relation}:${source}:${target}`;
}

/** The `entity:peer:local` a Put or Remove changes. */
function opObject(op: Op): string | undefined {
  return op.kind === 'Put' || op.kind === 'Remove' ? `${op.entity}:${op.id[0]}:${op.id[1]}` : undefined;
}

function addObject(set: Set<string>, op: Op): void {
  const key = opObject(op);
  if (key) set.add(key);
}

/** A relation value as a global id; `undefined` for null or anything malformed. */
function valueGid(value: Value): GlobalId | undefined {
  if (!Array.isArray(value) || value.length !== 2) return undefined;
  const [peer, local] = value;
  if (typeof peer !== 'bigint' || typeof local !== 'bigint' || local === 0n) return undefined;
  return [BigInt.asUintN(64, peer), BigInt.asUintN(64, local)];
}

function clockOf(props: Props, pid: number): bigint {
  const pair = props.find(([p]) => p === pid);
  return pair && typeof pair[1] === 'bigint' ? BigInt.asUintN(64, pair[1]) : 0n;
}

function setProp(props: Props, pid: number, value: bigint): void {
  const pair = props.find(([p]) => p === pid);
  const v = BigInt.asIntN(64, value);
  if (pair) pair[1] = v;
  else props.push([pid, v]);
}

const U64_SCRATCH = new Writer(16);

function packU64(v: bigint): Uint8Array {
  U64_SCRATCH.reset().uint(v);
  return U64_SCRATCH.finish();
}

function unpackU64(bytes: Uint8Array): bigint {
  const v = decodeExact(bytes);
  if (typeof v !== 'bigint') throw new StoreError(`expected an integer, found ${typeof v}`);
  return v;
}

function pad(txId: number): string {
  return String(txId).padStart(16, '0');
}

function randomPeerId(): bigint {
  const bytes = new Uint8Array(8);
  for (;;) {
    globalThis.crypto.getRandomValues(bytes);
    const id = new DataView(bytes.buffer).getBigUint64(0);
    if (id !== 0n) return id;
  }
}

function safeCall(f: () => void): void {
  try {
    f();
  } catch (e) {
    // A listener's failure must not break the store; report it where the app can see it.
    queueMicrotask(() => {
      throw e;
    });
  }
}
