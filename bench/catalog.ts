// Catalog build (src/library/catalog.ts): time and size for a library of 100k synthetic torrents
// (src/torrent/synthetic.ts: 1-4 files of 1-8 KiB, a third each v1, hybrid, v2; real info dicts
// of big torrents are larger, their `pieces` grow with the content), then the same library plus
// one torrent: shards changed and the bytes a fetcher holding the old catalog downloads.
// Also the full read of the catalog (every record hash-checked and parsed).
//
//   node dist/bench/catalog.js     (BBMESH_BENCH_CATALOG_N to change the size)

import { fileURLToPath } from 'node:url'
import { syntheticTorrent } from '../src/torrent/synthetic.js'
import type { CreateMode } from '../src/torrent/create.js'
import type { TorrentRecord } from '../src/torrent/types.js'
import { buildCatalog, diffCatalogs, readCatalog } from '../src/library/catalog.js'

const MODES: CreateMode[] = ['v1', 'hybrid', 'v2']

/** Torrent i of the benchmarks' synthetic library (shared with bench/catalog-fetch.ts). */
export function synth (i: number): TorrentRecord {
  const t = syntheticTorrent(`bench-catalog-${i}`, MODES[i % 3])
  return { info: t.info, rawInfo: t.rawInfo, source: 'sample', discoveredAt: 0 }
}

const mib = (n: number): string => (n / 2 ** 20).toFixed(1)

export async function run (): Promise<{ markdown: string }> {
  const n = Number(process.env.BBMESH_BENCH_CATALOG_N ?? 100_000)
  const lib: TorrentRecord[] = []
  for (let i = 0; i < n; i++) lib.push(synth(i))
  const infoBytes = lib.reduce((s, t) => s + t.rawInfo.length, 0)

  let t0 = performance.now()
  const a = buildCatalog(lib)
  const buildS = (performance.now() - t0) / 1000
  t0 = performance.now()
  const again = buildCatalog(lib)
  const rebuildS = (performance.now() - t0) / 1000
  const same = again.infohash.equals(a.infohash)

  const extra = synth(n + 1)
  t0 = performance.now()
  const b = buildCatalog([...lib, extra], { previous: a.index })
  const addS = (performance.now() - t0) / 1000
  const diff = diffCatalogs(a.index, b.index)

  const files = new Map(b.shards.map((s) => [s.prefix, s.file]))
  t0 = performance.now()
  const read = readCatalog(b.indexFile, (e) => files.get(e.prefix) as Buffer)
  const readS = (performance.now() - t0) / 1000

  const torrentBytes = a.shards.reduce((s, x) => s + x.torrent.torrent.length, 0) + a.indexTorrent.torrent.length
  const shardSizes = a.shards.map((s) => s.file.length).sort((x, y) => x - y)
  const lines = [
    '## Library catalog (build, size, incremental fetch)', '',
    `A catalog of ${n.toLocaleString('en')} synthetic torrents (src/torrent/synthetic.ts: 1-4 files of 1-8 KiB, v1 / hybrid / v2 in thirds; info dicts ${(infoBytes / n).toFixed(0)} bytes on average, ${mib(infoBytes)} MiB in all). One run on this machine; build = encode every record, sort, shard, create every hybrid torrent (SHA-1 + SHA-256 of every byte).`, '',
    '| | |', '| --- | --- |',
    `| build, ${n.toLocaleString('en')} torrents | ${buildS.toFixed(2)} s (again: ${rebuildS.toFixed(2)} s, same infohash: ${same ? 'yes' : 'NO'}) |`,
    `| prefix bits / shards | ${a.bits} / ${a.shards.length} (records per shard ${Math.min(...a.shards.map((s) => s.count))}..${Math.max(...a.shards.map((s) => s.count))}) |`,
    `| catalog size (shard files + index file) | ${mib(a.bytes)} MiB (${(a.bytes / n).toFixed(0)} bytes per torrent; shard files ${(shardSizes[0] / 1024).toFixed(0)}..${(shardSizes[shardSizes.length - 1] / 1024).toFixed(0)} KiB; index file ${(a.indexFile.length / 1024).toFixed(1)} KiB) |`,
    `| .torrent files of the shards and index | ${(torrentBytes / 1024).toFixed(1)} KiB |`,
    `| add one torrent: rebuild | ${addS.toFixed(2)} s |`,
    `| add one torrent: shards changed | ${diff.fetch.length} of ${b.shards.length} (kept ${diff.keep.length}) + the index |`,
    `| add one torrent: a fetcher with the old catalog downloads | ${((diff.fetchBytes + b.indexFile.length) / 1024).toFixed(1)} KiB (shard ${(diff.fetchBytes / 1024).toFixed(1)} KiB + index ${(b.indexFile.length / 1024).toFixed(1)} KiB), vs ${mib(b.bytes)} MiB for the whole catalog |`,
    `| read the whole catalog (index, shard hashes, every record hash-checked and parsed) | ${readS.toFixed(2)} s, ${read.records.length.toLocaleString('en')} records, ${read.refused} refused |`,
    '',
    `Per 100k torrents the build time and size scale with the info dicts: real ones with many pieces are larger (a 4 GiB torrent with 1 MiB pieces has 80 KiB of \`pieces\`), so size is about the sum of the info dicts plus the record overhead measured here (${((a.bytes - infoBytes) / n).toFixed(0)} bytes a torrent: hashes, name, file list, framing). This build (buildCatalog) holds the encoded records in memory; \`bbmesh publish\` and \`harvest --publish\` stream the same bytes to disk one shard at a time (next section).`,
    '',
  ]
  return { markdown: lines.join('\n') }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  run().then((r) => { console.log(r.markdown) }).catch((e) => { console.error(e); process.exitCode = 1 })
}
