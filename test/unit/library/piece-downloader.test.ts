// downloadTorrent (src/library/piece-downloader.ts) over real TCP on 127.0.0.1: whole v1 and
// hybrid torrents, one file or many (pads, an empty file), from a bbmesh PieceSeeder and from
// two at once; then hostile seeders (test/helpers/fake-seeder.ts): a corrupt block, another
// infohash, blocks never requested or of the wrong length, non-zero pad bytes, never
// unchoking, withholding blocks, a hybrid whose v1 and v2 hashes disagree; and the edges:
// size cap before any connection, abort, deadline. (v2-only torrents: piece-downloader-v2.test.ts.) After each download the
// seeder's connections drop back to 0.

import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createHash, randomBytes } from 'node:crypto'
import { createServer } from 'node:net'
import { createTorrentFromMemory, type CreateMode } from '../../../src/torrent/create.js'
import { PieceSeeder, v1PieceData, type SeedTorrent } from '../../../src/library/piece-seeder.js'
import { downloadTorrent, type DownloadProgress, type DownloadResult } from '../../../src/library/piece-downloader.js'
import { AbortedError, DownloadError, HashMismatchError, LimitError, TimeoutError, UsageError } from '../../../src/core/errors.js'
import { decode, encode, getDict, isDict, type BDict } from '../../../src/core/bencode.js'
import { MSG, frame } from '../../../src/wire/messages.js'
import type { PeerAddr } from '../../../src/core/compact.js'
import { FakeSeeder, blockFrame } from '../../helpers/fake-seeder.js'

const KB = 1024

interface Made { rawInfo: Buffer, ih: Buffer, ihV2?: Buffer, seed: SeedTorrent, files: Map<string, Buffer>, name: string, single: boolean }

/** A torrent of random files; [['', n]] makes a single-file torrent. */
function make (mode: CreateMode, pieceLength: number, spec: Array<[string, number]>, name = `dl-${mode}-${pieceLength}`): Made {
  const single = spec.length === 1 && spec[0][0] === ''
  const files = new Map(spec.map(([p, n]) => [single ? name : p, randomBytes(n)]))
  const t = createTorrentFromMemory({ name, files: [...files].map(([p, data]) => ({ path: single ? [] : p.split('/'), data })) }, { mode, pieceLength })
  return fromRaw(t.rawInfo, files, name, single)
}

function fromRaw (rawInfo: Buffer, files: Map<string, Buffer>, name: string, single: boolean): Made {
  const d = decode(rawInfo) as BDict
  const t: SeedTorrent = { rawInfo, pieceLength: d['piece length'] as number, data: v1PieceData(rawInfo, files) }
  const ih = createHash('sha1').update(rawInfo).digest()
  const ihV2 = getDict(d, 'file tree') === undefined ? undefined : createHash('sha256').update(rawInfo).digest().subarray(0, 20)
  return { rawInfo, ih, ihV2, seed: t, files, name, single }
}

function assertFiles (r: DownloadResult, m: Made): void {
  assert.equal(r.files.length, m.files.size)
  const got = new Map(r.files.map((f) => [f.path.join('/'), f.data]))
  for (const [p, data] of m.files) {
    const key = m.single ? m.name : p
    assert.ok(got.has(key), `file ${key} downloaded`)
    assert.ok((got.get(key) as Buffer).equals(data), `file ${key} equals the input`)
  }
  if (m.single) assert.deepEqual(r.files[0].path, [m.name])
}

/** Bounded wait for a condition that follows a download asynchronously (the remote seeing our FIN). */
async function until (cond: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 200 && !cond(); i++) await new Promise((resolve) => setTimeout(resolve, 10))
  assert.ok(cond(), what)
}

async function seeder (...ts: Made[]): Promise<{ s: PieceSeeder, addr: PeerAddr }> {
  const s = new PieceSeeder()
  for (const t of ts) s.add(t.seed)
  const { port } = await s.start()
  return { s, addr: { host: '127.0.0.1', port } }
}

