// The catalog's file formats: the records inside a shard file and the index file that lists
// the shards (docs/library.md, "Catalog"). Pure: bytes in, bytes or typed errors out.
//
// Shard file (one file, the only file of a hybrid shard torrent), bencode:
//
//   l
//     d 4:bits i<k>e 5:count i<n>e 6:format 20:bbmesh-catalog-shard 6:prefix i<p>e 7:version i1e e
//     <len>:<record>          n times, sorted by the record's 20-byte DHT key, strictly increasing
//   e
//
// Every record is a byte string holding one bencoded dict, so the list frames the records and a
// record that is damaged inside is refused alone, the others still read:
//
//   { files: [[<path>, <size>], ...],   the real files (pad files left out), path joined by '/'
//     ih:    <20 bytes>,                SHA-1 of info: v1 and hybrid only
//     ih2:   <32 bytes>,                SHA-256 of info: v2 and hybrid only
//     info:  <raw info dict bytes>,     exactly as fetched: a reader gets the full metadata
//     name:  <torrent name>,
//     size:  <total size, pad files excluded> }
//
// The DHT key of a record is ih, or the first 20 bytes of ih2 for a v2-only torrent; its first k
// bits are the shard prefix p. Nothing in a record or a header depends on time or on the store's
// row ids, so the same set of torrents always encodes to the same bytes.
//
// Reading (decodeShard) is bounded (shard, record and count caps from LIMITS, lowerable per call)
// and checks every record: its info dict hashes to ih / ih2 (verifyInfohash), parses
// (parseInfo) with the version its hashes claim, and agrees with name, size and files; every
// file path and the name pass src/torrent/path-safety.ts. A record that fails is refused with
// its typed error and counted; the shard is refused as a whole only when its own framing says
// so (not a list, a bad header, over a cap).
//
// Index file (the only file of the hybrid index torrent, whose infohash names the catalog):
//
//   { bits: k, bytes: <sum of shard sizes>, format: "bbmesh-catalog-index",
//     "piece length": <of every shard torrent>, records: <sum of counts>, version: 1,
//     shards: [ { count: n, ih: <20>, ih2: <32>, prefix: p, size: <shard file bytes> }, ... ] }
//
// sorted by prefix; prefixes with no records have no shard.

import { decode, decodePrefix, encode, getBytes, getInt, getList, isBytes, isDict, text } from '../core/bencode.js'
import type { BDict, EncodableValue } from '../core/bencode.js'
import { BbmeshError, DecodeError, HashMismatchError, LimitError, SchemaError } from '../core/errors.js'
import { ID_BYTES, equalBytes, sha256, toHex } from '../core/infohash.js'
import { LIMITS } from '../core/limits.js'
import { parseInfo } from '../torrent/info-parse.js'
import { verifyInfohash } from '../torrent/info-verify.js'
import { checkComponent, checkPath } from '../torrent/path-safety.js'
import type { TorrentInfo, TorrentRecord } from '../torrent/types.js'

export const SHARD_FORMAT = 'bbmesh-catalog-shard'
export const INDEX_FORMAT = 'bbmesh-catalog-index'
export const CATALOG_VERSION = 1
const V2_BYTES = 32
/** Refused records whose errors a DecodedShard keeps (all are counted). */
export const MAX_KEPT_ERRORS = 100

/** One torrent as a catalog carries it. */
export interface CatalogRecord {
  /** The 20-byte DHT key: ih, or ih2 truncated for a v2-only torrent. */
  key: Buffer
  ih: Buffer | null
  ih2: Buffer | null
  name: string
  size: number
  files: Array<{ path: string, size: number }>
  /** The raw info dict. */
  info: Buffer
}

/** A record read from a shard: checked, with the info dict parsed. */
export interface DecodedRecord extends CatalogRecord {
  parsed: TorrentInfo
}

export interface RefusedRecord {
  /** Position of the record in the shard (0-based). */
  index: number
  error: BbmeshError
}

