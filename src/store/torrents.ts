// Torrents with metadata: batch insert (idempotent), lookups by any of a torrent's
// infohashes, and the full record back. A hybrid torrent is one row holding both hashes,
// so a lookup by its v1 hash and by its truncated v2 hash find the same row.
//
// Records must arrive hash-checked (the fetcher and the importers verify the info dict
// against the infohash it was fetched for); this module checks shapes, not hashes, so an
// import runs at the speed of the database.

import { StoreError } from '../core/errors.js'
import { ID_BYTES } from '../core/infohash.js'
import { LIMITS } from '../core/limits.js'
import type { TorrentFile, TorrentInfo, TorrentRecord, TorrentVersion } from '../torrent/types.js'
import { asBuffer, sqlite, type StoreDb } from './database.js'
import type { Counters, CounterDeltas } from './counters.js'
import { QueueState } from './fetch-queue.js'
import { extOf } from '../search/request.js'

export interface AddResult {
  inserted: number
  duplicates: number
}

/** A stored torrent: the record it was added as, plus its row id. */
export interface StoredTorrent extends TorrentRecord {
  id: number
}

const V2_BYTES = 32
/** `source` is a short tag ('sample', 'import', 'catalog:<key>'), never free text. */
export const SOURCE_MAX_CHARS = 128

const VERSION_CODE: Record<TorrentVersion, number> = { v1: 1, v2: 2, hybrid: 3 }
const VERSION_NAME: Record<number, TorrentVersion> = { 1: 'v1', 2: 'v2', 3: 'hybrid' }

interface TorrentRow {
  id: number
  ih_v1: Buffer | null
  ih_v2: Buffer | null
  name: string
  total_size: number
  file_count: number
  piece_length: number
  version: number
  private: number
  raw_info: Buffer
  source: string
  discovered_at: number
}

interface FileRow {
  path: string
  size: number
  pieces_root: Buffer | null
}

const INSERT_TORRENT = `
  INSERT INTO torrents (ih_v1, ih_v2, name, total_size, file_count, piece_length, version, private, raw_info, source, discovered_at)
  VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
  ON CONFLICT DO NOTHING`
// ON CONFLICT DO NOTHING, not INSERT OR IGNORE: only a uniqueness conflict (a known
// torrent) is a duplicate; a CHECK failure is a bug and must throw, not be counted.

const SELECT_COLUMNS = 'id, ih_v1, ih_v2, name, total_size, file_count, piece_length, version, private, raw_info, source, discovered_at'

export class TorrentStore {
  readonly #db: StoreDb
  readonly #counters: Counters

  constructor (db: StoreDb, counters: Counters) {
    this.#db = db
    this.#counters = counters
  }

