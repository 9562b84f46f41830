// bb_have wire codec (pure): infohashes a member has just indexed, pushed so the others know
// without polling.  { h: <20-byte infohashes concatenated, at most 1000> }. Unknown keys are
// ignored; `h` missing, not a multiple of 20, or over 1000 entries is an error.

import { decode, encode, isDict, getBytes } from '../src/core/bencode.js'
import { DecodeError, SchemaError } from '../src/core/errors.js'

export const BB_HAVE_MAX = 1000
export const BB_HAVE_MAX_MESSAGE = BB_HAVE_MAX * 20 + 64

export function decodeHave (payload: Uint8Array): Buffer[] {
  if (payload.length > BB_HAVE_MAX_MESSAGE) throw new SchemaError(`bb_have: message of ${payload.length} bytes over cap`)
  let d
  try { d = decode(payload, { maxDepth: 2, maxItems: 16 }) } catch (err) { throw new DecodeError('bb_have: not bencode', { cause: err }) }
  if (!isDict(d)) throw new SchemaError('bb_have: not a dict')
  const h = getBytes(d, 'h')
  if (h === undefined || h.length === 0 || h.length % 20 !== 0 || h.length / 20 > BB_HAVE_MAX) throw new SchemaError('bb_have: h must be 1..1000 20-byte infohashes')
  const out: Buffer[] = []
  for (let i = 0; i < h.length; i += 20) out.push(Buffer.from(h.subarray(i, i + 20)))
  return out
}

export function encodeHave (ihs: Buffer[]): Buffer {
  if (ihs.length === 0 || ihs.length > BB_HAVE_MAX) throw new RangeError('bb_have: 1..1000 infohashes')
  return encode({ h: Buffer.concat(ihs) })
}
