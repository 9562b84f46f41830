// CoopFetch over in-memory member links (pair(): bb_auth, then bb_have, bb_bloom, bb_meta,
// bb_samples as a node carries them). Node IDs differ in their first byte, so which member owns
// a key (XOR-closest node ID) is read off the key's first byte. CoopFetch's own clock is fake;
// its 200 ms flush interval runs on real time, so tests that need a flush wait for its effect
// (polling, with a generous bound) and never on how long it took.

import { test, afterEach } from 'node:test'
import assert from 'node:assert/strict'
import { decodeBloomMessage } from '../../../extensions/bb-bloom.codec.js'
import { bbAuth } from '../../../extensions/bb-auth.js'
import { bbHave, type BbHaveHandle } from '../../../extensions/bb-have.js'
import { decodeHave } from '../../../extensions/bb-have.codec.js'
import { CoopFetch, ownsFetches, type CoopFetchOptions } from '../../../src/coop/coop-fetch.js'
import { syntheticTorrent } from '../../../src/torrent/synthetic.js'
import type { CreatedTorrent } from '../../../src/torrent/create-info.js'
import { pair, peerId, communityKey, sha1, type Pair } from '../extensions/helpers.js'

const K = communityKey('coop-fetch')
const TAG = 16

interface Clock { now: number }

interface Member {
  name: string
  nodeId: Buffer
  peerId: Buffer
  hex: string
  /** Built on first use, so `held` can be filled first (CoopFetch builds its bb_bloom filter from it at construction). */
  readonly coop: CoopFetch
  readonly built: boolean
  clock: Clock
  /** Every onLearn call, one entry per infohash. */
  learned: Array<{ ih: string, source: 'member' | 'member-sample' }>
  /** Raw info dicts this member serves over bb_meta, by hex key. */
  raws: Map<string, Buffer>
  /** What `held` returns. */
  held: Buffer[]
}

const open: { members: Member[], pairs: Pair[] } = { members: [], pairs: [] }

afterEach(() => {
  for (const p of open.pairs) { p.a.registry.close(); p.b.registry.close() }
  for (const m of open.members) if (m.built) m.coop.close()
  open.pairs = []
  open.members = []
})

/** A node ID whose first (and last) byte is `top`. */
function nid (top: number): Buffer { const b = Buffer.alloc(20); b[0] = top; b[19] = top; return b }
/** A key whose first byte is `top` (the rest from `salt`): owned by the member whose node ID's first byte is XOR-closest. */
function key (top: number, salt: string | number = 0): Buffer { const b = sha1(`coop key ${salt}`); b[0] = top; return b }
const hex = (b: Buffer): string => b.toString('hex')
const sortedHex = (bs: Buffer[]): string[] => bs.map(hex).sort()

function member (name: string, nodeId: Buffer, o: Partial<CoopFetchOptions> = {}, clock: Clock = { now: 0 }): Member {
  const learned: Member['learned'] = []
  const raws = new Map<string, Buffer>()
  const held: Buffer[] = []
  let coop: CoopFetch | null = null
  const build = (): CoopFetch => new CoopFetch({
    nodeId,
    source: { rawInfo: (ih) => raws.get(hex(ih)) ?? null },
    held: () => held,
    onLearn: (ihs, source) => { for (const ih of ihs) learned.push({ ih: hex(ih), source }) },
    ownerJitterMs: 0,
    now: () => clock.now,
    ...o,
  })
  const pid = peerId(`coop member ${name}`)
  const m: Member = {
    name, nodeId, peerId: pid, hex: hex(pid), clock, learned, raws, held,
    get coop () { return coop ?? (coop = build()) },
    get built () { return coop !== null },
  }
  open.members.push(m)
  return m
}

/** Keys of a torrent (v1, and the truncated v2 of a hybrid) and let m serve its info dict. */
function hold (m: Member, t: CreatedTorrent, inHeld = false): Buffer[] {
  const keys = [t.info.infohashV1, t.info.infohashV2?.subarray(0, 20)].filter((x): x is Buffer => x !== undefined)
  for (const k of keys) m.raws.set(hex(k), t.rawInfo)
  if (inHeld && m.built) throw new Error('hold(…, true) after the member was built: its filter would not have it')
  if (inHeld) m.held.push(...keys)
  return keys
}

