import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { networkSearch, mergeHits } from '../../../src/search/network-search.js'
import { SearchRefusedError, type BbSearchHandle } from '../../../extensions/bb-search.js'
import type { WireHit } from '../../../extensions/bb-search.codec.js'
import type { SearchHit } from '../../../src/search/types.js'
import { TimeoutError, AbortedError, UsageError } from '../../../src/core/errors.js'

const sha1 = (s: string): Buffer => createHash('sha1').update(s).digest()

function handle (id: string, answer: (signal?: AbortSignal, timeoutMs?: number) => Promise<WireHit[]>): BbSearchHandle {
  return { remote: { host: '127.0.0.1', port: 1, peerId: Buffer.alloc(20, id.charCodeAt(0)) }, search: async (_req, o) => await answer(o?.signal, o?.timeoutMs) }
}

function w (label: string, name: string, d = 1): WireHit { return { h: sha1(label), n: name, s: 10, f: 1, d } }
function local (label: string, name: string, d = 1): SearchHit { return { infohash: sha1(label).toString('hex'), name, size: 10, files: 1, discovered_at: d, score: name.length } }

/** A member that answers only when asked to give up: it never answers in time. */
function silent (id: string): BbSearchHandle {
  return handle(id, async (signal, timeoutMs) => await new Promise((_resolve, reject) => {
    const t = setTimeout(() => reject(new TimeoutError('no answer')), timeoutMs)
    signal?.addEventListener('abort', () => { clearTimeout(t); reject(new AbortedError('aborted')) }, { once: true })
  }))
}

test('fan-out: answers are merged with our hits, a silent member is reported timed out and does not hold the answer past the deadline', async () => {
  const members = [
    handle('a', async () => [w('t1', 'alpha one'), w('t2', 'alpha two')]),
    silent('b'),
    handle('c', async () => { throw new SearchRefusedError(1, 'member refused the query: over the rate') }),
  ]
  const r = await networkSearch({ local: () => [local('t0', 'alpha zero')], members: () => members, score: (n) => n.length }, { text: 'alpha', limit: 10 }, 100)
  assert.deepEqual(new Set(r.hits.map((h) => h.name)), new Set(['alpha zero', 'alpha one', 'alpha two']))
  assert.equal(r.local, 1)
  const by = Object.fromEntries(r.members.map((m) => [m.peer_id.slice(0, 2), m]))
  assert.deepEqual([by['61'].answered, by['61'].hits, by['61'].timed_out], [true, 2, false])
  assert.deepEqual([by['62'].answered, by['62'].timed_out], [false, true])
  assert.equal(by['63'].answered, false)
  assert.match(by['63'].error ?? '', /over the rate/)
})

test('relevance is recomputed from the name, never taken from a member', async () => {
  // The member's wire hits carry no score; ours is the score function's.
  const members = [handle('a', async () => [w('x', 'zz'), w('y', 'zzzzzz')])]
  const r = await networkSearch({ local: () => [], members: () => members, score: (n) => n.length }, { text: 'z' }, 100)
  assert.deepEqual(r.hits.map((h) => [h.name, h.score]), [['zzzzzz', 6], ['zz', 2]])
})

test('a bad query fails locally before anything is sent', async () => {
  let asked = 0
  const members = [handle('a', async () => { asked++; return [] })]
  await assert.rejects(networkSearch({ local: () => { throw new UsageError('search: the query has no words') }, members: () => members, score: () => 0 }, { text: '---' }, 100), UsageError)
  assert.equal(asked, 0)
})

test('merge: one hit per torrent (a hybrid under its v1 and v2 keys), ordered, cut to the limit', () => {
  const v2 = createHash('sha256').update('hybrid').digest('hex')
  const a: SearchHit = { infohash: sha1('hybrid v1').toString('hex'), ih_v2: v2, name: 'h', size: 5, files: 1, discovered_at: 1, score: 1 }
  const b: SearchHit = { infohash: v2.slice(0, 40), ih_v2: v2, name: 'h', size: 5, files: 1, discovered_at: 2, score: 1 }
  const c: SearchHit = { infohash: sha1('other').toString('hex'), name: 'o', size: 50, files: 1, discovered_at: 3, score: 3 }
  const d: SearchHit = { ...c }
  assert.equal(mergeHits([[a], [b, c], [d]], { text: '' }).length, 2)
  assert.deepEqual(mergeHits([[a, c]], { text: '', order: 'size' }).map((h) => h.name), ['o', 'h'])
  assert.deepEqual(mergeHits([[a, c]], { text: '', order: 'newest' }).map((h) => h.name), ['o', 'h'])
  assert.deepEqual(mergeHits([[a, c]], { text: '', order: 'relevance' }).map((h) => h.name), ['o', 'h'])
  assert.equal(mergeHits([[a, c]], { text: '', limit: 1 }).length, 1)
})