export interface DecodedShard {
  bits: number
  prefix: number
  /** The count the header claims. */
  headerCount: number
  records: DecodedRecord[]
  /** Records refused (each with a typed error; the first MAX_KEPT_ERRORS are in errors). */
  refused: number
  errors: RefusedRecord[]
  /** Refused records by error code (ERR_HASH_MISMATCH, ERR_SCHEMA, ERR_LIMIT, ERR_DECODE). */
  refusedByCode: Record<string, number>
  /** The framing broke (a length past the end, or no length): the records after it are lost. */
  truncated: boolean
}

export interface ShardDecodeOptions {
  /** Caps; default and ceiling the LIMITS values. */
  maxShardBytes?: number
  maxRecordBytes?: number
  maxRecords?: number
  /** The shard the index says this is: a header that disagrees is a SchemaError. */
  expect?: { bits: number, prefix: number }
}

export interface IndexEntry {
  prefix: number
  /** v1 infohash of the shard torrent. */
  ih: Buffer
  /** v2 infohash (32 bytes) of the shard torrent. */
  ih2: Buffer
  /** Bytes of the shard file. */
  size: number
  count: number
}

export interface CatalogIndex {
  bits: number
  pieceLength: number
  records: number
  bytes: number
  shards: IndexEntry[]
}

// ------------------------------------------------------------------ keys and prefixes

/** The 20-byte DHT key of a torrent: its v1 infohash, else its v2 infohash truncated. */
export function dhtKey (ih: Uint8Array | null | undefined, ih2: Uint8Array | null | undefined): Buffer {
  if (ih != null) return Buffer.from(ih)
  if (ih2 != null) return Buffer.from(ih2.subarray(0, ID_BYTES))
  throw new SchemaError('catalog: a record needs ih or ih2')
}

/** The first `bits` bits (0..16) of a key as a number. */
export function keyPrefix (key: Uint8Array, bits: number): number {
  if (bits === 0) return 0
  return ((key[0] << 8) | key[1]) >>> (16 - bits)
}

function checkBits (bits: unknown, where: string): number {
  if (typeof bits !== 'number' || !Number.isInteger(bits) || bits < 0 || bits > LIMITS.catalogMaxBits) {
    throw new SchemaError(`${where}: bits must be 0..${LIMITS.catalogMaxBits}`)
  }
  return bits
}

function cap (asked: number | undefined, ceiling: number): number {
  return asked === undefined ? ceiling : Math.min(asked, ceiling)
}

// ------------------------------------------------------------------ records

/**
 * A catalog record from a stored torrent. The hashes are taken again over the raw bytes and
 * must be the ones the record carries (HashMismatchError otherwise): a publisher never signs a
 * record its fetchers would refuse for that.
 */
export function recordFromTorrent (t: Pick<TorrentRecord, 'info' | 'rawInfo'>): CatalogRecord {
  const info = t.info
  const raw = Buffer.from(t.rawInfo)
  const ih = info.infohashV1 === undefined ? null : Buffer.from(info.infohashV1)
  const ih2 = info.infohashV2 === undefined ? null : Buffer.from(info.infohashV2)
  if (ih !== null) verifyInfohash(raw, ih)
  if (ih2 !== null && !equalBytes(sha256(raw), ih2)) throw new HashMismatchError(`catalog: info dict does not hash to ${toHex(ih2)}`)
  return {
    key: dhtKey(ih, ih2), ih, ih2, name: info.name, size: info.totalSize,
    files: info.files.map((f) => ({ path: f.path, size: f.size })), info: raw,
  }
}

/** Bencode one record (deterministic: bencode sorts keys). */
export function encodeRecord (r: CatalogRecord): Buffer {
  const d: Record<string, EncodableValue> = {
    files: r.files.map((f) => [f.path, f.size]), info: r.info, name: r.name, size: r.size,
  }
  if (r.ih !== null) d.ih = r.ih
  if (r.ih2 !== null) d.ih2 = r.ih2
  return encode(d)
}