/** Link two members (x dials y) and wait until bb_auth passed both ways. */
async function link (x: Member, y: Member): Promise<Pair> {
  const p = pair({
    a: [bbAuth({ keys: [K] }), ...x.coop.factories()],
    b: [bbAuth({ keys: [K] }), ...y.coop.factories()],
    peerIdA: x.peerId,
    peerIdB: y.peerId,
  })
  open.pairs.push(p)
  p.start()
  await p.settle()
  assert.equal(p.a.authenticated.length, 1, `${x.name}–${y.name} authenticated`)
  assert.equal(p.b.authenticated.length, 1, `${y.name}–${x.name} authenticated`)
  return p
}

function unlink (p: Pair): void { p.a.registry.close(); p.b.registry.close() }

const sleep = async (ms: number): Promise<void> => await new Promise((resolve) => setTimeout(resolve, ms))

/** Wait for a condition that a real-time flush brings about; fail (not time) if it never comes. */
async function until (cond: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 400; i++) {
    if (cond()) return
    await sleep(25)
  }
  assert.fail(`never happened: ${what}`)
}

/** Settle every open link. */
async function settleAll (): Promise<void> {
  for (let round = 0; round < 3; round++) for (const p of open.pairs) await p.settle()
}

/**
 * Flush now, deterministically: close() runs a last flush of everything queued (then the
 * member forgets its links; its extensions still receive). For the end of a test, to show
 * that nothing was waiting to be sent.
 */
async function flushByClose (...ms: Member[]): Promise<void> {
  for (const m of ms) m.coop.close()
  await settleAll()
}

const learnedKeys = (m: Member): string[] => m.learned.map((l) => l.ih)

/** The bb_have keys one side of a link sent over it (the session tag cut off). */
function haveKeysSent (p: Pair, side: 'a' | 'b'): string[] {
  return p[side].sent.filter((s) => s.name === 'bb_have').flatMap((s) => decodeHave(s.payload.subarray(0, s.payload.length - TAG)).ihs.map(hex))
}

// ---------------------------------------------------------------- ownsFetches

test('ownsFetches: full and source members own fetches, consumer and leech do not', () => {
  assert.equal(ownsFetches('full'), true)
  assert.equal(ownsFetches('source'), true)
  assert.equal(ownsFetches('consumer'), false)
  assert.equal(ownsFetches('leech'), false)
})

// ---------------------------------------------------------------- (a) ownership

test('ownership: keys we own are fetched now; keys a linked member owns wait for it, up to ownerWaitMs', async () => {
  const clock = { now: 100_000 }
  const A = member('a', nid(0x00), { ownerWaitMs: 5_000, recheckMs: 250 }, clock)
  const B = member('b', nid(0x80), { ownerWaitMs: 5_000, recheckMs: 250 }, clock)
  await link(A, B)
  const mine = key(0x01, 'mine')
  const theirs = key(0x81, 'theirs')
  assert.deepEqual(sortedHex(A.coop.knownOwners()), sortedHex([A.nodeId, B.nodeId]))
  assert.deepEqual(A.coop.memberNodeIds(), [B.nodeId])

  assert.equal(A.coop.deferUntil(mine), null)
  assert.equal(A.coop.deferUntil(theirs), 100_250)
  clock.now += 4_999
  assert.equal(A.coop.deferUntil(theirs), 104_999 + 250, 'still within the owner wait')
  assert.equal(A.coop.counters.ownerTimeouts, 0)
  clock.now += 1
  assert.equal(A.coop.deferUntil(theirs), null, 'the owner wait ran out: fetch it ourselves')
  assert.equal(A.coop.counters.ownerTimeouts, 1)
  assert.equal(A.coop.deferUntil(mine), null)

  // B agrees: it owns `theirs`, and waits for A on `mine`.
  assert.equal(B.coop.deferUntil(theirs), null)
  assert.equal(B.coop.deferUntil(mine), clock.now + 250)
})

