// The fetch stage: leases infohashes from the persistent queue, finds peers (hints from
// announces first, then a get_peers traversal), runs the BEP-9 fetch against a few peers at
// once until one gives metadata that hashes right, and hands the verified info dict on.
// Bounded concurrency; each task has a total deadline; on close, in-flight tasks are aborted
// and their leases simply expire, so a restart fetches them again.

import { EventEmitter } from 'node:events'
import { fetchMetadata, makePeerId, type FetchResult } from './metadata-fetcher.js'
import type { PeerAddr } from '../src/core/compact.js'
import { BbmeshError, errorMessage, HashMismatchError } from '../src/core/errors.js'
import { silentLogger, type Logger } from '../src/core/logger.js'

export interface FetchQueue {
  /** Up to n infohashes due for a fetch, leased for leaseMs. */
  lease: (n: number, leaseMs: number) => Buffer[]
  /**
   * The fetch succeeded: raw is the verified info dict; source 'dht' (swarm) or 'member', and
   * for a member, `from` names it (hex peer id).
   */
  complete: (ih: Buffer, raw: Buffer, kind: 'v1' | 'v2', source: 'dht' | 'member', from?: string) => void
  /** Whether the torrent is indexed already (under this or its other key). */
  held?: (ih: Buffer) => boolean
  /** Put the item back, due at `until`, without counting an attempt. */
  defer?: (ih: Buffer, until: number) => void
  /** The fetch failed; the queue decides on back-off or giving up. */
  fail: (ih: Buffer, reason: string) => void
}

export interface PeerFinder {
  hintsFor: (ih: Buffer) => PeerAddr[]
  lookupPeers: (ih: Buffer, opts: { signal: AbortSignal, maxPeers: number, timeoutMs: number }) => Promise<PeerAddr[]>
}

/** The cooperative's say before a swarm fetch (src/coop/coop-fetch.ts fills it in). */
export interface CoopHook {
  /** A verified info dict from a member that has it, or null. */
  tryMembers: (ih: Buffer, signal: AbortSignal) => Promise<{ raw: Buffer, kind: 'v1' | 'v2', from?: string } | null>
  /** Wait for the owning member until this time, or null to fetch from the swarm now. */
  deferUntil: (ih: Buffer) => number | null
}

export interface FetchSchedulerOptions {
  /** Infohashes being worked on at once. */
  concurrency?: number
  /** Peers tried in parallel for one infohash. */
  peersInParallel?: number
  /** Peers tried in all for one infohash. */
  maxPeers?: number
  /** Total deadline of one infohash's task (lookup + fetches). */
  taskTimeoutMs?: number
  /** Deadline of one peer's BEP-9 exchange. */
  fetchTimeoutMs?: number
  lookupTimeoutMs?: number
  pollMs?: number
  /** Lease length; a crash leaves leases that expire after it. */
  leaseMs?: number
}

export interface FetchStats { active: number, fetched: number, failed: number, noPeers: number, badHash: number, attempts: number, fromMembers: number, deferred: number, alreadyHeld: number }

export class FetchScheduler extends EventEmitter {
  private readonly o: Required<FetchSchedulerOptions>
  private readonly ac = new AbortController()
  private readonly tasks = new Set<Promise<void>>()
  private timer: NodeJS.Timeout | null = null
  private closed = false
  readonly stats: FetchStats = { active: 0, fetched: 0, failed: 0, noPeers: 0, badHash: 0, attempts: 0, fromMembers: 0, deferred: 0, alreadyHeld: 0 }
  private readonly log: Logger

  constructor (private readonly deps: { queue: FetchQueue, peers: PeerFinder, coop?: CoopHook, logger?: Logger }, opts: FetchSchedulerOptions = {}) {
    super()
    this.o = {
      concurrency: opts.concurrency ?? 64,
      peersInParallel: opts.peersInParallel ?? 4,
      maxPeers: opts.maxPeers ?? 16,
      taskTimeoutMs: opts.taskTimeoutMs ?? 30_000,
      fetchTimeoutMs: opts.fetchTimeoutMs ?? 8_000,
      lookupTimeoutMs: opts.lookupTimeoutMs ?? 8_000,
      pollMs: opts.pollMs ?? 100,
      leaseMs: opts.leaseMs ?? 120_000,
    }
    this.log = deps.logger ?? silentLogger
  }

  start (): void {
    if (this.timer !== null || this.closed) return
    this.timer = setInterval(() => this.fill(), this.o.pollMs)
    this.fill()
  }

  private fill (): void {
    if (this.closed) return
    const free = this.o.concurrency - this.stats.active
    if (free <= 0) return
    const ihs = this.deps.queue.lease(free, Math.max(this.o.leaseMs, this.o.taskTimeoutMs * 2))
    for (const ih of ihs) {
      this.stats.active++
      const p = this.run(ih).finally(() => { this.stats.active--; this.tasks.delete(p) })
      this.tasks.add(p)
    }
  }

