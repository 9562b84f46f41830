import { test } from 'node:test'
import assert from 'node:assert/strict'
import { decodePex, encodePex, PexRateGate, PEX_MAX_PEERS } from '../../../extensions/ut-pex.codec.js'
import { encode } from '../../../src/core/bencode.js'
import { DecodeError, SchemaError } from '../../../src/core/errors.js'

test('round-trips IPv4 and IPv6 peers', () => {
  const msg = { added: [{ host: '127.0.0.5', port: 6881 }, { host: '::1', port: 7000 }], dropped: [{ host: '127.0.0.9', port: 1 }] }
  assert.deepEqual(decodePex(encodePex(msg)), msg)
})

test('interoperates with the fields libtorrent sends (added.f, empty lists)', () => {
  const m = decodePex(encode({ added: Buffer.from([127, 0, 0, 1, 0x1a, 0xe1]), 'added.f': Buffer.from([0x10]), dropped: Buffer.alloc(0) }))
  assert.deepEqual(m.added, [{ host: '127.0.0.1', port: 6881 }])
})

for (const [name, payload, Err] of [
  ['not bencode', Buffer.from('dx'), DecodeError],
  ['not a dict', encode([]), SchemaError],
  ['added not a multiple of 6', encode({ added: Buffer.alloc(7) }), SchemaError],
  ['more than 50 added', encode({ added: Buffer.alloc(6 * (PEX_MAX_PEERS + 1), 1) }), SchemaError],
  ['more than 50 added over v4 and v6', encode({ added: Buffer.alloc(6 * 30, 1), added6: Buffer.alloc(18 * 30, 1) }), SchemaError],
  ['oversized message', Buffer.alloc(5000), SchemaError],
] as const) {
  test(`ut_pex refuses: ${name}`, () => { assert.throws(() => decodePex(payload), Err) })
}

test('the rate gate lets one message a minute through', () => {
  let now = 0
  const g = new PexRateGate(() => now)
  assert.equal(g.accept(), true)
  now = 10_000; assert.equal(g.accept(), false)
  now = 60_000; assert.equal(g.accept(), true)
  assert.equal(g.dropped, 1)
})
