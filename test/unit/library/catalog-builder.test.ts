// The catalog build in a worker thread (src/library/catalog-builder.ts, catalog-build-worker.ts):
// the same catalog as buildCatalog on this thread, typed errors across the thread boundary, a
// dead or aborted worker is an error and leaves no thread, and the event loop keeps turning.

import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { tmpdir } from 'node:os'
import { pathToFileURL } from 'node:url'
import BetterSqlite3 from 'better-sqlite3'
import { AbortedError, BbmeshError, HashMismatchError, LimitError, StoreError } from '../../../src/core/errors.js'
import { openStore } from '../../../src/store/index.js'
import { synth, quick } from '../../helpers/library-records.js'
import type { TorrentRecord } from '../../../src/torrent/types.js'
import { buildCatalog, recordsFromStore, type BuildOptions, type Catalog } from '../../../src/library/catalog.js'
import { activeBuildWorkers, buildCatalogInWorker, buildCatalogToDiskInWorker, catalogSourceFilter, workerCatalogBuilder, type CatalogBuilder, type CatalogBuildRequest } from '../../../src/library/catalog-builder.js'
import { CatalogPublisher, type PublishSource } from '../../../src/library/publisher.js'
import { PointerStore } from '../../../src/library/pointer-store.js'
import { generatePublisherKey } from '../../../src/identity/publisher-key.js'
import type { DhtNode } from '../../../crawler/dht-node.js'

const N = 3000
const FROM_CATALOGS = 200
const BIG = 20_000



let dir = ''
let small = '' // N harvested (one of them tampered) + FROM_CATALOGS imported from another catalog
let big = '' // BIG harvested

function fill (path: string, records: TorrentRecord[]): void {
  const store = openStore(path)
  try {
    for (let i = 0; i < records.length; i += 1000) store.addTorrents(records.slice(i, i + 1000))
  } finally { store.close() }
}

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'bbmesh-catalog-builder-'))
  small = join(dir, 'small.sqlite')
  big = join(dir, 'big.sqlite')
  fill(small, [
    ...Array.from({ length: N }, (_, i) => synth('builder', i)),
    ...Array.from({ length: FROM_CATALOGS }, (_, i) => synth('imported', i, 'catalog:' + 'ab'.repeat(32))),
  ])
  // One stored torrent whose raw info no longer hashes to its infohash: skipped, with its error.
  const db = new BetterSqlite3(small)
  const row = db.prepare('SELECT id, raw_info FROM torrents ORDER BY id LIMIT 1').get() as { id: number, raw_info: Buffer }
  row.raw_info[row.raw_info.length - 2] ^= 1
  db.prepare('UPDATE torrents SET raw_info = ? WHERE id = ?').run(row.raw_info, row.id)
  db.close()
  fill(big, Array.from({ length: BIG }, (_, i) => quick('builder-big', i)))
})

after(() => { rmSync(dir, { recursive: true, force: true }) })

/** The catalog the publisher would build on its own thread. */
function inThread (path: string, includeCatalogs: boolean, opts: BuildOptions = {}): Catalog {
  const store = openStore(path, { readonly: true })
  try {
    return buildCatalog(recordsFromStore(store, { filter: catalogSourceFilter(includeCatalogs) }), opts)
  } finally { store.close() }
}

function assertBuffers (cat: Catalog): void {
  const bufs = [cat.indexFile, cat.infohash, cat.infohashV2, cat.indexTorrent.torrent, cat.indexTorrent.rawInfo, cat.indexTorrent.info.infohashV1, cat.indexTorrent.info.infohashV2]
  for (const s of cat.shards) bufs.push(s.file, s.torrent.torrent, s.torrent.rawInfo, s.torrent.info.infohashV1, s.torrent.info.infohashV2, ...s.torrent.pieceLayers.values())
  for (const e of cat.index.shards) bufs.push(e.ih, e.ih2)
  for (const b of bufs) assert.ok(Buffer.isBuffer(b))
  for (const s of cat.shards) assert.ok(s.torrent.pieceLayers instanceof Map)
}

