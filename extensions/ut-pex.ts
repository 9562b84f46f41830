// ut_pex (BEP-11) inside the rendezvous swarm: members tell each other the listening
// addresses of the other members they hold, so a member that found only one of them (the DHT
// rendezvous gave it a partial view, or it was offered one address) links with all of them.
//
// It keeps the standard name, so it is not a bb_* extension and the registry does not gate it
// (requiresAuth false, no session tag: the payload is plain BEP-11). It gates itself:
//   - it sends only on a link that has passed bb_auth, and only members of the community that
//     link proved, never the remote itself, only addresses known to be listening ones;
//   - it ignores, without decoding, penalty or answer, every message that arrives before
//     bb_auth passed (a libtorrent peer on the rendezvous infohash is not a member, and its
//     ut_pex is not trusted);
//   - sends: the first message `firstDelayMs` (1 s) after bb_auth, then at most one every
//     60 s, and only when something changed (added: members it has not told this remote of;
//     dropped: members told of and lost since), at most 50 of each (the rest go next time);
//   - receives: one message a minute is acted upon (PexRateGate, the first at once); its added
//     peers are offered to Membership with the link's rendezvous infohash; dropped peers are
//     ignored (a lost member's link closes by itself). A payload that does not decode from an
//     authenticated member is a violation (the codec's typed error; the registry drops the link).
// See docs/protocol.md "ut_pex (BEP-11)".

import { isIPv4, isIPv6 } from 'node:net'
import type { AuthInfo, Extension, ExtensionContext, ExtensionFactory } from './extension.js'
import { decodePex, encodePex, PexRateGate, PEX_MAX_MESSAGE, PEX_MAX_PEERS, PEX_MIN_INTERVAL_MS } from './ut-pex.codec.js'
import type { PeerAddr } from '../src/core/compact.js'

export const UT_PEX = 'ut_pex'
/** Delay from bb_auth to the first message: the member sets on both ends settle first. */
export const PEX_FIRST_DELAY_MS = 1000

/** A member as PEX sees it (Membership's Member fits). */
export interface PexMemberView {
  readonly peerId: Buffer
  readonly host: string
  readonly port: number
  readonly community: string
  /** port is the member's listening port (we dialled it, or its BEP-10 handshake said `p`). */
  readonly listening: boolean
}

/** Where PEX reads the members from and hands the peers it learns to (Membership fits). */
export interface PexSource {
  members: () => readonly PexMemberView[]
  offer: (peer: PeerAddr & { infohash: Buffer }) => void
  /** Call fn whenever the member set changes; returns the unsubscribe. Without it PEX polls every interval. */
  watch?: (fn: () => void) => () => void
}

export interface UtPexCounters {
  /** Messages sent, and the peers they carried. */
  messagesSent: number
  addedSent: number
  droppedSent: number
  /** Messages from authenticated members acted upon. */
  messagesAccepted: number
  /** Messages that arrived before bb_auth passed (ignored, not decoded). */
  ignoredUnauthenticated: number
  /** Messages within a minute of the last one acted upon (decoded, then ignored). */
  rateLimited: number
  /** Peers handed to the source's offer. */
  offered: number
}

export function newPexCounters (): UtPexCounters {
  return { messagesSent: 0, addedSent: 0, droppedSent: 0, messagesAccepted: 0, ignoredUnauthenticated: 0, rateLimited: 0, offered: 0 }
}

export interface UtPexOptions {
  source: PexSource
  firstDelayMs?: number
  /** Least time between two messages, sent or acted upon (BEP-11: a minute). */
  intervalMs?: number
  schedule?: (ms: number, fn: () => void) => () => void
  now?: () => number
  /** Shared counters (summed over the links built by this factory). */
  counters?: UtPexCounters
}

function defaultSchedule (ms: number, fn: () => void): () => void {
  const t = setTimeout(fn, ms)
  t.unref?.()
  return () => clearTimeout(t)
}

export function utPex (o: UtPexOptions): ExtensionFactory {
  const counters = o.counters ?? newPexCounters()
  return (ctx: ExtensionContext): Extension => new UtPex(ctx, o, counters)
}

/** IPv4-mapped IPv6 (a dual-stack listener's view of an IPv4 peer) as plain IPv4. */
function plainHost (host: string): string {
  const m = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(host)
  return m === null ? host : m[1]
}

const keyOf = (p: PeerAddr): string => `${p.host} ${p.port}`

