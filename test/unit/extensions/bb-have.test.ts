import { test } from 'node:test'
import assert from 'node:assert/strict'
import { encode } from '../../../src/core/bencode.js'
import { DecodeError, SchemaError } from '../../../src/core/errors.js'
import { decodeHave, encodeHave, BB_HAVE_MAX, BB_HAVE_MAX_VIEW, BB_HAVE_MAX_MESSAGE } from '../../../extensions/bb-have.codec.js'
import { bbHave, BB_HAVE, type BbHaveHandle, type BbHaveOptions, type ContributionMode } from '../../../extensions/bb-have.js'
import { bbAuth } from '../../../extensions/bb-auth.js'
import { pair, solo, fakeAuth, communityKey, sha1 } from './helpers.js'

const K = communityKey('have')
const ih = (i: number): Buffer => sha1(`bb_have ih ${i}`)
const node = (i: number): Buffer => sha1(`bb_have node ${i}`)
const many = (n: number, f: (i: number) => Buffer): Buffer[] => Array.from({ length: n }, (_, i) => f(i))

// ---------------------------------------------------------------- codec

test('bb_have codec: h only round-trips, with no view', () => {
  const ihs = [ih(1), ih(2), ih(3)]
  assert.deepEqual(decodeHave(encodeHave(ihs)), { ihs, view: null })
})

test('bb_have codec: n only round-trips, with no keys', () => {
  const view = [node(1), node(2)]
  const bytes = encodeHave([], view)
  assert.deepEqual(decodeHave(bytes), { ihs: [], view })
  // No `h` key on the wire when there are no keys.
  assert.equal(bytes.toString('latin1').includes('1:h'), false)
})

test('bb_have codec: h and n together round-trip', () => {
  const ihs = [ih(1)]
  const view = [node(1), node(2), node(3)]
  assert.deepEqual(decodeHave(encodeHave(ihs, view)), { ihs, view })
})

test('bb_have codec: an empty view (n empty) round-trips as an empty view, not as no view', () => {
  const bytes = encodeHave([], [])
  assert.deepEqual(bytes, encode({ n: Buffer.alloc(0) }))
  assert.deepEqual(decodeHave(bytes), { ihs: [], view: [] })
})

test('bb_have codec: the largest message (1000 keys and 64 node IDs) fits the cap and round-trips', () => {
  const ihs = many(BB_HAVE_MAX, ih)
  const view = many(BB_HAVE_MAX_VIEW, node)
  const bytes = encodeHave(ihs, view)
  assert.ok(bytes.length <= BB_HAVE_MAX_MESSAGE, `${bytes.length} > ${BB_HAVE_MAX_MESSAGE}`)
  const m = decodeHave(bytes)
  assert.equal(m.ihs.length, BB_HAVE_MAX)
  assert.equal(m.view?.length, BB_HAVE_MAX_VIEW)
  assert.deepEqual(m.ihs[999], ih(999))
  assert.deepEqual(m.view?.[63], node(63))
})

test('bb_have codec: decoded keys are copies, not views into the payload', () => {
  const bytes = encodeHave([ih(1)], [node(1)])
  const m = decodeHave(bytes)
  bytes.fill(0)
  assert.deepEqual(m.ihs[0], ih(1))
  assert.deepEqual(m.view?.[0], node(1))
})

test('bb_have codec: unknown keys are ignored', () => {
  assert.deepEqual(decodeHave(encode({ a: 1, h: ih(7), x: 'future', zz: [1, 2] })), { ihs: [ih(7)], view: null })
  assert.deepEqual(decodeHave(encode({ n: node(1), q: Buffer.alloc(5) })), { ihs: [], view: [node(1)] })
})

const overCap = (): Buffer => {
  // A well-formed dict, within every count, that is over the byte cap only because of padding.
  const b = encode({ h: Buffer.concat(many(BB_HAVE_MAX, ih)), n: Buffer.concat(many(BB_HAVE_MAX_VIEW, node)), x: Buffer.alloc(200) })
  assert.ok(b.length > BB_HAVE_MAX_MESSAGE)
  return b
}

