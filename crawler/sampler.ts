// BEP-51 sampler: walks a keyspace region by asking nodes for sample_infohashes with a
// `target` inside the region, so the `nodes` they return lead further into it. Every remote
// node's `interval` is kept and the node is never asked again before it has passed (a floor
// of minRevisitMs applies when a node says 0). Every sample of every answer is used. Nodes
// outside the regions are passed over (in a cooperative another member samples them).

import { EventEmitter } from 'node:events'
import { randomBytes } from 'node:crypto'
import type { DhtNode } from './dht-node.js'
import { decodeNodes, type NodeInfo } from '../src/core/compact.js'
import { inRegion, randomInRegion, WHOLE_KEYSPACE, type Region } from '../src/core/infohash.js'
import { LIMITS } from '../src/core/limits.js'
import { TimeoutError, BbmeshError } from '../src/core/errors.js'
import { MinHeap } from '../src/core/min-heap.js'
import { LruMap } from '../src/core/lru.js'
import { silentLogger, type Logger } from '../src/core/logger.js'

export interface SamplerOptions {
  /** One region, or several (a cooperative may give a member more than one prefix). */
  region?: Region
  regions?: Region[]
  /** Nodes remembered at most (the pool). */
  maxNodes?: number
  /** sample_infohashes queries in flight at most. */
  concurrency?: number
  /** Least time between two queries to one node, even if it says interval 0. */
  minRevisitMs?: number
  /** How often the loop looks for due nodes. */
  tickMs?: number
  /** Timeouts in a row before a node is forgotten. */
  maxFailures?: number
}

const OUT_OF_REGION_RECHECK_MS = 10_000

export interface SamplerStats {
  nodesKnown: number
  nodesInRegion: number
  inflight: number
  queries: number
  answers: number
  timeouts: number
  errors: number
  unsupported: number
  samples: number
  /** Times a node outside our regions was passed over (another member samples it). */
  outOfRegion: number
}

interface Entry {
  key: string
  id: Buffer | null
  host: string
  port: number
  nextAt: number
  fails: number
  inRegion: boolean
  dead: boolean
}

export class Sampler extends EventEmitter {
  private regions: Region[]
  /** Whether the regions cover the whole keyspace (then no node is passed over). */
  private whole: boolean
  private readonly pool = new Map<string, Entry>()
  private readonly due = new MinHeap<Entry>((a, b) => a.nextAt - b.nextAt)
  /** Nodes that answered 204: other nodes keep listing them in `nodes`, so remember to skip them. */
  private readonly unsupported: LruMap<string, true>
  private inflight = 0
  private timer: NodeJS.Timeout | null = null
  private closed = false
  private lastSeed = 0
  private readonly o: Required<Omit<SamplerOptions, 'region' | 'regions'>>
  private readonly log: Logger
  readonly stats: SamplerStats = { nodesKnown: 0, nodesInRegion: 0, inflight: 0, queries: 0, answers: 0, timeouts: 0, errors: 0, unsupported: 0, samples: 0, outOfRegion: 0 }

  constructor (private readonly deps: { node: DhtNode, now?: () => number, logger?: Logger }, opts: SamplerOptions = {}) {
    super()
    this.regions = opts.regions ?? [opts.region ?? WHOLE_KEYSPACE]
    if (this.regions.length === 0) throw new RangeError('sampler: no region')
    this.whole = this.regions.some((r) => r.bits === 0)
    this.o = {
      maxNodes: opts.maxNodes ?? 50_000,
      concurrency: opts.concurrency ?? 32,
      minRevisitMs: opts.minRevisitMs ?? 60_000,
      tickMs: opts.tickMs ?? 20,
      maxFailures: opts.maxFailures ?? 3,
    }
    this.log = deps.logger ?? silentLogger
    this.unsupported = new LruMap(this.o.maxNodes)
  }

  private now (): number { return (this.deps.now ?? Date.now)() }

  start (): void {
    if (this.timer !== null || this.closed) return
    this.deps.node.on('node', this.onNode)
    this.seedFromTable()
    this.timer = setInterval(() => this.tick(), this.o.tickMs)
  }

  /** Steer into another region (the cooperative reassigns regions as members come and go). */
  setRegion (r: Region): void { this.setRegions([r]) }

  setRegions (rs: Region[]): void {
    if (rs.length === 0) throw new RangeError('sampler: no region')
    this.regions = rs
    this.whole = rs.some((r) => r.bits === 0)
    for (const e of this.pool.values()) e.inRegion = e.id !== null && this.inRegions(e.id)
  }

  getRegions (): Region[] { return this.regions }

  private inRegions (id: Uint8Array): boolean { return this.regions.some((r) => inRegion(id, r)) }

  /** A target inside one of our regions, chosen at random. */
  private target (): Buffer {
    return randomInRegion(this.regions[Math.floor(Math.random() * this.regions.length)], randomBytes)
  }

  private readonly onNode = (n: NodeInfo): void => { this.addNode(n) }

