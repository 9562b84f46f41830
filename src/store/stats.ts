// Store statistics for the CLI, the HTTP API and the logs. Read from the counters table
// (kept in the writers' transactions) and two PRAGMAs, so a call costs the same at 10 rows
// and at 10 million; the only count taken live is of leased items: the state = 1 range of the
// queue's index, as long as the fetches in flight.

import type { StoreDb } from './database.js'
import type { Counters } from './counters.js'

export interface StoreStats {
  torrents: number
  infohashes_seen: number
  /** Items pending or leased in the fetch queue. */
  queue: number
  /** Of those, leased to a worker right now. */
  queue_leased: number
  /** Items parked after maxAttempts failures. */
  queue_failed: number
  by_version: { v1: number, v2: number, hybrid: number }
  /** Main database file plus the WAL not yet checkpointed. */
  db_bytes: number
}

export function readStats (db: StoreDb, counters: Counters): StoreStats {
  return db.read('reading store stats', () => {
    const c = counters.get()
    return {
      torrents: c.torrents_v1 + c.torrents_v2 + c.torrents_hybrid,
      infohashes_seen: c.seen,
      queue: c.queue_active,
      queue_leased: db.prepare('SELECT count(*) FROM fetch_queue WHERE state = 1').pluck().get() as number,
      queue_failed: c.queue_failed,
      by_version: { v1: c.torrents_v1, v2: c.torrents_v2, hybrid: c.torrents_hybrid },
      db_bytes: db.sizeBytes(),
    }
  })
}
