// Random infohashes we harvested and hold metadata for, to answer BEP-51 sample_infohashes.
// Only what we harvested ourselves (not imported files, not publishers' catalogs, which may
// have no swarm): the torrents_harvested partial index (migration 3). ORDER BY random() would
// read every row; instead each sample is one seek in that index to the first entry at or
// after a random id between its smallest and largest. Imported rows leave gaps in the ids, and
// a draw that lands in a gap gives the entry after it, so the draw is close to uniform only
// where harvested rows are dense; BEP-51 asks for a sample, not a uniform one.

import type { StoreDb } from './database.js'
import type { Counters } from './counters.js'
import { StoreError } from '../core/errors.js'
import { HARVESTED_SQL } from './migrations.js'

/** How long the harvested count (a scan of the partial index) is reused. */
const COUNT_TTL_MS = 60_000

/** One call returns at most this many (a BEP-51 answer carries 20; a bb_samples batch more). */
export const SAMPLES_MAX = 1000

export class Samples {
  readonly #db: StoreDb
  readonly #counters: Counters
  #counted = { at: -Infinity, n: 0 }

  constructor (db: StoreDb, counters: Counters) {
    this.#db = db
    this.#counters = counters
  }

  /**
   * Up to n distinct 20-byte infohashes: the v1 hash, or for a v2-only torrent the truncated
   * v2 hash (the form the DHT carries). Fewer when the store holds fewer torrents.
   */
  randomInfohashes (n: number, random: () => number = Math.random): Buffer[] {
    if (!Number.isSafeInteger(n) || n < 0) throw new StoreError('randomInfohashes: n must be a non-negative integer')
    n = Math.min(n, SAMPLES_MAX)
    if (n === 0) return []
    return this.#db.read('sampling infohashes', () => {
      const range = this.#db.prepare(`SELECT (SELECT min(id) FROM torrents INDEXED BY torrents_harvested WHERE ${HARVESTED_SQL}) AS lo, (SELECT max(id) FROM torrents INDEXED BY torrents_harvested WHERE ${HARVESTED_SQL}) AS hi`)
        .get() as { lo: number | null, hi: number | null }
      if (range.lo === null || range.hi === null) return []
      const lo = range.lo
      const span = range.hi - lo + 1
      const at = this.#db.prepare(`SELECT id, coalesce(ih_v1, ih_v2_20) AS ih FROM torrents INDEXED BY torrents_harvested WHERE id >= ? AND ${HARVESTED_SQL} ORDER BY id LIMIT 1`)
      const out: Buffer[] = []
      const ids = new Set<number>()
      if (span <= n) {
        // Small store: everything it has.
        return this.#db.prepare(`SELECT coalesce(ih_v1, ih_v2_20) FROM torrents INDEXED BY torrents_harvested WHERE ${HARVESTED_SQL} ORDER BY id LIMIT ?`).pluck().all(n) as Buffer[]
      }
      // Draws repeat now and then; 4n tries find n distinct ones unless the ids are mostly gaps.
      for (let tries = 0; out.length < n && tries < 4 * n; tries++) {
        const r = at.get(lo + Math.floor(random() * span)) as { id: number, ih: Buffer } | undefined
        if (r === undefined || ids.has(r.id)) continue
        ids.add(r.id)
        out.push(r.ih)
      }
      return out
    })
  }

  /** Torrents we could sample from (harvested ones), counted at most once a minute. */
  count (now: number = Date.now()): number {
    if (now - this.#counted.at < COUNT_TTL_MS) return this.#counted.n
    // An empty store needs no scan; otherwise one pass over the partial index (ids only).
    const c = this.#counters.get()
    const all = c.torrents_v1 + c.torrents_v2 + c.torrents_hybrid
    const n = all === 0 ? 0 : this.#db.read('counting harvested torrents', () => this.#db.prepare(`SELECT count(*) FROM torrents INDEXED BY torrents_harvested WHERE ${HARVESTED_SQL}`).pluck().get() as number)
    this.#counted = { at: now, n }
    return n
  }
}
