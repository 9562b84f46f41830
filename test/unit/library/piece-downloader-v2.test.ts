// downloadTorrent of v2-only torrents (BEP-52) over real TCP on 127.0.0.1, from a bbmesh
// PieceSeeder: one file or many (an empty file, one-piece files, a file of exactly one piece,
// multi-piece files with short last pieces) at 16 and 32 KiB pieces, a file of 601 pieces
// whose piece layer takes two hash requests with uncle hashes; then a proxy in front of the
// seeder that rewrites what it sends: hashes that do not prove up to the pieces root (a piece
// hash, a pad entry or an uncle flipped, a hash missing) ban it; hash rejects send the
// downloader to another peer; a corrupt block fails the merkle check of its piece and bans it.
// Alone, a bad peer ends the download with DownloadError. The piece layout is recomputed here
// from the sizes, independently of the downloader's.

import { test } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { connect, createServer, type Server, type Socket } from 'node:net'
import { createTorrentFromMemory } from '../../../src/torrent/create.js'
import { PieceSeeder, seedTorrentOf } from '../../../src/library/piece-seeder.js'
import { downloadTorrent, type DownloadResult } from '../../../src/library/piece-downloader.js'
import { DownloadError } from '../../../src/core/errors.js'
import { FrameReader } from '../../../src/wire/frame-reader.js'
import { MSG } from '../../../src/wire/messages.js'
import type { PeerAddr } from '../../../src/core/compact.js'
import type { TorrentInfo } from '../../../src/torrent/types.js'

const KB = 1024

interface Made { rawInfo: Buffer, info: TorrentInfo, ih: Buffer, files: Map<string, Buffer>, name: string, single: boolean }

/** A v2-only torrent of random files; [['', n]] makes a single-file torrent. */
function make (pieceLength: number, spec: Array<[string, number]>, name = `v2-${pieceLength}`): Made {
  const single = spec.length === 1 && spec[0][0] === ''
  const files = new Map(spec.map(([p, n]) => [single ? name : p, randomBytes(n)]))
  const t = createTorrentFromMemory({ name, files: [...files].map(([p, data]) => ({ path: single ? [] : p.split('/'), data })) }, { mode: 'v2', pieceLength })
  assert.equal(t.info.version, 'v2')
  return { rawInfo: t.rawInfo, info: t.info, ih: (t.info.infohashV2 as Buffer).subarray(0, 20), files, name, single }
}

/** BEP-52 piece numbers: the first piece of each file by path, and the total. */
function pieceMap (m: Made): { first: Map<string, number>, total: number } {
  const first = new Map<string, number>()
  let p = 0
  for (const f of m.info.files) {
    if (f.size === 0) continue
    first.set(f.path, p)
    p += Math.ceil(f.size / m.info.pieceLength)
  }
  return { first, total: p }
}

function assertFiles (r: DownloadResult, m: Made): void {
  assert.equal(r.files.length, m.files.size)
  const got = new Map(r.files.map((f) => [f.path.join('/'), f.data]))
  for (const [p, data] of m.files) {
    const key = m.single ? m.name : p
    assert.ok((got.get(key) ?? Buffer.alloc(0)).equals(data) && got.has(key), `file ${key} equals the input`)
  }
}

async function until (cond: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 200 && !cond(); i++) await new Promise((resolve) => setTimeout(resolve, 10))
  assert.ok(cond(), what)
}

async function seeder (m: Made): Promise<{ s: PieceSeeder, addr: PeerAddr }> {
  const s = new PieceSeeder()
  s.add(seedTorrentOf(m.rawInfo, m.files))
  const { port } = await s.start()
  return { s, addr: { host: '127.0.0.1', port } }
}

/**
 * A TCP proxy in front of a peer: the downloader's bytes pass as they are; the peer's
 * handshake passes, then each of its frames goes through `rewrite` (undefined: unchanged; a
 * list of frame bodies: sent instead). Records the handshakes it saw from the downloader.
 */
