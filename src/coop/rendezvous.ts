// The rendezvous: where members of one cooperative find each other in the DHT (DESIGN.md
// "Finding each other"). Pure: no clock, no socket; the caller passes the time.
//
// Rendezvous infohash of community key K on UTC day D:
//
//   SHA-1( K ‖ "bbmesh-rendezvous-v1" ‖ D )
//
//   K   the 32 raw key bytes
//   label  the 20 ASCII bytes "bbmesh-rendezvous-v1"
//   D   the 10 ASCII bytes "YYYY-MM-DD" of the UTC day (zero-padded, e.g. "2025-03-07")
//
// 62 bytes hashed, 20 bytes out: an ordinary v1 infohash. Members announce_peer on it and
// get_peers it. The infohash changes every day, so an outsider who saw one cannot follow the
// cooperative, and without K nobody can compute it. Near midnight UTC a node uses both days
// (rendezvousDays), so members whose clocks disagree by less than the margin still meet.

import { createHash } from 'node:crypto'

export const RENDEZVOUS_LABEL = 'bbmesh-rendezvous-v1'
export const DAY_MS = 86_400_000
/** How close to midnight UTC a node also uses the neighbouring day. */
export const RENDEZVOUS_MARGIN_MS = 3_600_000
const KEY_BYTES = 32

/** The UTC day of a time, "YYYY-MM-DD". */
export function utcDay (ms: number): string {
  if (!Number.isFinite(ms)) throw new RangeError(`not a time: ${ms}`)
  const iso = new Date(ms).toISOString()
  if (!/^\d{4}-/.test(iso)) throw new RangeError(`time outside years 0000-9999: ${ms}`)
  return iso.slice(0, 10)
}

/** A real calendar day written as utcDay writes it (so "2025-02-30" is refused). */
function isUtcDay (day: string): boolean {
  if (typeof day !== 'string' || !/^\d{4}-\d{2}-\d{2}$/.test(day)) return false
  const t = Date.parse(day + 'T00:00:00Z')
  return Number.isFinite(t) && utcDay(t) === day
}

/** SHA-1(key ‖ "bbmesh-rendezvous-v1" ‖ day): the rendezvous infohash of one community on one day. */
export function rendezvousInfohash (key: Buffer, day: string): Buffer {
  if (!Buffer.isBuffer(key) || key.length !== KEY_BYTES) throw new RangeError(`a community key is ${KEY_BYTES} bytes`)
  if (!isUtcDay(day)) throw new RangeError(`not a UTC day (YYYY-MM-DD): ${JSON.stringify(day)}`)
  return createHash('sha1').update(key).update(RENDEZVOUS_LABEL, 'ascii').update(day, 'ascii').digest()
}

/**
 * The days to announce on and look up at time nowMs, in order: today, preceded by yesterday
 * during the first marginMs after midnight UTC ([00:00, 00:00 + margin)), followed by tomorrow
 * during the last marginMs before it ([24:00 - margin, 24:00)). Both windows are marginMs long.
 */
export function rendezvousDays (nowMs: number, marginMs = RENDEZVOUS_MARGIN_MS): string[] {
  if (!Number.isFinite(marginMs) || marginMs < 0 || marginMs > DAY_MS / 2) throw new RangeError(`margin must be 0..${DAY_MS / 2} ms, got ${marginMs}`)
  const midnight = Math.floor(nowMs / DAY_MS) * DAY_MS
  const days = [utcDay(nowMs)]
  if (nowMs - midnight < marginMs) days.unshift(utcDay(midnight - DAY_MS))
  if (midnight + DAY_MS - nowMs <= marginMs) days.push(utcDay(midnight + DAY_MS))
  return days
}

export interface RendezvousPoint {
  /** Public id of the community key (never the key). */
  communityId: string
  day: string
  infohash: Buffer
}

/** Every (community, day) rendezvous a node should use at nowMs. Keys: CommunityKey or alike. */
export function rendezvousInfohashes (keys: ReadonlyArray<{ readonly id: string, readonly key: Buffer }>, nowMs: number, marginMs = RENDEZVOUS_MARGIN_MS): RendezvousPoint[] {
  const days = rendezvousDays(nowMs, marginMs)
  const out: RendezvousPoint[] = []
  for (const k of keys) {
    const key = k.key
    for (const day of days) out.push({ communityId: k.id, day, infohash: rendezvousInfohash(key, day) })
  }
  return out
}
