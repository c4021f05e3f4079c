// MessagePack encoding and decoding in the canonical form the sync protocol uses (docs/protocol.md section 4).
//
// Decoded integers are always `bigint` and floats always `number`, so the protocol's `Int` and
// `Float` value kinds stay apart. The encoder writes the smallest integer format that holds a
// value (as rmp-serde does) and every `number` as float 64, so callers pass `bigint` for integers
// or use the explicit `uint`/`int` writers.

/** A decoded MessagePack value. Maps keep their key order and may have non-string keys. */
export type Packed =
  | null
  | boolean
  | bigint
  | number
  | string
  | Uint8Array
  | Packed[]
  | PackedMap;

/** A decoded MessagePack map: keys and values alternating, in the order they were read. */
export class PackedMap {
  constructor(readonly flat: Packed[]) {}

  /** How many entries the map has. */
  get size(): number {
    return this.flat.length / 2;
  }

  /** The entries as [key, value] pairs. */
  get entries(): Array<[Packed, Packed]> {
    const out: Array<[Packed, Packed]> = [];
    for (let i = 0; i < this.flat.length; i += 2) out.push([this.flat[i]!, this.flat[i + 1]!]);
    return out;
  }

  /** The value under string key `key`, or `undefined` (the first entry wins on duplicates). */
  get(key: string): Packed | undefined {
    const flat = this.flat;
    for (let i = 0; i < flat.length; i += 2) if (flat[i] === key) return flat[i + 1];
    return undefined;
  }
}

/** A frame or value that is not valid MessagePack, or not what the protocol expects. */
export class DecodeError extends Error {
  override name = 'DecodeError';
}

const MAX_DEPTH = 64;
/** BigInts of the fixint range, made once: most integers on the wire are small. */
const SMALL = Array.from({ length: 160 }, (_, i) => BigInt(i - 32));
const textEncoder = new TextEncoder();
const textDecoder = new TextDecoder('utf-8', { fatal: true });
const U64_MAX = (1n << 64n) - 1n;
const I64_MIN = -(1n << 63n);

/** Appends MessagePack tokens to a growing buffer. */
export class Writer {
  private buf: Uint8Array;
  private view: DataView;
  private len = 0;

  constructor(initial = 256) {
    this.buf = new Uint8Array(initial);
    this.view = new DataView(this.buf.buffer);
  }

  /** The bytes written so far (a copy). */
  finish(): Uint8Array {
    return this.buf.slice(0, this.len);
  }

  /** Forgets what was written, keeping the buffer for reuse. */
  reset(): this {
    this.len = 0;
    return this;
  }

  nil(): void {
    this.byte(0xc0);
  }

  bool(v: boolean): void {
    this.byte(v ? 0xc3 : 0xc2);
  }

  /** An unsigned integer in the smallest format; throws if it is negative or above u64. */
  uint(v: number | bigint): void {
    if (typeof v === 'number' && v >= 0 && v < 128 && Number.isInteger(v)) {
      this.byte(v);
      return;
    }
    const n = typeof v === 'bigint' ? v : toBigIntExact(v);
    if (n < 0n || n > U64_MAX) throw new RangeError(`${n} is not an unsigned 64-bit integer`);
    this.intBig(n);
  }

  /** A signed or unsigned integer in the smallest format (i64 range or u64 range). */
  int(v: number | bigint): void {
    if (typeof v === 'bigint' && v >= 0n && v < 128n) {
      this.byte(Number(v));
      return;
    }
    const n = typeof v === 'bigint' ? v : toBigIntExact(v);
    if (n < I64_MIN || n > U64_MAX) throw new RangeError(`${n} does not fit in 64 bits`);
    this.intBig(n);
  }

  /** A float 64, always (the protocol never sends float 32). */
  float64(v: number): void {
    this.ensure(9);
    this.buf[this.len] = 0xcb;
    this.view.setFloat64(this.len + 1, v);
    this.len += 9;
  }

