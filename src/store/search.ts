// Search of the local index: a SearchRequest (words, filters, order, cursor) becomes a
// SearchPage, and a hex key becomes the torrents it names (lookup). The user's text is parsed
// by src/search/query.ts and only ever reaches FTS5 as quoted strings; hits are scored by the
// pure src/search/rank.ts, the same function on every node.
//
// Every page does bounded work, whatever the index size (docs/store.md, "Search"), but for
// one class: an AND or phrase of common words that never occur together, which FTS5 can only
// rule out by checking every name that holds them.
//
// - newest: FTS5 walks the doclists in rowid order from the cursor down and stops at the
//   limit, so a word in 40% of the names costs what a rare word does. With filters, a page
//   looks at no more than FILTER_SCAN matches: it ends early (fewer hits, a `next` cursor)
//   when the filters keep few of them, instead of reading every match.
// - relevance and size: both need every match before the first hit, which for a common word
//   is most of the index (`ORDER BY rank` in FTS5 takes ~0.8 s at 1M rows). They rank the
//   newest RELEVANCE_CANDIDATES matches (passing the filters, among the newest FILTER_SCAN
//   matches when filtered); the order is exact whenever there are fewer matches than that,
//   and the page says `capped` otherwise.
//
// Cursors are opaque to callers: base64url of a small JSON array, bound to the query, filters
// and order by a check value, so a cursor edited or used with another query is a UsageError.

import { createHash } from 'node:crypto'
import { UsageError } from '../core/errors.js'
import { LIMITS } from '../core/limits.js'
import { toHex } from '../core/infohash.js'
import { sqlite, type StoreDb } from './database.js'
import { canonicalQuery, matchExpression, parseQuery, type ParsedQuery } from '../search/query.js'
import { relevance } from '../search/rank.js'
import { checkRequest, parseLookupKey, DEFAULT_SEARCH_LIMIT, type CheckedRequest } from '../search/request.js'
import type { SearchFilters, SearchHit, SearchOrder, SearchPage, SearchRequest } from '../search/types.js'

export type { SearchHit } from '../search/types.js'

/** Options of the older `search(text, opts)`: newest first, offset paging. */
export interface SearchOptions {
  /** Rows to return, 1..LIMITS.searchMaxLimit (default 50). */
  limit?: number
  /** Rows to skip, 0..SEARCH_MAX_OFFSET. */
  offset?: number
  /** Let the last word match as a prefix (3+ characters), like typing `word*`. */
  prefix?: boolean
}

export { DEFAULT_SEARCH_LIMIT } from '../search/request.js'
/** Deepest page of the offset API: an offset makes FTS5 walk and drop that many matches. */
export const SEARCH_MAX_OFFSET = 10_000
/**
 * Matches that relevance and size order rank (the newest ones). Each costs a row read and a
 * score: at 1M rows a two-common-word relevance page took 2.4 / 3.6 ms p50 / p99 with 500
 * and 4.4 / 6.8 with 1000, which reached 8-13 ms p99 under more load on the shared 2-core
 * machine (bench/store-search.ts measures 500, 1000 and 2000; BENCHMARKS.md). A person
 * rarely reads past the first pages of a ranked list, and order 'newest' reaches every match.
 */
export const RELEVANCE_CANDIDATES = 500
/**
 * Matches one filtered page looks at, at most: each costs a seek (~2 µs when the matches are
 * spread over the index), so a filter that keeps none of them still answers in a few ms.
 */
export const FILTER_SCAN = 2000

export interface SearchTuning {
  /** RELEVANCE_CANDIDATES, for benchmarks and tests. */
  candidates?: number
  /** FILTER_SCAN, for benchmarks and tests. */
  filterScan?: number
}
/** Longest cursor accepted (ours are under 100 characters). */
const CURSOR_MAX_CHARS = 256
/** Hits of a pieces-root lookup (the same file may be in many torrents). */
const LOOKUP_MAX = LIMITS.searchMaxLimit

