import { test } from 'node:test'
import assert from 'node:assert/strict'
import { encode } from '../../../src/core/bencode.js'
import { DecodeError, SchemaError } from '../../../src/core/errors.js'
import { decodeSamples, encodeSamples, BB_SAMPLES_MAX, BB_SAMPLES_MAX_MESSAGE } from '../../../extensions/bb-samples.codec.js'
import { bbSamples, BB_SAMPLES, BB_SAMPLES_RATE, type BbSamplesHandle, type BbSamplesOptions } from '../../../extensions/bb-samples.js'
import { bbAuth } from '../../../extensions/bb-auth.js'
import { pair, solo, fakeAuth, communityKey, sha1 } from './helpers.js'

const K = communityKey('samples')
const ih = (i: number): Buffer => sha1(`bb_samples ih ${i}`)
const many = (n: number, from = 0): Buffer[] => Array.from({ length: n }, (_, i) => ih(from + i))

// ---------------------------------------------------------------- codec

test('bb_samples codec: round-trips one key and 1000 keys', () => {
  assert.deepEqual(decodeSamples(encodeSamples([ih(1)])), [ih(1)])
  const all = many(BB_SAMPLES_MAX)
  const bytes = encodeSamples(all)
  assert.ok(bytes.length <= BB_SAMPLES_MAX_MESSAGE)
  assert.deepEqual(decodeSamples(bytes), all)
})

test('bb_samples codec: the wire form is { h: keys concatenated }', () => {
  assert.deepEqual(encodeSamples([ih(1), ih(2)]), encode({ h: Buffer.concat([ih(1), ih(2)]) }))
})

test('bb_samples codec: unknown keys are ignored', () => {
  assert.deepEqual(decodeSamples(encode({ a: 'x', h: ih(3), n: ih(4), z: [1] })), [ih(3)])
})

test('bb_samples codec: decoded keys are copies, not views into the payload', () => {
  const bytes = encodeSamples([ih(1)])
  const out = decodeSamples(bytes)
  bytes.fill(0)
  assert.deepEqual(out, [ih(1)])
})

for (const [name, payload, Err] of [
  ['not bencode (cut short)', () => Buffer.from('d1:h40:abc'), DecodeError],
  ['not bencode (empty)', () => Buffer.alloc(0), DecodeError],
  ['not bencode (trailing bytes)', () => Buffer.concat([encodeSamples([ih(1)]), Buffer.from('e')]), DecodeError],
  ['not a dict (a list)', () => encode([ih(1)]), SchemaError],
  ['not a dict (an integer)', () => encode(5), SchemaError],
  ['h missing', () => encode({ n: ih(1) }), SchemaError],
  ['h not a byte string', () => encode({ h: 20 }), SchemaError],
  ['h empty', () => encode({ h: Buffer.alloc(0) }), SchemaError],
  ['h of 19 bytes', () => encode({ h: Buffer.alloc(19) }), SchemaError],
  ['h of 39 bytes', () => encode({ h: Buffer.alloc(39) }), SchemaError],
  ['h over 1000 entries', () => encode({ h: Buffer.concat(many(BB_SAMPLES_MAX + 1)) }), SchemaError],
  ['payload over BB_SAMPLES_MAX_MESSAGE (raw bytes)', () => Buffer.alloc(BB_SAMPLES_MAX_MESSAGE + 1, 0x64), SchemaError],
  ['payload over BB_SAMPLES_MAX_MESSAGE (a well-formed dict)', () => encode({ h: Buffer.concat(many(BB_SAMPLES_MAX)), x: Buffer.alloc(100) }), SchemaError],
] as const) {
  test(`bb_samples codec refuses: ${name}`, () => {
    const p = payload()
    assert.throws(() => decodeSamples(p), (err: unknown) => {
      assert.ok(err instanceof Err, `expected ${Err.name}, got ${String(err)}`)
      assert.match((err as Error).message, /^bb_samples/)
      return true
    })
  })
}

for (const [name, call] of [
  ['no key', () => encodeSamples([])],
  ['1001 keys', () => encodeSamples(many(BB_SAMPLES_MAX + 1))],
  ['a 19-byte key', () => encodeSamples([Buffer.alloc(19)])],
  ['a 32-byte key among good ones', () => encodeSamples([ih(1), Buffer.alloc(32)])],
] as const) {
  test(`encodeSamples refuses: ${name}`, () => { assert.throws(call, RangeError) })
}