for (const [name, payload, Err] of [
  ['not bencode (cut short)', () => Buffer.from('d1:h20:short'), DecodeError],
  ['not bencode (empty)', () => Buffer.alloc(0), DecodeError],
  ['not bencode (trailing bytes)', () => Buffer.concat([encodeHave([ih(1)]), Buffer.from('XX')]), DecodeError],
  ['not a dict (a list)', () => encode([ih(1)]), SchemaError],
  ['not a dict (a string)', () => encode(ih(1)), SchemaError],
  ['neither h nor n', () => encode({ x: 1 }), SchemaError],
  ['h and n of the wrong type (integers)', () => encode({ h: 20, n: 0 }), SchemaError],
  ['h empty', () => encode({ h: Buffer.alloc(0) }), SchemaError],
  ['h empty, even with a view', () => encode({ h: Buffer.alloc(0), n: node(1) }), SchemaError],
  ['h of 19 bytes', () => encode({ h: Buffer.alloc(19) }), SchemaError],
  ['h of 41 bytes', () => encode({ h: Buffer.alloc(41) }), SchemaError],
  ['h over 1000 entries', () => encode({ h: Buffer.concat(many(BB_HAVE_MAX + 1, ih)) }), SchemaError],
  ['n of 19 bytes', () => encode({ n: Buffer.alloc(19) }), SchemaError],
  ['n of 21 bytes with a good h', () => encode({ h: ih(1), n: Buffer.alloc(21) }), SchemaError],
  ['n over 64 entries', () => encode({ n: Buffer.concat(many(BB_HAVE_MAX_VIEW + 1, node)) }), SchemaError],
  ['payload over BB_HAVE_MAX_MESSAGE (raw bytes)', () => Buffer.alloc(BB_HAVE_MAX_MESSAGE + 1, 0x64), SchemaError],
  ['payload over BB_HAVE_MAX_MESSAGE (a well-formed dict)', overCap, SchemaError],
] as const) {
  test(`bb_have codec refuses: ${name}`, () => {
    const p = payload()
    assert.throws(() => decodeHave(p), (err: unknown) => {
      assert.ok(err instanceof Err, `expected ${Err.name}, got ${String(err)}`)
      assert.match((err as Error).message, /^bb_have/)
      return true
    })
  })
}

test('bb_have codec: a payload exactly at the cap is decoded, not refused for its size', () => {
  // Pad an ordinary message with an unknown key up to exactly the cap.
  let bytes: Buffer = Buffer.alloc(0)
  for (let pad = BB_HAVE_MAX_MESSAGE; pad > 0 && bytes.length !== BB_HAVE_MAX_MESSAGE; pad--) bytes = encode({ h: ih(1), x: Buffer.alloc(pad) })
  assert.equal(bytes.length, BB_HAVE_MAX_MESSAGE)
  assert.deepEqual(decodeHave(bytes).ihs, [ih(1)])
})

for (const [name, call] of [
  ['nothing to send (no keys, no view)', () => encodeHave([])],
  ['1001 keys', () => encodeHave(many(BB_HAVE_MAX + 1, ih))],
  ['65 node IDs', () => encodeHave([], many(BB_HAVE_MAX_VIEW + 1, node))],
  ['a 19-byte key', () => encodeHave([Buffer.alloc(19)])],
  ['a 32-byte key', () => encodeHave([ih(1), Buffer.alloc(32)])],
  ['a 21-byte node ID', () => encodeHave([ih(1)], [Buffer.alloc(21)])],
  ['an empty node ID', () => encodeHave([], [Buffer.alloc(0)])],
] as const) {
  test(`encodeHave refuses: ${name}`, () => { assert.throws(call, RangeError) })
}

// ---------------------------------------------------------------- the extension over a link

interface Side { opens: BbHaveHandle[], haves: Array<{ ihs: Buffer[], from: BbHaveHandle }>, views: Array<{ ids: Buffer[], from: BbHaveHandle }>, closes: BbHaveHandle[] }

function side (o: Omit<BbHaveOptions, 'onOpen' | 'onHave' | 'onView' | 'onClose'>): { s: Side, factory: ReturnType<typeof bbHave> } {
  const s: Side = { opens: [], haves: [], views: [], closes: [] }
  return {
    s,
    factory: bbHave({
      ...o,
      onOpen: (h) => s.opens.push(h),
      onHave: (ihs, from) => s.haves.push({ ihs, from }),
      onView: (ids, from) => s.views.push({ ids, from }),
      onClose: (h) => s.closes.push(h),
    }),
  }
}

async function linked (a: { nodeId: Buffer, mode?: ContributionMode }, b: { nodeId: Buffer, mode?: ContributionMode }) {
  const A = side(a)
  const B = side(b)
  const p = pair({ a: [bbAuth({ keys: [K] }), A.factory], b: [bbAuth({ keys: [K] }), B.factory] })
  p.start()
  await p.settle()
  return { p, A: A.s, B: B.s }
}