  private async run (ih: Buffer): Promise<void> {
    const signal = AbortSignal.any([this.ac.signal, AbortSignal.timeout(this.o.taskTimeoutMs)])
    let reason = 'no peers'
    try {
      const coop = this.deps.coop
      // A member that holds it gives it (bb_meta) instead of the swarm.
      const fromMember = async (): Promise<boolean> => {
        if (coop === undefined) return false
        const m = await coop.tryMembers(ih, signal)
        if (this.closed) return true
        if (m === null) return false
        this.stats.fromMembers++
        this.deps.queue.complete(ih, m.raw, m.kind, 'member', m.from)
        this.emit('fetched', ih, m)
        return true
      }
      if (coop !== undefined) {
        if (await fromMember()) return
        const until = coop.deferUntil(ih)
        if (until !== null && this.deps.queue.defer !== undefined) {
          this.stats.deferred++
          this.deps.queue.defer(ih, until)
          return
        }
      }
      const tried = new Set<string>()
      const candidates: PeerAddr[] = [...this.deps.peers.hintsFor(ih)]
      const tryBatch = async (): Promise<FetchResult | null> => {
        while (candidates.length > 0 && tried.size < this.o.maxPeers && !signal.aborted) {
          const batch: PeerAddr[] = []
          while (batch.length < this.o.peersInParallel && candidates.length > 0) {
            const p = candidates.shift() as PeerAddr
            const key = `${p.host}:${p.port}`
            if (tried.has(key)) continue
            tried.add(key)
            batch.push(p)
          }
          if (batch.length === 0) break
          const result = await this.firstSuccess(ih, batch, signal)
          if (result.ok !== null) return result.ok
          reason = result.reason
        }
        return null
      }
      let got = await tryBatch()
      if (got === null && !signal.aborted) {
        const found = await this.deps.peers.lookupPeers(ih, { signal, maxPeers: this.o.maxPeers, timeoutMs: this.o.lookupTimeoutMs })
        candidates.push(...found)
        if (found.length === 0 && tried.size === 0) this.stats.noPeers++
        // A lookup can take seconds: the torrent may have arrived meanwhile (the other key of a
        // hybrid, or a member's push), and then the swarm is not asked.
        if (this.deps.queue.held?.(ih) === true) { this.stats.alreadyHeld++; return }
        if (await fromMember()) return
        got = await tryBatch()
      }
      if (this.closed) return
      if (got !== null) {
        this.stats.fetched++
        this.deps.queue.complete(ih, got.raw, got.kind, 'dht')
        this.emit('fetched', ih, got)
      } else {
        this.stats.failed++
        this.deps.queue.fail(ih, signal.aborted ? 'deadline passed' : reason)
      }
    } catch (err) {
      if (!(err instanceof BbmeshError)) throw err
      if (this.closed) return
      this.stats.failed++
      this.deps.queue.fail(ih, errorMessage(err))
    }
  }

  /** Race BEP-9 fetches against several peers; the first verified answer wins, the rest are aborted. */
  private async firstSuccess (ih: Buffer, peers: PeerAddr[], parent: AbortSignal): Promise<{ ok: FetchResult | null, reason: string }> {
    const ac = new AbortController()
    const signal = AbortSignal.any([parent, ac.signal])
    let reason = 'all peers failed'
    const attempts = peers.map(async (p) => {
      this.stats.attempts++
      try {
        // A fresh peer id per connection: libtorrent drops a second connection to one torrent
        // from a peer id it already has connected ("duplicate peer-id"), and a hybrid's v1
        // and truncated v2 hashes are two fetch tasks for ONE torrent on the same seeder.
        const r = await fetchMetadata(ih, p, { signal, timeoutMs: this.o.fetchTimeoutMs, peerId: makePeerId() })
        ac.abort()
        return r
      } catch (err) {
        if (!(err instanceof BbmeshError)) throw err
        if (err instanceof HashMismatchError) {
          this.stats.badHash++
          this.log.warn({ peer: `${p.host}:${p.port}`, infohash: ih.toString('hex') }, 'peer sent metadata that does not hash to the infohash')
        }
        reason = err.message
        return null
      }
    })
    const results = await Promise.all(attempts)
    return { ok: results.find((r) => r !== null) ?? null, reason }
  }

  async close (): Promise<void> {
    if (this.closed) return
    this.closed = true
    if (this.timer !== null) clearInterval(this.timer)
    this.ac.abort()
    await Promise.allSettled([...this.tasks])
    this.removeAllListeners()
  }
}