class UtPex implements Extension {
  readonly name = UT_PEX
  readonly maxMessage = PEX_MAX_MESSAGE
  readonly requiresAuth = false
  private readonly gate: PexRateGate
  private readonly interval: number
  private readonly schedule: (ms: number, fn: () => void) => () => void
  private readonly now: () => number
  /** What the remote has been told it can reach through us. */
  private readonly told = new Map<string, PeerAddr>()
  private community: string | null = null
  private lastSent = -Infinity
  private firstDone = false
  private cancelTimer: (() => void) | null = null
  private timerAt = Infinity
  private unwatch: (() => void) | null = null
  private closed = false

  constructor (private readonly ctx: ExtensionContext, private readonly o: UtPexOptions, private readonly counters: UtPexCounters) {
    this.interval = o.intervalMs ?? PEX_MIN_INTERVAL_MS
    this.now = o.now ?? Date.now
    this.schedule = o.schedule ?? defaultSchedule
    this.gate = new PexRateGate(this.now, this.interval)
  }

  onAuthenticated (info: AuthInfo): void {
    if (this.closed || this.community !== null) return
    this.community = info.community
    this.arm(this.now() + (this.o.firstDelayMs ?? PEX_FIRST_DELAY_MS))
    if (this.o.source.watch !== undefined) this.unwatch = this.o.source.watch(() => this.changed())
  }

  onMessage (payload: Buffer): void {
    // Before bb_auth the remote is nobody we trust: not decoded, not answered, not penalised.
    if (this.community === null || !this.ctx.authenticated()) { this.counters.ignoredUnauthenticated++; return }
    const msg = decodePex(payload)
    if (!this.gate.accept()) { this.counters.rateLimited++; return }
    this.counters.messagesAccepted++
    for (const p of msg.added) {
      this.counters.offered++
      this.o.source.offer({ host: p.host, port: p.port, infohash: this.ctx.infohash })
    }
  }

  close (): void {
    if (this.closed) return
    this.closed = true
    this.cancelTimer?.()
    this.cancelTimer = null
    this.unwatch?.()
    this.unwatch = null
  }

  /** The member set changed: send as soon as the minute since the last message allows. */
  private changed (): void {
    if (this.closed || !this.firstDone) return
    this.arm(Math.max(this.now(), this.lastSent + this.interval))
  }

  /** Flush at `at`, unless a flush is already due sooner. */
  private arm (at: number): void {
    if (this.closed || (this.cancelTimer !== null && this.timerAt <= at)) return
    this.cancelTimer?.()
    this.timerAt = at
    this.cancelTimer = this.schedule(Math.max(0, at - this.now()), () => {
      this.cancelTimer = null
      this.timerAt = Infinity
      this.flush()
    })
  }

  /** The listening addresses of our other members of this link's community, now. */
  private current (): Map<string, PeerAddr> {
    const out = new Map<string, PeerAddr>()
    for (const m of this.o.source.members()) {
      if (m.community !== this.community || !m.listening || m.peerId.equals(this.ctx.remote.peerId)) continue
      const host = plainHost(m.host)
      if (!(isIPv4(host) || isIPv6(host)) || !(m.port > 0 && m.port < 65536)) continue
      const p = { host, port: m.port }
      out.set(keyOf(p), p)
    }
    return out
  }

  private flush (): void {
    if (this.closed || this.community === null || !this.ctx.authenticated()) return
    this.firstDone = true
    const polling = this.o.source.watch === undefined
    if (!this.ctx.remoteSupports()) return
    const now = this.now()
    if (now - this.lastSent < this.interval) { this.arm(this.lastSent + this.interval); return }
    const cur = this.current()
    const added = [...cur].filter(([k]) => !this.told.has(k))
    const dropped = [...this.told].filter(([k]) => !cur.has(k))
    const a = added.slice(0, PEX_MAX_PEERS)
    const d = dropped.slice(0, PEX_MAX_PEERS)
    if (a.length + d.length > 0) {
      this.ctx.send(encodePex({ added: a.map(([, p]) => p), dropped: d.map(([, p]) => p) }))
      for (const [k, p] of a) this.told.set(k, p)
      for (const [k] of d) this.told.delete(k)
      this.lastSent = now
      this.counters.messagesSent++
      this.counters.addedSent += a.length
      this.counters.droppedSent += d.length
    }
    // More than 50 waiting, or no change notifications: look again in a minute.
    if (polling || added.length > a.length || dropped.length > d.length) this.arm(Math.max(now, this.lastSent) + this.interval)
  }
}