test('worker build: the same catalog as buildCatalog on this thread, byte for byte and type for type', async () => {
  const local = inThread(small, false)
  const remote = await buildCatalogInWorker({ dbPath: small, includeCatalogs: false })
  assert.equal(activeBuildWorkers(), 0)
  assertBuffers(remote)
  assert.deepStrictEqual(remote, local)
  // The explicit facts the deep comparison covers, spelled out.
  assert.ok(remote.infohash.equals(local.infohash) && remote.infohashV2.equals(local.infohashV2))
  assert.ok(remote.indexFile.equals(local.indexFile))
  assert.ok(remote.indexTorrent.torrent.equals(local.indexTorrent.torrent))
  assert.equal(remote.shards.length, local.shards.length)
  for (let i = 0; i < local.shards.length; i++) {
    assert.ok(remote.shards[i].file.equals(local.shards[i].file))
    assert.ok(remote.shards[i].torrent.torrent.equals(local.shards[i].torrent.torrent))
  }
  // Catalog records left out; the tampered one skipped, its error still a HashMismatchError.
  assert.equal(remote.records, N - 1)
  assert.equal(remote.skipped, 1)
  assert.ok(remote.skippedErrors[0].error instanceof HashMismatchError)
  assert.equal(remote.skippedErrors[0].error.code, 'ERR_HASH_MISMATCH')
  assert.equal(remote.skippedErrors[0].error.message, local.skippedErrors[0].error.message)
})

test('worker build: includeCatalogs keeps catalog:* records; the previous index keeps its split', async () => {
  const all = await buildCatalogInWorker({ dbPath: small, includeCatalogs: true })
  assert.equal(all.records, N - 1 + FROM_CATALOGS)
  assert.deepStrictEqual(all, inThread(small, true))

  // 3000 records alone would get 3 bits; a previous index of 2 bits is kept (within 1/4..4x).
  const previous = inThread(small, false, { bits: 2 }).index
  const kept = await buildCatalogInWorker({ dbPath: small, includeCatalogs: false, previous })
  assert.equal(kept.bits, 2)
  assert.notEqual(inThread(small, false).bits, 2)
  assert.deepStrictEqual(kept, inThread(small, false, { previous }))
})

test('worker build: over the byte cap is a LimitError, a missing store a StoreError', async () => {
  let localErr: unknown
  try { inThread(small, false, { maxBytes: 10_000 }) } catch (err) { localErr = err }
  assert.ok(localErr instanceof LimitError)
  await assert.rejects(buildCatalogInWorker({ dbPath: small, includeCatalogs: false, maxBytes: 10_000 }), (err) => {
    assert.ok(err instanceof LimitError, String(err))
    assert.equal(err.code, 'ERR_LIMIT')
    assert.equal(err.message, (localErr as Error).message)
    return true
  })
  const missing = join(dir, 'nothing-here.sqlite')
  await assert.rejects(buildCatalogInWorker({ dbPath: missing, includeCatalogs: false }), (err) => {
    assert.ok(err instanceof StoreError, String(err))
    assert.ok(err.message.includes(missing), err.message)
    return true
  })
  assert.equal(activeBuildWorkers(), 0)
})

test('worker build: a worker that dies without an answer is an error, not a hang', { timeout: 120_000 }, async () => {
  const exits = join(dir, 'exits.mjs')
  writeFileSync(exits, 'process.exit(3)\n')
  await assert.rejects(buildCatalogInWorker({ dbPath: small, includeCatalogs: false, workerUrl: pathToFileURL(exits) }), (err) => {
    assert.ok(err instanceof BbmeshError && err.code === 'ERR_WORKER', String(err))
    assert.match(err.message, /exited \(code 3\) without a result/)
    return true
  })
  const throws = join(dir, 'throws.mjs')
  writeFileSync(throws, 'throw new RangeError("boom")\n')
  await assert.rejects(buildCatalogInWorker({ dbPath: small, includeCatalogs: false, workerUrl: pathToFileURL(throws) }), (err) => {
    assert.ok(err instanceof BbmeshError && err.code === 'ERR_WORKER', String(err))
    assert.match(err.message, /boom/)
    return true
  })
  assert.equal(activeBuildWorkers(), 0)
})