const MULTI: Array<[string, number]> = [['a.bin', 40_000], ['b.txt', 123], ['empty.txt', 0], ['sub/c.bin', 70_001], ['sub/d.bin', 16 * KB]]

for (const mode of ['v1', 'hybrid'] as CreateMode[]) {
  for (const pl of [16 * KB, 32 * KB]) {
    for (const single of [true, false]) {
      test(`downloads a ${single ? 'single-file' : 'multi-file'} ${mode} torrent, piece length ${pl / KB} KiB, from a PieceSeeder`, async () => {
        const m = make(mode, pl, single ? [['', 150_001]] : MULTI)
        const { s, addr } = await seeder(m)
        try {
          const r = await downloadTorrent(m.rawInfo, { infohash: m.ih, peers: [addr], maxBytes: 1 << 20 })
          assertFiles(r, m)
          assert.equal(r.pieces, Math.ceil(m.seed.data.length / pl))
          assert.equal(r.bytes, [...m.files.values()].reduce((n, d) => n + d.length, 0))
          assert.deepEqual([r.peersUsed, r.piecesFailed, r.peersBanned], [1, 0, 0])
          if (m.ihV2 !== undefined) {
            // A hybrid can also be fetched under its truncated v2 infohash.
            const r2 = await downloadTorrent(m.rawInfo, { infohash: m.ihV2, peers: [addr], maxBytes: 1 << 20 })
            assertFiles(r2, m)
          }
          await until(() => s.openConnections === 0, 'every connection closed after the download')
        } finally {
          await s.close()
        }
      })
    }
  }
}

test('downloads from two seeders at once, both used, and reports progress', async () => {
  const m = make('hybrid', 16 * KB, [['big.bin', 2 * 1024 * KB], ['small.bin', 5000]])
  // Rate-limited so that neither can serve everything before the other is unchoked.
  const a = new PieceSeeder({ uploadRate: 512 * KB })
  const b = new PieceSeeder({ uploadRate: 512 * KB })
  a.add(m.seed); b.add(m.seed)
  const pa = (await a.start()).port
  const pb = (await b.start()).port
  const seen: DownloadProgress[] = []
  try {
    const r = await downloadTorrent(m.rawInfo, {
      infohash: m.ih, peers: [{ host: '127.0.0.1', port: pa }, { host: '127.0.0.1', port: pb }], maxBytes: 4 << 20, onProgress: (p) => seen.push(p),
    })
    assertFiles(r, m)
    assert.equal(r.peersUsed, 2)
    assert.ok(a.counters.blocksServed > 0 && b.counters.blocksServed > 0, `both served: ${a.counters.blocksServed} + ${b.counters.blocksServed}`)
    assert.ok(seen.length >= 2, `progress during and at the end: ${seen.length} reports`)
    const last = seen[seen.length - 1]
    assert.deepEqual([last.piecesDone, last.bytesDone], [r.pieces, r.bytes])
    assert.equal(last.pieces, r.pieces)
    assert.equal(last.bytes, r.bytes)
    for (let i = 1; i < seen.length; i++) assert.ok(seen[i].piecesDone >= seen[i - 1].piecesDone && seen[i].bytesDone >= seen[i - 1].bytesDone, 'progress never goes back')
    assert.ok(seen.some((p) => p.piecesDone < p.pieces && p.peers === 2), 'a report mid-way shows both peers')
    await until(() => a.openConnections === 0 && b.openConnections === 0, 'every connection closed')
  } finally {
    await a.close(); await b.close()
  }
})

test('a refused connection is skipped for the next candidate', async () => {
  const m = make('v1', 16 * KB, [['', 50_000]])
  const dead = createServer()
  await new Promise<void>((resolve) => dead.listen({ host: '127.0.0.1', port: 0 }, resolve))
  const deadPort = (dead.address() as { port: number }).port
  await new Promise<void>((resolve) => dead.close(() => resolve()))
  const { s, addr } = await seeder(m)
  try {
    const r = await downloadTorrent(m.rawInfo, { infohash: m.ih, peers: [{ host: '127.0.0.1', port: deadPort }, addr], maxBytes: 1 << 20, maxPeers: 1 })
    assertFiles(r, m)
  } finally {
    await s.close()
  }
})

