// Finding members: for every community key, announce our peer port on the day's rendezvous
// infohash (and the neighbouring day's near midnight UTC) and look up who else did. Found
// peers are offered to the membership, which dials them with that infohash in the
// handshake. Announces are repeated well inside the 30-minute lifetime of a DHT peer entry.

import { EventEmitter } from 'node:events'
import type { PeerAddr } from '../core/compact.js'
import { BbmeshError } from '../core/errors.js'
import { silentLogger, type Logger } from '../core/logger.js'

export interface RendezvousTarget { communityId: string, day: string, infohash: Buffer }

export interface RendezvousDht {
  announce: (ih: Buffer, port: number) => Promise<void>
  lookupPeers: (ih: Buffer, opts: { maxPeers: number, timeoutMs: number, signal?: AbortSignal }) => Promise<PeerAddr[]>
}

export interface RendezvousAnnouncerOptions {
  /** The targets for a moment (rendezvousInfohashes(keys, now) of src/coop/rendezvous.ts). */
  targets: (nowMs: number) => RendezvousTarget[]
  peerPort: number
  /** Between two rounds; a DHT peer entry lives ~30 min, so 10 min keeps us listed. */
  intervalMs?: number
  maxPeers?: number
  /** While this says true (e.g. no members yet), rounds run every eagerIntervalMs instead. */
  eager?: () => boolean
  eagerIntervalMs?: number
  now?: () => number
}

export interface RendezvousPeer extends PeerAddr { communityId: string, infohash: Buffer }

export class RendezvousAnnouncer extends EventEmitter<{ peer: [RendezvousPeer], round: [number] }> {
  private timer: NodeJS.Timeout | null = null
  private lastRound = 0
  private readonly ac = new AbortController()
  private running: Promise<void> | null = null
  private closed = false
  readonly counters = { rounds: 0, announces: 0, announceFailures: 0, peersFound: 0 }

  constructor (private readonly dht: RendezvousDht, private readonly opts: RendezvousAnnouncerOptions, private readonly log: Logger = silentLogger) {
    super()
  }

  start (): void {
    if (this.timer !== null || this.closed) return
    this.kick()
    const interval = this.opts.intervalMs ?? 10 * 60_000
    const eagerMs = Math.min(interval, this.opts.eagerIntervalMs ?? 3000)
    // One timer at the faster pace; a round runs when it is due at the pace that applies.
    this.timer = setInterval(() => {
      const due = (this.opts.eager?.() === true) ? eagerMs : interval
      if ((this.opts.now ?? Date.now)() - this.lastRound >= due) this.kick()
    }, eagerMs)
  }

  /** Run a round now (unless one is running): when a member is lost, look again at once. */
  kick (): void {
    if (this.closed || this.running !== null) return
    this.running = this.round().finally(() => { this.running = null })
  }

  private async round (): Promise<void> {
    const now = (this.opts.now ?? Date.now)()
    this.lastRound = now
    let found = 0
    for (const t of this.opts.targets(now)) {
      if (this.closed) return
      try {
        const peers = await this.dht.lookupPeers(t.infohash, { maxPeers: this.opts.maxPeers ?? 64, timeoutMs: 10_000, signal: this.ac.signal })
        for (const p of peers) {
          found++
          this.counters.peersFound++
          this.emit('peer', { host: p.host, port: p.port, communityId: t.communityId, infohash: t.infohash })
        }
        if (this.closed) return
        this.counters.announces++
        await this.dht.announce(t.infohash, this.opts.peerPort)
      } catch (err) {
        if (!(err instanceof BbmeshError)) throw err
        this.counters.announceFailures++
        this.log.debug({ community: t.communityId, day: t.day, err: err.message }, 'rendezvous round failed')
      }
    }
    this.counters.rounds++
    this.emit('round', found)
  }

  async close (): Promise<void> {
    if (this.closed) return
    this.closed = true
    if (this.timer !== null) clearInterval(this.timer)
    this.ac.abort()
    await this.running
    this.removeAllListeners()
  }
}
