// Checking a SearchRequest (from the CLI, the HTTP API or a member) before any work, and the
// text forms of its fields that people type: sizes (`1.5GB`), dates or ages (`2024-05-01`,
// `7d`), orders, extensions. Pure; every bad value is a UsageError naming the field.

import { UsageError } from '../core/errors.js'
import { LIMITS } from '../core/limits.js'
import { parseQuery, type ParsedQuery } from './query.js'
import type { SearchFilters, SearchOrder, SearchRequest } from './types.js'

export const DEFAULT_SEARCH_LIMIT = 50
export const SEARCH_ORDERS: readonly SearchOrder[] = ['relevance', 'newest', 'size']
/** Longest extension indexed and accepted as a filter ("torrent" is 7; longer is not an extension). */
export const EXT_MAX_CHARS = 16
const EXT = /^[\p{L}\p{N}]+$/u

/** A checked request: the query parsed, filters validated (ext lower-cased, no dot). */
export interface CheckedRequest {
  query: ParsedQuery
  filters: SearchFilters
  order: SearchOrder
  limit: number
  cursor?: string
}

/**
 * The extension of a file path as the store indexes it: after the last '.' of the last path
 * component, 1..EXT_MAX_CHARS letters or digits, lower-cased; null when there is none
 * ("README", ".hidden", "a.", "x.tar-gz").
 */
export function extOf (path: string): string | null {
  const base = path.slice(path.lastIndexOf('/') + 1)
  const dot = base.lastIndexOf('.')
  if (dot <= 0 || base.length - dot - 1 > EXT_MAX_CHARS) return null
  const e = base.slice(dot + 1).toLowerCase()
  return e.length > 0 && EXT.test(e) ? e : null
}

function count (v: unknown, what: string): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw new UsageError(`search: ${what} must be a whole number ≥ 0`)
  return v
}

/** Validate filters; returns a copy with only the fields that are set. */
export function checkFilters (f: unknown): SearchFilters {
  if (f === undefined || f === null) return {}
  if (typeof f !== 'object') throw new UsageError('search: filters must be an object')
  const i = f as Record<string, unknown>
  const out: SearchFilters = {}
  if (i.minSize !== undefined) out.minSize = count(i.minSize, 'minSize')
  if (i.maxSize !== undefined) out.maxSize = count(i.maxSize, 'maxSize')
  if (out.minSize !== undefined && out.maxSize !== undefined && out.minSize > out.maxSize) {
    throw new UsageError(`search: minSize ${out.minSize} is above maxSize ${out.maxSize}`)
  }
  if (i.minFiles !== undefined) out.minFiles = count(i.minFiles, 'minFiles')
  if (i.since !== undefined) out.since = count(i.since, 'since (unix ms)')
  if (i.ext !== undefined) {
    if (typeof i.ext !== 'string') throw new UsageError('search: ext must be text')
    const e = (i.ext.startsWith('.') ? i.ext.slice(1) : i.ext).toLowerCase()
    if (e.length === 0 || e.length > EXT_MAX_CHARS || !EXT.test(e)) {
      throw new UsageError(`search: ext must be 1..${EXT_MAX_CHARS} letters or digits, like "mkv"`)
    }
    out.ext = e
  }
  return out
}

/** Validate a whole request; throws UsageError on the first bad field. */
export function checkRequest (req: unknown): CheckedRequest {
  if (typeof req !== 'object' || req === null) throw new UsageError('search: the request must be an object')
  const r = req as Partial<Record<keyof SearchRequest, unknown>>
  const query = parseQuery(r.text)
  const order = r.order ?? 'relevance'
  if (typeof order !== 'string' || !(SEARCH_ORDERS as readonly string[]).includes(order)) {
    throw new UsageError(`search: order must be one of ${SEARCH_ORDERS.join(', ')}`)
  }
  const limit = r.limit ?? DEFAULT_SEARCH_LIMIT
  if (typeof limit !== 'number' || !Number.isSafeInteger(limit) || limit < 1 || limit > LIMITS.searchMaxLimit) {
    throw new UsageError(`search: limit must be an integer from 1 to ${LIMITS.searchMaxLimit}`)
  }
  if (r.cursor !== undefined && typeof r.cursor !== 'string') throw new UsageError('search: the cursor must be text')
  const out: CheckedRequest = { query, filters: checkFilters(r.filters), order: order as SearchOrder, limit }
  if (r.cursor !== undefined) out.cursor = r.cursor
  return out
}