/** Flip one byte of the first block this seeder serves. */
function corruptFirst (): (r: unknown, ctx: { data: Buffer, index: number }) => Buffer[] | undefined {
  return (r, ctx) => {
    if (ctx.index !== 0) return undefined
    const req = r as { piece: number, begin: number }
    ctx.data[0] ^= 0xff
    return [blockFrame(req.piece, req.begin, ctx.data)]
  }
}

test('a corrupt block fails its piece, bans that seeder, and the honest one finishes', async () => {
  const m = make('hybrid', 16 * KB, MULTI)
  const bad = new FakeSeeder(m.seed, { onRequest: corruptFirst() })
  const badAddr = await bad.start()
  const { s, addr } = await seeder(m)
  try {
    // The bad seeder is listed twice: a banned peer is never dialled again.
    const r = await downloadTorrent(m.rawInfo, { infohash: m.ih, peers: [badAddr, badAddr, addr], maxBytes: 1 << 20, maxPeers: 1 })
    assertFiles(r, m)
    assert.ok(r.piecesFailed >= 1)
    assert.equal(r.peersBanned, 1)
    assert.equal(r.peersUsed >= 1, true)
    assert.equal(bad.connections, 1)
    await until(() => bad.openConnections === 0 && s.openConnections === 0, 'every connection closed')
  } finally {
    await bad.close(); await s.close()
  }
})

test('with only a corrupt seeder: DownloadError naming the failed hash, the counts in it', async () => {
  const m = make('v1', 16 * KB, [['', 100_000]])
  const bad = new FakeSeeder(m.seed, { onRequest: corruptFirst() })
  const addr = await bad.start()
  try {
    const err = await downloadTorrent(m.rawInfo, { infohash: m.ih, peers: [addr, addr], maxBytes: 1 << 20 }).then(() => null, (e: unknown) => e)
    assert.ok(err instanceof DownloadError, String(err))
    assert.match(err.message, /failed its SHA-1 check/)
    assert.match(err.message, /1 failed their hash check, 1 peer banned/)
    assert.equal(err.piecesFailed, 1)
    assert.equal(err.peersBanned, 1)
    assert.equal(err.pieces, 7)
    assert.ok(err.piecesMissing >= 1)
    assert.equal(bad.connections, 1)
    await until(() => bad.openConnections === 0, 'connection closed')
  } finally {
    await bad.close()
  }
})

test('a seeder answering for another infohash is dropped; the next one serves', async () => {
  const m = make('v1', 16 * KB, [['', 40_000]])
  const other = new FakeSeeder(m.seed, { answerInfohash: randomBytes(20) })
  const otherAddr = await other.start()
  const { s, addr } = await seeder(m)
  try {
    const err = await downloadTorrent(m.rawInfo, { infohash: m.ih, peers: [otherAddr], maxBytes: 1 << 20 }).then(() => null, (e: unknown) => e)
    assert.ok(err instanceof DownloadError, String(err))
    assert.match(err.message, /another infohash/)
    assert.equal(err.peersBanned, 0)
    const r = await downloadTorrent(m.rawInfo, { infohash: m.ih, peers: [otherAddr, addr], maxBytes: 1 << 20, maxPeers: 1 })
    assertFiles(r, m)
    assert.equal(other.requests.length, 0)
  } finally {
    await other.close(); await s.close()
  }
})

