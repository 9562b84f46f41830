// ut_pex between members (extensions/ut-pex.ts): sent only after bb_auth, the link's community
// only, at most 50 added / 50 dropped, the first a second after bb_auth, then at most one a
// minute and only on a change; received messages before bb_auth are ignored without a word,
// after it one a minute is acted upon and a bad one costs the link. Manual clock throughout.

import { test } from 'node:test'
import assert from 'node:assert/strict'
import { ManualClock, fakeAuth, peerId, sha1, solo, type Solo } from './helpers.js'
import { utPex, newPexCounters, UT_PEX, PEX_FIRST_DELAY_MS, type PexMemberView, type PexSource, type UtPexCounters } from '../../../extensions/ut-pex.js'
import { decodePex, encodePex, PEX_MAX_MESSAGE, PEX_MIN_INTERVAL_MS, type PexMessage } from '../../../extensions/ut-pex.codec.js'
import { encode } from '../../../src/core/bencode.js'
import type { PeerAddr } from '../../../src/core/compact.js'

const RV = sha1('rendezvous of the day')
const REMOTE_ID = peerId('remote')
const PEX_ID = 7

interface Fake extends PexSource {
  list: PexMemberView[]
  offers: Array<PeerAddr & { infohash: Buffer }>
  watchers: Set<() => void>
  change: () => void
}

function fakeSource (): Fake {
  const watchers = new Set<() => void>()
  const f: Fake = {
    list: [],
    offers: [],
    watchers,
    members: () => f.list,
    offer: (p) => { f.offers.push(p) },
    watch: (fn) => { watchers.add(fn); return () => { watchers.delete(fn) } },
    change: () => { for (const w of [...watchers]) w() },
  }
  return f
}

function member (i: number, o: Partial<PexMemberView> = {}): PexMemberView {
  return { peerId: peerId(`m${i}`), host: `127.9.${i >> 8}.${i & 255}`, port: 7000 + i, community: 'c', listening: true, ...o }
}

interface Rig {
  s: Solo
  clock: ManualClock
  src: Fake
  counters: UtPexCounters
  pass: () => void
  /** ut_pex messages we sent, decoded. */
  sent: () => PexMessage[]
}

function rig (opts: { remoteM?: Record<string, number>, community?: string } = {}): Rig {
  const clock = new ManualClock()
  const src = fakeSource()
  const counters = newPexCounters()
  const auth = fakeAuth()
  const s = solo([auth.factory, utPex({ source: src, schedule: clock.schedule, now: () => clock.now, counters })], { infohash: RV, remotePeerId: REMOTE_ID })
  s.remoteHandshake(opts.remoteM ?? { bb_auth: 1, ut_pex: PEX_ID })
  return { s, clock, src, counters, pass: () => auth.pass({ community: opts.community ?? 'c' }), sent: () => s.sentTo(PEX_ID).map((p) => decodePex(p)) }
}

const addrs = (ps: PeerAddr[]): string[] => ps.map((p) => `${p.host}:${p.port}`).sort()
const addrOf = (m: PexMemberView): string => `${m.host}:${m.port}`

test('ut_pex is the standard name, open to the registry (it gates itself), with the codec cap', () => {
  const src = fakeSource()
  const ext = utPex({ source: src })({
    infohash: RV, localPeerId: peerId('local'), remote: { host: '127.0.0.1', port: 1, peerId: REMOTE_ID }, initiator: true,
    send: () => {}, remoteSupports: () => true, authenticated: () => false, markAuthenticated: () => {}, misbehaved: () => {},
  })
  assert.deepEqual({ name: ext.name, requiresAuth: ext.requiresAuth, maxMessage: ext.maxMessage }, { name: 'ut_pex', requiresAuth: false, maxMessage: PEX_MAX_MESSAGE })
  ext.close?.()
  const r = rig()
  assert.deepEqual(r.s.registry.handshake().m, { bb_auth: 1, ut_pex: 2 })
  r.s.registry.close()
})

test('nothing is sent before bb_auth; the first message goes a second after it, with the members of that community', () => {
  const r = rig()
  r.src.list = [member(1), member(2), member(3, { community: 'other' }), member(4, { listening: false }), member(5, { peerId: REMOTE_ID })]
  r.clock.advance(10 * PEX_MIN_INTERVAL_MS)
  assert.equal(r.sent().length, 0, 'no message to a link that has not passed bb_auth')
  assert.equal(r.clock.pending, 0)
  r.pass()
  r.clock.advance(PEX_FIRST_DELAY_MS - 1)
  assert.equal(r.sent().length, 0)
  r.clock.advance(1)
  const sent = r.sent()
  assert.equal(sent.length, 1)
  // Not the other community's member, not one whose listening port is unknown, not the remote itself.
  assert.deepEqual(addrs(sent[0].added), [addrOf(member(1)), addrOf(member(2))].sort())
  assert.deepEqual(sent[0].dropped, [])
  assert.equal(r.counters.messagesSent, 1)
  r.s.registry.close()
  assert.equal(r.clock.pending, 0, 'close disarms the timer')
  assert.equal(r.src.watchers.size, 0, 'close unsubscribes')
})

