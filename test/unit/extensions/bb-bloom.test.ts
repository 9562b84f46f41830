import { test } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { pair, communityKey } from './helpers.js'
import { bbAuth } from '../../../extensions/bb-auth.js'
import { bbBloom } from '../../../extensions/bb-bloom.js'
import { encodeBloomMessage } from '../../../extensions/bb-bloom.codec.js'
import { InfohashBloom } from '../../../src/coop/infohash-bloom.js'
import { SchemaError } from '../../../src/core/errors.js'

const K = communityKey('bloom')

test('after bb_auth each side receives the other\'s whole filter (several chunks)', async () => {
  const local = InfohashBloom.forCapacity(200_000)
  const ihs = Array.from({ length: 500 }, () => randomBytes(20))
  for (const ih of ihs) local.add(ih)
  const got: InfohashBloom[] = []
  const p = pair({
    a: [bbAuth({ keys: [K] }), bbBloom({ local: () => local })],
    b: [bbAuth({ keys: [K] }), bbBloom({ local: () => null, onFilter: (_r, f) => got.push(f) })],
  })
  p.start(); await p.settle()
  assert.equal(got.length, 1)
  assert.ok(ihs.every((ih) => got[0].has(ih)))
  assert.equal(got[0].count, 500)
  assert.ok(p.a.sent.filter((m) => m.name === 'bb_bloom').length > 1, 'sent in chunks')
})

test('nothing is sent to a node that failed bb_auth', async () => {
  const local = InfohashBloom.forCapacity(1000)
  local.add(randomBytes(20))
  const p = pair({
    a: [bbAuth({ keys: [K] }), bbBloom({ local: () => local })],
    b: [bbAuth({ keys: [communityKey('other')] }), bbBloom({ local: () => null })],
  })
  p.start(); await p.settle()
  assert.equal(p.a.sent.filter((m) => m.name === 'bb_bloom').length, 0)
})

test('a chunk out of order, or of a filter never started, is a protocol violation', () => {
  const got: InfohashBloom[] = []
  const ctx = { infohash: Buffer.alloc(20), localPeerId: Buffer.alloc(20), remote: { host: '127.0.0.1', port: 1, peerId: Buffer.alloc(20) }, initiator: true, send: () => {}, remoteSupports: () => true, authenticated: () => true, markAuthenticated: () => {}, misbehaved: () => {} }
  const ext = bbBloom({ local: () => null, onFilter: (_r, f) => got.push(f) })(ctx)
  assert.throws(() => ext.onMessage(encodeBloomMessage({ t: 'f', g: 1, m: 1 << 20, k: 3, n: 1, o: 4096, b: Buffer.alloc(16) })), SchemaError)
  ext.onMessage(encodeBloomMessage({ t: 'f', g: 2, m: 1 << 20, k: 3, n: 1, o: 0, b: Buffer.alloc(16) }))
  assert.throws(() => ext.onMessage(encodeBloomMessage({ t: 'f', g: 2, m: 1 << 20, k: 3, n: 1, o: 32, b: Buffer.alloc(16) })), SchemaError)
  assert.equal(got.length, 0)
})

test('an injected (untagged) bb_bloom message is refused before it is decoded', async () => {
  const got: InfohashBloom[] = []
  const p = pair({
    a: [bbAuth({ keys: [K] }), bbBloom({ local: () => null })],
    b: [bbAuth({ keys: [K] }), bbBloom({ local: () => null, onFilter: (_r, f) => got.push(f) })],
    dropOnMisbehave: false,
  })
  p.start(); await p.settle()
  // The genuine (empty) filter of a, which holds nothing, arrived; the injected one does not.
  assert.equal(got.length, 1)
  assert.equal(got[0].count, 0)
  p.inject('b', 'bb_bloom', encodeBloomMessage({ t: 'f', g: 1, m: 1024, k: 3, n: 1, o: 0, b: Buffer.alloc(128) }))
  await p.settle()
  assert.equal(got.length, 1)
  assert.ok(p.b.registry.stats().badTag >= 1)
})