const RECORD_KEYS = new Set(['files', 'ih', 'ih2', 'info', 'name', 'size'])

/** Decode and check one record's bytes; throws the typed error that refuses it. */
export function decodeRecord (bytes: Uint8Array, maxRecordBytes: number = LIMITS.catalogRecordMax): DecodedRecord {
  if (bytes.length > maxRecordBytes) throw new LimitError(`catalog record: ${bytes.length} bytes, cap ${maxRecordBytes}`)
  const d = decode(bytes, { maxBytes: maxRecordBytes, maxDepth: 4, maxItems: LIMITS.torrentMaxFiles * 3 + 16 })
  if (!isDict(d)) throw new SchemaError('catalog record: not a dict')
  for (const k of Object.keys(d)) if (!RECORD_KEYS.has(k)) throw new SchemaError(`catalog record: unknown key ${JSON.stringify(k)}`)
  const ihB = getBytes(d, 'ih')
  const ih2B = getBytes(d, 'ih2')
  if ('ih' in d && (ihB === undefined || ihB.length !== ID_BYTES)) throw new SchemaError(`catalog record: ih must be ${ID_BYTES} bytes`)
  if ('ih2' in d && (ih2B === undefined || ih2B.length !== V2_BYTES)) throw new SchemaError(`catalog record: ih2 must be ${V2_BYTES} bytes`)
  if (ihB === undefined && ih2B === undefined) throw new SchemaError('catalog record: no ih and no ih2')
  const info = getBytes(d, 'info')
  if (info === undefined || info.length === 0) throw new SchemaError('catalog record: missing info')
  if (info.length > LIMITS.metadataMaxSize) throw new LimitError(`catalog record: info of ${info.length} bytes, cap ${LIMITS.metadataMaxSize}`)

  // Self-certifying first: an info dict that is not the torrent named is refused before parsing.
  const label = toHex(ihB ?? ih2B as Uint8Array)
  if (ihB !== undefined && verifyInfohash(info, ihB) !== 'v1') throw new HashMismatchError(`catalog record ${label}: ih is not the SHA-1 of info`)
  if (ih2B !== undefined && !equalBytes(sha256(info), ih2B)) throw new HashMismatchError(`catalog record ${label}: info does not hash to ih2`)
  const parsed = parseInfo(info)
  const want = ihB !== undefined && ih2B !== undefined ? 'hybrid' : ihB !== undefined ? 'v1' : 'v2'
  if (parsed.version !== want) throw new SchemaError(`catalog record ${label}: info is ${parsed.version}, hashes say ${want}`)

  const nameB = getBytes(d, 'name')
  if (nameB === undefined) throw new SchemaError(`catalog record ${label}: missing name`)
  const name = text(nameB)
  checkComponent(name, `catalog record ${label}: name`)
  if (name !== parsed.name) throw new SchemaError(`catalog record ${label}: name is not the info's name`)
  const size = getInt(d, 'size')
  if (size === undefined || size < 0) throw new SchemaError(`catalog record ${label}: size is not a non-negative integer`)
  if (size !== parsed.totalSize) throw new SchemaError(`catalog record ${label}: size ${size}, info says ${parsed.totalSize}`)
  const list = getList(d, 'files')
  if (list === undefined) throw new SchemaError(`catalog record ${label}: missing files`)
  if (list.length > LIMITS.torrentMaxFiles) throw new LimitError(`catalog record ${label}: ${list.length} files, cap ${LIMITS.torrentMaxFiles}`)
  if (list.length !== parsed.files.length) throw new SchemaError(`catalog record ${label}: ${list.length} files, info has ${parsed.files.length}`)
  const files: Array<{ path: string, size: number }> = []
  for (let i = 0; i < list.length; i++) {
    const e = list[i]
    if (!Array.isArray(e) || e.length !== 2 || !isBytes(e[0]) || typeof e[1] !== 'number' || e[1] < 0) {
      throw new SchemaError(`catalog record ${label}: file ${i} is not [path, size]`)
    }
    const path = text(e[0])
    // Path safety on the record's own list: '../x', '/abs', 'a//b', '\\' and NUL are refused.
    checkPath(path.split('/'), `catalog record ${label}: file ${i}`)
    const pf = parsed.files[i]
    if (path !== pf.path || e[1] !== pf.size) throw new SchemaError(`catalog record ${label}: file ${i} is not the info's file ${i}`)
    files.push({ path, size: e[1] })
  }
  const ih = ihB === undefined ? null : Buffer.from(ihB)
  const ih2 = ih2B === undefined ? null : Buffer.from(ih2B)
  return { key: dhtKey(ih, ih2), ih, ih2, name, size, files, info: Buffer.from(info), parsed }
}