/** The score of a lookup hit: the torrent has that infohash, or has a file with that pieces root. */
export const LOOKUP_SCORE = Object.freeze({ infohash: 1, piecesRoot: 0.5 })

interface Row {
  id: number
  ih_v1: Buffer | null
  ih_v2: Buffer | null
  name: string
  total_size: number
  file_count: number
  discovered_at: number
}

type Cursor =
  | { o: 'newest', before: number }
  | { o: 'size', bound: number, size: number, id: number }
  | { o: 'relevance', bound: number, score: number, id: number }

const HIT_COLUMNS = 't.id, t.ih_v1, t.ih_v2, t.name, t.total_size, t.file_count, t.discovered_at'
// No row id is above this; a first page of 'newest' starts below it.
const TOP = Number.MAX_SAFE_INTEGER

// Row ids reach FTS5 as INTEGERs, always through CAST: better-sqlite3 binds a JS number as a
// REAL, and FTS5 then cannot seek on `rowid < ?` (it walks the doclist from its end: ~8 ms
// for a common word at 1M rows instead of 0.2 ms) and ignores `rowid = ?` altogether.
const INT = (p: string): string => `CAST(@${p} AS INTEGER)`

/** The WHERE conditions on torrents (`t`) of the filters that are set, and their parameters; ext is a join (walkSql). */
function filterSql (f: SearchFilters): { sql: string, params: Record<string, number | string> } {
  const parts: string[] = []
  const params: Record<string, number | string> = {}
  if (f.minSize !== undefined) { parts.push('t.total_size >= @minSize'); params.minSize = f.minSize }
  if (f.maxSize !== undefined) { parts.push('t.total_size <= @maxSize'); params.maxSize = f.maxSize }
  if (f.minFiles !== undefined) { parts.push('t.file_count >= @minFiles'); params.minFiles = f.minFiles }
  if (f.since !== undefined) { parts.push('t.discovered_at >= @since'); params.since = f.since }
  if (f.ext !== undefined) params.ext = f.ext
  return { sql: parts.map((p) => ` AND ${p}`).join(''), params }
}

function isFiltered (f: SearchFilters): boolean {
  return f.minSize !== undefined || f.maxSize !== undefined || f.minFiles !== undefined || f.since !== undefined || f.ext !== undefined
}

/**
 * The statement that walks the matches at/below @top (down to @lo when `floor`), newest
 * first, joined to what a search reads of them. CROSS JOINs fix the loop order: FTS5 outside
 * (it consumes the ORDER BY, so the walk stops at LIMIT: no temp b-tree), then the extension
 * filter (one seek in torrent_exts: a torrent without it costs nothing more), then one seek in
 * the narrow torrents_search index (never the wide rows with the info dicts).
 */
export function walkSql (columns: string, f: SearchFilters, filters: string, inclusive: boolean, floor: boolean): string {
  const ext = f.ext !== undefined
  return `SELECT ${columns} FROM torrents_fts${ext ? ' CROSS JOIN torrent_exts AS e' : ''} CROSS JOIN torrents AS t INDEXED BY torrents_search
    WHERE torrents_fts MATCH @q AND torrents_fts.rowid ${inclusive ? '<=' : '<'} ${INT('top')}${floor ? ` AND torrents_fts.rowid >= ${INT('lo')}` : ''}
      ${ext ? 'AND e.ext = @ext AND e.torrent_id = torrents_fts.rowid ' : ''}AND t.id = torrents_fts.rowid${filters}
    ORDER BY torrents_fts.rowid DESC LIMIT @n`
}

// The FILTER_SCAN-th match at/below @top, and whether one more follows it: where a filtered
// page's scan ends. Only the FTS5 doclists are read.
export const SCAN_EDGE_SQL = (inclusive: boolean): string => `SELECT rowid FROM torrents_fts
  WHERE torrents_fts MATCH @q AND rowid ${inclusive ? '<=' : '<'} ${INT('top')} ORDER BY rowid DESC LIMIT 2 OFFSET @skip`

