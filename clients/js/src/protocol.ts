// The sync protocol's messages, operations and values, and their MessagePack frames (docs/protocol.md sections 4-8).
//
// Message flow, from the client's side:
// - The server sends `Hello` (versions, nonce, time); the client answers `Login`.
// - `LoginResult` 20 admits the client; any other code ends the connection.
// - The client sends its queue as `ApplyTx` messages, pipelined; each gets `Ack` or `TxRejected`.
// - Catch-up arrives as `Push` entries (delta) or `FullSyncBegin`, `FullSyncChunk`…, `FullSyncEnd`,
//   then `SyncComplete`; live `Push` messages follow in mode `Auto`.
// - Both sides send `Heartbeat` when silent; `Error` precedes a close by the server.
//
// Encoding follows the Rust encoder byte for byte (rmp_serde `to_vec_named`): a message is a
// one-entry map from its name to a map of its fields, a unit variant is a bare string.

import { DecodeError, type Packed, PackedMap, Writer, decode } from './msgpack.js';

/** The protocol version this client speaks. */
export const PROTOCOL_VERSION = 1;
/** Send a heartbeat after this long without sending anything. */
export const HEARTBEAT_INTERVAL_MS = 15_000;
/** Consider the connection dead after this long without receiving anything. */
export const IDLE_TIMEOUT_MS = 45_000;
/** The server's default limit on incoming messages; clients accept at least this much. */
export const DEFAULT_MAX_MESSAGE_SIZE = 32 * 1024 * 1024;

/** An object's id across peers: `[peer, local]` (docs/protocol.md 5.3). */
export type GlobalId = readonly [peer: bigint, local: bigint];

/** A property value: the protocol's `Value` kinds. `bigint` is `Int` (i64), `number` is `Float`. */
export type Value = null | boolean | bigint | number | string | Uint8Array | Value[] | ValueMap;

/** A `Value::Map`: string keys, in order. */
export class ValueMap {
  constructor(readonly entries: Array<[string, Value]>) {}
}

/** `[property id, value]` pairs without the ID property. */
export type Props = Array<[number, Value]>;

/** One operation of a transaction (docs/protocol.md section 7). */
export type Op =
  | { kind: 'Put'; entity: number; id: GlobalId; props: Props }
  | { kind: 'Remove'; entity: number; id: GlobalId }
  | { kind: 'RelAdd' | 'RelRemove'; relation: number; source: GlobalId; target: GlobalId };

/** What a client presents at login (docs/protocol.md 8.1). */
export type Credential =
  | { kind: 'None' }
  | { kind: 'SharedSecret'; hmac: Uint8Array }
  | { kind: 'Jwt'; jwtKind: JwtKind; token: string }
  | { kind: 'UserPassword'; user: string; password: string };

export type JwtKind = 'Id' | 'Access' | 'Refresh' | 'Custom';
export type RequestUpdatesMode = 'Manual' | 'Auto' | 'AutoNoPushes';

export interface Login {
  protocolVersion: number;
  peerId: bigint;
  credentials: Credential[];
  schemaFullHash: string;
  schemaBaseHash: string;
  lastSeq: number;
  mode: RequestUpdatesMode;
  lastTxId: number;
}

export type ClientMessage =
  | ({ type: 'Login' } & Login)
  | { type: 'ApplyTx'; txId: number; ops: Op[] }
  | { type: 'RequestUpdates'; subscribe: boolean }
  | { type: 'CancelUpdates' }
  | { type: 'Heartbeat'; timeMs: number };

/** One committed transaction in a `Push`. */
export interface TxEntry {
  seq: number;
  origin: bigint;
  timeMs: number;
  ops: Op[];
  txId: number;
}