const hostile: Array<{ name: string, reason: RegExp, onRequest: (r: { piece: number, begin: number, length: number }, ctx: { data: Buffer }) => Buffer[] }> = [
  { name: 'sends every block twice (the copy was never requested)', reason: /never requested/, onRequest: (r, c) => [blockFrame(r.piece, r.begin, c.data), blockFrame(r.piece, r.begin, c.data)] },
  { name: 'sends a block of a piece out of range', reason: /never requested/, onRequest: (r, c) => [blockFrame(r.piece + 1000, r.begin, c.data)] },
  { name: 'sends a block at an offset never asked', reason: /never requested/, onRequest: (r, c) => [blockFrame(r.piece, r.begin + 1, c.data)] },
  { name: 'sends a block one byte short', reason: /wrong length/, onRequest: (r, c) => [blockFrame(r.piece, r.begin, c.data.subarray(1))] },
  { name: 'sends a malformed frame', reason: /have message of the wrong length/, onRequest: () => [frame(MSG.have, Buffer.alloc(2))] },
  { name: 'withholds every block', reason: /stalled: no block/, onRequest: () => [] },
]

for (const h of hostile) {
  test(`a seeder that ${h.name} is dropped (alone: DownloadError), and an honest one finishes`, async () => {
    const m = make('v1', 16 * KB, [['', 60_000]])
    const bad = new FakeSeeder(m.seed, { onRequest: h.onRequest })
    const badAddr = await bad.start()
    const { s, addr } = await seeder(m)
    try {
      const err = await downloadTorrent(m.rawInfo, { infohash: m.ih, peers: [badAddr], maxBytes: 1 << 20, stallTimeoutMs: 500 }).then(() => null, (e: unknown) => e)
      assert.ok(err instanceof DownloadError, String(err))
      assert.match(err.message, h.reason)
      assert.equal(err.peersBanned, 0) // dropped, not banned: no piece failed its hash
      const r = await downloadTorrent(m.rawInfo, { infohash: m.ih, peers: [badAddr, addr], maxBytes: 1 << 20, maxPeers: 1, stallTimeoutMs: 500 })
      assertFiles(r, m)
      assert.equal(bad.connections, 2) // once per download
      await until(() => bad.openConnections === 0 && s.openConnections === 0, 'every connection closed')
    } finally {
      await bad.close(); await s.close()
    }
  })
}

test('a seeder that never unchokes is dropped by the stall check before the deadline', async () => {
  const m = make('v1', 16 * KB, [['', 40_000]])
  const shy = new FakeSeeder(m.seed, { unchoke: false })
  const addr = await shy.start()
  try {
    // The outcome tells which fired: a stall gives DownloadError, the deadline TimeoutError.
    const err = await downloadTorrent(m.rawInfo, { infohash: m.ih, peers: [addr], maxBytes: 1 << 20, stallTimeoutMs: 300, timeoutMs: 60_000 }).then(() => null, (e: unknown) => e)
    assert.ok(err instanceof DownloadError, String(err))
    assert.match(err.message, /kept us choked/)
    assert.equal(shy.requests.length, 0)
    await until(() => shy.openConnections === 0, 'connection closed')
  } finally {
    await shy.close()
  }
})

test('a choke mid-way cancels pending requests; they are asked again after the unchoke', async () => {
  const m = make('v1', 16 * KB, [['', 300_000]])
  let phase: 'before' | 'choked' | 'after' = 'before'
  const fickle = new FakeSeeder(m.seed, {
    onRequest: (_r, ctx) => {
      if (phase === 'choked') return [] // BEP-3: a choked peer's pending requests are dropped
      if (phase === 'after' || ctx.index < 3) return undefined
      phase = 'choked'
      setTimeout(() => { phase = 'after'; ctx.send(frame(MSG.unchoke)) }, 50)
      return [frame(MSG.choke)]
    },
  })
  const addr = await fickle.start()
  try {
    const r = await downloadTorrent(m.rawInfo, { infohash: m.ih, peers: [addr], maxBytes: 1 << 20, stallTimeoutMs: 5000 })
    assertFiles(r, m)
    const asked = new Set(fickle.requests.map((q) => `${q.piece}/${q.begin}`))
    assert.ok(fickle.requests.length > asked.size, 'some requests were sent again')
  } finally {
    await fickle.close()
  }
})

