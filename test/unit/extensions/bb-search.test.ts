import { test } from 'node:test'
import assert from 'node:assert/strict'
import { pair, communityKey, sha1 } from './helpers.js'
import { bbAuth } from '../../../extensions/bb-auth.js'
import { bbSearch, SearchRefusedError, type BbSearchHandle } from '../../../extensions/bb-search.js'
import { decodeSearchMessage, encodeSearchMessage, cutUtf8, fitHits, BB_SEARCH_MAX_MESSAGE, SEARCH_REFUSED, type WireHit } from '../../../extensions/bb-search.codec.js'
import { encode } from '../../../src/core/bencode.js'
import { DecodeError, SchemaError, UsageError, StoreError, TimeoutError } from '../../../src/core/errors.js'
import type { SearchHit, SearchRequest } from '../../../src/search/types.js'

const K = communityKey('search')

function hit (i: number, name = `torrent ${i}`): SearchHit {
  return { infohash: sha1(`ih ${i}`).toString('hex'), name, size: 1000 + i, files: 1 + (i % 3), discovered_at: 1_700_000_000_000 + i, score: 0 }
}

function wire (i: number): WireHit {
  return { h: sha1(`ih ${i}`), n: `torrent ${i}`, s: 1000 + i, f: 1, d: 1_700_000_000_000 + i }
}

// ---------------------------------------------------------------- codec

test('query, answer and refusal round-trip', () => {
  const q = { t: 'q' as const, i: 7, q: 'ubuntu "live server" -beta', l: 20, o: 'size' as const, f: { minSize: 1, maxSize: 2 ** 40, ext: 'iso', minFiles: 2, since: 1_700_000_000_000 } }
  assert.deepEqual(decodeSearchMessage(encodeSearchMessage(q)), q)
  assert.deepEqual(decodeSearchMessage(encodeSearchMessage({ t: 'q', i: 1, q: 'x', l: 1 })), { t: 'q', i: 1, q: 'x', l: 1 })
  const r = { t: 'r' as const, i: 7, r: [wire(1), { ...wire(2), h2: Buffer.alloc(32, 9) }] }
  assert.deepEqual(decodeSearchMessage(encodeSearchMessage(r)), r)
  assert.deepEqual(decodeSearchMessage(encodeSearchMessage({ t: 'r', i: 3, r: [] })), { t: 'r', i: 3, r: [] })
  assert.deepEqual(decodeSearchMessage(encodeSearchMessage({ t: 'e', i: 9, c: 1, m: 'slow down' })), { t: 'e', i: 9, c: 1, m: 'slow down' })
})

test('unknown keys are ignored', () => {
  const b = encode({ t: 'q', i: 1, q: Buffer.from('abc'), l: 5, zz: 'future' })
  assert.deepEqual(decodeSearchMessage(b), { t: 'q', i: 1, q: 'abc', l: 5 })
})

