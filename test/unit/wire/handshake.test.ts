import { test } from 'node:test'
import assert from 'node:assert/strict'
import { encodeHandshake, decodeHandshake, HANDSHAKE_LEN } from '../../../src/wire/handshake.js'
import { ProtocolError } from '../../../src/core/errors.js'
import { readFixture, key20 } from '../../helpers/krpc.js'

const ih = key20('infohash')
const pid = Buffer.from('-BM0100-abcdefghijkl', 'latin1')

test('round trip with every flag combination', () => {
  for (const dht of [false, true]) {
    for (const v2 of [false, true]) {
      const b = encodeHandshake(ih, pid, { dht, v2 })
      assert.equal(b.length, HANDSHAKE_LEN)
      assert.equal(b[0], 19)
      assert.equal(b.subarray(1, 20).toString('latin1'), 'BitTorrent protocol')
      assert.deepEqual(decodeHandshake(b), { infohash: ih, peerId: pid, extended: true, dht, v2 })
    }
  }
})

test('reserved bits sit where BEP-10, BEP-5 and BEP-52 put them', () => {
  const b = encodeHandshake(ih, pid, { dht: true, v2: true })
  assert.deepEqual([...b.subarray(20, 28)], [0, 0, 0, 0, 0, 0x10, 0, 0x11])
  const plain = Buffer.from(b)
  plain.fill(0, 20, 28)
  const hs = decodeHandshake(plain)
  assert.equal(hs.extended, false)
  assert.equal(hs.dht, false)
  assert.equal(hs.v2, false)
})

test('decoding ignores bytes after the 68 and copies its fields', () => {
  const b = Buffer.concat([encodeHandshake(ih, pid), Buffer.from('more')])
  const hs = decodeHandshake(b)
  b.fill(0)
  assert.deepEqual(hs.infohash, ih, 'not a view into the input')
})

test('a wrong protocol string is a ProtocolError (fixture handshake-bad-pstr)', () => {
  assert.throws(() => decodeHandshake(readFixture('wire', 'handshake-bad-pstr.bin')), ProtocolError)
  const b = encodeHandshake(ih, pid)
  b[0] = 18
  assert.throws(() => decodeHandshake(b), ProtocolError)
  assert.throws(() => decodeHandshake(Buffer.alloc(68)), ProtocolError)
})

test('a short handshake is a ProtocolError (fixture handshake-short)', () => {
  assert.throws(() => decodeHandshake(readFixture('wire', 'handshake-short.bin')), ProtocolError)
  assert.throws(() => decodeHandshake(Buffer.alloc(0)), ProtocolError)
})

test('encoding a 32-byte infohash is a programmer error (the wire carries 20 bytes, v2 truncated)', () => {
  assert.throws(() => encodeHandshake(Buffer.alloc(32), pid), RangeError)
  assert.throws(() => encodeHandshake(ih, Buffer.alloc(19)), RangeError)
})