test('ownership: each key waits its own owner wait', async () => {
  const clock = { now: 0 }
  const A = member('a', nid(0x00), { ownerWaitMs: 1_000, joinGraceMs: 0 }, clock)
  const B = member('b', nid(0x80), {}, clock)
  await link(A, B)
  const k1 = key(0x81, 1)
  const k2 = key(0x90, 2)
  assert.notEqual(A.coop.deferUntil(k1), null)
  clock.now = 600
  assert.notEqual(A.coop.deferUntil(k2), null)
  clock.now = 1_000
  assert.equal(A.coop.deferUntil(k1), null)
  assert.notEqual(A.coop.deferUntil(k2), null, 'k2 has waited 400 ms only')
  clock.now = 1_600
  assert.equal(A.coop.deferUntil(k2), null)
})

test('ownership: with ownerJitterMs, our own key waits a random time under it once, then is fetched', async () => {
  const clock = { now: 50_000 }
  const A = member('a', nid(0x00), { ownerJitterMs: 2_000 }, clock)
  const B = member('b', nid(0x80), {}, clock)
  await link(A, B)
  const mine = key(0x01, 'jitter')
  const t = A.coop.deferUntil(mine)
  assert.ok(t !== null && t >= 50_000 && t < 52_000, String(t))
  assert.equal(A.coop.deferUntil(mine), null)
})

test('ownership: alone, swarm fetches wait only during the join grace', () => {
  const clock = { now: 0 }
  const A = member('a', nid(0x00), { joinGraceMs: 15_000, recheckMs: 1_000 }, clock)
  assert.equal(A.coop.deferUntil(key(0x81)), 1_000)
  assert.equal(A.coop.deferUntil(key(0x01)), 1_000)
  clock.now = 14_999
  assert.equal(A.coop.deferUntil(key(0x81)), 15_999)
  clock.now = 15_000
  assert.equal(A.coop.deferUntil(key(0x81)), null)
  assert.equal(A.coop.deferUntil(key(0x01)), null)
  assert.deepEqual(A.coop.knownOwners(), [A.nodeId])
})

test('ownership: when the owner\'s link closes, we stop waiting for it', async () => {
  const clock = { now: 0 }
  const A = member('a', nid(0x00), { joinGraceMs: 0 }, clock)
  const B = member('b', nid(0x80), {}, clock)
  const p = await link(A, B)
  const theirs = key(0x81, 'gone')
  assert.notEqual(A.coop.deferUntil(theirs), null)
  unlink(p)
  assert.deepEqual(A.coop.memberNodeIds(), [])
  assert.deepEqual(A.coop.knownOwners(), [A.nodeId])
  assert.equal(A.coop.deferUntil(theirs), null)
})

// ---------------------------------------------------------------- (b) views

test('views: A–B and B–C linked, not A–C: A learns C through B\'s view and waits for C on a key C owns', async () => {
  const clock = { now: 0 }
  const A = member('a', nid(0x00), { joinGraceMs: 0 }, clock)
  const B = member('b', nid(0x80), { joinGraceMs: 0 }, clock)
  const C = member('c', nid(0x40), { joinGraceMs: 0 }, clock)
  await link(A, B)
  const bc = await link(B, C)
  const kc = key(0x41, 'c owns')
  const ka = key(0x01, 'a owns')
  // B's flush timer sends its view (A, C) to both.
  await until(() => A.coop.knownOwners().some((id) => id.equals(C.nodeId)), 'A knows C')
  await until(() => C.coop.knownOwners().some((id) => id.equals(A.nodeId)), 'C knows A')
  assert.deepEqual(sortedHex(A.coop.knownOwners()), sortedHex([A.nodeId, B.nodeId, C.nodeId]))
  assert.deepEqual(A.coop.memberNodeIds(), [B.nodeId], 'C is known, not linked')
  // All three agree on the owner of kc: C.
  assert.equal(A.coop.deferUntil(kc), 1_000)
  assert.equal(B.coop.deferUntil(kc), 1_000)
  assert.equal(C.coop.deferUntil(kc), null)
  // And on ka: A; C waits for A, whom it knows only through B.
  assert.equal(A.coop.deferUntil(ka), null)
  assert.equal(C.coop.deferUntil(ka), 1_000)

  // The B–C link goes: B's next view no longer holds C, and A stops waiting for C.
  unlink(bc)
  await until(() => !A.coop.knownOwners().some((id) => id.equals(C.nodeId)), 'A forgets C')
  assert.deepEqual(sortedHex(A.coop.knownOwners()), sortedHex([A.nodeId, B.nodeId]))
  assert.equal(A.coop.deferUntil(kc), null, 'A is the closest owner it knows of now')
})

