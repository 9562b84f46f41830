// Membership: the set of authenticated links to other members of our cooperatives. It
// listens for inbound links on the rendezvous infohashes, dials the peers the rendezvous
// announcer and ut_pex (extensions/ut-pex.ts) offer, keeps one link per member, and backs off
// from addresses that failed or misbehaved. Each member is recorded at its listening address
// (the one we dialled, or for an inbound link its source IP with the BEP-10 `p` port), which is
// what PEX passes on and what offer() checks to avoid dialling a member twice. Bounded:
// members, links in progress, links per IP, watchers, and the back-off table.

import { EventEmitter } from 'node:events'
import { isIPv4, isIPv6 } from 'node:net'
import { PeerConnection } from '../wire/peer-connection.js'
import { PeerServer } from '../wire/peer-server.js'
import { MemberLink } from './member-link.js'
import type { AuthInfo, ExtensionFactory } from '../../extensions/extension.js'
import type { RendezvousTarget } from './rendezvous-announcer.js'
import type { PeerAddr } from '../core/compact.js'
import { LruMap } from '../core/lru.js'
import { BbmeshError } from '../core/errors.js'
import { silentLogger, type Logger } from '../core/logger.js'

export interface Member {
  peerId: Buffer
  host: string
  port: number
  community: string
  /** port is the member's listening port: we dialled it, or its BEP-10 handshake said `p`. */
  listening: boolean
  publisherKey?: Buffer
  since: number
  link: MemberLink
}

export interface MembershipOptions {
  peerId: Buffer
  host?: string
  port?: number
  /** Our extensions, built per link (bb_auth first). */
  factories: () => ExtensionFactory[]
  /** The rendezvous infohashes valid now: inbound links must name one. */
  targets: (nowMs: number) => RendezvousTarget[]
  maxMembers?: number
  maxDialing?: number
  maxPerIp?: number
  backoffBaseMs?: number
  backoffMaxMs?: number
  now?: () => number
  logger?: Logger
}

interface Backoff { until: number, failures: number }

export class Membership extends EventEmitter<{ member: [Member], memberLost: [Member, string] }> {
  private server: PeerServer | null = null
  private readonly byPeerId = new Map<string, Member>()
  private readonly links = new Set<MemberLink>()
  private readonly dialing = new Set<string>()
  private readonly backoff: LruMap<string, Backoff>
  private ownAddress: PeerAddr | null = null
  private readonly watchers = new Set<() => void>()
  private closed = false
  private readonly log: Logger
  readonly counters = { dialed: 0, accepted: 0, authenticated: 0, misbehaved: 0, duplicates: 0, refusedFull: 0 }

  constructor (private readonly o: MembershipOptions) {
    super()
    this.backoff = new LruMap(4096)
    this.log = o.logger ?? silentLogger
  }

  private now (): number { return (this.o.now ?? Date.now)() }

  private acceptsInfohash (ih: Buffer): boolean {
    return this.o.targets(this.now()).some((t) => t.infohash.equals(ih))
  }

  async start (): Promise<PeerAddr> {
    const server = new PeerServer({
      host: this.o.host ?? '0.0.0.0',
      port: this.o.port ?? 0,
      peerId: this.o.peerId,
      accept: (ih) => this.acceptsInfohash(ih),
      maxPerIp: this.o.maxPerIp ?? 4,
      maxConnections: (this.o.maxMembers ?? 64) * 2,
    }, (c) => { this.counters.accepted++; this.adopt(c) })
    this.server = server
    this.ownAddress = await server.start()
    return this.ownAddress
  }

  /** A candidate from the rendezvous or PEX: dial it unless it is us, known, full or backed off. */
  offer (peer: PeerAddr & { infohash: Buffer }): void {
    if (this.closed) return
    const key = `${peer.host}:${peer.port}`
    const own = this.ownAddress
    if (own !== null && peer.port === own.port && (peer.host === own.host || own.host === '0.0.0.0')) return
    if (this.dialing.has(key) || [...this.byPeerId.values()].some((m) => m.host === peer.host && m.port === peer.port)) return
    if (this.byPeerId.size >= (this.o.maxMembers ?? 64)) { this.counters.refusedFull++; return }
    if (this.dialing.size >= (this.o.maxDialing ?? 8)) return
    const b = this.backoff.get(key)
    if (b !== undefined && b.until > this.now()) return
    this.dialing.add(key)
    this.counters.dialed++
    PeerConnection.connect(peer, { infohash: peer.infohash, peerId: this.o.peerId, handshakeTimeoutMs: 10_000, localAddress: this.sourceAddressFor(peer.host) }).then((c) => {
      this.dialing.delete(key)
      if (this.closed) { c.close('membership closed'); return }
      this.adopt(c, key)
    }, (err: unknown) => {
      this.dialing.delete(key)
      if (!(err instanceof BbmeshError)) throw err
      this.penalise(key, 1)
    })
  }