class RewritingProxy {
  readonly handshakes: Buffer[] = []
  /** Frames the peer sent, by message id. */
  readonly seen = new Map<number, number>()
  connections = 0
  private server: Server | null = null
  private readonly sockets = new Set<Socket>()

  constructor (private readonly target: PeerAddr, private readonly rewrite: (f: Buffer) => Buffer[] | undefined) {}

  get openConnections (): number { return this.sockets.size }

  async start (): Promise<PeerAddr> {
    const server = createServer((c) => this.onConnection(c))
    this.server = server
    await new Promise<void>((resolve) => server.listen({ host: '127.0.0.1', port: 0 }, resolve))
    return { host: '127.0.0.1', port: (server.address() as { port: number }).port }
  }

  private onConnection (c: Socket): void {
    this.connections++
    const up = connect({ host: this.target.host, port: this.target.port })
    for (const s of [c, up]) {
      this.sockets.add(s)
      s.on('close', () => { this.sockets.delete(s); c.destroy(); up.destroy() })
      s.on('error', () => {})
    }
    let hs = Buffer.alloc(0)
    c.on('data', (b: Buffer) => {
      if (hs.length < 68) {
        hs = Buffer.concat([hs, b])
        if (hs.length >= 68) this.handshakes.push(hs.subarray(0, 68))
      }
      up.write(b)
    })
    const reader = new FrameReader(1 << 22)
    let shaken = false
    up.on('data', (b: Buffer) => {
      reader.push(b)
      if (!shaken) {
        const h = reader.takeRaw(68)
        if (h === null) return
        shaken = true
        c.write(h)
      }
      for (let f = reader.next(); f !== null; f = reader.next()) {
        if (f.length > 0) this.seen.set(f[0], (this.seen.get(f[0]) ?? 0) + 1)
        const out = f.length === 0 ? undefined : this.rewrite(Buffer.from(f))
        for (const body of out ?? [f]) {
          const len = Buffer.alloc(4)
          len.writeUInt32BE(body.length)
          c.write(Buffer.concat([len, body]))
        }
      }
    })
  }

  async close (): Promise<void> {
    for (const s of this.sockets) s.destroy()
    const server = this.server
    this.server = null
    if (server !== null) await new Promise<void>((resolve) => server.close(() => resolve()))
  }
}

const MULTI: Array<[string, number]> = [
  ['a-big.bin', 200_001], ['b-one.bin', 1000], ['empty.txt', 0], ['sub/c.bin', 70_001], ['sub/exact.bin', 32 * KB], ['z.txt', 1],
]

for (const pl of [16 * KB, 32 * KB]) {
  for (const single of [false, true]) {
    test(`downloads a ${single ? 'single-file' : 'multi-file'} v2-only torrent, piece length ${pl / KB} KiB, from a PieceSeeder`, async () => {
      const m = make(pl, single ? [['', 150_001]] : MULTI)
      const { s, addr } = await seeder(m)
      const proxy = new RewritingProxy(addr, () => undefined)
      const via = await proxy.start()
      try {
        const r = await downloadTorrent(m.rawInfo, { infohash: m.ih, peers: [via], maxBytes: 1 << 20 })
        assertFiles(r, m)
        assert.equal(r.pieces, pieceMap(m).total)
        assert.equal(r.bytes, [...m.files.values()].reduce((n, d) => n + d.length, 0))
        assert.deepEqual([r.peersUsed, r.piecesFailed, r.peersBanned], [1, 0, 0])
        // The piece layers came by hash request: one per file longer than one piece.
        const multiPiece = m.info.files.filter((f) => f.size > pl).length
        assert.ok(multiPiece >= 1)
        assert.equal(s.counters.hashRequests, multiPiece)
        assert.equal(s.counters.hashesServed, multiPiece)
        assert.equal(s.counters.hashRejects, 0)
        // BEP-52: the handshake carries the truncated v2 infohash and the v2 reserved bit.
        assert.equal(proxy.handshakes.length, 1)
        assert.deepEqual(proxy.handshakes[0].subarray(28, 48), m.ih)
        assert.notEqual(proxy.handshakes[0][27] & 0x10, 0, 'v2 bit set')
        await until(() => s.openConnections === 0 && proxy.openConnections === 0, 'every connection closed')
      } finally {
        await proxy.close(); await s.close()
      }
    })
  }
}

