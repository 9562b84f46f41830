// bb_samples wire codec (pure): infohashes a member discovered (BEP-51 samples, announces and
// get_peers it saw) that the receiver owns, so the owner fetches them even when they were
// stored outside its own keyspace region.  { h: <20-byte infohashes concatenated, 1..1000> }.
// Unknown keys are ignored; `h` missing, not a multiple of 20 or over 1000 entries is an error.

import { decode, encode, isDict, getBytes } from '../src/core/bencode.js'
import { DecodeError, SchemaError } from '../src/core/errors.js'

export const BB_SAMPLES_MAX = 1000
export const BB_SAMPLES_MAX_MESSAGE = BB_SAMPLES_MAX * 20 + 64

export function decodeSamples (payload: Uint8Array): Buffer[] {
  if (payload.length > BB_SAMPLES_MAX_MESSAGE) throw new SchemaError(`bb_samples: message of ${payload.length} bytes over cap`)
  let d
  try { d = decode(payload, { maxDepth: 2, maxItems: 16 }) } catch (err) { throw new DecodeError('bb_samples: not bencode', { cause: err }) }
  if (!isDict(d)) throw new SchemaError('bb_samples: not a dict')
  const h = getBytes(d, 'h')
  if (h === undefined || h.length === 0 || h.length % 20 !== 0 || h.length / 20 > BB_SAMPLES_MAX) throw new SchemaError('bb_samples: h must be 1..1000 20-byte infohashes')
  const out: Buffer[] = []
  for (let i = 0; i < h.length; i += 20) out.push(Buffer.from(h.subarray(i, i + 20)))
  return out
}

export function encodeSamples (ihs: Buffer[]): Buffer {
  if (ihs.length === 0 || ihs.length > BB_SAMPLES_MAX) throw new RangeError('bb_samples: 1..1000 infohashes')
  if (ihs.some((b) => b.length !== 20)) throw new RangeError('bb_samples: 20-byte keys only')
  return encode({ h: Buffer.concat(ihs) })
}