// ---------------------------------------------------------------- the extension

interface Rec { opens: BbSamplesHandle[], got: Array<{ ihs: Buffer[], from: BbSamplesHandle }>, dropped: number[], closes: BbSamplesHandle[] }

function side (o: Omit<BbSamplesOptions, 'onOpen' | 'onSamples' | 'onDropped' | 'onClose'> = {}): { r: Rec, factory: ReturnType<typeof bbSamples> } {
  const r: Rec = { opens: [], got: [], dropped: [], closes: [] }
  return {
    r,
    factory: bbSamples({
      ...o,
      onOpen: (h) => r.opens.push(h),
      onSamples: (ihs, from) => r.got.push({ ihs, from }),
      onDropped: (n) => r.dropped.push(n),
      onClose: (h) => r.closes.push(h),
    }),
  }
}

async function linked (oa: Parameters<typeof side>[0] = {}, ob: Parameters<typeof side>[0] = {}) {
  const A = side(oa)
  const B = side(ob)
  const p = pair({ a: [bbAuth({ keys: [K] }), A.factory], b: [bbAuth({ keys: [K] }), B.factory] })
  p.start()
  await p.settle()
  return { p, A: A.r, B: B.r }
}

test('after bb_auth both sides get a handle; send delivers onSamples from the sender\'s handle', async () => {
  const { p, A, B } = await linked()
  assert.equal(A.opens.length, 1)
  assert.equal(B.opens.length, 1)
  assert.deepEqual(A.opens[0].remote.peerId, p.b.peerId)
  A.opens[0].send([ih(1), ih(2)])
  await p.settle()
  assert.equal(B.got.length, 1)
  assert.deepEqual(B.got[0].ihs, [ih(1), ih(2)])
  assert.equal(B.got[0].from, B.opens[0])
  B.opens[0].send([ih(3)])
  await p.settle()
  assert.deepEqual(A.got.map((g) => g.ihs), [[ih(3)]])
  assert.deepEqual(B.dropped, [])
})

test('a send of more than 1000 keys goes as several messages, all delivered in order', async () => {
  const { p, A, B } = await linked()
  const all = many(2001)
  A.opens[0].send(all)
  await p.settle()
  assert.deepEqual(B.got.map((g) => g.ihs.length), [1000, 1000, 1])
  assert.deepEqual(B.got.flatMap((g) => g.ihs), all)
  assert.equal(p.a.registry.stats().extensions[BB_SAMPLES].messagesOut, 3)
})

test('the default rate takes a full burst (twice the rate) at once', async () => {
  const { p, A, B } = await linked({}, { now: () => 0 })
  A.opens[0].send(many(BB_SAMPLES_RATE * 2))
  await p.settle()
  assert.equal(B.got.flatMap((g) => g.ihs).length, BB_SAMPLES_RATE * 2)
  assert.deepEqual(B.dropped, [])
  A.opens[0].send([ih(99_999)])
  await p.settle()
  assert.deepEqual(B.dropped, [1], 'the bucket is empty and the clock stands still')
})

test('the per-link rate cap drops what is over the bucket, reports it, and accepts again after time passes', async () => {
  let now = 1_000
  const { p, A, B } = await linked({}, { rate: 10, now: () => now })
  const send = async (ihs: Buffer[]): Promise<void> => { A.opens[0].send(ihs); await p.settle() }
  // Burst: twice the rate.
  await send(many(20))
  assert.deepEqual(B.got.map((g) => g.ihs.length), [20])
  // The bucket is empty: the next message is dropped and counted, not delivered.
  await send(many(5, 100))
  assert.deepEqual(B.dropped, [5])
  assert.equal(B.got.length, 1)
  // Not an error: the link stays up.
  assert.equal(p.down, false)
  assert.deepEqual(p.b.misbehaved, [])
  // 300 ms later, 3 tokens: a message of 5 still does not fit, one of 3 does.
  now += 300
  await send(many(5, 200))
  assert.deepEqual(B.dropped, [5, 5])
  await send(many(3, 300))
  assert.deepEqual(B.got.map((g) => g.ihs), [many(20), many(3, 300)])
  // After a long pause the bucket holds a full burst again, never more.
  now += 60_000
  await send(many(20, 400))
  await send(many(1, 500))
  assert.deepEqual(B.got.map((g) => g.ihs.length), [20, 3, 20])
  assert.deepEqual(B.dropped, [5, 5, 1])
})

