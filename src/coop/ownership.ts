// Who does what in a cooperative, computed the same way by every member from the same
// member list (no coordinator):
// - fetch ownership: the member whose node ID is XOR-closest to infohash H fetches H from
//   the swarm; the others wait a bounded time for it by gossip (liveness before purity);
// - sampling regions: the keyspace is cut into 2^b prefixes (b the smallest with 2^b >= 2N,
//   capped at 16 bits), and each prefix goes to the member XOR-closest to its midpoint, so
//   the regions cover the keyspace, each member crawls near its own ID, and a member that is
//   closest to no midpoint shares the prefix its ID is in (never an empty region set).

import { compareDistance, type Region } from '../core/infohash.js'

/** Index of the member XOR-closest to key (ties cannot happen between distinct IDs). */
export function closestMember (key: Uint8Array, memberIds: readonly Uint8Array[]): number {
  if (memberIds.length === 0) throw new RangeError('closestMember: no members')
  let best = 0
  for (let i = 1; i < memberIds.length; i++) if (compareDistance(memberIds[i], memberIds[best], key) < 0) best = i
  return best
}

export function isOwner (key: Uint8Array, self: Uint8Array, memberIds: readonly Uint8Array[]): boolean {
  const all = memberIds.some((m) => Buffer.compare(Buffer.from(m), Buffer.from(self)) === 0) ? memberIds : [...memberIds, self]
  return Buffer.compare(Buffer.from(all[closestMember(key, all)]), Buffer.from(self)) === 0
}

export const MAX_REGION_BITS = 16

function prefixRegion (p: number, bits: number): Region {
  const prefix = Buffer.alloc(20)
  // Write the top `bits` bits of p into the prefix.
  const shifted = p << (32 - bits) >>> 0
  prefix.writeUInt32BE(shifted, 0)
  return { prefix, bits }
}

/** The regions of member `self` among all members (self included or not). */
export function regionsFor (self: Uint8Array, memberIds: readonly Uint8Array[]): Region[] {
  const all = memberIds.some((m) => Buffer.compare(Buffer.from(m), Buffer.from(self)) === 0) ? memberIds : [...memberIds, self]
  if (all.length === 1) return [{ prefix: Buffer.alloc(20), bits: 0 }]
  let bits = 1
  while ((1 << bits) < 2 * all.length && bits < MAX_REGION_BITS) bits++
  const out: Region[] = []
  for (let p = 0; p < (1 << bits); p++) {
    const r = prefixRegion(p, bits)
    const mid = Buffer.from(r.prefix)
    // Midpoint: the prefix followed by a 1 bit and zeros.
    const byte = bits >> 3
    mid[byte] |= 0x80 >> (bits & 7)
    if (Buffer.compare(Buffer.from(all[closestMember(mid, all)]), Buffer.from(self)) === 0) out.push(r)
  }
  // A member closest to no midpoint would sample nothing: it takes the prefix its own ID is
  // in (shared with that prefix's owner; coverage stays complete).
  if (out.length === 0) out.push(prefixRegion(Buffer.from(self).readUInt32BE(0) >>> (32 - bits), bits))
  return out
}