  str(s: string): void {
    if (s.length < 32) {
      let ascii = true;
      for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) > 0x7f) ascii = false;
      if (ascii) {
        this.ensure(1 + s.length);
        this.buf[this.len++] = 0xa0 | s.length;
        for (let i = 0; i < s.length; i++) this.buf[this.len++] = s.charCodeAt(i);
        return;
      }
    }
    const bytes = textEncoder.encode(s);
    const n = bytes.length;
    if (n < 32) this.byte(0xa0 | n);
    else if (n < 0x100) this.bytes2(0xd9, n);
    else if (n < 0x10000) this.header16(0xda, n);
    else this.header32(0xdb, n);
    this.raw(bytes);
  }

  bin(bytes: Uint8Array): void {
    const n = bytes.length;
    if (n < 0x100) this.bytes2(0xc4, n);
    else if (n < 0x10000) this.header16(0xc5, n);
    else this.header32(0xc6, n);
    this.raw(bytes);
  }

  arrayHeader(n: number): void {
    if (n < 16) this.byte(0x90 | n);
    else if (n < 0x10000) this.header16(0xdc, n);
    else this.header32(0xdd, n);
  }

  mapHeader(n: number): void {
    if (n < 16) this.byte(0x80 | n);
    else if (n < 0x10000) this.header16(0xde, n);
    else this.header32(0xdf, n);
  }

  /** Already-encoded MessagePack bytes. */
  raw(bytes: Uint8Array): void {
    this.ensure(bytes.length);
    this.buf.set(bytes, this.len);
    this.len += bytes.length;
  }

  private intBig(n: bigint): void {
    if (n >= 0n) {
      if (n < 128n) this.byte(Number(n));
      else if (n < 0x100n) this.bytes2(0xcc, Number(n));
      else if (n < 0x10000n) this.header16(0xcd, Number(n));
      else if (n < 0x100000000n) this.header32(0xce, Number(n));
      else {
        this.ensure(9);
        this.buf[this.len] = 0xcf;
        this.view.setBigUint64(this.len + 1, n);
        this.len += 9;
      }
    } else if (n >= -32n) {
      this.byte(0x100 + Number(n));
    } else if (n >= -128n) {
      this.ensure(2);
      this.buf[this.len] = 0xd0;
      this.view.setInt8(this.len + 1, Number(n));
      this.len += 2;
    } else if (n >= -32768n) {
      this.ensure(3);
      this.buf[this.len] = 0xd1;
      this.view.setInt16(this.len + 1, Number(n));
      this.len += 3;
    } else if (n >= -2147483648n) {
      this.ensure(5);
      this.buf[this.len] = 0xd2;
      this.view.setInt32(this.len + 1, Number(n));
      this.len += 5;
    } else {
      this.ensure(9);
      this.buf[this.len] = 0xd3;
      this.view.setBigInt64(this.len + 1, n);
      this.len += 9;
    }
  }

  private byte(b: number): void {
    this.ensure(1);
    this.buf[this.len++] = b;
  }

  private bytes2(tag: number, b: number): void {
    this.ensure(2);
    this.buf[this.len++] = tag;
    this.buf[this.len++] = b;
  }

  private header16(tag: number, n: number): void {
    this.ensure(3);
    this.buf[this.len] = tag;
    this.view.setUint16(this.len + 1, n);
    this.len += 3;
  }

  private header32(tag: number, n: number): void {
    this.ensure(5);
    this.buf[this.len] = tag;
    this.view.setUint32(this.len + 1, n);
    this.len += 5;
  }

  private ensure(extra: number): void {
    if (this.len + extra <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.len + extra) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.len));
    this.buf = next;
    this.view = new DataView(next.buffer);
  }
}

/** Decodes the first MessagePack value of `bytes` (trailing bytes are ignored, as the server does). */
export function decode(bytes: Uint8Array): Packed {
  const reader = new Reader(bytes);
  return reader.value(0);
}

/** Decodes exactly one MessagePack value; trailing bytes are an error (for the local store). */
export function decodeExact(bytes: Uint8Array): Packed {
  const reader = new Reader(bytes);
  const value = reader.value(0);
  if (reader.pos !== bytes.length) {
    throw new DecodeError(`${bytes.length - reader.pos} trailing bytes after the value`);
  }
  return value;
}

/** Reads MessagePack tokens from a byte array. */
class Reader {
  pos = 0;
  private view: DataView;

