import { test } from 'node:test'
import assert from 'node:assert/strict'
import { encode } from '../../../src/core/bencode.js'
import { ProtocolError } from '../../../src/core/errors.js'
import { decodeExtHandshake } from '../../../src/wire/messages.js'
import type { Extension, ExtensionFactory, SessionMac } from '../../../extensions/extension.js'
import { ExtensionRegistry } from '../../../extensions/registry.js'
import { dummyExtension, fakeAuth, solo, spyOnMessage } from './helpers.js'

/** Session tags as a transparent fake: tag = 0xAA… ‖ counter byte; lets the test forge the remote's. */
class FakeSession implements SessionMac {
  readonly tagBytes = 4
  sent = 0
  received = 0
  mac (_name: string, _payload: Uint8Array): Buffer { return Buffer.from([0xaa, 0xaa, 0xaa, this.sent++]) }
  verify (_name: string, _payload: Uint8Array, tag: Uint8Array): boolean {
    if (!Buffer.from(tag).equals(Buffer.from([0xbb, 0xbb, 0xbb, this.received]))) return false
    this.received++
    return true
  }

  static remoteTag (n: number): Buffer { return Buffer.from([0xbb, 0xbb, 0xbb, n]) }
}

test('ids 1..n in list order; m dict plus each extension\'s handshakeExtra', () => {
  const withExtra: ExtensionFactory = () => ({ name: 'bb_x', maxMessage: 10, requiresAuth: true, onMessage: () => {}, handshakeExtra: () => ({ bb_x_version: 2 }) })
  const s = solo([fakeAuth().factory, dummyExtension().factory, withExtra])
  assert.deepEqual(s.registry.handshake(), { m: { bb_auth: 1, bb_dummy: 2, bb_x: 3 }, bb_x_version: 2 })
  assert.equal(s.registry.localId('bb_x'), 3)
  // It survives the wire as a BEP-10 handshake.
  const hs = decodeExtHandshake(encode(s.registry.handshake()))
  assert.deepEqual([...hs.m], [['bb_auth', 1], ['bb_dummy', 2], ['bb_x', 3]])
})

test('firstId moves the ids; a list that does not fit 1..255 is refused', () => {
  const r = new ExtensionRegistry([dummyExtension().factory], { infohash: Buffer.alloc(20), localPeerId: Buffer.alloc(20), remote: { host: 'h', port: 1, peerId: Buffer.alloc(20) }, initiator: true, sendExtended: () => {}, misbehaved: () => {} }, { firstId: 10 })
  assert.deepEqual(r.handshake().m, { bb_dummy: 10 })
  assert.throws(() => new ExtensionRegistry([dummyExtension().factory], { infohash: Buffer.alloc(20), localPeerId: Buffer.alloc(20), remote: { host: 'h', port: 1, peerId: Buffer.alloc(20) }, initiator: true, sendExtended: () => {}, misbehaved: () => {} }, { firstId: 256 }), RangeError)
})

test('programmer errors in the list are thrown: a name twice, a reserved or repeated handshake key, a bad cap', () => {
  assert.throws(() => solo([dummyExtension().factory, dummyExtension().factory]), /twice/)
  const extra = (k: string): ExtensionFactory => () => ({ name: `bb_${k}`, maxMessage: 1, requiresAuth: true, onMessage: () => {}, handshakeExtra: () => ({ [k]: 1 }) })
  assert.throws(() => solo([extra('m')]).registry.handshake(), /reserved/)
  assert.throws(() => solo([extra('v')]).registry.handshake(), /reserved/)
  assert.throws(() => solo([extra('k'), (() => ({ ...extra('k')({} as never), name: 'bb_k2' })) as ExtensionFactory]).registry.handshake(), /taken/)
  assert.throws(() => solo([() => ({ name: 'bb_inf', maxMessage: Infinity, requiresAuth: true, onMessage: () => {} })]), /maxMessage/)
})

test('the remote\'s ids: sends use them; 0 disables; a later handshake without the name keeps it', () => {
  const auth = fakeAuth()
  const d = dummyExtension()
  const s = solo([auth.factory, d.factory])
  auth.pass()
  const ctx = d.instances[0].ctx
  assert.equal(ctx.remoteSupports(), false)
  ctx.send(Buffer.from('early'))
  assert.equal(s.sent.length, 0, 'nothing sent before the remote named the extension')
  s.remoteHandshake({ bb_dummy: 7, ut_metadata: 2 })
  assert.equal(ctx.remoteSupports(), true)
  ctx.send(Buffer.from('one'))
  assert.deepEqual(s.sentTo(7), [Buffer.from('one')])
  s.remoteHandshake({ ut_pex: 1 })
  assert.equal(ctx.remoteSupports(), true, 'absent from a later handshake: unchanged')
  s.remoteHandshake({ bb_dummy: 9 })
  ctx.send(Buffer.from('two'))
  assert.deepEqual(s.sentTo(9), [Buffer.from('two')])
  s.remoteHandshake({ bb_dummy: 0 })
  assert.equal(ctx.remoteSupports(), false, 'BEP-10: 0 disables')
  ctx.send(Buffer.from('three'))
  assert.equal(s.sent.length, 2)
  assert.equal(s.registry.stats().sendsDropped, 2)
})