test('views: close() flushes a pending view', async () => {
  const A = member('a', nid(0x00))
  const B = member('b', nid(0x80))
  const C = member('c', nid(0x40))
  await link(A, B)
  await link(B, C)
  B.coop.close()
  await settleAll()
  assert.ok(A.coop.knownOwners().some((id) => id.equals(C.nodeId)))
  assert.ok(C.coop.knownOwners().some((id) => id.equals(A.nodeId)))
})

// ---------------------------------------------------------------- (c) push and relay

test('push and relay: a swarm fetch reaches the linked member at once; it relays it on, never back', async () => {
  const A = member('a', nid(0x00))
  const B = member('b', nid(0x80))
  const C = member('c', nid(0x40))
  const ab = await link(A, B)
  const bc = await link(B, C)
  const ih = key(0x33, 'relay')

  A.coop.indexed([ih])
  await ab.settle()
  // Pushed at once (a swarm fetch is not batched): no flush needed.
  assert.deepEqual(B.learned, [{ ih: hex(ih), source: 'member' }])
  assert.equal(A.coop.counters.pushed, 1)

  // B pulled it from A and indexed it: relayed to C, not back to A.
  B.coop.indexed([ih], A.hex)
  assert.equal(B.coop.counters.relayed, 1)
  await until(() => learnedKeys(C).includes(hex(ih)), 'C learns the key from B')
  await settleAll()
  assert.deepEqual(C.learned, [{ ih: hex(ih), source: 'member' }])
  assert.deepEqual(A.learned, [])
  assert.deepEqual(haveKeysSent(ab, 'b'), [], 'B sent A no key')
  assert.deepEqual(haveKeysSent(bc, 'a'), [hex(ih)])

  // C indexes it too (from B): nowhere to send it (B is its source, and C has no other member).
  C.coop.indexed([ih], B.hex)
  await flushByClose(C, B)
  assert.deepEqual(learnedKeys(B), [hex(ih)])
  assert.deepEqual(learnedKeys(A), [])
  assert.deepEqual(haveKeysSent(bc, 'b'), [], 'C sent B no key')
})

test('relay: a key pulled through a member\'s filter (never announced to us) is not pushed back to it', async () => {
  const A = member('a', nid(0x00))
  const B = member('b', nid(0x80))
  const [ih] = hold(A, syntheticTorrent('coop-fetch-relay-bloom', 'v1'), true)
  const ab = await link(A, B)
  const got = B.coop.tryMembers(ih)
  await ab.settle()
  assert.equal((await got)?.from, A.hex)
  B.coop.indexed([ih], A.hex)
  await flushByClose(B)
  assert.deepEqual(haveKeysSent(ab, 'b'), [])
  assert.deepEqual(A.learned, [])
})

test('push: a key is pushed to a member at most once, and never to the member known to hold it', async () => {
  const A = member('a', nid(0x00))
  const B = member('b', nid(0x80))
  const ab = await link(A, B)
  const ih = key(0x10, 'once')
  A.coop.indexed([ih])
  A.coop.indexed([ih])
  await ab.settle()
  assert.deepEqual(learnedKeys(B), [hex(ih)])
  // B announced a key to A: A, indexing it later, does not push it back.
  const ih2 = key(0x90, 'from b')
  B.coop.indexed([ih2])
  await ab.settle()
  assert.deepEqual(learnedKeys(A), [hex(ih2)])
  A.coop.indexed([ih2])
  await ab.settle()
  assert.deepEqual(haveKeysSent(ab, 'a'), [hex(ih)])
})

// ---------------------------------------------------------------- (d) tryMembers