test('a file of 601 pieces: its piece layer in two hash requests of 512, proven with uncle hashes', async () => {
  const m = make(16 * KB, [['big.bin', 600 * 16 * KB + 5], ['small.bin', 20_000]])
  const { s, addr } = await seeder(m)
  try {
    const r = await downloadTorrent(m.rawInfo, { infohash: m.ih, peers: [addr], maxBytes: 16 << 20 })
    assertFiles(r, m)
    assert.equal(r.pieces, 601 + 2)
    // big.bin: 1024 leaves, so requests at layer 0 of 512 with 9 proof layers, 1 uncle each; small.bin: 1 request.
    assert.equal(s.counters.hashesServed, 3)
    assert.equal(s.counters.uncleHashesServed, 2)
    await until(() => s.openConnections === 0, 'every connection closed')
  } finally {
    await s.close()
  }
})

/** Rewrite each `hashes` frame (id 22) with fn; other frames pass. */
function onHashes (fn: (f: Buffer) => Buffer): (f: Buffer) => Buffer[] | undefined {
  return (f) => f[0] === MSG.hashes ? [fn(f)] : undefined
}

const H = 1 + 48 // hashes frame body: id, 48-byte header, then the hashes
const lies: Array<{ name: string, spec: Array<[string, number]>, rewrite: (f: Buffer) => Buffer[] | undefined }> = [
  { name: 'a piece hash flipped', spec: MULTI, rewrite: onHashes((f) => { f[H + 5] ^= 1; return f }) },
  // sub/c.bin has 5 pieces at 16 KiB: 8 entries, the last 3 pad hashes, also under the root.
  { name: 'a pad entry flipped', spec: [['c.bin', 70_001]], rewrite: onHashes((f) => { f[f.length - 1] ^= 1; return f }) },
  { name: 'the last hash missing', spec: MULTI, rewrite: onHashes((f) => f.subarray(0, f.length - 32)) },
  { name: 'an extra hash', spec: MULTI, rewrite: onHashes((f) => Buffer.concat([f, randomBytes(32)])) },
  { name: 'an uncle flipped (601 pieces)', spec: [['big.bin', 600 * 16 * KB + 5]], rewrite: onHashes((f) => { f[f.length - 1] ^= 1; return f }) },
]

for (const lie of lies) {
  test(`a seeder whose hashes do not prove up to the pieces root (${lie.name}) is banned; alone: DownloadError`, async () => {
    const m = make(16 * KB, lie.spec, 'liar')
    const { s, addr } = await seeder(m)
    const liar = new RewritingProxy(addr, lie.rewrite)
    const liarAddr = await liar.start()
    try {
      const err = await downloadTorrent(m.rawInfo, { infohash: m.ih, peers: [liarAddr, liarAddr], maxBytes: 16 << 20 }).then(() => null, (e: unknown) => e)
      assert.ok(err instanceof DownloadError, String(err))
      assert.match(err.message, /do not prove up to its pieces root/)
      assert.equal(err.peersBanned, 1)
      assert.equal(err.piecesFailed, 0)
      assert.equal(liar.connections, 1, 'a banned peer is never dialled again')
      assert.ok((liar.seen.get(MSG.hashes) ?? 0) >= 1)
      // With an honest seeder after it: banned, and the download completes.
      const r = await downloadTorrent(m.rawInfo, { infohash: m.ih, peers: [liarAddr, liarAddr, addr], maxBytes: 16 << 20, maxPeers: 1 })
      assertFiles(r, m)
      assert.equal(r.peersBanned, 1)
      assert.equal(liar.connections, 2)
      await until(() => s.openConnections === 0 && liar.openConnections === 0, 'every connection closed')
    } finally {
      await liar.close(); await s.close()
    }
  })
}