// The timeouts turn a build that abort fails to stop into a failure, not a hung run.
test('worker build: abort terminates the worker; the loop keeps turning while a big library builds', { timeout: 120_000 }, async () => {
  // An aborted signal starts nothing.
  await assert.rejects(buildCatalogInWorker({ dbPath: big, includeCatalogs: false, signal: AbortSignal.abort() }), AbortedError)
  assert.equal(activeBuildWorkers(), 0)

  // The whole build, with a 10 ms timer on this thread: its longest gap shows any blocking.
  const timed = async <T>(fn: () => Promise<T>): Promise<{ value: T, ms: number, maxGap: number }> => {
    let last = performance.now()
    let maxGap = 0
    const tick = setInterval(() => { const now = performance.now(); maxGap = Math.max(maxGap, now - last); last = now }, 10)
    const t0 = performance.now()
    try {
      const value = await fn()
      const ms = performance.now() - t0
      maxGap = Math.max(maxGap, performance.now() - last)
      return { value, ms, maxGap }
    } finally { clearInterval(tick) }
  }
  const w = await timed(async () => await buildCatalogInWorker({ dbPath: big, includeCatalogs: false }))
  // Control: the same build on this thread blocks the timer for about all of it.
  const l = await timed(async () => { await new Promise((resolve) => setTimeout(resolve, 20)); return inThread(big, false) })
  assert.ok(w.value.infohash.equals(l.value.infohash))
  assert.equal(w.value.records, BIG)
  assert.ok(l.maxGap > l.ms / 2, `in-thread: max gap ${l.maxGap.toFixed(0)} ms of ${l.ms.toFixed(0)} ms`)
  assert.ok(w.maxGap < w.ms / 4, `worker: max gap ${w.maxGap.toFixed(0)} ms of ${w.ms.toFixed(0)} ms`)

  // Abort mid-build: rejected with the reason, the thread gone, long before a build would end.
  const ac = new AbortController()
  const t0 = performance.now()
  const p = buildCatalogInWorker({ dbPath: big, includeCatalogs: false, signal: ac.signal })
  assert.equal(activeBuildWorkers(), 1)
  setTimeout(() => ac.abort(new AbortedError('stop the build')), 50)
  await assert.rejects(p, (err) => err instanceof AbortedError && err.message === 'stop the build')
  assert.equal(activeBuildWorkers(), 0)
  assert.ok(performance.now() - t0 < w.ms / 2, `abort took ${(performance.now() - t0).toFixed(0)} ms, a build ${w.ms.toFixed(0)} ms`)
})

// The publisher's side: what it asks its builder for, and close() during a build. No DHT is
// reached: the build comes first, and these builds never finish.
function publisherWith (builder: CatalogBuilder, opts: { includeCatalogs?: boolean, maxBytes?: number } = {}): CatalogPublisher {
  const data = mkdtempSync(join(dir, 'pub-'))
  const library: PublishSource = {
    pageTorrents: () => { throw new Error('a publisher with a builder reads no page on its own thread') },
    changeMark: () => '1:1',
  }
  return new CatalogPublisher({
    dht: {} as unknown as DhtNode, library, signer: generatePublisherKey(), pointers: PointerStore.open(data), stateDir: join(data, 'published'),
    seeder: { host: '127.0.0.1', port: 0 }, retryMs: 3_600_000, builder, ...opts,
  })
}

