// Unit tests of the MessagePack codec, the protocol frames, SHA-256/HMAC and schema hashes against docs/protocol.md.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { createHash, createHmac } from 'node:crypto';
import {
  decodeServer, decodeClient, encodeServer, encodeClient, writeProps, readProps, ValueMap, DecodeError,
  hmacSha256, sha256, toHex, Model,
} from '../dist/index.js';
import { Writer, decode } from '../dist/msgpack.js';
import { ROOT } from './support.mjs';

const spec = readFileSync(`${ROOT}/docs/protocol.md`, 'utf8');
const hex = (s) => Uint8Array.from(s.trim().split(/\s+/).filter(Boolean).map((b) => parseInt(b, 16)));

/** Every "N bytes:" hex dump in the spec, with the heading it is under. */
function specFrames() {
  const out = [];
  let heading = '';
  const lines = spec.split('\n');
  for (let i = 0; i < lines.length; i++) {
    if (lines[i].startsWith('#')) heading = lines[i];
    const m = /^(\d+) bytes:$/.exec(lines[i]);
    if (!m) continue;
    let bytes = '';
    for (let j = i + 1; /^[0-9a-f]{4}: /.test(lines[j] ?? ''); j++) bytes += lines[j].slice(6) + ' ';
    const frame = hex(bytes);
    assert.equal(frame.length, Number(m[1]), `length of the dump at line ${i + 1}`);
    out.push({ line: i + 1, heading, frame });
  }
  return out;
}

const CLIENT_ONLY = new Set(['Login', 'ApplyTx', 'RequestUpdates', 'CancelUpdates']);

test('every frame in the spec decodes and re-encodes to the same bytes', () => {
  const frames = specFrames();
  assert.ok(frames.length >= 20, `found ${frames.length} frames`);
  for (const { line, frame } of frames) {
    const top = decode(frame);
    const name = typeof top === 'string' ? top : top.entries[0][0];
    if (CLIENT_ONLY.has(name)) {
      const msg = decodeClient(frame);
      assert.deepEqual(encodeClient(msg), frame, `client frame at spec line ${line} (${name})`);
    } else {
      const msg = decodeServer(frame);
      assert.deepEqual(encodeServer(msg), frame, `server frame at spec line ${line} (${name})`);
    }
  }
});

test('example 2: the Login with a shared-secret proof is byte-exact', () => {
  const frames = specFrames().filter((f) => f.frame.length === 244);
  assert.equal(frames.length, 1);
  const proof = hmacSha256(new TextEncoder().encode('s3cret'), Uint8Array.from([...Array(32).keys(), 1, 2, 3, 4, 5, 6, 7, 8]));
  const login = encodeClient({
    type: 'Login', protocolVersion: 1, peerId: 0x0102030405060708n,
    credentials: [{ kind: 'SharedSecret', hmac: proof }],
    schemaFullHash: 'b09c7ccd1ea9804339218cb39a247bcc', schemaBaseHash: 'afe830e0daba35d9b44accea5b9efcbb',
    lastSeq: 0, mode: 'Auto', lastTxId: 0,
  });
  assert.deepEqual(login, frames[0].frame);
});

test('example 3: ApplyTx with one Put is byte-exact', () => {
  const frame = encodeClient({
    type: 'ApplyTx', txId: 1,
    ops: [{ kind: 'Put', entity: 1, id: [0x0102030405060708n, 1n], props: [[2, 'Buy milk'], [6, 1n]] }],
  });
  assert.equal(toHex(frame), '81a74170706c7954788' + '2a574785f696401a36f707391' + '81a3507574' + '83a6656e7469747901a2696492cf010203040506070801a5' + '70726f707392' + '9202a84275792' + '06d696c6b' + '920601');
});

test('example 4 message 11: a relation value with a peer above i64::MAX is a negative Int', () => {
  const frame = specFrames().find((f) => f.frame.length === 144).frame;
  const msg = decodeServer(frame);
  assert.equal(msg.type, 'Push');
  const [put, remove] = msg.txs[0].ops;
  assert.equal(put.kind, 'Put');
  assert.deepEqual(put.id, [0xa1b2c3d4e5f60718n, 1n]);
  assert.deepEqual(put.props[1], [5, [-6795153568590067944n, 1n]]);
  assert.deepEqual(remove, { kind: 'Remove', entity: 1, id: [10n, 2n] });
  assert.equal(msg.txs[0].txId, 0);
});