/** A decoded record as the store takes it (`source` e.g. 'catalog:<publisher key hex>'). */
export function toTorrentRecord (r: DecodedRecord, source: string, discoveredAt: number): TorrentRecord {
  return { info: r.parsed, rawInfo: r.info, source, discoveredAt }
}

// ------------------------------------------------------------------ shards

/** Encode a shard file from its records, which must all have this prefix; sorted here by key. */
export function encodeShard (bits: number, prefix: number, records: readonly CatalogRecord[]): Buffer {
  return assembleShard(bits, prefix, records.map((r) => ({ key: r.key, bytes: encodeRecord(r) })))
}

/** encodeShard from records already encoded (encodeRecord), so a builder encodes each once. */
export function assembleShard (bits: number, prefix: number, records: ReadonlyArray<{ key: Buffer, bytes: Buffer }>): Buffer {
  checkBits(bits, 'encodeShard')
  const sorted = [...records].sort((a, b) => Buffer.compare(a.key, b.key))
  const parts: Buffer[] = [Buffer.from('l'), encode({ bits, count: sorted.length, format: SHARD_FORMAT, prefix, version: CATALOG_VERSION })]
  let prev: Buffer | null = null
  for (const r of sorted) {
    if (keyPrefix(r.key, bits) !== prefix) throw new SchemaError(`encodeShard: record ${toHex(r.key)} is not in shard ${prefix}/${bits}`)
    if (prev !== null && prev.equals(r.key)) throw new SchemaError(`encodeShard: two records with key ${toHex(r.key)}`)
    prev = r.key
    parts.push(Buffer.from(`${r.bytes.length}:`, 'latin1'), r.bytes)
  }
  parts.push(Buffer.from('e'))
  return Buffer.concat(parts)
}

const C_colon = 0x3a
const C_e = 0x65
const C_l = 0x6c

/**
 * Read a shard file. Throws (the whole shard refused) when it is over the byte cap, is not a
 * list, has a bad header, or holds more records than the cap; otherwise every record is
 * checked on its own and the bad ones are refused and counted, never aborting the rest.
 */