export type ServerMessage =
  | { type: 'Hello'; minVersion: number; maxVersion: number; nonce: Uint8Array; serverTimeMs: number }
  | {
      type: 'LoginResult';
      code: number;
      message: string;
      serverTimeMs: number;
      schemaVersion: number;
      headSeq: number;
    }
  | { type: 'Ack'; txId: number; seq: number; corrections: Op[] }
  | { type: 'TxRejected'; txId: number; code: number; message: string }
  | { type: 'Push'; txs: TxEntry[] }
  | { type: 'FullSyncBegin'; seq: number; ackedTxId: number }
  | { type: 'FullSyncChunk'; ops: Op[] }
  | { type: 'FullSyncEnd'; seq: number }
  | { type: 'SyncComplete'; seq: number }
  | { type: 'Heartbeat'; timeMs: number }
  | { type: 'Error'; code: number; message: string };

/** Login result codes (docs/protocol.md 10.2). */
export const LoginCode = {
  OK: 20,
  REQ_REJECTED: 40,
  CREDENTIALS_REJECTED: 43,
  UNKNOWN: 50,
  AUTH_UNREACHABLE: 53,
  BAD_VERSION: 55,
  UNSUPPORTED_DATA_MODEL: 57,
  CLIENT_ID_TAKEN: 61,
  TRIAL_EXPIRED: 65,
} as const;

/** Transaction error codes (docs/protocol.md 12.3). */
export const TxErrorCode = {
  NO_PERMISSION: 1,
  UNKNOWN_ENTITY: 2,
  UNKNOWN_PROPERTY: 3,
  WRONG_TYPE: 4,
  UNKNOWN_RELATION: 5,
  STORAGE_FULL: 6,
  INVALID: 7,
  TOO_LARGE: 8,
  VIOLATED_UNIQUE: 71,
} as const;

/** Protocol error codes (docs/protocol.md 16.1). */
export const ErrorCode = {
  MALFORMED: 1,
  UNEXPECTED_MESSAGE: 2,
  TOO_LARGE: 3,
  IDLE_TIMEOUT: 4,
  TOO_SLOW: 5,
  SHUTTING_DOWN: 6,
  INTERNAL: 7,
} as const;

/** The name of a known code in `table`, or `undefined` for codes from newer peers. */
export function codeName(table: Record<string, number>, code: number): string | undefined {
  for (const [name, value] of Object.entries(table)) if (value === code) return name;
  return undefined;
}

/** Encodes a client message as one frame. */
export function encodeClient(message: ClientMessage): Uint8Array {
  const w = new Writer();
  switch (message.type) {
    case 'Login':
      w.mapHeader(1);
      w.str('Login');
      w.mapHeader(8);
      w.str('protocol_version');
      w.uint(message.protocolVersion);
      w.str('peer_id');
      w.uint(message.peerId);
      w.str('credentials');
      w.arrayHeader(message.credentials.length);
      for (const c of message.credentials) writeCredential(w, c);
      w.str('schema_full_hash');
      w.str(message.schemaFullHash);
      w.str('schema_base_hash');
      w.str(message.schemaBaseHash);
      w.str('last_seq');
      w.uint(message.lastSeq);
      w.str('mode');
      w.str(message.mode);
      w.str('last_tx_id');
      w.uint(message.lastTxId);
      break;
    case 'ApplyTx':
      w.mapHeader(1);
      w.str('ApplyTx');
      w.mapHeader(2);
      w.str('tx_id');
      w.uint(message.txId);
      w.str('ops');
      writeOps(w, message.ops);
      break;
    case 'RequestUpdates':
      w.mapHeader(1);
      w.str('RequestUpdates');
      w.mapHeader(1);
      w.str('subscribe');
      w.bool(message.subscribe);
      break;
    case 'CancelUpdates':
      w.str('CancelUpdates');
      break;
    case 'Heartbeat':
      w.mapHeader(1);
      w.str('Heartbeat');
      w.mapHeader(1);
      w.str('time_ms');
      w.uint(message.timeMs);
      break;
  }
  return w.finish();
}

