// Random infohashes we hold metadata for, to answer BEP-51 sample_infohashes. ORDER BY
// random() would read every row; instead each sample is one seek to the first row at or after
// a random id between the smallest and largest. Ids are dense (rows are only appended), so
// the draw is close to uniform; a gap left by deleted rows favours the row after it.

import type { StoreDb } from './database.js'
import type { Counters } from './counters.js'
import { StoreError } from '../core/errors.js'

/** One call returns at most this many (a BEP-51 answer carries 20; a bb_samples batch more). */
export const SAMPLES_MAX = 1000

export class Samples {
  readonly #db: StoreDb
  readonly #counters: Counters

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
      const range = this.#db.prepare('SELECT (SELECT min(id) FROM torrents) AS lo, (SELECT max(id) FROM torrents) AS hi')
        .get() as { lo: number | null, hi: number | null }
      if (range.lo === null || range.hi === null) return []
      const lo = range.lo
      const span = range.hi - lo + 1
      const at = this.#db.prepare('SELECT id, coalesce(ih_v1, ih_v2_20) AS ih FROM torrents WHERE id >= ? ORDER BY id LIMIT 1')
      const out: Buffer[] = []
      const ids = new Set<number>()
      if (span <= n) {
        // Small store: everything it has.
        return this.#db.prepare('SELECT coalesce(ih_v1, ih_v2_20) FROM torrents ORDER BY id LIMIT ?').pluck().all(n) as Buffer[]
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

  /** Torrents we could sample from. */
  count (): number {
    const c = this.#counters.get()
    return c.torrents_v1 + c.torrents_v2 + c.torrents_hybrid
  }
}
