// bb_meta wire codec (pure): BEP-9 generalised to "any info dict a member has indexed",
// keyed by infohash instead of by connection. Pieces of 16 KiB like ut_metadata, because a
// peer-wire frame is capped at 64 KiB.
//
//   request  { t: "q", i: <request id>, h: <20-byte infohash>, p: <piece> }
//   data     { t: "d", i, h, p, s: <total size> } followed by the piece bytes
//   none     { t: "n", i, h }                      (not held, or refused)
//
// Caps: s in 1..16 MiB, p < ceil(s / 16 KiB), piece bytes exactly 16 KiB (the last: the
// rest). The assembled dict is checked against h exactly like a swarm fetch (SHA-1 for v1,
// truncated SHA-256 for v2); a member that sends a dict that does not hash right is
// penalised by the caller.

import { decodePrefix, encode, isDict, getBytes, getInt } from '../src/core/bencode.js'
import { DecodeError, SchemaError } from '../src/core/errors.js'
import { LIMITS } from '../src/core/limits.js'

export const BB_META_PIECE = LIMITS.metadataPiece
export const BB_META_MAX_MESSAGE = BB_META_PIECE + 256

export type MetaMessage =
  | { t: 'q', i: number, h: Buffer, p: number }
  | { t: 'd', i: number, h: Buffer, p: number, s: number, data: Buffer }
  | { t: 'n', i: number, h: Buffer }

export function pieceCount (size: number): number { return Math.ceil(size / BB_META_PIECE) }

export function decodeMetaMessage (payload: Uint8Array): MetaMessage {
  if (payload.length > BB_META_MAX_MESSAGE) throw new SchemaError(`bb_meta: message of ${payload.length} bytes over cap`)
  let r
  try { r = decodePrefix(payload, { maxDepth: 2, maxItems: 32 }) } catch (err) { throw new DecodeError('bb_meta: not bencode', { cause: err }) }
  const d = r.value
  if (!isDict(d)) throw new SchemaError('bb_meta: not a dict')
  const tb = getBytes(d, 't')
  const t = tb === undefined ? '' : Buffer.from(tb).toString('latin1')
  const i = getInt(d, 'i')
  const h = getBytes(d, 'h')
  if (i === undefined || i < 0 || i > 0xffffffff) throw new SchemaError('bb_meta: request id missing or out of range')
  if (h === undefined || h.length !== 20) throw new SchemaError('bb_meta: h must be a 20-byte infohash')
  const trailer = payload.length - r.end
  if (t !== 'd' && trailer !== 0) throw new SchemaError('bb_meta: trailing bytes')
  if (t === 'n') return { t, i, h: Buffer.from(h) }
  const p = getInt(d, 'p')
  if (p === undefined || p < 0 || p >= pieceCount(LIMITS.metadataMaxSize)) throw new SchemaError('bb_meta: piece missing or out of range')
  if (t === 'q') return { t, i, h: Buffer.from(h), p }
  if (t === 'd') {
    const s = getInt(d, 's')
    if (s === undefined || s < 1 || s > LIMITS.metadataMaxSize) throw new SchemaError('bb_meta: size missing or out of range')
    if (p >= pieceCount(s)) throw new SchemaError(`bb_meta: piece ${p} out of range for size ${s}`)
    const expect = p === pieceCount(s) - 1 ? s - p * BB_META_PIECE : BB_META_PIECE
    if (trailer !== expect) throw new SchemaError(`bb_meta: piece ${p} has ${trailer} bytes, expected ${expect}`)
    return { t, i, h: Buffer.from(h), p, s, data: Buffer.from(payload.subarray(r.end)) }
  }
  throw new SchemaError('bb_meta: unknown message type')
}

export function encodeMetaMessage (m: MetaMessage): Buffer {
  if (m.t === 'q') return encode({ t: 'q', i: m.i, h: m.h, p: m.p })
  if (m.t === 'n') return encode({ t: 'n', i: m.i, h: m.h })
  return Buffer.concat([encode({ t: 'd', i: m.i, h: m.h, p: m.p, s: m.s }), m.data])
}

/** The data messages that answer a whole info dict. */
export function dataMessages (i: number, h: Buffer, raw: Buffer): Buffer[] {
  const out: Buffer[] = []
  for (let p = 0; p < pieceCount(raw.length); p++) {
    out.push(encodeMetaMessage({ t: 'd', i, h, p, s: raw.length, data: raw.subarray(p * BB_META_PIECE, Math.min(raw.length, (p + 1) * BB_META_PIECE)) }))
  }
  return out
}

/** Collects the pieces of one info dict; complete() returns the bytes once all are in. */
export class MetaAssembler {
  private buf: Buffer | null = null
  private got: Uint8Array | null = null
  private remaining = 0
  private size = 0

  add (m: Extract<MetaMessage, { t: 'd' }>): void {
    if (this.buf === null) {
      this.size = m.s
      this.buf = Buffer.alloc(m.s)
      this.got = new Uint8Array(pieceCount(m.s))
      this.remaining = this.got.length
    } else if (m.s !== this.size) {
      throw new SchemaError('bb_meta: total size changed between pieces')
    }
    const got = this.got as Uint8Array
    if (got[m.p] === 1) return
    m.data.copy(this.buf, m.p * BB_META_PIECE)
    got[m.p] = 1
    this.remaining--
  }

  get pieces (): number { return this.got?.length ?? 0 }
  complete (): Buffer | null { return this.buf !== null && this.remaining === 0 ? this.buf : null }
}