/** Encodes a server message (used by tests to build frames the way the server does). */
export function encodeServer(message: ServerMessage): Uint8Array {
  const w = new Writer();
  const fields = (name: string, n: number) => {
    w.mapHeader(1);
    w.str(name);
    w.mapHeader(n);
  };
  switch (message.type) {
    case 'Hello':
      fields('Hello', 4);
      w.str('min_version');
      w.uint(message.minVersion);
      w.str('max_version');
      w.uint(message.maxVersion);
      w.str('nonce');
      w.bin(message.nonce);
      w.str('server_time_ms');
      w.uint(message.serverTimeMs);
      break;
    case 'LoginResult':
      fields('LoginResult', 5);
      w.str('code');
      w.uint(message.code);
      w.str('message');
      w.str(message.message);
      w.str('server_time_ms');
      w.uint(message.serverTimeMs);
      w.str('schema_version');
      w.uint(message.schemaVersion);
      w.str('head_seq');
      w.uint(message.headSeq);
      break;
    case 'Ack':
      fields('Ack', 3);
      w.str('tx_id');
      w.uint(message.txId);
      w.str('seq');
      w.uint(message.seq);
      w.str('corrections');
      writeOps(w, message.corrections);
      break;
    case 'TxRejected':
      fields('TxRejected', 3);
      w.str('tx_id');
      w.uint(message.txId);
      w.str('code');
      w.uint(message.code);
      w.str('message');
      w.str(message.message);
      break;
    case 'Push':
      fields('Push', 1);
      w.str('txs');
      w.arrayHeader(message.txs.length);
      for (const tx of message.txs) {
        w.mapHeader(5);
        w.str('seq');
        w.uint(tx.seq);
        w.str('origin');
        w.uint(tx.origin);
        w.str('time_ms');
        w.uint(tx.timeMs);
        w.str('ops');
        writeOps(w, tx.ops);
        w.str('tx_id');
        w.uint(tx.txId);
      }
      break;
    case 'FullSyncBegin':
      fields('FullSyncBegin', 2);
      w.str('seq');
      w.uint(message.seq);
      w.str('acked_tx_id');
      w.uint(message.ackedTxId);
      break;
    case 'FullSyncChunk':
      fields('FullSyncChunk', 1);
      w.str('ops');
      writeOps(w, message.ops);
      break;
    case 'FullSyncEnd':
    case 'SyncComplete':
      fields(message.type, 1);
      w.str('seq');
      w.uint(message.seq);
      break;
    case 'Heartbeat':
      fields('Heartbeat', 1);
      w.str('time_ms');
      w.uint(message.timeMs);
      break;
    case 'Error':
      fields('Error', 2);
      w.str('code');
      w.uint(message.code);
      w.str('message');
      w.str(message.message);
      break;
  }
  return w.finish();
}

/** Decodes one frame from the server; throws `DecodeError` naming what is wrong. */
export function decodeServer(frame: Uint8Array): ServerMessage {
  const [name, body] = envelope(decode(frame), 'server message');
  const f = new Fields(body, name);
  switch (name) {
    case 'Hello':
      return {
        type: 'Hello',
        minVersion: f.u32('min_version'),
        maxVersion: f.u32('max_version'),
        nonce: f.bin('nonce'),
        serverTimeMs: f.u53('server_time_ms'),
      };
    case 'LoginResult':
      return {
        type: 'LoginResult',
        code: f.u32('code'),
        message: f.str('message'),
        serverTimeMs: f.u53('server_time_ms'),
        schemaVersion: f.u53('schema_version'),
        headSeq: f.u53('head_seq'),
      };
    case 'Ack':
      return {
        type: 'Ack',
        txId: f.u53('tx_id'),
        seq: f.u53('seq'),
        corrections: f.ops('corrections'),
      };
    case 'TxRejected':
      return { type: 'TxRejected', txId: f.u53('tx_id'), code: f.u32('code'), message: f.str('message') };
    case 'Push': {
      const txs = f.array('txs').map((item, i) => {
        const e = new Fields(item, `Push.txs[${i}]`);
        return {
          seq: f.checkU53(e.u64('seq'), `Push.txs[${i}].seq`),
          origin: e.u64('origin'),
          timeMs: e.u53('time_ms'),
          ops: e.ops('ops'),
          txId: e.has('tx_id') ? e.u53('tx_id') : 0,
        };
      });
      return { type: 'Push', txs };
    }
    case 'FullSyncBegin':
      return {
        type: 'FullSyncBegin',
        seq: f.u53('seq'),
        ackedTxId: f.has('acked_tx_id') ? f.u53('acked_tx_id') : 0,
      };
    case 'FullSyncChunk':
      return { type: 'FullSyncChunk', ops: f.ops('ops') };
    case 'FullSyncEnd':
      return { type: 'FullSyncEnd', seq: f.u53('seq') };
    case 'SyncComplete':
      return { type: 'SyncComplete', seq: f.u53('seq') };
    case 'Heartbeat':
      return { type: 'Heartbeat', timeMs: f.u53('time_ms') };
    case 'Error':
      return { type: 'Error', code: f.u32('code'), message: f.str('message') };
    default:
      throw new DecodeError(`unknown server message "${name}"`);
  }
}