test('an unknown id is ignored and counted', () => {
  const d = dummyExtension({ requiresAuth: false })
  const s = solo([d.factory])
  s.registry.onExtended(2, Buffer.from('x'))
  s.registry.onExtended(200, Buffer.from('x'))
  assert.equal(s.registry.stats().unknownId, 2)
  assert.deepEqual(s.misbehaved, [])
  assert.equal(d.instances[0].received.length, 0)
})

test('a payload over the cap is misbehaviour, refused before the extension sees it', () => {
  const spy = spyOnMessage(dummyExtension({ requiresAuth: false, maxMessage: 100 }).factory)
  const s = solo([spy.factory])
  s.receive('bb_dummy', Buffer.alloc(100))
  assert.equal(spy.calls.length, 1)
  s.receive('bb_dummy', Buffer.alloc(101))
  assert.equal(spy.calls.length, 1)
  assert.deepEqual(s.misbehaved, ['bb_dummy message of 101 bytes exceeds cap 100'])
  assert.equal(s.registry.stats().oversize, 1)
  // Nothing is dispatched after misbehaviour.
  s.receive('bb_dummy', Buffer.alloc(1))
  assert.equal(spy.calls.length, 1)
})

test('requiresAuth before authentication: dropped unanswered and counted, then passed on after', () => {
  const auth = fakeAuth()
  const d = dummyExtension({ echo: true })
  const s = solo([auth.factory, d.factory])
  s.remoteHandshake({ bb_auth: 1, bb_dummy: 2 })
  for (let i = 0; i < 3; i++) s.receive('bb_dummy', Buffer.from(`q${i}`))
  assert.equal(d.instances[0].received.length, 0)
  assert.deepEqual(s.sentTo(2), [], 'unanswered')
  assert.equal(s.registry.stats().unauthenticatedDropped, 3)
  assert.deepEqual(s.misbehaved, [])
  // Our own sends are held back too.
  d.instances[0].ctx.send(Buffer.from('premature'))
  assert.deepEqual(s.sentTo(2), [])
  auth.pass()
  s.receive('bb_dummy', Buffer.from('q3'))
  assert.deepEqual(d.instances[0].received, [Buffer.from('q3')])
  assert.deepEqual(s.sentTo(2), [Buffer.from('re:q3')])
})

test('a BbmeshError from an extension becomes misbehaved(its message); anything else is rethrown', () => {
  const d = dummyExtension({ requiresAuth: false })
  const s = solo([d.factory])
  s.receive('bb_dummy', Buffer.from([0xff]))
  assert.deepEqual(s.misbehaved, ['bb_dummy malformed message'])
  const plain: ExtensionFactory = () => ({ name: 'bb_plain', maxMessage: 10, requiresAuth: false, onMessage: () => { throw new ProtocolError('bad thing') } })
  const s2 = solo([plain])
  s2.receive('bb_plain', Buffer.from('x'))
  assert.deepEqual(s2.misbehaved, ['bb_plain: bad thing'])
  const buggy: ExtensionFactory = () => ({ name: 'bb_bug', maxMessage: 10, requiresAuth: false, onMessage: () => { throw new TypeError('a bug') } })
  const s3 = solo([buggy])
  assert.throws(() => s3.receive('bb_bug', Buffer.from('x')), TypeError)
  assert.deepEqual(s3.misbehaved, [])
})

test('misbehaved reaches the connection once; an extension may call it itself', () => {
  let ctxMis: ((r: string) => void) | undefined
  const ext: ExtensionFactory = (ctx) => { ctxMis = ctx.misbehaved; return { name: 'bb_m', maxMessage: 10, requiresAuth: false, onMessage: () => {} } }
  const s = solo([ext])
  ;(ctxMis as (r: string) => void)('first')
  ;(ctxMis as (r: string) => void)('second')
  assert.deepEqual(s.misbehaved, ['first'])
  assert.equal(s.registry.failure, 'first')
})

test('markAuthenticated flips once and runs every onAuthenticated once; a gated extension may not call it', () => {
  const auth = fakeAuth()
  const d1 = dummyExtension({ name: 'bb_one' })
  const d2 = dummyExtension({ name: 'bb_two' })
  const s = solo([auth.factory, d1.factory, d2.factory])
  assert.equal(s.registry.authenticated, false)
  auth.pass({ community: 'alpha' })
  auth.pass({ community: 'beta' })
  assert.equal(s.registry.authenticated, true)
  assert.deepEqual(s.registry.authInfo, { community: 'alpha' })
  assert.deepEqual(d1.instances[0].authenticated, [{ community: 'alpha' }])
  assert.deepEqual(d2.instances[0].authenticated, [{ community: 'alpha' }])
  assert.deepEqual(s.authenticated, [{ community: 'alpha' }])
  const d3 = dummyExtension()
  solo([d3.factory])
  assert.throws(() => d3.instances[0].ctx.markAuthenticated({ community: 'x' }), /may not mark/)
})