test('tryMembers pulls a verified dict from the member that announced the key, and names it', async () => {
  const A = member('a', nid(0x00))
  const B = member('b', nid(0x80))
  const ab = await link(A, B)
  const t = syntheticTorrent('coop-fetch-pull', 'v1')
  const [ih] = hold(B, t)
  // Not announced yet: nobody to ask, and nothing asked.
  assert.equal(await A.coop.tryMembers(ih), null)
  assert.equal(ab.a.sent.filter((s) => s.name === 'bb_meta').length, 0)

  B.coop.indexed([ih])
  await ab.settle()
  const got = A.coop.tryMembers(ih)
  await ab.settle()
  const r = await got
  assert.ok(r !== null)
  assert.deepEqual(r.raw, t.rawInfo)
  assert.equal(r.kind, 'v1')
  assert.equal(r.from, B.hex)
  assert.equal(A.coop.counters.fromMembers, 1)
})

test('tryMembers pulls the v2 key of a hybrid', async () => {
  const A = member('a', nid(0x00))
  const B = member('b', nid(0x80))
  const ab = await link(A, B)
  const t = syntheticTorrent('coop-fetch-hybrid', 'hybrid')
  const keys = hold(B, t)
  assert.equal(keys.length, 2)
  B.coop.indexed(keys)
  await ab.settle()
  assert.deepEqual(learnedKeys(A), keys.map(hex))
  const got = A.coop.tryMembers(keys[1])
  await ab.settle()
  const r = await got
  assert.equal(r?.kind, 'v2')
  assert.deepEqual(r?.raw, t.rawInfo)
})

test('tryMembers finds a key in a member\'s bb_bloom filter (held before the link)', async () => {
  const A = member('a', nid(0x00))
  const B = member('b', nid(0x80))
  const t = syntheticTorrent('coop-fetch-bloom', 'v1')
  const [ih] = hold(B, t, true)
  const ab = await link(A, B)
  const got = A.coop.tryMembers(ih)
  await ab.settle()
  assert.equal((await got)?.from, B.hex)
})

test('tryMembers: a member that announced the key but cannot give it is a miss, not an error', async () => {
  const A = member('a', nid(0x00))
  const B = member('b', nid(0x80))
  const ab = await link(A, B)
  const ih = key(0x55, 'not served')
  B.coop.indexed([ih])
  await ab.settle()
  const got = A.coop.tryMembers(ih)
  await ab.settle()
  assert.equal(await got, null)
  assert.equal(A.coop.counters.memberMisses, 1)
  assert.equal(A.coop.counters.fromMembers, 0)
})

// ---------------------------------------------------------------- (e) modes

test('source: never defers, pulls nothing, learns nothing from bb_have, but owns fetches for the others', async () => {
  const clock = { now: 0 }
  const A = member('a', nid(0x00), {}, clock)
  const S = member('s', nid(0x80), { mode: 'source' }, clock)
  const t = syntheticTorrent('coop-fetch-source', 'v1')
  const [held] = hold(A, t, true)
  const [sHeld] = hold(S, syntheticTorrent('coop-fetch-source-s', 'v1'), true)
  const as = await link(A, S)
  assert.equal(S.coop.mode, 'source')
  // Even during the join grace and for keys A owns, a source fetches at once.
  assert.equal(S.coop.deferUntil(key(0x01, 's')), null)
  assert.equal(S.coop.deferUntil(key(0x81, 's')), null)
  // A holds `held` (its filter reached S), yet S pulls nothing.
  assert.equal(await S.coop.tryMembers(held), null)
  assert.equal(as.b.sent.filter((s) => s.name === 'bb_meta').length, 0)
  // A source is an owner: A waits for it on a key it owns.
  assert.notEqual(A.coop.deferUntil(key(0x81, 'a')), null)
  // A source shares its own swarm fetches...
  const own = key(0x90, 'source own')
  S.coop.indexed([own])
  await as.settle()
  assert.ok(learnedKeys(A).includes(hex(own)))
  // ...and catches the others up with what it held (its filter reached A, A's reached S).
  assert.equal(S.coop.counters.catchUp, 1)
  await until(() => learnedKeys(A).includes(hex(sHeld)), 'A is caught up by the source')
  // A pushes nothing to a source, neither a swarm fetch (pushed at once) nor a catch-up.
  assert.equal(A.coop.counters.catchUp, 0)
  A.coop.indexed([key(0x11, 'a own')])
  await flushByClose(A)
  assert.deepEqual(haveKeysSent(as, 'a'), [])
  assert.deepEqual(S.learned, [])
})