// The offset API (search(text, opts)): newest first, as before cursors.
const OFFSET_SQL = `SELECT ${HIT_COLUMNS} FROM torrents_fts CROSS JOIN torrents AS t INDEXED BY torrents_search
  WHERE torrents_fts MATCH @q AND t.id = torrents_fts.rowid ORDER BY torrents_fts.rowid DESC LIMIT @limit OFFSET @offset`

const DETAIL_SQL = `SELECT ${HIT_COLUMNS} FROM torrents AS t INDEXED BY torrents_search WHERE t.id = ${INT('id')}`

function toHit (r: Row, score: number): SearchHit {
  const ih = r.ih_v1 ?? (r.ih_v2 as Buffer).subarray(0, 20)
  const hit: SearchHit = {
    infohash: toHex(ih),
    name: r.name,
    size: r.total_size,
    files: r.file_count,
    discovered_at: r.discovered_at,
    score,
  }
  if (r.ih_v2 !== null) hit.ih_v2 = toHex(r.ih_v2)
  return hit
}

// ---- cursors ----

const ORDER_CODE: Record<SearchOrder, string> = { newest: 'n', size: 's', relevance: 'r' }

function cursorCheck (req: CheckedRequest, fields: readonly number[]): string {
  const f = req.filters
  const key = [canonicalQuery(req.query), req.order, f.minSize, f.maxSize, f.ext, f.minFiles, f.since, ...fields].join('\u0000')
  return createHash('sha256').update(key).digest('base64url').slice(0, 10)
}

function cursorFields (c: Cursor): number[] {
  if (c.o === 'newest') return [c.before]
  if (c.o === 'size') return [c.bound, c.size, c.id]
  return [c.bound, c.score, c.id]
}

export function encodeCursor (req: CheckedRequest, c: Cursor): string {
  const fields = cursorFields(c)
  return Buffer.from(JSON.stringify([1, ORDER_CODE[c.o], cursorCheck(req, fields), ...fields])).toString('base64url')
}

function badCursor (why: string): never {
  throw new UsageError(`search: bad cursor (${why}); start again without one`)
}

export function decodeCursor (req: CheckedRequest, text: string): Cursor {
  if (text.length === 0 || text.length > CURSOR_MAX_CHARS || !/^[A-Za-z0-9_-]+$/.test(text)) badCursor('not one of ours')
  let v: unknown
  try {
    v = JSON.parse(Buffer.from(text, 'base64url').toString('utf8'))
  } catch {
    badCursor('not one of ours')
  }
  if (!Array.isArray(v) || v[0] !== 1 || typeof v[2] !== 'string') badCursor('not one of ours')
  const a = v as unknown[]
  if (a[1] !== ORDER_CODE[req.order]) badCursor(`it is for another order than ${req.order}`)
  const fields = a.slice(3)
  const id = (x: unknown): x is number => typeof x === 'number' && Number.isSafeInteger(x) && x >= 0
  if (!fields.every((x) => typeof x === 'number' && Number.isFinite(x))) badCursor('not one of ours')
  if (cursorCheck(req, fields as number[]) !== a[2]) badCursor('it was edited, or is for another query or filters')
  const [f0, f1, f2] = fields
  if (req.order === 'newest') {
    if (fields.length !== 1 || !id(f0)) badCursor('not one of ours')
    return { o: 'newest', before: f0 }
  }
  if (fields.length !== 3 || !id(f0) || !id(f2)) badCursor('not one of ours')
  if (req.order === 'size') {
    if (!id(f1)) badCursor('not one of ours')
    return { o: 'size', bound: f0, size: f1, id: f2 }
  }
  if (typeof f1 !== 'number' || f1 < 0 || f1 > 1) badCursor('not one of ours')
  return { o: 'relevance', bound: f0, score: f1, id: f2 }
}

// ---- the search ----

interface Candidate { id: number, name: string, size: number, score: number }

export class Search {
  readonly #db: StoreDb
  readonly #candidates: number
  readonly #scan: number

