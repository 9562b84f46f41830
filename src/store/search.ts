// Keyword search over torrent names. The user's text is words, never FTS5 syntax: we cut it
// into runs of Unicode letters and digits ourselves, quote each run as an FTS5 string (a run
// holds no quote, so it cannot close the string), and AND them. Operators (AND OR NOT NEAR),
// `*`, `^`, parentheses, quotes and column filters (`name:`) are separators to us, so they
// can never reach the FTS5 parser as syntax.
//
// Order: newest stored first (rowid descending), read straight off the FTS index. FTS5 walks
// a doclist in rowid order and stops at LIMIT, so a word in 40% of the names costs about what
// a rare word does (p99 under 2 ms at 1M torrents: bench/store-search.ts). `ORDER BY rank`
// must score every match first: ~0.8 s for a common word at 1M rows. Ranking belongs to the
// asker merging answers (bb_search), which sees few rows.

import { UsageError } from '../core/errors.js'
import { LIMITS } from '../core/limits.js'
import { toHex } from '../core/infohash.js'
import { sqlite, type StoreDb } from './database.js'

export interface SearchOptions {
  /** Rows to return, 1..LIMITS.searchMaxLimit (default 50). */
  limit?: number
  /** Rows to skip, 0..SEARCH_MAX_OFFSET. */
  offset?: number
  /**
   * Let the last word match as a prefix ("ubun" finds "ubuntu"). Off by default: without a
   * prefix index, a short prefix of common words merges thousands of doclists (~50 ms at 1M).
   * Needs at least PREFIX_MIN_CHARS characters, else the word matches whole.
   */
  prefix?: boolean
}

export interface SearchHit {
  /** Hex of the v1 infohash, else of the v2 hash truncated to 20 bytes (what the DHT carries). */
  infohash: string
  /** Hex of the full 32-byte v2 infohash (v2 and hybrid). */
  ih_v2?: string
  name: string
  size: number
  files: number
  /** Unix ms. */
  discovered_at: number
}

export const DEFAULT_SEARCH_LIMIT = 50
/**
 * Deepest page: an offset makes FTS5 walk and drop that many matches. 10 000 keeps the worst
 * page near 10 ms; nobody pages further by hand, and a crawler of our index should export.
 */
export const SEARCH_MAX_OFFSET = 10_000
export const PREFIX_MIN_CHARS = 3

// A word starts with a letter, digit or private-use char (what unicode61 indexes) and may
// carry combining marks (é typed as e + U+0301 stays one word; the tokenizer strips the mark).
const WORD = /[\p{L}\p{N}\p{Co}][\p{L}\p{N}\p{M}\p{Co}]*/gu

/**
 * The words of a query, in order, repeats (ignoring case) dropped. Throws UsageError over the
 * caps. Words keep their case: FTS5 folds them with the same tokenizer as the names.
 */
export function queryWords (text: unknown): string[] {
  if (typeof text !== 'string') throw new UsageError('search: the query must be text')
  const bytes = Buffer.byteLength(text, 'utf8')
  if (bytes > LIMITS.searchMaxQueryBytes) {
    throw new UsageError(`search: query of ${bytes} bytes is longer than ${LIMITS.searchMaxQueryBytes}`)
  }
  const words: string[] = []
  const seen = new Set<string>()
  for (const m of text.matchAll(WORD)) {
    const key = m[0].toLowerCase()
    if (seen.has(key)) continue
    seen.add(key)
    words.push(m[0])
  }
  if (words.length === 0) throw new UsageError('search: the query has no words (letters or digits) to look for')
  if (words.length > LIMITS.searchMaxTerms) {
    throw new UsageError(`search: ${words.length} words, at most ${LIMITS.searchMaxTerms}`)
  }
  return words
}

/** The FTS5 MATCH expression for a query: each word an FTS5 string, ANDed. */
export function matchExpression (text: unknown, opts: { prefix?: boolean } = {}): string {
  const words = queryWords(text)
  return words.map((w, i) => {
    const last = i === words.length - 1
    return last && opts.prefix === true && [...w].length >= PREFIX_MIN_CHARS ? `"${w}"*` : `"${w}"`
  }).join(' AND ')
}

interface HitRow {
  ih_v1: Buffer | null
  ih_v2: Buffer | null
  name: string
  total_size: number
  file_count: number
  discovered_at: number
}

// The ORDER BY on the FTS rowid is consumed by FTS5 itself (plan: SCAN torrents_fts VIRTUAL
// TABLE INDEX ...:D, no temp b-tree), then each hit is one primary-key lookup in torrents.
const SEARCH_SQL = `
  SELECT t.ih_v1, t.ih_v2, t.name, t.total_size, t.file_count, t.discovered_at
  FROM torrents_fts JOIN torrents AS t ON t.id = torrents_fts.rowid
  WHERE torrents_fts MATCH @q
  ORDER BY torrents_fts.rowid DESC
  LIMIT @limit OFFSET @offset`

export class Search {
  readonly #db: StoreDb

  constructor (db: StoreDb) {
    this.#db = db
  }

  /** Torrents whose name holds every word of text, newest first. Bad input is a UsageError. */
  search (text: string, opts: SearchOptions = {}): SearchHit[] {
    const limit = opts.limit ?? DEFAULT_SEARCH_LIMIT
    const offset = opts.offset ?? 0
    if (!Number.isSafeInteger(limit) || limit < 1 || limit > LIMITS.searchMaxLimit) {
      throw new UsageError(`search: limit must be an integer from 1 to ${LIMITS.searchMaxLimit}`)
    }
    if (!Number.isSafeInteger(offset) || offset < 0 || offset > SEARCH_MAX_OFFSET) {
      throw new UsageError(`search: offset must be an integer from 0 to ${SEARCH_MAX_OFFSET}`)
    }
    const q = matchExpression(text, opts)
    const rows = sqlite('searching', () => this.#db.prepare(SEARCH_SQL).all({ q, limit, offset })) as HitRow[]
    return rows.map(toHit)
  }
}

function toHit (r: HitRow): SearchHit {
  const ih = r.ih_v1 ?? (r.ih_v2 as Buffer).subarray(0, 20)
  const hit: SearchHit = {
    infohash: toHex(ih),
    name: r.name,
    size: r.total_size,
    files: r.file_count,
    discovered_at: r.discovered_at,
  }
  if (r.ih_v2 !== null) hit.ih_v2 = toHex(r.ih_v2)
  return hit
}