  /**
   * Insert a batch in one transaction. A torrent already stored (by either of its hashes)
   * is counted as a duplicate and left as it is. Every record is checked before the
   * transaction starts, so a bad record rejects the batch with nothing written. Stored
   * torrents leave the fetch queue under both their 20-byte hashes: a hybrid queued under
   * its v1 and its v2 hash is fetched once.
   */
  addTorrents (records: readonly TorrentRecord[]): AddResult {
    records.forEach((r, i) => checkRecord(r, i))
    if (records.length === 0) return { inserted: 0, duplicates: 0 }
    const insT = this.#db.prepare(INSERT_TORRENT)
    const insF = this.#db.prepare('INSERT INTO files (torrent_id, idx, path, size, pieces_root) VALUES (?, ?, ?, ?, ?)')
    const insE = this.#db.prepare('INSERT INTO torrent_exts (ext, torrent_id) VALUES (?, ?) ON CONFLICT DO NOTHING')
    // Two per-batch statements instead of per-row calls: the rows inserted by this batch are
    // exactly those with id >= the first id it got (one writer, and it holds the write lock),
    // so SQLite indexes their names and clears their hashes from the queue in one pass each,
    // without a round trip from JavaScript per row.
    const insFts = this.#db.prepare('INSERT INTO torrents_fts (rowid, name) SELECT id, name FROM torrents WHERE id >= ?')
    const dropQueued = this.#db.prepare(`
      DELETE FROM fetch_queue WHERE ih IN (
        SELECT ih_v1 FROM torrents WHERE id >= @first AND ih_v1 IS NOT NULL
        UNION ALL SELECT ih_v2_20 FROM torrents WHERE id >= @first AND ih_v2_20 IS NOT NULL)
      RETURNING state`).pluck()
    return this.#db.write('adding torrents', () => {
      let inserted = 0
      let first = -1
      const deltas: CounterDeltas = { torrents_v1: 0, torrents_v2: 0, torrents_hybrid: 0 }
      for (const r of records) {
        const info = r.info
        // Positional binding: named parameters cost a lookup per value per row.
        const res = insT.run(
          info.infohashV1 === undefined ? null : asBuffer(info.infohashV1),
          info.infohashV2 === undefined ? null : asBuffer(info.infohashV2),
          info.name, info.totalSize, info.files.length, info.pieceLength, VERSION_CODE[info.version],
          info.private ? 1 : 0, asBuffer(r.rawInfo), r.source, Math.floor(r.discoveredAt))
        if (res.changes === 0) continue
        const id = Number(res.lastInsertRowid)
        if (first < 0) first = id
        let ext: string | null = null
        let exts: Set<string> | null = null
        for (let i = 0; i < info.files.length; i++) {
          const f = info.files[i]
          insF.run(id, i, f.path, f.size, f.piecesRoot === undefined ? null : asBuffer(f.piecesRoot))
          // The distinct extensions of the torrent's files, for the search filter.
          const e = extOf(f.path)
          if (e === null || e === ext) continue
          if (ext === null) ext = e
          else (exts ??= new Set([ext])).add(e)
        }
        if (exts !== null) for (const e of exts) insE.run(e, id)
        else if (ext !== null) insE.run(ext, id)
        inserted++
        if (info.version === 'v1') deltas.torrents_v1!++
        else if (info.version === 'v2') deltas.torrents_v2!++
        else deltas.torrents_hybrid!++
      }
      if (first >= 0) {
        insFts.run(first)
        for (const state of dropQueued.all({ first }) as number[]) {
          if (state === QueueState.Failed) deltas.queue_failed = (deltas.queue_failed ?? 0) - 1
          else deltas.queue_active = (deltas.queue_active ?? 0) - 1
        }
      }
      this.#counters.add(deltas)
      return { inserted, duplicates: records.length - inserted }
    })
  }

  /** True when we hold metadata for this 20-byte infohash, as a v1 hash or a truncated v2 hash. */
  hasTorrent (ih20: Uint8Array): boolean {
    checkIh20(ih20, 'hasTorrent')
    const st = this.#db.prepare(
      'SELECT EXISTS (SELECT 1 FROM torrents WHERE ih_v1 = @ih) OR EXISTS (SELECT 1 FROM torrents WHERE ih_v2_20 = @ih)')
    return sqlite('looking up a torrent', () => st.pluck().get({ ih: asBuffer(ih20) }) === 1)
  }

  /**
   * The stored torrent for an infohash: 20 bytes (v1, or v2 truncated as the DHT carries it)
   * or the full 32-byte v2 hash. Null when unknown.
   */
  getTorrent (ih: Uint8Array): StoredTorrent | null {
    if (!(ih instanceof Uint8Array) || (ih.length !== ID_BYTES && ih.length !== V2_BYTES)) {
      throw new StoreError(`getTorrent: an infohash is ${ID_BYTES} or ${V2_BYTES} bytes`)
    }
    return this.#db.read('reading a torrent', () => {
      let row: TorrentRow | undefined
      if (ih.length === V2_BYTES) {
        row = this.#db.prepare(`SELECT ${SELECT_COLUMNS} FROM torrents WHERE ih_v2_20 = ? AND ih_v2 = ?`)
          .get(asBuffer(ih).subarray(0, ID_BYTES), asBuffer(ih)) as TorrentRow | undefined
      } else {
        const b = asBuffer(ih)
        row = (this.#db.prepare(`SELECT ${SELECT_COLUMNS} FROM torrents WHERE ih_v1 = ?`).get(b) ??
          this.#db.prepare(`SELECT ${SELECT_COLUMNS} FROM torrents WHERE ih_v2_20 = ?`).get(b)) as TorrentRow | undefined
      }
      if (row === undefined) return null
      const files = this.#db.prepare('SELECT path, size, pieces_root FROM files WHERE torrent_id = ? ORDER BY idx')
        .all(row.id) as FileRow[]
      return rowToRecord(row, files)
    })
  }

  /**
   * A cheap mark that changes whenever torrents are added or removed: the count (counters) and
   * the highest row id (the primary key's last entry). A publisher compares marks to decide
   * whether the library changed since its last catalog, without reading the rows.
   */
  changeMark (): string {
    const max = this.#db.read('reading the last torrent id', () => (this.#db.prepare('SELECT max(id) AS m FROM torrents').get() as { m: number | null }).m)
    return `${this.count()}:${max ?? 0}`
  }

  /** Torrents stored, all versions (from the counters: no scan). */
  count (): number {
    const c = this.#counters.get()
    return c.torrents_v1 + c.torrents_v2 + c.torrents_hybrid
  }

  /**
   * Rows with id > afterId in id order, files included: the export's pages. Paging by id
   * keeps each read short, so a long export never holds a snapshot (and the WAL) open.
   */
  /**
   * The 20-byte keys (v1, truncated v2) of up to `limit` torrents after `afterId`, leaving out
   * imported and catalog records (those are not gossiped between members), without reading
   * the info dicts. `lastId` is where the next page starts (null at the end).
   */
  pageSharedKeys (afterId: number, limit: number): { keys: Buffer[], lastId: number | null } {
    return this.#db.read('reading torrent keys', () => {
      const rows = this.#db.prepare(`SELECT id, ih_v1, ih_v2_20, source FROM torrents WHERE id > CAST(? AS INTEGER) ORDER BY id LIMIT CAST(? AS INTEGER)`)
        .all(afterId, limit) as Array<{ id: number, ih_v1: Buffer | null, ih_v2_20: Buffer | null, source: string }>
      const keys: Buffer[] = []
      for (const r of rows) {
        if (r.source === 'import' || r.source.startsWith('catalog')) continue
        if (r.ih_v1 !== null) keys.push(r.ih_v1)
        if (r.ih_v2_20 !== null) keys.push(r.ih_v2_20)
      }
      return { keys, lastId: rows.length === 0 ? null : rows[rows.length - 1].id }
    })
  }

  /**
   * The torrents whose 20-byte DHT key (ih_v1, else ih_v2_20: catalog-format.ts dhtKey) lies in
   * [lo, hi), hi null meaning no upper bound, files included, at most `limit` rows (in no
   * particular order). Two range scans on the unique hash indexes, no table scan: a catalog
   * builder reads one shard's prefix at a time with it. `excludeCatalogs` leaves out records
   * imported from catalogs (source `catalog*`), as a publisher does by default.
   */
  keyRange (lo: Uint8Array, hi: Uint8Array | null, opts: { limit?: number, excludeCatalogs?: boolean } = {}): StoredTorrent[] {
    checkIh20(lo, 'keyRange')
    if (hi !== null) checkIh20(hi, 'keyRange')
    const limit = opts.limit ?? -1 // SQLite: a negative LIMIT is no limit
    const filter = opts.excludeCatalogs === true ? ` AND substr(source, 1, 7) <> 'catalog'` : ''
    const upper = (col: string): string => hi === null ? '' : ` AND ${col} < @hi`
    const params = hi === null ? { lo: asBuffer(lo), limit } : { lo: asBuffer(lo), hi: asBuffer(hi), limit }
    return this.#db.read('reading torrents by key range', () => {
      // `ih_v1 >= @lo` implies ih_v1 IS NOT NULL, so SQLite uses the partial unique indexes.
      const v1 = this.#db.prepare(`SELECT ${SELECT_COLUMNS} FROM torrents WHERE ih_v1 >= @lo${upper('ih_v1')}${filter} LIMIT CAST(@limit AS INTEGER)`)
        .all(params) as TorrentRow[]
      const room = limit < 0 ? -1 : limit - v1.length
      const v2 = room === 0
        ? []
        : this.#db.prepare(`SELECT ${SELECT_COLUMNS} FROM torrents WHERE ih_v2_20 >= @lo${upper('ih_v2_20')} AND ih_v1 IS NULL${filter} LIMIT CAST(@limit AS INTEGER)`)
          .all({ ...params, limit: room }) as TorrentRow[]
      const rows = v1.concat(v2)
      if (rows.length === 0) return []
      const files = this.#db.prepare('SELECT torrent_id, path, size, pieces_root FROM files WHERE torrent_id IN (SELECT value FROM json_each(?)) ORDER BY torrent_id, idx')
        .all(JSON.stringify(rows.map((r) => r.id))) as Array<FileRow & { torrent_id: number }>
      const byId = filesById(files)
      return rows.map((r) => rowToRecord(r, byId.get(r.id) ?? []))
    })
  }

  /**
   * Rows a catalog of this store would list before any hash check: all of them (from the
   * counters), or without `catalog*` sources (one scan).
   */
  countForCatalog (includeCatalogs: boolean): number {
    if (includeCatalogs) return this.count()
    return this.#db.read('counting torrents', () => this.#db.prepare(`SELECT count(*) FROM torrents WHERE substr(source, 1, 7) <> 'catalog'`).pluck().get() as number)
  }

  page (afterId: number, limit: number): StoredTorrent[] {
    return this.#db.read('reading torrents', () => {
      const rows = this.#db.prepare(`SELECT ${SELECT_COLUMNS} FROM torrents WHERE id > ? ORDER BY id LIMIT ?`)
        .all(afterId, limit) as TorrentRow[]
      if (rows.length === 0) return []
      const files = this.#db.prepare('SELECT torrent_id, path, size, pieces_root FROM files WHERE torrent_id BETWEEN ? AND ? ORDER BY torrent_id, idx')
        .all(rows[0].id, rows[rows.length - 1].id) as Array<FileRow & { torrent_id: number }>
      const byId = filesById(files)
      return rows.map((r) => rowToRecord(r, byId.get(r.id) ?? []))
    })
  }
}

/** Files read for several torrents at once, by torrent id (in the order read). */
function filesById (files: Array<FileRow & { torrent_id: number }>): Map<number, FileRow[]> {
  const byId = new Map<number, FileRow[]>()
  for (const f of files) {
    let l = byId.get(f.torrent_id)
    if (l === undefined) byId.set(f.torrent_id, l = [])
    l.push(f)
  }
  return byId
}

function rowToRecord (row: TorrentRow, files: FileRow[]): StoredTorrent {
  const info: TorrentInfo = {
    name: row.name,
    totalSize: row.total_size,
    files: files.map((f): TorrentFile => f.pieces_root === null
      ? { path: f.path, size: f.size }
      : { path: f.path, size: f.size, piecesRoot: f.pieces_root }),
    pieceLength: row.piece_length,
    version: VERSION_NAME[row.version],
    private: row.private === 1,
  }
  if (row.ih_v1 !== null) info.infohashV1 = row.ih_v1
  if (row.ih_v2 !== null) info.infohashV2 = row.ih_v2
  return { id: row.id, info, rawInfo: row.raw_info, source: row.source, discoveredAt: row.discovered_at }
}

export function checkIh20 (ih: unknown, where: string): asserts ih is Uint8Array {
  if (!(ih instanceof Uint8Array) || ih.length !== ID_BYTES) {
    throw new StoreError(`${where}: an infohash must be ${ID_BYTES} bytes`)
  }
}

/** Shape checks of one record, naming the record and the field that is wrong. */
function checkRecord (r: TorrentRecord, i: number): void {
  const bad = (what: string): never => { throw new StoreError(`addTorrents: record ${i}: ${what}`) }
  if (typeof r !== 'object' || r === null || typeof r.info !== 'object' || r.info === null) bad('not a torrent record')
  const info = r.info
  const v1 = info.infohashV1
  const v2 = info.infohashV2
  if (v1 !== undefined && (!(v1 instanceof Uint8Array) || v1.length !== ID_BYTES)) bad(`infohashV1 must be ${ID_BYTES} bytes`)
  if (v2 !== undefined && (!(v2 instanceof Uint8Array) || v2.length !== V2_BYTES)) bad(`infohashV2 must be ${V2_BYTES} bytes`)
  const want = { v1: [true, false], v2: [false, true], hybrid: [true, true] }[info.version]
  if (want === undefined) bad(`unknown version ${String(info.version)}`)
  if ((v1 !== undefined) !== want[0] || (v2 !== undefined) !== want[1]) bad(`a ${info.version} torrent must have ${info.version === 'v1' ? 'only a v1' : info.version === 'v2' ? 'only a v2' : 'both a v1 and a v2'} infohash`)
  if (typeof info.name !== 'string') bad('name is not a string')
  if (!isCount(info.totalSize)) bad('totalSize is not a non-negative integer')
  if (!Number.isSafeInteger(info.pieceLength) || info.pieceLength <= 0) bad('pieceLength is not a positive integer')
  if (!Array.isArray(info.files)) bad('files is not an array')
  if (info.files.length > LIMITS.torrentMaxFiles) bad(`${info.files.length} files, cap ${LIMITS.torrentMaxFiles}`)
  for (const f of info.files) {
    if (typeof f?.path !== 'string' || !isCount(f.size)) bad('a file needs a string path and a non-negative integer size')
    if (f.piecesRoot !== undefined && (!(f.piecesRoot instanceof Uint8Array) || f.piecesRoot.length !== 32)) bad('a pieces root must be 32 bytes')
  }
  if (!(r.rawInfo instanceof Uint8Array) || r.rawInfo.length === 0) bad('rawInfo is empty')
  if (typeof r.source !== 'string' || r.source.length === 0 || r.source.length > SOURCE_MAX_CHARS) bad(`source must be 1..${SOURCE_MAX_CHARS} characters`)
  if (!Number.isFinite(r.discoveredAt)) bad('discoveredAt is not a time')
}

function isCount (n: unknown): boolean {
  return Number.isSafeInteger(n) && (n as number) >= 0
}