export function decodeShard (bytes: Uint8Array, opts: ShardDecodeOptions = {}): DecodedShard {
  const maxShard = cap(opts.maxShardBytes, LIMITS.catalogShardMax)
  const maxRecord = cap(opts.maxRecordBytes, LIMITS.catalogRecordMax)
  const maxRecords = cap(opts.maxRecords, LIMITS.catalogShardMaxRecords)
  if (!(bytes instanceof Uint8Array)) throw new SchemaError('catalog shard: not bytes')
  if (bytes.length > maxShard) throw new LimitError(`catalog shard: ${bytes.length} bytes, cap ${maxShard}`)
  if (bytes.length < 2 || bytes[0] !== C_l) throw new DecodeError('catalog shard: not a bencoded list')

  const head = decodePrefix(bytes.subarray(1), { maxDepth: 2, maxItems: 32, allowTrailing: true })
  const h = head.value
  if (!isDict(h) || text(getBytes(h, 'format') ?? new Uint8Array()) !== SHARD_FORMAT) throw new SchemaError('catalog shard: header is not a bbmesh-catalog-shard header')
  if (getInt(h, 'version') !== CATALOG_VERSION) throw new SchemaError(`catalog shard: version ${String(getInt(h, 'version'))}, this bbmesh reads ${CATALOG_VERSION}`)
  const bits = checkBits(getInt(h, 'bits'), 'catalog shard')
  const prefix = getInt(h, 'prefix')
  if (prefix === undefined || prefix < 0 || prefix >= 2 ** bits) throw new SchemaError(`catalog shard: prefix must be 0..${2 ** bits - 1}`)
  const headerCount = getInt(h, 'count')
  if (headerCount === undefined || headerCount < 0) throw new SchemaError('catalog shard: count is not a non-negative integer')
  if (headerCount > maxRecords) throw new LimitError(`catalog shard: ${headerCount} records, cap ${maxRecords}`)
  if (opts.expect !== undefined && (opts.expect.bits !== bits || opts.expect.prefix !== prefix)) {
    throw new SchemaError(`catalog shard: is ${prefix}/${bits}, expected ${opts.expect.prefix}/${opts.expect.bits}`)
  }

  const out: DecodedShard = { bits, prefix, headerCount, records: [], refused: 0, errors: [], refusedByCode: {}, truncated: false }
  const refuse = (index: number, error: BbmeshError): void => {
    out.refused++
    out.refusedByCode[error.code] = (out.refusedByCode[error.code] ?? 0) + 1
    if (out.errors.length < MAX_KEPT_ERRORS) out.errors.push({ index, error })
  }
  const end = bytes.length - 1 // the list's closing 'e'
  let pos = 1 + head.end
  let index = 0
  let prev: Buffer | null = null
  while (pos < end) {
    if (index >= maxRecords) throw new LimitError(`catalog shard: more than ${maxRecords} records`)
    // <len>: framing, read by hand so that a record's length can be judged before its bytes.
    let len = 0
    let p = pos
    while (p < end && p - pos <= 10 && bytes[p] >= 0x30 && bytes[p] <= 0x39) len = len * 10 + bytes[p++] - 0x30
    if (p === pos || p - pos > 10 || bytes[p] !== C_colon || (bytes[pos] === 0x30 && p - pos > 1)) {
      refuse(index, new DecodeError(`catalog shard: record ${index} has no length: framing lost, the rest of the shard is unread`))
      out.truncated = true
      break
    }
    const start = p + 1
    if (start + len > end) {
      refuse(index, new DecodeError(`catalog shard: record ${index} claims ${len} bytes, ${Math.max(0, end - start)} are left: framing lost`))
      out.truncated = true
      break
    }
    pos = start + len
    const i = index++
    if (len > maxRecord) { refuse(i, new LimitError(`catalog shard: record ${i} of ${len} bytes, cap ${maxRecord}`)); continue }
    try {
      const r = decodeRecord(bytes.subarray(start, start + len), maxRecord)
      if (keyPrefix(r.key, bits) !== prefix) throw new SchemaError(`catalog record ${toHex(r.key)}: not in shard ${prefix}/${bits}`)
      if (prev !== null && Buffer.compare(prev, r.key) >= 0) throw new SchemaError(`catalog record ${toHex(r.key)}: out of order or repeated`)
      prev = r.key
      out.records.push(r)
    } catch (err) {
      if (!(err instanceof BbmeshError)) throw err
      refuse(i, err)
    }
  }
  if (!out.truncated && bytes[end] !== C_e) { refuse(index, new DecodeError('catalog shard: list not closed')); out.truncated = true }
  if (!out.truncated && index !== headerCount) {
    // The header lies about the count: the records read are still each checked and kept.
    refuse(index, new SchemaError(`catalog shard: header says ${headerCount} records, the shard holds ${index}`))
  }
  return out
}

// ------------------------------------------------------------------ index

