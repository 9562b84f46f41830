// The cooperative side of fetching (DESIGN.md "Pooling work"):
// - before going to the swarm for H, pull H over bb_meta from a member known to hold it
//   (bb_have, or its bb_bloom filter);
// - fetch ownership: the owner of H is the XOR-closest of every owner-eligible member known,
//   linked or reported by a linked member (bb_have views), so members agree on owners before
//   every pair has linked; a non-owner waits a bounded time, then fetches itself (liveness);
// - what a member indexes is pushed (bb_have) to every member not known to hold it, relayed
//   once by each receiver, so it spreads over a partial mesh; a receiver queues it and pulls
//   it: every member ends with every torrent;
// - when a member's filter arrives, what we hold and it lacks is pushed (catch-up after a
//   restart);
// - what we discover (samples, announces) is forwarded to its owner (bb_samples).
// Contribution modes: full (all of it), consumer (receives and relays, shares nothing of its
// own, owns nothing), source (shares, receives nothing, fetches everything itself), leech
// (receives only).

import { bbHave, type BbHaveHandle, type ContributionMode } from '../../extensions/bb-have.js'
import { bbMeta, type BbMetaHandle, type MetaSource } from '../../extensions/bb-meta.js'
import { bbBloom } from '../../extensions/bb-bloom.js'
import { bbSamples, type BbSamplesHandle } from '../../extensions/bb-samples.js'
import { BB_HAVE_MAX_VIEW } from '../../extensions/bb-have.codec.js'
import { InfohashBloom } from './infohash-bloom.js'
import type { ExtensionFactory } from '../../extensions/extension.js'
import { LruMap } from '../core/lru.js'
import { closestMember } from './ownership.js'
import { BbmeshError } from '../core/errors.js'
import { silentLogger, type Logger } from '../core/logger.js'

interface MemberState {
  // Sets: two links to one member can overlap for a moment (both dialled at once).
  haves: Set<BbHaveHandle>
  metas: Set<BbMetaHandle>
  samples: Set<BbSamplesHandle>
  /** The member's whole filter from bb_bloom (what it held when it linked). */
  bloom: InfohashBloom | null
  /** Infohashes this member holds that we know of since (bb_have both ways; bounded). */
  held: LruMap<string, true>
  /** Owner-eligible members this member is linked to (its last bb_have view). */
  view: Buffer[]
  /** Waiting to be pushed to this member with bb_have / bb_samples. */
  pushQueue: Buffer[]
  sampleQueue: Buffer[]
}

export interface CoopFetchOptions {
  nodeId: Buffer
  source: MetaSource
  mode?: ContributionMode
  /** Every infohash we hold now (both keys of a hybrid), for our bb_bloom filter and catch-up pushes. */
  held?: () => Iterable<Buffer>
  /** A member told us of these infohashes (it holds them, or we own them): queue them for a fetch. */
  onLearn?: (ihs: Buffer[], source: 'member' | 'member-sample') => void
  /** Longest wait for the owning member before fetching from the swarm ourselves. */
  ownerWaitMs?: number
  /**
   * After start, how long swarm fetches wait for the first members to link (rendezvous,
   * dial, bb_auth): otherwise every member of a fresh cooperative fetches everything itself.
   */
  joinGraceMs?: number
  /** Our own infohashes wait a random time up to this before their first swarm fetch (default 2 s). */
  ownerJitterMs?: number
  /** How often a deferred infohash is looked at again. */
  recheckMs?: number
  heldPerMember?: number
  /** Most keys checked against a new member's filter for the catch-up push. */
  catchUpMax?: number
  now?: () => number
  logger?: Logger
}

/** Whether a member in this mode fetches for the others (is ever an owner). */
export function ownsFetches (mode: ContributionMode): boolean { return mode === 'full' || mode === 'source' }

const QUEUE_MAX = 50_000