  /**
   * Dial from the address we listen on when it is a specific one of the peer's family, so the
   * remote records our listening IP (on loopback the kernel would pick 127.0.0.1 otherwise).
   */
  private sourceAddressFor (peerHost: string): string | undefined {
    const h = this.o.host
    if (h === undefined || h === '0.0.0.0' || h === '::') return undefined
    if (isIPv4(h) && isIPv4(peerHost)) return h
    if (isIPv6(h) && isIPv6(peerHost)) return h
    return undefined
  }

  private penalise (key: string, weight: number): void {
    const prev = this.backoff.get(key)
    const failures = (prev?.failures ?? 0) + weight
    const ms = Math.min(this.o.backoffMaxMs ?? 10 * 60_000, (this.o.backoffBaseMs ?? 5_000) * 2 ** (failures - 1))
    this.backoff.set(key, { until: this.now() + ms, failures })
  }

  private adopt (c: PeerConnection, dialedKey?: string): void {
    if (c.remote.peerId.equals(this.o.peerId)) { c.close('connected to ourselves'); return }
    const link = new MemberLink(c, this.o.factories(), this.o.peerId, { listenPort: this.ownAddress?.port })
    this.links.add(link)
    const key = dialedKey ?? `${c.remote.host}:${c.remote.port}`
    link.on('misbehaved', (reason) => {
      this.counters.misbehaved++
      this.log.info({ peer: key, reason }, 'member link dropped')
      this.penalise(key, 3)
    })
    link.on('authenticated', (info) => this.onAuthenticated(link, info, dialedKey))
    link.on('close', (reason) => {
      this.links.delete(link)
      const id = c.remote.peerId.toString('hex')
      const m = this.byPeerId.get(id)
      if (m !== undefined && m.link === link) {
        this.byPeerId.delete(id)
        if (dialedKey !== undefined) this.penalise(dialedKey, 1)
        if (!this.closed) { this.emit('memberLost', m, reason); this.notify() }
      }
    })
  }

  private onAuthenticated (link: MemberLink, info: AuthInfo, dialedKey?: string): void {
    const c = link.conn
    const id = c.remote.peerId.toString('hex')
    const existing = this.byPeerId.get(id)
    if (existing !== undefined) {
      // Both dialled at once: keep the link the smaller peer id initiated; both ends agree.
      this.counters.duplicates++
      const smallerIsUs = Buffer.compare(this.o.peerId, c.remote.peerId) < 0
      const keepNew = c.initiator === smallerIsUs
      if (!keepNew) { link.close('duplicate link'); return }
      this.byPeerId.delete(id)
      existing.link.close('duplicate link')
    }
    if (this.byPeerId.size >= (this.o.maxMembers ?? 64)) { this.counters.refusedFull++; link.close('membership full'); return }
    this.counters.authenticated++
    // Dialled links know the member's listening port; inbound ones know it from the BEP-10
    // `p` of the member's handshake (it came before bb_auth), else only its source port. An
    // IPv4 peer seen by a dual-stack listener (::ffff:a.b.c.d) is kept as a.b.c.d, the form
    // PEX and the rendezvous give.
    let host = c.remote.host.replace(/^::ffff:(\d+\.\d+\.\d+\.\d+)$/i, '$1')
    let port = c.remote.port
    let listening = false
    if (dialedKey !== undefined) {
      host = dialedKey.slice(0, dialedKey.lastIndexOf(':'))
      port = Number(dialedKey.slice(dialedKey.lastIndexOf(':') + 1))
      listening = true
    } else {
      const p = c.remoteExt?.port
      if (p !== undefined && Number.isInteger(p) && p > 0 && p < 65536) { port = p; listening = true }
    }
    const m: Member = { peerId: c.remote.peerId, host, port, community: info.community, listening, since: this.now(), link }
    if (info.publisherKey !== undefined) m.publisherKey = info.publisherKey
    this.byPeerId.set(id, m)
    this.emit('member', m)
    this.notify()
  }

  /** Call fn whenever a member joins or is lost (ut_pex sends on changes); returns the unsubscribe. */
  watch (fn: () => void): () => void {
    if (this.closed) return () => {}
    this.watchers.add(fn)
    return () => { this.watchers.delete(fn) }
  }

  private notify (): void {
    for (const fn of [...this.watchers]) fn()
  }

  /** Our peer id on member links. */
  get peerId (): Buffer { return this.o.peerId }

  members (): Member[] { return [...this.byPeerId.values()] }

  address (): PeerAddr | null { return this.ownAddress }

  async close (): Promise<void> {
    if (this.closed) return
    this.closed = true
    for (const l of this.links) l.close('membership closed')
    this.links.clear()
    this.byPeerId.clear()
    this.watchers.clear()
    await this.server?.close()
    this.removeAllListeners()
  }
}
