// bb_have wire codec (pure). One message carries either or both of:
//   h: infohash keys a member has just indexed (20 bytes each, concatenated, 1..1000), pushed so
//      the others know (and pull) without polling;
//   n: the DHT node IDs of the members the sender is linked to (20 bytes each, 0..64), its
//      whole current view, which replaces the previous one: fetch ownership is computed over
//      every member known directly or through a neighbour, so a member that has not linked
//      with the owner yet still waits for it.
// Unknown keys are ignored; neither key, a length not a multiple of 20 or over the caps is an
// error.

import { decode, encode, isDict, getBytes } from '../src/core/bencode.js'
import { DecodeError, SchemaError } from '../src/core/errors.js'

export const BB_HAVE_MAX = 1000
export const BB_HAVE_MAX_VIEW = 64
export const BB_HAVE_MAX_MESSAGE = BB_HAVE_MAX * 20 + BB_HAVE_MAX_VIEW * 20 + 64

export interface HaveMessage {
  /** Keys the sender holds now (may be empty when the message only carries a view). */
  ihs: Buffer[]
  /** The sender's linked members' node IDs, or null when the message carries no view. */
  view: Buffer[] | null
}

function split20 (b: Uint8Array): Buffer[] {
  const out: Buffer[] = []
  for (let i = 0; i < b.length; i += 20) out.push(Buffer.from(b.subarray(i, i + 20)))
  return out
}

export function decodeHave (payload: Uint8Array): HaveMessage {
  if (payload.length > BB_HAVE_MAX_MESSAGE) throw new SchemaError(`bb_have: message of ${payload.length} bytes over cap`)
  let d
  try { d = decode(payload, { maxDepth: 2, maxItems: 16 }) } catch (err) { throw new DecodeError('bb_have: not bencode', { cause: err }) }
  if (!isDict(d)) throw new SchemaError('bb_have: not a dict')
  const h = getBytes(d, 'h')
  const n = getBytes(d, 'n')
  if (h === undefined && n === undefined) throw new SchemaError('bb_have: neither h nor n')
  if (h !== undefined && (h.length === 0 || h.length % 20 !== 0 || h.length / 20 > BB_HAVE_MAX)) throw new SchemaError('bb_have: h must be 1..1000 20-byte infohashes')
  if (n !== undefined && (n.length % 20 !== 0 || n.length / 20 > BB_HAVE_MAX_VIEW)) throw new SchemaError('bb_have: n must be 0..64 20-byte node IDs')
  return { ihs: h === undefined ? [] : split20(h), view: n === undefined ? null : split20(n) }
}

export function encodeHave (ihs: Buffer[], view?: Buffer[]): Buffer {
  if (ihs.length > BB_HAVE_MAX) throw new RangeError('bb_have: at most 1000 infohashes')
  if (ihs.length === 0 && view === undefined) throw new RangeError('bb_have: nothing to send')
  if (view !== undefined && view.length > BB_HAVE_MAX_VIEW) throw new RangeError('bb_have: at most 64 node IDs')
  if ([...ihs, ...(view ?? [])].some((b) => b.length !== 20)) throw new RangeError('bb_have: 20-byte keys only')
  const msg: Record<string, Buffer> = {}
  if (ihs.length > 0) msg.h = Buffer.concat(ihs)
  if (view !== undefined) msg.n = Buffer.concat(view)
  return encode(msg)
}
