// Which block to ask which peer for, and whether a block a peer sent was asked for. Pure
// state, no sockets. A piece is owned by one peer from its first request to its hash check,
// so a piece that fails names exactly one sender to ban. Per block it counts the requests
// sent to the owner and the copies received, so a copy nobody asked for is told apart from
// one asked twice (a re-request after a BEP-3 choke, which cancels what was pending).
// A piece whose hash is not known yet (v2-only: its piece layer still to fetch) is not
// picked, nor counted as wanted, until `ready` says so.

import type { BlockSpan } from './piece-download-layout.js'
import { BLOCK_SIZE } from '../torrent/merkle.js'

const NONE = 0
const REQUESTED = 1
const RECEIVED = 2

export interface BlockRequest { piece: number, begin: number, length: number }

/** What a received block is: new data, a copy of a block asked for twice, or a violation. */
export type BlockVerdict = 'accept' | 'duplicate' | 'unrequested' | 'wrong-length'

interface InFlight<P> {
  piece: number
  owner: P
  blocks: Array<BlockSpan | null>
  state: Uint8Array
  asked: Uint8Array
  got: Uint8Array
  /** Blocks still to receive. */
  left: number
}

export class PiecePicker<P extends object> {
  readonly done: Uint8Array
  missing: number
  private readonly inFlight = new Map<number, InFlight<P>>()
  private readonly owned = new Map<P, Set<InFlight<P>>>()
  private readonly pending = new Map<P, number>()
  /** Every piece below this one is done. */
  private cursor = 0

  constructor (
    readonly numPieces: number,
    private readonly blocksOf: (piece: number) => Array<BlockSpan | null>,
    private readonly ready: (piece: number) => boolean = () => true,
  ) {
    this.done = new Uint8Array(numPieces)
    this.missing = numPieces
  }

  /** Requests sent to `peer` and not yet answered. */
  outstanding (peer: P): number { return this.pending.get(peer) ?? 0 }

  /** Mark a piece done without downloading it (all pad: nothing to ask for). */
  markDone (piece: number): void {
    if (this.done[piece] === 1) return
    this.done[piece] = 1
    this.missing--
  }

  /**
   * The next block to ask `peer` for: first one not asked yet of a piece it owns, else the
   * first block of the lowest missing piece nobody owns that the peer has. Null: none.
   */
  next (peer: P, has: Uint8Array): BlockRequest | null {
    const mine = this.owned.get(peer)
    if (mine !== undefined) {
      for (const fl of mine) {
        const r = this.take(fl)
        if (r !== null) return r
      }
    }
    while (this.cursor < this.numPieces && this.done[this.cursor] === 1) this.cursor++
    for (let p = this.cursor; p < this.numPieces; p++) {
      if (this.done[p] === 1 || has[p] !== 1 || this.inFlight.has(p) || !this.ready(p)) continue
      const blocks = this.blocksOf(p)
      const fl: InFlight<P> = {
        piece: p, owner: peer, blocks, state: new Uint8Array(blocks.length), asked: new Uint8Array(blocks.length),
        got: new Uint8Array(blocks.length), left: 0,
      }
      for (let i = 0; i < blocks.length; i++) {
        if (blocks[i] === null) fl.state[i] = RECEIVED // pad only: never asked for
        else fl.left++
      }
      this.inFlight.set(p, fl)
      if (mine === undefined) this.owned.set(peer, new Set([fl]))
      else mine.add(fl)
      const r = this.take(fl)
      if (r !== null) return r
    }
    return null
  }

  private take (fl: InFlight<P>): BlockRequest | null {
    for (let i = 0; i < fl.blocks.length; i++) {
      if (fl.state[i] !== NONE) continue
      const b = fl.blocks[i] as BlockSpan
      fl.state[i] = REQUESTED
      // Bounded by the pipeline: a block is re-asked only after a choke cleared it.
      fl.asked[i] = Math.min(255, fl.asked[i] + 1)
      this.pending.set(fl.owner, this.outstanding(fl.owner) + 1)
      return { piece: fl.piece, begin: b.begin, length: b.length }
    }
    return null
  }

  /** Judge a block `peer` sent; on 'accept' the caller stores it and checks isComplete(). */
  receive (peer: P, piece: number, begin: number, length: number): BlockVerdict {
    const fl = this.inFlight.get(piece)
    if (fl === undefined || fl.owner !== peer) return 'unrequested'
    if (begin % BLOCK_SIZE !== 0) return 'unrequested'
    const k = begin / BLOCK_SIZE
    const b = fl.blocks[k]
    if (b === undefined || b === null) return 'unrequested'
    if (fl.got[k] >= fl.asked[k]) return 'unrequested'
    if (length !== b.length) return 'wrong-length'
    fl.got[k]++
    if (fl.state[k] === RECEIVED) return 'duplicate'
    if (fl.state[k] === REQUESTED) this.pending.set(peer, this.outstanding(peer) - 1)
    fl.state[k] = RECEIVED
    fl.left--
    return 'accept'
  }

  isComplete (piece: number): boolean {
    return this.inFlight.get(piece)?.left === 0
  }

  /** The hash check of a complete piece is in: done, or back to the pool for another peer. */
  settle (piece: number, ok: boolean): void {
    const fl = this.inFlight.get(piece)
    if (fl === undefined) return
    this.drop(fl)
    if (ok) this.markDone(piece)
  }

  /** BEP-3 choke: the peer forgot every pending request; ask again after an unchoke. */
  choked (peer: P): void {
    for (const fl of this.owned.get(peer) ?? []) {
      for (let i = 0; i < fl.state.length; i++) if (fl.state[i] === REQUESTED) fl.state[i] = NONE
    }
    this.pending.delete(peer)
  }

  /** BEP-6 reject of one request: that request will not be answered. */
  rejected (peer: P, piece: number, begin: number, length: number): void {
    const fl = this.inFlight.get(piece)
    if (fl === undefined || fl.owner !== peer || begin % BLOCK_SIZE !== 0) return
    const k = begin / BLOCK_SIZE
    const b = fl.blocks[k]
    if (b === undefined || b === null || b.length !== length || fl.state[k] !== REQUESTED) return
    fl.state[k] = NONE
    fl.asked[k]--
    this.pending.set(peer, this.outstanding(peer) - 1)
  }

  /** The peer is gone: its pieces (and blocks received for them) go back to the pool. */
  release (peer: P): void {
    for (const fl of [...(this.owned.get(peer) ?? [])]) this.drop(fl)
    this.owned.delete(peer)
    this.pending.delete(peer)
  }

  /** The peer has a missing piece (owned by anyone) whose hash is known. */
  wants (has: Uint8Array): boolean {
    for (let p = this.cursor; p < this.numPieces; p++) if (this.done[p] === 0 && has[p] === 1 && this.ready(p)) return true
    return false
  }

  private drop (fl: InFlight<P>): void {
    this.inFlight.delete(fl.piece)
    const mine = this.owned.get(fl.owner)
    mine?.delete(fl)
    let n = 0
    for (let i = 0; i < fl.state.length; i++) if (fl.state[i] === REQUESTED) n++
    if (n > 0) this.pending.set(fl.owner, this.outstanding(fl.owner) - n)
  }
}
