// The store's read by DHT-key range (Torrents.keyRange) and the catalog row count: every torrent
// lands in exactly the prefix range of its key (v1 hash, else the truncated v2 hash; a hybrid by
// its v1 hash only), catalog records are left out on request, the limit holds, and the two
// queries run on the hash indexes, not a table scan.

import { test } from 'node:test'
import assert from 'node:assert/strict'
import { openStore, type Store } from '../../../src/store/index.js'
import { StoreError } from '../../../src/core/errors.js'
import { dhtKey, keyPrefix } from '../../../src/library/catalog-format.js'
import { torrent, tempStore } from './fixtures.js'
import type { TorrentRecord } from '../../../src/torrent/types.js'

function fresh (t: { after: (fn: () => void) => void }): Store {
  const s = tempStore()
  const store = openStore(s.path)
  t.after(() => { store.close(); s.cleanup() })
  return store
}

const keyOf = (r: TorrentRecord): Buffer => dhtKey(r.info.infohashV1, r.info.infohashV2)

/** [lo, hi) of prefix p of `bits` bits as 20-byte keys; hi null for the last prefix. */
function range (bits: number, p: number): [Buffer, Buffer | null] {
  const lo = Buffer.alloc(20)
  lo.writeUInt16BE((p << (16 - bits)) & 0xffff)
  if (p + 1 === 2 ** bits) return [lo, null]
  const hi = Buffer.alloc(20)
  hi.writeUInt16BE(((p + 1) << (16 - bits)) & 0xffff)
  return [lo, hi]
}

test('keyRange: each torrent is found under exactly the prefix of its DHT key, files included', (t) => {
  const store = fresh(t)
  const kinds = ['v1', 'v2', 'hybrid'] as const
  const own = Array.from({ length: 300 }, (_, i) => torrent(kinds[i % 3], `own-${i}`))
  const imported = Array.from({ length: 60 }, (_, i) => ({ ...torrent(kinds[i % 3], `imp-${i}`), source: 'catalog:' + 'cd'.repeat(32) }))
  store.addTorrents([...own, ...imported])
  const all = new Map([...own, ...imported].map((r) => [keyOf(r).toString('hex'), r]))
  for (const bits of [0, 1, 3, 8]) {
    for (const excludeCatalogs of [false, true]) {
      const seen = new Set<string>()
      for (let p = 0; p < 2 ** bits; p++) {
        const [lo, hi] = range(bits, p)
        for (const got of store.torrentsInKeyRange(lo, hi, { excludeCatalogs })) {
          const k = dhtKey(got.info.infohashV1, got.info.infohashV2)
          assert.equal(keyPrefix(k, bits), p, `bits ${bits}: ${k.toString('hex')} read under prefix ${p}`)
          assert.ok(!seen.has(k.toString('hex')), 'read once')
          seen.add(k.toString('hex'))
          const want = all.get(k.toString('hex'))
          assert.ok(want !== undefined)
          assert.ok(got.rawInfo.equals(want.rawInfo))
          assert.deepEqual(got.info.files.map((f) => [f.path, f.size]), want.info.files.map((f) => [f.path, f.size]))
          assert.equal(got.source, want.source)
        }
      }
      assert.equal(seen.size, excludeCatalogs ? own.length : own.length + imported.length, `bits ${bits}`)
    }
  }
  assert.equal(store.countForCatalog(true), 360)
  assert.equal(store.countForCatalog(false), 300)
})

test('keyRange: a hybrid is read by its v1 key only; the limit bounds the rows; bad bounds are a StoreError', (t) => {
  const store = fresh(t)
  const h = torrent('hybrid', 'only-hybrid')
  store.addTorrents([h])
  const v2k = (h.info.infohashV2 as Buffer).subarray(0, 20)
  // A range holding the truncated v2 hash but not the v1 hash finds nothing.
  const v1k = h.info.infohashV1 as Buffer
  const lo = Buffer.from(v2k)
  const next = Buffer.from(v2k) // v2k + 1: the range [v2k, next) holds the truncated v2 hash alone
  for (let i = 19; i >= 0; i--) { if (next[i] === 0xff) { next[i] = 0; continue } next[i]++; break }
  const holdsV1 = Buffer.compare(v1k, lo) >= 0 && Buffer.compare(v1k, next) < 0
  assert.equal(holdsV1, false)
  assert.equal(store.torrentsInKeyRange(lo, next).length, 0)
  assert.equal(store.torrentsInKeyRange(Buffer.alloc(20), null).length, 1)

  store.addTorrents(Array.from({ length: 50 }, (_, i) => torrent(i % 2 === 0 ? 'v1' : 'v2', `lim-${i}`)))
  assert.equal(store.torrentsInKeyRange(Buffer.alloc(20), null, { limit: 7 }).length, 7)
  assert.equal(store.torrentsInKeyRange(Buffer.alloc(20), null, { limit: 51 }).length, 51)
  assert.throws(() => store.torrentsInKeyRange(Buffer.alloc(19), null), StoreError)
  assert.throws(() => store.torrentsInKeyRange(Buffer.alloc(20), Buffer.alloc(32)), StoreError)
})

test('keyRange: both queries use the hash indexes (no scan of torrents)', (t) => {
  const store = fresh(t)
  const plan = (sql: string): string => (store.db.raw.prepare(`EXPLAIN QUERY PLAN ${sql}`).all({ lo: Buffer.alloc(20), hi: Buffer.alloc(20, 0xff), limit: -1 }) as Array<{ detail: string }>).map((r) => r.detail).join('; ')
  const v1 = plan("SELECT id FROM torrents WHERE ih_v1 >= @lo AND ih_v1 < @hi AND substr(source, 1, 7) <> 'catalog' LIMIT CAST(@limit AS INTEGER)")
  const v2 = plan("SELECT id FROM torrents WHERE ih_v2_20 >= @lo AND ih_v2_20 < @hi AND ih_v1 IS NULL LIMIT CAST(@limit AS INTEGER)")
  assert.match(v1, /USING INDEX torrents_ih_v1/, v1)
  assert.match(v2, /USING INDEX torrents_ih_v2_20/, v2)
})