export class CoopFetch {
  private readonly members = new Map<string, MemberState>()
  private readonly waitingSince = new LruMap<string, number>(100_000)
  private readonly jittered = new LruMap<string, true>(100_000)
  private readonly timer: NodeJS.Timeout
  readonly counters = { fromMembers: 0, memberMisses: 0, deferred: 0, ownerTimeouts: 0, pushed: 0, relayed: 0, catchUp: 0, samplesSent: 0, samplesReceived: 0, samplesDropped: 0, learned: 0, queueDropped: 0 }
  private readonly log: Logger
  private readonly graceUntil: number
  private local: InfohashBloom | null = null
  private capacity = 0
  private owners: Buffer[] | null = null
  private viewDirty = false
  readonly mode: ContributionMode

  constructor (private readonly o: CoopFetchOptions) {
    this.log = o.logger ?? silentLogger
    this.mode = o.mode ?? 'full'
    this.graceUntil = this.now() + (o.joinGraceMs ?? 15_000)
    this.rebuildLocal()
    this.timer = setInterval(() => this.flush(), 200)
    this.timer.unref()
  }

  private now (): number { return (this.o.now ?? Date.now)() }

  private state (peerIdHex: string): MemberState {
    let s = this.members.get(peerIdHex)
    if (s === undefined) {
      s = { haves: new Set(), metas: new Set(), samples: new Set(), bloom: null, held: new LruMap(this.o.heldPerMember ?? 200_000), view: [], pushQueue: [], sampleQueue: [] }
      this.members.set(peerIdHex, s)
    }
    return s
  }

  /** Our filter, sized with room to grow; rebuilt from the store when it fills up. */
  private rebuildLocal (): void {
    const all = [...(this.o.held?.() ?? [])]
    const f = InfohashBloom.forCapacity(Math.max(100_000, all.length * 2))
    for (const ih of all) f.add(ih)
    this.local = f
    this.capacity = Math.max(100_000, all.length * 2)
  }

  private changed (): void { this.owners = null; this.viewDirty = true }

  /** The extensions a member link carries for pooling (after bb_auth). */
  factories (): ExtensionFactory[] {
    const key = (h: { remote: { peerId: Buffer } }): string => h.remote.peerId.toString('hex')
    return [
      bbHave({
        nodeId: this.o.nodeId,
        mode: this.mode,
        onOpen: (h) => { this.state(key(h)).haves.add(h); this.changed() },
        onClose: (h) => { this.members.get(key(h))?.haves.delete(h); this.prune(key(h)); this.changed() },
        onHave: (ihs, from) => {
          const s = this.state(key(from))
          for (const ih of ihs) s.held.set(ih.toString('hex'), true)
          if (this.mode !== 'source') { this.counters.learned += ihs.length; this.o.onLearn?.(ihs, 'member') }
        },
        onView: (ids, from) => {
          this.state(key(from)).view = ids.filter((id) => !id.equals(this.o.nodeId))
          this.owners = null
        },
      }),
      bbBloom({
        // A leech shares nothing: it shows no filter.
        local: () => this.mode === 'leech' ? null : this.local,
        onFilter: (remote, f) => { const s = this.state(remote.peerId.toString('hex')); s.bloom = f; this.catchUp(s, f) },
      }),
      bbMeta({
        source: this.o.source,
        onOpen: (h) => { this.state(key(h)).metas.add(h) },
        onClose: (h) => { this.members.get(key(h))?.metas.delete(h); this.prune(key(h)) },
      }),
      bbSamples({
        onOpen: (h) => { this.state(key(h)).samples.add(h) },
        onClose: (h) => { this.members.get(key(h))?.samples.delete(h); this.prune(key(h)) },
        onSamples: (ihs) => {
          this.counters.samplesReceived += ihs.length
          if (ownsFetches(this.mode)) this.o.onLearn?.(ihs, 'member-sample')
        },
        onDropped: (n) => { this.counters.samplesDropped += n },
      }),
    ]
  }