test('source: a bb_have that reaches it anyway is not learned', async () => {
  const S = member('s', nid(0x80), { mode: 'source' })
  const handles: BbHaveHandle[] = []
  const p = pair({
    a: [bbAuth({ keys: [K] }), bbHave({ nodeId: nid(0x01), onOpen: (h) => handles.push(h) })],
    b: [bbAuth({ keys: [K] }), ...S.coop.factories()],
  })
  open.pairs.push(p)
  p.start()
  await p.settle()
  assert.equal(handles.length, 1)
  assert.equal(handles[0].mode, 'source')
  handles[0].push([key(0x22, 'pushed')])
  await p.settle()
  assert.equal(p.down, false)
  assert.deepEqual(S.learned, [])
  assert.equal(S.coop.counters.learned, 0)
})

test('source: does not relay what it indexed from a member', async () => {
  const A = member('a', nid(0x00))
  const S = member('s', nid(0x80), { mode: 'source' })
  const B = member('b', nid(0x40))
  await link(A, S)
  const sb = await link(S, B)
  S.coop.indexed([key(0x12, 'relay?')], A.hex)
  await flushByClose(S)
  assert.deepEqual(haveKeysSent(sb, 'a').filter((k) => k === hex(key(0x12, 'relay?'))), [])
  assert.equal(S.coop.counters.relayed, 0)
})

test('leech: never an owner for the others, defers to owners itself, shares nothing, receives pushes', async () => {
  const clock = { now: 0 }
  const A = member('a', nid(0x00), { joinGraceMs: 0 }, clock)
  const L = member('l', nid(0x80), { mode: 'leech', joinGraceMs: 0 }, clock)
  const al = await link(A, L)
  const nearL = key(0x81, 'near leech')
  // A does not wait for the leech: it is the only owner it knows.
  assert.deepEqual(A.coop.knownOwners(), [A.nodeId])
  assert.equal(A.coop.deferUntil(nearL), null)
  // The leech is no owner either: it waits for A, even on keys closest to itself.
  assert.deepEqual(L.coop.knownOwners(), [A.nodeId])
  assert.equal(L.coop.deferUntil(nearL), 1_000)
  // What A fetches reaches the leech.
  const ka = key(0x02, 'from a')
  A.coop.indexed([ka])
  await al.settle()
  assert.deepEqual(L.learned, [{ ih: hex(ka), source: 'member' }])
  // What the leech fetches from the swarm, or pulled from A, is not pushed; it forwards no samples.
  L.coop.indexed([nearL])
  L.coop.indexed([ka], A.hex)
  L.coop.discovered([key(0x01, 'sample')])
  await flushByClose(L)
  assert.deepEqual(haveKeysSent(al, 'b'), [])
  assert.equal(al.b.sent.filter((s) => s.name === 'bb_samples').length, 0)
  assert.deepEqual(A.learned, [])
  assert.equal(L.coop.counters.samplesSent, 0)
  assert.equal(L.coop.counters.pushed, 0)
})

test('leech: it shows only an empty bb_bloom filter', async () => {
  const A = member('a', nid(0x00))
  const L = member('l', nid(0x80), { mode: 'leech' })
  const t = syntheticTorrent('coop-fetch-leech-held', 'v1')
  const [ih] = hold(L, t, true)
  const al = await link(A, L)
  // One message: the smallest filter, empty (so A catches it up), never what it holds.
  const sent = al.b.sent.filter((s) => s.name === 'bb_bloom')
  assert.equal(sent.length, 1)
  // The wire payload ends with the 16-byte session tag (docs/protocol.md, common rules).
  const m = decodeBloomMessage(sent[0].payload.subarray(0, sent[0].payload.length - 16))
  assert.ok(m.t === 'f' && m.n === 0 && m.m === 1024 && m.b.every((x) => x === 0))
  assert.equal(await A.coop.tryMembers(ih), null)
})

