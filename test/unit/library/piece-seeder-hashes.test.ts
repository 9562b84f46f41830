// PieceSeeder BEP-52 hash requests (msg 21) over a real TCP connection on loopback, for a
// multi-file v2 and hybrid torrent from createTorrentFromMemory. Every `hashes` reply is
// checked by a small verifier written here, independent of the seeder's tree code: the base
// hashes are compared with SHA-256 of the file's blocks (base 0) or the torrent's own piece
// layer, and base hashes plus uncles must hash up to the file's pieces root from the info
// dict. Then: each kind of bad request gets a hash reject echoing its fields and leaves the
// link open; a wrong-size frame closes it; wrong bytes never yield hashes; the BEP-52 v2
// upgrade in the handshake; trees bounded by the cache budget and dropped on remove().

import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createHash, randomBytes } from 'node:crypto'
import { decodeHandshake } from '../../../src/wire/handshake.js'
import { MSG, frame, encodeHashRequest, type HashRequest } from '../../../src/wire/messages.js'
import { createTorrentFromMemory, type CreateMode, type CreatedTorrent } from '../../../src/torrent/create.js'
import { PieceSeeder, seedTorrentOf, type PieceSeederOptions } from '../../../src/library/piece-seeder.js'
import { RawPeer } from '../../helpers/raw-peer.js'

const KIB = 1024
const PL = 32 * KIB // piece layer 1: base 0 (blocks) and the piece layer differ
const sha = (...parts: Uint8Array[]): Buffer => { const h = createHash('sha256'); for (const p of parts) h.update(p); return h.digest() }

/** A raw client past the handshake and bitfield; reply() is the next hashes (22) or hash reject (23). */
async function openPeer (port: number, infohash: Uint8Array, opts: { v2?: boolean } = {}): Promise<RawPeer & { reply: () => Promise<Buffer> }> {
  const p = await RawPeer.handshake(port, infohash, opts)
  return Object.assign(p, {
    reply: async (): Promise<Buffer> => {
      const f = await p.next(MSG.hashes, MSG.hashReject)
      assert.ok(f !== null, 'link closed while waiting for a hash reply')
      return f
    },
  })
}

type Req = HashRequest

// ------------------------------------------------------------------ the independent verifier

/** Leaves of a file's tree from its bytes: SHA-256 per 16 KiB block, zero leaves up to a power of two. */
function leavesOf (data: Uint8Array): Buffer[] {
  const out: Buffer[] = []
  for (let o = 0; o < data.length; o += 16 * KIB) out.push(sha(data.subarray(o, o + 16 * KIB)))
  let n = 1
  while (n < out.length) n *= 2
  while (out.length < n) out.push(Buffer.alloc(32))
  return out
}

/** Hash a list of 2^k nodes up to their one root. */
function foldUp (nodes: Buffer[]): Buffer {
  let cur = nodes
  while (cur.length > 1) {
    const next: Buffer[] = []
    for (let i = 0; i < cur.length; i += 2) next.push(sha(cur[i], cur[i + 1]))
    cur = next
  }
  return cur[0]
}

/**
 * Check a `hashes` payload (after the id) answering `r`: the 48-byte header echoes the request,
 * then `length` base hashes and the uncles. Returns the base hashes and the node they prove,
 * and the layer of that node (the root when the proof reaches it).
 */
function verify (payload: Buffer, r: Req): { base: Buffer[], top: Buffer, topLayer: number, uncles: number } {
  assert.deepEqual(payload.subarray(0, 48), encodeHashRequest(r), 'header echoes the request')
  const hashes: Buffer[] = []
  for (let o = 48; o < payload.length; o += 32) hashes.push(payload.subarray(o, o + 32))
  assert.equal((payload.length - 48) % 32, 0)
  const base = hashes.slice(0, r.length)
  const uncles = hashes.slice(r.length)
  let node = foldUp(base)
  let pos = r.index / r.length
  let layer = r.base + Math.log2(r.length)
  for (const u of uncles) {
    node = pos % 2 === 0 ? sha(node, u) : sha(u, node)
    pos = Math.floor(pos / 2)
    layer++
  }
  return { base, top: node, topLayer: layer, uncles: uncles.length }
}

// ------------------------------------------------------------------ fixture

const FILES: Array<[string, number]> = [
  ['a.bin', 40_000], // 3 blocks, 2 pieces: tree of 4 leaves, height 2
  ['big.bin', 37 * PL + 100], // 75 blocks, 38 pieces: 128 leaves, height 7
  ['one.txt', 500], // one block: its root is its only leaf, no hashes to ask for
]

