// The catalog (src/library/catalog.ts, catalog-format.ts): determinism, one added torrent
// changes one shard and the index, bad records refused one by one, caps.

import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { tmpdir } from 'node:os'
import { encode } from '../../../src/core/bencode.js'
import { DecodeError, HashMismatchError, LimitError, SchemaError } from '../../../src/core/errors.js'
import { sha1 } from '../../../src/core/infohash.js'
import { openStore } from '../../../src/store/index.js'
import { syntheticTorrent } from '../../../src/torrent/synthetic.js'
import type { CreateMode } from '../../../src/torrent/create.js'
import type { TorrentRecord } from '../../../src/torrent/types.js'
import {
  buildCatalog, chooseBits, diffCatalogs, readCatalog, recordsFromStore, TARGET_RECORDS_PER_SHARD, type Catalog,
} from '../../../src/library/catalog.js'
import {
  decodeIndex, decodeShard, encodeRecord, encodeShard, keyPrefix, recordFromTorrent, SHARD_FORMAT, type CatalogRecord,
} from '../../../src/library/catalog-format.js'

const MODES: CreateMode[] = ['v1', 'hybrid', 'v2']
const N = 3000

function synth (i: number): TorrentRecord {
  const t = syntheticTorrent(`catalog-${i}`, MODES[i % 3])
  return { info: t.info, rawInfo: t.rawInfo, source: 'sample', discoveredAt: 1_700_000_000_000 + i }
}

const LIBRARY: TorrentRecord[] = Array.from({ length: N }, (_, i) => synth(i))

function sameCatalog (a: Catalog, b: Catalog): void {
  assert.deepEqual(a.infohash, b.infohash)
  assert.deepEqual(a.infohashV2, b.infohashV2)
  assert.deepEqual(a.indexTorrent.torrent, b.indexTorrent.torrent)
  assert.deepEqual(a.indexFile, b.indexFile)
  assert.equal(a.shards.length, b.shards.length)
  for (let i = 0; i < a.shards.length; i++) {
    assert.deepEqual(a.shards[i].file, b.shards[i].file)
    assert.deepEqual(a.shards[i].torrent.torrent, b.shards[i].torrent.torrent)
  }
}

test('catalog: the same library twice (any input order) gives byte-identical torrents and the same infohashes', () => {
  const a = buildCatalog(LIBRARY)
  const b = buildCatalog([...LIBRARY].reverse())
  sameCatalog(a, b)
  assert.equal(a.records, N)
  assert.equal(a.skipped, 0)
  assert.equal(a.bits, chooseBits(N))
  assert.equal(a.shards.length, 2 ** a.bits)
  assert.equal(a.index.records, N)
  assert.equal(a.bytes, a.index.bytes + a.indexFile.length)
  for (const s of a.shards) {
    assert.equal(s.torrent.info.version, 'hybrid')
    assert.equal(s.torrent.info.pieceLength, 256 * 1024)
    assert.match(s.name, /^bbmesh-catalog-\d+-[0-9a-f]+$/)
    // No creation date, no creator, no trackers: nothing but content.
    const t = s.torrent.torrent.toString('latin1')
    assert.ok(!t.includes('creation date') && !t.includes('created by') && !t.includes('announce'))
  }
})

