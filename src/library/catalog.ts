// Build the catalog of a library: deterministic hybrid torrents, one per shard of records and
// one index torrent listing the shards, whose infohash names the whole catalog (the BEP-46
// pointer carries it). Formats: catalog-format.ts; design: docs/library.md, "Catalog".
//
// Sharding: a record goes to the shard named by the first `bits` bits of its 20-byte DHT key.
// Keys are hashes, so shards fill evenly, and adding or removing one torrent changes exactly the
// one shard its key falls in (and the index). `bits` follows the library size
// (chooseBits: about TARGET_RECORDS_PER_SHARD records a shard, 0..16 bits); given the previous
// index it is kept while each shard stays within 1/4..4 × the target, so a growing library
// re-splits (and every shard changes once) only when it has grown 4-fold or more since the
// last split, not at each power of two.
//
// Determinism: shard contents are sorted by key and carry no time, row id or source; the
// torrents have a fixed name, a fixed piece length (256 KiB), no creation date, no trackers
// and no comment, and createTorrentFromMemory is byte-identical to libtorrent. The same
// library (and the same `bits`) always gives the same bytes and infohashes.

import { HashMismatchError, LimitError, SchemaError, UsageError, BbmeshError } from '../core/errors.js'
import { equalBytes, toHex } from '../core/infohash.js'
import { LIMITS } from '../core/limits.js'
import { createTorrentFromMemory } from '../torrent/create.js'
import type { CreatedTorrent } from '../torrent/create.js'
import type { TorrentRecord } from '../torrent/types.js'
import {
  assembleShard, decodeIndex, decodeShard, encodeIndex, encodeRecord, keyPrefix, recordFromTorrent,
  type CatalogIndex, type DecodedRecord, type IndexEntry, type RefusedRecord,
} from './catalog-format.js'

/** Piece length of every catalog torrent: fixed, so it never depends on a shard's size. */
export const CATALOG_PIECE_LENGTH = 256 * 1024
/** Records per shard the split aims at (about 200 KB of shard for small real info dicts). */
export const TARGET_RECORDS_PER_SHARD = 512
export const INDEX_NAME = 'bbmesh-catalog-index'

export interface BuiltShard {
  prefix: number
  name: string
  /** The shard file (catalog-format.ts). */
  file: Buffer
  torrent: CreatedTorrent
  count: number
}

export interface Catalog {
  bits: number
  shards: BuiltShard[]
  index: CatalogIndex
  indexFile: Buffer
  indexTorrent: CreatedTorrent
  /** v1 infohash of the index torrent: the catalog's name (what the BEP-46 pointer holds). */
  infohash: Buffer
  /** v2 infohash (32 bytes) of the index torrent. */
  infohashV2: Buffer
  records: number
  /** Shard files and the index file: what a fetcher with nothing downloads (torrent metadata aside). */
  bytes: number
  /** Torrents left out: a stored hash that is not the hash of the stored bytes, or a repeated key. */
  skipped: number
  skippedErrors: Array<{ key: string, error: BbmeshError }>
}

export interface BuildOptions {
  /** Prefix bits; default chooseBits(records, previous?.bits). */
  bits?: number
  /** The index published before: keeps its `bits` while the shards stay in bounds. */
  previous?: CatalogIndex
  /** Cap on the catalog's bytes (shards + index); default and ceiling LIMITS.catalogMaxBytes. */
  maxBytes?: number
}

/** Prefix bits for a library of n torrents (see the head of this file). */
export function chooseBits (n: number, previous?: number): number {
  const T = TARGET_RECORDS_PER_SHARD
  if (previous !== undefined && Number.isInteger(previous) && previous >= 0 && previous <= LIMITS.catalogMaxBits) {
    const per = n / 2 ** previous
    if (per <= 4 * T && (previous === 0 || per >= T / 4)) return previous
  }
  if (n <= T) return 0
  return Math.min(LIMITS.catalogMaxBits, Math.ceil(Math.log2(n / T)))
}

export function shardName (bits: number, prefix: number): string {
  const digits = Math.max(1, Math.ceil(bits / 4))
  return `bbmesh-catalog-${bits}-${prefix.toString(16).padStart(digits, '0')}`
}

/** The hybrid torrent of a shard file (deterministic). */
export function shardTorrent (bits: number, prefix: number, file: Uint8Array): CreatedTorrent {
  return createTorrentFromMemory({ name: shardName(bits, prefix), files: [{ path: [], data: file }] }, { mode: 'hybrid', pieceLength: CATALOG_PIECE_LENGTH })
}

export function indexTorrent (file: Uint8Array): CreatedTorrent {
  return createTorrentFromMemory({ name: INDEX_NAME, files: [{ path: [], data: file }] }, { mode: 'hybrid', pieceLength: CATALOG_PIECE_LENGTH })
}

