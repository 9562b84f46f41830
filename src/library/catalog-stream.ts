// The catalog built one shard at a time, to disk (docs/library.md, "Catalog", "Publishing").
// buildCatalogToDisk gives exactly the bytes and infohashes of buildCatalog(recordsFromStore())
// (catalog.ts) but never holds more than one shard: it counts the rows, chooses `bits` as
// buildCatalog would, then for each prefix in order reads that prefix's key range from the
// store (two range scans on the hash indexes), encodes, sorts and assembles the shard, makes
// its torrent and writes the file to <dir>/<ih2 hex> (temp file + rename). What it returns is
// the per-shard metadata (a few hundred bytes a shard) and the index.
//
// `bits` and skipped rows: buildCatalog chooses bits from the records that passed their hash
// check; the count here is taken before. When rows were skipped and the choice from the records
// left differs, the build runs again with that choice (one more pass, only in that corner),
// so the output is still buildCatalog's.
//
// Crash safety: a shard file is written as <ih2 hex>.tmp and renamed, so a file under its final
// name is always whole; a build that dies leaves temp files (removed by the next build) and
// maybe whole shard files no catalog lists yet (removed by pruneShardFiles after the next
// switch). The seeder checks every piece it reads against the torrent's SHA-1 piece hashes, so
// a file damaged on disk is refused, never served.

import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { LimitError, StoreError, UsageError } from '../core/errors.js'
import { toHex } from '../core/infohash.js'
import { LIMITS } from '../core/limits.js'
import type { CreatedTorrent } from '../torrent/create.js'
import type { TorrentRecord } from '../torrent/types.js'
import {
  CATALOG_PIECE_LENGTH, chooseBits, encodeForCatalog, indexTorrent, shardName, shardTorrent, sortUnique, type BuildOptions, type Catalog, type SkipLog,
} from './catalog.js'
import { assembleShard, encodeIndex, type CatalogIndex, type IndexEntry } from './catalog-format.js'

/** What the streaming build reads: the store's range read and catalog count (src/store/index.ts). */
export interface ShardSource {
  countForCatalog: (includeCatalogs: boolean) => number
  torrentsInKeyRange: (lo: Uint8Array, hi: Uint8Array | null, opts: { limit?: number, excludeCatalogs?: boolean }) => Array<Pick<TorrentRecord, 'info' | 'rawInfo'>>
}

/** A shard written to disk: its index entry, its torrent's info dict and where its file is. */
export interface DiskShard extends IndexEntry {
  name: string
  /** Info dict of the shard's hybrid torrent (piece length CATALOG_PIECE_LENGTH). */
  rawInfo: Buffer
  /** The shard file: <dir>/<ih2 hex>. */
  path: string
}

/** A catalog whose shard files are on disk; the rest as in Catalog (catalog.ts). */
export interface DiskCatalog extends Omit<Catalog, 'shards'> {
  dir: string
  shards: DiskShard[]
}

export interface StreamBuildOptions extends BuildOptions {
  /** Keep records imported from catalogs (source `catalog*`); default false, as a publisher. */
  includeCatalogs?: boolean
}

/** Where a shard file lives in a shard directory: named by its torrent's v2 infohash. */
export function shardFilePath (dir: string, ih2: Uint8Array): string {
  return join(dir, toHex(ih2))
}

const TMP = '.tmp'

/** [lo, hi) of prefix p at `bits` bits, as 20-byte keys; hi null past the last prefix. */
export function prefixRange (bits: number, p: number): [Buffer, Buffer | null] {
  const lo = Buffer.alloc(20)
  lo.writeUInt16BE((p << (16 - bits)) & 0xffff)
  if (p + 1 >= 2 ** bits) return [lo, null]
  const hi = Buffer.alloc(20)
  hi.writeUInt16BE(((p + 1) << (16 - bits)) & 0xffff)
  return [lo, hi]
}

/** Remove what a build that died left half-written (temp files). */
export function removeTempFiles (dir: string): number {
  let n = 0
  for (const f of readdirOrEmpty(dir)) if (f.endsWith(TMP)) { io(`removing ${f}`, () => rmSync(join(dir, f), { force: true })); n++ }
  return n
}

/** Delete every file in dir that is not a shard of `keep` (after a switch to it). */
export function pruneShardFiles (dir: string, keep: Iterable<{ ih2: Uint8Array }>): number {
  const names = new Set<string>()
  for (const s of keep) names.add(toHex(s.ih2))
  let n = 0
  for (const f of readdirOrEmpty(dir)) if (!names.has(f)) { io(`removing ${f}`, () => rmSync(join(dir, f), { force: true })); n++ }
  return n
}

function readdirOrEmpty (dir: string): string[] {
  try {
    return readdirSync(dir)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return []
    throw new StoreError(`catalog: cannot list ${dir}: ${(err as Error).message}`, { cause: err })
  }
}

/** A file system call whose failure (disk full, permissions) is a StoreError the publisher reports and retries. */
function io<T> (what: string, fn: () => T): T {
  try {
    return fn()
  } catch (err) {
    throw new StoreError(`catalog: ${what}: ${(err as Error).message}`, { cause: err })
  }
}

