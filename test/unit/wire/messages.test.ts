import { test } from 'node:test'
import assert from 'node:assert/strict'
import { frame, extendedFrame, decodeExtHandshake, decodeMetadataMessage, decodeHashRequest, encodeHashRequest, HASH_REQUEST_BYTES, MSG } from '../../../src/wire/messages.js'
import { encode } from '../../../src/core/bencode.js'
import { ProtocolError } from '../../../src/core/errors.js'
import { LIMITS } from '../../../src/core/limits.js'
import { readFixture } from '../../helpers/krpc.js'

test('frame and extendedFrame lay out length, id, ext id, dict and trailer', () => {
  assert.deepEqual(frame(MSG.interested), Buffer.from([0, 0, 0, 1, 2]))
  const f = extendedFrame(3, { msg_type: 1, piece: 0 }, Buffer.from('DATA'))
  const dict = encode({ msg_type: 1, piece: 0 })
  assert.equal(f.readUInt32BE(0), 1 + 1 + dict.length + 4)
  assert.equal(f[4], MSG.extended)
  assert.equal(f[5], 3)
  assert.deepEqual(f.subarray(6, 6 + dict.length), dict)
  assert.equal(f.subarray(6 + dict.length).toString(), 'DATA')
})

test('extended handshake: m, metadata_size, v, reqq, p', () => {
  const h = decodeExtHandshake(encode({ m: { ut_metadata: 3, ut_pex: 1 }, metadata_size: 4242, v: 'client 1.2', reqq: 250, p: 6881 }))
  assert.deepEqual([...h.m.entries()].sort(), [['ut_metadata', 3], ['ut_pex', 1]])
  assert.equal(h.metadataSize, 4242)
  assert.equal(h.client, 'client 1.2')
  assert.equal(h.reqq, 250)
  assert.equal(h.port, 6881)
})

test('extended handshake: m ids 0, negative, over 255 and non-integers are ignored (fixture ext-handshake-bad-ids)', () => {
  const h = decodeExtHandshake(readFixture('wire', 'ext-handshake-bad-ids.bin'))
  assert.deepEqual([...h.m.entries()].sort(), [['ut_metadata', 3], ['ut_pex', 255]])
  assert.equal(h.metadataSize, 31337)
})

test('extended handshake: oversize, not a dict, not bencode, too deep are ProtocolErrors', () => {
  const big = encode({ m: {}, v: Buffer.alloc(LIMITS.extHandshakeMax) })
  assert.ok(big.length > LIMITS.extHandshakeMax)
  assert.throws(() => decodeExtHandshake(big), ProtocolError)
  assert.throws(() => decodeExtHandshake(encode([1])), ProtocolError)
  assert.throws(() => decodeExtHandshake(Buffer.from('d1:m')), ProtocolError)
  assert.throws(() => decodeExtHandshake(Buffer.from('d1:mllllllleeeeeeee')), ProtocolError)
  assert.throws(() => decodeExtHandshake(Buffer.alloc(0)), ProtocolError)
})

test('extended handshake: missing or wrong-typed fields are absent, not errors', () => {
  const h = decodeExtHandshake(encode({ m: 5, metadata_size: 'big', v: 7 }))
  assert.equal(h.m.size, 0)
  assert.equal(h.metadataSize, undefined)
  assert.equal(h.client, undefined)
  const long = decodeExtHandshake(encode({ v: 'x'.repeat(1000) }))
  assert.equal(long.client?.length, 64)
})

test('metadata request, data and reject decode', () => {
  assert.deepEqual(decodeMetadataMessage(encode({ msg_type: 0, piece: 2 })), { msgType: 0, piece: 2, totalSize: undefined })
  const d = decodeMetadataMessage(Buffer.concat([encode({ msg_type: 1, piece: 0, total_size: 5 }), Buffer.from('hello')]))
  assert.equal(d.msgType, 1)
  assert.equal(d.totalSize, 5)
  assert.equal(d.data?.toString(), 'hello')
  assert.equal(decodeMetadataMessage(encode({ msg_type: 2, piece: 9 })).msgType, 2)
})

test('metadata message: trailing bytes after a request are a ProtocolError (fixture metadata-trailing)', () => {
  assert.throws(() => decodeMetadataMessage(readFixture('wire', 'metadata-trailing.bin')), ProtocolError)
  assert.throws(() => decodeMetadataMessage(Buffer.concat([encode({ msg_type: 2, piece: 0 }), Buffer.from('x')])), ProtocolError)
})

test('metadata message: missing msg_type or piece (fixture metadata-missing-piece)', () => {
  assert.throws(() => decodeMetadataMessage(readFixture('wire', 'metadata-missing-piece.bin')), ProtocolError)
  assert.throws(() => decodeMetadataMessage(encode({ piece: 0 })), ProtocolError)
  assert.throws(() => decodeMetadataMessage(encode({ msg_type: 'x', piece: 0 })), ProtocolError)
})

test('metadata message: a negative piece (fixture metadata-negative-piece)', () => {
  assert.throws(() => decodeMetadataMessage(readFixture('wire', 'metadata-negative-piece.bin')), ProtocolError)
})

test('metadata message: not a dict, not bencode, too many items', () => {
  assert.throws(() => decodeMetadataMessage(encode([0, 1])), ProtocolError)
  assert.throws(() => decodeMetadataMessage(Buffer.from('d8:msg_type')), ProtocolError)
  assert.throws(() => decodeMetadataMessage(Buffer.alloc(0)), ProtocolError)
  const many: Record<string, number> = { msg_type: 0, piece: 0 }
  for (let i = 0; i < 20; i++) many[`k${i}`] = i
  assert.throws(() => decodeMetadataMessage(encode(many)), ProtocolError)
})

test('BEP-52 hash request header: 32-byte root then base, index, length, proof layers as u32 big-endian; a wrong size is a ProtocolError', () => {
  const r = { root: Buffer.alloc(32, 7), base: 1, index: 512, length: 128, proofLayers: 9 }
  const b = encodeHashRequest(r)
  assert.equal(b.length, HASH_REQUEST_BYTES)
  assert.deepEqual(b.subarray(0, 32), r.root)
  assert.deepEqual([b.readUInt32BE(32), b.readUInt32BE(36), b.readUInt32BE(40), b.readUInt32BE(44)], [1, 512, 128, 9])
  assert.deepEqual(decodeHashRequest(b), r)
  for (const n of [0, 47, 49]) assert.throws(() => decodeHashRequest(Buffer.alloc(n)), ProtocolError)
})

