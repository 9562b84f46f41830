import { test } from 'node:test'
import assert from 'node:assert/strict'
import { openStore, type Store } from '../../../src/store/index.js'
import { StoreError } from '../../../src/core/errors.js'
import { torrent, rawInfoMulti, record, ih20, v2short, tempStore, ih } from './fixtures.js'

const defined = <T extends object>(o: T): T => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T

function fresh (t: { after: (fn: () => void) => void }): Store {
  const s = tempStore()
  const store = openStore(s.path)
  t.after(() => { store.close(); s.cleanup() })
  return store
}

test('addTorrents is idempotent: a known torrent is counted as a duplicate, not stored twice', (t) => {
  const store = fresh(t)
  const a = torrent('v1', 'alpha'); const b = torrent('v2', 'beta'); const c = torrent('hybrid', 'gamma')
  assert.deepEqual(store.addTorrents([a, b, c]), { inserted: 3, duplicates: 0 })
  assert.deepEqual(store.addTorrents([a, b, c, torrent('v1', 'delta')]), { inserted: 1, duplicates: 3 })
  // The same torrent twice in one batch.
  const e = torrent('v1', 'epsilon')
  assert.deepEqual(store.addTorrents([e, e]), { inserted: 1, duplicates: 1 })
  assert.equal(store.count(), 5)
  assert.equal(store.db.raw.prepare('SELECT count(*) FROM torrents').pluck().get(), 5)
  assert.equal(store.db.raw.prepare("SELECT count(*) FROM torrents_fts WHERE torrents_fts MATCH 'alpha'").pluck().get(), 1)
  assert.deepEqual(store.addTorrents([]), { inserted: 0, duplicates: 0 })
})

test('a hybrid torrent is one row: its v1 hash and its truncated v2 hash find it', (t) => {
  const store = fresh(t)
  const h = torrent('hybrid', 'hybrid one')
  store.addTorrents([h])
  const v1 = h.info.infohashV1 as Buffer
  const v2 = h.info.infohashV2 as Buffer
  assert.equal(store.hasTorrent(v1), true)
  assert.equal(store.hasTorrent(v2short(h)), true)
  const byV1 = store.getTorrent(v1); const byShort = store.getTorrent(v2short(h)); const byFull = store.getTorrent(v2)
  assert.ok(byV1 !== null && byShort !== null && byFull !== null)
  assert.equal(byV1.id, byShort.id)
  assert.equal(byV1.id, byFull.id)
  assert.deepEqual(byV1.info.infohashV2, v2)
  // Added again as found by either hash: still one row.
  assert.deepEqual(store.addTorrents([h]), { inserted: 0, duplicates: 1 })
  assert.equal(store.count(), 1)
})

test('a v2-only torrent is found by its truncated hash and by the full 32 bytes', (t) => {
  const store = fresh(t)
  const v = torrent('v2', 'only v2')
  store.addTorrents([v])
  assert.equal(store.hasTorrent(v2short(v)), true)
  assert.equal(store.getTorrent(v.info.infohashV2 as Buffer)?.info.name, 'only v2')
  // A 32-byte hash sharing only the first 20 bytes is another torrent.
  const other = Buffer.concat([v2short(v), Buffer.alloc(12)])
  assert.equal(store.getTorrent(other), null)
  assert.equal(store.hasTorrent(ih(1)), false)
  assert.equal(store.getTorrent(ih(1)), null)
})

test('getTorrent returns the record with its files and raw info', (t) => {
  const store = fresh(t)
  const raw = rawInfoMulti('pack', [{ path: ['a', 'one.txt'], size: 10 }, { path: ['two.bin'], size: 20000 }, { path: ['z', 'empty'], size: 0 }])
  const r = record(raw, 'import', 1234)
  store.addTorrents([r])
  const got = store.getTorrent(ih20(r))
  assert.ok(got !== null)
  assert.deepEqual(got.rawInfo, raw)
  assert.equal(got.source, 'import')
  assert.equal(got.discoveredAt, 1234)
  assert.deepEqual(got.info, defined(r.info))
  const h = torrent('hybrid', 'roots.bin', 5000)
  store.addTorrents([h])
  const gh = store.getTorrent(ih20(h))
  assert.deepEqual(gh?.info.files, h.info.files)
  assert.equal(gh?.info.files[0].piecesRoot?.length, 32)
})

test('a bad record rejects the whole batch before anything is written', (t) => {
  const store = fresh(t)
  const good = torrent('v1', 'good')
  const bad = torrent('v1', 'bad')
  bad.info = { ...bad.info, infohashV1: Buffer.alloc(19) }
  assert.throws(() => store.addTorrents([good, bad]), (e: unknown) => e instanceof StoreError && /record 1: infohashV1/.test(e.message))
  const mixed = torrent('v1', 'mixed')
  mixed.info = { ...mixed.info, version: 'hybrid' }
  assert.throws(() => store.addTorrents([mixed]), /must have both/)
  assert.equal(store.count(), 0)
  assert.equal(store.hasTorrent(ih20(good)), false)
  assert.throws(() => store.hasTorrent(Buffer.alloc(32)), StoreError)
})

test('storing a torrent removes both of its hashes from the fetch queue', (t) => {
  const store = fresh(t)
  const h = torrent('hybrid', 'queued twice')
  // The DHT showed both hashes of the hybrid before we had its metadata.
  store.noteSeen([h.info.infohashV1 as Buffer, v2short(h)], 'sample', 1000)
  assert.equal(store.queue.size(), 2)
  const [leased] = store.queue.lease(1, 1000, 60_000)
  assert.ok(leased !== undefined)
  store.addTorrents([h])
  assert.equal(store.queue.size(), 0)
  assert.equal(store.queue.complete(leased), false) // already gone: fine
  assert.deepEqual(store.queue.lease(10, 2000, 60_000), [])
})
