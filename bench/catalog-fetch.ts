// Publish and fetch a library over loopback (src/library/publisher.ts, catalog-fetch.ts): a
// store of 100k synthetic torrents published by one CatalogPublisher (one seeder; the build in
// a worker, streamed to disk and served from the files, as `bbmesh publish` does), fetched by
// one fetcher that knows only the public key, through a loopback DHT of 8 nodes: pointer,
// peers, index, every shard downloaded (every piece SHA-1 checked, v2 roots checked), every
// record hash-checked, parsed and imported into SQLite. Then one torrent is added, the
// publisher rebuilds, and the fetcher fetches again (one shard and the index).
//
//   node dist/bench/catalog-fetch.js     (BBMESH_BENCH_CATALOG_N to change the size)

import { fileURLToPath } from 'node:url'
import { mkdtempSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { tmpdir } from 'node:os'
import { synth } from './catalog.js'
import { openStore } from '../src/store/index.js'
import { createTestnet } from '../src/testnet/testnet.js'
import { DhtNode } from '../crawler/dht-node.js'
import { fetchMetadata } from '../crawler/metadata-fetcher.js'
import { generatePublisherKey } from '../src/identity/publisher-key.js'
import { ed25519Verify } from '../src/library/pointer.js'
import { PointerStore } from '../src/library/pointer-store.js'
import { CatalogPublisher } from '../src/library/publisher.js'
import { workerCatalogBuilder } from '../src/library/catalog-builder.js'
import { fetchCatalog, type CatalogFetchSummary } from '../src/library/catalog-fetch.js'
import { downloadTorrent } from '../src/library/piece-downloader.js'

const mib = (n: number): string => (n / 2 ** 20).toFixed(1)

export async function run (): Promise<{ markdown: string }> {
  const n = Number(process.env.BBMESH_BENCH_CATALOG_N ?? 100_000)
  const dir = mkdtempSync(join(tmpdir(), 'bbmesh-bench-catalog-fetch-'))
  const net = await createTestnet({ nodes: 8, v1: 0, v2: 0, hybrid: 0, seeders: 1, net: 91 })
  const fast = { pacer: { perIpRate: 100_000, perIpBurst: 100_000, globalRate: 1_000_000, bytesRate: 1e9 }, answerRate: 100_000, answerBurst: 100_000 }
  const nodes: DhtNode[] = []
  const node = async (): Promise<DhtNode> => {
    const d = new DhtNode({ host: '127.0.0.1', port: 0, bootstrap: net.bootstrap, verify: ed25519Verify, guard: fast })
    nodes.push(d)
    await d.start({ bootstrapTimeoutMs: 5000 })
    return d
  }
  const lib = openStore(join(dir, 'pub.sqlite'))
  const into = openStore(join(dir, 'fetch.sqlite'))
  let pub: CatalogPublisher | null = null
  try {
    for (let i = 0; i < n; i += 2000) lib.addTorrents(Array.from({ length: Math.min(2000, n - i) }, (_, j) => synth(i + j)))
    const key = generatePublisherKey()
    // As `bbmesh publish` runs it: the build in a worker thread, streamed to disk, served from files.
    pub = new CatalogPublisher({ dht: await node(), library: lib, signer: key, pointers: PointerStore.open(join(dir, 'pub')), stateDir: join(dir, 'pub', 'published'), seeder: { host: '127.0.0.1', port: 0 }, rebuildCheckMs: 3_600_000, builder: workerCatalogBuilder(join(dir, 'pub.sqlite')) })
    const rss0 = process.memoryUsage().rss
    let rssPeak = rss0
    const sampler = setInterval(() => { rssPeak = Math.max(rssPeak, process.memoryUsage().rss) }, 50)
    let t0 = performance.now()
    const st = await pub.start()
    const publishS = (performance.now() - t0) / 1000
    clearInterval(sampler)

    const fetcher = await node()
    const fetchDir = join(dir, 'fetcher')
    let indexAt = 0
    const fetchOnce = async (): Promise<{ s: CatalogFetchSummary, secs: number, indexS: number }> => {
      const start = performance.now()
      indexAt = 0
      const s = await fetchCatalog({
        dht: fetcher, store: into, pointers: PointerStore.open(fetchDir), dataDir: fetchDir, publicKey: key.publicKey,
        download: downloadTorrent, fetchMetadata,
        onProgress: (p) => { if (p.stage === 'shards' && indexAt === 0) indexAt = performance.now() },
      })
      return { s, secs: (performance.now() - start) / 1000, indexS: ((indexAt === 0 ? performance.now() : indexAt) - start) / 1000 }
    }
    const full = await fetchOnce()
    if (full.s.imported !== n) throw new Error(`imported ${full.s.imported} of ${n}`)

    into.close()
    // A fresh fetcher store again would repeat the numbers; the incremental case is what matters next.
    const into2 = openStore(join(dir, 'fetch.sqlite'))
    lib.addTorrents([synth(n + 1)])
    t0 = performance.now()
    const after = await pub.refresh()
    const rebuildS = (performance.now() - t0) / 1000
    const fetchAgain = async (): Promise<{ s: CatalogFetchSummary, secs: number }> => {
      const start = performance.now()
      const s = await fetchCatalog({ dht: fetcher, store: into2, pointers: PointerStore.open(fetchDir), dataDir: fetchDir, publicKey: key.publicKey, download: downloadTorrent, fetchMetadata })
      return { s, secs: (performance.now() - start) / 1000 }
    }
    const inc = await fetchAgain()
    into2.close()

    const f = full.s
    const lines = [
      '## Library catalog: publish and fetch over loopback', '',
      `One publisher (CatalogPublisher: one PieceSeeder) and one fetcher (fetchCatalog, knowing only the public key) on a loopback DHT of 8 bbmesh nodes, in one process; ${n.toLocaleString('en')} synthetic torrents (the catalog benchmark's library). One run on this machine.`, '',
      '| | |', '| --- | --- |',
      `| publish: build ${st.shards} shards + index (worker thread, streamed to disk), seed from the files, announce, put the pointer | ${publishS.toFixed(1)} s (${mib(st.bytes)} MiB, pointer stored on ${st.stored} nodes); the process's RSS grew by at most ${mib(rssPeak - rss0)} MiB during it, the worker thread included (sampled every 50 ms) |`,
      `| fetch + import, whole catalog | ${full.secs.toFixed(1)} s: pointer, peers and index ${full.indexS.toFixed(1)} s; ${f.shards_fetched} shards downloaded, verified, decoded and imported in ${(full.secs - full.indexS).toFixed(1)} s, of which checking every record (hashes, parse, paths) ${(f.ms_check / 1000).toFixed(1)} s and writing them to SQLite ${(f.ms_import / 1000).toFixed(1)} s (the downloads, 4 at a time, take the rest) |`,
      `| downloaded | ${mib(f.bytes_downloaded)} MiB at ${(f.bytes_downloaded / 2 ** 20 / full.secs).toFixed(1)} MiB/s overall; ${f.imported.toLocaleString('en')} torrents imported (${(f.imported / full.secs).toFixed(0)}/s), ${f.refused} refused, ${f.pieces_failed} pieces failed |`,
      `| add one torrent: publisher rebuild + new pointer | ${rebuildS.toFixed(1)} s (seq ${st.seq ?? '?'} → ${after.seq ?? '?'}) |`,
      `| add one torrent: re-fetch | ${inc.secs.toFixed(2)} s, ${inc.s.shards_fetched} shard + index, ${(inc.s.bytes_downloaded / 1024).toFixed(0)} KiB, ${inc.s.imported} imported, ${inc.s.shards_kept} shards kept |`,
      '',
      'Publisher and fetcher share one event loop here, so the figures are a floor on what two machines on a LAN would see; shards are fetched 4 at a time, each from the one seeder.',
      '',
    ]
    return { markdown: lines.join('\n') }
  } finally {
    await pub?.close()
    await Promise.all(nodes.map(async (d) => await d.close()))
    await net.close()
    lib.close()
    try { into.close() } catch {}
    rmSync(dir, { recursive: true, force: true })
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  run().then((r) => { console.log(r.markdown) }).catch((e) => { console.error(e); process.exitCode = 1 })
}
