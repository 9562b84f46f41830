// Seeding (issue 5, v1 pieces): real libtorrent 2.0 downloads a torrent from a bbmesh
// PieceSeeder on loopback, given only the seeder as peer, and holds every piece (libtorrent
// marks a piece had only after its hash check). v1 and hybrid, several files, a few pieces;
// also a catalog shard (from memory, and written to disk by the streaming build and served
// from its file), and a magnet-only download (info dict over ut_metadata first). v2-only
// torrents and BEP-52 hash requests: seed-v2-libtorrent.test.ts.
// Without python3-libtorrent these tests FAIL: requireLibtorrent() throws, nothing skips.

import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { requireLibtorrent, startLtNet, type LtNet } from '../helpers/libtorrent.js'
import { createTorrentFromMemory, type CreateMode } from '../../src/torrent/create.js'
import { PieceSeeder, v1PieceData } from '../../src/library/piece-seeder.js'
import { buildCatalog } from '../../src/library/catalog.js'
import { buildCatalogToDisk, type ShardSource } from '../../src/library/catalog-stream.js'
import { dhtKey } from '../../src/library/catalog-format.js'
import { syntheticTorrent } from '../../src/torrent/synthetic.js'

let net: LtNet
let seeder: PieceSeeder
let port: number
let dir: string

before(async () => {
  requireLibtorrent()
  net = await startLtNet()
  await net.start({ sessions: 1, link: 'none' })
  seeder = new PieceSeeder()
  port = (await seeder.start()).port
  dir = mkdtempSync(join(tmpdir(), 'bbmesh-seed-'))
})

after(async () => {
  await seeder?.close()
  await net?.close()
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true })
})

const FILES: Array<[string, number]> = [['a.bin', 40_000], ['b.txt', 123], ['sub/c.bin', 70_001], ['sub/d.bin', 16 * 1024]]

/**
 * The file as libtorrent wrote it equals `data`. libtorrent checks a piece from its write
 * buffer and may report the torrent seeding before its last disk writes land, so the file is
 * read again until it matches (bounded wait), then compared.
 */