test('non-zero bytes where a pad file is: the piece fails and the seeder is banned', async () => {
  // a.bin is 20,000 bytes: piece 1 holds its last 3,616 bytes, then pad up to 32 KiB.
  const m = make('hybrid', 16 * KB, [['a.bin', 20_000], ['b.bin', 5000]])
  const bad = new FakeSeeder(m.seed, {
    onRequest: (r, c) => {
      if (r.piece !== 1) return undefined
      c.data[c.data.length - 1] = 1
      return [blockFrame(r.piece, r.begin, c.data)]
    },
  })
  const badAddr = await bad.start()
  try {
    const err = await downloadTorrent(m.rawInfo, { infohash: m.ih, peers: [badAddr], maxBytes: 1 << 20 }).then(() => null, (e: unknown) => e)
    assert.ok(err instanceof DownloadError, String(err))
    assert.match(err.message, /non-zero bytes in a pad file/)
    assert.deepEqual([err.piecesFailed, err.peersBanned], [1, 1])
  } finally {
    await bad.close()
  }
})

test('blocks made only of pad bytes are never requested', async () => {
  // At 32 KiB pieces a 1,000-byte file fills block 0 of its piece; block 1 is all pad.
  const m = make('hybrid', 32 * KB, [['a.bin', 1000], ['b.bin', 40_000], ['c.bin', 7]])
  const honest = new FakeSeeder(m.seed)
  const addr = await honest.start()
  try {
    const r = await downloadTorrent(m.rawInfo, { infohash: m.ih, peers: [addr], maxBytes: 1 << 20 })
    assertFiles(r, m)
    // Pieces: 0 = a.bin + pad, 1 = b.bin[0, 32 KiB), 2 = b.bin rest + pad, 3 = c.bin.
    const asked = fickleKeys(honest.requests)
    assert.deepEqual(asked, ['0/0', '1/0', '1/16384', '2/0', '3/0'])
  } finally {
    await honest.close()
  }
})

function fickleKeys (rs: Array<{ piece: number, begin: number }>): string[] {
  return rs.map((q) => `${q.piece}/${q.begin}`).sort()
}

test('a hybrid whose v1 pieces are right but whose v2 pieces root is wrong: HashMismatchError', async () => {
  const good = make('hybrid', 16 * KB, [['a.bin', 30_000], ['b.bin', 20_000]], 'inconsistent')
  // Swap b.bin's pieces root for another file's: the v1 half still matches the data, the v2
  // half does not. This is a different info dict, served under its own infohash.
  const d = decode(good.rawInfo) as BDict
  const tree = getDict(d, 'file tree') as BDict
  const leafA = (tree['a.bin'] as BDict)[''] as BDict
  const leafB = (tree['b.bin'] as BDict)[''] as BDict
  leafB['pieces root'] = Buffer.from(leafA['pieces root'] as Uint8Array)
  assert.ok(isDict(leafB))
  const m = fromRaw(encode(d as never), good.files, 'inconsistent', false)
  assert.ok(!m.ih.equals(good.ih))
  const { s, addr } = await seeder(m)
  try {
    const err = await downloadTorrent(m.rawInfo, { infohash: m.ih, peers: [addr], maxBytes: 1 << 20 }).then(() => null, (e: unknown) => e)
    assert.ok(err instanceof HashMismatchError, String(err))
    assert.match(err.message, /b\.bin matches its v1 piece hashes but not its v2 pieces root/)
    await until(() => s.openConnections === 0, 'connection closed')
  } finally {
    await s.close()
  }
})

test('a torrent over maxBytes is refused before any connection', async () => {
  const m = make('v1', 16 * KB, [['', 100_000]])
  const { s, addr } = await seeder(m)
  try {
    await assert.rejects(downloadTorrent(m.rawInfo, { infohash: m.ih, peers: [addr], maxBytes: 99_999 }), LimitError)
    assert.equal(s.counters.connections, 0)
  } finally {
    await s.close()
  }
})

