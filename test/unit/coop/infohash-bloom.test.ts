import { test } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { InfohashBloom, BLOOM_LIMITS } from '../../../src/coop/infohash-bloom.js'
import { decodeBloomMessage, encodeBloomMessage, fullFilterMessages, BB_BLOOM_CHUNK } from '../../../extensions/bb-bloom.codec.js'
import { encode } from '../../../src/core/bencode.js'
import { LimitError, SchemaError, DecodeError } from '../../../src/core/errors.js'

test('no false negatives, and false positives near the design rate', () => {
  const f = InfohashBloom.forCapacity(20_000, 0.01)
  const added = Array.from({ length: 20_000 }, () => randomBytes(20))
  for (const ih of added) f.add(ih)
  for (const ih of added) assert.ok(f.has(ih))
  let fp = 0
  for (let i = 0; i < 20_000; i++) if (f.has(randomBytes(20))) fp++
  // Design 1% (forCapacity rounds the size up to a power of two, so it is usually lower).
  assert.ok(fp / 20_000 < 0.02, `false-positive rate ${fp / 20_000}`)
  assert.ok(f.falsePositiveRate() < 0.02)
})

test('parameters outside the caps are refused', () => {
  assert.throws(() => new InfohashBloom(1000, 3), LimitError)
  assert.throws(() => new InfohashBloom(BLOOM_LIMITS.maxBits * 2, 3), LimitError)
  assert.throws(() => new InfohashBloom(4096, 0), LimitError)
  assert.throws(() => new InfohashBloom(4096, 17), LimitError)
  assert.throws(() => new InfohashBloom(4096, 3, new Uint8Array(10)), SchemaError)
})

test('a filter sent as chunks and rebuilt answers the same', () => {
  const f = InfohashBloom.forCapacity(100_000)
  const ihs = Array.from({ length: 1000 }, () => randomBytes(20))
  for (const ih of ihs) f.add(ih)
  const msgs = fullFilterMessages(7, f.m, f.k, f.count, f.bits)
  assert.equal(msgs.length, Math.ceil(f.m / 8 / BB_BLOOM_CHUNK))
  const bits = new Uint8Array(f.m / 8)
  for (const raw of msgs) {
    const m = decodeBloomMessage(raw)
    assert.equal(m.t, 'f')
    if (m.t === 'f') { assert.equal(m.g, 7); bits.set(m.b, m.o) }
  }
  const g = new InfohashBloom(f.m, f.k, bits)
  for (const ih of ihs) assert.ok(g.has(ih))
})

test('a delta round-trips', () => {
  const h = [randomBytes(20), randomBytes(20)]
  const m = decodeBloomMessage(encodeBloomMessage({ t: 'a', g: 1, h }))
  assert.deepEqual(m, { t: 'a', g: 1, h })
})

for (const [name, msg, Err] of [
  ['not bencode', Buffer.from('d1:t'), DecodeError],
  ['not a dict', encode([1, 2]), SchemaError],
  ['unknown type', encode({ t: 'x', g: 1 }), SchemaError],
  ['missing generation', encode({ t: 'a', h: Buffer.alloc(20) }), SchemaError],
  ['size not a power of two', encode({ t: 'f', g: 1, m: 3000, k: 3, n: 0, o: 0, b: Buffer.alloc(1) }), LimitError],
  ['oversized filter', encode({ t: 'f', g: 1, m: 2 ** 30, k: 3, n: 0, o: 0, b: Buffer.alloc(1) }), LimitError],
  ['chunk past the end', encode({ t: 'f', g: 1, m: 1024, k: 3, n: 0, o: 120, b: Buffer.alloc(16) }), SchemaError],
  ['chunk over 32 KiB', encode({ t: 'f', g: 1, m: 2 ** 20, k: 3, n: 0, o: 0, b: Buffer.alloc(BB_BLOOM_CHUNK + 1) }), SchemaError],
  ['delta not a multiple of 20', encode({ t: 'a', g: 1, h: Buffer.alloc(21) }), SchemaError],
  ['delta over 1000', encode({ t: 'a', g: 1, h: Buffer.alloc(20 * 1001) }), SchemaError],
  ['lying count (negative)', encode({ t: 'f', g: 1, m: 1024, k: 3, n: -1, o: 0, b: Buffer.alloc(16) }), SchemaError],
] as const) {
  test(`bb_bloom refuses: ${name}`, () => { assert.throws(() => decodeBloomMessage(msg), Err) })
}
