// PieceSeeder (src/library/piece-seeder.ts) against a raw TCP client on loopback: unknown
// infohash dropped, handshake + bitfield + unchoke, exact bytes for a request (pads included
// for hybrids), out-of-range request closes the link, close() frees the port.

import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createServer } from 'node:net'
import { randomBytes } from 'node:crypto'
import { encodeHandshake, decodeHandshake } from '../../../src/wire/handshake.js'
import { MSG, frame } from '../../../src/wire/messages.js'
import { createTorrentFromMemory } from '../../../src/torrent/create.js'
import { PieceSeeder, v1PieceData, seedInfohashes, seedTorrentOf, MAX_BLOCK } from '../../../src/library/piece-seeder.js'
import { RawPeer } from '../../helpers/raw-peer.js'

const PL = 16 * 1024

function request (piece: number, begin: number, length: number): Buffer {
  const b = Buffer.alloc(12)
  b.writeUInt32BE(piece, 0); b.writeUInt32BE(begin, 4); b.writeUInt32BE(length, 8)
  return frame(MSG.request, b)
}

/** Interested, unchoked, then one request the seeder must refuse: the link closes, nothing served. */
async function badRequestCloses (seeder: PieceSeeder, ih: Buffer, req: readonly [number, number, number]): Promise<void> {
  const { port } = await seeder.start()
  try {
    const p = await RawPeer.handshake(port, ih)
    p.s.write(frame(MSG.interested))
    await p.next(MSG.unchoke)
    p.s.write(request(req[0], req[1], req[2]))
    await p.untilClosed()
    assert.equal(seeder.counters.badRequests, 1)
    assert.equal(seeder.counters.blocksServed, 0)
  } finally { await seeder.close() }
}

function fixture (): { seeder: PieceSeeder, ih: Buffer, ih2: Buffer, data: Buffer, a: Buffer, b: Buffer } {
  const a = randomBytes(20_000)
  const b = randomBytes(9_000)
  const t = createTorrentFromMemory({ name: 'fx', files: [{ path: ['a.bin'], data: a }, { path: ['b.bin'], data: b }] }, { mode: 'hybrid', pieceLength: PL })
  const data = v1PieceData(t.rawInfo, new Map([['a.bin', a], ['b.bin', b]]))
  const seeder = new PieceSeeder()
  seeder.add({ rawInfo: t.rawInfo, pieceLength: PL, data })
  const [ih, ih2] = seedInfohashes(t.rawInfo)
  assert.deepEqual(ih, t.info.infohashV1)
  assert.deepEqual(ih2, (t.info.infohashV2 as Buffer).subarray(0, 20))
  return { seeder, ih, ih2, data, a, b }
}

test('hybrid v1 piece stream puts zero pads between files', () => {
  const { data, a, b } = fixture()
  assert.equal(data.length, 3 * PL) // a: 20000 -> pad to 32768, b: 9000 -> pad to 49152
  assert.deepEqual(data.subarray(0, a.length), a)
  assert.ok(data.subarray(a.length, 2 * PL).every((x) => x === 0))
  assert.deepEqual(data.subarray(2 * PL, 2 * PL + b.length), b)
})

test('an unknown infohash is dropped', async () => {
  const { seeder } = fixture()
  const { port } = await seeder.start()
  try {
    const p = await RawPeer.open(port)
    p.s.write(encodeHandshake(randomBytes(20), randomBytes(20)))
    await p.untilClosed()
    assert.equal(p.hs, null)
    assert.equal(seeder.counters.refused, 1)
  } finally { await seeder.close() }
})

for (const which of ['v1', 'truncated v2'] as const) {
  test(`handshake (${which}), bitfield, unchoke, exact bytes for requests`, async () => {
    const { seeder, ih, ih2, data } = fixture()
    const { port } = await seeder.start()
    try {
      const use = which === 'v1' ? ih : ih2
      const p = await RawPeer.open(port)
      p.s.write(encodeHandshake(use, randomBytes(20)))
      const bf = await p.next(MSG.bitfield)
      assert.deepEqual(decodeHandshake(p.hs as Buffer).infohash, use)
      assert.deepEqual(bf?.subarray(1), Buffer.from([0b11100000]))
      p.s.write(frame(MSG.interested))
      assert.ok(await p.next(MSG.unchoke))
      for (const [piece, begin, length] of [[0, 0, MAX_BLOCK], [1, 100, 5000], [2, PL - 1, 1]]) {
        p.s.write(request(piece, begin, length))
        const m = await p.next(MSG.piece) as Buffer
        assert.equal(m.readUInt32BE(1), piece)
        assert.equal(m.readUInt32BE(5), begin)
        const off = piece * PL + begin
        assert.deepEqual(m.subarray(9), data.subarray(off, off + length))
      }
      assert.equal(seeder.counters.blocksServed, 3)
      assert.equal(seeder.counters.piecesServed, 1)
      assert.equal(seeder.counters.bytesServed, MAX_BLOCK + 5001)
      p.s.destroy()
    } finally { await seeder.close() }
  })
}

