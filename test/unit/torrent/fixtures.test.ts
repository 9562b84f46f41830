import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { parseTorrentFile } from '../../../src/torrent/torrent-file.js'
import { verifyInfohash } from '../../../src/torrent/info-verify.js'
import { repoRoot } from './helpers.js'

// Made by libtorrent 2.0.8; see fixtures/README.md.
const FIXTURES = [
  { file: 'lt-v1.torrent', version: 'v1', v1: '8b87bf956697ac403a7681af5cc96a1fe6ccbf49', v2: undefined },
  { file: 'lt-v2.torrent', version: 'v2', v1: undefined, v2: 'a5e9c72a07a5a3c263e8c94f3c76197715547b5ac640ed36e1ad38c46302153b' },
  { file: 'lt-hybrid.torrent', version: 'hybrid', v1: '8ca30f959863f09c9bd67cad988f7e9f48aca34f', v2: '18399cb7811769d7eb3b5a68c3a9f3483a179b8e9e09ca5f6dd72b95e81b8082' },
] as const

const sizes: Record<string, number> = { 'readme.txt': 1000, 'docs/big.bin': 40000, 'docs/empty.dat': 0 }

for (const fx of FIXTURES) {
  test(`fixture ${fx.file}: known infohash, name, files`, () => {
    const p = parseTorrentFile(readFileSync(join(repoRoot(), 'fixtures', 'torrents', fx.file)))
    assert.equal(p.info.version, fx.version)
    assert.equal(p.info.infohashV1?.toString('hex'), fx.v1)
    assert.equal(p.info.infohashV2?.toString('hex'), fx.v2)
    assert.equal(p.info.name, 'bbmesh fixture')
    assert.equal(p.info.pieceLength, 16384)
    assert.equal(p.info.totalSize, 41000)
    assert.deepEqual(Object.fromEntries(p.info.files.map((f) => [f.path, f.size])), sizes)
    if (fx.version !== 'v1') {
      // BEP-52 order (sorted) and a verified piece layer for the one multi-piece file.
      assert.deepEqual(p.info.files.map((f) => f.path), ['docs/big.bin', 'docs/empty.dat', 'readme.txt'])
      assert.equal(p.pieceLayers?.size, 1)
      assert.equal(p.pieceLayers?.get(p.info.files[0].piecesRoot?.toString('hex') ?? '')?.length, 3 * 32)
    }
    if (fx.v1 !== undefined) assert.equal(verifyInfohash(p.rawInfo, Buffer.from(fx.v1, 'hex')), 'v1')
    if (fx.v2 !== undefined) assert.equal(verifyInfohash(p.rawInfo, Buffer.from(fx.v2, 'hex').subarray(0, 20)), 'v2')
  })
}