interface Fx { t: CreatedTorrent, files: Map<string, Buffer>, root: (p: string) => Buffer, ih: Buffer }

function fixture (mode: CreateMode): Fx {
  const files = new Map(FILES.map(([p, n]) => [p, randomBytes(n)]))
  const t = createTorrentFromMemory({ name: `hx-${mode}`, files: [...files].map(([p, data]) => ({ path: [p], data })) }, { mode, pieceLength: PL })
  const root = (p: string): Buffer => t.info.files.find((f) => f.path === p)?.piecesRoot as Buffer
  return { t, files, root, ih: (t.info.infohashV2 as Buffer).subarray(0, 20) }
}

async function withSeeder (fx: Fx, fn: (seeder: PieceSeeder, port: number) => Promise<void>, opts: PieceSeederOptions = {}): Promise<void> {
  const seeder = new PieceSeeder(opts)
  seeder.add(seedTorrentOf(fx.t.rawInfo, fx.files))
  const { port } = await seeder.start()
  try { await fn(seeder, port) } finally { await seeder.close() }
}

for (const mode of ['v2', 'hybrid'] as CreateMode[]) {
  test(`${mode}: hashes replies prove the requested hashes up to the pieces root`, async () => {
    const fx = fixture(mode)
    const big = fx.files.get('big.bin') as Buffer
    const bigLeaves = leavesOf(big)
    const bigPieces = fx.t.pieceLayers.get(fx.root('big.bin').toString('hex')) as Buffer
    const pieceHash = (i: number): Buffer => i < 38 ? bigPieces.subarray(i * 32, i * 32 + 32) : foldUp(new Array(2).fill(Buffer.alloc(32)))
    const aLeaves = leavesOf(fx.files.get('a.bin') as Buffer)
    await withSeeder(fx, async (seeder, port) => {
      const p = await openPeer(port, fx.ih) // never interested: hash requests are served while choked
      const cases: Array<{ file: string, base: number, index: number, length: number, proofLayers: number, uncles: number }> = [
        { file: 'big.bin', base: 0, index: 0, length: 2, proofLayers: 6, uncles: 6 },
        { file: 'big.bin', base: 0, index: 8, length: 8, proofLayers: 6, uncles: 4 },
        { file: 'big.bin', base: 0, index: 72, length: 8, proofLayers: 6, uncles: 4 }, // the last real blocks and pads
        { file: 'big.bin', base: 0, index: 5, length: 1, proofLayers: 6, uncles: 7 }, // libtorrent's count for length 1
        { file: 'big.bin', base: 1, index: 0, length: 64, proofLayers: 5, uncles: 0 }, // the whole piece layer, as libtorrent asks
        { file: 'big.bin', base: 1, index: 32, length: 32, proofLayers: 5, uncles: 1 },
        { file: 'big.bin', base: 1, index: 36, length: 4, proofLayers: 5, uncles: 4 }, // pieces 36, 37 and two pad pieces
        { file: 'big.bin', base: 3, index: 4, length: 4, proofLayers: 3, uncles: 2 }, // a layer above the piece layer
        { file: 'a.bin', base: 1, index: 0, length: 2, proofLayers: 0, uncles: 0 },
        { file: 'a.bin', base: 0, index: 2, length: 2, proofLayers: 1, uncles: 1 }, // block 2 and a pad leaf
      ]
      for (const c of cases) {
        const r = { root: fx.root(c.file), base: c.base, index: c.index, length: c.length, proofLayers: c.proofLayers }
        p.s.write(frame(MSG.hashRequest, encodeHashRequest(r)))
        const reply = await p.reply()
        assert.equal(reply[0], MSG.hashes, `${c.file} ${JSON.stringify(c)} answered with hashes`)
        const v = verify(reply.subarray(1), r)
        assert.equal(v.uncles, c.uncles, 'uncle count')
        assert.deepEqual(v.top, fx.root(c.file), `${c.file} base ${c.base} index ${c.index}: proof reaches the pieces root`)
        const expected = c.file === 'a.bin'
          ? (c.base === 0 ? aLeaves.slice(c.index, c.index + c.length) : [foldUp(aLeaves.slice(0, 2)), foldUp(aLeaves.slice(2, 4))])
          : c.base === 0 ? bigLeaves.slice(c.index, c.index + c.length)
            : c.base === 1 ? Array.from({ length: c.length }, (_, i) => pieceHash(c.index + i))
              : Array.from({ length: c.length }, (_, i) => foldUp(bigLeaves.slice((c.index + i) * 8, (c.index + i + 1) * 8)))
        assert.deepEqual(v.base, expected, 'base hashes are the file\'s own')
      }
      // Fewer proof layers: the same hashes, cut short (the first 4 of the 6 above index 8..15).
      const r = { root: fx.root('big.bin'), base: 0, index: 8, length: 8, proofLayers: 4 }
      p.s.write(frame(MSG.hashRequest, encodeHashRequest(r)))
      const short = verify((await p.reply()).subarray(1), r)
      assert.equal(short.uncles, 2)
      assert.equal(short.topLayer, 5)
      assert.deepEqual(short.top, foldUp(bigLeaves.slice(0, 32)), 'the layer-5 node over leaves 0..31')
      assert.equal(seeder.counters.hashRequests, cases.length + 1)
      assert.equal(seeder.counters.hashesServed, cases.length + 1)
      assert.equal(seeder.counters.uncleHashesServed, cases.reduce((s, c) => s + c.uncles, 0) + 2)
      assert.equal(seeder.counters.hashRejects, 0)
      p.s.destroy()
    })
  })
}