for (const [label, req] of [
  ['piece past the end', [3, 0, 1]], ['block past the piece', [0, PL - 10, 11]], ['block over 16 KiB', [0, 0, MAX_BLOCK + 1]], ['zero length', [0, 0, 0]],
] as const) {
  test(`a bad request (${label}) closes the link`, async () => {
    const { seeder, ih } = fixture()
    await badRequestCloses(seeder, ih, req)
  })
}

test('connection cap per IP refuses the extra connection', async () => {
  const a = randomBytes(PL)
  const t = createTorrentFromMemory({ name: 'one', files: [{ path: [], data: a }] }, { mode: 'v1', pieceLength: PL })
  const seeder = new PieceSeeder({ maxPerIp: 1 })
  seeder.add({ rawInfo: t.rawInfo, pieceLength: PL, data: a })
  const { port } = await seeder.start()
  try {
    const p1 = await RawPeer.handshake(port, t.info.infohashV1 as Buffer)
    const p2 = await RawPeer.open(port)
    p2.s.write(encodeHandshake(t.info.infohashV1 as Buffer, randomBytes(20)))
    await p2.untilClosed()
    assert.equal(seeder.counters.refusedLimit, 1)
    p1.s.destroy()
  } finally { await seeder.close() }
})

test('close() closes every socket and frees the port', async () => {
  const { seeder, ih } = fixture()
  const { port } = await seeder.start()
  const p = await RawPeer.handshake(port, ih)
  await seeder.close()
  await p.untilClosed()
  const again = createServer()
  await new Promise<void>((resolve, reject) => { again.once('error', reject); again.listen({ host: '127.0.0.1', port }, resolve) })
  await new Promise<void>((resolve) => again.close(() => resolve()))
})

// ---------------------------------------------------------------- v2-only torrents

// v2 order is the file tree's (sorted): a.bin (pieces 0, 1; piece 1 holds 3616 bytes),
// b.txt (empty: no pieces, no space), c.bin (piece 2, 9000 bytes), d.bin (piece 3, 5000).
function v2Fixture (): { seeder: PieceSeeder, ih: Buffer, data: Buffer, files: Map<string, Buffer> } {
  const files = new Map([['a.bin', randomBytes(20_000)], ['b.txt', Buffer.alloc(0)], ['c.bin', randomBytes(9_000)], ['d.bin', randomBytes(5_000)]])
  const t = createTorrentFromMemory({ name: 'v2fx', files: [...files].map(([p, data]) => ({ path: [p], data })) }, { mode: 'v2', pieceLength: PL })
  const st = seedTorrentOf(t.rawInfo, files)
  const seeder = new PieceSeeder()
  seeder.add(st)
  const ih = seedInfohashes(t.rawInfo)
  assert.equal(ih.length, 1)
  assert.deepEqual(ih[0], (t.info.infohashV2 as Buffer).subarray(0, 20))
  return { seeder, ih: ih[0], data: st.data, files }
}

test('v2-only piece stream: each file from a piece boundary, zeros between, nothing after the last', () => {
  const { data, files } = v2Fixture()
  const a = files.get('a.bin') as Buffer; const c = files.get('c.bin') as Buffer; const d = files.get('d.bin') as Buffer
  assert.equal(data.length, 3 * PL + d.length)
  assert.deepEqual(data.subarray(0, a.length), a)
  assert.ok(data.subarray(a.length, 2 * PL).every((x) => x === 0))
  assert.deepEqual(data.subarray(2 * PL, 2 * PL + c.length), c)
  assert.ok(data.subarray(2 * PL + c.length, 3 * PL).every((x) => x === 0))
  assert.deepEqual(data.subarray(3 * PL), d)
})

