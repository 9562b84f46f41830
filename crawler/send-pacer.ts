// Outgoing KRPC budget. Two limits: per remote IP, so that libtorrent's dos_blocker (about 5
// packets/s averaged per IP, then a 5-minute block) never trips, and overall packets/s and
// bytes/s, so a harvester never floods the operator's router (magnetico's most common
// complaint). A packet that would wait longer than maxDelayMs, or find the wait list full,
// is dropped and counted: UDP may lose it anyway, and k-rpc times the query out.

import { KeyedBuckets, TokenBucket } from '../src/core/token-bucket.js'

export interface PacerOptions {
  /** Packets per second to one IP (libtorrent blocks above 5/s averaged). */
  perIpRate?: number
  perIpBurst?: number
  /** Packets per second overall. */
  globalRate?: number
  /** Bytes per second overall. */
  bytesRate?: number
  /** Longest a packet may wait for budget before it is dropped. */
  maxDelayMs?: number
  /** Packets waiting at most. */
  maxPending?: number
  /** Distinct IPs tracked (LRU). */
  maxIps?: number
  /** Clock for the token buckets (tests inject a fake one). */
  now?: () => number
}

export interface PacerCounters { sent: number, delayed: number, dropped: number, bytes: number }

export class SendPacer {
  readonly perIp: KeyedBuckets
  readonly packets: TokenBucket
  readonly bytes: TokenBucket
  readonly maxDelayMs: number
  readonly maxPending: number
  private readonly timers = new Set<NodeJS.Timeout>()
  private closed = false
  readonly counters: PacerCounters = { sent: 0, delayed: 0, dropped: 0, bytes: 0 }

  constructor (private readonly transmit: (buf: Buffer, port: number, host: string) => void, opts: PacerOptions = {}) {
    const now = opts.now ?? Date.now
    const perIpRate = opts.perIpRate ?? 4
    this.perIp = new KeyedBuckets(perIpRate, opts.perIpBurst ?? Math.max(1, perIpRate), opts.maxIps ?? 65536, now)
    const globalRate = opts.globalRate ?? 2000
    this.packets = new TokenBucket(globalRate, Math.max(1, globalRate / 10), now)
    const bytesRate = opts.bytesRate ?? 1_000_000
    this.bytes = new TokenBucket(bytesRate, Math.max(1500, bytesRate / 10), now)
    this.maxDelayMs = opts.maxDelayMs ?? 1000
    this.maxPending = opts.maxPending ?? 4096
  }

  /** Milliseconds until one more packet to host may leave (0: now). For callers that choose whom to ask. */
  waitFor (host: string): number {
    return Math.max(this.perIp.waitFor(host), this.packets.waitFor(1))
  }

  send (buf: Buffer, port: number, host: string): void {
    if (this.closed) return
    const wait = Math.max(this.perIp.waitFor(host), this.packets.waitFor(1), this.bytes.waitFor(buf.length))
    if (wait === 0) {
      this.perIp.get(host).force(1); this.packets.force(1); this.bytes.force(buf.length)
      this.out(buf, port, host)
      return
    }
    if (wait > this.maxDelayMs || this.timers.size >= this.maxPending) {
      this.counters.dropped++
      return
    }
    // Reserve the budget now so later packets queue behind this one.
    this.perIp.get(host).force(1); this.packets.force(1); this.bytes.force(buf.length)
    this.counters.delayed++
    const t = setTimeout(() => {
      this.timers.delete(t)
      if (!this.closed) this.out(buf, port, host)
    }, wait)
    this.timers.add(t)
  }

  private out (buf: Buffer, port: number, host: string): void {
    this.counters.sent++
    this.counters.bytes += buf.length
    this.transmit(buf, port, host)
  }

  get pending (): number { return this.timers.size }

  close (): void {
    this.closed = true
    for (const t of this.timers) clearTimeout(t)
    this.timers.clear()
  }
}
