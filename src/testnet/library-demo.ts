// The library step of `bbmesh demo`: a harvester publishes its index under a fresh publisher
// key (CatalogPublisher on its own DHT node), and a new node that knows only the public key
// fetches the catalog through the DHT and imports it (fetchCatalog), as `bbmesh publish` and
// `bbmesh fetch` do. Everything it opens is closed before it returns.

import { join } from 'node:path'
import { DhtNode } from '../../crawler/dht-node.js'
import { fetchMetadata } from '../../crawler/metadata-fetcher.js'
import type { PeerAddr } from '../core/compact.js'
import { generatePublisherKey } from '../identity/publisher-key.js'
import { fetchCatalog, type CatalogFetchSummary } from '../library/catalog-fetch.js'
import { downloadTorrent } from '../library/piece-downloader.js'
import { ed25519Verify } from '../library/pointer.js'
import { PointerStore } from '../library/pointer-store.js'
import { CatalogPublisher, type PublishSource, type PublishStatus } from '../library/publisher.js'
import { openStore } from '../store/index.js'

export interface LibraryDemoResult { publicKey: string, published: PublishStatus, fetched: CatalogFetchSummary, fetcherTorrents: number }

export async function runLibraryDemo (o: {
  dht: DhtNode
  library: PublishSource
  /** Address the publisher seeds on and the fetcher's address. */
  seedHost: string
  fetchHost: string
  bootstrap: PeerAddr[]
  /** Two empty directories: the publisher's state and the fetcher's data directory. */
  publisherDir: string
  fetcherDir: string
}): Promise<LibraryDemoResult> {
  const key = generatePublisherKey()
  const pub = new CatalogPublisher({
    dht: o.dht, library: o.library, signer: key, pointers: PointerStore.open(o.publisherDir),
    stateDir: join(o.publisherDir, 'published'), seeder: { host: o.seedHost, port: 0 }, rebuildCheckMs: 3_600_000,
  })
  const fetcher = new DhtNode({ host: o.fetchHost, port: 0, bootstrap: o.bootstrap, verify: ed25519Verify })
  const into = openStore(join(o.fetcherDir, 'index.sqlite'))
  try {
    const published = await pub.start()
    await fetcher.start({ bootstrapTimeoutMs: 5000 })
    const fetched = await fetchCatalog({
      dht: fetcher, store: into, pointers: PointerStore.open(o.fetcherDir), dataDir: o.fetcherDir,
      publicKey: key.publicKey, download: downloadTorrent, fetchMetadata, torrentTimeoutMs: 30_000,
    })
    return { publicKey: key.publicKey.toString('hex'), published, fetched, fetcherTorrents: into.count() }
  } finally {
    await pub.close()
    await fetcher.close()
    into.close()
  }
}