  /** Offer a node to the pool (from the routing table, an answer's `nodes`, or a get_peers). */
  addNode (n: { id?: Buffer | null, host: string, port: number }): void {
    if (n.port <= 0 || n.port > 65535) return
    // Other nodes list ours in their `nodes` answers: asking ourselves is a wasted query.
    if (n.id != null && this.deps.node.id.equals(n.id)) return
    const key = `${n.host}:${n.port}`
    if (this.pool.has(key) || this.unsupported.has(key)) return
    if (this.pool.size >= this.o.maxNodes) return
    const e: Entry = { key, id: n.id ?? null, host: n.host, port: n.port, nextAt: this.now(), fails: 0, inRegion: n.id != null && this.inRegions(n.id), dead: false }
    this.pool.set(key, e)
    this.due.push(e)
  }

  private seedFromTable (): void {
    this.lastSeed = this.now()
    const target = this.target()
    for (const n of this.deps.node.closestNodes(target, 64)) this.addNode(n)
  }

  private tick (): void {
    if (this.closed) return
    const now = this.now()
    if (this.pool.size < 8 && now - this.lastSeed > 2000) this.seedFromTable()
    let budget = this.o.concurrency - this.inflight
    let scanned = 0
    while (budget > 0 && this.due.size > 0 && scanned < 256) {
      const top = this.due.peek() as Entry
      if (top.nextAt > now) break
      this.due.pop()
      scanned++
      if (top.dead) continue
      if (!top.inRegion && top.id !== null && !this.whole) {
        // Another member of the cooperative samples this node; look again later, in case the
        // regions change (its interval bookkeeping is kept meanwhile).
        this.stats.outOfRegion++
        top.nextAt = Math.max(top.nextAt, now + OUT_OF_REGION_RECHECK_MS)
        this.due.push(top)
        continue
      }
      const wait = this.deps.node.guard?.pacer.waitFor(top.host) ?? 0
      if (wait > 0) {
        // Per-IP or global budget is spent: come back when it is not, rather than queue.
        top.nextAt = now + wait
        this.due.push(top)
        continue
      }
      budget--
      void this.ask(top)
    }
    this.stats.nodesKnown = this.pool.size
    this.stats.inflight = this.inflight
  }

  private async ask (e: Entry): Promise<void> {
    this.inflight++
    this.stats.queries++
    const target = this.target()
    try {
      const { r } = await this.deps.node.query({ host: e.host, port: e.port }, 'sample_infohashes', { target })
      if (this.closed) return
      this.stats.answers++
      e.fails = 0
      const id = r.id as Buffer
      e.id = Buffer.from(id)
      e.inRegion = this.inRegions(e.id)
      const interval = typeof r.interval === 'number' ? Math.min(r.interval, LIMITS.bep51MaxInterval) : LIMITS.bep51MaxInterval
      e.nextAt = this.now() + Math.max(interval * 1000, this.o.minRevisitMs)
      this.due.push(e)
      if (r.samples instanceof Uint8Array && r.samples.length >= 20) {
        const n = Math.floor(r.samples.length / 20)
        const ihs: Buffer[] = []
        for (let i = 0; i < n; i++) ihs.push(Buffer.from(r.samples.subarray(i * 20, i * 20 + 20)))
        this.stats.samples += ihs.length
        this.emit('samples', ihs, { id: e.id, host: e.host, port: e.port }, typeof r.num === 'number' ? r.num : ihs.length)
      }
      if (r.nodes instanceof Uint8Array) {
        for (const n of decodeNodes(r.nodes, 64)) this.addNode(n)
      }
    } catch (err) {
      if (this.closed) return
      if (!(err instanceof BbmeshError)) throw err
      const code = (err.cause as { code?: unknown } | undefined)?.code
      if (code === 204) {
        // Does not speak BEP-51: keep it out of the sampling pool.
        this.stats.unsupported++
        if (this.log.isLevelEnabled('debug')) this.log.debug({ node: e.key }, 'node does not answer sample_infohashes (204): left out of sampling')
        this.unsupported.set(e.key, true)
        this.forget(e)
      } else {
        if (err instanceof TimeoutError) this.stats.timeouts++
        else this.stats.errors++
        e.fails++
        if (e.fails >= this.o.maxFailures) this.forget(e)
        else { e.nextAt = this.now() + 30_000 * e.fails; this.due.push(e) }
      }
    } finally {
      this.inflight--
    }
  }

  private forget (e: Entry): void {
    e.dead = true
    this.pool.delete(e.key)
  }

  /** When a node may next be asked (for tests of the interval bookkeeping). */
  nextQueryAt (host: string, port: number): number | undefined {
    return this.pool.get(`${host}:${port}`)?.nextAt
  }

  snapshot (): SamplerStats {
    let inR = 0
    for (const e of this.pool.values()) if (e.inRegion) inR++
    return { ...this.stats, nodesKnown: this.pool.size, nodesInRegion: inR, inflight: this.inflight }
  }

  close (): void {
    if (this.closed) return
    this.closed = true
    if (this.timer !== null) clearInterval(this.timer)
    this.timer = null
    this.deps.node.off('node', this.onNode)
    this.pool.clear()
    this.unsupported.clear()
    this.removeAllListeners()
  }
}