test('seedTorrentOf: v1 and hybrid give the v1 piece stream; v1PieceData refuses a v2-only torrent', () => {
  const files = new Map([['a.bin', randomBytes(20_000)], ['b.bin', randomBytes(9_000)]])
  for (const mode of ['v1', 'hybrid'] as const) {
    const t = createTorrentFromMemory({ name: 'x', files: [...files].map(([p, data]) => ({ path: [p], data })) }, { mode, pieceLength: PL })
    assert.deepEqual(seedTorrentOf(t.rawInfo, files).data, v1PieceData(t.rawInfo, files))
  }
  const t2 = createTorrentFromMemory({ name: 'x', files: [...files].map(([p, data]) => ({ path: [p], data })) }, { mode: 'v2', pieceLength: PL })
  assert.throws(() => v1PieceData(t2.rawInfo, files), { name: 'UsageError' })
  assert.throws(() => seedTorrentOf(t2.rawInfo, new Map([['a.bin', randomBytes(20_000)]])), { name: 'UsageError' }) // b.bin missing
})

test('add() refuses a piece stream that does not fit the info dict', () => {
  const { files } = v2Fixture()
  const t = createTorrentFromMemory({ name: 'v2fx', files: [...files].map(([p, data]) => ({ path: [p], data })) }, { mode: 'v2', pieceLength: PL })
  const st = seedTorrentOf(t.rawInfo, files)
  const seeder = new PieceSeeder()
  assert.throws(() => seeder.add({ ...st, data: st.data.subarray(1) }), { name: 'UsageError' })
  assert.throws(() => seeder.add({ ...st, pieceLength: 2 * PL }), { name: 'UsageError' })
  // the v1 stream of the same files is laid out differently: refused for a v2-only torrent
  assert.throws(() => seeder.add({ ...st, data: Buffer.concat([...files.values()]) }), { name: 'UsageError' })
})

test('v2-only: bitfield of the per-file pieces, exact bytes, a block may run on into the zeros after a file', async () => {
  const { seeder, ih, files } = v2Fixture()
  const { port } = await seeder.start()
  try {
    const p = await RawPeer.open(port)
    p.s.write(encodeHandshake(ih, randomBytes(20)))
    const bf = await p.next(MSG.bitfield)
    assert.deepEqual(bf?.subarray(1), Buffer.from([0b11110000]))
    p.s.write(frame(MSG.interested))
    assert.ok(await p.next(MSG.unchoke))
    const a = files.get('a.bin') as Buffer; const c = files.get('c.bin') as Buffer; const d = files.get('d.bin') as Buffer
    const want: Array<[number, number, number, Buffer]> = [
      [0, 0, MAX_BLOCK, a.subarray(0, PL)],
      // libtorrent asks for whole 16 KiB blocks in a file's short last piece (torrent::to_req)
      [1, 0, MAX_BLOCK, Buffer.concat([a.subarray(PL), Buffer.alloc(2 * PL - a.length)])],
      [2, 8_999, 1, c.subarray(8_999)],
      [3, 0, d.length, d],
    ]
    for (const [piece, begin, length, bytes] of want) {
      p.s.write(request(piece, begin, length))
      const m = await p.next(MSG.piece) as Buffer
      assert.equal(m.readUInt32BE(1), piece)
      assert.equal(m.readUInt32BE(5), begin)
      assert.deepEqual(m.subarray(9), bytes)
    }
    assert.equal(seeder.counters.piecesServed, 3) // pieces 0, 1 and 3 whole; 1 byte of piece 2
    p.s.destroy()
  } finally { await seeder.close() }
})

for (const [label, req] of [
  ['a block starting after the file\'s end', [1, 20_000 - PL, 1]],
  ['the piece boundary crossed', [2, 8_000, MAX_BLOCK - 8_000 + 1]],
  ['past the torrent\'s last byte', [3, 0, 5_001]],
  ['piece past the end', [4, 0, 1]],
] as const) {
  test(`v2-only: a bad request (${label}) closes the link`, async () => {
    const { seeder, ih } = v2Fixture()
    await badRequestCloses(seeder, ih, req)
  })
}

// ---------------------------------------------------------------- limits

function oneFile (size: number): { rawInfo: Buffer, ih: Buffer, data: Buffer } {
  const data = randomBytes(size)
  const t = createTorrentFromMemory({ name: 'one', files: [{ path: [], data }] }, { mode: 'v1', pieceLength: PL })
  return { rawInfo: t.rawInfo, ih: t.info.infohashV1 as Buffer, data }
}