test('a link authenticated for another community hears only of that community', () => {
  const r = rig({ community: 'other' })
  r.src.list = [member(1), member(2, { community: 'other' })]
  r.pass()
  r.clock.advance(PEX_FIRST_DELAY_MS)
  assert.deepEqual(addrs(r.sent()[0].added), [addrOf(member(2))])
  r.s.registry.close()
})

test('no message when there is nothing new; a change is sent at once if the minute has passed', () => {
  const r = rig()
  r.pass()
  r.clock.advance(PEX_FIRST_DELAY_MS)
  assert.equal(r.sent().length, 0, 'no members: nothing to say, nothing sent')
  r.clock.advance(5 * PEX_MIN_INTERVAL_MS)
  assert.equal(r.sent().length, 0)
  r.src.list = [member(1)]
  r.src.change()
  r.clock.advance(0)
  assert.equal(r.sent().length, 1)
  assert.deepEqual(addrs(r.sent()[0].added), [addrOf(member(1))])
  r.s.registry.close()
})

test('at most one message a minute: changes within the minute wait for it, then go together', () => {
  const r = rig()
  r.src.list = [member(1)]
  r.pass()
  r.clock.advance(PEX_FIRST_DELAY_MS)
  assert.equal(r.sent().length, 1)
  r.src.list = [member(1), member(2)]
  r.src.change()
  r.clock.advance(30_000)
  r.src.list = [member(2), member(3)]
  r.src.change()
  r.clock.advance(PEX_MIN_INTERVAL_MS - 30_000 - 1)
  assert.equal(r.sent().length, 1, 'not within the minute')
  r.clock.advance(1)
  const sent = r.sent()
  assert.equal(sent.length, 2)
  assert.deepEqual(addrs(sent[1].added), [addrOf(member(2)), addrOf(member(3))].sort())
  assert.deepEqual(addrs(sent[1].dropped), [addrOf(member(1))], 'a member told of and lost since is dropped')
  r.clock.advance(10 * PEX_MIN_INTERVAL_MS)
  assert.equal(r.sent().length, 2, 'nothing new: nothing sent')
  r.src.list = []
  r.src.change()
  r.clock.advance(0)
  assert.deepEqual(addrs(r.sent()[2].dropped), [addrOf(member(2)), addrOf(member(3))].sort())
  assert.deepEqual(r.sent()[2].added, [])
  r.s.registry.close()
})

test('at most 50 added per message; the rest follow a minute apart', () => {
  const r = rig()
  r.src.list = Array.from({ length: 120 }, (_, i) => member(i + 1))
  r.pass()
  r.clock.advance(PEX_FIRST_DELAY_MS)
  assert.deepEqual(r.sent().map((m) => m.added.length), [50])
  r.clock.advance(PEX_MIN_INTERVAL_MS - 1)
  assert.equal(r.sent().length, 1)
  r.clock.advance(1)
  r.clock.advance(PEX_MIN_INTERVAL_MS)
  assert.deepEqual(r.sent().map((m) => m.added.length), [50, 50, 20])
  assert.equal(new Set(r.sent().flatMap((m) => addrs(m.added))).size, 120, 'each member told once')
  // All 120 lost: dropped is capped the same way.
  r.src.list = []
  r.src.change()
  // (ManualClock fires due timers at the end time of an advance: step a minute at a time.)
  for (let i = 0; i < 3; i++) r.clock.advance(PEX_MIN_INTERVAL_MS)
  assert.deepEqual(r.sent().slice(3).map((m) => m.dropped.length), [50, 50, 20])
  for (const p of r.s.sentTo(PEX_ID)) assert.ok(p.length <= PEX_MAX_MESSAGE)
  r.s.registry.close()
})

test('IPv6 and IPv4-mapped member addresses go in the right lists', () => {
  const r = rig()
  r.src.list = [member(1, { host: '::1' }), member(2, { host: '::ffff:127.0.0.9' })]
  r.pass()
  r.clock.advance(PEX_FIRST_DELAY_MS)
  assert.deepEqual(addrs(r.sent()[0].added), ['127.0.0.9:7002', '::1:7001'])
  r.s.registry.close()
})

