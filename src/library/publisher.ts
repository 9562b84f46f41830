// The publishing side of the library (docs/library.md "Publishing"): build the catalog of the
// local index, seed its torrents, announce them on the DHT and point the publisher's BEP-46
// item at the index torrent; then keep all of that alive until close(): re-announce, republish
// the pointer before it expires, and rebuild when the library changed.
//
// One CatalogPublisher per (key, salt). It owns its PieceSeeder (the TCP port the catalog is
// served on), its timers and its republisher; the DHT node and the store belong to the caller.
//
// Crash and restart: the catalog is a pure function of the library, so a restart rebuilds the
// same torrents; the last published index is kept on disk only so that the shard split (`bits`)
// stays the same across restarts (catalog.ts chooseBits), and the pointer is put with keepSame
// so an unchanged catalog keeps its seq.
//
// The build hashes every byte of the catalog (seconds per 100k torrents): given a `builder`
// (catalog-builder.ts workerCatalogBuilder: a worker thread reading the store by its path) it
// runs off the event loop and, asked with a shard directory (<stateDir>/<DHT target>/shards),
// streams the shard files to disk, which the seeder then reads on demand: the catalog is never
// held in memory. Without a builder it is built here in memory (small libraries and tests).

import { mkdirSync, readFileSync, renameSync, writeFileSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import type { DhtNode } from '../../crawler/dht-node.js'
import { AbortedError, BbmeshError, errorMessage, isExpected } from '../core/errors.js'
import { silentLogger, type Logger } from '../core/logger.js'
import { buildCatalog, recordsFromStore, type Catalog, type TorrentPager } from './catalog.js'
import { catalogSourceFilter, type CatalogBuilder } from './catalog-builder.js'
import { pruneShardFiles, type DiskCatalog } from './catalog-stream.js'
import { decodeIndex, type CatalogIndex } from './catalog-format.js'
import { PieceSeeder, seedInfohashes, type PieceSeederOptions } from './piece-seeder.js'
import { putPointer, PointerRepublisher, POINTER_REPUBLISH_MS } from './pointer-dht.js'
import { pointerTarget, saltBytes, type PointerSigner } from './pointer.js'
import type { PointerStore } from './pointer-store.js'

/** How often the publisher checks whether the library changed (and rebuilds if so). */
export const REBUILD_CHECK_MS = 10 * 60 * 1000
/**
 * The same inside a harvester (harvest --publish), whose index grows all the time: new torrents
 * land in shards at random, so each rebuild makes fetchers download most shards again; an hour
 * batches that growth (docs/library.md, "Growth").
 */
export const HARVEST_REBUILD_CHECK_MS = 60 * 60 * 1000
/** How often every catalog torrent is announced again (BEP-5 peers expire after ~30 min). */
export const ANNOUNCE_MS = 15 * 60 * 1000
/** Retry delay after a failed pointer put or announce round (no DHT node reachable yet). */
export const RETRY_MS = 30 * 1000
/** Announces in flight at once (each is a get_peers traversal then announce_peer). */
const ANNOUNCE_CONCURRENCY = 4

/** The library a publisher reads: the store's pages, and a mark that changes with it. */
export interface PublishSource extends TorrentPager {
  changeMark: () => string
}

export interface CatalogPublisherOptions {
  dht: DhtNode
  library: PublishSource
  signer: PointerSigner
  pointers: PointerStore
  /** Where the last published index is kept (e.g. <data dir>/published). */
  stateDir: string
  salt?: Uint8Array | string
  /** The seeder's address and limits (port 0: any free port). */
  seeder?: PieceSeederOptions
  /** Publish catalog records other publishers' catalogs brought in too (default false: only ours). */
  includeCatalogs?: boolean
  rebuildCheckMs?: number
  announceMs?: number
  republishMs?: number
  retryMs?: number
  /** Cap on the catalog's bytes (default LIMITS.catalogMaxBytes). */
  maxBytes?: number
  /**
   * Builds the catalog of the same library elsewhere (workerCatalogBuilder(dbPath): a worker
   * thread, streaming the shards to <stateDir>/<DHT target>/shards); default:
   * buildCatalog(recordsFromStore(library)) in memory on this thread. Aborted by close().
   */
  builder?: CatalogBuilder
  logger?: Logger
}

export interface PublishStatus {
  public_key: string
  salt_hex?: string
  dht_target: string
  /** v1 infohash of the index torrent (what the pointer holds), once built. */
  infohash?: string
  records: number
  shards: number
  bytes: number
  skipped: number
  seq?: number
  /** DHT nodes that stored the last pointer put or republish. */
  stored: number
  builds: number
  announces: number
  seeder?: { host: string, port: number }
  last_error?: string
}

export class CatalogPublisher {
  private readonly seeder: PieceSeeder
  private readonly log: Logger
  private readonly salt: Buffer | undefined
  private catalog: Catalog | DiskCatalog | null = null
  private mark = ''
  private pointerIh: Buffer | null = null
  private republisher: PointerRepublisher | null = null
  private timers: NodeJS.Timeout[] = []
  private retry: NodeJS.Timeout | null = null
  private running: Promise<void> | null = null
  private closed = false
  /** Aborted by close(): stops a build in flight. */
  private readonly abort = new AbortController()
  private readonly st: PublishStatus

  constructor (private readonly opts: CatalogPublisherOptions) {
    this.seeder = new PieceSeeder(opts.seeder)
    this.log = opts.logger ?? silentLogger
    this.salt = saltBytes(opts.salt)
    this.st = {
      public_key: opts.signer.publicKey.toString('hex'),
      ...(this.salt !== undefined ? { salt_hex: this.salt.toString('hex') } : {}),
      dht_target: pointerTarget(opts.signer.publicKey, this.salt).toString('hex'),
      records: 0, shards: 0, bytes: 0, skipped: 0, stored: 0, builds: 0, announces: 0,
    }
  }

  /** Start seeding and publish once; resolves when the catalog is built, seeded and the first pointer put was tried. */
  async start (): Promise<PublishStatus> {
    if (this.closed) throw new AbortedError('publisher is closed')
    const at = await this.seeder.start()
    this.st.seeder = at
    await this.cycle(true)
    if (this.closed) return this.status() // closed during the first build: start no timers
    const every = (ms: number, fn: () => void): void => {
      const t = setInterval(fn, ms)
      t.unref()
      this.timers.push(t)
    }
    every(this.opts.rebuildCheckMs ?? REBUILD_CHECK_MS, () => { void this.cycle(false) })
    every(this.opts.announceMs ?? ANNOUNCE_MS, () => { void this.announceAll() })
    return this.status()
  }

  status (): PublishStatus { return { ...this.st } }

  /** The seeder's counters (transfers served). */
  get seederCounters (): PieceSeeder['counters'] { return this.seeder.counters }

  /** Rebuild now if the library changed (force: even if not), then make sure the pointer is out. */
  async refresh (force = false): Promise<PublishStatus> {
    await this.cycle(force)
    return this.status()
  }

  /** One publish cycle, never two at once: rebuild if needed, seed, announce, put. Errors are logged and kept in status. */
  private async cycle (force: boolean): Promise<void> {
    if (this.running !== null) { await this.running; if (!force) return }
    const run = this.runCycle(force)
    this.running = run
    try { await run } finally { if (this.running === run) this.running = null }
  }

  private async runCycle (force: boolean): Promise<void> {
    if (this.closed) return
    try {
      const mark = this.opts.library.changeMark()
      if (force || this.catalog === null || mark !== this.mark) {
        await this.rebuild()
        if (this.closed) return
        this.mark = mark
      }
      const cat = this.catalog as Catalog | DiskCatalog
      if (this.pointerIh === null || !this.pointerIh.equals(cat.infohash)) {
        void this.announceAll()
        await this.put(cat)
      }
      delete this.st.last_error
    } catch (err) {
      if (!isExpected(err) && !(err instanceof BbmeshError)) throw err
      if (this.closed) return // the build close() aborted: nothing to report or retry
      this.st.last_error = errorMessage(err)
      this.log.warn({ err: errorMessage(err) }, 'publish failed; retrying')
      this.scheduleRetry()
    }
  }

  private scheduleRetry (): void {
    if (this.closed || this.retry !== null) return
    this.retry = setTimeout(() => { this.retry = null; void this.cycle(false) }, this.opts.retryMs ?? RETRY_MS)
    this.retry.unref()
  }

  /** Build the catalog of the library and swap what the seeder serves. */
  private async rebuild (): Promise<void> {
    const t0 = Date.now()
    const previous = this.loadPrevious()
    const includeCatalogs = this.opts.includeCatalogs === true
    const maxBytes = this.opts.maxBytes
    const cat = this.opts.builder !== undefined
      ? await this.opts.builder({ previous, includeCatalogs, ...(maxBytes !== undefined ? { maxBytes } : {}), outDir: this.shardDir, signal: this.abort.signal })
      : buildCatalog(recordsFromStore(this.opts.library, { filter: catalogSourceFilter(includeCatalogs) }), {
        ...(previous !== null ? { previous } : {}),
        ...(maxBytes !== undefined ? { maxBytes } : {}),
      })
    if (this.closed) return // closed while the worker built: the seeder is going away
    const old = this.catalog
    if (old !== null && old.infohash.equals(cat.infohash)) {
      this.log.debug({ infohash: cat.infohash.toString('hex') }, 'library changed but the catalog is the same')
      // The same shard files were written again; only leftovers of failed builds go.
      if ('dir' in cat) this.prune(cat)
      return
    }
    // Serve the new torrents before dropping the old ones: a fetcher mid-way through the old
    // catalog keeps every shard both catalogs share.
    // Every catalog torrent is one file, so its v1 piece stream is the file itself: in memory,
    // or the shard file on disk (the index always in memory: at most catalogIndexMax).
    const pieceLength = cat.index.pieceLength
    this.seeder.add({ rawInfo: cat.indexTorrent.rawInfo, pieceLength, data: cat.indexFile })
    if ('dir' in cat) for (const s of cat.shards) this.seeder.add({ rawInfo: s.rawInfo, pieceLength, path: s.path, size: s.size })
    else for (const s of cat.shards) this.seeder.add({ rawInfo: s.torrent.rawInfo, pieceLength, data: s.file })
    if (old !== null) {
      const keep = new Set(torrentInfos(cat).flatMap((raw) => seedInfohashes(raw).map((b) => b.toString('hex'))))
      for (const raw of torrentInfos(old)) this.seeder.remove(seedInfohashes(raw).filter((b) => !keep.has(b.toString('hex'))))
    }
    this.catalog = cat
    // Only now, with the old torrents no longer served, can their files go.
    if ('dir' in cat) this.prune(cat)
    this.savePrevious(cat)
    Object.assign(this.st, { infohash: cat.infohash.toString('hex'), records: cat.records, shards: cat.shards.length, bytes: cat.bytes, skipped: cat.skipped })
    this.st.builds++
    this.log.info({ infohash: cat.infohash.toString('hex'), records: cat.records, shards: cat.shards.length, bytes: cat.bytes, skipped: cat.skipped, ms: Date.now() - t0 }, 'catalog built')
  }

  /** Delete shard files the catalog being served does not list (old catalogs, unfinished builds). */
  private prune (cat: DiskCatalog): void {
    try {
      const n = pruneShardFiles(cat.dir, cat.shards)
      if (n > 0) this.log.debug({ removed: n, dir: cat.dir }, 'old shard files removed')
    } catch (err) {
      if (!(err instanceof BbmeshError)) throw err
      this.log.warn({ err: errorMessage(err), dir: cat.dir }, 'cannot remove old shard files (retried after the next build)')
    }
  }

  /** Where a disk-backed build writes the shard files: one directory per (key, salt). */
  private get shardDir (): string {
    return join(this.opts.stateDir, this.st.dht_target, 'shards')
  }

  private async put (cat: Catalog | DiskCatalog): Promise<void> {
    const put = await putPointer(this.opts.dht, this.opts.signer, cat.infohash, { store: this.opts.pointers, salt: this.salt, keepSame: true })
    if (this.closed) return // no republisher may start after close()
    this.pointerIh = cat.infohash
    this.st.seq = put.seq
    this.st.stored = put.stored
    if (this.republisher === null) {
      this.republisher = new PointerRepublisher(this.opts.dht, put.item, { intervalMs: this.opts.republishMs ?? POINTER_REPUBLISH_MS, logger: this.log })
      this.republisher.start()
    } else {
      this.republisher.update(put.item)
    }
    this.log.info({ infohash: cat.infohash.toString('hex'), seq: put.seq, stored: put.stored }, 'pointer published')
  }

  /** Announce the index, then every shard, on the DHT, a few at a time. */
  private async announceAll (): Promise<void> {
    const cat = this.catalog
    const port = this.st.seeder?.port
    if (cat === null || port === undefined || this.closed) return
    const ihs = [cat.infohash, ...cat.index.shards.map((s) => s.ih)]
    let failed = 0
    let next = 0
    const worker = async (): Promise<void> => {
      while (next < ihs.length && !this.closed) {
        const ih = ihs[next++]
        try { await this.opts.dht.announce(ih, port) } catch (err) { if (!isExpected(err)) throw err; failed++ }
      }
    }
    await Promise.all(Array.from({ length: Math.min(ANNOUNCE_CONCURRENCY, ihs.length) }, worker))
    this.st.announces++
    if (failed > 0) this.log.warn({ failed, of: ihs.length }, 'some catalog announces failed')
  }

  private get previousPath (): string {
    return join(this.opts.stateDir, `${this.st.dht_target}.index`)
  }

  private loadPrevious (): CatalogIndex | null {
    try {
      return decodeIndex(readFileSync(this.previousPath))
    } catch {
      // Missing or unreadable: only the shard split may change (bits chosen afresh).
      return null
    }
  }

  private savePrevious (cat: Catalog | DiskCatalog): void {
    const tmp = `${this.previousPath}.tmp`
    try {
      mkdirSync(this.opts.stateDir, { recursive: true, mode: 0o700 })
      writeFileSync(tmp, cat.indexFile, { mode: 0o600 })
      renameSync(tmp, this.previousPath)
    } catch (err) {
      rmSync(tmp, { force: true })
      this.log.warn({ err: errorMessage(err), path: this.previousPath }, 'cannot save the published index (the next start may split the catalog afresh)')
    }
  }

  async close (): Promise<void> {
    if (this.closed) return
    this.closed = true
    this.abort.abort(new AbortedError('publisher closed'))
    for (const t of this.timers) clearInterval(t)
    if (this.retry !== null) clearTimeout(this.retry)
    await this.republisher?.stop()
    await this.running?.catch(() => {})
    await this.seeder.close()
  }
}

/** The info dicts of a catalog's torrents: the index, then every shard. */
function torrentInfos (cat: Catalog | DiskCatalog): Buffer[] {
  return [cat.indexTorrent.rawInfo, ...('dir' in cat ? cat.shards.map((s) => s.rawInfo) : cat.shards.map((s) => s.torrent.rawInfo))]
}