test('after bb_auth each side has the other\'s node ID and mode from the handshake', async () => {
  const { p, A, B } = await linked({ nodeId: node(1), mode: 'leech' }, { nodeId: node(2), mode: 'source' })
  assert.equal(p.a.authenticated.length, 1)
  assert.equal(A.opens.length, 1)
  assert.equal(B.opens.length, 1)
  assert.deepEqual(A.opens[0].nodeId, node(2))
  assert.equal(A.opens[0].mode, 'source')
  assert.deepEqual(B.opens[0].nodeId, node(1))
  assert.equal(B.opens[0].mode, 'leech')
  assert.deepEqual(A.opens[0].remote.peerId, p.b.peerId)
  assert.deepEqual(B.opens[0].remote.peerId, p.a.peerId)
})

test('every contribution mode survives the handshake', async () => {
  for (const mode of ['full', 'consumer', 'source', 'leech'] as const) {
    const { A } = await linked({ nodeId: node(1) }, { nodeId: node(2), mode })
    assert.equal(A.opens[0].mode, mode)
  }
})

test('no mode given is sent and read as "full"; an unknown mode string reads as "full"', async () => {
  const { p, A, B } = await linked({ nodeId: node(1), mode: 'bogus' as ContributionMode }, { nodeId: node(2) })
  assert.equal(B.opens[0].mode, 'full')
  assert.equal(A.opens[0].mode, 'full')
  // What went on the wire: bb_mode as sent, bb_node our node ID.
  const hsA = p.a.registry.handshake()
  assert.equal(hsA.bb_mode, 'bogus')
  assert.deepEqual(hsA.bb_node, node(1))
  assert.equal(p.b.registry.handshake().bb_mode, 'full')
})

test('a handshake without bb_node or bb_mode: node ID null, mode "full"', () => {
  const auth = fakeAuth()
  const opens: BbHaveHandle[] = []
  const s = solo([auth.factory, bbHave({ nodeId: node(1), onOpen: (h) => opens.push(h) })])
  s.remoteHandshake({ bb_auth: 1, bb_have: 2 })
  auth.pass()
  assert.equal(opens.length, 1)
  assert.equal(opens[0].nodeId, null)
  assert.equal(opens[0].mode, 'full')
})

test('push delivers onHave with the keys, from the sender\'s handle', async () => {
  const { p, A, B } = await linked({ nodeId: node(1) }, { nodeId: node(2) })
  A.opens[0].push([ih(1), ih(2)])
  await p.settle()
  assert.equal(B.haves.length, 1)
  assert.deepEqual(B.haves[0].ihs, [ih(1), ih(2)])
  assert.equal(B.haves[0].from, B.opens[0])
  assert.deepEqual(B.haves[0].from.nodeId, node(1))
  assert.equal(B.views.length, 0, 'a push carries no view')
  // And the other way.
  B.opens[0].push([ih(3)])
  await p.settle()
  assert.deepEqual(A.haves.map((h) => h.ihs), [[ih(3)]])
})

test('a push of more than 1000 keys goes as several messages, all delivered in order', async () => {
  const { p, A, B } = await linked({ nodeId: node(1) }, { nodeId: node(2) })
  const ihs = many(2500, ih)
  A.opens[0].push(ihs)
  await p.settle()
  assert.deepEqual(B.haves.map((h) => h.ihs.length), [1000, 1000, 500])
  assert.deepEqual(B.haves.flatMap((h) => h.ihs), ihs)
  assert.equal(p.a.registry.stats().extensions[BB_HAVE].messagesOut, 3)
})

test('an empty push sends nothing', async () => {
  const { p, A, B } = await linked({ nodeId: node(1) }, { nodeId: node(2) })
  A.opens[0].push([])
  await p.settle()
  assert.equal(B.haves.length, 0)
  assert.equal(p.a.registry.stats().extensions[BB_HAVE].messagesOut, 0)
})

test('sendView delivers onView (and no onHave); an empty view is delivered too', async () => {
  const { p, A, B } = await linked({ nodeId: node(1) }, { nodeId: node(2) })
  A.opens[0].sendView([node(3), node(4)])
  await p.settle()
  assert.equal(B.views.length, 1)
  assert.deepEqual(B.views[0].ids, [node(3), node(4)])
  assert.equal(B.views[0].from, B.opens[0])
  assert.equal(B.haves.length, 0)
  A.opens[0].sendView([])
  await p.settle()
  assert.deepEqual(B.views.map((v) => v.ids.length), [2, 0])
})

