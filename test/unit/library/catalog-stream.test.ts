// The streaming, disk-backed catalog build (src/library/catalog-stream.ts): the same bytes and
// infohashes as buildCatalog(recordsFromStore()) for mixed v1/hybrid/v2 libraries (own records
// only, and with catalog:* records), the shard files on disk are the shard bytes, a tampered
// row is skipped like buildCatalog skips it (with the second pass when the skip changes
// `bits`), temp files of a dead build are removed, stale shard files pruned, caps hold.

import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { tmpdir } from 'node:os'
import BetterSqlite3 from 'better-sqlite3'
import { LimitError, HashMismatchError } from '../../../src/core/errors.js'
import { openStore, type Store } from '../../../src/store/index.js'
import { synth, quick } from '../../helpers/library-records.js'
import type { TorrentRecord } from '../../../src/torrent/types.js'
import { buildCatalog, chooseBits, recordsFromStore, type BuildOptions, type Catalog } from '../../../src/library/catalog.js'
import { catalogSourceFilter } from '../../../src/library/catalog-builder.js'
import { buildCatalogToDisk, pruneShardFiles, shardFilePath, type DiskCatalog } from '../../../src/library/catalog-stream.js'

const N = 3000
const FROM_CATALOGS = 200



let dir = ''
let store: Store

function fill (path: string, records: TorrentRecord[]): Store {
  const s = openStore(path)
  for (let i = 0; i < records.length; i += 1000) s.addTorrents(records.slice(i, i + 1000))
  return s
}

/** Flip one byte of the raw info of the first row: its hash no longer matches. */
function tamperFirst (path: string): void {
  const db = new BetterSqlite3(path)
  const row = db.prepare('SELECT id, raw_info FROM torrents ORDER BY id LIMIT 1').get() as { id: number, raw_info: Buffer }
  row.raw_info[row.raw_info.length - 2] ^= 1
  db.prepare('UPDATE torrents SET raw_info = ? WHERE id = ?').run(row.raw_info, row.id)
  db.close()
}

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'bbmesh-catalog-stream-'))
  store = fill(join(dir, 'lib.sqlite'), [
    ...Array.from({ length: N }, (_, i) => synth('stream', i)),
    ...Array.from({ length: FROM_CATALOGS }, (_, i) => synth('imported', i, 'catalog:' + 'ab'.repeat(32))),
  ])
})

after(() => { store?.close(); rmSync(dir, { recursive: true, force: true }) })

function inMemory (s: Store, includeCatalogs: boolean, opts: BuildOptions = {}): Catalog {
  return buildCatalog(recordsFromStore(s, { filter: catalogSourceFilter(includeCatalogs) }), opts)
}

/** Everything buildCatalog returns, byte for byte, with the shard bytes read back from disk. */
function assertSame (disk: DiskCatalog, mem: Catalog): void {
  assert.equal(disk.bits, mem.bits)
  assert.ok(disk.infohash.equals(mem.infohash))
  assert.ok(disk.infohashV2.equals(mem.infohashV2))
  assert.ok(disk.indexFile.equals(mem.indexFile))
  assert.ok(disk.indexTorrent.torrent.equals(mem.indexTorrent.torrent))
  assert.deepStrictEqual(disk.index, mem.index)
  assert.equal(disk.records, mem.records)
  assert.equal(disk.bytes, mem.bytes)
  assert.equal(disk.skipped, mem.skipped)
  assert.equal(disk.shards.length, mem.shards.length)
  for (let i = 0; i < mem.shards.length; i++) {
    const d = disk.shards[i]; const m = mem.shards[i]
    assert.equal(d.prefix, m.prefix); assert.equal(d.name, m.name); assert.equal(d.count, m.count); assert.equal(d.size, m.file.length)
    assert.ok(d.ih.equals(m.torrent.info.infohashV1 as Buffer) && d.ih2.equals(m.torrent.info.infohashV2 as Buffer))
    assert.ok(d.rawInfo.equals(m.torrent.rawInfo))
    assert.equal(d.path, shardFilePath(disk.dir, d.ih2))
    assert.ok(readFileSync(d.path).equals(m.file), `shard ${d.prefix} on disk`)
  }
  // The directory holds the shard files and nothing else (no temp file left).
  assert.deepEqual(readdirSync(disk.dir).sort(), disk.shards.map((s) => s.ih2.toString('hex')).sort())
}