/** Decodes a client frame (the store keeps queued transactions as their frames). */
export function decodeClient(frame: Uint8Array): ClientMessage {
  const [name, body] = envelope(decode(frame), 'client message');
  const f = new Fields(body, name);
  switch (name) {
    case 'ApplyTx':
      return { type: 'ApplyTx', txId: f.u53('tx_id'), ops: f.ops('ops') };
    case 'CancelUpdates':
      return { type: 'CancelUpdates' };
    case 'RequestUpdates':
      return { type: 'RequestUpdates', subscribe: f.bool('subscribe') };
    case 'Heartbeat':
      return { type: 'Heartbeat', timeMs: f.u53('time_ms') };
    case 'Login':
      return {
        type: 'Login',
        protocolVersion: f.u32('protocol_version'),
        peerId: f.u64('peer_id'),
        credentials: f.array('credentials').map((c, i) => readCredential(c, `Login.credentials[${i}]`)),
        schemaFullHash: f.str('schema_full_hash'),
        schemaBaseHash: f.str('schema_base_hash'),
        lastSeq: f.u53('last_seq'),
        mode: f.variant('mode', ['Manual', 'Auto', 'AutoNoPushes']) as RequestUpdatesMode,
        lastTxId: f.u53('last_tx_id'),
      };
    default:
      throw new DecodeError(`unknown client message "${name}"`);
  }
}

/** Writes `props` as an array of `[id, value]` pairs. */
export function writeProps(w: Writer, props: Props): void {
  w.arrayHeader(props.length);
  for (const [pid, value] of props) {
    w.arrayHeader(2);
    w.uint(pid);
    writeValue(w, value);
  }
}

/** Reads `props` from a decoded array of pairs. */
export function readProps(packed: Packed, path: string): Props {
  if (!Array.isArray(packed)) throw new DecodeError(`${path}: expected an array of [id, value] pairs, found ${kind(packed)}`);
  return packed.map((pair, i) => {
    if (!Array.isArray(pair) || pair.length !== 2) {
      throw new DecodeError(`${path}[${i}]: expected a [property id, value] pair, found ${kind(pair)}`);
    }
    return [toU32(pair[0]!, `${path}[${i}][0]`), readValue(pair[1]!, `${path}[${i}][1]`)] as [number, Value];
  });
}

/** Writes one value in its canonical form (docs/protocol.md section 6). */
export function writeValue(w: Writer, value: Value): void {
  if (value === null) w.nil();
  else if (typeof value === 'boolean') w.bool(value);
  else if (typeof value === 'bigint') w.int(BigInt.asIntN(64, value));
  else if (typeof value === 'number') w.float64(value);
  else if (typeof value === 'string') w.str(value);
  else if (value instanceof Uint8Array) w.bin(value);
  else if (Array.isArray(value)) {
    w.arrayHeader(value.length);
    for (const item of value) writeValue(w, item);
  } else if (value instanceof ValueMap) {
    w.mapHeader(value.entries.length);
    for (const [k, v] of value.entries) {
      w.str(k);
      writeValue(w, v);
    }
  } else {
    throw new TypeError(`not a protocol value: ${String(value)}`);
  }
}