test('the value table of section 21 encodes each kind canonically', () => {
  const cases = [
    [null, '91 92 02 c0'],
    [true, '91 92 02 c3'],
    [5n, '91 92 02 05'],
    [-5n, '91 92 02 fb'],
    [1735689600000n, '91 92 02 cf 00 00 01 94 1f 29 7c 00'],
    [1.5, '91 92 02 cb 3f f8 00 00 00 00 00 00'],
    ['hi', '91 92 02 a2 68 69'],
    [Uint8Array.of(222, 173), '91 92 02 c4 02 de ad'],
    [[1n, 2n], '91 92 02 92 01 02'],
    [new ValueMap([['k', false]]), '91 92 02 81 a1 6b c2'],
  ];
  for (const [value, bytes] of cases) {
    const w = new Writer();
    writeProps(w, [[2, value]]);
    const out = w.finish();
    assert.deepEqual(out, hex(bytes), `encoding of ${String(value)}`);
    assert.deepEqual(readProps(decode(out), 'props'), [[2, value]], `round trip of ${String(value)}`);
  }
});

test('integers use the smallest format, and the i64 and u64 edges', () => {
  const enc = (v) => { const w = new Writer(); w.int(v); return toHex(w.finish()); };
  const check = [
    [0n, '00'], [127n, '7f'], [128n, 'cc80'], [255n, 'ccff'], [256n, 'cd0100'], [65535n, 'cdffff'],
    [65536n, 'ce00010000'], [4294967295n, 'ceffffffff'], [4294967296n, 'cf0000000100000000'],
    [-1n, 'ff'], [-32n, 'e0'], [-33n, 'd0df'], [-128n, 'd080'], [-129n, 'd1ff7f'], [-32768n, 'd18000'],
    [-32769n, 'd2ffff7fff'], [-2147483648n, 'd280000000'], [-2147483649n, 'd3ffffffff7fffffff'],
    [-(1n << 63n), 'd38000000000000000'], [(1n << 64n) - 1n, 'cfffffffffffffffff'],
  ];
  for (const [v, h] of check) {
    assert.equal(enc(v), h, `encoding of ${v}`);
    assert.equal(decode(hex(h.match(/../g).join(' '))), v, `decoding of ${h}`);
  }
  assert.throws(() => enc(1n << 64n), RangeError);
  // A uint 64 above i64::MAX in a value reads as its two's-complement i64 (section 6).
  assert.deepEqual(readProps(decode(hex('91 92 02 cf ff ff ff ff ff ff ff ff')), 'p'), [[2, -1n]]);
});

test('long strings, bins, arrays and maps use the 16- and 32-bit headers', () => {
  for (const n of [31, 32, 255, 256, 65535, 65536]) {
    const s = 'x'.repeat(n);
    const w = new Writer();
    w.str(s);
    w.bin(new Uint8Array(n));
    w.arrayHeader(n);
    const bytes = w.finish();
    assert.equal(decode(bytes), s);
  }
  const w = new Writer();
  w.arrayHeader(70000);
  for (let i = 0; i < 70000; i++) w.nil();
  assert.equal(decode(w.finish()).length, 70000);
});

test('CancelUpdates is a bare string; Login with other credentials is byte-exact', () => {
  assert.deepEqual(encodeClient({ type: 'CancelUpdates' }), hex('ad 43 61 6e 63 65 6c 55 70 64 61 74 65 73'));
  const frame = specFrames().find((f) => f.frame.length === 266).frame;
  const login = decodeClient(frame);
  assert.deepEqual(login.credentials, [
    { kind: 'None' }, { kind: 'Jwt', jwtKind: 'Access', token: 'h.p.s' }, { kind: 'UserPassword', user: 'u', password: 'p' },
  ]);
  assert.equal(login.mode, 'AutoNoPushes');
});

test('malformed frames give DecodeErrors that name the problem', () => {
  const bad = [
    ['', /truncated/],
    ['c1', /0xc1/],
    ['c7 01 01 00', /ext type/],
    ['81 a4 50 75 73 68 81 a3 74 78 73 91', /truncated/],
    ['81 a4 4e 6f 70 65 80', /unknown server message "Nope"/],
    ['81 a3 41 63 6b 82 a5 74 78 5f 69 64 01 a3 73 65 71 03', /Ack: missing field corrections/],
    ['81 a3 41 63 6b 83 a5 74 78 5f 69 64 a1 78 a3 73 65 71 03 ab 63 6f 72 72 65 63 74 69 6f 6e 73 90', /Ack.tx_id: expected an unsigned integer, found string "x"/],
    ['81 a3 41 63 6b 83 a5 74 78 5f 69 64 ff a3 73 65 71 03 ab 63 6f 72 72 65 63 74 69 6f 6e 73 90', /Ack.tx_id: expected an unsigned integer, found integer -1/],
    ['92 01 02', /expected a one-entry map/],
    ['a3 66 6f 6f', /unknown server message "foo"/],
    ['dd ff ff ff ff', /truncated/],
    ['a2 ff fe', /not valid UTF-8/],
  ];
  for (const [bytes, pattern] of bad) {
    assert.throws(() => decodeServer(hex(bytes)), (e) => e instanceof DecodeError && pattern.test(e.message), `frame ${bytes}`);
  }
  // Deep nesting is refused rather than overflowing the stack.
  assert.throws(() => decodeServer(new Uint8Array(100000).fill(0x91)), DecodeError);
});

