// A mainline DHT node: bittorrent-dht for routing, lookups, announces and BEP-44, behind
// the KRPC guard. It owns its UDP socket: start() binds it, close() releases everything.
// Fixes of the stock package live here: capped get_peers answers, stored peers that expire,
// an explicit bootstrap list (the package falls back to public routers without one).

import { createSocket, type Socket } from 'node:dgram'
import { EventEmitter } from 'node:events'
import { randomBytes, createHash } from 'node:crypto'
import DHT from 'bittorrent-dht'
import { KrpcGuard, type GuardOptions, type QueryHandler } from './krpc-guard.js'
import type { KrpcQuery } from './krpc-schema.js'
import { encodeNodes, type NodeInfo, type PeerAddr } from '../src/core/compact.js'
import { LIMITS } from '../src/core/limits.js'
import { NetworkError, TimeoutError, AbortedError } from '../src/core/errors.js'
import { silentLogger, type Logger } from '../src/core/logger.js'
import { encode, type BDict, type BValue, type EncodableValue } from '../src/core/bencode.js'

export interface DhtNodeOptions {
  host?: string
  port?: number
  nodeId?: Buffer
  /** Nodes to join through. Always explicit: an empty list means "first node of a new DHT". */
  bootstrap: PeerAddr[]
  guard?: GuardOptions
  /** Peers stored per torrent at most and how long they live (BEP-5 suggests 30 min). */
  maxPeers?: number
  peerMaxAgeMs?: number
  /** k-rpc query timeout. */
  queryTimeoutMs?: number
  /** Parallel queries k-rpc runs before it queues. */
  concurrency?: number
  /** BEP-44 signature check (ed25519), if the node stores mutable items. */
  verify?: VerifyFn
  logger?: Logger
}

class HardenedDHT extends DHT {
  // bittorrent-dht answers get_peers with every stored peer; cap it like libtorrent does.
  _ongetpeers (query: { a: { info_hash: Buffer } }, peer: { address?: string, host?: string, port: number }): void {
    const host = peer.address ?? peer.host ?? ''
    const infoHash = query.a.info_hash
    this.emit('get_peers', infoHash)
    const r: Record<string, unknown> = { id: this._rpc.id, token: this._generateToken(host) }
    const peers = this._peers.get(infoHash.toString('hex'), LIMITS.getPeersMaxValues)
    const rpc = this._rpc as unknown as { response: (...a: unknown[]) => void }
    if (peers.length > 0) {
      r.values = peers
      rpc.response(peer, query, r)
    } else {
      rpc.response(peer, query, r, this._rpc.nodes.closest(infoHash))
    }
  }

  // BEP-44: a put of the item already stored (same seq, same value) SHOULD refresh it; bittorrent-dht
  // answers 302 ("seq less than current"), so a publisher's hourly republish failed on every
  // bbmesh node that held the pointer. The identical item (same key, salt, seq, value and
  // signature, so nothing to verify again) is accepted here; everything else goes on as before.
  override _onput (query: { a?: Record<string, unknown> }, peer: { address?: string, host?: string, port: number }): void {
    const a = query.a
    const k = a?.k
    const sig = a?.sig
    const token = a?.token
    const salt = a?.salt
    if (a !== undefined && k instanceof Uint8Array && sig instanceof Uint8Array && token instanceof Uint8Array && typeof a.seq === 'number' &&
        this._validateToken(peer.address ?? peer.host ?? '', Buffer.from(token))) {
      const target = createHash('sha1').update(k).update(salt instanceof Uint8Array ? salt : new Uint8Array()).digest('hex')
      const prev = this._values.get(target)
      if (prev !== undefined && prev.seq === a.seq && prev.sig !== undefined && Buffer.from(sig).equals(prev.sig) &&
          encode(prev.v as EncodableValue).equals(encode(a.v as EncodableValue))) {
        this._values.set(target, prev) // refresh its place in the LRU
        ;(this._rpc as unknown as { response: (...x: unknown[]) => void }).response(peer, query, { id: this._rpc.id })
        return
      }
    }
    super._onput(query, peer)
  }
}

export interface DhtQueryResult { r: BDict, from: PeerAddr }

export type VerifyFn = (sig: Buffer, msg: Buffer, pubkey: Buffer) => boolean

/** A BEP-44 mutable item as a get found it (signature checked by the VerifyFn given). */
export interface DhtMutableItem { k: Buffer, sig: Buffer, seq: number, v: BValue, salt?: Buffer }

/** k-rpc encodes with bencode 2, which takes only Buffers as strings: convert every Uint8Array. */
function toBuffers (v: BValue): unknown {
  if (v instanceof Uint8Array) return Buffer.isBuffer(v) ? v : Buffer.from(v.buffer, v.byteOffset, v.length)
  if (Array.isArray(v)) return v.map(toBuffers)
  if (typeof v === 'object' && v !== null) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, toBuffers(x)]))
  return v
}