test('a seeder that rejects every hash request: the layers come from another peer, nobody is banned', async () => {
  const m = make(16 * KB, MULTI)
  const { s, addr } = await seeder(m)
  // Each `hashes` becomes a `hash reject` echoing the request (its 48-byte header).
  const refuser = new RewritingProxy(addr, (f) => f[0] === MSG.hashes ? [Buffer.concat([Buffer.from([MSG.hashReject]), f.subarray(1, H)])] : undefined)
  const refAddr = await refuser.start()
  try {
    // Alone: it serves the one-piece files, then has nothing we can check: dropped, DownloadError.
    const err = await downloadTorrent(m.rawInfo, { infohash: m.ih, peers: [refAddr], maxBytes: 1 << 20, stallTimeoutMs: 300 }).then(() => null, (e: unknown) => e)
    assert.ok(err instanceof DownloadError, String(err))
    assert.match(err.message, /had none of the missing pieces/)
    assert.equal(err.peersBanned, 0)
    const multiPiece = m.info.files.filter((f) => f.size > m.info.pieceLength).length
    assert.equal(refuser.seen.get(MSG.hashes), multiPiece, 'every piece layer was asked of it once')
    assert.ok(err.piecesMissing < err.pieces, 'the pieces whose hash is the file root were downloaded')
    // Then the other peer: it gets the requests the first one rejected.
    const served = s.counters.hashesServed
    const r = await downloadTorrent(m.rawInfo, { infohash: m.ih, peers: [refAddr, addr], maxBytes: 1 << 20, maxPeers: 1, stallTimeoutMs: 300 })
    assertFiles(r, m)
    assert.deepEqual([r.piecesFailed, r.peersBanned], [0, 0])
    assert.equal(refuser.seen.get(MSG.hashes), 2 * multiPiece)
    assert.equal(s.counters.hashesServed - served, 2 * multiPiece, 'each layer asked once of each peer')
    await until(() => s.openConnections === 0 && refuser.openConnections === 0, 'every connection closed')
  } finally {
    await refuser.close(); await s.close()
  }
})

// Corrupt the first block of one piece: of a multi-piece file (checked against its proven
// piece-layer hash) and of a one-piece file (checked against the file's pieces root).
for (const target of ['a-big.bin', 'b-one.bin']) {
  test(`a corrupt block in a v2-only torrent (${target}) fails the merkle check and bans its sender`, async () => {
    const m = make(16 * KB, MULTI, 'corrupt')
    const piece = pieceMap(m).first.get(target) as number
    const { s, addr } = await seeder(m)
    const bad = new RewritingProxy(addr, (f) => {
      if (f[0] !== MSG.piece || f.readUInt32BE(1) !== piece || f.readUInt32BE(5) !== 0) return undefined
      f[f.length - 1] ^= 0xff
      return [f]
    })
    const badAddr = await bad.start()
    try {
      const err = await downloadTorrent(m.rawInfo, { infohash: m.ih, peers: [badAddr, badAddr], maxBytes: 1 << 20 }).then(() => null, (e: unknown) => e)
      assert.ok(err instanceof DownloadError, String(err))
      assert.match(err.message, new RegExp(`piece ${piece} failed its merkle check`))
      assert.deepEqual([err.piecesFailed, err.peersBanned], [1, 1])
      assert.equal(bad.connections, 1)
      const r = await downloadTorrent(m.rawInfo, { infohash: m.ih, peers: [badAddr, addr], maxBytes: 1 << 20, maxPeers: 1 })
      assertFiles(r, m)
      assert.deepEqual([r.piecesFailed, r.peersBanned], [1, 1])
      await until(() => s.openConnections === 0 && bad.openConnections === 0, 'every connection closed')
    } finally {
      await bad.close(); await s.close()
    }
  })
}
