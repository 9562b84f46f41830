// The store: one SQLite database (WAL, FTS5) holding the torrents we have metadata for, the
// infohashes we have seen, and the persistent fetch queue. openStore() is the one way in;
// the harvester opens it read-write (the one writer), tools open it read-only beside it.
// Schema and design: docs/store.md.

import type { Writable } from 'node:stream'
import type { Logger } from '../core/logger.js'
import { silentLogger } from '../core/logger.js'
import type { TorrentRecord } from '../torrent/types.js'
import { open, type OpenOptions, type StoreDb } from './database.js'
import { Counters } from './counters.js'
import { FetchQueue, type QueueOptions } from './fetch-queue.js'
import { TorrentStore, type AddResult, type StoredTorrent } from './torrents.js'
import { SeenLog, type NoteSeenResult } from './seen.js'
import { Search, type SearchOptions, type SearchTuning } from './search.js'
import type { SearchHit, SearchPage, SearchRequest } from '../search/types.js'
import { Samples } from './samples.js'
import { readStats, type StoreStats } from './stats.js'
import { exportJsonl, importJsonl, type ImportOptions, type ImportResult } from './jsonl.js'

export interface StoreOptions extends OpenOptions {
  queue?: Partial<QueueOptions>
  /** Search bounds (candidates ranked, matches a filtered page scans); defaults in src/store/search.ts. */
  search?: SearchTuning
  logger?: Logger
}

export class Store {
  readonly db: StoreDb
  readonly counters: Counters
  readonly queue: FetchQueue
  readonly torrents: TorrentStore
  readonly seen: SeenLog
  readonly samples: Samples
  readonly #search: Search
  /** Leases of a previous process returned to pending when this store was opened. */
  readonly recoveredLeases: number

  constructor (db: StoreDb, opts: StoreOptions = {}) {
    this.db = db
    this.counters = new Counters(db)
    this.queue = new FetchQueue(db, this.counters, opts.queue)
    this.torrents = new TorrentStore(db, this.counters)
    this.seen = new SeenLog(db, this.counters, this.queue)
    this.samples = new Samples(db, this.counters)
    this.#search = new Search(db, opts.search)
    this.recoveredLeases = db.readonly ? 0 : this.queue.recover()
    const log = opts.logger ?? silentLogger
    if (this.recoveredLeases > 0) log.info({ path: db.path, leases: this.recoveredLeases }, 'store: returned leases of a previous run to the fetch queue')
  }

  get readonly (): boolean { return this.db.readonly }

  addTorrents (records: readonly TorrentRecord[]): AddResult { return this.torrents.addTorrents(records) }
  hasTorrent (ih20: Uint8Array): boolean { return this.torrents.hasTorrent(ih20) }
  getTorrent (ih: Uint8Array): StoredTorrent | null { return this.torrents.getTorrent(ih) }
  pageTorrents (afterId: number, limit: number): StoredTorrent[] { return this.torrents.page(afterId, limit) }
  pageSharedKeys (afterId: number, limit: number): { keys: Buffer[], lastId: number | null } { return this.torrents.pageSharedKeys(afterId, limit) }
  count (): number { return this.torrents.count() }
  /** Torrents whose DHT key is in [lo, hi) (hi null: no bound), files included (Torrents.keyRange). */
  torrentsInKeyRange (lo: Uint8Array, hi: Uint8Array | null, opts?: { limit?: number, excludeCatalogs?: boolean }): StoredTorrent[] { return this.torrents.keyRange(lo, hi, opts) }
  /** Rows a catalog would list before its hash checks, with or without `catalog*` sources. */
  countForCatalog (includeCatalogs: boolean): number { return this.torrents.countForCatalog(includeCatalogs) }
  /** Changes whenever torrents are added or removed (see Torrents.changeMark). */
  changeMark (): string { return this.torrents.changeMark() }

  noteSeen (ihs: readonly Uint8Array[], source: string, now: number): NoteSeenResult { return this.seen.noteSeen(ihs, source, now) }

  /** One page of hits for a request: words, filters, order, cursor (docs/store.md, "Search"). */
  searchPage (req: SearchRequest): SearchPage { return this.#search.searchPage(req) }
  /** The torrents a hex key names: a v1 or v2 infohash (40/64 digits) or a file's pieces root (64). */
  lookup (hex: string): SearchHit[] { return this.#search.lookup(hex) }
  /** Newest first with offset paging: the older API, kept for its callers. */
  search (text: string, opts?: SearchOptions): SearchHit[] { return this.#search.search(text, opts) }
  stats (): StoreStats { return readStats(this.db, this.counters) }
  randomInfohashes (n: number, random?: () => number): Buffer[] { return this.samples.randomInfohashes(n, random) }

  async exportJsonl (out: Writable, opts?: { signal?: AbortSignal }): Promise<{ exported: number }> { return await exportJsonl(this, out, opts) }
  async importJsonl (input: AsyncIterable<Uint8Array | string>, opts?: ImportOptions): Promise<ImportResult> { return await importJsonl(this, input, opts) }

  /** Close the database. Idempotent. */
  close (): void { this.db.close() }
}

/** Open the store at path: created and migrated for a writer, checked for a reader. */
export function openStore (path: string, opts: StoreOptions = {}): Store {
  const db = open(path, opts)
  try {
    return new Store(db, opts)
  } catch (err) {
    db.close()
    throw err
  }
}

export { StoreDb } from './database.js'
export { SCHEMA_VERSION, MIGRATIONS } from './migrations.js'
export { QUEUE_DEFAULTS, type QueueOptions, type QueueEntry, type FailOutcome } from './fetch-queue.js'
export type { AddResult, StoredTorrent } from './torrents.js'
export type { NoteSeenResult } from './seen.js'
export type { SearchOptions, SearchTuning } from './search.js'
export type { SearchHit, SearchPage, SearchRequest } from '../search/types.js'
export type { StoreStats } from './stats.js'
export type { ImportOptions, ImportResult, JsonlLine } from './jsonl.js'
