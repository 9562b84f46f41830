// bb_search wire codec (pure): a keyword query to a member and its answer from the member's
// local index. The query is data (what a user typed, parsed by the answering node the same
// way as a local search), never FTS syntax.
//
//   query   { t: "q", i: <id>, q: <text, 1..512 bytes UTF-8>, l: <limit 1..100>,
//             o?: "relevance" | "newest" | "size",
//             f?: { smin?: int, smax?: int, x?: <extension, 1..16 bytes>, nf?: int, since?: int } }
//   answer  { t: "r", i, r: [ { h: <20 bytes>, h2?: <32 bytes>, n: <name, 1..512 bytes>,
//                               s: <size>, f: <files>, d: <discovered, unix ms> }, ... ] }
//   refusal { t: "e", i, c: <code>, m: <message, up to 200 bytes> }
//           codes: 1 over the rate, 2 query refused (no words, over a cap, too costly), 3 busy
//
// Caps: a query message 2 KiB; an answer 64 KiB and 100 hits; integers in 0..2^53-1. A
// name longer than 512 bytes is cut on a UTF-8 boundary by the sender. Anything else is a
// protocol violation. Scores are not sent: the asker ranks with its own pure function.

import { encode, decodePrefix, isDict, getBytes, getInt, getDict, getList, type BDict } from '../src/core/bencode.js'
import { DecodeError, SchemaError } from '../src/core/errors.js'
import type { SearchFilters, SearchOrder } from '../src/search/types.js'

export const BB_SEARCH_MAX_QUERY_MESSAGE = 2048
export const BB_SEARCH_MAX_MESSAGE = 64 * 1024
export const BB_SEARCH_MAX_HITS = 100
export const BB_SEARCH_MAX_TEXT = 512
export const BB_SEARCH_MAX_NAME = 512
export const BB_SEARCH_MAX_EXT = 16
export const BB_SEARCH_MAX_ERROR = 200

export const SEARCH_REFUSED = { rate: 1, query: 2, busy: 3 } as const

export interface WireHit {
  /** 20 bytes: v1 infohash, else the truncated v2 one. */
  h: Buffer
  /** 32 bytes: the full v2 infohash (v2 and hybrid). */
  h2?: Buffer
  n: string
  s: number
  f: number
  d: number
}

export type SearchMessage =
  | { t: 'q', i: number, q: string, l: number, o?: SearchOrder, f?: SearchFilters }
  | { t: 'r', i: number, r: WireHit[] }
  | { t: 'e', i: number, c: number, m: string }

const ORDERS: readonly SearchOrder[] = ['relevance', 'newest', 'size']
const MAX_INT = Number.MAX_SAFE_INTEGER

function utf8 (b: Uint8Array, what: string): string {
  const s = Buffer.from(b).toString('utf8')
  // A lone or invalid sequence decodes to U+FFFD: refuse rather than pass mangled text on.
  if (!Buffer.from(s, 'utf8').equals(Buffer.from(b))) throw new SchemaError(`bb_search: ${what} is not UTF-8`)
  return s
}

function uint (d: BDict, key: string, what: string, required: boolean): number | undefined {
  const v = getInt(d, key)
  if (v === undefined) {
    if (required) throw new SchemaError(`bb_search: ${what} missing`)
    return undefined
  }
  if (!Number.isSafeInteger(v) || v < 0 || v > MAX_INT) throw new SchemaError(`bb_search: ${what} out of range`)
  return v
}

function decodeFilters (d: BDict): SearchFilters {
  const f: SearchFilters = {}
  const smin = uint(d, 'smin', 'smin', false); if (smin !== undefined) f.minSize = smin
  const smax = uint(d, 'smax', 'smax', false); if (smax !== undefined) f.maxSize = smax
  const nf = uint(d, 'nf', 'nf', false); if (nf !== undefined) f.minFiles = nf
  const since = uint(d, 'since', 'since', false); if (since !== undefined) f.since = since
  const x = getBytes(d, 'x')
  if (x !== undefined) {
    if (x.length === 0 || x.length > BB_SEARCH_MAX_EXT) throw new SchemaError('bb_search: extension must be 1..16 bytes')
    f.ext = utf8(x, 'extension')
  }
  return f
}

function decodeHit (v: unknown): WireHit {
  if (!isDict(v)) throw new SchemaError('bb_search: a hit is not a dict')
  const h = getBytes(v, 'h')
  if (h === undefined || h.length !== 20) throw new SchemaError('bb_search: hit h must be 20 bytes')
  const h2 = getBytes(v, 'h2')
  if (h2 !== undefined && h2.length !== 32) throw new SchemaError('bb_search: hit h2 must be 32 bytes')
  const n = getBytes(v, 'n')
  if (n === undefined || n.length === 0 || n.length > BB_SEARCH_MAX_NAME) throw new SchemaError('bb_search: hit name must be 1..512 bytes')
  const hit: WireHit = {
    h: Buffer.from(h),
    n: utf8(n, 'name'),
    s: uint(v, 's', 'hit size', true) as number,
    f: uint(v, 'f', 'hit files', true) as number,
    d: uint(v, 'd', 'hit time', true) as number,
  }
  if (h2 !== undefined) hit.h2 = Buffer.from(h2)
  return hit
}