test('bad hash requests get a hash reject echoing their fields, the link stays open', async () => {
  const fx = fixture('hybrid')
  const big = fx.root('big.bin')
  const bad: Array<[string, Req]> = [
    ['unknown pieces root', { root: randomBytes(32), base: 0, index: 0, length: 2, proofLayers: 0 }],
    ['a one-block file (no layer below its root)', { root: fx.root('one.txt'), base: 0, index: 0, length: 1, proofLayers: 0 }],
    ['base layer at the root', { root: big, base: 7, index: 0, length: 1, proofLayers: 0 }],
    ['base layer above the root', { root: big, base: 9, index: 0, length: 1, proofLayers: 0 }],
    ['length not a power of two', { root: big, base: 0, index: 0, length: 3, proofLayers: 0 }],
    ['length zero', { root: big, base: 0, index: 0, length: 0, proofLayers: 0 }],
    ['index not a multiple of length', { root: big, base: 0, index: 2, length: 4, proofLayers: 0 }],
    ['past the end of the layer', { root: big, base: 1, index: 64, length: 2, proofLayers: 0 }],
    ['wider than the layer', { root: big, base: 3, index: 0, length: 32, proofLayers: 0 }],
    ['proof layers up to the root', { root: big, base: 0, index: 0, length: 2, proofLayers: 7 }],
    ['huge proof layers', { root: big, base: 0, index: 0, length: 2, proofLayers: 0xffffffff }],
    ['huge index', { root: big, base: 0, index: 0xfffffffe, length: 2, proofLayers: 0 }],
    ['length over the cap', { root: big, base: 0, index: 0, length: 128, proofLayers: 0 }],
  ]
  await withSeeder(fx, async (seeder, port) => {
    const p = await openPeer(port, fx.ih)
    for (const [label, r] of bad) {
      p.s.write(frame(MSG.hashRequest, encodeHashRequest(r)))
      const reply = await p.reply()
      assert.equal(reply[0], MSG.hashReject, label)
      assert.deepEqual(reply.subarray(1), encodeHashRequest(r), `${label}: the reject carries the request's fields`)
    }
    assert.equal(seeder.counters.hashRejects, bad.length)
    assert.equal(seeder.counters.hashRequests, bad.length)
    // Still open and serving.
    const ok = { root: big, base: 0, index: 0, length: 64, proofLayers: 6 }
    p.s.write(frame(MSG.hashRequest, encodeHashRequest(ok)))
    const reply = await p.reply()
    assert.equal(reply[0], MSG.hashes)
    assert.deepEqual(verify(reply.subarray(1), ok).top, big)
    assert.equal(seeder.counters.badRequests, 0)
    p.s.destroy()
  }, { maxHashesPerRequest: 64 })
})

for (const [label, size] of [['47 bytes', 47], ['49 bytes', 49], ['empty', 0]] as const) {
  test(`a malformed hash request frame (${label}) closes the link`, async () => {
    const fx = fixture('v2')
    await withSeeder(fx, async (seeder, port) => {
      const p = await openPeer(port, fx.ih)
      const body = Buffer.alloc(size)
      fx.root('big.bin').copy(body, 0, 0, Math.min(32, size))
      p.s.write(frame(MSG.hashRequest, body))
      await p.untilClosed()
      assert.equal(seeder.counters.badRequests, 1)
      assert.equal(seeder.counters.hashesServed + seeder.counters.hashRejects, 0)
    })
  })
}

