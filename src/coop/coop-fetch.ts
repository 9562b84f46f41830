// The cooperative side of a fetch: before going to the swarm for H, pull H from a member
// that has announced it (bb_have) over bb_meta; if no member has it and another member owns
// H (its DHT node ID is XOR-closest), wait a bounded time for that member to fetch it;
// after that, or when we own H, fetch from the swarm ourselves (liveness before purity).
// What we index is pushed to every member with bb_have, in batches.

import { bbHave, type BbHaveHandle } from '../../extensions/bb-have.js'
import { bbMeta, type BbMetaHandle, type MetaSource } from '../../extensions/bb-meta.js'
import { bbBloom } from '../../extensions/bb-bloom.js'
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
  /** The member's whole filter from bb_bloom (what it held when it linked). */
  bloom: InfohashBloom | null
  /** Infohashes this member said it holds since (bb_have; bounded). */
  held: LruMap<string, true>
}

export interface CoopFetchOptions {
  nodeId: Buffer
  source: MetaSource
  /** Every infohash we hold now (both keys of a hybrid), for our bb_bloom filter. */
  held?: () => Iterable<Buffer>
  /** Longest wait for the owning member before fetching from the swarm ourselves. */
  ownerWaitMs?: number
  /**
   * After start, how long swarm fetches wait for the first members to link (rendezvous,
   * dial, bb_auth): otherwise every member of a fresh cooperative fetches everything itself.
   */
  joinGraceMs?: number
  /** How often a deferred infohash is looked at again. */
  recheckMs?: number
  heldPerMember?: number
  now?: () => number
  logger?: Logger
}

export class CoopFetch {
  private readonly members = new Map<string, MemberState>()
  private readonly waitingSince = new LruMap<string, number>(100_000)
  private pushBuffer: Buffer[] = []
  private readonly timer: NodeJS.Timeout
  readonly counters = { fromMembers: 0, memberMisses: 0, deferred: 0, ownerTimeouts: 0, pushed: 0 }
  private readonly log: Logger
  private readonly graceUntil: number
  private local: InfohashBloom | null = null

  constructor (private readonly o: CoopFetchOptions) {
    this.log = o.logger ?? silentLogger
    this.graceUntil = this.now() + (o.joinGraceMs ?? 15_000)
    this.rebuildLocal()
    this.timer = setInterval(() => this.flush(), 200)
    this.timer.unref()
  }

  private now (): number { return (this.o.now ?? Date.now)() }

  private state (peerIdHex: string): MemberState {
    let s = this.members.get(peerIdHex)
    if (s === undefined) {
      s = { haves: new Set(), metas: new Set(), bloom: null, held: new LruMap(this.o.heldPerMember ?? 200_000) }
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

  private capacity = 0

  /** The extensions a member link carries for pooling (after bb_auth). */
  factories (): ExtensionFactory[] {
    return [
      bbHave({
        nodeId: this.o.nodeId,
        onOpen: (h) => { this.state(h.remote.peerId.toString('hex')).haves.add(h) },
        onClose: (h) => { this.members.get(h.remote.peerId.toString('hex'))?.haves.delete(h); this.prune(h.remote.peerId.toString('hex')) },
        onHave: (ihs, from) => {
          const s = this.state(from.remote.peerId.toString('hex'))
          for (const ih of ihs) s.held.set(ih.toString('hex'), true)
        },
      }),
      bbBloom({
        local: () => this.local,
        onFilter: (remote, f) => { this.state(remote.peerId.toString('hex')).bloom = f },
      }),
      bbMeta({
        source: this.o.source,
        onOpen: (h) => { this.state(h.remote.peerId.toString('hex')).metas.add(h) },
        onClose: (h) => { this.members.get(h.remote.peerId.toString('hex'))?.metas.delete(h); this.prune(h.remote.peerId.toString('hex')) },
      }),
    ]
  }

  private prune (id: string): void {
    const s = this.members.get(id)
    if (s !== undefined && s.haves.size === 0 && s.metas.size === 0) this.members.delete(id)
  }

  /** We indexed these: tell every member (batched) unless they came from a member. */
  indexed (ihs: Buffer[], push = true): void {
    // What came from a member is already known to the members: into our filter (for members
    // that link later) but not pushed again.
    for (const ih of ihs) { if (push) this.pushBuffer.push(ih); this.local?.add(ih) }
    if (this.local !== null && this.local.count > this.capacity) this.rebuildLocal()
    if (this.pushBuffer.length >= 1000) this.flush()
  }

  private flush (): void {
    if (this.pushBuffer.length === 0) return
    const b = this.pushBuffer
    this.pushBuffer = []
    for (const s of this.members.values()) { const h = first(s.haves); h?.push(b) }
    this.counters.pushed += b.length
  }

  /** Pull H from a member that announced it; null when none has it or all failed. */
  async tryMembers (ih: Buffer, signal?: AbortSignal): Promise<{ raw: Buffer, kind: 'v1' | 'v2' } | null> {
    const key = ih.toString('hex')
    for (const s of this.members.values()) {
      const meta = first(s.metas)
      if (meta === undefined || !(s.held.has(key) || s.bloom?.has(ih) === true)) continue
      try {
        const r = await meta.fetch(ih, { signal, timeoutMs: 10_000 })
        this.counters.fromMembers++
        this.waitingSince.delete(key)
        return r
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
    const ids: Buffer[] = [this.o.nodeId]
    for (const s of this.members.values()) { const id = first(s.haves)?.nodeId; if (id != null) ids.push(id) }
    const now = this.now()
    if (ids.length === 1) {
      if (now >= this.graceUntil) return null
      this.counters.deferred++
      return now + (this.o.recheckMs ?? 1000)
    }
    if (closestMember(ih, ids) === 0) return null
    const key = ih.toString('hex')
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