test('sendView sends at most 64 node IDs', async () => {
  const { p, A, B } = await linked({ nodeId: node(1) }, { nodeId: node(2) })
  const ids = many(70, node)
  A.opens[0].sendView(ids)
  await p.settle()
  assert.deepEqual(B.views[0].ids, ids.slice(0, BB_HAVE_MAX_VIEW))
  assert.equal(p.down, false)
})

test('a message with both keys and a view delivers onHave and onView', () => {
  const auth = fakeAuth()
  const s0 = side({ nodeId: node(1) })
  const s = solo([auth.factory, s0.factory])
  s.remoteHandshake({ bb_auth: 1, bb_have: 2 })
  auth.pass()
  s.receive(BB_HAVE, encodeHave([ih(1)], [node(5)]))
  assert.deepEqual(s0.s.haves.map((h) => h.ihs), [[ih(1)]])
  assert.deepEqual(s0.s.views.map((v) => v.ids), [[node(5)]])
})

test('nothing is delivered before authentication (link where bb_auth never completes)', async () => {
  const A = side({ nodeId: node(1) })
  const B = side({ nodeId: node(2) })
  // The path drops every bb_auth message: neither side ever authenticates.
  const p = pair({ a: [bbAuth({ keys: [K] }), A.factory], b: [bbAuth({ keys: [K] }), B.factory], tap: (_from, name, payload) => name === 'bb_auth' ? null : payload })
  p.start()
  await p.settle()
  assert.equal(A.s.opens.length, 0)
  assert.equal(B.s.opens.length, 0)
  p.inject('b', BB_HAVE, encodeHave([ih(1)], [node(3)]))
  await p.settle()
  assert.equal(B.s.haves.length, 0)
  assert.equal(B.s.views.length, 0)
  assert.equal(p.b.registry.stats().unauthenticatedDropped, 1)
  assert.equal(p.b.misbehaved.length, 0)
})

test('nothing is delivered before authentication; after it, the same message is', () => {
  const auth = fakeAuth()
  const B = side({ nodeId: node(2) })
  const s = solo([auth.factory, B.factory])
  s.remoteHandshake({ bb_auth: 1, bb_have: 2 })
  s.receive(BB_HAVE, encodeHave([ih(1)], [node(3)]))
  assert.equal(B.s.opens.length, 0)
  assert.equal(B.s.haves.length, 0)
  assert.equal(B.s.views.length, 0)
  assert.equal(s.registry.stats().unauthenticatedDropped, 1)
  assert.deepEqual(s.sentTo(2), [], 'nothing sent before bb_auth')
  auth.pass()
  assert.equal(B.s.opens.length, 1)
  s.receive(BB_HAVE, encodeHave([ih(1)], [node(3)]))
  assert.deepEqual(B.s.haves.map((h) => h.ihs), [[ih(1)]])
  assert.deepEqual(B.s.views.map((v) => v.ids), [[node(3)]])
})

test('no handle toward a member of another community', async () => {
  const A = side({ nodeId: node(1) })
  const B = side({ nodeId: node(2) })
  const p = pair({ a: [bbAuth({ keys: [K] }), A.factory], b: [bbAuth({ keys: [communityKey('other')] }), B.factory] })
  p.start()
  await p.settle()
  assert.equal(A.s.opens.length, 0)
  assert.equal(B.s.opens.length, 0)
})

test('no handle toward a remote that does not announce bb_have, and what it sends anyway is not delivered', () => {
  const auth = fakeAuth()
  const B = side({ nodeId: node(2) })
  const s = solo([auth.factory, B.factory])
  s.remoteHandshake({ bb_auth: 1 })
  auth.pass()
  assert.equal(B.s.opens.length, 0)
  s.receive(BB_HAVE, encodeHave([ih(1)]))
  assert.equal(B.s.haves.length, 0)
})

test('a malformed bb_have after bb_auth is a violation', () => {
  const auth = fakeAuth()
  const B = side({ nodeId: node(2) })
  const s = solo([auth.factory, B.factory])
  s.remoteHandshake({ bb_auth: 1, bb_have: 2 })
  auth.pass()
  s.receive(BB_HAVE, encode({ h: Buffer.alloc(21) }))
  assert.equal(s.misbehaved.length, 1)
  assert.match(s.misbehaved[0], /^bb_have/)
  assert.equal(B.s.haves.length, 0)
})

test('onClose gets the handle when the link closes (once)', async () => {
  const { p, A, B } = await linked({ nodeId: node(1) }, { nodeId: node(2) })
  p.a.registry.close()
  p.b.registry.close()
  p.a.registry.close()
  assert.deepEqual(A.closes, [A.opens[0]])
  assert.deepEqual(B.closes, [B.opens[0]])
})