async function assertOnDisk (path: string, data: Buffer, what: string): Promise<void> {
  const until = Date.now() + 15_000
  while (Date.now() < until) {
    try { if (readFileSync(path).equals(data)) return } catch {}
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  assert.deepEqual(readFileSync(path), data, what)
}

for (const mode of ['v1', 'hybrid'] as CreateMode[]) {
  for (const magnet of [false, true]) {
    test(`libtorrent downloads a ${mode} torrent${magnet ? ' from a magnet' : ''} from a bbmesh seeder, every piece valid`, async () => {
      const name = `seed-${mode}-${magnet ? 'magnet' : 'file'}`
      const files = new Map(FILES.map(([p, n]) => [p, randomBytes(n)]))
      const t = createTorrentFromMemory({ name, files: [...files].map(([p, data]) => ({ path: p.split('/'), data })) }, { mode, pieceLength: 16 * 1024 })
      seeder.add({ rawInfo: t.rawInfo, pieceLength: t.info.pieceLength, data: v1PieceData(t.rawInfo, files) })
      const before = seeder.counters.bytesServed
      const upgrades = seeder.counters.v2Upgrades
      const rejects = seeder.counters.hashRejects
      const save = mkdtempSync(join(dir, 'dl-'))
      const ih = (t.info.infohashV1 as Buffer).toString('hex')
      const r = await net.download({ session: 0, savePath: save, peers: [['127.0.0.1', port]], ...(magnet ? { infohash: ih } : { torrent: t.torrent }) })
      assert.equal(r.v1, ih)
      assert.ok(r.numPieces >= 5, `a few pieces: ${r.numPieces}`)
      assert.equal(r.piecesValid, r.numPieces)
      assert.equal(r.hashFailures, 0)
      for (const [p, data] of files) await assertOnDisk(join(save, name, p), data, p)
      assert.ok(seeder.counters.bytesServed - before >= t.info.totalSize)
      // Given a hybrid's .torrent, libtorrent sends the SHA-1 hash with the v2 reserved bit; the
      // seeder answers with the truncated v2 hash (BEP-52 upgrade) and libtorrent accepts the
      // link (else no piece would have come). From a SHA-1 magnet it knows no v2 hash: no bit.
      if (mode === 'hybrid' && !magnet) assert.ok(seeder.counters.v2Upgrades > upgrades, 'upgraded to v2')
      else assert.equal(seeder.counters.v2Upgrades, upgrades)
      assert.equal(seeder.counters.hashRejects, rejects)
    })
  }
}

test('libtorrent downloads a catalog shard torrent from a bbmesh seeder', async () => {
  const records = Array.from({ length: 200 }, (_, i) => { const s = syntheticTorrent(`seed-cat-${i}`, 'v1'); return { info: s.info, rawInfo: s.rawInfo } })
  const cat = buildCatalog(records)
  const shard = cat.shards[0]
  const t = shard.torrent
  seeder.add({ rawInfo: t.rawInfo, pieceLength: t.info.pieceLength, data: v1PieceData(t.rawInfo, new Map([[t.info.name, shard.file]])) })
  const save = mkdtempSync(join(dir, 'cat-'))
  const r = await net.download({ session: 0, savePath: save, peers: [['127.0.0.1', port]], torrent: t.torrent })
  assert.equal(r.piecesValid, r.numPieces)
  assert.equal(r.hashFailures, 0)
  await assertOnDisk(join(save, t.info.name), shard.file, t.info.name)
})

test('libtorrent downloads a multi-piece catalog shard served from its file on disk (streaming build, file-backed seeder)', async () => {
  const modes: CreateMode[] = ['v1', 'hybrid', 'v2']
  const records = Array.from({ length: 1500 }, (_, i) => { const s = syntheticTorrent(`seed-disk-${i}`, modes[i % 3]); return { info: s.info, rawInfo: s.rawInfo } })
  const keyOf = (r: typeof records[number]): Buffer => dhtKey(r.info.infohashV1, r.info.infohashV2)
  const source: ShardSource = {
    countForCatalog: () => records.length,
    torrentsInKeyRange: (lo, hi) => records.filter((r) => Buffer.compare(keyOf(r), lo) >= 0 && (hi === null || Buffer.compare(keyOf(r), hi) < 0)),
  }
  const cat = buildCatalogToDisk(source, join(dir, 'shards'), { bits: 0 })
  const shard = cat.shards[0]
  const file = readFileSync(shard.path)
  assert.ok(file.length > 2 * cat.index.pieceLength, `several pieces: ${file.length} bytes`)
  assert.ok(file.equals(buildCatalog(records, { bits: 0 }).shards[0].file))
  const fileSeeder = new PieceSeeder({ pieceCacheBytes: cat.index.pieceLength, maxOpenFiles: 1 })
  const p = (await fileSeeder.start()).port
  try {
    fileSeeder.add({ rawInfo: shard.rawInfo, pieceLength: cat.index.pieceLength, path: shard.path, size: shard.size })
    const save = mkdtempSync(join(dir, 'disk-'))
    // By SHA-1 magnet: libtorrent takes the info dict over ut_metadata, then every piece.
    const r = await net.download({ session: 0, savePath: save, peers: [['127.0.0.1', p]], infohash: shard.ih.toString('hex') })
    assert.equal(r.numPieces, Math.ceil(file.length / cat.index.pieceLength))
    assert.equal(r.piecesValid, r.numPieces)
    assert.equal(r.hashFailures, 0)
    await assertOnDisk(join(save, shard.name), file, shard.name)
    assert.equal(fileSeeder.counters.fileErrors, 0)
    assert.ok(fileSeeder.counters.bytesServed >= file.length)
  } finally { await fileSeeder.close() }
})