test('bytes that do not match the info dict never yield hashes', async () => {
  const fx = fixture('v2')
  const wrong = new Map([...fx.files].map(([p, d]) => [p, p === 'big.bin' ? randomBytes(d.length) : d]))
  const seeder = new PieceSeeder()
  seeder.add(seedTorrentOf(fx.t.rawInfo, wrong)) // right sizes, wrong content
  const { port } = await seeder.start()
  try {
    const p = await openPeer(port, fx.ih)
    const r = { root: fx.root('big.bin'), base: 1, index: 0, length: 64, proofLayers: 5 }
    p.s.write(frame(MSG.hashRequest, encodeHashRequest(r)))
    assert.equal((await p.reply())[0], MSG.hashReject)
    assert.equal(seeder.counters.errors, 1)
    assert.equal(seeder.counters.hashesServed, 0)
    p.s.destroy()
  } finally { await seeder.close() }
})

test('BEP-52 upgrade: a hybrid\'s SHA-1 hash with the v2 bit is answered with the truncated v2 hash', async () => {
  const fx = fixture('hybrid')
  const v1 = fx.t.info.infohashV1 as Buffer
  await withSeeder(fx, async (seeder, port) => {
    const up = await openPeer(port, v1, { v2: true })
    assert.deepEqual(decodeHandshake(up.hs as Buffer).infohash, fx.ih)
    const plain = await openPeer(port, v1)
    assert.deepEqual(decodeHandshake(plain.hs as Buffer).infohash, v1)
    const onV2 = await openPeer(port, fx.ih, { v2: true })
    assert.deepEqual(decodeHandshake(onV2.hs as Buffer).infohash, fx.ih)
    assert.equal(seeder.counters.v2Upgrades, 1)
    for (const p of [up, plain, onV2]) p.s.destroy()
  })
  // A v1-only torrent has no v2 hash to upgrade to, and no pieces root to ask about.
  const data = randomBytes(2 * PL)
  const t = createTorrentFromMemory({ name: 'only-v1', files: [{ path: [], data }] }, { mode: 'v1', pieceLength: PL })
  const seeder = new PieceSeeder()
  seeder.add(seedTorrentOf(t.rawInfo, new Map([['only-v1', data]])))
  const { port } = await seeder.start()
  try {
    const p = await openPeer(port, t.info.infohashV1 as Buffer, { v2: true })
    assert.deepEqual(decodeHandshake(p.hs as Buffer).infohash, t.info.infohashV1)
    assert.equal(seeder.counters.v2Upgrades, 0)
    // and no file tree: any hash request is rejected.
    p.s.write(frame(MSG.hashRequest, encodeHashRequest({ root: randomBytes(32), base: 0, index: 0, length: 2, proofLayers: 0 })))
    assert.equal((await p.reply())[0], MSG.hashReject)
    p.s.destroy()
  } finally { await seeder.close() }
})

test('merkle trees stay within the cache budget and go with remove()', async () => {
  const fx = fixture('v2')
  // big.bin's tree: 255 nodes of 32 bytes; a.bin's: 7. A budget of 256 nodes holds big.bin's
  // alone, so asking about a.bin then big.bin must evict a.bin's.
  const budget = 256 * 32
  await withSeeder(fx, async (seeder, port) => {
    const p = await openPeer(port, fx.ih)
    const ask = async (r: Req): Promise<number> => { p.s.write(frame(MSG.hashRequest, encodeHashRequest(r))); return (await p.reply())[0] }
    assert.equal(await ask({ root: fx.root('a.bin'), base: 0, index: 0, length: 4, proofLayers: 1 }), MSG.hashes)
    assert.equal(seeder.hashTreeBytes, 7 * 32)
    assert.equal(await ask({ root: fx.root('big.bin'), base: 1, index: 0, length: 64, proofLayers: 5 }), MSG.hashes)
    assert.equal(seeder.hashTreeBytes, 255 * 32)
    assert.equal(await ask({ root: fx.root('a.bin'), base: 0, index: 0, length: 4, proofLayers: 1 }), MSG.hashes)
    assert.ok(seeder.hashTreeBytes <= budget, `${seeder.hashTreeBytes} bytes of trees`)
    seeder.remove([fx.ih])
    assert.equal(seeder.hashTreeBytes, 0)
    p.s.destroy()
  }, { hashTreeCacheBytes: budget })
  // A budget smaller than a file's tree: its hashes are refused rather than built.
  await withSeeder(fx, async (seeder, port) => {
    const p = await openPeer(port, fx.ih)
    p.s.write(frame(MSG.hashRequest, encodeHashRequest({ root: fx.root('big.bin'), base: 1, index: 0, length: 64, proofLayers: 5 })))
    assert.equal((await p.reply())[0], MSG.hashReject)
    assert.equal(seeder.hashTreeBytes, 0)
    p.s.destroy()
  }, { hashTreeCacheBytes: 100 * 32 })
})