test('close runs every close once; nothing is sent or dispatched after', () => {
  const auth = fakeAuth()
  const d = dummyExtension({ requiresAuth: false })
  const s = solo([auth.factory, d.factory])
  s.remoteHandshake({ bb_dummy: 4 })
  s.registry.close()
  s.registry.close()
  assert.equal(d.instances[0].closed, 1)
  d.instances[0].ctx.send(Buffer.from('late'))
  s.receive('bb_dummy', Buffer.from('late'))
  assert.deepEqual(s.sent, [])
  assert.equal(d.instances[0].received.length, 0)
})

test('counters per extension: messages and bytes each way', () => {
  const d = dummyExtension({ requiresAuth: false, echo: true })
  const s = solo([fakeAuth().factory, d.factory])
  s.remoteHandshake({ bb_dummy: 3 })
  s.receive('bb_dummy', Buffer.from('hello'))
  s.receive('bb_dummy', Buffer.from('hi'))
  s.registry.onExtended(99, Buffer.from('nobody'))
  const st = s.registry.stats()
  assert.deepEqual(st.extensions.bb_dummy, { messagesIn: 2, bytesIn: 7, messagesOut: 2, bytesOut: 13 })
  assert.deepEqual(st.extensions.bb_auth, { messagesIn: 0, bytesIn: 0, messagesOut: 0, bytesOut: 0 })
  // A copy: the caller cannot change the registry's numbers.
  st.extensions.bb_dummy.messagesIn = 100
  assert.equal(s.registry.stats().extensions.bb_dummy.messagesIn, 2)
})

test('after bb_auth with a session: gated messages carry a tag each way, checked and stripped; the cap grows by the tag', () => {
  const auth = fakeAuth()
  const d = dummyExtension({ maxMessage: 8, echo: true })
  const open = dummyExtension({ name: 'bb_open', requiresAuth: false })
  const s = solo([auth.factory, d.factory, open.factory])
  s.remoteHandshake({ bb_dummy: 5, bb_open: 6 })
  const session = new FakeSession()
  auth.pass({ community: 'c', session })
  s.receive('bb_dummy', Buffer.concat([Buffer.from('ping'), FakeSession.remoteTag(0)]))
  assert.deepEqual(d.instances[0].received, [Buffer.from('ping')], 'tag stripped')
  assert.deepEqual(s.sentTo(5), [Buffer.concat([Buffer.from('re:ping'), Buffer.from([0xaa, 0xaa, 0xaa, 0])])], 'tag appended')
  // A requiresAuth=false extension is not tagged.
  open.instances[0].ctx.send(Buffer.from('plain'))
  assert.deepEqual(s.sentTo(6), [Buffer.from('plain')])
  // maxMessage 8 + tag 4 = 12 on the wire.
  s.receive('bb_dummy', Buffer.concat([Buffer.from('12345678'), FakeSession.remoteTag(1)]))
  assert.equal(d.instances[0].received.length, 2)
  assert.deepEqual(s.misbehaved, [])
  s.receive('bb_dummy', Buffer.concat([Buffer.from('123456789'), FakeSession.remoteTag(2)]))
  assert.deepEqual(s.misbehaved, ['bb_dummy message of 13 bytes exceeds cap 12'])
})

test('a wrong, replayed or missing session tag is misbehaviour and never reaches the extension', () => {
  for (const payload of [
    Buffer.concat([Buffer.from('ping'), FakeSession.remoteTag(1)]), // counter ahead: a message dropped or replayed
    Buffer.concat([Buffer.from('ping'), Buffer.from([0, 0, 0, 0])]),
    Buffer.from('pin'), // shorter than a tag
  ]) {
    const auth = fakeAuth()
    const d = dummyExtension()
    const s = solo([auth.factory, d.factory])
    auth.pass({ community: 'c', session: new FakeSession() })
    s.receive('bb_dummy', payload)
    assert.deepEqual(s.misbehaved, ['bb_dummy message has a bad session tag'])
    assert.equal(s.registry.stats().badTag, 1)
    assert.equal(d.instances[0].received.length, 0)
  }
})

test('sending over our own cap is a bug (thrown), not a silent truncation', () => {
  const d = dummyExtension({ requiresAuth: false, maxMessage: 4 })
  const s = solo([d.factory])
  s.remoteHandshake({ bb_dummy: 1 })
  assert.throws(() => d.instances[0].ctx.send(Buffer.alloc(5)), RangeError)
})

test('an extension error in onRemoteHandshake or onAuthenticated is misbehaviour too', () => {
  const bad: Extension = { name: 'bb_h', maxMessage: 1, requiresAuth: false, onMessage: () => {}, onRemoteHandshake: () => { throw new ProtocolError('bb_h dislikes you') } }
  const s = solo([() => bad])
  s.remoteHandshake({ bb_h: 1 })
  assert.deepEqual(s.misbehaved, ['bb_h dislikes you'])
})