test('catalog: built from a store, twice and after reopening it, the same as from the records', () => {
  const dir = mkdtempSync(join(tmpdir(), 'bbmesh-catalog-'))
  try {
    const path = join(dir, 'store.db')
    let store = openStore(path)
    store.addTorrents(LIBRARY)
    const a = buildCatalog(recordsFromStore(store, { pageSize: 700 }))
    const b = buildCatalog(recordsFromStore(store))
    store.close()
    store = openStore(path, { readonly: true })
    const c = buildCatalog(recordsFromStore(store, { pageSize: 333 }))
    store.close()
    sameCatalog(a, b)
    sameCatalog(a, c)
    sameCatalog(a, buildCatalog(LIBRARY))
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})

test('catalog: adding one torrent changes exactly one shard and the index; a fetcher with the old one downloads only that shard', () => {
  const bits = 6 // 64 shards of ~47 records
  const old = buildCatalog(LIBRARY, { bits })
  const extra = synth(N + 17)
  const next = buildCatalog([...LIBRARY, extra], { bits })
  assert.notDeepEqual(old.infohash, next.infohash)
  const diff = diffCatalogs(old.index, next.index)
  assert.equal(diff.fetch.length, 1)
  assert.equal(diff.drop.length, 1)
  assert.equal(diff.keep.length, next.shards.length - 1)
  const key = recordFromTorrent(extra).key
  assert.equal(diff.fetch[0].prefix, keyPrefix(key, bits))
  assert.equal(diff.drop[0].prefix, diff.fetch[0].prefix)
  assert.equal(diff.fetchBytes, diff.fetch[0].size)

  // The fetcher holds the old shards by infohash, downloads what the diff says, and reads it all.
  const held = new Map(old.shards.map((s) => [s.torrent.info.infohashV2!.toString('hex'), s.file]))
  const downloaded: number[] = []
  for (const e of diff.fetch) {
    const s = next.shards.find((x) => x.prefix === e.prefix)!
    downloaded.push(e.prefix)
    held.set(e.ih2.toString('hex'), s.file)
  }
  const read = readCatalog(next.indexFile, (e) => {
    const f = held.get(e.ih2.toString('hex'))
    assert.ok(f !== undefined, `shard ${e.prefix} would need a download`)
    return f
  })
  assert.deepEqual(downloaded, [keyPrefix(key, bits)])
  assert.equal(read.records.length, N + 1)
  assert.equal(read.refused, 0)
  assert.ok(read.records.some((r) => r.key.equals(key)))

  // Default bits with the previous index: kept, so the same holds without pinning bits.
  const a = buildCatalog(LIBRARY)
  const b = buildCatalog([...LIBRARY, extra], { previous: a.index })
  assert.equal(b.bits, a.bits)
  assert.equal(diffCatalogs(a.index, b.index).fetch.length, 1)
  // A fetcher with nothing downloads everything.
  assert.equal(diffCatalogs(null, b.index).fetch.length, b.shards.length)
})

test('catalog: chooseBits follows the size, and keeps the previous split within 1/4..4x the target', () => {
  const T = TARGET_RECORDS_PER_SHARD
  assert.equal(chooseBits(0), 0)
  assert.equal(chooseBits(T), 0)
  assert.equal(chooseBits(T + 1), 1)
  assert.equal(chooseBits(100_000), 8)
  assert.equal(chooseBits(100_001, 8), 8)
  assert.equal(chooseBits(2 ** 8 * T * 4 + 1, 8), chooseBits(2 ** 8 * T * 4 + 1))
  assert.equal(chooseBits(10 ** 9), 16)
})

// ------------------------------------------------------------------ hostile shards

function frames (header: Record<string, number | string>, records: Buffer[]): Buffer {
  const parts = [Buffer.from('l'), encode(header)]
  for (const r of records) parts.push(Buffer.from(`${r.length}:`), r)
  parts.push(Buffer.from('e'))
  return Buffer.concat(parts)
}

const header = (count: number): Record<string, number | string> => ({ bits: 0, count, format: SHARD_FORMAT, prefix: 0, version: 1 })

function goodRecords (n: number): CatalogRecord[] {
  return LIBRARY.slice(0, n).map((t) => recordFromTorrent(t)).sort((a, b) => Buffer.compare(a.key, b.key))
}

/** A v1 info dict naming a file by an unsafe path, with its true hash as ih. */
function unsafeInfoRecord (path: string[]): Buffer {
  const info = encode({ files: [{ length: 5, path }], name: 'evil', 'piece length': 16384, pieces: Buffer.alloc(20) })
  return encode({ files: [[path.join('/'), 5]], ih: sha1(info), info, name: 'evil', size: 5 })
}

test('catalog shard: a good shard decodes whole; each bad record is refused alone with its typed error and counted', () => {
  const good = goodRecords(6)
  const ok = decodeShard(encodeShard(0, 0, good))
  assert.equal(ok.records.length, 6)
  assert.equal(ok.refused, 0)

  const enc = good.map(encodeRecord)
  // 1: info that does not hash to ih (one byte of the name changed).
  const r1 = { ...good[1], info: Buffer.from(good[1].info) }
  r1.info[r1.info.indexOf('name') + 8] ^= 1
  // 2: the record's own file list says '../x'; 3: an absolute path; 4: an info dict with '..'.
  const r2 = { ...good[2], files: [{ path: '../x', size: good[2].files[0].size }, ...good[2].files.slice(1)] }
  const r3 = { ...good[3], files: [{ path: '/etc/passwd', size: good[3].files[0].size }, ...good[3].files.slice(1)] }
  const bad = [enc[0], encodeRecord(r1), encodeRecord(r2), encodeRecord(r3), unsafeInfoRecord(['..', 'x']), enc[4], Buffer.from('not bencode'), enc[5]]
  const d = decodeShard(frames(header(bad.length), bad))
  assert.equal(d.records.length, 3)
  assert.deepEqual(d.records.map((r) => r.key), [good[0].key, good[4].key, good[5].key])
  assert.equal(d.refused, 5)
  assert.deepEqual(d.errors.map((e) => e.index), [1, 2, 3, 4, 6])
  assert.ok(d.errors[0].error instanceof HashMismatchError)
  assert.ok(d.errors[1].error instanceof SchemaError && /'\.\.'/.test(d.errors[1].error.message), d.errors[1].error.message)
  assert.ok(d.errors[2].error instanceof SchemaError && /empty path component/.test(d.errors[2].error.message))
  assert.ok(d.errors[3].error instanceof SchemaError)
  assert.ok(d.errors[4].error instanceof DecodeError)
  assert.deepEqual(d.refusedByCode, { ERR_HASH_MISMATCH: 1, ERR_SCHEMA: 3, ERR_DECODE: 1 })
  assert.equal(d.truncated, false)
})

test('catalog shard: an oversized record is refused and skipped, the next still read', () => {
  const good = goodRecords(3)
  const enc = good.map(encodeRecord)
  const cap = Math.max(enc[0].length, enc[2].length)
  const big = { ...good[1], files: good[1].files, name: good[1].name }
  const bigBytes = Buffer.concat([encodeRecord(big)]) // the same record, but we lower the cap below it
  const d = decodeShard(frames(header(3), [enc[0], Buffer.concat([bigBytes, Buffer.alloc(cap)]), enc[2]]), { maxRecordBytes: cap })
  assert.equal(d.records.length, 2)
  assert.equal(d.refused, 1)
  assert.ok(d.errors[0].error instanceof LimitError)
  assert.equal(d.errors[0].index, 1)
})

test('catalog shard: lying lengths and counts', () => {
  const good = goodRecords(3)
  const enc = good.map(encodeRecord)
  // A length past the end: the records before it are kept, the framing is lost from there.
  const body = frames(header(3), [enc[0], enc[1]])
  const lying = Buffer.concat([body.subarray(0, body.length - 1), Buffer.from(`${enc[2].length + 1000}:`), enc[2], Buffer.from('e')])
  const d = decodeShard(lying)
  assert.equal(d.records.length, 2)
  assert.equal(d.refused, 1)
  assert.equal(d.truncated, true)
  assert.ok(d.errors[0].error instanceof DecodeError)
  // A record inside whose bencode lengths lie: refused alone.
  const inner = Buffer.from(enc[1])
  const at = inner.indexOf(':', inner.indexOf('4:info') + 6)
  const lenStart = inner.indexOf('4:info') + 6
  const fake = Buffer.concat([inner.subarray(0, lenStart), Buffer.from('99999999'), inner.subarray(at)])
  const d2 = decodeShard(frames(header(3), [enc[0], fake, enc[2]]))
  assert.equal(d2.records.length, 2)
  assert.equal(d2.refused, 1)
  assert.ok(d2.errors[0].error instanceof DecodeError)
  // A header count that is not the number of records: counted as refused, the records kept.
  const d3 = decodeShard(frames(header(5), enc))
  assert.equal(d3.records.length, 3)
  assert.equal(d3.refused, 1)
  assert.ok(d3.errors[0].error instanceof SchemaError)
  // A count past the cap refuses the shard before reading records.
  assert.throws(() => decodeShard(frames(header(10), enc), { maxRecords: 5 }), LimitError)
  // Out of order and repeated keys are refused.
  const d4 = decodeShard(frames(header(4), [enc[1], enc[0], enc[2], enc[2]]))
  assert.equal(d4.records.length, 2)
  assert.equal(d4.refused, 2)
  // Not a shard at all.
  assert.throws(() => decodeShard(Buffer.from('d1:ai1ee')), DecodeError)
  assert.throws(() => decodeShard(frames({ ...header(0), format: 'other' }, [])), SchemaError)
  assert.throws(() => decodeShard(frames({ ...header(0), bits: 4, prefix: 16 }, [])), SchemaError)
  // A record in the wrong shard.
  const other = good.find((r) => keyPrefix(r.key, 1) === 1) ?? good[0]
  const wrong = keyPrefix(other.key, 1) === 1 ? 0 : 1
  const d5 = decodeShard(frames({ ...header(1), bits: 1, prefix: wrong }, [encodeRecord(other)]))
  assert.equal(d5.refused, 1)
})

test('catalog: caps on the whole catalog, a shard and the index, each a LimitError', () => {
  const small = LIBRARY.slice(0, 200)
  const full = buildCatalog(small)
  assert.throws(() => buildCatalog(small, { maxBytes: Math.floor(full.bytes / 2) }), (e: unknown) => e instanceof LimitError && /over \d+ bytes/.test(e.message))
  assert.throws(() => decodeIndex(full.indexFile, { maxCatalogBytes: Math.floor(full.bytes / 2) }), LimitError)
  assert.equal(decodeIndex(full.indexFile).records, 200)
  assert.throws(() => readCatalog(full.indexFile, () => { throw new Error('no shard should be asked for') }, { maxCatalogBytes: 1000 }), LimitError)
  assert.throws(() => decodeShard(full.shards[0].file, { maxShardBytes: 100 }), LimitError)
})

test('catalog: a shard whose bytes are not the ones the index names is refused', () => {
  const c = buildCatalog(LIBRARY.slice(0, 600), { bits: 1 })
  const files = new Map(c.shards.map((s) => [s.prefix, s.file]))
  assert.throws(() => readCatalog(c.indexFile, (e) => e.prefix === 1 ? files.get(0)! : files.get(e.prefix)!), HashMismatchError)
  const tampered = Buffer.from(c.shards[0].file)
  tampered[tampered.length - 10] ^= 1
  assert.throws(() => readCatalog(c.indexFile, (e) => e.prefix === 0 ? tampered : files.get(e.prefix)!), HashMismatchError)
  assert.equal(readCatalog(c.indexFile, (e) => files.get(e.prefix)!).records.length, 600)
})

test('catalog: a stored torrent whose info does not hash to its infohash is left out of the build and counted', () => {
  const lib = LIBRARY.slice(0, 50)
  const bad = { ...lib[7], rawInfo: Buffer.from(lib[7].rawInfo) }
  bad.rawInfo[bad.rawInfo.length - 3] ^= 1
  const c = buildCatalog([...lib.slice(0, 7), bad, ...lib.slice(8), lib[3]])
  assert.equal(c.records, 49) // 51 given: 49 distinct good ones
  assert.equal(c.skipped, 2) // the bad one and the repeated one
  assert.ok(c.skippedErrors.some((e) => e.error instanceof HashMismatchError))
})