test('leech and consumer members are left out of the views sent on', async () => {
  const A = member('a', nid(0x00))
  const B = member('b', nid(0x80))
  const C = member('c', nid(0x40))
  const L = member('l', nid(0x20), { mode: 'leech' })
  const N = member('n', nid(0x60), { mode: 'consumer' })
  await link(A, B)
  await link(B, L)
  await link(B, N)
  await link(B, C)
  await until(() => A.coop.knownOwners().some((id) => id.equals(C.nodeId)), 'A knows C')
  assert.deepEqual(sortedHex(A.coop.knownOwners()), sortedHex([A.nodeId, B.nodeId, C.nodeId]))
  assert.deepEqual(sortedHex(B.coop.memberNodeIds()), sortedHex([A.nodeId, C.nodeId, L.nodeId, N.nodeId]))
  // The consumer and the leech know the owners through B.
  await until(() => N.coop.knownOwners().length === 3, 'N knows A, B, C')
  assert.deepEqual(sortedHex(N.coop.knownOwners()), sortedHex([A.nodeId, B.nodeId, C.nodeId]))
})

test('consumer: relays what came from a member, does not push its own swarm fetches, owns nothing', async () => {
  const clock = { now: 0 }
  const A = member('a', nid(0x00), { joinGraceMs: 0 }, clock)
  const N = member('n', nid(0x40), { mode: 'consumer', joinGraceMs: 0 }, clock)
  const B = member('b', nid(0x80), { joinGraceMs: 0 }, clock)
  const an = await link(A, N)
  const nb = await link(N, B)
  // Owns nothing: A does not wait for N on a key closest to N (A is closest of the owners).
  const nearN = key(0x41, 'near n')
  assert.equal(A.coop.deferUntil(nearN), null)
  assert.equal(N.coop.deferUntil(nearN), 1_000, 'N waits for A')

  // Its own swarm fetch goes nowhere.
  const own = key(0x42, 'n own')
  N.coop.indexed([own])
  // What it pulled from A goes on to B.
  const ka = key(0x03, 'a fetched')
  A.coop.indexed([ka])
  await an.settle()
  assert.deepEqual(N.learned, [{ ih: hex(ka), source: 'member' }])
  N.coop.indexed([ka], A.hex)
  await until(() => learnedKeys(B).includes(hex(ka)), 'B learns ka through N')
  await settleAll()
  assert.deepEqual(learnedKeys(B), [hex(ka)])
  assert.deepEqual(haveKeysSent(nb, 'a'), [hex(ka)])
  assert.deepEqual(haveKeysSent(an, 'b'), [], 'nothing back to A, not even its own swarm fetch')
  assert.deepEqual(learnedKeys(A), [])
  assert.equal(N.coop.counters.relayed, 1)
  // A consumer forwards no samples; after a last flush, still nothing of its own went out.
  N.coop.discovered([key(0x81, 'sample')])
  await flushByClose(N)
  assert.equal(N.coop.counters.samplesSent, 0)
  assert.equal([...an.b.sent, ...nb.a.sent].filter((s) => s.name === 'bb_samples').length, 0)
  assert.deepEqual(haveKeysSent(an, 'b'), [])
  assert.deepEqual(haveKeysSent(nb, 'a'), [hex(ka)])
})

test('consumer: no catch-up push from it', async () => {
  const N = member('n', nid(0x40), { mode: 'consumer' })
  const B = member('b', nid(0x80))
  hold(N, syntheticTorrent('coop-fetch-consumer-held', 'v1'), true)
  hold(B, syntheticTorrent('coop-fetch-consumer-b', 'v1'), true)
  await link(N, B)
  await flushByClose(N)
  assert.equal(N.coop.counters.catchUp, 0)
  assert.deepEqual(B.learned, [])
})

// ---------------------------------------------------------------- (f) catch-up

test('catch-up: on link, A pushes the keys it holds that B\'s filter lacks', async () => {
  const A = member('a', nid(0x00))
  const B = member('b', nid(0x80))
  const shared = hold(A, syntheticTorrent('coop-fetch-cu-shared', 'v1'), true)
  hold(B, syntheticTorrent('coop-fetch-cu-shared', 'v1'), true)
  const onlyA = [
    ...hold(A, syntheticTorrent('coop-fetch-cu-a1', 'v1'), true),
    ...hold(A, syntheticTorrent('coop-fetch-cu-a2', 'hybrid'), true),
  ]
  await link(A, B)
  // The filters crossed during the link; the pushes go with A's next flush.
  assert.equal(A.coop.counters.catchUp, onlyA.length)
  assert.equal(B.coop.counters.catchUp, 0, 'A holds everything B holds')
  await until(() => B.learned.length === onlyA.length, 'B learns what it lacks')
  await settleAll()
  assert.deepEqual(learnedKeys(B).sort(), onlyA.map(hex).sort())
  assert.ok(!learnedKeys(B).includes(hex(shared[0])))
  assert.deepEqual(A.learned, [])
  // What B learned it can pull from A.
  const got = B.coop.tryMembers(onlyA[2])
  await settleAll()
  assert.equal((await got)?.kind, 'v2')
})