/**
 * Build the catalog of `source` into the shard directory `dir` (created if missing), one shard
 * in memory at a time. Same checks and errors as buildCatalog (LimitError over a cap).
 */
export function buildCatalogToDisk (source: ShardSource, dir: string, opts: StreamBuildOptions = {}): DiskCatalog {
  io(`creating ${dir}`, () => mkdirSync(dir, { recursive: true, mode: 0o700 }))
  removeTempFiles(dir)
  const includeCatalogs = opts.includeCatalogs === true
  if (opts.bits !== undefined) return pass(source, dir, opts.bits, includeCatalogs, opts)
  const first = pass(source, dir, chooseBits(source.countForCatalog(includeCatalogs), opts.previous?.bits), includeCatalogs, opts)
  if (first.skipped === 0) return first
  const want = chooseBits(first.records, opts.previous?.bits)
  return want === first.bits ? first : pass(source, dir, want, includeCatalogs, opts)
}

function pass (source: ShardSource, dir: string, bits: number, includeCatalogs: boolean, opts: BuildOptions): DiskCatalog {
  if (!Number.isInteger(bits) || bits < 0 || bits > LIMITS.catalogMaxBits) throw new UsageError(`catalog: bits must be 0..${LIMITS.catalogMaxBits}`)
  const maxBytes = Math.min(opts.maxBytes ?? LIMITS.catalogMaxBytes, LIMITS.catalogMaxBytes)
  const log: SkipLog = { skipped: 0, skippedErrors: [] }
  const shards: DiskShard[] = []
  let records = 0
  let total = 0 // buildCatalog's first cap: every record's bytes and length prefix
  let bytes = 0
  for (let p = 0; p < 2 ** bits; p++) {
    const [lo, hi] = prefixRange(bits, p)
    // One row past the cap tells an over-full shard without reading all of it.
    const rows = source.torrentsInKeyRange(lo, hi, { limit: LIMITS.catalogShardMaxRecords + 1, excludeCatalogs: !includeCatalogs })
    if (rows.length > LIMITS.catalogShardMaxRecords) throw new LimitError(`catalog: shard ${p} of more than ${LIMITS.catalogShardMaxRecords} rows, cap ${LIMITS.catalogShardMaxRecords}: use more bits`)
    const encoded: Array<{ key: Buffer, bytes: Buffer }> = []
    for (const t of rows) {
      const e = encodeForCatalog(t, log)
      if (e === null) continue
      total += e.bytes.length + 12
      if (total > maxBytes) throw new LimitError(`catalog: over ${maxBytes} bytes after ${records + encoded.length} records (cap LIMITS.catalogMaxBytes)`)
      encoded.push(e)
    }
    const group = sortUnique(encoded, log)
    if (group.length === 0) continue
    const file = assembleShard(bits, p, group)
    if (file.length > LIMITS.catalogShardMax) throw new LimitError(`catalog: shard ${p} of ${file.length} bytes, cap ${LIMITS.catalogShardMax}: use more bits`)
    bytes += file.length
    if (bytes > maxBytes) throw new LimitError(`catalog: over ${maxBytes} bytes (cap LIMITS.catalogMaxBytes)`)
    const t = shardTorrent(bits, p, file)
    const ih2 = t.info.infohashV2 as Buffer
    const path = shardFilePath(dir, ih2)
    writeAtomically(path, file)
    shards.push({ prefix: p, name: shardName(bits, p), ih: t.info.infohashV1 as Buffer, ih2, size: file.length, count: group.length, rawInfo: t.rawInfo, path })
    records += group.length
  }
  const index: CatalogIndex = {
    bits,
    pieceLength: CATALOG_PIECE_LENGTH,
    records,
    bytes,
    shards: shards.map((s): IndexEntry => ({ prefix: s.prefix, ih: s.ih, ih2: s.ih2, size: s.size, count: s.count })),
  }
  const indexFile = encodeIndex(index)
  if (bytes + indexFile.length > maxBytes) throw new LimitError(`catalog: over ${maxBytes} bytes (cap LIMITS.catalogMaxBytes)`)
  const it: CreatedTorrent = indexTorrent(indexFile)
  return {
    dir, bits, shards, index, indexFile, indexTorrent: it,
    infohash: it.info.infohashV1 as Buffer, infohashV2: it.info.infohashV2 as Buffer,
    records, bytes: bytes + indexFile.length, skipped: log.skipped, skippedErrors: log.skippedErrors,
  }
}

/**
 * Temp file beside the target, then rename: the final name never holds a partial file. A file
 * already there with these very bytes (an unchanged shard: names are content hashes) is left
 * alone, so the seeder's open handle on it stays on a linked file (it refuses unlinked ones).
 */
function writeAtomically (path: string, data: Buffer): void {
  try {
    if (statSync(path).size === data.length && readFileSync(path).equals(data)) return
  } catch {} // missing or unreadable: written below
  const tmp = path + TMP
  try {
    writeFileSync(tmp, data, { mode: 0o600 })
    renameSync(tmp, path)
  } catch (err) {
    rmSync(tmp, { force: true })
    throw new StoreError(`catalog: cannot write ${path}: ${(err as Error).message}`, { cause: err })
  }
}
