// Publish and fetch a library over a loopback DHT (issue 5): a CatalogPublisher builds, seeds,
// announces and points at the catalog of a store; fetchCatalog, knowing only the public key,
// finds it through the DHT and imports every record with the publisher as source. Then:
// determinism across publishers and restarts, one added torrent costs a fetcher one shard and
// the index, an up-to-date fetch downloads nothing, an interrupted fetch resumes, and hostile
// catalogs (a piece failing its hash, a record not hashing to its infohash, a path-traversal
// record, a catalog over the cap, a forged pointer) are refused with clear errors.

import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { tmpdir } from 'node:os'
import { createTestnet, type Testnet } from '../../src/testnet/testnet.js'
import { DhtNode } from '../../crawler/dht-node.js'
import { fetchMetadata } from '../../crawler/metadata-fetcher.js'
import { encode } from '../../src/core/bencode.js'
import { sha1 } from '../../src/core/infohash.js'
import { AbortedError, BbmeshError, LimitError, PointerError } from '../../src/core/errors.js'
import { openStore, type Store } from '../../src/store/index.js'
import { syntheticTorrent } from '../../src/torrent/synthetic.js'
import type { CreateMode } from '../../src/torrent/create.js'
import type { TorrentRecord } from '../../src/torrent/types.js'
import { generatePublisherKey, type PublisherKey } from '../../src/identity/publisher-key.js'
import { ed25519Verify } from '../../src/library/pointer.js'
import { PointerStore } from '../../src/library/pointer-store.js'
import { putPointer } from '../../src/library/pointer-dht.js'
import { CatalogPublisher } from '../../src/library/publisher.js'
import { fetchCatalog, type CatalogFetchOptions } from '../../src/library/catalog-fetch.js'
import { CATALOG_PIECE_LENGTH, indexTorrent, shardTorrent } from '../../src/library/catalog.js'
import { assembleShard, encodeIndex, encodeRecord, recordFromTorrent } from '../../src/library/catalog-format.js'
import { PieceSeeder } from '../../src/library/piece-seeder.js'
import { downloadTorrent } from '../../src/library/piece-downloader.js'
import type { PeerAddr } from '../../src/core/compact.js'

const MODES: CreateMode[] = ['v1', 'hybrid', 'v2']
let net: Testnet
const dirs: string[] = []
const nodes: DhtNode[] = []
const stores: Store[] = []
const closers: Array<() => Promise<void>> = []

function tmp (): string {
  const d = mkdtempSync(join(tmpdir(), 'bbmesh-library-net-'))
  dirs.push(d)
  return d
}

async function node (): Promise<DhtNode> {
  const n = new DhtNode({ host: '127.0.0.1', port: 0, bootstrap: net.bootstrap, verify: ed25519Verify, guard: { pacer: { perIpRate: 100_000, perIpBurst: 100_000, globalRate: 1_000_000, bytesRate: 1e9 }, answerRate: 100_000, answerBurst: 100_000 } })
  nodes.push(n)
  await n.start({ bootstrapTimeoutMs: 5000 })
  return n
}

function store (dir = tmp()): Store {
  const s = openStore(join(dir, 'index.sqlite'))
  stores.push(s)
  return s
}

function synth (tag: string, i: number): TorrentRecord {
  const t = syntheticTorrent(`${tag}-${i}`, MODES[i % 3])
  return { info: t.info, rawInfo: t.rawInfo, source: 'sample', discoveredAt: 1_700_000_000_000 + i }
}

function library (tag: string, n: number): Store {
  const s = store()
  const all = Array.from({ length: n }, (_, i) => synth(tag, i))
  for (let i = 0; i < all.length; i += 1000) s.addTorrents(all.slice(i, i + 1000))
  return s
}

async function publisher (dht: DhtNode, lib: Store, key: PublisherKey, dataDir = tmp()): Promise<CatalogPublisher> {
  const p = new CatalogPublisher({ dht, library: lib, signer: key, pointers: PointerStore.open(dataDir), stateDir: join(dataDir, 'published'), seeder: { host: '127.0.0.1', port: 0 }, rebuildCheckMs: 3_600_000 })
  closers.push(async () => await p.close())
  await p.start()
  return p
}

