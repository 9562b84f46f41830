// PieceSeeder serving torrents from files (FileSeedTorrent, seed-file.ts), libtorrent-free:
// downloadTorrent gets exactly the file's bytes (a multi-piece hybrid and a catalog shard
// written by buildCatalogToDisk), BEP-52 hash requests answered from a tree streamed from the
// file verify up to the pieces root (an independent verifier here), the piece cache and the
// open files stay under their bounds, idle files are closed, and a file removed, truncated
// or changed under the seeder is refused (link closed, fileErrors), never served.

import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { createHash, randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync, truncateSync, writeFileSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { tmpdir } from 'node:os'
import { DownloadError, UsageError } from '../../../src/core/errors.js'
import { MSG, frame, encodeHashRequest } from '../../../src/wire/messages.js'
import { RawPeer } from '../../helpers/raw-peer.js'
import { createTorrentFromMemory, type CreatedTorrent } from '../../../src/torrent/create.js'
import { PieceSeeder, type PieceSeederOptions } from '../../../src/library/piece-seeder.js'
import { downloadTorrent } from '../../../src/library/piece-downloader.js'
import { buildCatalogToDisk, type ShardSource } from '../../../src/library/catalog-stream.js'
import { dhtKey } from '../../../src/library/catalog-format.js'
import { syntheticTorrent } from '../../../src/torrent/synthetic.js'

const KIB = 1024
const PL = 32 * KIB
let dir = ''

before(() => { dir = mkdtempSync(join(tmpdir(), 'bbmesh-seed-file-')) })
after(() => { rmSync(dir, { recursive: true, force: true }) })

/** A single-file hybrid torrent of `size` random bytes, its file written to disk. */
function onDisk (name: string, size: number): { t: CreatedTorrent, data: Buffer, path: string } {
  const data = randomBytes(size)
  const t = createTorrentFromMemory({ name, files: [{ path: [], data }] }, { mode: 'hybrid', pieceLength: PL })
  const path = join(dir, name)
  writeFileSync(path, data)
  return { t, data, path }
}

async function withSeeder (opts: PieceSeederOptions, fn: (s: PieceSeeder, port: number) => Promise<void>): Promise<void> {
  const s = new PieceSeeder(opts)
  const { port } = await s.start()
  try { await fn(s, port) } finally { await s.close() }
}

const download = async (t: CreatedTorrent, port: number, ih = t.info.infohashV1 as Buffer): Promise<Buffer> => {
  const r = await downloadTorrent(t.rawInfo, { infohash: ih, peers: [{ host: '127.0.0.1', port }], maxBytes: 64 << 20, timeoutMs: 30_000, stallTimeoutMs: 5_000 })
  assert.equal(r.files.length, 1)
  return r.files[0].data
}

async function until (cond: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 400 && !cond(); i++) await new Promise((resolve) => setTimeout(resolve, 25))
  assert.ok(cond(), what)
}

test('file-backed: downloadTorrent gets the file\'s bytes; the piece cache and open files stay bounded; idle files close', async () => {
  const a = onDisk('file-a.bin', 37 * PL + 100)
  const b = onDisk('file-b.bin', 5 * PL)
  const cache = 3 * PL
  await withSeeder({ pieceCacheBytes: cache, maxOpenFiles: 1, fileIdleMs: 100 }, async (s, port) => {
    s.add({ rawInfo: a.t.rawInfo, pieceLength: PL, path: a.path, size: a.data.length })
    s.add({ rawInfo: b.t.rawInfo, pieceLength: PL, path: b.path, size: b.data.length })
    let maxOpen = 0
    let maxCached = 0
    const watch = setInterval(() => { maxOpen = Math.max(maxOpen, s.files.openFiles); maxCached = Math.max(maxCached, s.files.cachedBytes) }, 1)
    try {
      // Both at once over one allowed file handle: readers take turns.
      const [ga, gb] = await Promise.all([download(a.t, port), download(b.t, port, (b.t.info.infohashV2 as Buffer).subarray(0, 20))])
      assert.ok(ga.equals(a.data))
      assert.ok(gb.equals(b.data))
    } finally { clearInterval(watch) }
    assert.ok(maxOpen <= 1, `open files ${maxOpen}`)
    assert.ok(maxCached <= cache, `cached ${maxCached}`)
    assert.ok(s.files.cachedBytes <= cache)
    assert.equal(s.counters.fileErrors, 0)
    assert.ok(s.counters.piecesServed >= 38 + 5)
    await until(() => s.files.openFiles === 0, 'idle files closed')
  })
})

test('file-backed: a catalog shard written by the streaming build is served byte for byte', async () => {
  const recs = Array.from({ length: 300 }, (_, i) => { const t = syntheticTorrent(`seed-file-${i}`, (['v1', 'hybrid', 'v2'] as const)[i % 3]); return { info: t.info, rawInfo: t.rawInfo } })
  const keyOf = (r: typeof recs[number]): Buffer => dhtKey(r.info.infohashV1, r.info.infohashV2)
  const source: ShardSource = {
    countForCatalog: () => recs.length,
    torrentsInKeyRange: (lo, hi) => recs.filter((r) => Buffer.compare(keyOf(r), lo) >= 0 && (hi === null || Buffer.compare(keyOf(r), hi) < 0)),
  }
  const cat = buildCatalogToDisk(source, join(dir, 'shards'), { bits: 1 })
  assert.equal(cat.shards.length, 2)
  await withSeeder({}, async (s, port) => {
    for (const sh of cat.shards) s.add({ rawInfo: sh.rawInfo, pieceLength: cat.index.pieceLength, path: sh.path, size: sh.size })
    for (const sh of cat.shards) {
      const t = createTorrentFromMemory({ name: sh.name, files: [{ path: [], data: readFileSync(sh.path) }] }, { mode: 'hybrid', pieceLength: cat.index.pieceLength })
      assert.ok(t.rawInfo.equals(sh.rawInfo))
      const got = await download(t, port, sh.ih)
      assert.ok(got.equals(readFileSync(sh.path)))
    }
  })
})