  constructor (db: StoreDb, tuning: SearchTuning = {}) {
    this.#db = db
    this.#candidates = Math.max(1, Math.floor(tuning.candidates ?? RELEVANCE_CANDIDATES))
    this.#scan = Math.max(1, Math.floor(tuning.filterScan ?? FILTER_SCAN))
  }

  /** One page of hits for a request (docs/store.md, "Search"). Bad input is a UsageError. */
  searchPage (req: SearchRequest): SearchPage {
    const r = checkRequest(req)
    const cursor = r.cursor === undefined ? undefined : decodeCursor(r, r.cursor)
    return this.#db.read('searching', () => r.order === 'newest'
      ? this.#newest(r, cursor?.o === 'newest' ? cursor.before : TOP)
      : this.#ranked(r, cursor as Exclude<Cursor, { o: 'newest' }> | undefined))
  }

  #newest (r: CheckedRequest, before: number): SearchPage {
    const q = matchExpression(r.query)
    const f = filterSql(r.filters)
    const filtered = isFiltered(r.filters)
    let lo = 0
    let more = false
    if (filtered) {
      // Where this page's scan ends: the FILTER_SCAN-th match below the cursor.
      const edge = this.#db.prepare(SCAN_EDGE_SQL(false)).pluck().all({ q, top: before, skip: this.#scan - 1 }) as number[]
      if (edge.length > 0) { lo = edge[0]; more = edge.length > 1 }
    }
    const rows = this.#db.prepare(walkSql(HIT_COLUMNS, r.filters, f.sql, false, filtered))
      .all({ q, top: before, n: r.limit + 1, ...(filtered ? { lo } : {}), ...f.params }) as Row[]
    let next: number | undefined
    if (rows.length > r.limit) {
      rows.length = r.limit
      next = rows[rows.length - 1].id
    } else if (more) {
      next = lo // every match in [lo, before) was looked at; the next page starts below lo
    }
    const page: SearchPage = { hits: rows.map((row) => toHit(row, relevance(r.query, row.name))) }
    if (next !== undefined) page.next = encodeCursor(r, { o: 'newest', before: next })
    return page
  }

  #ranked (r: CheckedRequest, cursor: Exclude<Cursor, { o: 'newest' }> | undefined): SearchPage {
    const q = matchExpression(r.query)
    const f = filterSql(r.filters)
    const filtered = isFiltered(r.filters)
    // Later pages rank the same candidates: the matches at or below the newest row id when
    // the first page was asked (rows stored since then are left out until a new search).
    const top = cursor?.bound ?? (this.#db.prepare('SELECT max(id) FROM torrents').pluck().get() as number | null) ?? 0
    let lo = 0
    let more = false
    if (filtered) {
      const edge = this.#db.prepare(SCAN_EDGE_SQL(true)).pluck().all({ q, top, skip: this.#scan - 1 }) as number[]
      if (edge.length > 0) { lo = edge[0]; more = edge.length > 1 }
    }
    const raw = this.#db.prepare(walkSql('t.id, t.name, t.total_size', r.filters, f.sql, true, filtered)).raw()
      .all({ q, top, n: this.#candidates + 1, ...(filtered ? { lo } : {}), ...f.params }) as Array<[number, string, number]>
    const capped = raw.length > this.#candidates || more
    if (raw.length > this.#candidates) raw.length = this.#candidates
    if (raw.length === 0) return capped ? { hits: [], capped: true } : { hits: [] }
    const bound = top
    const bySize = r.order === 'size'
    // Size order scores only the hits of the page (below); relevance needs every candidate's.
    const cands: Candidate[] = raw.map(([id, name, size]) => ({ id, name, size, score: bySize ? 0 : relevance(r.query, name) }))
    // Highest first; ties newest first. Total order: ids are unique.
    const cmp = bySize
      ? (a: Candidate, b: Candidate) => b.size - a.size || b.id - a.id
      : (a: Candidate, b: Candidate) => b.score - a.score || b.id - a.id
    cands.sort(cmp)
    let start = 0
    if (cursor !== undefined) {
      const at: Candidate = cursor.o === 'size'
        ? { id: cursor.id, name: '', size: cursor.size, score: 0 }
        : { id: cursor.id, name: '', size: 0, score: cursor.score }
      while (start < cands.length && cmp(cands[start], at) <= 0) start++
    }
    const pageCands = cands.slice(start, start + r.limit)
    const detail = this.#db.prepare(DETAIL_SQL)
    const hits = pageCands.map((c) => toHit(detail.get({ id: c.id }) as Row, bySize ? relevance(r.query, c.name) : c.score))
    const page: SearchPage = { hits }
    const last = pageCands[pageCands.length - 1]
    if (start + r.limit < cands.length && last !== undefined) {
      page.next = encodeCursor(r, bySize
        ? { o: 'size', bound, size: last.size, id: last.id }
        : { o: 'relevance', bound, score: last.score, id: last.id })
    }
    if (capped) page.capped = true
    return page
  }

  /**
   * The torrents a hex key names: 40 digits, a v1 infohash or a v2 one truncated to 20 bytes
   * (as the DHT carries it); 64 digits, a v2 infohash or the pieces root of a file (BEP-52)
   * in any torrent (`1220` + 64 digits, a magnet's btmh multihash, is taken too). Infohash
   * hits first (score 1), then torrents holding the file (score 0.5), newest first.
   */
  lookup (hex: string): SearchHit[] {
    const key = parseLookupKey(hex)
    const cols = 'id, ih_v1, ih_v2, name, total_size, file_count, discovered_at'
    return this.#db.read('looking up', () => {
      const out: SearchHit[] = []
      const seen = new Set<number>()
      const push = (rows: Row[], score: number): void => {
        for (const row of rows) {
          if (seen.has(row.id)) continue
          seen.add(row.id)
          out.push(toHit(row, score))
        }
      }
      if (key.length === 20) {
        push(this.#db.prepare(`SELECT ${cols} FROM torrents WHERE ih_v1 = ?`).all(key) as Row[], LOOKUP_SCORE.infohash)
        push(this.#db.prepare(`SELECT ${cols} FROM torrents WHERE ih_v2_20 = ?`).all(key) as Row[], LOOKUP_SCORE.infohash)
      } else {
        push(this.#db.prepare(`SELECT ${cols} FROM torrents WHERE ih_v2_20 = ? AND ih_v2 = ?`).all(key.subarray(0, 20), key) as Row[], LOOKUP_SCORE.infohash)
        const ids = this.#db.prepare('SELECT DISTINCT torrent_id FROM files WHERE pieces_root = ? ORDER BY torrent_id DESC LIMIT ?')
          .pluck().all(key, LOOKUP_MAX) as number[]
        const one = this.#db.prepare(`SELECT ${cols} FROM torrents WHERE id = ?`)
        push(ids.map((id) => one.get(id) as Row), LOOKUP_SCORE.piecesRoot)
      }
      return out
    })
  }

  /**
   * The older API: torrents whose name matches text, newest first, with offset paging (the
   * harvester's and the demo's callers). Same query language as searchPage; no filters.
   */
  search (text: string, opts: SearchOptions = {}): SearchHit[] {
    const limit = opts.limit ?? DEFAULT_SEARCH_LIMIT
    const offset = opts.offset ?? 0
    if (!Number.isSafeInteger(limit) || limit < 1 || limit > LIMITS.searchMaxLimit) {
      throw new UsageError(`search: limit must be an integer from 1 to ${LIMITS.searchMaxLimit}`)
    }
    if (!Number.isSafeInteger(offset) || offset < 0 || offset > SEARCH_MAX_OFFSET) {
      throw new UsageError(`search: offset must be an integer from 0 to ${SEARCH_MAX_OFFSET}`)
    }
    const parsed: ParsedQuery = parseQuery(text, { prefixLast: opts.prefix === true })
    const rows = sqlite('searching', () => this.#db.prepare(OFFSET_SQL).all({ q: matchExpression(parsed), limit, offset })) as Row[]
    return rows.map((row) => toHit(row, relevance(parsed, row.name)))
  }
}