test('publisher with a builder: a build error is kept in the status; close() aborts a build in flight and reports nothing', { timeout: 120_000 }, async () => {
  const failing = publisherWith(async () => { throw new LimitError('catalog: over the cap') }, { includeCatalogs: true, maxBytes: 1234 })
  const st = await failing.start()
  assert.equal(st.last_error, 'catalog: over the cap')
  assert.equal(st.builds, 0)
  await failing.close()

  let req: CatalogBuildRequest | undefined
  const pub = publisherWith(async (r) => {
    req = r
    return await new Promise<Catalog>((resolve, reject) => r.signal.addEventListener('abort', () => reject(r.signal.reason)))
  }, { maxBytes: 5678 })
  const started = pub.start()
  while (req === undefined) await new Promise((resolve) => setTimeout(resolve, 5))
  assert.equal(req.includeCatalogs, false)
  assert.equal(req.maxBytes, 5678)
  assert.equal(req.previous, null)
  assert.equal(req.signal.aborted, false)
  await pub.close()
  const after = await started
  assert.equal(req.signal.aborted, true)
  assert.equal(after.last_error, undefined)
  assert.equal(after.builds, 0)

  // The same with the worker builder over the big library: the thread is gone after close().
  const real = workerCatalogBuilder(big)
  let building = false
  const pub2 = publisherWith(async (r) => { building = true; return await real(r) })
  const started2 = pub2.start()
  while (!building) await new Promise((resolve) => setTimeout(resolve, 5))
  assert.equal(activeBuildWorkers(), 1)
  await pub2.close()
  await started2
  assert.equal(activeBuildWorkers(), 0)
  assert.equal(pub2.status().builds, 0)
})

// The disk-backed build in the worker: the same bytes as the in-thread build, only metadata
// crossing back; what a publisher with a builder asks for (a shard directory).
test('worker disk build: shard files on disk equal buildCatalog\'s, only metadata posted back; typed errors', { timeout: 120_000 }, async () => {
  const local = inThread(small, false)
  const out = join(dir, 'disk-shards')
  const disk = await buildCatalogToDiskInWorker({ dbPath: small, includeCatalogs: false, outDir: out })
  assert.equal(activeBuildWorkers(), 0)
  assert.ok(disk.infohash.equals(local.infohash) && disk.infohashV2.equals(local.infohashV2))
  assert.ok(disk.indexFile.equals(local.indexFile))
  assert.deepStrictEqual(disk.index, local.index)
  assert.equal(disk.dir, out)
  assert.equal(disk.shards.length, local.shards.length)
  for (let i = 0; i < local.shards.length; i++) {
    const d = disk.shards[i]
    assert.ok(Buffer.isBuffer(d.ih) && Buffer.isBuffer(d.ih2) && Buffer.isBuffer(d.rawInfo))
    assert.ok(d.rawInfo.equals(local.shards[i].torrent.rawInfo))
    assert.ok(readFileSync(d.path).equals(local.shards[i].file))
    assert.equal(Object.hasOwn(d, 'file'), false, 'no shard bytes crossed')
  }
  assert.equal(disk.skipped, 1)
  assert.ok(disk.skippedErrors[0].error instanceof HashMismatchError)

  // What the publisher's builder does when it names a shard directory.
  const real = workerCatalogBuilder(small)
  const viaBuilder = await real({ previous: null, includeCatalogs: true, outDir: join(dir, 'disk-shards-all'), signal: new AbortController().signal })
  const asked: CatalogBuildRequest = { previous: null, includeCatalogs: true, signal: new AbortController().signal }
  assert.ok('dir' in viaBuilder)
  assert.ok(viaBuilder.infohash.equals(inThread(small, true).infohash))
  const inMem = await real(asked)
  assert.ok(!('dir' in inMem) && inMem.infohash.equals(viaBuilder.infohash))

  await assert.rejects(buildCatalogToDiskInWorker({ dbPath: small, includeCatalogs: false, outDir: join(dir, 'disk-capped'), maxBytes: 10_000 }), LimitError)
  await assert.rejects(buildCatalogToDiskInWorker({ dbPath: small, includeCatalogs: false, outDir: join(dir, 'disk-aborted'), signal: AbortSignal.abort() }), AbortedError)
  assert.equal(activeBuildWorkers(), 0)
})
