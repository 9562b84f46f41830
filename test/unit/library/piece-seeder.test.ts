// PieceSeeder (src/library/piece-seeder.ts) against a raw TCP client on loopback: unknown
// infohash dropped, handshake + bitfield + unchoke, exact bytes for a request (pads included
// for hybrids), out-of-range request closes the link, close() frees the port.

import { test } from 'node:test'
import assert from 'node:assert/strict'
import { connect, createServer, type Socket } from 'node:net'
import { randomBytes } from 'node:crypto'
import { FrameReader } from '../../../src/wire/frame-reader.js'
import { encodeHandshake, decodeHandshake, HANDSHAKE_LEN } from '../../../src/wire/handshake.js'
import { MSG, frame } from '../../../src/wire/messages.js'
import { createTorrentFromMemory } from '../../../src/torrent/create.js'
import { PieceSeeder, v1PieceData, seedInfohashes, MAX_BLOCK } from '../../../src/library/piece-seeder.js'

const PL = 16 * 1024

class RawPeer {
  private readonly reader = new FrameReader(1 << 20)
  private handshook = false
  private readonly frames: Buffer[] = []
  private waiter: (() => void) | null = null
  closed = false
  hs: Buffer | null = null

  constructor (readonly s: Socket) {
    s.on('data', (c: Buffer) => {
      this.reader.push(c)
      if (!this.handshook) {
        const h = this.reader.takeRaw(HANDSHAKE_LEN)
        if (h === null) return
        this.hs = h
        this.handshook = true
      }
      for (let f = this.reader.next(); f !== null; f = this.reader.next()) this.frames.push(f)
      this.waiter?.()
    })
    s.on('close', () => { this.closed = true; this.waiter?.() })
    s.on('error', () => {})
  }

  static async open (port: number): Promise<RawPeer> {
    const s = connect({ host: '127.0.0.1', port })
    await new Promise<void>((resolve, reject) => { s.once('connect', resolve); s.once('error', reject) })
    return new RawPeer(s)
  }

  /** The next frame whose id is `id` (skipping others), or null once the link closed. */
  async next (id: number): Promise<Buffer | null> {
    for (;;) {
      const i = this.frames.findIndex((f) => f.length > 0 && f[0] === id)
      if (i >= 0) return this.frames.splice(i, 1)[0]
      if (this.closed) return null
      await new Promise<void>((resolve) => { this.waiter = resolve })
      this.waiter = null
    }
  }

  async untilClosed (): Promise<void> {
    while (!this.closed) await new Promise<void>((resolve) => { this.waiter = resolve })
  }
}

function request (piece: number, begin: number, length: number): Buffer {
  const b = Buffer.alloc(12)
  b.writeUInt32BE(piece, 0); b.writeUInt32BE(begin, 4); b.writeUInt32BE(length, 8)
  return frame(MSG.request, b)
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
    const { port } = await seeder.start()
    try {
      const p = await RawPeer.open(port)
      p.s.write(encodeHandshake(ih, randomBytes(20)))
      await p.next(MSG.bitfield)
      p.s.write(frame(MSG.interested))
      await p.next(MSG.unchoke)
      p.s.write(request(req[0], req[1], req[2]))
      await p.untilClosed()
      assert.equal(seeder.counters.badRequests, 1)
      assert.equal(seeder.counters.blocksServed, 0)
    } finally { await seeder.close() }
  })
}

test('connection cap per IP refuses the extra connection', async () => {
  const a = randomBytes(PL)
  const t = createTorrentFromMemory({ name: 'one', files: [{ path: [], data: a }] }, { mode: 'v1', pieceLength: PL })
  const seeder = new PieceSeeder({ maxPerIp: 1 })
  seeder.add({ rawInfo: t.rawInfo, pieceLength: PL, data: a })
  const { port } = await seeder.start()
  try {
    const p1 = await RawPeer.open(port)
    p1.s.write(encodeHandshake(t.info.infohashV1 as Buffer, randomBytes(20)))
    assert.ok(await p1.next(MSG.bitfield))
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
  const p = await RawPeer.open(port)
  p.s.write(encodeHandshake(ih, randomBytes(20)))
  await p.next(MSG.bitfield)
  await seeder.close()
  await p.untilClosed()
  const again = createServer()
  await new Promise<void>((resolve, reject) => { again.once('error', reject); again.listen({ host: '127.0.0.1', port }, resolve) })
  await new Promise<void>((resolve) => again.close(() => resolve()))
})
