// Seeding v2 (issue 5, BEP-52): real libtorrent 2.0 downloads v2-only and hybrid torrents
// by magnet (and a v2-only one from its .torrent) from a bbmesh PieceSeeder on loopback, the
// seeder its only peer. A magnet brings no piece layers, so libtorrent must ask the seeder for
// them (hash request, msg 21) before it can check a piece of any file longer than one piece:
// hashesServed > 0 shows the hash path was used, and every piece held (libtorrent marks a
// piece had only after its hash check) with no hash failure shows the hashes and their proofs
// were right. A file of 601 pieces makes libtorrent ask for its piece layer in two requests
// (512 + 128 hashes) that need uncle hashes, so the proof path is exercised too.
// Without python3-libtorrent these tests FAIL: requireLibtorrent() throws, nothing skips.

import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { requireLibtorrent, startLtNet, type LtNet } from '../helpers/libtorrent.js'
import { createTorrentFromMemory, type CreateMode } from '../../src/torrent/create.js'
import { PieceSeeder, seedTorrentOf } from '../../src/library/piece-seeder.js'

let net: LtNet
let dir: string

before(async () => {
  requireLibtorrent()
  net = await startLtNet()
  await net.start({ sessions: 1, link: 'none' })
  dir = mkdtempSync(join(tmpdir(), 'bbmesh-seed-v2-'))
})

after(async () => {
  await net?.close()
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true })
})

const KIB = 1024
// Short last pieces, a one-block file, an empty file, and big.bin of 601 pieces at 16 KiB.
const FILES: Array<[string, number]> = [
  ['a.bin', 40_000], ['b.txt', 123], ['empty.txt', 0], ['sub/c.bin', 70_001], ['sub/d.bin', 16 * KIB], ['big.bin', 600 * 16 * KIB + 5],
]

/** libtorrent may report seeding before its last disk writes land: read again until equal (bounded). */
async function assertOnDisk (path: string, data: Buffer, what: string): Promise<void> {
  const until = Date.now() + 15_000
  while (Date.now() < until) {
    try { if (readFileSync(path).equals(data)) return } catch {}
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  assert.deepEqual(readFileSync(path), data, what)
}

// expect: what the seeder must have seen. 'uncles': hash requests answered, some with proof
// hashes (big.bin has 601 pieces at 16 KiB: libtorrent asks base 0, index 0, length 512,
// proof layers 9 (1 uncle), then index 512, length 128 (3 uncles)). 'hashes': hash requests
// answered (at 64 KiB big.bin has 151 pieces: one request of 256 at base layer 2, no uncle).
// 'none': a hybrid named by its SHA-1 magnet. libtorrent knows no v2 hash before the metadata,
// so its handshake carries the SHA-1 hash without the v2 bit and the link stays v1
// (bt_peer_connection: protocol_v2 is set only for a handshake on the v2 hash);
// maybe_send_hash_request() sends nothing on a v1 link, and libtorrent checks the pieces
// against the v1 hashes alone. Also 'none': a v2-only .torrent, whose piece layers libtorrent
// already holds (the v2 piece layout is still exercised).
const cases: Array<{ mode: CreateMode, pieceLength: number, by: 'v1' | 'v2' | 'torrent', expect: 'uncles' | 'hashes' | 'none' }> = [
  { mode: 'v2', pieceLength: 16 * KIB, by: 'v2', expect: 'uncles' },
  { mode: 'v2', pieceLength: 64 * KIB, by: 'v2', expect: 'hashes' },
  { mode: 'hybrid', pieceLength: 16 * KIB, by: 'v2', expect: 'uncles' },
  { mode: 'hybrid', pieceLength: 16 * KIB, by: 'v1', expect: 'none' },
  { mode: 'v2', pieceLength: 16 * KIB, by: 'torrent', expect: 'none' },
]

for (const { mode, pieceLength, by, expect } of cases) {
  test(`libtorrent downloads a ${mode} torrent (${pieceLength / KIB} KiB pieces) ${by === 'torrent' ? 'from its .torrent' : `by ${by} magnet`} from a bbmesh seeder, hashes: ${expect}`, async () => {
    const name = `seed-${mode}-${pieceLength}-${by}`
    const files = new Map(FILES.map(([p, n]) => [p, randomBytes(n)]))
    const t = createTorrentFromMemory({ name, files: [...files].map(([p, data]) => ({ path: p.split('/'), data })) }, { mode, pieceLength })
    const v1 = t.info.infohashV1?.toString('hex') ?? null
    const v2 = (t.info.infohashV2 as Buffer).toString('hex')
    const seeder = new PieceSeeder()
    try {
      const { port } = await seeder.start()
      seeder.add(seedTorrentOf(t.rawInfo, files))
      const save = mkdtempSync(join(dir, 'dl-'))
      const from = by === 'torrent' ? { torrent: t.torrent } : { infohash: by === 'v2' ? v2 : v1 as string }
      const r = await net.download({ session: 0, savePath: save, peers: [['127.0.0.1', port]], ...from })
      assert.equal(r.v2, v2)
      assert.equal(r.v1, v1)
      // Each file from a piece boundary, empty files without pieces: libtorrent counts as the seeder does.
      assert.equal(r.numPieces, FILES.reduce((n, [, size]) => n + Math.ceil(size / pieceLength), 0))
      assert.equal(r.piecesValid, r.numPieces)
      assert.equal(r.hashFailures, 0)
      for (const [p, data] of files) await assertOnDisk(join(save, name, p), data, p)
      const c = seeder.counters
      assert.ok(c.bytesServed >= t.info.totalSize)
      assert.equal(c.hashRejects, 0)
      // Every request libtorrent made fit the v2 piece layout (it asks for whole 16 KiB blocks
      // in a file's short last piece); a refused one would have closed the link.
      assert.equal(c.badRequests, 0)
      if (expect === 'none') {
        assert.equal(c.hashRequests, 0)
        assert.equal(c.v2Upgrades, 0)
      } else {
        assert.ok(c.hashesServed > 0, 'libtorrent asked for hashes')
        assert.equal(c.hashesServed, c.hashRequests)
        if (expect === 'uncles') assert.ok(c.uncleHashesServed > 0, 'some replies carried proof hashes')
        else assert.equal(c.uncleHashesServed, 0)
      }
    } finally { await seeder.close() }
  })
}