test('the rate cap is per link: one link over its rate does not starve another', async () => {
  const B = side({ rate: 10, now: () => 0 })
  const A1 = side()
  const A2 = side()
  const p1 = pair({ a: [bbAuth({ keys: [K] }), A1.factory], b: [bbAuth({ keys: [K] }), B.factory] })
  const p2 = pair({ a: [bbAuth({ keys: [K] }), A2.factory], b: [bbAuth({ keys: [K] }), B.factory] })
  p1.start(); p2.start()
  await p1.settle(); await p2.settle()
  assert.equal(B.r.opens.length, 2)
  A1.r.opens[0].send(many(20))
  await p1.settle()
  A1.r.opens[0].send(many(1, 50))
  await p1.settle()
  assert.deepEqual(B.r.dropped, [1])
  A2.r.opens[0].send(many(20, 100))
  await p2.settle()
  assert.deepEqual(B.r.got.map((g) => g.ihs.length), [20, 20])
  assert.deepEqual(B.r.dropped, [1])
})

test('nothing is delivered before authentication; after it, the same message is', () => {
  const auth = fakeAuth()
  const B = side()
  const s = solo([auth.factory, B.factory])
  s.remoteHandshake({ bb_auth: 1, bb_samples: 2 })
  s.receive(BB_SAMPLES, encodeSamples([ih(1)]))
  assert.equal(B.r.opens.length, 0)
  assert.equal(B.r.got.length, 0)
  assert.deepEqual(B.r.dropped, [], 'an unauthenticated message does not even reach the rate cap')
  assert.equal(s.registry.stats().unauthenticatedDropped, 1)
  auth.pass()
  assert.equal(B.r.opens.length, 1)
  s.receive(BB_SAMPLES, encodeSamples([ih(1)]))
  assert.deepEqual(B.r.got.map((g) => g.ihs), [[ih(1)]])
})

test('nothing is delivered over a link where bb_auth never completes', async () => {
  const A = side()
  const B = side()
  const p = pair({ a: [bbAuth({ keys: [K] }), A.factory], b: [bbAuth({ keys: [K] }), B.factory], tap: (_f, name, payload) => name === 'bb_auth' ? null : payload })
  p.start()
  await p.settle()
  assert.equal(A.r.opens.length + B.r.opens.length, 0)
  p.inject('b', BB_SAMPLES, encodeSamples([ih(1)]))
  await p.settle()
  assert.equal(B.r.got.length, 0)
  assert.equal(p.b.registry.stats().unauthenticatedDropped, 1)
})

test('no handle toward a member of another community', async () => {
  const A = side()
  const B = side()
  const p = pair({ a: [bbAuth({ keys: [K] }), A.factory], b: [bbAuth({ keys: [communityKey('other')] }), B.factory] })
  p.start()
  await p.settle()
  assert.equal(A.r.opens.length + B.r.opens.length, 0)
})

test('a malformed bb_samples after bb_auth is a violation, and not counted as dropped', () => {
  const auth = fakeAuth()
  const B = side()
  const s = solo([auth.factory, B.factory])
  s.remoteHandshake({ bb_auth: 1, bb_samples: 2 })
  auth.pass()
  s.receive(BB_SAMPLES, encode({ h: Buffer.alloc(0) }))
  assert.equal(s.misbehaved.length, 1)
  assert.match(s.misbehaved[0], /^bb_samples/)
  assert.deepEqual(B.r.dropped, [])
  assert.equal(B.r.got.length, 0)
})

test('onClose gets the handle when the link closes', async () => {
  const { p, A, B } = await linked()
  p.a.registry.close()
  p.b.registry.close()
  assert.deepEqual(A.closes, [A.opens[0]])
  assert.deepEqual(B.closes, [B.opens[0]])
})
