// ut_pex (BEP-11) codec, pure: the message that spreads membership inside the rendezvous
// swarm (extensions/ut-pex.ts sends and receives it). BEP-11 limits: at most 50 added and 50
// dropped peers per message, at most one message a minute per connection (the sender's duty;
// a receiver drops extras, see PexRateGate). IPv4 compact peers (6 bytes) in `added`/`dropped`,
// IPv6 (18) in `added6`/`dropped6`, one flag byte per added peer in `added.f`.

import { isIPv4, isIPv6 } from 'node:net'
import { decode, encode, isDict, getBytes } from '../src/core/bencode.js'
import { DecodeError, SchemaError } from '../src/core/errors.js'
import { decodePeer, encodePeer, type PeerAddr } from '../src/core/compact.js'

export const PEX_MAX_PEERS = 50
export const PEX_MAX_MESSAGE = 4096
export const PEX_MIN_INTERVAL_MS = 60_000

export interface PexMessage { added: PeerAddr[], dropped: PeerAddr[] }

function peers (d: Record<string, unknown>, key: string, unit: number): PeerAddr[] {
  const b = getBytes(d as never, key)
  if (b === undefined) return []
  if (b.length % unit !== 0) throw new SchemaError(`ut_pex: ${key} is not a multiple of ${unit} bytes`)
  if (b.length / unit > PEX_MAX_PEERS) throw new SchemaError(`ut_pex: more than ${PEX_MAX_PEERS} peers in ${key}`)
  const out: PeerAddr[] = []
  for (let i = 0; i < b.length; i += unit) {
    const p = decodePeer(b.subarray(i, i + unit))
    if (p.port !== 0) out.push(p)
  }
  return out
}

export function decodePex (payload: Uint8Array): PexMessage {
  if (payload.length > PEX_MAX_MESSAGE) throw new SchemaError(`ut_pex: message of ${payload.length} bytes over cap`)
  let d
  try { d = decode(payload, { maxDepth: 2, maxItems: 64 }) } catch (err) { throw new DecodeError('ut_pex: not bencode', { cause: err }) }
  if (!isDict(d)) throw new SchemaError('ut_pex: not a dict')
  const added = [...peers(d, 'added', 6), ...peers(d, 'added6', 18)]
  const dropped = [...peers(d, 'dropped', 6), ...peers(d, 'dropped6', 18)]
  if (added.length > PEX_MAX_PEERS || dropped.length > PEX_MAX_PEERS) throw new SchemaError(`ut_pex: more than ${PEX_MAX_PEERS} peers added or dropped`)
  return { added, dropped }
}

export function encodePex (msg: PexMessage): Buffer {
  if (msg.added.length > PEX_MAX_PEERS || msg.dropped.length > PEX_MAX_PEERS) throw new RangeError('ut_pex: at most 50 added and 50 dropped')
  // Classified by node:net (a host name is in neither list); extensions/ut-pex.ts turns an
  // IPv4-mapped IPv6 text (::ffff:a.b.c.d) into plain IPv4 before it gets here.
  const v4 = (ps: PeerAddr[]): Buffer => Buffer.concat(ps.filter((p) => isIPv4(p.host)).map(encodePeer))
  const v6 = (ps: PeerAddr[]): Buffer => Buffer.concat(ps.filter((p) => isIPv6(p.host)).map(encodePeer))
  const added4 = v4(msg.added)
  return encode({
    added: added4,
    'added.f': Buffer.alloc(added4.length / 6),
    dropped: v4(msg.dropped),
    added6: v6(msg.added),
    dropped6: v6(msg.dropped),
  })
}

/** Receiver side of BEP-11's one-a-minute rule: true if this message may be acted upon. */
export class PexRateGate {
  private last = -Infinity
  dropped = 0
  constructor (private readonly now: () => number = Date.now, private readonly minIntervalMs = PEX_MIN_INTERVAL_MS) {}
  accept (): boolean {
    const t = this.now()
    // A little slack: timers on both ends drift.
    if (t - this.last < this.minIntervalMs * 0.9) { this.dropped++; return false }
    this.last = t
    return true
  }
}