test('a missing TxEntry.tx_id and FullSyncBegin.acked_tx_id read as 0; unknown fields are ignored', () => {
  const w = new Writer();
  w.mapHeader(1); w.str('FullSyncBegin'); w.mapHeader(2); w.str('seq'); w.uint(7); w.str('future'); w.bool(true);
  assert.deepEqual(decodeServer(w.finish()), { type: 'FullSyncBegin', seq: 7, ackedTxId: 0 });
  const p = new Writer();
  p.mapHeader(1); p.str('Push'); p.mapHeader(1); p.str('txs'); p.arrayHeader(1);
  p.mapHeader(4); p.str('seq'); p.uint(1); p.str('origin'); p.uint(9); p.str('time_ms'); p.uint(5); p.str('ops'); p.arrayHeader(0);
  assert.deepEqual(decodeServer(p.finish()), { type: 'Push', txs: [{ seq: 1, origin: 9n, timeMs: 5, ops: [], txId: 0 }] });
});

test('SHA-256 and HMAC-SHA256 match node:crypto and the spec test vector', () => {
  for (const n of [0, 1, 55, 56, 63, 64, 65, 119, 120, 1000]) {
    const data = Uint8Array.from({ length: n }, (_, i) => (i * 7 + 3) & 255);
    assert.equal(toHex(sha256(data)), createHash('sha256').update(data).digest('hex'), `sha256 of ${n} bytes`);
    const key = data.subarray(0, n % 80);
    assert.equal(toHex(hmacSha256(key, data)), createHmac('sha256', key).update(data).digest('hex'), `hmac of ${n} bytes`);
  }
  const input = Uint8Array.from([...Array(32).keys(), 1, 2, 3, 4, 5, 6, 7, 8]);
  assert.equal(toHex(hmacSha256(new TextEncoder().encode('s3cret'), input)), '9d34333f44ca8424f26c4abc5ebdad109d1d3a5611e25435776949d69af869a1');
});

test('schema hashes match the test vectors of section 18.5', () => {
  const example = Model.fromJson(readFileSync(`${ROOT}/examples/objectbox-model.json`, 'utf8'));
  assert.equal(example.fullHash, 'b09c7ccd1ea9804339218cb39a247bcc');
  assert.equal(example.baseHash, 'afe830e0daba35d9b44accea5b9efcbb');
  const tasks = Model.fromJson(readFileSync(`${ROOT}/model/tests/fixtures/models/public/objectbox__objectbox-sync-examples__tasks__server-docker__objectbox-model.json`, 'utf8'));
  assert.equal(tasks.fullHash, '7b9a0691e650bd69f926434a2492f207');
  assert.equal(tasks.baseHash, '95a851f319cdeb19095bbd33980f9bbd');
});

test('schema hashes ignore key order, whitespace and element order', () => {
  const text = readFileSync(`${ROOT}/examples/objectbox-model.json`, 'utf8');
  const json = JSON.parse(text);
  json.entities.reverse();
  for (const e of json.entities) e.properties.reverse();
  const shuffled = Model.fromJson(JSON.stringify(json, null, 1));
  assert.equal(shuffled.fullHash, 'b09c7ccd1ea9804339218cb39a247bcc');
  assert.equal(shuffled.baseHash, 'afe830e0daba35d9b44accea5b9efcbb');
  json.entities[0].name += 'X';
  assert.notEqual(Model.fromJson(JSON.stringify(json)).baseHash, 'afe830e0daba35d9b44accea5b9efcbb');
});

test('every public fixture model parses or fails with a path', () => {
  const dir = `${ROOT}/model/tests/fixtures/models/public`;
  let parsed = 0;
  for (const f of readdirSync(dir)) {
    try {
      const m = Model.fromJson(readFileSync(`${dir}/${f}`, 'utf8'));
      assert.match(m.fullHash, /^[0-9a-f]{32}$/);
      parsed++;
    } catch (e) {
      assert.equal(e.name, 'ModelError', `${f}: ${e.message}`);
    }
  }
  assert.ok(parsed >= 30, `parsed ${parsed} fixture models`);
});
