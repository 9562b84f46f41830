// bbmesh fetches a catalog that real libtorrent 2.0 created and seeds (issue 5): bbmesh writes
// the catalog files (index + shards) to disk, libtorrent's create_torrent makes their hybrid
// torrents (the very infohashes bbmesh computes: the catalog is deterministic and make-torrent
// equals libtorrent) and seeds them on its own DHT, where the publisher's pointer is put. A
// bbmesh fetcher that knows only the public key finds the peers through libtorrent's DHT,
// downloads every piece from libtorrent, verifies it and imports every record.
// Without python3-libtorrent this file FAILS: requireLibtorrent() throws, nothing skips.

import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { tmpdir } from 'node:os'
import { requireLibtorrent, startLtNet, type LtNet, type LtSessionInfo } from '../helpers/libtorrent.js'
import { poll } from '../helpers/cli.js'
import { DhtNode } from '../../crawler/dht-node.js'
import { fetchMetadata } from '../../crawler/metadata-fetcher.js'
import { openStore, type Store } from '../../src/store/index.js'
import { syntheticTorrent } from '../../src/torrent/synthetic.js'
import type { CreateMode } from '../../src/torrent/create.js'
import { generatePublisherKey } from '../../src/identity/publisher-key.js'
import { ed25519Verify } from '../../src/library/pointer.js'
import { PointerStore } from '../../src/library/pointer-store.js'
import { putPointer } from '../../src/library/pointer-dht.js'
import { buildCatalog, CATALOG_PIECE_LENGTH, type Catalog } from '../../src/library/catalog.js'
import { fetchCatalog } from '../../src/library/catalog-fetch.js'
import { downloadTorrent } from '../../src/library/piece-downloader.js'

const SESSIONS = 4
const N = 1500
const MODES: CreateMode[] = ['v1', 'hybrid', 'v2']
let net: LtNet
let ses: LtSessionInfo[]
let node: DhtNode
let dir: string
let store: Store

before(async () => {
  requireLibtorrent()
  dir = mkdtempSync(join(tmpdir(), 'bbmesh-catalog-lt-'))
  net = await startLtNet()
  ses = (await net.start({ sessions: SESSIONS })).sessions
  node = new DhtNode({ host: '127.0.0.1', port: 0, bootstrap: ses.map((s) => ({ host: s.host, port: s.dhtPort })), verify: ed25519Verify })
  await node.start({ bootstrapTimeoutMs: 10_000 })
  store = openStore(join(dir, 'index.sqlite'))
})

after(async () => {
  store?.close()
  await node?.close()
  await net?.close()
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true })
})

test(`bbmesh fetches a ${N}-torrent catalog that libtorrent created and seeds: same infohashes, every piece verified, every record imported`, async () => {
  const records = Array.from({ length: N }, (_, i) => syntheticTorrent(`lt-catalog-${i}`, MODES[i % 3]))
  const cat: Catalog = buildCatalog(records)
  assert.ok(cat.shards.length >= 2, `sharded (${cat.shards.length})`)

  // The catalog's files on disk, under the names bbmesh gives its torrents.
  const data = join(dir, 'data')
  const files: Array<{ name: string, bytes: Buffer, v1: Buffer, v2: Buffer }> = [
    { name: cat.indexTorrent.info.name, bytes: cat.indexFile, v1: cat.infohash, v2: cat.infohashV2 },
    ...cat.shards.map((s) => ({ name: s.name, bytes: s.file, v1: s.torrent.info.infohashV1 as Buffer, v2: s.torrent.info.infohashV2 as Buffer })),
  ]
  mkdirSync(data, { recursive: true })
  for (const f of files) writeFileSync(join(data, f.name), f.bytes)
  // libtorrent makes the torrents (hybrid, the catalog's piece length) and seeds them.
  for (const f of files) {
    const made = await net.createTorrent({ path: join(data, f.name), mode: 'hybrid', pieceLength: CATALOG_PIECE_LENGTH, timeoutMs: 30_000 })
    assert.equal(made.v1, f.v1.toString('hex'), `${f.name}: libtorrent's v1 infohash is bbmesh's`)
    assert.equal(made.v2, f.v2.toString('hex'), `${f.name}: libtorrent's v2 infohash is bbmesh's`)
    await net.seed({ session: 0, torrent: made.torrent, savePath: data, timeoutMs: 30_000 })
  }

  // The publisher's pointer, put into libtorrent's DHT.
  const key = generatePublisherKey()
  const put = await putPointer(node, key, cat.infohash, { store: PointerStore.open(join(dir, 'pub')) })
  assert.ok(put.stored > 0)
  // libtorrent announces its torrents into its DHT: wait until the index has a peer there.
  await poll('libtorrent announced the index', async () => (await node.lookupPeers(cat.infohash, { timeoutMs: 3000 })).length > 0 ? true : undefined, 60_000, 500)

  const fetchDir = join(dir, 'fetcher')
  const sum = await fetchCatalog({
    dht: node, store, pointers: PointerStore.open(fetchDir), dataDir: fetchDir, publicKey: key.publicKey,
    download: downloadTorrent, fetchMetadata, torrentTimeoutMs: 60_000,
  })
  assert.equal(sum.infohash, cat.infohash.toString('hex'))
  assert.equal(sum.records, N)
  assert.equal(sum.shards_fetched, cat.shards.length)
  assert.equal(sum.imported, N)
  assert.equal(sum.refused, 0)
  assert.equal(sum.pieces_failed, 0)
  assert.equal(store.count(), N)
  // The only peer anywhere is libtorrent's session 0: it served every byte.
  assert.ok(sum.peers >= 1)
  // Spot-check the records: the raw info dicts bbmesh indexed are the original ones.
  for (let i = 0; i < N; i += 97) {
    const t = records[i]
    const got = store.getTorrent((t.info.infohashV1 ?? t.info.infohashV2) as Buffer)
    assert.ok(got !== null)
    assert.deepEqual(got.rawInfo, t.rawInfo)
  }
})