test('a remote that does not name ut_pex gets nothing', () => {
  const r = rig({ remoteM: { bb_auth: 1 } })
  r.src.list = [member(1)]
  r.pass()
  r.clock.advance(PEX_FIRST_DELAY_MS + PEX_MIN_INTERVAL_MS)
  assert.equal(r.s.sent.length, 0)
  r.s.registry.close()
})

test('before bb_auth every ut_pex message is ignored: not decoded, not answered, not penalised', () => {
  const r = rig()
  const good = encodePex({ added: [{ host: '127.0.0.5', port: 6881 }], dropped: [] })
  for (const p of [good, Buffer.from('garbage'), encode({ added: Buffer.alloc(7) }), Buffer.alloc(0)]) r.s.receive(UT_PEX, p)
  assert.deepEqual(r.s.misbehaved, [])
  assert.deepEqual(r.src.offers, [])
  assert.equal(r.s.sent.length, 0)
  assert.equal(r.counters.ignoredUnauthenticated, 4)
  // And it does not use up the first accepted message of the minute.
  r.pass()
  r.s.receive(UT_PEX, good)
  assert.equal(r.src.offers.length, 1)
  r.s.registry.close()
})

test('after bb_auth: added peers are offered with the rendezvous infohash, one message a minute (the first at once)', () => {
  const r = rig()
  r.pass()
  const m1 = encodePex({ added: [{ host: '127.0.0.5', port: 6881 }, { host: '127.0.0.6', port: 6882 }], dropped: [{ host: '127.0.0.7', port: 1 }] })
  const m2 = encodePex({ added: [{ host: '127.0.0.8', port: 6883 }], dropped: [] })
  r.s.receive(UT_PEX, m1)
  assert.deepEqual(r.src.offers, [{ host: '127.0.0.5', port: 6881, infohash: RV }, { host: '127.0.0.6', port: 6882, infohash: RV }])
  r.clock.advance(10_000)
  r.s.receive(UT_PEX, m2)
  assert.equal(r.src.offers.length, 2, 'a second message within the minute is ignored')
  assert.equal(r.counters.rateLimited, 1)
  r.clock.advance(PEX_MIN_INTERVAL_MS)
  r.s.receive(UT_PEX, m2)
  assert.deepEqual(r.src.offers.at(-1), { host: '127.0.0.8', port: 6883, infohash: RV })
  assert.deepEqual(r.s.misbehaved, [])
  assert.equal(r.s.sentTo(PEX_ID).length, 0, 'receiving is never answered')
  r.s.registry.close()
})

for (const [what, payload] of [
  ['not bencode', Buffer.from('dx')],
  ['not a dict', encode([1])],
  ['added not a multiple of 6', encode({ added: Buffer.alloc(7) })],
  ['more than 50 added', encode({ added: Buffer.alloc(6 * 51, 1) })],
] as const) {
  test(`after bb_auth a bad ut_pex message (${what}) is a violation with a ut_pex reason, nothing offered`, () => {
    const r = rig()
    r.pass()
    r.s.receive(UT_PEX, payload)
    assert.equal(r.s.misbehaved.length, 1)
    assert.match(r.s.misbehaved[0], /^ut_pex/)
    assert.deepEqual(r.src.offers, [])
    r.s.registry.close()
  })
}

test('a message over the 4 KiB cap is refused by the registry before anything decodes it', () => {
  const r = rig()
  r.pass()
  r.s.receive(UT_PEX, Buffer.alloc(PEX_MAX_MESSAGE + 1, 0x64))
  assert.equal(r.s.misbehaved.length, 1)
  assert.match(r.s.misbehaved[0], /exceeds cap/)
  r.s.registry.close()
})

test('without change notifications it looks again every minute', () => {
  const clock = new ManualClock()
  const list: PexMemberView[] = []
  const auth = fakeAuth()
  const s = solo([auth.factory, utPex({ source: { members: () => list, offer: () => {} }, schedule: clock.schedule, now: () => clock.now })], { remotePeerId: REMOTE_ID })
  s.remoteHandshake({ bb_auth: 1, ut_pex: PEX_ID })
  auth.pass()
  clock.advance(PEX_FIRST_DELAY_MS)
  assert.equal(s.sentTo(PEX_ID).length, 0)
  list.push(member(1))
  clock.advance(PEX_MIN_INTERVAL_MS)
  assert.equal(s.sentTo(PEX_ID).length, 1)
  s.registry.close()
  assert.equal(clock.pending, 0)
})
