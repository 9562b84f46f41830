// The harvester's view of the store: the few operations the crawler's ports need, with the
// clock and the record building (parse the verified info dict) done here.

import { openStore, type Store, type StoreStats } from '../store/index.js'
import { parseInfo } from '../torrent/info-parse.js'
import type { SampleSource } from '../../crawler/responder.js'
import { BbmeshError, errorMessage } from '../core/errors.js'
import type { Logger } from '../core/logger.js'
import type { TorrentInfo } from '../torrent/types.js'
import type { SearchHit, SearchPage, SearchRequest } from '../search/types.js'

export interface HarvestStore {
  store: Store
  noteSeen: (ihs: Buffer[], source: string) => void
  lease: (n: number, leaseMs: number) => Buffer[]
  /** Index a verified info dict and drop its queue entry, in one transaction. */
  complete: (ih: Buffer, raw: Buffer, source: string) => TorrentInfo | null
  defer: (ih: Buffer, until: number) => void
  rawInfo: (ih: Buffer) => Buffer | null
  /** Every 20-byte key we hold metadata under (v1, truncated v2), page by page. */
  /**
   * The keys of what we harvested (swarm or members), which the cooperative shares by gossip;
   * imported and catalog records are left out: members find those by bb_search only.
   */
  sharedInfohashes: () => Iterable<Buffer>
  /** Whether the torrent is indexed (by its v1 or truncated v2 key). */
  holds: (ih: Buffer) => boolean
  fail: (ih: Buffer, reason: string) => void
  sampleSource: () => SampleSource
  stats: () => StoreStats
  searchPage: (req: SearchRequest) => SearchPage
  lookup: (hex: string) => SearchHit[]
  close: () => void
}

export function openHarvestStore (path: string, opts: { maxAttempts?: number, logger?: Logger } = {}): HarvestStore {
  // The logger lets the store say how many leases of a crashed run it returned to the queue.
  const store = openStore(path, { queue: opts.maxAttempts === undefined ? undefined : { maxAttempts: opts.maxAttempts }, logger: opts.logger })
  return {
    store,
    noteSeen: (ihs, source) => { store.noteSeen(ihs, source, Date.now()) },
    lease: (n, leaseMs) => store.queue.lease(n, Date.now(), leaseMs),
    complete: (ih, raw, source) => {
      let info
      try {
        info = parseInfo(raw)
      } catch (err) {
        // It hashed right but does not parse (a hostile or broken torrent): never retried.
        if (!(err instanceof BbmeshError)) throw err
        store.queue.fail(ih, `unparseable info dict: ${errorMessage(err)}`, Date.now())
        return null
      }
      // addTorrents drops the queue entries of the torrent's hashes in the same transaction.
      store.addTorrents([{ info, rawInfo: raw, source, discoveredAt: Date.now() }])
      return info
    },
    fail: (ih, reason) => { store.queue.fail(ih, reason, Date.now()) },
    defer: (ih, until) => { store.queue.defer(ih, until) },
    rawInfo: (ih) => store.getTorrent(ih)?.rawInfo ?? null,
    holds: (ih) => store.hasTorrent(ih),
    sharedInfohashes: function * () {
      for (let after = 0; ;) {
        const page = store.pageSharedKeys(after, 5000)
        if (page.lastId === null) return
        yield * page.keys
        after = page.lastId
      }
    },
    sampleSource: () => ({ count: () => store.samples.count(), random: (n) => store.randomInfohashes(n) }),
    stats: () => store.stats(),
    searchPage: (req) => store.searchPage(req),
    lookup: (hex) => store.lookup(hex),
    close: () => { store.close() },
  }
}