export class DhtNode extends EventEmitter {
  readonly id: Buffer
  private socket: Socket | null = null
  guard: KrpcGuard | null = null
  dht: DHT | null = null
  private closed = false
  private readonly log: Logger

  constructor (readonly opts: DhtNodeOptions) {
    super()
    this.id = opts.nodeId ?? randomBytes(20)
    this.log = opts.logger ?? silentLogger
    // Every lookup adds a 'closing' listener for its lifetime; their number is bounded by the fetcher's concurrency.
    this.setMaxListeners(0)
  }

  /** Bind the socket and join the DHT. Resolves once bootstrap is done (or at once for an empty list). */
  async start (opts: { bootstrapTimeoutMs?: number } = {}): Promise<void> {
    if (this.closed) throw new AbortedError('DHT node is closed')
    const sock = createSocket({ type: 'udp4', recvBufferSize: 4 * 1024 * 1024 })
    this.socket = sock
    await new Promise<void>((resolve, reject) => {
      // close() during the bind closes the socket, and the bind callback never comes.
      const onClosing = (): void => { sock.off('error', reject); reject(new AbortedError('closed during bind')) }
      sock.once('error', reject)
      this.once('closing', onClosing)
      sock.bind(this.opts.port ?? 0, this.opts.host ?? '0.0.0.0', () => { sock.off('error', reject); this.off('closing', onClosing); resolve() })
    })
    const guard = new KrpcGuard(sock, this.opts.guard, this.log)
    this.guard = guard
    guard.on('query', (q: KrpcQuery, rinfo) => this.emit('query', q, { host: rinfo.address, port: rinfo.port }))
    guard.on('warning', (err: Error) => this.log.debug({ err: err.message }, 'dht socket warning'))
    const dht = new HardenedDHT({
      nodeId: this.id,
      socket: guard,
      bootstrap: this.opts.bootstrap.map((p) => `${p.host}:${p.port}`),
      maxPeers: this.opts.maxPeers ?? 100_000,
      maxAge: this.opts.peerMaxAgeMs ?? 30 * 60 * 1000,
      timeout: this.opts.queryTimeoutMs ?? 2000,
      concurrency: this.opts.concurrency ?? 64,
      verify: this.opts.verify,
      maxValues: 10_000,
    })
    this.dht = dht
    dht.setMaxListeners(0)
    dht.on('warning', (err: Error) => this.log.debug({ err: err.message }, 'dht warning'))
    dht.on('error', (err: Error) => this.emit('error', err))
    dht.on('announce', (peer: PeerAddr, infoHash: Buffer) => this.emit('announce', infoHash, peer))
    dht.on('node', (n: NodeInfo) => this.emit('node', n))
    // The socket is already bound: tell the DHT it listens (sets its flag and bucket refresh).
    sock.emit('listening')
    if (this.opts.bootstrap.length === 0) return
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => { dht.off('ready', onReady); resolve() }, opts.bootstrapTimeoutMs ?? 15_000)
      const onReady = (): void => { clearTimeout(t); resolve() }
      dht.once('ready', onReady)
      this.once('closing', () => { clearTimeout(t); reject(new AbortedError('closed during bootstrap')) })
    })
  }

  /** Answer a method here instead of in bittorrent-dht (BEP-51). */
  handle (method: string, handler: QueryHandler): void {
    this.requireStarted().guard.handle(method, handler)
  }

  private requireStarted (): { dht: DHT, guard: KrpcGuard } {
    if (this.dht === null || this.guard === null || this.closed) throw new NetworkError('DHT node is not running')
    return { dht: this.dht, guard: this.guard }
  }

  address (): PeerAddr {
    const a = this.requireStarted().guard.address()
    return { host: a.address === '0.0.0.0' ? '127.0.0.1' : a.address, port: a.port }
  }

  nodeCount (): number {
    return this.dht?.nodes.count() ?? 0
  }

  closestNodes (target: Uint8Array, k = 8): NodeInfo[] {
    if (this.dht === null) return []
    return this.dht.nodes.closest(target, k).map((n) => ({ id: n.id, host: n.host, port: n.port }))
  }

  encodeClosest (target: Uint8Array, k = 8): Buffer {
    return encodeNodes(this.closestNodes(target, k))
  }

  addNode (n: PeerAddr & { id?: Buffer }): void {
    this.dht?.addNode(n)
  }

  /** One KRPC query through k-rpc (so the answer's node joins the routing table). */
  query (to: PeerAddr, q: string, a: Record<string, unknown>): Promise<DhtQueryResult> {
    const { dht } = this.requireStarted()
    return new Promise((resolve, reject) => {
      dht._rpc.query({ host: to.host, port: to.port }, { q, a: { id: this.id, ...a } }, (err, reply) => {
        if (err !== null && err !== undefined) {
          const code = (err as Error & { code?: unknown }).code
          if (code === 'ETIMEDOUT') reject(new TimeoutError(`${q} to ${to.host}:${to.port} timed out`))
          else reject(new NetworkError(`${q} to ${to.host}:${to.port}: ${err.message}`, { cause: err }))
          return
        }
        resolve({ r: (reply?.r ?? {}) as BDict, from: to })
      })
    })
  }

  /** Peers for an infohash from a get_peers traversal, bounded in count and time. */
  lookupPeers (infohash: Buffer, opts: { signal?: AbortSignal, maxPeers?: number, timeoutMs?: number } = {}): Promise<PeerAddr[]> {
    const { dht } = this.requireStarted()
    const max = opts.maxPeers ?? 32
    const found = new Map<string, PeerAddr>()
    return new Promise((resolve) => {
      let abort: (() => void) | null = null
      const finish = (): void => {
        clearTimeout(timer)
        dht.off('peer', onPeer)
        opts.signal?.removeEventListener('abort', finish)
        this.off('closing', finish)
        abort?.()
        resolve([...found.values()])
      }
      const onPeer = (peer: PeerAddr, ih: Buffer): void => {
        if (!ih.equals(infohash)) return
        found.set(`${peer.host}:${peer.port}`, { host: peer.host, port: peer.port })
        if (found.size >= max) finish()
      }
      const timer = setTimeout(finish, opts.timeoutMs ?? 10_000)
      dht.on('peer', onPeer)
      opts.signal?.addEventListener('abort', finish, { once: true })
      this.once('closing', finish)
      abort = dht.lookup(infohash, () => finish())
    })
  }

  announce (infohash: Buffer, port: number): Promise<void> {
    const { dht } = this.requireStarted()
    return new Promise((resolve, reject) => {
      dht.announce(infohash, port, (err) => { if (err !== null && err !== undefined) reject(new NetworkError(`announce failed: ${err.message}`, { cause: err })); else resolve() })
    })
  }

  /**
   * BEP-44 mutable get (a get traversal toward target): the verified item of highest seq, or
   * null. `verify` checks each answer's signature; answers under another key or salt are
   * dropped by bittorrent-dht (SHA-1(k ‖ salt) must equal target). Our own store is not read.
   */
  getMutable (target: Buffer, opts: { salt?: Buffer, verify: VerifyFn }): Promise<DhtMutableItem | null> {
    const { dht } = this.requireStarted()
    return new Promise((resolve, reject) => {
      const onClosing = (): void => reject(new AbortedError('DHT node closed during a get'))
      this.once('closing', onClosing)
      dht.get(target, { salt: opts.salt, verify: opts.verify, cache: false }, (err, res) => {
        this.off('closing', onClosing)
        if (err !== null && err !== undefined) { reject(new NetworkError(`get ${target.toString('hex')}: ${err.message}`, { cause: err })); return }
        const r = res as { k?: unknown, sig?: unknown, seq?: unknown, v?: unknown } | null
        if (r === null || r === undefined || !(r.k instanceof Uint8Array) || !(r.sig instanceof Uint8Array) || typeof r.seq !== 'number' || r.v === undefined) { resolve(null); return }
        resolve({ k: Buffer.from(r.k), sig: Buffer.from(r.sig), seq: r.seq, v: r.v as BValue, ...(opts.salt !== undefined ? { salt: opts.salt } : {}) })
      })
    })
  }

  /**
   * BEP-44 mutable put of a signed item to the nodes closest to its target (a get traversal
   * first for their write tokens, unless one ran lately). `cas`: the seq we expect them to hold
   * (BEP-44 compare-and-swap). Resolves with the number of nodes that accepted it.
   */
  putMutable (item: { k: Buffer, salt?: Buffer, seq: number, v: BValue, sig: Buffer, cas?: number }): Promise<number> {
    const { dht } = this.requireStarted()
    return new Promise((resolve, reject) => {
      const onClosing = (): void => reject(new AbortedError('DHT node closed during a put'))
      this.once('closing', onClosing)
      const opts: Record<string, unknown> = { k: item.k, seq: item.seq, v: toBuffers(item.v), sig: item.sig }
      if (item.salt !== undefined && item.salt.length > 0) opts.salt = item.salt
      if (item.cas !== undefined) opts.cas = item.cas
      try {
        dht.put(opts, (err, _key, n) => {
          this.off('closing', onClosing)
          if (err !== null && err !== undefined) reject(new NetworkError(`put: ${err.message}`, { cause: err }))
          else resolve(n ?? 0)
        })
      } catch (err) {
        this.off('closing', onClosing)
        reject(new NetworkError(`put: ${(err as Error).message}`, { cause: err }))
      }
    })
  }

  async close (): Promise<void> {
    if (this.closed) return
    this.closed = true
    this.emit('closing')
    const dht = this.dht
    if (dht !== null) {
      await new Promise<void>((resolve) => {
        try { dht.destroy(() => resolve()) } catch { resolve() }
        setTimeout(resolve, 1000).unref()
      })
    } else {
      this.socket?.close()
    }
    this.guard?.close()
    this.removeAllListeners()
  }
}

