import { test } from 'node:test'
import assert from 'node:assert/strict'
import { openStore } from '../../../src/store/index.js'
import { torrent, tempStore, ih } from './fixtures.js'

test('stats count by version, seen, queue and failures, and match a full recount', (t) => {
  const s = tempStore()
  const store = openStore(s.path, { queue: { maxAttempts: 1 } })
  t.after(() => { store.close(); s.cleanup() })
  const empty = store.stats()
  assert.deepEqual({ ...empty, db_bytes: 0 }, { torrents: 0, infohashes_seen: 0, queue: 0, queue_leased: 0, queue_failed: 0, by_version: { v1: 0, v2: 0, hybrid: 0 }, db_bytes: 0 })
  assert.ok(empty.db_bytes > 0)

  const h = torrent('hybrid', 'h')
  store.addTorrents([torrent('v1', 'a'), torrent('v1', 'b'), torrent('v2', 'c'), h])
  store.noteSeen([ih(1), ih(2), ih(3), ih(4), h.info.infohashV1 as Buffer], 'sample', 10)
  store.queue.lease(2, 10, 1000)
  store.queue.fail(ih(1), 'x', 10)
  store.queue.complete(ih(2))
  const st = store.stats()
  assert.equal(st.torrents, 4)
  assert.deepEqual(st.by_version, { v1: 2, v2: 1, hybrid: 1 })
  assert.equal(st.infohashes_seen, 5)
  assert.equal(st.queue_failed, 1)
  assert.equal(st.queue + st.queue_failed, store.db.raw.prepare('SELECT count(*) FROM fetch_queue').pluck().get())
  assert.deepEqual(store.counters.get(), store.counters.count())
  store.db.raw.prepare("UPDATE counters SET value = 99 WHERE name = 'seen'").run()
  assert.equal(store.counters.recount().seen, 5)
  assert.equal(store.stats().infohashes_seen, 5)
})

test('randomInfohashes returns distinct 20-byte hashes of stored torrents', (t) => {
  const s = tempStore()
  const store = openStore(s.path)
  t.after(() => { store.close(); s.cleanup() })
  assert.deepEqual(store.randomInfohashes(20), [])
  const recs = Array.from({ length: 200 }, (_, i) => torrent(i % 3 === 0 ? 'v2' : i % 3 === 1 ? 'v1' : 'hybrid', `t${i}`))
  store.addTorrents(recs)
  const few = store.randomInfohashes(500)
  assert.equal(few.length, 200, 'a store smaller than n gives everything')
  const sample = store.randomInfohashes(20)
  assert.equal(sample.length, 20)
  assert.equal(new Set(sample.map((b) => b.toString('hex'))).size, 20)
  for (const b of sample) {
    assert.equal(b.length, 20)
    assert.ok(store.hasTorrent(b))
  }
  // Not always the same ones.
  const other = store.randomInfohashes(20)
  assert.notDeepEqual(other.map((b) => b.toString('hex')).sort(), sample.map((b) => b.toString('hex')).sort())
  assert.equal(store.samples.count(), 200)
  assert.deepEqual(store.randomInfohashes(0), [])
})

test('randomInfohashes and the sample count leave out imported and catalog torrents (BEP-51 advertises only what we harvested)', (t) => {
  const s = tempStore()
  const store = openStore(s.path)
  t.after(() => { store.close(); s.cleanup() })
  const mk = (i: number, source: string): ReturnType<typeof torrent> => ({ ...torrent(i % 2 === 0 ? 'v1' : 'hybrid', `s${i}`), source })
  // Interleaved ids: harvested rows between blocks of imported ones.
  store.addTorrents(Array.from({ length: 60 }, (_, i) => mk(i, 'import')))
  store.addTorrents(Array.from({ length: 30 }, (_, i) => mk(100 + i, 'sample')))
  store.addTorrents(Array.from({ length: 60 }, (_, i) => mk(200 + i, 'catalog:' + 'ab'.repeat(32))))
  store.addTorrents(Array.from({ length: 20 }, (_, i) => mk(300 + i, 'member')))
  const harvested = new Set([...Array.from({ length: 30 }, (_, i) => 100 + i), ...Array.from({ length: 20 }, (_, i) => 300 + i)]
    .map((i) => { const r = mk(i, 'x'); return (r.info.infohashV1 as Buffer).toString('hex') }))
  assert.equal(store.samples.count(), 50)
  const all = store.randomInfohashes(500)
  assert.equal(all.length, 50)
  for (const b of all) assert.ok(harvested.has(b.toString('hex')), 'only harvested torrents are sampled')
  for (let k = 0; k < 20; k++) for (const b of store.randomInfohashes(10)) assert.ok(harvested.has(b.toString('hex')))
})

