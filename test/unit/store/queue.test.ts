import { test } from 'node:test'
import assert from 'node:assert/strict'
import { openStore, type Store } from '../../../src/store/index.js'
import { StoreError } from '../../../src/core/errors.js'
import { torrent, v2short, tempStore, ih } from './fixtures.js'

const MIN = 60_000

function fresh (t: { after: (fn: () => void) => void }, queue = {}): { store: Store, path: string } {
  const s = tempStore()
  const store = openStore(s.path, { queue })
  t.after(() => { store.close(); s.cleanup() })
  return { store, path: s.path }
}

const hexes = (bs: Buffer[]): string[] => bs.map((b) => b.toString('hex')).sort()

test('noteSeen records sightings and queues only what is neither stored nor queued', (t) => {
  const { store } = fresh(t)
  const known = torrent('v1', 'known')
  store.addTorrents([known])
  const r = store.noteSeen([ih(1), ih(2), ih(1), known.info.infohashV1 as Buffer], 'sample', 1000)
  assert.deepEqual(r, { noted: 4, new: 3, enqueued: 2 })
  assert.deepEqual(store.seen.get(ih(1)), { firstSeen: 1000, lastSeen: 1000, count: 2, source: 'sample' })
  const r2 = store.noteSeen([ih(1), ih(3)], 'get_peers', 2000)
  assert.deepEqual(r2, { noted: 2, new: 1, enqueued: 1 })
  assert.deepEqual(store.seen.get(ih(1)), { firstSeen: 1000, lastSeen: 2000, count: 3, source: 'sample' })
  assert.equal(store.queue.size(), 3)
  assert.equal(store.seen.count(), 4)
  assert.throws(() => store.noteSeen([Buffer.alloc(32)], 'sample', 1), StoreError)
  assert.throws(() => store.noteSeen([ih(9)], '', 1), StoreError)
})

test('lease hands out due items once; complete removes them', (t) => {
  const { store } = fresh(t)
  store.noteSeen([ih(1), ih(2), ih(3)], 'sample', 1000)
  const a = store.queue.lease(2, 1000, MIN)
  assert.equal(a.length, 2)
  const b = store.queue.lease(5, 1000, MIN)
  assert.equal(b.length, 1)
  assert.deepEqual(hexes([...a, ...b]), hexes([ih(1), ih(2), ih(3)]))
  assert.deepEqual(store.queue.lease(5, 1000, MIN), [])
  assert.equal(store.queue.get(a[0])?.state, 'leased')
  assert.equal(store.queue.get(a[0])?.leaseUntil, 1000 + MIN)
  assert.equal(store.queue.complete(a[0]), true)
  assert.equal(store.queue.complete(a[0]), false)
  assert.equal(store.queue.size(), 2)
  assert.equal(store.stats().queue_leased, 2)
  assert.deepEqual(store.queue.lease(0, 1000, MIN), [])
  assert.throws(() => store.queue.lease(-1, 1000, MIN), StoreError)
})

test('an expired lease (a crashed worker) can be leased again', (t) => {
  const { store } = fresh(t)
  store.noteSeen([ih(1)], 'sample', 1000)
  assert.equal(store.queue.lease(1, 1000, MIN).length, 1)
  assert.deepEqual(store.queue.lease(1, 1000 + MIN - 1, MIN), [])
  const again = store.queue.lease(1, 1000 + MIN, MIN)
  assert.deepEqual(hexes(again), hexes([ih(1)]))
  assert.equal(store.queue.get(ih(1))?.leaseUntil, 1000 + 2 * MIN)
  assert.equal(store.queue.get(ih(1))?.attempts, 0)
})

test('fail backs off exponentially, then parks the item as failed', (t) => {
  const { store } = fresh(t, { maxAttempts: 3, backoffBaseMs: MIN, backoffMaxMs: 3 * MIN, failedRetryMs: 1000 * MIN })
  store.noteSeen([ih(1)], 'sample', 0)
  let now = 0
  store.queue.lease(1, now, MIN)
  assert.equal(store.queue.fail(ih(1), new Error('no peers'), now), 'retry')
  let e = store.queue.get(ih(1))
  assert.equal(e?.state, 'pending'); assert.equal(e?.attempts, 1); assert.equal(e?.nextAttemptAt, MIN); assert.equal(e?.lastError, 'no peers')
  assert.deepEqual(store.queue.lease(1, MIN - 1, MIN), [], 'not due before its back-off')
  now = MIN
  assert.equal(store.queue.lease(1, now, MIN).length, 1)
  assert.equal(store.queue.fail(ih(1), 'timeout', now), 'retry')
  assert.equal(store.queue.get(ih(1))?.nextAttemptAt, now + 2 * MIN)
  now += 2 * MIN
  store.queue.lease(1, now, MIN)
  assert.equal(store.queue.fail(ih(1), 'x'.repeat(10_000), now), 'failed')
  e = store.queue.get(ih(1))
  assert.equal(e?.state, 'failed'); assert.equal(e?.attempts, 3); assert.ok((e?.lastError?.length ?? 0) <= 500)
  assert.equal(store.queue.size(), 0)
  assert.equal(store.queue.failedCount(), 1)
  assert.deepEqual(store.queue.lease(10, now + 10_000 * MIN, MIN), [], 'a failed item is never leased')
  assert.equal(store.queue.fail(ih(1), 'again', now), 'failed')
  assert.equal(store.queue.fail(ih(2), 'never queued', now), 'unknown')
  // Seen again soon: stays parked. Seen again after failedRetryMs: queued afresh.
  assert.equal(store.noteSeen([ih(1)], 'sample', now + MIN).enqueued, 0)
  assert.equal(store.noteSeen([ih(1)], 'sample', now + 1000 * MIN).enqueued, 1)
  e = store.queue.get(ih(1))
  assert.equal(e?.state, 'pending'); assert.equal(e?.attempts, 0)
  assert.equal(store.queue.failedCount(), 0)
  assert.equal(store.queue.size(), 1)
  assert.deepEqual(store.counters.get(), store.counters.count())
})