/** Converts a decoded MessagePack value to a protocol value. */
export function readValue(packed: Packed, path: string): Value {
  if (typeof packed === 'bigint') {
    // A uint 64 above i64::MAX is read as its two's-complement i64 (section 6).
    return BigInt.asIntN(64, packed);
  }
  if (Array.isArray(packed)) return packed.map((item, i) => readValue(item, `${path}[${i}]`));
  if (packed instanceof PackedMap) {
    return new ValueMap(
      packed.entries.map(([k, v]) => {
        if (typeof k !== 'string') throw new DecodeError(`${path}: map key ${kind(k)} is not a string`);
        return [k, readValue(v, `${path}.${k}`)];
      }),
    );
  }
  return packed;
}

// Helpers below.

function writeCredential(w: Writer, c: Credential): void {
  switch (c.kind) {
    case 'None':
      w.str('None');
      break;
    case 'SharedSecret':
      w.mapHeader(1);
      w.str('SharedSecret');
      w.mapHeader(1);
      w.str('hmac');
      w.bin(c.hmac);
      break;
    case 'Jwt':
      w.mapHeader(1);
      w.str('Jwt');
      w.mapHeader(2);
      w.str('kind');
      w.str(c.jwtKind);
      w.str('token');
      w.str(c.token);
      break;
    case 'UserPassword':
      w.mapHeader(1);
      w.str('UserPassword');
      w.mapHeader(2);
      w.str('user');
      w.str(c.user);
      w.str('password');
      w.str(c.password);
      break;
  }
}

function readCredential(packed: Packed, path: string): Credential {
  const [name, body] = envelope(packed, path);
  const f = new Fields(body, path);
  switch (name) {
    case 'None':
      return { kind: 'None' };
    case 'SharedSecret':
      return { kind: 'SharedSecret', hmac: f.bin('hmac') };
    case 'Jwt':
      return { kind: 'Jwt', jwtKind: f.variant('kind', ['Id', 'Access', 'Refresh', 'Custom']) as JwtKind, token: f.str('token') };
    case 'UserPassword':
      return { kind: 'UserPassword', user: f.str('user'), password: f.str('password') };
    default:
      throw new DecodeError(`${path}: unknown credential "${name}"`);
  }
}

function writeGid(w: Writer, id: GlobalId): void {
  w.arrayHeader(2);
  w.uint(id[0]);
  w.uint(id[1]);
}

export function writeOps(w: Writer, ops: Op[]): void {
  w.arrayHeader(ops.length);
  for (const op of ops) {
    w.mapHeader(1);
    w.str(op.kind);
    switch (op.kind) {
      case 'Put':
        w.mapHeader(3);
        w.str('entity');
        w.uint(op.entity);
        w.str('id');
        writeGid(w, op.id);
        w.str('props');
        writeProps(w, op.props);
        break;
      case 'Remove':
        w.mapHeader(2);
        w.str('entity');
        w.uint(op.entity);
        w.str('id');
        writeGid(w, op.id);
        break;
      case 'RelAdd':
      case 'RelRemove':
        w.mapHeader(3);
        w.str('relation');
        w.uint(op.relation);
        w.str('source');
        writeGid(w, op.source);
        w.str('target');
        writeGid(w, op.target);
        break;
    }
  }
}

function readOp(packed: Packed, path: string): Op {
  const [name, body] = envelope(packed, path);
  const f = new Fields(body, `${path}.${name}`);
  switch (name) {
    case 'Put':
      return { kind: 'Put', entity: f.u32('entity'), id: f.gid('id'), props: readProps(f.get('props'), `${path}.Put.props`) };
    case 'Remove':
      return { kind: 'Remove', entity: f.u32('entity'), id: f.gid('id') };
    case 'RelAdd':
    case 'RelRemove':
      return { kind: name, relation: f.u32('relation'), source: f.gid('source'), target: f.gid('target') };
    default:
      throw new DecodeError(`${path}: unknown operation "${name}"`);
  }
}

/** Splits an externally tagged enum value into its variant name and body. */
function envelope(packed: Packed, what: string): [string, Packed | undefined] {
  if (typeof packed === 'string') return [packed, undefined];
  if (packed instanceof PackedMap && packed.size === 1) {
    const k = packed.flat[0]!;
    if (typeof k === 'string') return [k, packed.flat[1]!];
  }
  throw new DecodeError(`${what}: expected a one-entry map from a name, or a name, found ${kind(packed)}`);
}