export function decodeSearchMessage (payload: Uint8Array): SearchMessage {
  if (payload.length > BB_SEARCH_MAX_MESSAGE) throw new SchemaError(`bb_search: message of ${payload.length} bytes over cap`)
  let r
  try { r = decodePrefix(payload, { maxDepth: 4, maxItems: 2048 }) } catch (err) { throw new DecodeError('bb_search: not bencode', { cause: err }) }
  if (r.end !== payload.length) throw new SchemaError('bb_search: trailing bytes')
  const d = r.value
  if (!isDict(d)) throw new SchemaError('bb_search: not a dict')
  const tb = getBytes(d, 't')
  const t = tb === undefined ? '' : Buffer.from(tb).toString('latin1')
  const i = getInt(d, 'i')
  if (i === undefined || i < 0 || i > 0xffffffff) throw new SchemaError('bb_search: id missing or out of range')
  if (t === 'q') {
    if (payload.length > BB_SEARCH_MAX_QUERY_MESSAGE) throw new SchemaError('bb_search: query message over 2 KiB')
    const q = getBytes(d, 'q')
    if (q === undefined || q.length === 0 || q.length > BB_SEARCH_MAX_TEXT) throw new SchemaError('bb_search: query text must be 1..512 bytes')
    const l = uint(d, 'l', 'limit', true) as number
    if (l < 1 || l > BB_SEARCH_MAX_HITS) throw new SchemaError('bb_search: limit must be 1..100')
    const msg: SearchMessage = { t: 'q', i, q: utf8(q, 'query text'), l }
    const ob = getBytes(d, 'o')
    if (ob !== undefined) {
      const o = Buffer.from(ob).toString('latin1')
      if (!(ORDERS as readonly string[]).includes(o)) throw new SchemaError('bb_search: unknown order')
      msg.o = o as SearchOrder
    }
    const f = getDict(d, 'f')
    if (f !== undefined) msg.f = decodeFilters(f)
    return msg
  }
  if (t === 'r') {
    const list = getList(d, 'r')
    if (list === undefined) throw new SchemaError('bb_search: answer without r')
    if (list.length > BB_SEARCH_MAX_HITS) throw new SchemaError('bb_search: more than 100 hits')
    return { t: 'r', i, r: list.map(decodeHit) }
  }
  if (t === 'e') {
    const c = uint(d, 'c', 'refusal code', true) as number
    const m = getBytes(d, 'm')
    if (m !== undefined && m.length > BB_SEARCH_MAX_ERROR) throw new SchemaError('bb_search: refusal message over 200 bytes')
    return { t: 'e', i, c, m: m === undefined ? '' : Buffer.from(m).toString('utf8') }
  }
  throw new SchemaError('bb_search: unknown message type')
}

/** Cut a string to at most max UTF-8 bytes on a character boundary. */
export function cutUtf8 (s: string, max: number): string {
  const b = Buffer.from(s, 'utf8')
  if (b.length <= max) return s
  let end = max
  // Back off continuation bytes (10xxxxxx) so no character is split.
  while (end > 0 && (b[end] & 0xc0) === 0x80) end--
  return b.subarray(0, end).toString('utf8')
}

export function encodeSearchMessage (m: SearchMessage): Buffer {
  if (m.t === 'q') {
    const q = Buffer.from(m.q, 'utf8')
    if (q.length === 0 || q.length > BB_SEARCH_MAX_TEXT) throw new RangeError('bb_search: query text must be 1..512 bytes')
    if (m.l < 1 || m.l > BB_SEARCH_MAX_HITS) throw new RangeError('bb_search: limit must be 1..100')
    const out: Record<string, unknown> = { t: 'q', i: m.i, q, l: m.l }
    if (m.o !== undefined) out.o = m.o
    if (m.f !== undefined) {
      const f: Record<string, unknown> = {}
      if (m.f.minSize !== undefined) f.smin = m.f.minSize
      if (m.f.maxSize !== undefined) f.smax = m.f.maxSize
      if (m.f.minFiles !== undefined) f.nf = m.f.minFiles
      if (m.f.since !== undefined) f.since = m.f.since
      if (m.f.ext !== undefined) {
        if (Buffer.byteLength(m.f.ext) === 0 || Buffer.byteLength(m.f.ext) > BB_SEARCH_MAX_EXT) throw new RangeError('bb_search: extension must be 1..16 bytes')
        f.x = m.f.ext
      }
      out.f = f
    }
    const b = encode(out as never)
    if (b.length > BB_SEARCH_MAX_QUERY_MESSAGE) throw new RangeError('bb_search: query message over 2 KiB')
    return b
  }
  if (m.t === 'r') {
    if (m.r.length > BB_SEARCH_MAX_HITS) throw new RangeError('bb_search: at most 100 hits')
    const r = m.r.map((h) => {
      const o: Record<string, unknown> = { h: h.h, n: cutUtf8(h.n, BB_SEARCH_MAX_NAME), s: h.s, f: h.f, d: h.d }
      if (h.h2 !== undefined) o.h2 = h.h2
      return o
    })
    return encode({ t: 'r', i: m.i, r } as never)
  }
  return encode({ t: 'e', i: m.i, c: m.c, m: cutUtf8(m.m, BB_SEARCH_MAX_ERROR) } as never)
}

/** Hits that fit in one answer message (the 64 KiB cap), from the front of the list. */
export function fitHits (hits: WireHit[], i: number): WireHit[] {
  let out = hits.slice(0, BB_SEARCH_MAX_HITS)
  // Names are at most 512 bytes, so 100 hits fit in ~60 KiB; trim from the end if not.
  while (out.length > 0 && encodeSearchMessage({ t: 'r', i, r: out }).length > BB_SEARCH_MAX_MESSAGE) out = out.slice(0, out.length - 1)
  return out
}
