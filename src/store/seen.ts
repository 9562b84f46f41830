// Every infohash the crawler meets (BEP-51 samples, get_peers, announce_peer) is noted
// here, and the ones we hold no metadata for and have not queued go to the fetch queue.
// This is the crawler's hot path: one transaction per batch, point lookups on primary keys
// and partial indexes only, counters updated once per batch.

import { asBuffer, sqlite, type StoreDb } from './database.js'
import type { Counters, CounterDeltas } from './counters.js'
import type { FetchQueue } from './fetch-queue.js'
import { checkIh20, SOURCE_MAX_CHARS } from './torrents.js'
import { StoreError } from '../core/errors.js'

export interface NoteSeenResult {
  /** Infohashes in the batch (repeats included). */
  noted: number
  /** Never seen before this batch. */
  new: number
  /** Put (or put back) in the fetch queue. */
  enqueued: number
}

export interface SeenEntry {
  firstSeen: number
  lastSeen: number
  count: number
  source: string
}

/** A batch larger than this is split, so one call cannot hold the write lock for long. */
const BATCH_MAX = 5000

export class SeenLog {
  readonly #db: StoreDb
  readonly #counters: Counters
  readonly #queue: FetchQueue

  constructor (db: StoreDb, counters: Counters, queue: FetchQueue) {
    this.#db = db
    this.#counters = counters
    this.#queue = queue
  }

  /** Record sightings at `now` (unix ms) and queue what we still need to fetch. */
  noteSeen (ihs: readonly Uint8Array[], source: string, now: number): NoteSeenResult {
    for (const ih of ihs) checkIh20(ih, 'noteSeen')
    if (typeof source !== 'string' || source.length === 0 || source.length > SOURCE_MAX_CHARS) {
      throw new StoreError(`noteSeen: source must be 1..${SOURCE_MAX_CHARS} characters`)
    }
    if (!Number.isFinite(now)) throw new StoreError('noteSeen: now is not a time')
    const t = Math.floor(now)
    const total: NoteSeenResult = { noted: 0, new: 0, enqueued: 0 }
    for (let i = 0; i < ihs.length; i += BATCH_MAX) {
      const r = this.#batch(ihs.slice(i, i + BATCH_MAX), source, t)
      total.noted += r.noted; total.new += r.new; total.enqueued += r.enqueued
    }
    return total
  }

  #batch (ihs: readonly Uint8Array[], source: string, now: number): NoteSeenResult {
    // RETURNING count tells a first sighting (1) from a repeat without a second lookup.
    const upsert = this.#db.prepare(`
      INSERT INTO infohashes_seen (ih, first_seen, last_seen, count, source) VALUES (?, ?, ?, 1, ?)
      ON CONFLICT (ih) DO UPDATE SET last_seen = max(last_seen, excluded.last_seen), count = count + 1
      RETURNING count`).pluck()
    const stored = this.#db.prepare(
      'SELECT EXISTS (SELECT 1 FROM torrents WHERE ih_v1 = @ih) OR EXISTS (SELECT 1 FROM torrents WHERE ih_v2_20 = @ih)').pluck()
    return this.#db.write('noting seen infohashes', () => {
      const deltas: CounterDeltas = {}
      let fresh = 0
      let enqueued = 0
      for (const u of ihs) {
        const ih = asBuffer(u)
        if (upsert.get(ih, now, now, source) === 1) fresh++
        if (stored.get({ ih }) === 1) continue
        if (this.#queue.enqueueIn(ih, now, deltas)) enqueued++
      }
      deltas.seen = fresh
      this.#counters.add(deltas)
      return { noted: ihs.length, new: fresh, enqueued }
    })
  }

  get (ih: Uint8Array): SeenEntry | null {
    checkIh20(ih, 'seen get')
    const r = sqlite('reading seen infohashes', () => this.#db.prepare(
      'SELECT first_seen, last_seen, count, source FROM infohashes_seen WHERE ih = ?').get(asBuffer(ih))) as
      { first_seen: number, last_seen: number, count: number, source: string } | undefined
    return r === undefined ? null : { firstSeen: r.first_seen, lastSeen: r.last_seen, count: r.count, source: r.source }
  }

  count (): number {
    return this.#counters.get().seen
  }
}
