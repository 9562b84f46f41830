// bb_bloom wire codec (pure). A member sends its whole filter once after bb_auth, in chunks
// (a peer-wire frame is capped at 64 KiB), then deltas: the infohashes it has indexed since.
//
//   full chunk  { t: "f", g: <generation>, m: <bits>, k: <hashes>, n: <count>, o: <byte offset>, b: <bytes> }
//   delta       { t: "a", g: <generation>, h: <20-byte infohashes concatenated> }
//
// Caps: m a power of two in 1024..2^27, k in 1..16, a chunk at most 32 KiB, chunks in order
// (o equals the bytes received so far of generation g), o + |b| <= m/8, a delta at most 1000
// infohashes. Unknown keys are ignored (room to grow); a missing or wrong-typed field is an error.

import { decode, encode, isDict, getBytes, getInt, type BDict } from '../src/core/bencode.js'
import { SchemaError, DecodeError } from '../src/core/errors.js'
import { checkParams } from '../src/coop/infohash-bloom.js'

export const BB_BLOOM_CHUNK = 32 * 1024
export const BB_BLOOM_MAX_DELTA = 1000
export const BB_BLOOM_MAX_MESSAGE = BB_BLOOM_CHUNK + 256

export type BloomMessage =
  | { t: 'f', g: number, m: number, k: number, n: number, o: number, b: Buffer }
  | { t: 'a', g: number, h: Buffer[] }

function int (d: BDict, key: string, min: number, max: number): number {
  const v = getInt(d, key)
  if (v === undefined || v < min || v > max) throw new SchemaError(`bb_bloom: ${key} missing or out of range`)
  return v
}

export function decodeBloomMessage (payload: Uint8Array): BloomMessage {
  if (payload.length > BB_BLOOM_MAX_MESSAGE) throw new SchemaError(`bb_bloom: message of ${payload.length} bytes over cap`)
  let d
  try { d = decode(payload, { maxDepth: 2, maxItems: 32 }) } catch (err) { throw new DecodeError('bb_bloom: not bencode', { cause: err }) }
  if (!isDict(d)) throw new SchemaError('bb_bloom: not a dict')
  const t = getBytes(d, 't')
  const type = t === undefined ? '' : Buffer.from(t).toString('latin1')
  const g = int(d, 'g', 0, Number.MAX_SAFE_INTEGER)
  if (type === 'f') {
    const m = int(d, 'm', 0, 2 ** 31)
    const k = int(d, 'k', 0, 64)
    checkParams(m, k)
    const n = int(d, 'n', 0, Number.MAX_SAFE_INTEGER)
    const o = int(d, 'o', 0, m / 8)
    const b = getBytes(d, 'b')
    if (b === undefined || b.length === 0 || b.length > BB_BLOOM_CHUNK) throw new SchemaError('bb_bloom: chunk missing or over 32 KiB')
    if (o + b.length > m / 8) throw new SchemaError('bb_bloom: chunk runs past the end of the filter')
    return { t: 'f', g, m, k, n, o, b: Buffer.from(b) }
  }
  if (type === 'a') {
    const h = getBytes(d, 'h')
    if (h === undefined || h.length % 20 !== 0 || h.length / 20 > BB_BLOOM_MAX_DELTA) throw new SchemaError('bb_bloom: delta must be at most 1000 20-byte infohashes')
    const out: Buffer[] = []
    for (let i = 0; i < h.length; i += 20) out.push(Buffer.from(h.subarray(i, i + 20)))
    return { t: 'a', g, h: out }
  }
  throw new SchemaError('bb_bloom: unknown message type')
}

export function encodeBloomMessage (msg: BloomMessage): Buffer {
  if (msg.t === 'f') return encode({ t: 'f', g: msg.g, m: msg.m, k: msg.k, n: msg.n, o: msg.o, b: msg.b })
  if (msg.h.length > BB_BLOOM_MAX_DELTA) throw new RangeError('bb_bloom: delta too large')
  return encode({ t: 'a', g: msg.g, h: Buffer.concat(msg.h) })
}

/** Chunks of a whole filter, ready to send. */
export function fullFilterMessages (g: number, m: number, k: number, n: number, bits: Uint8Array): Buffer[] {
  const out: Buffer[] = []
  for (let o = 0; o < bits.length; o += BB_BLOOM_CHUNK) {
    out.push(encodeBloomMessage({ t: 'f', g, m, k, n, o, b: Buffer.from(bits.subarray(o, Math.min(bits.length, o + BB_BLOOM_CHUNK))) }))
  }
  return out
}