  constructor(private bytes: Uint8Array) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  value(depth: number): Packed {
    if (depth > MAX_DEPTH) throw new DecodeError(`nesting deeper than ${MAX_DEPTH} levels`);
    const at = this.pos;
    const b = this.u8();
    if (b < 0x80) return SMALL[b + 32]!;
    if (b >= 0xe0) return SMALL[b - 0x100 + 32]!;
    if ((b & 0xf0) === 0x80) return this.map(b & 0x0f, depth);
    if ((b & 0xf0) === 0x90) return this.array(b & 0x0f, depth);
    if ((b & 0xe0) === 0xa0) return this.str(b & 0x1f);
    switch (b) {
      case 0xc0:
        return null;
      case 0xc2:
        return false;
      case 0xc3:
        return true;
      case 0xc4:
        return this.take(this.u8()).slice();
      case 0xc5:
        return this.take(this.u16()).slice();
      case 0xc6:
        return this.take(this.u32()).slice();
      case 0xca:
        return this.need(4, () => this.view.getFloat32(this.pos), 4);
      case 0xcb:
        return this.need(8, () => this.view.getFloat64(this.pos), 8);
      case 0xcc: {
        const v = this.u8();
        return v < 128 ? SMALL[v + 32]! : BigInt(v);
      }
      case 0xcd:
        return BigInt(this.u16());
      case 0xce:
        return BigInt(this.u32());
      case 0xcf:
        return this.need(8, () => this.view.getBigUint64(this.pos), 8);
      case 0xd0:
        return this.need(1, () => BigInt(this.view.getInt8(this.pos)), 1);
      case 0xd1:
        return this.need(2, () => BigInt(this.view.getInt16(this.pos)), 2);
      case 0xd2:
        return this.need(4, () => BigInt(this.view.getInt32(this.pos)), 4);
      case 0xd3:
        return this.need(8, () => this.view.getBigInt64(this.pos), 8);
      case 0xd9:
        return this.str(this.u8());
      case 0xda:
        return this.str(this.u16());
      case 0xdb:
        return this.str(this.u32());
      case 0xdc:
        return this.array(this.u16(), depth);
      case 0xdd:
        return this.array(this.u32(), depth);
      case 0xde:
        return this.map(this.u16(), depth);
      case 0xdf:
        return this.map(this.u32(), depth);
      default:
        if (b === 0xc1) throw new DecodeError(`byte 0xc1 at offset ${at} is never used in MessagePack`);
        throw new DecodeError(`ext type 0x${b.toString(16)} at offset ${at} is not allowed`);
    }
  }

  private array(n: number, depth: number): Packed[] {
    // Every element takes at least one byte, so a length beyond the rest is truncation.
    if (n > this.bytes.length - this.pos) throw this.truncated(n);
    const out: Packed[] = new Array(n);
    for (let i = 0; i < n; i++) out[i] = this.value(depth + 1);
    return out;
  }

  private map(n: number, depth: number): PackedMap {
    if (n * 2 > this.bytes.length - this.pos) throw this.truncated(n * 2);
    const flat: Packed[] = new Array(n * 2);
    for (let i = 0; i < n * 2; i++) flat[i] = this.value(depth + 1);
    return new PackedMap(flat);
  }

  private str(n: number): string {
    const at = this.pos;
    if (n < 32 && at + n <= this.bytes.length) {
      // Short ASCII strings (field names, most values) skip the TextDecoder call.
      const b = this.bytes;
      let s = '';
      let i = at;
      for (; i < at + n; i++) {
        const c = b[i]!;
        if (c > 0x7f) break;
        s += String.fromCharCode(c);
      }
      if (i === at + n) {
        this.pos += n;
        return s;
      }
    }
    const bytes = this.take(n);
    try {
      return textDecoder.decode(bytes);
    } catch {
      throw new DecodeError(`string at offset ${at} is not valid UTF-8`);
    }
  }

  private take(n: number): Uint8Array {
    if (this.pos + n > this.bytes.length) throw this.truncated(n);
    const out = this.bytes.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  private need<T>(n: number, read: () => T, advance: number): T {
    if (this.pos + n > this.bytes.length) throw this.truncated(n);
    const v = read();
    this.pos += advance;
    return v;
  }

  private u8(): number {
    return this.need(1, () => this.bytes[this.pos]!, 1);
  }

  private u16(): number {
    return this.need(2, () => this.view.getUint16(this.pos), 2);
  }

  private u32(): number {
    return this.need(4, () => this.view.getUint32(this.pos), 4);
  }

  private truncated(n: number): DecodeError {
    return new DecodeError(
      `truncated input: ${n} more bytes expected at offset ${this.pos}, only ${this.bytes.length - this.pos} left`,
    );
  }
}

function toBigIntExact(v: number): bigint {
  if (!Number.isSafeInteger(v)) throw new RangeError(`${v} is not a safe integer`);
  return BigInt(v);
}
