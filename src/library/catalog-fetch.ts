// The fetching side of the library (docs/library.md "Fetching"): from a publisher's public key
// to its records in the local index, over the DHT and the peer wire only.
//
//   pointer (BEP-46 get: signature, key, salt and seq checked; a lower seq than seen refused)
//   → peers of the index torrent (DHT get_peers, plus any given)
//   → its info dict (BEP-9, hash-checked) → the index file (every piece verified)
//   → diff against the index imported last time: only shards whose infohash changed
//   → per shard: info dict (must be the torrent the index names, of the size it says),
//     download (verified), decode record by record (bad records refused and counted),
//     import with source `catalog:<public key hex>`.
//
// State per (key, salt) in <data dir>/catalogs/<DHT target hex>/: `index` (the index imported
// last, whole) and `pending` (a log of the shards of an index being imported that are done), so a
// fetch stopped half-way resumes without downloading those shards again. Shards the new index
// no longer lists are counted, not deleted: records once imported stay in the index.

import { createHash } from 'node:crypto'
import { appendFileSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { DhtNode } from '../../crawler/dht-node.js'
import type { PeerAddr } from '../core/compact.js'
import { AbortedError, BbmeshError, DownloadError, HashMismatchError, LimitError, NetworkError, SchemaError, errorMessage, isExpected } from '../core/errors.js'
import { LIMITS } from '../core/limits.js'
import { silentLogger, type Logger } from '../core/logger.js'
import { parseInfo } from '../torrent/info-parse.js'
import type { TorrentRecord } from '../torrent/types.js'
import { decodeIndex, decodeShard, toTorrentRecord, type CatalogIndex, type IndexEntry } from './catalog-format.js'
import { diffCatalogs } from './catalog.js'
import { getPointer } from './pointer-dht.js'
import { pointerTarget, saltBytes } from './pointer.js'
import { btpkMagnet } from '../identity/publisher-key.js'
import type { PointerStore } from './pointer-store.js'
import type { DownloadOptions, DownloadResult } from './piece-downloader.js'

/** A piece downloader: piece-downloader.ts downloadTorrent, or a stand-in in tests. */
export type Downloader = (rawInfo: Buffer, opts: DownloadOptions) => Promise<DownloadResult>

/** What the fetch needs of a BEP-9 fetcher (crawler/metadata-fetcher.ts fetchMetadata). */
export type MetadataFetcher = (infohash: Buffer, peer: PeerAddr, opts: { timeoutMs?: number, signal?: AbortSignal, maxSize?: number }) => Promise<{ raw: Buffer }>

export interface CatalogFetchProgress {
  stage: 'pointer' | 'peers' | 'index' | 'shards' | 'done'
  shardsDone: number
  shards: number
  bytesDone: number
  bytes: number
  imported: number
}

export interface CatalogFetchOptions {
  dht: DhtNode
  store: { addTorrents: (records: readonly TorrentRecord[]) => { inserted: number, duplicates: number } }
  pointers: PointerStore
  dataDir: string
  publicKey: Buffer
  salt?: Uint8Array | string
  /** Peers to try besides those the DHT gives. */
  peers?: PeerAddr[]
  download: Downloader
  fetchMetadata: MetadataFetcher
  /** Cap on the whole catalog (default and ceiling LIMITS.catalogMaxBytes). */
  maxBytes?: number
  /** Deadline for each torrent's metadata + download (default 120 s). */
  torrentTimeoutMs?: number
  /** Shards downloaded at once (default 4). */
  concurrency?: number
  signal?: AbortSignal
  onProgress?: (p: CatalogFetchProgress) => void
  logger?: Logger
}

export interface CatalogFetchSummary {
  public_key: string
  salt_hex?: string
  seq: number
  /** The index torrent the pointer names (v1 hex). */
  infohash: string
  /** Nothing changed since the last fetch: no download at all. */
  up_to_date: boolean
  records: number
  shards: number
  shards_fetched: number
  shards_kept: number
  /** Shards of this index a previous, interrupted fetch had imported already. */
  shards_resumed: number
  /** Shards of the previous index this one no longer lists (their records are kept). */
  shards_dropped: number
  bytes_downloaded: number
  imported: number
  duplicates: number
  refused: number
  refused_by_code: Record<string, number>
  refused_examples: Array<{ shard: number, record: number, error: string }>
  pieces_failed: number
  peers_banned: number
  peers: number
  ms: number
  /** Of ms: checking every record (hashes, parse, paths) and writing them to the index, summed
   *  over the shards (the rest is the pointer, peer lookups and downloads, which overlap). */
  ms_check: number
  ms_import: number
}

const IMPORT_BATCH = 500

const PENDING_FILE = 'pending'

export async function fetchCatalog (o: CatalogFetchOptions): Promise<CatalogFetchSummary> {
  const t0 = Date.now()
  const log = o.logger ?? silentLogger
  const salt = saltBytes(o.salt)
  const maxBytes = Math.min(o.maxBytes ?? LIMITS.catalogMaxBytes, LIMITS.catalogMaxBytes)
  const timeoutMs = o.torrentTimeoutMs ?? 120_000
  const dir = join(o.dataDir, 'catalogs', pointerTarget(o.publicKey, salt).toString('hex'))
  const progress: CatalogFetchProgress = { stage: 'pointer', shardsDone: 0, shards: 0, bytesDone: 0, bytes: 0, imported: 0 }
  const tell = (): void => o.onProgress?.({ ...progress })
  const check = (): void => { if (o.signal?.aborted === true) throw new AbortedError('catalog fetch stopped') }

  tell()
  const pointer = await getPointer(o.dht, o.publicKey, { store: o.pointers, salt })
  const ihHex = pointer.ih.toString('hex')
  log.info({ seq: pointer.seq, infohash: ihHex }, 'pointer found')
  const sum: CatalogFetchSummary = {
    public_key: o.publicKey.toString('hex'), ...(salt !== undefined ? { salt_hex: salt.toString('hex') } : {}),
    seq: pointer.seq, infohash: ihHex, up_to_date: false, records: 0, shards: 0, shards_fetched: 0, shards_kept: 0,
    shards_resumed: 0, shards_dropped: 0, bytes_downloaded: 0, imported: 0, duplicates: 0, refused: 0, refused_by_code: {},
    refused_examples: [], pieces_failed: 0, peers_banned: 0, peers: 0, ms: 0, ms_check: 0, ms_import: 0,
  }

  const old = readState(dir)
  if (old !== null && old.ih === ihHex) {
    // The index we imported last is the one the pointer names: nothing to download.
    Object.assign(sum, { up_to_date: true, records: old.index.records, shards: old.index.shards.length, shards_kept: old.index.shards.length, ms: Date.now() - t0 })
    atomicWrite(dir, 'state.json', JSON.stringify({ ih: ihHex, public_key: sum.public_key, ...(sum.salt_hex !== undefined ? { salt_hex: sum.salt_hex } : {}), seq: pointer.seq, records: sum.records, shards: sum.shards, fetched_at: new Date().toISOString() }) + '\n')
    progress.stage = 'done'
    tell()
    return sum
  }

  check()
  progress.stage = 'peers'
  tell()
  const given = o.peers ?? []
  const found = await o.dht.lookupPeers(pointer.ih, { timeoutMs: 10_000, ...(o.signal !== undefined ? { signal: o.signal } : {}) })
  const peers = dedupe([...given, ...found])
  sum.peers = peers.length
  if (peers.length === 0) throw new NetworkError(`no peer seeds the catalog index ${ihHex} (the DHT gave none${given.length === 0 ? '; --peer adds one by hand' : ''})`)

  check()
  progress.stage = 'index'
  tell()
  const indexDl = await getTorrent(o, pointer.ih, null, peers, LIMITS.catalogIndexMax, timeoutMs, 'catalog index')
  sum.bytes_downloaded += indexDl.bytes
  sum.pieces_failed += indexDl.piecesFailed
  sum.peers_banned += indexDl.peersBanned
  const indexFile = indexDl.data
  const index = decodeIndex(indexFile, { maxCatalogBytes: maxBytes })
  const diff = diffCatalogs(old?.index ?? null, index)
  Object.assign(sum, { records: index.records, shards: index.shards.length, shards_kept: diff.keep.length, shards_dropped: diff.drop.length })

  // Resume: shards of this very index that an interrupted run imported already.
  const pending = readPending(dir, ihHex)
  const todo = diff.fetch.filter((e) => !pending.done.has(e.ih2.toString('hex')))
  sum.shards_resumed = diff.fetch.length - todo.length
  progress.stage = 'shards'
  progress.shards = todo.length
  progress.bytes = todo.reduce((n, e) => n + e.size, 0)
  tell()
  log.info({ records: index.records, shards: index.shards.length, fetch: todo.length, keep: diff.keep.length, resumed: sum.shards_resumed, bytes: progress.bytes }, 'catalog index read')

  const source = `catalog:${o.publicKey.toString('hex')}`
  let next = 0
  const worker = async (): Promise<void> => {
    while (next < todo.length) {
      check()
      const e = todo[next++]
      const dl = await getTorrent(o, e.ih, e, peers, e.size, timeoutMs, `catalog shard ${e.prefix}`)
      sum.bytes_downloaded += dl.bytes
      sum.pieces_failed += dl.piecesFailed
      sum.peers_banned += dl.peersBanned
      const t1 = performance.now()
      const shard = decodeShard(dl.data, { expect: { bits: index.bits, prefix: e.prefix } })
      const t2 = performance.now()
      const now = Date.now()
      for (let i = 0; i < shard.records.length; i += IMPORT_BATCH) {
        const r = o.store.addTorrents(shard.records.slice(i, i + IMPORT_BATCH).map((d) => toTorrentRecord(d, source, now)))
        sum.imported += r.inserted
        sum.duplicates += r.duplicates
      }
      sum.ms_check += Math.round(t2 - t1)
      sum.ms_import += Math.round(performance.now() - t2)
      sum.refused += shard.refused
      for (const [c, n] of Object.entries(shard.refusedByCode)) sum.refused_by_code[c] = (sum.refused_by_code[c] ?? 0) + n
      for (const er of shard.errors) if (sum.refused_examples.length < 20) sum.refused_examples.push({ shard: e.prefix, record: er.index, error: er.error.message })
      if (shard.refused > 0) log.warn({ shard: e.prefix, refused: shard.refused, first: shard.errors[0]?.error.message }, 'catalog records refused')
      pending.done.add(e.ih2.toString('hex'))
      notePending(dir, e.ih2.toString('hex'))
      sum.shards_fetched++
      progress.shardsDone++
      progress.bytesDone += e.size
      progress.imported = sum.imported
      tell()
    }
  }
  await Promise.all(Array.from({ length: Math.min(o.concurrency ?? 4, Math.max(1, todo.length)) }, worker))

  writeState(dir, ihHex, indexFile, { public_key: sum.public_key, ...(sum.salt_hex !== undefined ? { salt_hex: sum.salt_hex } : {}), seq: pointer.seq, records: index.records, shards: index.shards.length, fetched_at: new Date().toISOString() })
  rmSync(join(dir, PENDING_FILE), { force: true })
  sum.ms = Date.now() - t0
  progress.stage = 'done'
  tell()
  return sum
}

interface Got { data: Buffer, bytes: number, piecesFailed: number, peersBanned: number }

/**
 * A catalog torrent: its info dict from the first peer that gives one (hash-checked by the
 * fetcher), checked to be one file of at most `cap` bytes (and, for a shard, the torrent the
 * index names: v2 hash and size), then its bytes from all the peers, every piece verified.
 */
async function getTorrent (o: CatalogFetchOptions, ih: Buffer, entry: IndexEntry | null, peers: PeerAddr[], cap: number, timeoutMs: number, what: string): Promise<Got> {
  try {
    return await getTorrentFrom(o, ih, entry, peers, cap, timeoutMs, what)
  } catch (err) {
    // The peers of the index could not give this shard (gone, or lying): ask the DHT for
    // the shard's own peers once, and try those we have not tried.
    if (entry === null || !(err instanceof NetworkError || err instanceof DownloadError) || o.signal?.aborted === true) throw err
    const tried = new Set(peers.map((p) => `${p.host}:${p.port}`))
    const more = (await o.dht.lookupPeers(ih, { timeoutMs: 10_000, ...(o.signal !== undefined ? { signal: o.signal } : {}) })).filter((p) => !tried.has(`${p.host}:${p.port}`))
    if (more.length === 0) throw err
    o.logger?.info({ shard: entry.prefix, peers: more.length, err: errorMessage(err) }, 'catalog shard: trying the peers the DHT gives for it')
    return await getTorrentFrom(o, ih, entry, more, cap, timeoutMs, what)
  }
}

async function getTorrentFrom (o: CatalogFetchOptions, ih: Buffer, entry: IndexEntry | null, peers: PeerAddr[], cap: number, timeoutMs: number, what: string): Promise<Got> {
  const signal = o.signal
  let raw: Buffer | null = null
  const errors: string[] = []
  for (const p of peers.slice(0, 8)) {
    try {
      raw = (await o.fetchMetadata(ih, p, { timeoutMs: Math.min(timeoutMs, 15_000), maxSize: LIMITS.metadataMaxSize, ...(signal !== undefined ? { signal } : {}) })).raw
      break
    } catch (err) {
      if (!isExpected(err)) throw err
      if (signal?.aborted === true) throw new AbortedError('catalog fetch stopped')
      errors.push(`${p.host}:${p.port}: ${errorMessage(err)}`)
    }
  }
  if (raw === null) throw new NetworkError(`${what} ${ih.toString('hex')}: no peer gave its metadata (${errors.slice(0, 3).join('; ')})`)
  const info = parseInfo(raw)
  if (info.files.length !== 1) throw new SchemaError(`${what}: the torrent has ${info.files.length} files; a catalog torrent has one`)
  const size = info.files[0].size
  if (size > cap) throw new LimitError(`${what}: ${size} bytes, cap ${cap}`)
  if (size === 0) throw new SchemaError(`${what}: the torrent's file is empty`)
  if (entry !== null) {
    if (size !== entry.size) throw new SchemaError(`${what}: the torrent holds ${size} bytes, the index says ${entry.size}`)
    const ih2 = createHash('sha256').update(raw).digest()
    if (!ih2.equals(entry.ih2)) throw new HashMismatchError(`${what}: the torrent's v2 infohash is not the one the index names`)
  }
  const r = await o.download(raw, { infohash: ih, peers, maxBytes: cap, timeoutMs, ...(signal !== undefined ? { signal } : {}) })
  const data = r.files[0]?.data
  if (data === undefined || data.length !== size) throw new BbmeshError('ERR_DOWNLOAD', `${what}: the download returned no file of ${size} bytes`)
  return { data, bytes: r.bytes, piecesFailed: r.piecesFailed, peersBanned: r.peersBanned }
}

function dedupe (peers: PeerAddr[]): PeerAddr[] {
  const m = new Map<string, PeerAddr>()
  for (const p of peers) m.set(`${p.host}:${p.port}`, p)
  return [...m.values()]
}

interface State { ih: string, index: CatalogIndex }

/** The index imported last: `index` is the file; `state.json` names its torrent. Unreadable: null (a full fetch). */
function readState (dir: string): State | null {
  try {
    const st = JSON.parse(readFileSync(join(dir, 'state.json'), 'utf8')) as { ih?: unknown }
    if (typeof st.ih !== 'string' || !/^[0-9a-f]{40}$/.test(st.ih)) return null
    return { ih: st.ih, index: decodeIndex(readFileSync(join(dir, 'index'))) }
  } catch {
    return null
  }
}

function writeState (dir: string, ih: string, indexFile: Buffer, about: Omit<FetchedCatalog, 'infohash' | 'dir'>): void {
  atomicWrite(dir, 'index', indexFile)
  atomicWrite(dir, 'state.json', JSON.stringify({ ih, ...about }) + '\n')
}

/** A catalog fetched into this data directory (catalogs/<target>/state.json). */
export interface FetchedCatalog {
  public_key: string
  salt_hex?: string
  infohash: string
  seq: number
  records: number
  shards: number
  /** ISO time of the last fetch that completed. */
  fetched_at: string
  dir: string
}

/** The catalogs fetched into a data directory, by the state each fetch left (unreadable ones left out). */
export function listFetchedCatalogs (dataDir: string): FetchedCatalog[] {
  const root = join(dataDir, 'catalogs')
  let names: string[]
  try { names = readdirSync(root) } catch { return [] }
  const out: FetchedCatalog[] = []
  for (const n of names.filter((x) => /^[0-9a-f]{40}$/.test(x)).sort().slice(0, 10_000)) {
    try {
      const st = JSON.parse(readFileSync(join(root, n, 'state.json'), 'utf8')) as Record<string, unknown>
      if (typeof st.ih !== 'string' || typeof st.public_key !== 'string' || !/^[0-9a-f]{64}$/.test(st.public_key)) continue
      const salt = typeof st.salt_hex === 'string' && /^([0-9a-f]{2}){1,64}$/.test(st.salt_hex) ? st.salt_hex : undefined
      out.push({
        public_key: st.public_key, ...(salt !== undefined ? { salt_hex: salt } : {}), infohash: st.ih,
        seq: typeof st.seq === 'number' ? st.seq : 0, records: typeof st.records === 'number' ? st.records : 0,
        shards: typeof st.shards === 'number' ? st.shards : 0, fetched_at: typeof st.fetched_at === 'string' ? st.fetched_at : '', dir: join(root, n),
      })
    } catch { /* no state yet (a fetch that never completed) or a damaged file */ }
  }
  return out
}

/** Most bytes of a pending log: one 65-byte line per shard at most 2^16 shards, and the header. */
const PENDING_MAX_BYTES = (2 ** LIMITS.catalogMaxBits + 1) * 65

/**
 * The shards of index `ih` already imported, from the log an earlier run of the same index left
 * (its first line names the index; one v2 infohash a line after it). Any other or no log: a
 * new one is started. Appending a line per shard keeps each update O(1).
 */
function readPending (dir: string, ih: string): { done: Set<string> } {
  const path = join(dir, PENDING_FILE)
  try {
    if (statSync(path).size <= PENDING_MAX_BYTES) {
      const [head, ...lines] = readFileSync(path, 'latin1').split('\n')
      // A torn last line (a crash mid-append) fails the pattern and is dropped.
      if (head === ih) return { done: new Set(lines.filter((l) => /^[0-9a-f]{64}$/.test(l))) }
    }
  } catch { /* no log yet */ }
  atomicWrite(dir, PENDING_FILE, `${ih}\n`)
  return { done: new Set() }
}

function notePending (dir: string, ih2: string): void {
  appendFileSync(join(dir, PENDING_FILE), `${ih2}\n`)
}

function atomicWrite (dir: string, name: string, data: string | Buffer): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 })
  const tmp = join(dir, `${name}.tmp`)
  writeFileSync(tmp, data, { mode: 0o600 })
  renameSync(tmp, join(dir, name))
}

/** What `bbmesh catalogs --json` prints and GET /api/catalogs answers: the fetched catalogs with their magnets. */
export function catalogsReport (dataDir: string): { catalogs: Array<Omit<FetchedCatalog, 'dir'> & { magnet: string }> } {
  return {
    catalogs: listFetchedCatalogs(dataDir).map((c) => {
      const { dir: _dir, ...rest } = c
      return { ...rest, magnet: btpkMagnet(Buffer.from(c.public_key, 'hex'), c.salt_hex === undefined ? undefined : Buffer.from(c.salt_hex, 'hex')) }
    }),
  }
}