test('the total connection cap refuses extra sockets and frees a slot on close', async () => {
  const f = oneFile(PL)
  const seeder = new PieceSeeder({ maxConnections: 2 })
  seeder.add({ rawInfo: f.rawInfo, pieceLength: PL, data: f.data })
  const { port } = await seeder.start()
  try {
    const open = async (): Promise<RawPeer> => { const p = await RawPeer.open(port); p.s.write(encodeHandshake(f.ih, randomBytes(20))); return p }
    const p1 = await open(); const p2 = await open()
    assert.ok(await p1.next(MSG.bitfield)); assert.ok(await p2.next(MSG.bitfield))
    const p3 = await open()
    await p3.untilClosed()
    assert.equal(p3.hs, null, 'no handshake for the refused socket')
    assert.equal(seeder.counters.refusedLimit, 1)
    p1.s.destroy()
    // Wait (bounded) until the seeder saw the close, then a new socket gets in.
    for (let i = 0; i < 200 && seeder.openConnections > 1; i++) await new Promise((resolve) => setTimeout(resolve, 10))
    assert.equal(seeder.openConnections, 1)
    const p4 = await open()
    assert.ok(await p4.next(MSG.bitfield))
    assert.equal(seeder.counters.refusedLimit, 1)
    p2.s.destroy(); p4.s.destroy()
  } finally { await seeder.close() }
})

test('a silent connection is closed after idleTimeoutMs; traffic keeps it open', async () => {
  const idle = 500
  const f = oneFile(PL)
  const seeder = new PieceSeeder({ idleTimeoutMs: idle })
  seeder.add({ rawInfo: f.rawInfo, pieceLength: PL, data: f.data })
  const { port } = await seeder.start()
  try {
    // Silent after the handshake: closed, and not before idleTimeoutMs (the timer is armed
    // when the handshake arrives, after t0).
    const quiet = await RawPeer.open(port)
    const t0 = Date.now()
    quiet.s.write(encodeHandshake(f.ih, randomBytes(20)))
    await quiet.untilClosed()
    assert.ok(quiet.hs !== null)
    assert.ok(Date.now() - t0 >= idle - 5, `closed after ${Date.now() - t0} ms`)
    // Keep-alives every idle/10 for twice idleTimeoutMs: still open; then silent: closed.
    const chatty = await RawPeer.handshake(port, f.ih)
    const until = Date.now() + 2 * idle
    while (Date.now() < until) {
      chatty.s.write(Buffer.alloc(4))
      await new Promise((resolve) => setTimeout(resolve, idle / 10))
    }
    assert.equal(chatty.closed, false, 'traffic resets the idle timer')
    await chatty.untilClosed()
  } finally { await seeder.close() }
})

test('the upload limit holds bytes served to burst + rate × elapsed', async () => {
  const rate = 256 * 1024 // bytes/s; the bucket's burst is max(rate, 4 blocks) = rate
  const blocks = 24 // 384 KiB: at least (384 - 256) KiB / rate = 0.5 s past the burst
  const f = oneFile(blocks * MAX_BLOCK)
  const t0 = Date.now() // before the seeder's bucket exists (it starts full)
  const seeder = new PieceSeeder({ uploadRate: rate })
  seeder.add({ rawInfo: f.rawInfo, pieceLength: PL, data: f.data })
  const { port } = await seeder.start()
  try {
    const p = await RawPeer.handshake(port, f.ih)
    p.s.write(frame(MSG.interested))
    await p.next(MSG.unchoke)
    for (let i = 0; i < blocks; i++) p.s.write(request(i, 0, MAX_BLOCK))
    let got = 0
    for (let i = 0; i < blocks; i++) {
      const m = await p.next(MSG.piece) as Buffer
      got += m.length - 9
      // At any moment the seeder has sent at most a full bucket plus what refilled since t0
      // (1 KiB of slack for millisecond rounding). A slow machine only lowers the left side.
      const allowed = rate + rate * (Date.now() - t0) / 1000 + 1024
      assert.ok(seeder.counters.bytesServed <= allowed, `${seeder.counters.bytesServed} bytes served after ${Date.now() - t0} ms, allowed ${Math.round(allowed)}`)
    }
    assert.equal(got, blocks * MAX_BLOCK)
    assert.equal(seeder.counters.bytesServed, blocks * MAX_BLOCK)
    assert.ok(Date.now() - t0 >= 0.8 * (blocks * MAX_BLOCK - rate) * 1000 / rate, 'the part past the burst was paced')
    p.s.destroy()
  } finally { await seeder.close() }
})