test('bad messages are typed errors', () => {
  const bad: Array<[string, Uint8Array, new (...a: never[]) => Error]> = [
    ['not bencode', Buffer.from('d1:t1:q'), DecodeError],
    ['not a dict', encode([1, 2]), SchemaError],
    ['trailing bytes', Buffer.concat([encode({ t: 'e', i: 1, c: 1 }), Buffer.from('xx')]), SchemaError],
    ['no id', encode({ t: 'q', q: 'a', l: 1 }), SchemaError],
    ['id out of range', encode({ t: 'q', i: 2 ** 32, q: 'a', l: 1 }), SchemaError],
    ['unknown type', encode({ t: 'z', i: 1 }), SchemaError],
    ['empty query', encode({ t: 'q', i: 1, q: '', l: 1 }), SchemaError],
    ['query over 512 bytes', encode({ t: 'q', i: 1, q: 'a'.repeat(513), l: 1 }), SchemaError],
    ['query not UTF-8', encode({ t: 'q', i: 1, q: Buffer.from([0xff, 0xfe]), l: 1 }), SchemaError],
    ['limit 0', encode({ t: 'q', i: 1, q: 'a', l: 0 }), SchemaError],
    ['limit 101', encode({ t: 'q', i: 1, q: 'a', l: 101 }), SchemaError],
    ['negative filter', encode({ t: 'q', i: 1, q: 'a', l: 1, f: { smin: -1 } }), SchemaError],
    ['long extension', encode({ t: 'q', i: 1, q: 'a', l: 1, f: { x: 'x'.repeat(17) } }), SchemaError],
    ['unknown order', encode({ t: 'q', i: 1, q: 'a', l: 1, o: 'random' }), SchemaError],
    ['query message over 2 KiB', encode({ t: 'q', i: 1, q: 'a', l: 1, pad: 'p'.repeat(3000) }), SchemaError],
    ['answer without r', encode({ t: 'r', i: 1 }), SchemaError],
    ['101 hits', encode({ t: 'r', i: 1, r: Array.from({ length: 101 }, () => ({ h: Buffer.alloc(20), n: 'a', s: 1, f: 1, d: 1 })) }), SchemaError],
    ['hit h of 19 bytes', encode({ t: 'r', i: 1, r: [{ h: Buffer.alloc(19), n: 'a', s: 1, f: 1, d: 1 }] }), SchemaError],
    ['hit h2 of 20 bytes', encode({ t: 'r', i: 1, r: [{ h: Buffer.alloc(20), h2: Buffer.alloc(20), n: 'a', s: 1, f: 1, d: 1 }] }), SchemaError],
    ['hit without name', encode({ t: 'r', i: 1, r: [{ h: Buffer.alloc(20), s: 1, f: 1, d: 1 }] }), SchemaError],
    ['hit name over 512 bytes', encode({ t: 'r', i: 1, r: [{ h: Buffer.alloc(20), n: 'n'.repeat(513), s: 1, f: 1, d: 1 }] }), SchemaError],
    ['hit size lying (negative)', encode({ t: 'r', i: 1, r: [{ h: Buffer.alloc(20), n: 'a', s: -5, f: 1, d: 1 }] }), SchemaError],
    ['hit not a dict', encode({ t: 'r', i: 1, r: [5] }), SchemaError],
    ['refusal message over 200 bytes', encode({ t: 'e', i: 1, c: 1, m: 'm'.repeat(201) }), SchemaError],
    ['over the message cap', Buffer.alloc(BB_SEARCH_MAX_MESSAGE + 1, 0x61), SchemaError],
  ]
  for (const [what, bytes, type] of bad) assert.throws(() => decodeSearchMessage(bytes), type, what)
})

test('encode refuses what the receiver would refuse (programmer errors)', () => {
  assert.throws(() => encodeSearchMessage({ t: 'q', i: 1, q: '', l: 1 }), RangeError)
  assert.throws(() => encodeSearchMessage({ t: 'q', i: 1, q: 'a', l: 0 }), RangeError)
  assert.throws(() => encodeSearchMessage({ t: 'q', i: 1, q: 'a'.repeat(600), l: 1 }), RangeError)
  assert.throws(() => encodeSearchMessage({ t: 'q', i: 1, q: 'a', l: 1, f: { ext: 'x'.repeat(20) } }), RangeError)
})

test('long names are cut on a UTF-8 boundary, and answers fit the message cap', () => {
  const name = 'é'.repeat(400) // 800 bytes
  const cut = cutUtf8(name, 512)
  assert.equal(Buffer.byteLength(cut), 512)
  assert.equal(cutUtf8('aé', 2), 'a')
  const m = decodeSearchMessage(encodeSearchMessage({ t: 'r', i: 1, r: [{ ...wire(1), n: name }] }))
  assert.ok(m.t === 'r' && m.r[0].n === cut)
  const big = Array.from({ length: 100 }, (_, i) => ({ ...wire(i), n: '名'.repeat(170), h2: Buffer.alloc(32, i) }))
  const fit = fitHits(big, 1)
  assert.ok(fit.length > 0 && fit.length <= 100)
  assert.ok(encodeSearchMessage({ t: 'r', i: 1, r: fit }).length <= BB_SEARCH_MAX_MESSAGE)
})

// ---------------------------------------------------------------- extension

function setup (search: (req: SearchRequest) => SearchHit[], opts: { rate?: number, keyB?: typeof K } = {}) {
  const handles: BbSearchHandle[] = []
  const p = pair({
    a: [bbAuth({ keys: [K] }), bbSearch({ onOpen: (h) => handles.push(h) })],
    b: [bbAuth({ keys: [opts.keyB ?? K] }), bbSearch({ search, rate: opts.rate ?? 5, burst: opts.rate ?? 10, now: () => 0 })],
  })
  return { p, handles }
}

