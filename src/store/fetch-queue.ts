// The persistent queue of metadata still to fetch. Workers lease items for a while; an item
// whose lease runs out (the worker crashed or hung) can be leased again, and opening the
// store returns every lease of the previous process to pending, since with one writer no
// lease can outlive it. Failures back off exponentially; after maxAttempts an item is
// parked as failed (kept, so a re-sighting does not queue it at once) and revived only when
// it is seen again after failedRetryMs: a swarm that was dead may come back.

import { StoreError, errorMessage } from '../core/errors.js'
import { asBuffer, sqlite, type StoreDb } from './database.js'
import type { Counters, CounterDeltas } from './counters.js'
import { checkIh20 } from './torrents.js'

export interface QueueOptions {
  /** Failed fetches before an item is parked as failed. */
  maxAttempts: number
  /** Back-off after the first failure, ms; doubles with each further one. */
  backoffBaseMs: number
  /** Longest back-off, ms. */
  backoffMaxMs: number
  /** A failed item seen again after this long is queued again, ms. */
  failedRetryMs: number
}

export const QUEUE_DEFAULTS: Readonly<QueueOptions> = Object.freeze({
  // Five tries spread over ~1 h (1, 2, 4, 8 min plus fetch time): a torrent whose peers are
  // all behind NAT or offline is not worth more of the fetcher's time today.
  maxAttempts: 5,
  backoffBaseMs: 60_000,
  // A DHT announce lives ~30 min; waiting longer than 6 h only finds the swarm gone.
  backoffMaxMs: 6 * 3600_000,
  failedRetryMs: 7 * 24 * 3600_000,
})

/** lease() hands out at most this many items per call: bounded memory and transaction time. */
export const LEASE_MAX = 10_000
/** Characters of an error message kept in last_error. */
const ERROR_MAX_CHARS = 500

export const enum QueueState { Pending = 0, Leased = 1, Failed = 2 }

export interface QueueEntry {
  ih: Buffer
  state: 'pending' | 'leased' | 'failed'
  attempts: number
  nextAttemptAt: number
  leaseUntil: number | null
  lastError: string | null
  enqueuedAt: number
}

export type FailOutcome = 'retry' | 'failed' | 'unknown'

const STATE_NAME = ['pending', 'leased', 'failed'] as const

export class FetchQueue {
  readonly #db: StoreDb
  readonly #counters: Counters
  readonly options: Readonly<QueueOptions>

  constructor (db: StoreDb, counters: Counters, options: Partial<QueueOptions> = {}) {
    this.#db = db
    this.#counters = counters
    this.options = Object.freeze({ ...QUEUE_DEFAULTS, ...stripUndefined(options) })
    const o = this.options
    if (!(Number.isSafeInteger(o.maxAttempts) && o.maxAttempts >= 1)) throw new StoreError('queue: maxAttempts must be an integer ≥ 1')
    for (const k of ['backoffBaseMs', 'backoffMaxMs', 'failedRetryMs'] as const) {
      if (!(Number.isFinite(o[k]) && o[k] >= 0)) throw new StoreError(`queue: ${k} must be a non-negative number`)
    }
  }