test('streaming build: byte-identical to buildCatalog, own records only and with catalog:* records', () => {
  const own = buildCatalogToDisk(store, join(dir, 'own'))
  const mem = inMemory(store, false)
  assert.equal(mem.records, N)
  assert.ok(mem.bits >= 2)
  assertSame(own, mem)
  const all = buildCatalogToDisk(store, join(dir, 'all'), { includeCatalogs: true })
  assert.equal(all.records, N + FROM_CATALOGS)
  assertSame(all, inMemory(store, true))
  assert.ok(!all.infohash.equals(own.infohash))
})

test('streaming build: the previous index keeps its split; explicit bits; the byte cap is a LimitError', () => {
  const previous = inMemory(store, false, { bits: 2 }).index
  assert.notEqual(chooseBits(N), 2)
  assertSame(buildCatalogToDisk(store, join(dir, 'prev'), { previous }), inMemory(store, false, { previous }))
  assertSame(buildCatalogToDisk(store, join(dir, 'bits5'), { bits: 5 }), inMemory(store, false, { bits: 5 }))
  assert.throws(() => buildCatalogToDisk(store, join(dir, 'capped'), { maxBytes: 10_000 }), LimitError)
  assert.throws(() => inMemory(store, false, { maxBytes: 10_000 }), LimitError)
})

test('streaming build: temp files of a dead build are removed; stale shard files pruned after a switch', () => {
  const d = join(dir, 'rebuild')
  const first = buildCatalogToDisk(store, d, { bits: 3 })
  // What a build killed mid-write leaves: a temp file; and a whole shard no catalog lists.
  writeFileSync(join(d, 'ab'.repeat(32) + '.tmp'), 'half a shard')
  writeFileSync(join(d, 'cd'.repeat(32)), 'a shard of an unfinished build')
  // The same catalog again: unchanged shard files are not rewritten (same inode), so a
  // seeder's open handle never sees its file unlinked by a rebuild.
  const inodes = first.shards.map((s) => statSync(s.path).ino)
  const again = buildCatalogToDisk(store, d, { bits: 3 })
  assert.ok(again.infohash.equals(first.infohash))
  assert.deepEqual(again.shards.map((s) => statSync(s.path).ino), inodes)
  const second = buildCatalogToDisk(store, d, { bits: 4 })
  assert.ok(!existsSync(join(d, 'ab'.repeat(32) + '.tmp')), 'temp file removed by the next build')
  assert.ok(existsSync(join(d, 'cd'.repeat(32))), 'whole files stay until the switch')
  for (const s of first.shards) assert.ok(existsSync(s.path), 'the old catalog is still served until the switch')
  assert.equal(pruneShardFiles(d, second.shards), first.shards.length + 1)
  assertSame(second, inMemory(store, false, { bits: 4 }))
})

test('streaming build: a tampered row is skipped as buildCatalog skips it, and a skip that changes bits rebuilds with buildCatalog\'s choice', () => {
  // 513 rows: counted, 1 bit; the tampered one skipped leaves 512: buildCatalog chooses 0 bits.
  const path = join(dir, 'corner.sqlite')
  fill(path, Array.from({ length: 513 }, (_, i) => quick('stream', i))).close()
  tamperFirst(path)
  const s = openStore(path, { readonly: true })
  try {
    assert.equal(s.countForCatalog(false), 513)
    assert.equal(chooseBits(513), 1)
    const mem = inMemory(s, false)
    assert.equal(mem.bits, 0)
    assert.equal(mem.skipped, 1)
    const disk = buildCatalogToDisk(s, join(dir, 'corner'))
    assert.equal(disk.skipped, 1)
    assert.ok(disk.skippedErrors[0].error instanceof HashMismatchError)
    assert.equal(disk.skippedErrors[0].key, mem.skippedErrors[0].key)
    // The first pass's 1-bit shard files are not the catalog: gone once pruned.
    assert.ok(readdirSync(disk.dir).length > disk.shards.length)
    pruneShardFiles(disk.dir, disk.shards)
    assertSame(disk, mem)
  } finally { s.close() }
})