test('back-off is capped at backoffMaxMs', (t) => {
  const { store } = fresh(t, { maxAttempts: 20, backoffBaseMs: MIN, backoffMaxMs: 5 * MIN })
  store.noteSeen([ih(1)], 'sample', 0)
  for (let i = 0; i < 10; i++) store.queue.fail(ih(1), 'x', 0)
  assert.equal(store.queue.get(ih(1))?.nextAttemptAt, 5 * MIN)
})

test('a crash with items leased: reopening returns them to pending, nothing is lost', (t) => {
  const s = tempStore(); t.after(s.cleanup)
  let store = openStore(s.path)
  store.noteSeen([ih(1), ih(2), ih(3)], 'sample', 1000)
  const leased = store.queue.lease(2, 1000, 3600_000)
  assert.equal(leased.length, 2)
  store.queue.complete(leased[0])
  // Crash: the worker never completes leased[1]; the process goes away.
  store.close()
  store = openStore(s.path)
  t.after(() => store.close())
  assert.equal(store.recoveredLeases, 1)
  assert.equal(store.queue.get(leased[1])?.state, 'pending')
  assert.equal(store.queue.size(), 2)
  // Leasable at once, long before the old lease would have run out.
  assert.deepEqual(hexes(store.queue.lease(10, 1001, MIN)), hexes([ih(1), ih(2), ih(3)].filter((b) => !b.equals(leased[0]))))
})

test('a hybrid found by its v2 hash and later by its v1 hash is fetched and stored once', (t) => {
  const { store } = fresh(t)
  const h = torrent('hybrid', 'seen both ways')
  store.noteSeen([v2short(h)], 'sample', 1000)
  const [job] = store.queue.lease(1, 1000, MIN)
  assert.deepEqual(job, v2short(h))
  assert.deepEqual(store.addTorrents([h]), { inserted: 1, duplicates: 0 })
  store.queue.complete(job)
  // Later the DHT shows its v1 hash: we have it, nothing is queued.
  assert.equal(store.noteSeen([h.info.infohashV1 as Buffer], 'announce', 2000).enqueued, 0)
  assert.deepEqual(store.queue.lease(10, 3000, MIN), [])
  assert.equal(store.count(), 1)
})

test('a read-only store refuses writes with a StoreError', (t) => {
  const s = tempStore(); t.after(s.cleanup)
  openStore(s.path).close()
  const ro = openStore(s.path, { readonly: true })
  t.after(() => ro.close())
  assert.throws(() => ro.noteSeen([ih(1)], 'sample', 1), (e: unknown) => e instanceof StoreError && /read-only/.test(e.message))
  assert.throws(() => ro.queue.lease(1, 1, 1), StoreError)
  assert.throws(() => ro.addTorrents([torrent('v1', 'x')]), StoreError)
})

test('the queue options are checked', () => {
  const s = tempStore()
  try {
    assert.throws(() => openStore(s.path, { queue: { maxAttempts: 0 } }), StoreError)
  } finally { s.cleanup() }
})

test('defer puts a leased item back without counting an attempt', async () => {
  const { openStore } = await import('../../../src/store/index.js')
  const { mkdtempSync, rmSync } = await import('node:fs')
  const { tmpdir } = await import('node:os')
  const { join } = await import('node:path')
  const dir = mkdtempSync(join(tmpdir(), 'bbmesh-defer-'))
  const store = openStore(join(dir, 'i.sqlite'))
  try {
    const ih = Buffer.alloc(20, 9)
    store.noteSeen([ih], 'sample', 1000)
    assert.deepEqual(store.queue.lease(1, 1000, 60_000), [ih])
    assert.equal(store.queue.defer(ih, 5000), true)
    assert.deepEqual(store.queue.lease(1, 4999, 60_000), [])
    assert.deepEqual(store.queue.lease(1, 5000, 60_000), [ih])
    assert.equal(store.queue.get(ih)?.attempts, 0)
    assert.equal(store.queue.defer(Buffer.alloc(20, 1), 1), false)
  } finally { store.close(); rmSync(dir, { recursive: true, force: true }) }
})
