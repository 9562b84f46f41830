// Search across the cooperative: the query goes to every member at once (bb_search) with one
// deadline; the answers and our own hits are merged, deduplicated by infohash (a hybrid is
// one torrent under its v1 and v2 keys), ranked, and cut to the limit. Members that did not
// answer in time are reported, never waited for. Remote hits are data: their relevance is
// recomputed here from the name with the same pure function every node uses, so no member can
// push its hits up by claiming a score.

import { setMaxListeners } from 'node:events'
import type { BbSearchHandle } from '../../extensions/bb-search.js'
import type { WireHit } from '../../extensions/bb-search.codec.js'
import type { SearchHit, SearchRequest } from './types.js'
import type { NetworkMemberReport, NetworkSearchResult } from './network-types.js'
import { BbmeshError, TimeoutError, errorMessage } from '../core/errors.js'

export interface NetworkSearchDeps {
  /** Our own hits for the request (the local index). */
  local: (req: SearchRequest) => SearchHit[]
  /** The members' bb_search handles now. */
  members: () => BbSearchHandle[]
  /** Relevance of a name to the request's text (src/search/rank.ts through the parsed query). */
  score: (name: string) => number
  now?: () => number
}

export function fromWire (w: WireHit, score: (name: string) => number): SearchHit {
  const hit: SearchHit = { infohash: w.h.toString('hex'), name: w.n, size: w.s, files: w.f, discovered_at: w.d, score: score(w.n) }
  if (w.h2 !== undefined) hit.ih_v2 = w.h2.toString('hex')
  return hit
}

/** Merge hit lists: one hit per torrent (by infohash, and by v2 hash for a hybrid), ranked by the request's order. */
export function mergeHits (lists: SearchHit[][], req: SearchRequest): SearchHit[] {
  const byKey = new Map<string, SearchHit>()
  const out: SearchHit[] = []
  for (const list of lists) {
    for (const h of list) {
      const keys = [h.infohash, ...(h.ih_v2 !== undefined ? [h.ih_v2.slice(0, 40), h.ih_v2] : [])]
      if (keys.some((k) => byKey.has(k))) continue
      for (const k of keys) byKey.set(k, h)
      out.push(h)
    }
  }
  const order = req.order ?? 'relevance'
  const tie = (a: SearchHit, b: SearchHit): number => b.discovered_at - a.discovered_at || (a.infohash < b.infohash ? -1 : a.infohash > b.infohash ? 1 : 0)
  if (order === 'relevance') out.sort((a, b) => b.score - a.score || tie(a, b))
  else if (order === 'size') out.sort((a, b) => b.size - a.size || tie(a, b))
  else out.sort(tie)
  return out.slice(0, Math.max(1, req.limit ?? 50))
}

export async function networkSearch (deps: NetworkSearchDeps, req: SearchRequest, timeoutMs: number): Promise<NetworkSearchResult> {
  const now = deps.now ?? Date.now
  // Our own index first: a bad query fails here, before anything is sent to members.
  const local = deps.local({ ...req, cursor: undefined })
  const handles = deps.members()
  const t0 = now()
  const ac = new AbortController()
  // One listener per member on the deadline's signal: more than the default 10 is expected.
  setMaxListeners(Math.max(10, handles.length + 1), ac.signal)
  const deadline = setTimeout(() => ac.abort(), timeoutMs)
  try {
    const asks = handles.map(async (h): Promise<{ report: NetworkMemberReport, hits: SearchHit[] }> => {
      const report: NetworkMemberReport = { peer_id: h.remote.peerId.toString('hex'), answered: false, timed_out: false, hits: 0, ms: 0 }
      try {
        const wire = await h.search({ ...req, cursor: undefined }, { signal: ac.signal, timeoutMs })
        report.answered = true
        report.hits = wire.length
        report.ms = now() - t0
        return { report, hits: wire.map((w) => fromWire(w, deps.score)) }
      } catch (err) {
        if (!(err instanceof BbmeshError)) throw err
        report.ms = now() - t0
        if (err instanceof TimeoutError || ac.signal.aborted) report.timed_out = true
        else report.error = errorMessage(err)
        return { report, hits: [] }
      }
    })
    const answers = await Promise.all(asks)
    const hits = mergeHits([local, ...answers.map((a) => a.hits)], req)
    const ours = new Set(local)
    return { hits, members: answers.map((a) => a.report), local: hits.filter((h) => ours.has(h)).length }
  } finally {
    clearTimeout(deadline)
  }
}