/** Typed access to the fields of a decoded struct, with errors naming the field. */
class Fields {
  private map: PackedMap | undefined;

  constructor(
    body: Packed | undefined,
    private path: string,
  ) {
    if (body === undefined) this.map = undefined;
    else if (body instanceof PackedMap) this.map = body;
    else throw new DecodeError(`${path}: expected a map of fields, found ${kind(body)}`);
  }

  has(name: string): boolean {
    return this.map?.get(name) !== undefined;
  }

  get(name: string): Packed {
    const v = this.map?.get(name);
    if (v === undefined) throw new DecodeError(`${this.path}: missing field ${name}`);
    return v;
  }

  u64(name: string): bigint {
    const v = this.get(name);
    if (typeof v !== 'bigint' || v < 0n || v >= 1n << 64n) {
      throw new DecodeError(`${this.path}.${name}: expected an unsigned integer, found ${kind(v)}`);
    }
    return v;
  }

  u53(name: string): number {
    return this.checkU53(this.u64(name), `${this.path}.${name}`);
  }

  checkU53(v: bigint, path: string): number {
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) {
      throw new DecodeError(`${path}: ${v} is above this client's limit of ${Number.MAX_SAFE_INTEGER}`);
    }
    return Number(v);
  }

  u32(name: string): number {
    return toU32(this.get(name), `${this.path}.${name}`);
  }

  str(name: string): string {
    const v = this.get(name);
    if (typeof v !== 'string') throw new DecodeError(`${this.path}.${name}: expected a string, found ${kind(v)}`);
    return v;
  }

  bool(name: string): boolean {
    const v = this.get(name);
    if (typeof v !== 'boolean') throw new DecodeError(`${this.path}.${name}: expected a bool, found ${kind(v)}`);
    return v;
  }

  bin(name: string): Uint8Array {
    const v = this.get(name);
    if (!(v instanceof Uint8Array)) throw new DecodeError(`${this.path}.${name}: expected bin, found ${kind(v)}`);
    return v;
  }

  array(name: string): Packed[] {
    const v = this.get(name);
    if (!Array.isArray(v)) throw new DecodeError(`${this.path}.${name}: expected an array, found ${kind(v)}`);
    return v;
  }

  variant(name: string, allowed: string[]): string {
    const v = this.str(name);
    if (!allowed.includes(v)) throw new DecodeError(`${this.path}.${name}: unknown variant "${v}"`);
    return v;
  }

  gid(name: string): GlobalId {
    const v = this.get(name);
    if (!Array.isArray(v) || v.length !== 2 || typeof v[0] !== 'bigint' || typeof v[1] !== 'bigint' || v[0] < 0n || v[1] < 0n) {
      throw new DecodeError(`${this.path}.${name}: expected a global id [peer, local], found ${kind(v)}`);
    }
    return [v[0], v[1]];
  }

  ops(name: string): Op[] {
    return this.array(name).map((op, i) => readOp(op, `${this.path}.${name}[${i}]`));
  }
}

function toU32(v: Packed, path: string): number {
  if (typeof v !== 'bigint' || v < 0n || v > 0xffffffffn) {
    throw new DecodeError(`${path}: expected an unsigned 32-bit integer, found ${kind(v)}`);
  }
  return Number(v);
}

/** A short description of a decoded value for error messages. */
function kind(v: Packed | undefined): string {
  if (v === undefined) return 'nothing';
  if (v === null) return 'nil';
  if (typeof v === 'bigint') return `integer ${v}`;
  if (typeof v === 'number') return `float ${v}`;
  if (typeof v === 'string') return `string ${JSON.stringify(v.length > 40 ? v.slice(0, 40) + '…' : v)}`;
  if (typeof v === 'boolean') return `bool ${v}`;
  if (v instanceof Uint8Array) return `bin of ${v.length} bytes`;
  if (Array.isArray(v)) return `array of ${v.length}`;
  return `map of ${v.size}`;
}