  private prune (id: string): void {
    const s = this.members.get(id)
    if (s !== undefined && s.haves.size === 0 && s.metas.size === 0 && s.samples.size === 0) this.members.delete(id)
  }

  /** Push to a new member what we hold and its filter lacks (bounded), unless we share nothing. */
  private catchUp (s: MemberState, f: InfohashBloom): void {
    if (this.mode === 'leech' || this.mode === 'consumer' || first(s.haves)?.mode === 'source') return
    let checked = 0
    for (const ih of this.o.held?.() ?? []) {
      if (++checked > (this.o.catchUpMax ?? 200_000)) break
      if (f.has(ih)) continue
      this.enqueue(s.pushQueue, ih)
      this.counters.catchUp++
    }
  }

  private enqueue (q: Buffer[], ih: Buffer): void {
    if (q.length >= QUEUE_MAX) { this.counters.queueDropped++; return }
    q.push(ih)
  }

  /**
   * We indexed these keys (both keys of a hybrid). `from` is the member we pulled them from
   * (hex peer id), undefined for a swarm fetch. Pushed to every member not known to hold them,
   * as the mode allows: full pushes all, source its own, consumer only what it relays.
   */
  indexed (ihs: Buffer[], from?: string): void {
    for (const ih of ihs) this.local?.add(ih)
    if (this.local !== null && this.local.count > this.capacity) this.rebuildLocal()
    const relayed = from !== undefined
    const share = this.mode === 'full' || (this.mode === 'source' && !relayed) || (this.mode === 'consumer' && relayed)
    if (!share) return
    if (relayed) this.counters.relayed += ihs.length
    for (const [id, s] of this.members) {
      if (id === from || first(s.haves)?.mode === 'source') continue
      for (const ih of ihs) {
        const k = ih.toString('hex')
        if (s.held.has(k)) continue
        s.held.set(k, true)
        this.enqueue(s.pushQueue, ih)
      }
    }
    // A swarm fetch is pushed at once: a member about to fetch the other key of a hybrid
    // pulls it instead.
    if (!relayed) this.flush()
  }

  /** Infohashes we discovered: forward each to its owner when that is a linked member. */
  discovered (ihs: Buffer[]): void {
    if (!ownsFetches(this.mode) || this.members.size === 0) return
    const owners = this.ownerIds()
    if (owners.length < 2) return
    const byId = new Map<string, MemberState>()
    for (const s of this.members.values()) { const id = first(s.haves)?.nodeId; if (id != null) byId.set(id.toString('hex'), s) }
    for (const ih of ihs) {
      const owner = owners[closestMember(ih, owners)]
      if (owner.equals(this.o.nodeId)) continue
      const s = byId.get(owner.toString('hex'))
      if (s === undefined || s.samples.size === 0) continue
      this.enqueue(s.sampleQueue, ih)
    }
  }

  private flush (): void {
    for (const s of this.members.values()) {
      if (s.pushQueue.length > 0) {
        const h = first(s.haves)
        if (h !== undefined) { h.push(s.pushQueue); this.counters.pushed += s.pushQueue.length }
        s.pushQueue = []
      }
      if (s.sampleQueue.length > 0) {
        const h = first(s.samples)
        if (h !== undefined) { h.send(s.sampleQueue); this.counters.samplesSent += s.sampleQueue.length }
        s.sampleQueue = []
      }
    }
    if (this.viewDirty) {
      this.viewDirty = false
      const view = this.linkedOwners().slice(0, BB_HAVE_MAX_VIEW)
      for (const s of this.members.values()) first(s.haves)?.sendView(view)
    }
  }

  /** Node IDs of the linked members that own fetches. */
  private linkedOwners (): Buffer[] {
    const out: Buffer[] = []
    for (const s of this.members.values()) {
      const h = first(s.haves)
      if (h?.nodeId != null && ownsFetches(h.mode)) out.push(h.nodeId)
    }
    return out
  }