test('bad arguments: an infohash not of this torrent (v2-only: its SHA-1 is not one)', async () => {
  const m = make('v1', 16 * KB, [['', 1000]])
  await assert.rejects(downloadTorrent(m.rawInfo, { infohash: randomBytes(20), peers: [], maxBytes: 1 << 20 }), UsageError)
  const v2 = createTorrentFromMemory({ name: 'v2', files: [{ path: [], data: randomBytes(1000) }] }, { mode: 'v2', pieceLength: 16 * KB })
  const sha1 = createHash('sha1').update(v2.rawInfo).digest()
  await assert.rejects(downloadTorrent(v2.rawInfo, { infohash: sha1, peers: [], maxBytes: 1 << 20 }), UsageError)
  const e = await downloadTorrent(m.rawInfo, { infohash: m.ih, peers: [], maxBytes: 1 << 20 }).then(() => null, (x: unknown) => x)
  assert.ok(e instanceof DownloadError && e.peersTried === 0, String(e))
})

test('an abort signal stops the download and closes the connection', async () => {
  const m = make('v1', 16 * KB, [['', 40_000]])
  const ac = new AbortController()
  // Never unchokes; the abort comes once the downloader said interested.
  const shy = new FakeSeeder(m.seed, { unchoke: false, onInterested: () => ac.abort() })
  const addr = await shy.start()
  try {
    await assert.rejects(downloadTorrent(m.rawInfo, { infohash: m.ih, peers: [addr], maxBytes: 1 << 20, signal: ac.signal, stallTimeoutMs: 60_000 }), AbortedError)
    await until(() => shy.openConnections === 0, 'connection closed')
    // Already aborted: refused before dialling.
    const before = shy.connections
    await assert.rejects(downloadTorrent(m.rawInfo, { infohash: m.ih, peers: [addr], maxBytes: 1 << 20, signal: ac.signal }), AbortedError)
    assert.equal(shy.connections, before)
  } finally {
    await shy.close()
  }
})

test('the total deadline ends a download that makes no progress', async () => {
  const m = make('v1', 16 * KB, [['', 40_000]])
  const shy = new FakeSeeder(m.seed, { unchoke: false })
  const addr = await shy.start()
  try {
    // Stall timeout far beyond the deadline: only the deadline can end it.
    const err = await downloadTorrent(m.rawInfo, { infohash: m.ih, peers: [addr], maxBytes: 1 << 20, timeoutMs: 300, stallTimeoutMs: 600_000 }).then(() => null, (e: unknown) => e)
    assert.ok(err instanceof TimeoutError, String(err))
    assert.match(err.message, /3 of 3 pieces missing/)
    await until(() => shy.openConnections === 0, 'connection closed')
  } finally {
    await shy.close()
  }
})

test('no timer or socket of the download outlives it', async () => {
  const m = make('hybrid', 16 * KB, MULTI)
  const { s, addr } = await seeder(m)
  const count = (): Map<string, number> => {
    const out = new Map<string, number>()
    for (const k of process.getActiveResourcesInfo()) out.set(k, (out.get(k) ?? 0) + 1)
    return out
  }
  try {
    const before = count()
    const r = await downloadTorrent(m.rawInfo, { infohash: m.ih, peers: [addr], maxBytes: 1 << 20, onProgress: () => {} })
    assertFiles(r, m)
    await until(() => s.openConnections === 0, 'the seeder saw the connection close') // its own socket counts too
    const after = count()
    for (const k of ['Timeout', 'TCPSocketWrap']) assert.ok((after.get(k) ?? 0) <= (before.get(k) ?? 0), `${k}: ${before.get(k) ?? 0} before, ${after.get(k) ?? 0} after`)
  } finally {
    await s.close()
  }
})
