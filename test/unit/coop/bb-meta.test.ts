import { test } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { decodeMetaMessage, encodeMetaMessage, dataMessages, MetaAssembler, BB_META_PIECE } from '../../../extensions/bb-meta.codec.js'
import { encode } from '../../../src/core/bencode.js'
import { verifyInfohash } from '../../../src/torrent/info-verify.js'
import { syntheticTorrent } from '../../../src/torrent/synthetic.js'
import { DecodeError, SchemaError, HashMismatchError } from '../../../src/core/errors.js'

test('an info dict sent as bb_meta pieces is reassembled and verifies', () => {
  const t = syntheticTorrent('bb-meta-1', 'hybrid')
  const big = Buffer.concat([t.rawInfo, randomBytes(40_000)])
  const h = t.info.infohashV1 as Buffer
  const a = new MetaAssembler()
  const msgs = dataMessages(5, h, big)
  assert.equal(msgs.length, Math.ceil(big.length / BB_META_PIECE))
  for (const raw of msgs.reverse()) {
    const m = decodeMetaMessage(raw)
    assert.equal(m.t, 'd')
    if (m.t === 'd') a.add(m)
  }
  assert.deepEqual(a.complete(), big)
  // The real dict verifies; the padded one does not hash to h: the check a member's dict gets.
  const small = new MetaAssembler()
  for (const raw of dataMessages(1, h, t.rawInfo)) { const m = decodeMetaMessage(raw); if (m.t === 'd') small.add(m) }
  assert.equal(verifyInfohash(small.complete() as Buffer, h), 'v1')
  assert.throws(() => verifyInfohash(big, h), HashMismatchError)
})

test('requests and refusals round-trip', () => {
  const h = randomBytes(20)
  assert.deepEqual(decodeMetaMessage(encodeMetaMessage({ t: 'q', i: 9, h, p: 2 })), { t: 'q', i: 9, h, p: 2 })
  assert.deepEqual(decodeMetaMessage(encodeMetaMessage({ t: 'n', i: 9, h })), { t: 'n', i: 9, h })
})

const H = Buffer.alloc(20, 7)
for (const [name, payload, Err] of [
  ['not bencode', Buffer.from('d1:'), DecodeError],
  ['not a dict', encode(['x']), SchemaError],
  ['short infohash', encode({ t: 'q', i: 1, h: Buffer.alloc(19), p: 0 }), SchemaError],
  ['negative piece', encode({ t: 'q', i: 1, h: H, p: -1 }), SchemaError],
  ['lying size (over 16 MiB)', Buffer.concat([encode({ t: 'd', i: 1, h: H, p: 0, s: 17 * 1024 * 1024 }), Buffer.alloc(16384)]), SchemaError],
  ['piece out of range for its size', Buffer.concat([encode({ t: 'd', i: 1, h: H, p: 3, s: 100 }), Buffer.alloc(100)]), SchemaError],
  ['piece of the wrong length', Buffer.concat([encode({ t: 'd', i: 1, h: H, p: 0, s: 100 }), Buffer.alloc(99)]), SchemaError],
  ['trailing bytes on a request', Buffer.concat([encode({ t: 'q', i: 1, h: H, p: 0 }), Buffer.alloc(3)]), SchemaError],
  ['unknown type', encode({ t: 'z', i: 1, h: H, p: 0 }), SchemaError],
  ['oversized message', Buffer.alloc(BB_META_PIECE + 1000), SchemaError],
] as const) {
  test(`bb_meta refuses: ${name}`, () => { assert.throws(() => decodeMetaMessage(payload), Err) })
}

test('a size that changes between pieces is refused', () => {
  const a = new MetaAssembler()
  a.add({ t: 'd', i: 1, h: H, p: 0, s: 20_000, data: Buffer.alloc(BB_META_PIECE) })
  assert.throws(() => a.add({ t: 'd', i: 1, h: H, p: 1, s: 30_000, data: Buffer.alloc(3616) }), SchemaError)
})