  /** Every owner-eligible member known (linked or in a linked member's view), us included if we own fetches. */
  private ownerIds (): Buffer[] {
    if (this.owners !== null) return this.owners
    const seen = new Map<string, Buffer>()
    if (ownsFetches(this.mode)) seen.set(this.o.nodeId.toString('hex'), this.o.nodeId)
    for (const id of this.linkedOwners()) seen.set(id.toString('hex'), id)
    for (const s of this.members.values()) {
      if (s.haves.size === 0) continue
      for (const id of s.view) { if (seen.size >= 4096) break; seen.set(id.toString('hex'), id) }
    }
    this.owners = [...seen.values()]
    return this.owners
  }

  /** Pull H from a member that announced it; null when none has it or all failed. */
  async tryMembers (ih: Buffer, signal?: AbortSignal): Promise<{ raw: Buffer, kind: 'v1' | 'v2', from: string } | null> {
    if (this.mode === 'source') return null
    const key = ih.toString('hex')
    for (const [id, s] of this.members) {
      const meta = first(s.metas)
      if (meta === undefined || !(s.held.has(key) || s.bloom?.has(ih) === true)) continue
      try {
        const r = await meta.fetch(ih, { signal, timeoutMs: 10_000 })
        this.counters.fromMembers++
        this.waitingSince.delete(key)
        return { ...r, from: id }
      } catch (err) {
        if (!(err instanceof BbmeshError)) throw err
        this.counters.memberMisses++
        this.log.debug({ infohash: key, err: err.message }, 'member could not give the info dict')
      }
    }
    return null
  }

  /**
   * When to look at H again instead of fetching it from the swarm now: a time while another
   * member owns H and the wait has not run out, else null (fetch it now).
   */
  deferUntil (ih: Buffer): number | null {
    if (this.mode === 'source') return null
    const now = this.now()
    const owners = this.ownerIds()
    const alone = this.members.size === 0
    if (alone || owners.length === 0 || (owners.length === 1 && owners[0].equals(this.o.nodeId))) {
      // Nobody else fetches for us: wait for the first members only during the join grace.
      if (now >= this.graceUntil) return null
      this.counters.deferred++
      return now + (this.o.recheckMs ?? 1000)
    }
    const key = ih.toString('hex')
    if (owners[closestMember(ih, owners)].equals(this.o.nodeId)) {
      // Our own: fetch it after a random delay the first time we see it, so the v1 and v2 keys
      // of a hybrid torrent (one torrent, two owners, found at the same moment) are not both
      // fetched from the swarm: the first fetch is pushed at once and the other key is pulled.
      if (this.jittered.has(key) || (this.o.ownerJitterMs ?? 2000) <= 0) { this.jittered.delete(key); return null }
      this.jittered.set(key, true)
      this.counters.deferred++
      return now + Math.floor(Math.random() * (this.o.ownerJitterMs ?? 2000))
    }
    const since = this.waitingSince.get(key)
    if (since === undefined) this.waitingSince.set(key, now)
    const waited = now - (since ?? now)
    if (waited >= (this.o.ownerWaitMs ?? 20_000)) {
      this.counters.ownerTimeouts++
      this.waitingSince.delete(key)
      return null
    }
    this.counters.deferred++
    return now + (this.o.recheckMs ?? 1000)
  }

  /** The DHT node ids of the linked members that sent one (bb_have's handshake). */
  memberNodeIds (): Buffer[] {
    const out: Buffer[] = []
    for (const s of this.members.values()) { const id = first(s.haves)?.nodeId; if (id != null) out.push(id) }
    return out
  }

  /** Every owner-eligible member known, us included when we own fetches (for keyspace regions). */
  knownOwners (): Buffer[] { return [...this.ownerIds()] }

  close (): void {
    clearInterval(this.timer)
    this.flush()
    this.members.clear()
  }
}

function first<T> (set: Set<T>): T | undefined {
  for (const v of set) return v
  return undefined
}