/** Parse an order name; UsageError when unknown. */
export function parseOrder (text: string): SearchOrder {
  if (!(SEARCH_ORDERS as readonly string[]).includes(text)) throw new UsageError(`order must be one of ${SEARCH_ORDERS.join(', ')} (got ${JSON.stringify(text)})`)
  return text as SearchOrder
}

const UNITS: Record<string, number> = {
  '': 1, b: 1,
  k: 1024, kib: 1024, kb: 1e3,
  m: 1024 ** 2, mib: 1024 ** 2, mb: 1e6,
  g: 1024 ** 3, gib: 1024 ** 3, gb: 1e9,
  t: 1024 ** 4, tib: 1024 ** 4, tb: 1e12,
}

/**
 * A size typed by a person: bytes ("1048576"), or a number with a unit: KiB/MiB/GiB/TiB (and
 * K/M/G/T) are powers of 1024, KB/MB/GB/TB powers of 1000 ("1.5GB" = 1 500 000 000 bytes).
 * Case-insensitive; rounded down to whole bytes.
 */
export function parseSize (text: string): number {
  const m = /^\s*(\d+(?:\.\d+)?|\.\d+)\s*([a-z]*)\s*$/i.exec(text)
  const unit = m === null ? undefined : UNITS[m[2].toLowerCase()]
  if (m === null || unit === undefined) throw new UsageError(`not a size: ${JSON.stringify(text)} (bytes, or a number with KB/MB/GB/TB or KiB/MiB/GiB/TiB)`)
  const v = Math.floor(Number(m[1]) * unit)
  if (!Number.isSafeInteger(v)) throw new UsageError(`size ${JSON.stringify(text)} is too large`)
  return v
}

const DAY_MS = 86_400_000

/**
 * A point in time typed by a person, as unix ms: an ISO date or date-time ("2024-05-01",
 * "2024-05-01T12:00:00Z"; a date alone is midnight UTC) or an age in days ("7", "7d",
 * "1.5d") counted back from now.
 */
export function parseSince (text: string, now: number): number {
  const days = /^\s*(\d+(?:\.\d+)?)\s*d?\s*$/i.exec(text)
  if (days !== null) return Math.max(0, Math.floor(now - Number(days[1]) * DAY_MS))
  if (/^\d{4}-\d{2}-\d{2}([T ][0-9:.]+(Z|[+-]\d{2}:?\d{2})?)?$/.test(text.trim())) {
    const t = Date.parse(text.trim().length === 10 ? `${text.trim()}T00:00:00Z` : text.trim())
    if (Number.isFinite(t) && t >= 0) return t
  }
  throw new UsageError(`not a date or an age in days: ${JSON.stringify(text)} (e.g. 2024-05-01, 2024-05-01T12:00:00Z, 7d)`)
}

/**
 * The bytes of a lookup key: 40 hex digits (20 bytes: a v1 infohash, or a v2 one truncated as
 * the DHT carries it) or 64 (32 bytes: a v2 infohash or a file's pieces root); `1220` + 64
 * digits (a magnet's btmh multihash) is taken too. Either case; UsageError otherwise.
 */
export function parseLookupKey (hex: unknown): Buffer {
  if (typeof hex !== 'string') throw new UsageError('lookup: the key must be text')
  let h = hex.trim().toLowerCase()
  if (/^1220[0-9a-f]{64}$/.test(h)) h = h.slice(4)
  if (!/^(?:[0-9a-f]{40}|[0-9a-f]{64})$/.test(h)) {
    throw new UsageError('lookup: expected 40 hex digits (a v1 infohash, or a v2 one truncated) or 64 (a v2 infohash or a file\'s pieces root)')
  }
  return Buffer.from(h, 'hex')
}