export function encodeIndex (idx: CatalogIndex): Buffer {
  checkBits(idx.bits, 'encodeIndex')
  return encode({
    bits: idx.bits, bytes: idx.bytes, format: INDEX_FORMAT, 'piece length': idx.pieceLength, records: idx.records, version: CATALOG_VERSION,
    shards: idx.shards.map((s) => ({ count: s.count, ih: s.ih, ih2: s.ih2, prefix: s.prefix, size: s.size })),
  })
}

/** Read an index file: every field checked, the catalog it names capped (LimitError). */
export function decodeIndex (bytes: Uint8Array, opts: { maxCatalogBytes?: number } = {}): CatalogIndex {
  const maxCatalog = cap(opts.maxCatalogBytes, LIMITS.catalogMaxBytes)
  if (bytes.length > LIMITS.catalogIndexMax) throw new LimitError(`catalog index: ${bytes.length} bytes, cap ${LIMITS.catalogIndexMax}`)
  const d = decode(bytes, { maxDepth: 4, maxItems: 2 ** LIMITS.catalogMaxBits * 12 + 32 })
  if (!isDict(d) || text(getBytes(d, 'format') ?? new Uint8Array()) !== INDEX_FORMAT) throw new SchemaError('catalog index: not a bbmesh-catalog-index')
  if (getInt(d, 'version') !== CATALOG_VERSION) throw new SchemaError(`catalog index: version ${String(getInt(d, 'version'))}, this bbmesh reads ${CATALOG_VERSION}`)
  const bits = checkBits(getInt(d, 'bits'), 'catalog index')
  const pieceLength = getInt(d, 'piece length')
  if (pieceLength === undefined || pieceLength < 16384 || (pieceLength & (pieceLength - 1)) !== 0) throw new SchemaError('catalog index: piece length is not a power of two >= 16 KiB')
  const list = getList(d, 'shards')
  if (list === undefined) throw new SchemaError('catalog index: missing shards')
  if (list.length > 2 ** bits) throw new SchemaError(`catalog index: ${list.length} shards for ${bits} bits`)
  const shards: IndexEntry[] = []
  let records = 0
  let total = 0
  for (const [i, e] of list.entries()) {
    if (!isDict(e)) throw new SchemaError(`catalog index: shard ${i} is not a dict`)
    const s = e as BDict
    const prefix = getInt(s, 'prefix')
    const ih = getBytes(s, 'ih')
    const ih2 = getBytes(s, 'ih2')
    const size = getInt(s, 'size')
    const count = getInt(s, 'count')
    if (prefix === undefined || prefix < 0 || prefix >= 2 ** bits) throw new SchemaError(`catalog index: shard ${i}: bad prefix`)
    if (i > 0 && prefix <= shards[i - 1].prefix) throw new SchemaError(`catalog index: shard ${i}: prefixes out of order or repeated`)
    if (ih === undefined || ih.length !== ID_BYTES || ih2 === undefined || ih2.length !== V2_BYTES) throw new SchemaError(`catalog index: shard ${i}: ih must be ${ID_BYTES} bytes and ih2 ${V2_BYTES}`)
    if (size === undefined || size <= 0 || size > LIMITS.catalogShardMax) throw new LimitError(`catalog index: shard ${i}: size ${String(size)} outside 1..${LIMITS.catalogShardMax}`)
    if (count === undefined || count <= 0 || count > LIMITS.catalogShardMaxRecords) throw new SchemaError(`catalog index: shard ${i}: bad count`)
    total += size
    records += count
    if (total + bytes.length > maxCatalog) throw new LimitError(`catalog index: the catalog is over ${maxCatalog} bytes`)
    shards.push({ prefix, ih: Buffer.from(ih), ih2: Buffer.from(ih2), size, count })
  }
  if (getInt(d, 'records') !== records) throw new SchemaError(`catalog index: records ${String(getInt(d, 'records'))}, the shards hold ${records}`)
  if (getInt(d, 'bytes') !== total) throw new SchemaError(`catalog index: bytes ${String(getInt(d, 'bytes'))}, the shards hold ${total}`)
  return { bits, pieceLength, records, bytes: total, shards }
}
