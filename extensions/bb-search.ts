// bb_search: keyword search across the cooperative (codec in bb-search.codec.ts). A member
// answers a query from its local index, within a per-link rate and the local search's own
// caps (a refused query gets a refusal, never a crash); an asker sends a query on each link
// and waits for the answer with a deadline. Only after bb_auth, like every bb_* extension.

import type { Extension, ExtensionFactory, ExtensionContext, RemoteInfo } from './extension.js'
import { decodeSearchMessage, encodeSearchMessage, fitHits, BB_SEARCH_MAX_HITS, BB_SEARCH_MAX_MESSAGE, SEARCH_REFUSED, type WireHit } from './bb-search.codec.js'
import type { SearchHit, SearchRequest } from '../src/search/types.js'
import { TokenBucket } from '../src/core/token-bucket.js'
import { BbmeshError, UsageError, errorMessage } from '../src/core/errors.js'
import { PendingRequests } from './pending-requests.js'

export const BB_SEARCH = 'bb_search'

/** The member refused our query (code: SEARCH_REFUSED). */
export class SearchRefusedError extends BbmeshError {
  constructor (readonly refusal: number, message: string) { super('ERR_SEARCH_REFUSED', message) }
}

export interface BbSearchHandle {
  readonly remote: RemoteInfo
  /** Ask this member; resolves with its hits (at most req.limit, at most 100). */
  search: (req: SearchRequest, opts?: { signal?: AbortSignal, timeoutMs?: number }) => Promise<WireHit[]>
}

export interface BbSearchOptions {
  /** Our local index (leave out to answer nothing: every query is refused as busy). */
  search?: (req: SearchRequest) => SearchHit[]
  onOpen?: (h: BbSearchHandle) => void
  onClose?: (h: BbSearchHandle) => void
  /** Queries answered per second per link, and burst. */
  rate?: number
  burst?: number
  /** Our queries in flight on one link at most. */
  maxPending?: number
  timeoutMs?: number
  now?: () => number
}

export function bbSearch (options: BbSearchOptions = {}): ExtensionFactory {
  return (ctx: ExtensionContext): Extension => new BbSearch(ctx, options)
}

export function toWireHit (h: SearchHit): WireHit {
  const w: WireHit = { h: Buffer.from(h.infohash, 'hex'), n: h.name.length > 0 ? h.name : '?', s: h.size, f: h.files, d: h.discovered_at }
  if (h.ih_v2 !== undefined) w.h2 = Buffer.from(h.ih_v2, 'hex')
  return w
}

class BbSearch implements Extension {
  readonly name = BB_SEARCH
  readonly maxMessage = BB_SEARCH_MAX_MESSAGE
  readonly requiresAuth = true
  private readonly pending: PendingRequests<WireHit[], { limit: number }>
  private readonly bucket: TokenBucket
  private handle: BbSearchHandle | null = null
  readonly counters = { answered: 0, refused: 0, rateLimited: 0, unsolicited: 0 }

  constructor (private readonly ctx: ExtensionContext, private readonly o: BbSearchOptions) {
    this.bucket = new TokenBucket(o.rate ?? 5, o.burst ?? 10, o.now)
    this.pending = new PendingRequests('bb_search', o.maxPending ?? 8)
  }

  onAuthenticated (): void {
    if (this.handle !== null || !this.ctx.remoteSupports()) return
    this.handle = { remote: this.ctx.remote, search: async (req, opts) => await this.ask(req, opts) }
    this.o.onOpen?.(this.handle)
  }

  onRemoteHandshake (): void {
    if (this.handle === null && this.ctx.authenticated()) this.onAuthenticated()
  }

  onMessage (payload: Buffer): void {
    const m = decodeSearchMessage(payload)
    if (m.t === 'q') { this.answer(m.i, { text: m.q, limit: m.l, ...(m.o !== undefined ? { order: m.o } : {}), ...(m.f !== undefined ? { filters: m.f } : {}) }); return }
    const p = this.pending.state(m.i)
    if (p === undefined) { this.counters.unsolicited++; return }
    if (m.t === 'e') { this.pending.finish(m.i, new SearchRefusedError(m.c, `member refused the query: ${m.m || `code ${m.c}`}`)); return }
    // More hits than asked for is a lie about the limit: keep what was asked.
    this.pending.finish(m.i, null, m.r.slice(0, p.limit))
  }

  private refuse (i: number, c: number, msg: string): void {
    this.counters.refused++
    this.ctx.send(encodeSearchMessage({ t: 'e', i, c, m: msg }))
  }

  private answer (i: number, req: SearchRequest): void {
    const search = this.o.search
    if (search === undefined) { this.refuse(i, SEARCH_REFUSED.busy, 'this member answers no search'); return }
    if (!this.bucket.tryTake()) { this.counters.rateLimited++; this.refuse(i, SEARCH_REFUSED.rate, 'over the rate of queries'); return }
    let hits: SearchHit[]
    try {
      hits = search(req)
    } catch (err) {
      if (!(err instanceof BbmeshError)) throw err
      this.refuse(i, err instanceof UsageError ? SEARCH_REFUSED.query : SEARCH_REFUSED.busy, errorMessage(err))
      return
    }
    this.counters.answered++
    this.ctx.send(encodeSearchMessage({ t: 'r', i, r: fitHits(hits.map(toWireHit), i) }))
  }

  private async ask (req: SearchRequest, opts: { signal?: AbortSignal, timeoutMs?: number } = {}): Promise<WireHit[]> {
    const limit = Math.min(BB_SEARCH_MAX_HITS, Math.max(1, req.limit ?? 50))
    // Encode first (id 0): a query over the wire caps is the caller's error, before anything is sent.
    const query = (i: number): Buffer => encodeSearchMessage({ t: 'q', i, q: req.text, l: limit, ...(req.order !== undefined ? { o: req.order } : {}), ...(req.filters !== undefined ? { f: req.filters } : {}) })
    query(0)
    return await this.pending.open({ limit }, (id) => this.ctx.send(query(id)), { timeoutMs: opts.timeoutMs ?? this.o.timeoutMs ?? 2000, signal: opts.signal })
  }

  close (): void {
    this.pending.close()
    if (this.handle !== null) this.o.onClose?.(this.handle)
    this.handle = null
  }
}