function fetchOpts (dht: DhtNode, into: Store, dataDir: string, key: PublisherKey, extra: Partial<CatalogFetchOptions> = {}): CatalogFetchOptions {
  return { dht, store: into, pointers: PointerStore.open(dataDir), dataDir, publicKey: key.publicKey, download: downloadTorrent, fetchMetadata, torrentTimeoutMs: 20_000, ...extra }
}

let pubNode: DhtNode
let fetchNode: DhtNode

before(async () => {
  net = await createTestnet({ nodes: 16, v1: 0, v2: 0, hybrid: 0, seeders: 1, net: 63 })
  pubNode = await node()
  fetchNode = await node()
})

after(async () => {
  for (const c of closers) await c()
  await Promise.all(nodes.map(async (n) => await n.close()))
  await net?.close()
  for (const s of stores) s.close()
  for (const d of dirs) rmSync(d, { recursive: true, force: true })
})

test('publish a library of 600 torrents; a fetcher that knows only the public key imports all of them, source catalog:<key>', async () => {
  const key = generatePublisherKey()
  const lib = library('pub', 600)
  const pub = await publisher(pubNode, lib, key)
  const st = pub.status()
  assert.equal(st.records, 600)
  assert.equal(st.seq, 1)
  assert.ok(st.stored > 0)

  const into = store()
  const dir = tmp()
  const sum = await fetchCatalog(fetchOpts(fetchNode, into, dir, key))
  assert.equal(sum.infohash, st.infohash)
  assert.equal(sum.seq, 1)
  assert.equal(sum.records, 600)
  assert.equal(sum.imported, 600)
  assert.equal(sum.refused, 0)
  assert.equal(sum.shards_fetched, st.shards)
  assert.equal(into.count(), 600)
  // Every record is the very torrent the publisher holds (same raw info), from this publisher.
  for (let i = 0; i < 600; i += 37) {
    const t = synth('pub', i)
    const got = into.getTorrent((t.info.infohashV1 ?? t.info.infohashV2) as Buffer)
    assert.ok(got !== null, `torrent ${i} imported`)
    assert.deepEqual(got.rawInfo, t.rawInfo)
    assert.equal(got.source, `catalog:${key.publicKey.toString('hex')}`)
  }
  assert.ok(pub.seederCounters.piecesServed > 0)

  // Nothing changed: the next fetch downloads nothing.
  const again = await fetchCatalog(fetchOpts(fetchNode, into, dir, key))
  assert.equal(again.up_to_date, true)
  assert.equal(again.bytes_downloaded, 0)
})

test('determinism: another publisher of the same library builds the same catalog; a restart keeps the pointer seq', async () => {
  const key = generatePublisherKey()
  const a = library('det', 300)
  const b = library('det', 300)
  const dataDir = tmp()
  const p1 = await publisher(pubNode, a, key, dataDir)
  const s1 = p1.status()
  await p1.close()
  // Same key, same data directory, same library: same infohash, and the same seq (keepSame).
  const p2 = await publisher(pubNode, b, key, dataDir)
  const s2 = p2.status()
  assert.equal(s2.infohash, s1.infohash)
  assert.equal(s2.seq, s1.seq)
  await p2.close()
  // Another key publishing the same records: the same catalog infohash under another pointer.
  const p3 = await publisher(pubNode, a, generatePublisherKey())
  assert.equal(p3.status().infohash, s1.infohash)
  assert.notEqual(p3.status().dht_target, s1.dht_target)
  await p3.close()
})

