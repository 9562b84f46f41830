// Triage: the first stage after discovery. Drops infohashes seen in the last moments (an LRU),
// remembers peer hints, and hands the rest to the store in batches (one transaction each),
// where unknown ones join the persistent fetch queue. The batch buffer is bounded: when the
// store falls behind, the oldest discoveries are dropped and counted, never memory.

import { LruMap } from '../src/core/lru.js'
import type { PeerAddr } from '../src/core/compact.js'

export interface TriageSink {
  /** Record sightings; unknown infohashes enter the fetch queue. */
  noteSeen: (ihs: Buffer[], source: string) => void
}

export interface TriageOptions {
  recentMax?: number
  bufferMax?: number
  flushMs?: number
  hintsMax?: number
  /** Infohashes never to fetch (our own rendezvous infohashes, which name no torrent). */
  ignore?: (ih: Buffer) => boolean
}

export class Triage {
  private readonly recent: LruMap<string, true>
  private readonly hints: LruMap<string, PeerAddr[]>
  private buffer = new Map<string, Buffer[]>()
  private buffered = 0
  private readonly timer: NodeJS.Timeout
  readonly counters = { discovered: 0, duplicates: 0, flushed: 0, dropped: 0 }
  private readonly bufferMax: number
  private readonly ignore: ((ih: Buffer) => boolean) | undefined

  constructor (private readonly sink: TriageSink, opts: TriageOptions = {}) {
    this.recent = new LruMap(opts.recentMax ?? 200_000)
    this.hints = new LruMap(opts.hintsMax ?? 50_000)
    this.bufferMax = opts.bufferMax ?? 50_000
    this.ignore = opts.ignore
    this.timer = setInterval(() => this.flush(), opts.flushMs ?? 250)
  }

  add (ih: Buffer, source: string, hint?: PeerAddr): void {
    this.counters.discovered++
    if (this.ignore?.(ih) === true) return
    const key = ih.toString('hex')
    if (hint !== undefined) {
      const h = this.hints.get(key) ?? []
      if (!h.some((p) => p.host === hint.host && p.port === hint.port)) {
        h.push(hint)
        if (h.length > 8) h.shift()
        this.hints.set(key, h)
      }
    }
    if (this.recent.has(key)) { this.counters.duplicates++; return }
    this.recent.set(key, true)
    if (this.buffered >= this.bufferMax) { this.counters.dropped++; return }
    let list = this.buffer.get(source)
    if (list === undefined) { list = []; this.buffer.set(source, list) }
    list.push(ih)
    this.buffered++
  }

  addMany (ihs: Buffer[], source: string): void {
    for (const ih of ihs) this.add(ih, source)
  }

  hintsFor (ih: Buffer): PeerAddr[] {
    return this.hints.get(ih.toString('hex')) ?? []
  }

  flush (): void {
    if (this.buffered === 0) return
    const b = this.buffer
    this.buffer = new Map()
    this.buffered = 0
    for (const [source, ihs] of b) {
      this.sink.noteSeen(ihs, source)
      this.counters.flushed += ihs.length
    }
  }

  close (): void {
    clearInterval(this.timer)
    this.flush()
  }
}