test('catch-up: catchUpMax bounds the keys checked', async () => {
  const A = member('a', nid(0x00), { catchUpMax: 2 })
  const B = member('b', nid(0x80))
  for (let i = 0; i < 5; i++) A.held.push(key(0x10 + i, `cu max ${i}`))
  B.held.push(key(0x70, 'b holds one'))
  await link(A, B)
  assert.equal(A.coop.counters.catchUp, 2)
  await until(() => B.learned.length === 2, 'B gets 2 keys')
})

// A member that holds nothing still sends an (empty) filter, so it is caught up too.
test('catch-up: a fresh member that holds nothing yet is caught up too', async () => {
  const A = member('a', nid(0x00))
  const B = member('b', nid(0x80))
  const keys = hold(A, syntheticTorrent('coop-fetch-cu-fresh', 'v1'), true)
  await link(A, B)
  assert.equal(A.coop.counters.catchUp, keys.length)
  await flushByClose(A)
  assert.deepEqual(learnedKeys(B), keys.map(hex))
})

// ---------------------------------------------------------------- (g) discovered

test('discovered: a key the linked member B owns is forwarded to B by bb_samples; one we own is not', async () => {
  const A = member('a', nid(0x00))
  const B = member('b', nid(0x80))
  const ab = await link(A, B)
  const bOwns = key(0x81, 'b owns sample')
  const aOwns = key(0x01, 'a owns sample')
  A.coop.discovered([bOwns, aOwns])
  await until(() => B.learned.length > 0, 'B learns the sample')
  await settleAll()
  assert.deepEqual(B.learned, [{ ih: hex(bOwns), source: 'member-sample' }])
  assert.equal(A.coop.counters.samplesSent, 1)
  assert.equal(B.coop.counters.samplesReceived, 1)
  assert.deepEqual(A.learned, [])
  assert.equal(ab.a.sent.filter((s) => s.name === 'bb_samples').length, 1)
})

test('discovered: alone, or with only non-owners linked, nothing is forwarded', async () => {
  const A = member('a', nid(0x00))
  A.coop.discovered([key(0x81, 'alone')])
  const L = member('l', nid(0x80), { mode: 'leech' })
  const al = await link(A, L)
  A.coop.discovered([key(0x81, 'to leech?')])
  await flushByClose(A)
  assert.equal(A.coop.counters.samplesSent, 0)
  assert.equal(al.a.sent.filter((s) => s.name === 'bb_samples').length, 0)
  assert.deepEqual(L.learned.filter((l) => l.source === 'member-sample'), [])
})

test('discovered: a key owned by a member known only through a view is not forwarded (no link to it)', async () => {
  const A = member('a', nid(0x00))
  const B = member('b', nid(0x80))
  const C = member('c', nid(0x40))
  const ab = await link(A, B)
  await link(B, C)
  await until(() => A.coop.knownOwners().length === 3, 'A knows C')
  A.coop.discovered([key(0x41, 'c owns sample'), key(0x81, 'b owns sample 2')])
  await until(() => B.learned.length > 0, 'B gets its sample')
  await settleAll()
  assert.deepEqual(B.learned, [{ ih: hex(key(0x81, 'b owns sample 2')), source: 'member-sample' }])
  assert.deepEqual(C.learned, [])
  assert.equal(ab.a.sent.filter((s) => s.name === 'bb_samples').length, 1)
})

test('discovered: a source member queues samples forwarded to it', async () => {
  const A = member('a', nid(0x00))
  const S = member('s', nid(0x80), { mode: 'source' })
  await link(A, S)
  A.coop.discovered([key(0x81, 'for the source')])
  await until(() => S.learned.length > 0, 'S gets the sample')
  assert.deepEqual(S.learned, [{ ih: hex(key(0x81, 'for the source')), source: 'member-sample' }])
})