test('one torrent added to a sharded library: a fetcher holding the old catalog downloads one shard and the index only', async () => {
  const key = generatePublisherKey()
  const lib = library('grow', 5000)
  const pub = await publisher(pubNode, lib, key)
  const before = pub.status()
  assert.ok(before.shards >= 8, `sharded (${before.shards} shards)`)
  const into = store()
  const dir = tmp()
  const first = await fetchCatalog(fetchOpts(fetchNode, into, dir, key))
  assert.equal(first.imported, 5000)

  lib.addTorrents([synth('grow-extra', 1)])
  const after = await pub.refresh()
  assert.notEqual(after.infohash, before.infohash)
  assert.equal(after.seq, (before.seq ?? 0) + 1)
  assert.equal(after.shards, before.shards)

  const second = await fetchCatalog(fetchOpts(fetchNode, into, dir, key))
  assert.equal(second.infohash, after.infohash)
  assert.equal(second.shards_fetched, 1)
  assert.equal(second.shards_kept, before.shards - 1)
  assert.equal(second.imported, 1)
  assert.equal(into.count(), 5001)
  // One shard (about 1/shards of the catalog) plus the index, not the whole catalog.
  assert.ok(second.bytes_downloaded < first.bytes_downloaded / 4, `${second.bytes_downloaded} of ${first.bytes_downloaded}`)
})

test('an interrupted fetch resumes: the shards imported before the stop are not downloaded again', async () => {
  const key = generatePublisherKey()
  const lib = library('resume', 3000)
  const pub = await publisher(pubNode, lib, key)
  const shards = pub.status().shards
  assert.ok(shards >= 4)
  const into = store()
  const dir = tmp()
  const ac = new AbortController()
  await assert.rejects(fetchCatalog(fetchOpts(fetchNode, into, dir, key, {
    concurrency: 1,
    signal: ac.signal,
    onProgress: (p) => { if (p.shardsDone === 2) ac.abort(new AbortedError('test stop')) },
  })), (err: unknown) => err instanceof BbmeshError)
  const part = into.count()
  assert.ok(part > 0 && part < 3000, `partly imported (${part})`)
  const rest = await fetchCatalog(fetchOpts(fetchNode, into, dir, key))
  assert.equal(rest.shards_resumed, 2)
  assert.equal(rest.shards_fetched, shards - 2)
  assert.equal(into.count(), 3000)
  assert.equal(rest.imported, 3000 - part)
})

/** Serve a hand-made single-shard catalog and point the key at it: for hostile catalogs. */
async function publishRaw (key: PublisherKey, records: Array<{ key: Buffer, bytes: Buffer }>, corrupt?: (shard: Buffer) => Buffer, shardElsewhere = false): Promise<{ peer: PeerAddr, seeder: PieceSeeder }> {
  const file = assembleShard(0, 0, records)
  const st = shardTorrent(0, 0, file)
  const index = { bits: 0, pieceLength: CATALOG_PIECE_LENGTH, records: records.length, bytes: file.length, shards: [{ prefix: 0, ih: st.info.infohashV1 as Buffer, ih2: st.info.infohashV2 as Buffer, size: file.length, count: records.length }] }
  const indexFile = encodeIndex(index)
  const it = indexTorrent(indexFile)
  const seeder = new PieceSeeder({ host: '127.0.0.1' })
  closers.push(async () => await seeder.close())
  const at = await seeder.start()
  seeder.add({ rawInfo: it.rawInfo, pieceLength: CATALOG_PIECE_LENGTH, data: indexFile })
  const shardData = corrupt === undefined ? file : corrupt(file)
  if (shardElsewhere) {
    // Another seeder holds the shard and announces it; the index's seeder does not have it.
    const other = new PieceSeeder({ host: '127.0.0.1' })
    closers.push(async () => await other.close())
    const o = await other.start()
    other.add({ rawInfo: st.rawInfo, pieceLength: CATALOG_PIECE_LENGTH, data: shardData })
    await pubNode.announce(st.info.infohashV1 as Buffer, o.port)
  } else {
    seeder.add({ rawInfo: st.rawInfo, pieceLength: CATALOG_PIECE_LENGTH, data: shardData })
  }
  await putPointer(pubNode, key, it.info.infohashV1 as Buffer, { store: PointerStore.open(tmp()) })
  return { peer: { host: at.host, port: at.port }, seeder }
}

function goodRecords (tag: string, n: number): Array<{ key: Buffer, bytes: Buffer }> {
  return Array.from({ length: n }, (_, i) => recordFromTorrent(synth(tag, i))).map((r) => ({ key: r.key, bytes: encodeRecord(r) }))
}