/** The torrents a build left out, counted; the first 100 kept with their error. */
export interface SkipLog { skipped: number, skippedErrors: Catalog['skippedErrors'] }

function skip (log: SkipLog, key: string, error: BbmeshError): void {
  log.skipped++
  if (log.skippedErrors.length < 100) log.skippedErrors.push({ key, error })
}

/**
 * One torrent as a catalog record (key and bytes), or null when its stored hashes are not the
 * hashes of its bytes (logged as skipped). LimitError over the record cap.
 */
export function encodeForCatalog (t: Pick<TorrentRecord, 'info' | 'rawInfo'>, log: SkipLog): { key: Buffer, bytes: Buffer } | null {
  let rec
  try {
    rec = recordFromTorrent(t)
  } catch (err) {
    if (!(err instanceof BbmeshError)) throw err
    skip(log, toHex(t.info.infohashV1 ?? t.info.infohashV2 ?? Buffer.alloc(0)), err)
    return null
  }
  const bytes = encodeRecord(rec)
  if (bytes.length > LIMITS.catalogRecordMax) throw new LimitError(`catalog: record ${toHex(rec.key)} of ${bytes.length} bytes, cap ${LIMITS.catalogRecordMax}`)
  return { key: rec.key, bytes }
}

/** Records sorted by key; a key listed twice (the same torrent twice) is kept once, the repeat logged. */
export function sortUnique (encoded: Array<{ key: Buffer, bytes: Buffer }>, log: SkipLog): Array<{ key: Buffer, bytes: Buffer }> {
  encoded.sort((a, b) => Buffer.compare(a.key, b.key))
  const unique: typeof encoded = []
  for (const e of encoded) {
    if (unique.length > 0 && unique[unique.length - 1].key.equals(e.key)) {
      // The bytes are equal when the hash is.
      skip(log, toHex(e.key), new SchemaError(`catalog: key ${toHex(e.key)} listed twice`))
      continue
    }
    unique.push(e)
  }
  return unique
}

/**
 * Build the catalog of these torrents (any order; a store's: recordsFromStore). Holds the
 * encoded records in memory. LimitError as soon as the catalog passes the byte cap.
 */
export function buildCatalog (torrents: Iterable<Pick<TorrentRecord, 'info' | 'rawInfo'>>, opts: BuildOptions = {}): Catalog {
  const maxBytes = Math.min(opts.maxBytes ?? LIMITS.catalogMaxBytes, LIMITS.catalogMaxBytes)
  const encoded: Array<{ key: Buffer, bytes: Buffer }> = []
  const log: SkipLog = { skipped: 0, skippedErrors: [] }
  let total = 0
  for (const t of torrents) {
    const e = encodeForCatalog(t, log)
    if (e === null) continue
    total += e.bytes.length + 12 // the record's length prefix, at most
    if (total > maxBytes) throw new LimitError(`catalog: over ${maxBytes} bytes after ${encoded.length} records (cap LIMITS.catalogMaxBytes)`)
    encoded.push(e)
  }
  const unique = sortUnique(encoded, log)
  const { skipped, skippedErrors } = log

  const bits = opts.bits ?? chooseBits(unique.length, opts.previous?.bits)
  if (!Number.isInteger(bits) || bits < 0 || bits > LIMITS.catalogMaxBits) throw new UsageError(`catalog: bits must be 0..${LIMITS.catalogMaxBits}`)
  const shards: BuiltShard[] = []
  let bytes = 0
  for (let i = 0; i < unique.length;) {
    const prefix = keyPrefix(unique[i].key, bits)
    let j = i
    while (j < unique.length && keyPrefix(unique[j].key, bits) === prefix) j++
    const group = unique.slice(i, j)
    if (group.length > LIMITS.catalogShardMaxRecords) throw new LimitError(`catalog: shard ${prefix} of ${group.length} records, cap ${LIMITS.catalogShardMaxRecords}: use more bits`)
    const file = assembleShard(bits, prefix, group)
    if (file.length > LIMITS.catalogShardMax) throw new LimitError(`catalog: shard ${prefix} of ${file.length} bytes, cap ${LIMITS.catalogShardMax}: use more bits`)
    bytes += file.length
    if (bytes > maxBytes) throw new LimitError(`catalog: over ${maxBytes} bytes (cap LIMITS.catalogMaxBytes)`)
    shards.push({ prefix, name: shardName(bits, prefix), file, torrent: shardTorrent(bits, prefix, file), count: group.length })
    i = j
  }
  const index: CatalogIndex = {
    bits,
    pieceLength: CATALOG_PIECE_LENGTH,
    records: unique.length,
    bytes,
    shards: shards.map((s): IndexEntry => ({ prefix: s.prefix, ih: s.torrent.info.infohashV1 as Buffer, ih2: s.torrent.info.infohashV2 as Buffer, size: s.file.length, count: s.count })),
  }
  const indexFile = encodeIndex(index)
  if (bytes + indexFile.length > maxBytes) throw new LimitError(`catalog: over ${maxBytes} bytes (cap LIMITS.catalogMaxBytes)`)
  const it = indexTorrent(indexFile)
  return {
    bits, shards, index, indexFile, indexTorrent: it,
    infohash: it.info.infohashV1 as Buffer, infohashV2: it.info.infohashV2 as Buffer,
    records: unique.length, bytes: bytes + indexFile.length, skipped, skippedErrors,
  }
}

