// bb_meta: the metadata relay between members (codec in bb-meta.codec.ts). A member serves
// the raw info dict of anything it has indexed, piece by piece, within a per-link rate; an
// asker pulls a whole dict with fetch(), which ends with the same hash check as a swarm
// fetch. A member whose dict does not hash to the infohash is reported as misbehaving (the
// link is dropped and backed off) and the fetch fails with HashMismatchError.

import type { Extension, ExtensionFactory, ExtensionContext, RemoteInfo } from './extension.js'
import { decodeMetaMessage, encodeMetaMessage, pieceCount, MetaAssembler, BB_META_MAX_MESSAGE, BB_META_PIECE } from './bb-meta.codec.js'
import { verifyInfohash } from '../src/torrent/info-verify.js'
import { TokenBucket } from '../src/core/token-bucket.js'
import { BbmeshError, HashMismatchError } from '../src/core/errors.js'
import { PendingRequests } from './pending-requests.js'

export const BB_META = 'bb_meta'

/** The remote does not hold the infohash (or refused to serve it). */
export class NotHeldError extends BbmeshError {
  constructor (message: string) { super('ERR_NOT_HELD', message) }
}

export interface MetaSource {
  /** The raw info dict we hold for a 20-byte infohash (v1 or truncated v2), or null. */
  rawInfo: (ih: Buffer) => Buffer | null
}

export interface BbMetaHandle {
  readonly remote: RemoteInfo
  /** Pull one info dict from this member; resolves with the verified bytes. */
  fetch: (ih: Buffer, opts?: { signal?: AbortSignal, timeoutMs?: number }) => Promise<{ raw: Buffer, kind: 'v1' | 'v2' }>
}

export interface BbMetaOptions {
  /** What we serve; leave out to serve nothing (consumer or leech modes). */
  source?: MetaSource
  /** The link is usable: keep the handle until onClose. */
  onOpen?: (h: BbMetaHandle) => void
  onClose?: (h: BbMetaHandle) => void
  /** Pieces served per second per link (and burst). */
  serveRate?: number
  serveBurst?: number
  /** Our fetches in flight on one link at most. */
  maxPending?: number
  timeoutMs?: number
}

export function bbMeta (options: BbMetaOptions = {}): ExtensionFactory {
  return (ctx: ExtensionContext): Extension => new BbMeta(ctx, options)
}

class BbMeta implements Extension {
  readonly name = BB_META
  readonly maxMessage = BB_META_MAX_MESSAGE
  readonly requiresAuth = true
  private readonly pending: PendingRequests<{ raw: Buffer, kind: 'v1' | 'v2' }, { ih: Buffer, asm: MetaAssembler, requested: boolean }>
  private readonly bucket: TokenBucket
  private handle: BbMetaHandle | null = null
  readonly counters = { served: 0, refused: 0, rateLimited: 0, unsolicited: 0 }

  constructor (private readonly ctx: ExtensionContext, private readonly o: BbMetaOptions) {
    this.bucket = new TokenBucket(o.serveRate ?? 400, o.serveBurst ?? 800)
    this.pending = new PendingRequests('bb_meta', o.maxPending ?? 32)
  }

  onAuthenticated (): void {
    if (!this.ctx.remoteSupports()) return
    this.handle = { remote: this.ctx.remote, fetch: async (ih, opts) => await this.fetch(ih, opts) }
    this.o.onOpen?.(this.handle)
  }

  onRemoteHandshake (): void {
    if (this.handle === null && this.ctx.authenticated()) this.onAuthenticated()
  }

  onMessage (payload: Buffer): void {
    const m = decodeMetaMessage(payload)
    if (m.t === 'q') {
      const raw = this.o.source?.rawInfo(m.h) ?? null
      if (raw === null || m.p >= pieceCount(raw.length)) { this.counters.refused++; this.ctx.send(encodeMetaMessage({ t: 'n', i: m.i, h: m.h })); return }
      if (!this.bucket.tryTake()) { this.counters.rateLimited++; this.ctx.send(encodeMetaMessage({ t: 'n', i: m.i, h: m.h })); return }
      this.counters.served++
      this.ctx.send(encodeMetaMessage({ t: 'd', i: m.i, h: m.h, p: m.p, s: raw.length, data: raw.subarray(m.p * BB_META_PIECE, Math.min(raw.length, (m.p + 1) * BB_META_PIECE)) }))
      return
    }
    const p = this.pending.state(m.i)
    if (p === undefined || !p.ih.equals(m.h)) { this.counters.unsolicited++; return }
    if (m.t === 'n') { this.pending.finish(m.i, new NotHeldError(`member does not hold ${m.h.toString('hex')}`)); return }
    p.asm.add(m)
    if (!p.requested) {
      // The first piece told us the size: ask for the rest at once.
      p.requested = true
      for (let q = 1; q < p.asm.pieces; q++) this.ctx.send(encodeMetaMessage({ t: 'q', i: m.i, h: m.h, p: q }))
    }
    const raw = p.asm.complete()
    if (raw === null) return
    try {
      const kind = verifyInfohash(raw, p.ih)
      this.pending.finish(m.i, null, { raw, kind })
    } catch (err) {
      if (!(err instanceof HashMismatchError)) throw err
      this.pending.finish(m.i, err)
      this.ctx.misbehaved('bb_meta: info dict does not hash to its infohash')
    }
  }

  private async fetch (ih: Buffer, opts: { signal?: AbortSignal, timeoutMs?: number } = {}): Promise<{ raw: Buffer, kind: 'v1' | 'v2' }> {
    if (ih.length !== 20) throw new RangeError('bb_meta: infohash must be 20 bytes')
    return await this.pending.open(
      { ih, asm: new MetaAssembler(), requested: false },
      (id) => this.ctx.send(encodeMetaMessage({ t: 'q', i: id, h: ih, p: 0 })),
      { timeoutMs: opts.timeoutMs ?? this.o.timeoutMs ?? 10_000, signal: opts.signal },
    )
  }

  close (): void {
    this.pending.close()
    if (this.handle !== null) this.o.onClose?.(this.handle)
    this.handle = null
  }
}