// ------------------------------------------------------------------ hash requests

const sha = (...parts: Uint8Array[]): Buffer => { const h = createHash('sha256'); for (const p of parts) h.update(p); return h.digest() }


test('file-backed: hash requests are answered from a tree streamed from the file, and verify up to the pieces root', async () => {
  const a = onDisk('hash-a.bin', 37 * PL + 100) // 75 blocks: 128 leaves, height 7
  const root = a.t.info.files[0].piecesRoot as Buffer
  const leaves: Buffer[] = []
  for (let o = 0; o < a.data.length; o += 16 * KIB) leaves.push(sha(a.data.subarray(o, o + 16 * KIB)))
  while (leaves.length < 128) leaves.push(Buffer.alloc(32))
  await withSeeder({}, async (s, port) => {
    s.add({ rawInfo: a.t.rawInfo, pieceLength: PL, path: a.path, size: a.data.length })
    const p = await RawPeer.handshake(port, (a.t.info.infohashV2 as Buffer).subarray(0, 20))
    for (const [index, length, proofLayers] of [[8, 8, 6], [0, 2, 6], [72, 8, 6]]) {
      p.s.write(frame(MSG.hashRequest, encodeHashRequest({ root, base: 0, index, length, proofLayers })))
      const reply = await p.next(MSG.hashes, MSG.hashReject)
      assert.ok(reply !== null && reply[0] === MSG.hashes, 'hashes, not a reject')
      const hashes: Buffer[] = []
      for (let o = 49; o < reply.length; o += 32) hashes.push(reply.subarray(o, o + 32))
      const base = hashes.slice(0, length)
      assert.deepEqual(base, leaves.slice(index, index + length), 'base hashes are the file\'s blocks')
      let level = base
      while (level.length > 1) level = Array.from({ length: level.length / 2 }, (_, i) => sha(level[2 * i], level[2 * i + 1]))
      let node = level[0]
      let pos = index / length
      for (const u of hashes.slice(length)) { node = pos % 2 === 0 ? sha(node, u) : sha(u, node); pos = Math.floor(pos / 2) }
      assert.deepEqual(node, root, 'the proof reaches the pieces root')
    }
    assert.ok(s.hashTreeBytes > 0, 'the tree is cached')
    p.s.destroy()
  })
})

// ------------------------------------------------------------------ refused

test('file-backed: a file removed, truncated or changed under the seeder is refused, never served', async () => {
  await withSeeder({ pieceCacheBytes: 0 }, async (s, port) => {
    // Missing at add(): a usage error at once.
    assert.throws(() => s.add({ rawInfo: onDisk('gone-early.bin', 2 * PL).t.rawInfo, pieceLength: PL, path: join(dir, 'nothing-here'), size: 2 * PL }), UsageError)

    for (const damage of ['remove', 'truncate', 'change'] as const) {
      const x = onDisk(`damaged-${damage}.bin`, 6 * PL)
      s.add({ rawInfo: x.t.rawInfo, pieceLength: PL, path: x.path, size: x.data.length })
      if (damage === 'remove') rmSync(x.path)
      if (damage === 'truncate') truncateSync(x.path, 3 * PL)
      if (damage === 'change') { const d = Buffer.from(x.data); d[4 * PL + 7] ^= 0xff; writeFileSync(x.path, d) }
      const before = s.counters.fileErrors
      const served = s.counters.bytesServed
      const got = await download(x.t, port).catch((err: unknown) => err)
      assert.ok(got instanceof DownloadError, `${damage}: the download fails (${String(got)})`)
      assert.ok(s.counters.fileErrors > before, `${damage}: counted`)
      // Pieces before the damage may be served (a changed file's good pieces still pass their hash); the bad one never.
      if (damage !== 'change') assert.equal(s.counters.bytesServed, served, `${damage}: nothing served`)
      else assert.ok(s.counters.bytesServed - served < x.data.length, 'the changed piece was not served')
    }
  })
})

test('file-backed: remove() closes the torrent\'s file; close() closes all', async () => {
  const a = onDisk('rm-a.bin', 4 * PL)
  const s = new PieceSeeder({ fileIdleMs: 60_000 })
  const { port } = await s.start()
  try {
    s.add({ rawInfo: a.t.rawInfo, pieceLength: PL, path: a.path, size: a.data.length })
    assert.ok((await download(a.t, port)).equals(a.data))
    assert.equal(s.files.openFiles, 1)
    s.remove([a.t.info.infohashV1 as Buffer, (a.t.info.infohashV2 as Buffer).subarray(0, 20)])
    await until(() => s.files.openFiles === 0, 'closed on remove')
    assert.equal(s.files.cachedBytes, 0)
    s.add({ rawInfo: a.t.rawInfo, pieceLength: PL, path: a.path, size: a.data.length })
    assert.ok((await download(a.t, port)).equals(a.data))
    assert.equal(s.files.openFiles, 1)
  } finally { await s.close() }
  assert.equal(s.files.openFiles, 0)
})