/** Anything with the store's pageTorrents (src/store/index.ts). */
export interface TorrentPager {
  pageTorrents: (afterId: number, limit: number) => Array<TorrentRecord & { id: number }>
}

/** Every stored torrent, in pages of short reads (the order does not matter to the catalog). */
export function * recordsFromStore (store: TorrentPager, opts: { pageSize?: number, filter?: (t: TorrentRecord) => boolean } = {}): Generator<TorrentRecord> {
  const size = opts.pageSize ?? 2000
  let after = 0
  for (;;) {
    const page = store.pageTorrents(after, size)
    if (page.length === 0) return
    for (const t of page) if (opts.filter === undefined || opts.filter(t)) yield t
    after = page[page.length - 1].id
  }
}

// ------------------------------------------------------------------ fetching side

export interface CatalogDiff {
  /** Shards of the new index the fetcher does not hold: to download. */
  fetch: IndexEntry[]
  /** Shards it already holds (same infohash). */
  keep: IndexEntry[]
  /** Old shards the new index no longer lists: to drop. */
  drop: IndexEntry[]
  /** Bytes of the shards to download (the index itself aside). */
  fetchBytes: number
}

/**
 * What a fetcher holding `old` (null: nothing) must download for `next`. Shards are compared by
 * infohash, so a shard with the same content under the same prefix is never fetched twice.
 */
export function diffCatalogs (old: CatalogIndex | null, next: CatalogIndex): CatalogDiff {
  const have = new Set((old?.shards ?? []).map((s) => s.ih2.toString('hex')))
  const want = new Set(next.shards.map((s) => s.ih2.toString('hex')))
  const fetch: IndexEntry[] = []
  const keep: IndexEntry[] = []
  for (const s of next.shards) (have.has(s.ih2.toString('hex')) ? keep : fetch).push(s)
  const drop = (old?.shards ?? []).filter((s) => !want.has(s.ih2.toString('hex')))
  return { fetch, keep, drop, fetchBytes: fetch.reduce((n, s) => n + s.size, 0) }
}

/** Check shard bytes against the index entry: their torrent must have its infohashes. */
export function verifyShardFile (bits: number, entry: IndexEntry, file: Uint8Array): void {
  if (file.length !== entry.size) throw new HashMismatchError(`catalog shard ${entry.prefix}: ${file.length} bytes, the index says ${entry.size}`)
  const t = shardTorrent(bits, entry.prefix, file)
  if (!equalBytes(t.info.infohashV1 as Buffer, entry.ih) || !equalBytes(t.info.infohashV2 as Buffer, entry.ih2)) {
    throw new HashMismatchError(`catalog shard ${entry.prefix}: bytes do not make torrent ${toHex(entry.ih)}`)
  }
}

export interface ReadCatalog {
  index: CatalogIndex
  records: DecodedRecord[]
  refused: number
  refusedByCode: Record<string, number>
  errors: Array<RefusedRecord & { prefix: number }>
}

/**
 * Read a whole catalog: the index (capped), then each shard file from `getShard` (checked
 * against its index entry, then decoded record by record). A bad record is refused and
 * counted; a shard whose bytes are not the one the index names throws.
 */
export function readCatalog (indexFile: Uint8Array, getShard: (entry: IndexEntry) => Uint8Array, opts: { maxCatalogBytes?: number } = {}): ReadCatalog {
  const index = decodeIndex(indexFile, opts)
  const out: ReadCatalog = { index, records: [], refused: 0, refusedByCode: {}, errors: [] }
  for (const e of index.shards) {
    const file = getShard(e)
    verifyShardFile(index.bits, e, file)
    const d = decodeShard(file, { expect: { bits: index.bits, prefix: e.prefix } })
    for (const r of d.records) out.records.push(r)
    out.refused += d.refused
    for (const [c, n] of Object.entries(d.refusedByCode)) out.refusedByCode[c] = (out.refusedByCode[c] ?? 0) + n
    for (const er of d.errors) if (out.errors.length < 100) out.errors.push({ ...er, prefix: e.prefix })
  }
  return out
}