  /**
   * Lease up to n items that are due at `now`: first leases that expired (their worker is
   * gone), then pending items, oldest due first. Each is leased until now + leaseMs.
   */
  lease (n: number, now: number, leaseMs: number): Buffer[] {
    if (!Number.isSafeInteger(n) || n < 0) throw new StoreError('lease: n must be a non-negative integer')
    if (!(Number.isFinite(leaseMs) && leaseMs > 0)) throw new StoreError('lease: leaseMs must be positive')
    n = Math.min(n, LEASE_MAX)
    if (n === 0) return []
    const until = Math.floor(now + leaseMs)
    const expired = this.#db.prepare(`
      UPDATE fetch_queue SET lease_until = @until
      WHERE ih IN (SELECT ih FROM fetch_queue WHERE state = 1 AND lease_until <= @now LIMIT @n)
      RETURNING ih`)
    const pending = this.#db.prepare(`
      UPDATE fetch_queue SET state = 1, lease_until = @until
      WHERE ih IN (SELECT ih FROM fetch_queue WHERE state = 0 AND next_attempt_at <= @now ORDER BY next_attempt_at LIMIT @n)
      RETURNING ih`)
    return this.#db.write('leasing from the fetch queue', () => {
      const out = expired.pluck().all({ until, now: Math.floor(now), n }) as Buffer[]
      if (out.length < n) out.push(...pending.pluck().all({ until, now: Math.floor(now), n: n - out.length }) as Buffer[])
      return out
    })
  }

  /** The item is done (fetched and stored, or given up by the caller): remove it. False when it was not queued. */
  complete (ih: Uint8Array): boolean {
    checkIh20(ih, 'complete')
    return this.#db.write('completing a fetch', () => {
      const deltas: CounterDeltas = {}
      const found = this.dropIn(asBuffer(ih), deltas)
      this.#counters.add(deltas)
      return found
    })
  }

  /**
   * Put a leased item back without counting an attempt, due again at `until` (the
   * cooperative waits for the owning member to fetch it). False when it was not queued.
   */
  defer (ih: Uint8Array, until: number): boolean {
    checkIh20(ih, 'defer')
    const upd = this.#db.prepare('UPDATE fetch_queue SET state = 0, next_attempt_at = @next, lease_until = NULL WHERE ih = @ih AND state != 2')
    return this.#db.write('deferring a fetch', () => upd.run({ ih: asBuffer(ih), next: Math.floor(until) }).changes > 0)
  }

  /**
   * A fetch failed: count the attempt and back off (base · 2^(attempts-1), capped), or park
   * the item as failed after maxAttempts. 'unknown' when the item is not queued (already
   * completed, or stored under its other hash), 'failed' when parked, else 'retry'.
   */
  fail (ih: Uint8Array, error: unknown, now: number): FailOutcome {
    checkIh20(ih, 'fail')
    const get = this.#db.prepare('SELECT state, attempts FROM fetch_queue WHERE ih = ?')
    const upd = this.#db.prepare(`
      UPDATE fetch_queue SET state = @state, attempts = @attempts, next_attempt_at = @next, lease_until = NULL, last_error = @err
      WHERE ih = @ih`)
    const msg = (typeof error === 'string' ? error : errorMessage(error)).slice(0, ERROR_MAX_CHARS)
    return this.#db.write('recording a failed fetch', () => {
      const row = get.get(asBuffer(ih)) as { state: number, attempts: number } | undefined
      if (row === undefined) return 'unknown'
      if (row.state === QueueState.Failed) return 'failed'
      const attempts = row.attempts + 1
      const o = this.options
      const parked = attempts >= o.maxAttempts
      const next = parked
        ? now + o.failedRetryMs
        : now + Math.min(o.backoffMaxMs, o.backoffBaseMs * 2 ** (attempts - 1))
      upd.run({ ih: asBuffer(ih), state: parked ? QueueState.Failed : QueueState.Pending, attempts, next: Math.floor(next), err: msg })
      if (parked) this.#counters.add({ queue_active: -1, queue_failed: 1 })
      return parked ? 'failed' : 'retry'
    })
  }

  /** Items pending or leased (not the failed ones), from the counters. */
  size (): number {
    return this.#counters.get().queue_active
  }

  failedCount (): number {
    return this.#counters.get().queue_failed
  }

  /** Items leased right now (the state = 1 range of fetch_queue_due: as many rows as fetches in flight). */
  leasedCount (): number {
    return sqlite('counting leases', () => this.#db.prepare('SELECT count(*) FROM fetch_queue WHERE state = 1').pluck().get() as number)
  }

  /**
   * Return every lease to pending. Run on open by the one writer: any lease in the file was
   * taken by a process that is gone. A crash is not the torrent's fault: attempts stay.
   */
  recover (): number {
    return this.#db.write('recovering fetch leases', () =>
      this.#db.prepare('UPDATE fetch_queue SET state = 0, lease_until = NULL WHERE state = 1').run().changes)
  }

  get (ih: Uint8Array): QueueEntry | null {
    checkIh20(ih, 'queue get')
    const r = sqlite('reading the fetch queue', () => this.#db.prepare(
      'SELECT ih, state, attempts, next_attempt_at, lease_until, last_error, enqueued_at FROM fetch_queue WHERE ih = ?')
      .get(asBuffer(ih))) as { ih: Buffer, state: number, attempts: number, next_attempt_at: number, lease_until: number | null, last_error: string | null, enqueued_at: number } | undefined
    if (r === undefined) return null
    return {
      ih: r.ih,
      state: STATE_NAME[r.state],
      attempts: r.attempts,
      nextAttemptAt: r.next_attempt_at,
      leaseUntil: r.lease_until,
      lastError: r.last_error,
      enqueuedAt: r.enqueued_at,
    }
  }

  // ---- used inside other modules' write transactions ----

  /**
   * Queue ih unless it is queued already; revive it when parked as failed and due again.
   * Returns true when it became pending. The caller checked it is not stored yet.
   */
  enqueueIn (ih: Buffer, now: number, deltas: CounterDeltas): boolean {
    const row = this.#db.prepare('SELECT state, next_attempt_at FROM fetch_queue WHERE ih = ?').get(ih) as { state: number, next_attempt_at: number } | undefined
    if (row === undefined) {
      this.#db.prepare('INSERT INTO fetch_queue (ih, state, attempts, next_attempt_at, enqueued_at) VALUES (?, 0, 0, ?, ?)').run(ih, now, now)
      deltas.queue_active = (deltas.queue_active ?? 0) + 1
      return true
    }
    if (row.state === QueueState.Failed && row.next_attempt_at <= now) {
      this.#db.prepare('UPDATE fetch_queue SET state = 0, attempts = 0, next_attempt_at = ?, lease_until = NULL WHERE ih = ?').run(now, ih)
      deltas.queue_active = (deltas.queue_active ?? 0) + 1
      deltas.queue_failed = (deltas.queue_failed ?? 0) - 1
      return true
    }
    return false
  }

  /** Remove ih from the queue whatever its state; true when it was there. */
  dropIn (ih: Buffer, deltas: CounterDeltas): boolean {
    const state = this.#db.prepare('DELETE FROM fetch_queue WHERE ih = ? RETURNING state').pluck().get(ih) as number | undefined
    if (state === undefined) return false
    if (state === QueueState.Failed) deltas.queue_failed = (deltas.queue_failed ?? 0) - 1
    else deltas.queue_active = (deltas.queue_active ?? 0) + -1
    return true
  }
}

function stripUndefined<T extends object> (o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>
}