test('a member answers a query from its index with the fields a result list needs', async () => {
  const seen: SearchRequest[] = []
  const { p, handles } = setup((req) => { seen.push(req); return [hit(1), { ...hit(2), ih_v2: 'ab'.repeat(32) }] })
  p.start(); await p.settle()
  assert.equal(handles.length, 1)
  const got = handles[0].search({ text: 'torrent', limit: 10, order: 'newest', filters: { ext: 'mkv', minFiles: 2 } })
  await p.settle()
  const hits = await got
  assert.equal(hits.length, 2)
  assert.equal(hits[0].h.toString('hex'), hit(1).infohash)
  assert.equal(hits[1].h2?.toString('hex'), 'ab'.repeat(32))
  assert.deepEqual({ n: hits[0].n, s: hits[0].s, f: hits[0].f, d: hits[0].d }, { n: 'torrent 1', s: 1001, f: 2, d: 1_700_000_000_001 })
  assert.deepEqual(seen, [{ text: 'torrent', limit: 10, order: 'newest', filters: { ext: 'mkv', minFiles: 2 } }])
})

test('a refused query (bad words, store trouble) is a refusal, never a crash', async () => {
  let mode: 'usage' | 'store' = 'usage'
  const { p, handles } = setup(() => { throw mode === 'usage' ? new UsageError('search: the query has no words') : new StoreError('disk gone') })
  p.start(); await p.settle()
  const a = handles[0].search({ text: '***' }).catch((e: unknown) => e)
  await p.settle()
  const ea = await a
  assert.ok(ea instanceof SearchRefusedError && ea.refusal === SEARCH_REFUSED.query && /no words/.test(ea.message))
  mode = 'store'
  const b = handles[0].search({ text: 'x' }).catch((e: unknown) => e)
  await p.settle()
  const eb = await b
  assert.ok(eb instanceof SearchRefusedError && eb.refusal === SEARCH_REFUSED.busy)
  assert.equal(p.b.misbehaved.length + p.a.misbehaved.length, 0)
})

test('a flood over the per-link rate is refused, and the link stays up', async () => {
  let calls = 0
  const { p, handles } = setup(() => { calls++; return [] }, { rate: 3 })
  p.start(); await p.settle()
  const asks = Array.from({ length: 8 }, async () => await handles[0].search({ text: 'x' }).then(() => 'ok', (e: unknown) => e instanceof SearchRefusedError && e.refusal === SEARCH_REFUSED.rate ? 'rate' : 'other'))
  await p.settle()
  const results = await Promise.all(asks)
  assert.equal(results.filter((r) => r === 'ok').length, 3)
  assert.equal(results.filter((r) => r === 'rate').length, 5)
  assert.equal(calls, 3)
  assert.equal(p.down, false)
})

test('more than 8 queries in flight on a link is refused locally', async () => {
  const { p, handles } = setup(() => [])
  p.start(); await p.settle()
  // Drop b's answers: the queries stay in flight.
  const asks = Array.from({ length: 8 }, async () => await handles[0].search({ text: 'x' }, { timeoutMs: 60_000 }).catch(() => null))
  await assert.rejects(handles[0].search({ text: 'x' }), /too many requests in flight/)
  await p.settle()
  await Promise.all(asks)
})

test('a member that never answers gives TimeoutError at the deadline', async () => {
  const handles: BbSearchHandle[] = []
  const p = pair({
    a: [bbAuth({ keys: [K] }), bbSearch({ onOpen: (h) => handles.push(h) })],
    b: [bbAuth({ keys: [K] }), bbSearch({ search: () => [hit(1)] })],
    tap: (from, name, payload) => from === 'b' && name === 'bb_search' ? null : payload,
  })
  p.start(); await p.settle()
  await assert.rejects(handles[0].search({ text: 'x' }, { timeoutMs: 50 }), TimeoutError)
})

test('an answer with more hits than asked for is cut to the limit; an unsolicited answer is counted, not trusted', async () => {
  const { p, handles } = setup(() => Array.from({ length: 30 }, (_, i) => hit(i)))
  p.start(); await p.settle()
  const got = handles[0].search({ text: 'x', limit: 5 })
  await p.settle()
  assert.equal((await got).length, 5)
  p.inject('a', 'bb_search', encodeSearchMessage({ t: 'r', i: 999, r: [wire(1)] }))
  await p.settle()
  // The injection carries no session tag: refused before decoding.
  assert.ok(p.a.registry.stats().badTag >= 1)
})

test('a node with another community key gets no answer: no handle, nothing sent', async () => {
  let calls = 0
  const { p, handles } = setup(() => { calls++; return [hit(1)] }, { keyB: communityKey('other') })
  p.start(); await p.settle()
  assert.equal(handles.length, 0)
  assert.equal(p.a.sent.filter((s) => s.name === 'bb_search').length + p.b.sent.filter((s) => s.name === 'bb_search').length, 0)
  assert.equal(calls, 0)
})