test('hostile catalog: a record whose info does not hash to its infohash and a path-traversal record are refused one by one; the rest is imported', async () => {
  const key = generatePublisherKey()
  const good = goodRecords('hostile', 10)
  const tampered = recordFromTorrent(synth('hostile-t', 0))
  const info = Buffer.from(tampered.info)
  info[info.indexOf('name') + 8] ^= 1 // the info no longer hashes to the record's ih
  const evilInfo = encode({ files: [{ length: 5, path: ['..', '..', 'etc', 'passwd'] }], name: 'evil', 'piece length': 16384, pieces: Buffer.alloc(20) })
  const evil = encode({ files: [['../../etc/passwd', 5]], ih: sha1(evilInfo), info: evilInfo, name: 'evil', size: 5 })
  const { peer } = await publishRaw(key, [...good, { key: tampered.key, bytes: encodeRecord({ ...tampered, info }) }, { key: sha1(evilInfo), bytes: evil }])
  const into = store()
  const sum = await fetchCatalog(fetchOpts(fetchNode, into, tmp(), key, { peers: [peer] }))
  assert.equal(sum.imported, 10)
  assert.equal(sum.refused, 2)
  assert.deepEqual(sum.refused_by_code, { ERR_HASH_MISMATCH: 1, ERR_SCHEMA: 1 })
  assert.equal(into.count(), 10)
  assert.ok(sum.refused_examples.some((e) => /\.\./.test(e.error)), JSON.stringify(sum.refused_examples))
})

test('hostile catalog: a shard piece that fails its hash is refused with a clear error and nothing is imported', async () => {
  const key = generatePublisherKey()
  const { peer } = await publishRaw(key, goodRecords('badpiece', 20), (f) => { const c = Buffer.from(f); c[c.length >> 1] ^= 0xff; return c })
  const into = store()
  await assert.rejects(fetchCatalog(fetchOpts(fetchNode, into, tmp(), key, { peers: [peer] })), (err: unknown) => {
    assert.ok(err instanceof BbmeshError, String(err))
    assert.match(err.message, /hash/i)
    return true
  })
  assert.equal(into.count(), 0)
})

test('a catalog larger than the cap is refused before any shard is downloaded', async () => {
  const key = generatePublisherKey()
  const lib = library('cap', 200)
  const pub = await publisher(pubNode, lib, key)
  const into = store()
  await assert.rejects(fetchCatalog(fetchOpts(fetchNode, into, tmp(), key, { maxBytes: Math.floor(pub.status().bytes / 2) })), (err: unknown) => {
    assert.ok(err instanceof LimitError, String(err))
    assert.match(err.message, /over \d+ bytes/)
    return true
  })
  assert.equal(into.count(), 0)
})

test('a pointer whose seq is lower than one seen before is refused (stale), and nothing is fetched', async () => {
  const key = generatePublisherKey()
  const lib = library('stale', 50)
  const dataDir = tmp()
  const pub = await publisher(pubNode, lib, key)
  // The fetcher has seen seq 5 under this key before (e.g. a newer catalog, since rolled back).
  PointerStore.open(dataDir).recordPublished(key.publicKey, undefined, 1)
  PointerStore.open(dataDir).recordSeen(key.publicKey, undefined, (pub.status().seq ?? 0) + 4)
  const into = store()
  await assert.rejects(fetchCatalog(fetchOpts(fetchNode, into, dataDir, key)), (err: unknown) => err instanceof PointerError && err.reason === 'stale')
  assert.equal(into.count(), 0)
})

test('a shard the index\'s peers do not have is fetched from the peers the DHT gives for the shard itself', async () => {
  const key = generatePublisherKey()
  const { peer } = await publishRaw(key, goodRecords('elsewhere', 15), undefined, true)
  const into = store()
  const sum = await fetchCatalog(fetchOpts(fetchNode, into, tmp(), key, { peers: [peer] }))
  assert.equal(sum.imported, 15)
  assert.equal(into.count(), 15)
})

