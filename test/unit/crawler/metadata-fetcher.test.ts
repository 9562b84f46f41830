import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { fetchMetadata } from '../../../crawler/metadata-fetcher.js'
import { MetadataSeeder } from '../../../src/testnet/metadata-seeder.js'
import { encode } from '../../../src/core/bencode.js'
import { LIMITS } from '../../../src/core/limits.js'
import { sha1, sha256 } from '../../../src/core/infohash.js'
import { BbmeshError, ProtocolError, LimitError, HashMismatchError, TimeoutError, AbortedError, NetworkError } from '../../../src/core/errors.js'
import { startHostilePeer, type HostileConn, type HostilePeer } from '../../helpers/hostile-peer.js'
import { MSG, frame } from '../../../src/wire/messages.js'

// A minimal valid v1 info dict, built by hand: one file of 2000 pieces, so the dict is
// about 40 KB and travels as three ut_metadata pieces.
const PIECES = 2000
const v1Info = encode({
  length: PIECES * 16384,
  name: 'fixture.bin',
  'piece length': 16384,
  pieces: Buffer.concat(Array.from({ length: PIECES }, (_, i) => sha1(Buffer.from(`piece ${i}`)))),
})
const v1Hash = sha1(v1Info)

// A v2-style info dict (BEP-52): its key is SHA-256 of the bytes, truncated to 20.
const v2Info = encode({
  'file tree': { 'fixture.bin': { '': { length: 1000, 'pieces root': sha256(Buffer.from('root')) } } },
  'meta version': 2,
  name: 'fixture.bin',
  'piece length': 16384,
})
const v2Key = sha256(v2Info).subarray(0, 20)

let seeder: MetadataSeeder
before(async () => {
  seeder = new MetadataSeeder({ host: '127.0.0.1' })
  seeder.add([v1Hash], v1Info)
  seeder.add([v2Key], v2Info)
  await seeder.start()
})
after(async () => { await seeder.close() })

test('fetches a multi-piece v1 info dict: raw bytes equal, kind v1', async () => {
  assert.ok(v1Info.length > 2 * LIMITS.metadataPiece)
  const r = await fetchMetadata(v1Hash, seeder.address(), { timeoutMs: 10_000 })
  assert.equal(r.kind, 'v1')
  assert.ok(r.raw.equals(v1Info))
  assert.equal(r.client, 'bbmesh-testnet')
  assert.equal(seeder.servedBy.get(v1Hash.toString('hex')), 1)
})

test('fetches a v2 info dict under its truncated SHA-256: kind v2', async () => {
  assert.notDeepEqual(sha1(v2Info), v2Key)
  const r = await fetchMetadata(v2Key, seeder.address(), { timeoutMs: 10_000 })
  assert.equal(r.kind, 'v2')
  assert.ok(r.raw.equals(v2Info))
})

// ---- hostile peers: each misbehaves in one way, the fetch rejects with one typed error ----

const SMALL = encode({ length: 5, name: 'x', 'piece length': 16384, pieces: Buffer.alloc(20) })
const SMALL_HASH = sha1(SMALL)

/** The first steps of an honest peer: handshake back, read theirs, send our BEP-10 handshake. */
async function greet (c: HostileConn, fields: Record<string, unknown> = { m: { ut_metadata: 7 }, metadata_size: SMALL.length }): Promise<void> {
  const hs = await c.handshake()
  c.sendHandshake(hs.infohash)
  c.sendExtHandshake(fields as never)
  await c.extHandshake()
}

async function expectFetchError (script: (c: HostileConn) => Promise<void>, Err: new (...a: never[]) => BbmeshError, opts: { timeoutMs?: number, maxSize?: number, signal?: AbortSignal, match?: RegExp, infohash?: Buffer } = {}): Promise<HostilePeer> {
  const peer = await startHostilePeer(script)
  try {
    await assert.rejects(
      fetchMetadata(opts.infohash ?? SMALL_HASH, peer.addr, { timeoutMs: opts.timeoutMs ?? 5000, maxSize: opts.maxSize, signal: opts.signal }),
      (err: unknown) => {
        assert.ok(err instanceof Err, `expected ${Err.name}, got ${String(err)}`)
        assert.ok(err instanceof BbmeshError)
        if (opts.match !== undefined) assert.match(err.message, opts.match)
        return true
      },
    )
    assert.deepEqual(peer.scriptErrors, [])
    return peer
  } finally {
    await peer.close()
  }
}

test('a control: the hostile helper serving honestly gives a verified fetch', async () => {
  const peer = await startHostilePeer(async (c) => {
    await greet(c)
    // Noise first: a bitfield, a keep-alive and an unknown extension message are skipped.
    c.write(frame(MSG.bitfield, Buffer.alloc(1)))
    c.write(Buffer.alloc(4))
    const req = await c.metadataMessage()
    c.sendExt(c.theirUtMetadata as number, { msg_type: 1, piece: req.piece, total_size: SMALL.length }, SMALL)
    // A duplicate piece after the end is harmless.
    c.sendExt(c.theirUtMetadata as number, { msg_type: 1, piece: req.piece, total_size: SMALL.length }, SMALL)
  })
  try {
    const r = await fetchMetadata(SMALL_HASH, peer.addr, { timeoutMs: 5000 })
    assert.ok(r.raw.equals(SMALL))
    assert.equal(r.kind, 'v1')
  } finally {
    await peer.close()
  }
})

test('out-of-range piece index → ProtocolError', async () => {
  await expectFetchError(async (c) => {
    await greet(c)
    await c.metadataMessage()
    c.sendExt(c.theirUtMetadata as number, { msg_type: 1, piece: 5, total_size: SMALL.length }, SMALL)
    await c.silence()
  }, ProtocolError, { match: /out of range/ })
})

test('metadata_size over the cap → LimitError (hard cap and the maxSize option)', async () => {
  await expectFetchError(async (c) => {
    await greet(c, { m: { ut_metadata: 7 }, metadata_size: LIMITS.metadataMaxSize + 1 })
    await c.silence()
  }, LimitError)
  await expectFetchError(async (c) => {
    await greet(c, { m: { ut_metadata: 7 }, metadata_size: 1001 })
    await c.silence()
  }, LimitError, { maxSize: 1000 })
})

test('metadata_size missing, zero or negative → ProtocolError', async () => {
  for (const size of [undefined, 0, -5]) {
    await expectFetchError(async (c) => {
      await greet(c, { m: { ut_metadata: 7 }, metadata_size: size })
      await c.silence()
    }, ProtocolError, { match: /metadata_size/ })
  }
})

test('a lying frame length (4 GB prefix) → ProtocolError', async () => {
  await expectFetchError(async (c) => {
    const hs = await c.handshake()
    c.sendHandshake(hs.infohash)
    c.write(Buffer.from([0xff, 0xff, 0xff, 0xff, MSG.extended, 0]))
    await c.silence()
  }, ProtocolError, { match: /exceeds cap/ })
})

test('data that does not hash to the infohash → HashMismatchError', async () => {
  await expectFetchError(async (c) => {
    await greet(c)
    const req = await c.metadataMessage()
    const wrong = Buffer.from(SMALL)
    wrong[wrong.length - 2] ^= 1
    c.sendExt(c.theirUtMetadata as number, { msg_type: 1, piece: req.piece, total_size: SMALL.length }, wrong)
    await c.silence()
  }, HashMismatchError)
})

test('a peer that never answers → TimeoutError under the deadline option', async () => {
  const peer = await expectFetchError(async (c) => { await c.silence() }, TimeoutError, { timeoutMs: 300 })
  assert.equal(peer.connections(), 1)
})

test('a peer that stalls after the BEP-10 handshake → TimeoutError', async () => {
  await expectFetchError(async (c) => { await greet(c); await c.silence() }, TimeoutError, { timeoutMs: 300 })
})

test('a handshake for another infohash → ProtocolError', async () => {
  await expectFetchError(async (c) => {
    await c.handshake()
    c.sendHandshake(sha1(Buffer.from('another torrent')))
    await c.silence()
  }, ProtocolError, { match: /another infohash/ })
})

test('a peer without the extension protocol bit → ProtocolError', async () => {
  await expectFetchError(async (c) => {
    const hs = await c.handshake()
    c.sendHandshake(hs.infohash, { extended: false })
    await c.silence()
  }, ProtocolError, { match: /BEP-10/ })
})

test('no ut_metadata in m (or id 0) → ProtocolError', async () => {
  for (const m of [{ ut_pex: 1 }, { ut_metadata: 0 }, {}]) {
    await expectFetchError(async (c) => {
      await greet(c, { m, metadata_size: SMALL.length })
      await c.silence()
    }, ProtocolError, { match: /ut_metadata/ })
  }
})

test('a reject (msg_type 2) → ProtocolError', async () => {
  await expectFetchError(async (c) => {
    await greet(c)
    const req = await c.metadataMessage()
    c.sendExt(c.theirUtMetadata as number, { msg_type: 2, piece: req.piece })
    await c.silence()
  }, ProtocolError, { match: /rejected/ })
})

test('a piece of the wrong length → ProtocolError', async () => {
  await expectFetchError(async (c) => {
    await greet(c)
    const req = await c.metadataMessage()
    c.sendExt(c.theirUtMetadata as number, { msg_type: 1, piece: req.piece, total_size: SMALL.length }, SMALL.subarray(1))
    await c.silence()
  }, ProtocolError, { match: /expected/ })
  // A full-size middle piece that is short, in a three-piece dict.
  await expectFetchError(async (c) => {
    await greet(c, { m: { ut_metadata: 7 }, metadata_size: v1Info.length })
    const req = await c.metadataMessage()
    c.sendExt(c.theirUtMetadata as number, { msg_type: 1, piece: req.piece, total_size: v1Info.length }, v1Info.subarray(0, 1000))
    await c.silence()
  }, ProtocolError, { match: /expected 16384/, infohash: v1Hash })
})

test('total_size that differs from metadata_size → ProtocolError', async () => {
  await expectFetchError(async (c) => {
    await greet(c)
    const req = await c.metadataMessage()
    c.sendExt(c.theirUtMetadata as number, { msg_type: 1, piece: req.piece, total_size: SMALL.length + 1 }, SMALL)
    await c.silence()
  }, ProtocolError, { match: /total_size/ })
})

test('a broken ut_metadata message → ProtocolError', async () => {
  await expectFetchError(async (c) => {
    await greet(c)
    await c.metadataMessage()
    c.write(frame(MSG.extended, Buffer.concat([Buffer.from([c.theirUtMetadata as number]), Buffer.from('d8:msg_typei1e5:piecei-1ee')])))
    await c.silence()
  }, ProtocolError)
})

test('a peer that hangs up mid-transfer → NetworkError', async () => {
  await expectFetchError(async (c) => {
    await greet(c)
    await c.metadataMessage()
    c.sock.end()
  }, NetworkError)
})

test('a closed port → NetworkError', async () => {
  const peer = await startHostilePeer(async () => {})
  const addr = peer.addr
  await peer.close()
  await assert.rejects(fetchMetadata(SMALL_HASH, addr, { timeoutMs: 2000 }), NetworkError)
})

test('an abort by the caller mid-fetch rejects with AbortedError, a typed error', async () => {
  const ac = new AbortController()
  await expectFetchError(async (c) => { await greet(c); ac.abort(); await c.silence() }, AbortedError, { signal: ac.signal, timeoutMs: 10_000 })
})

test('an already-aborted signal rejects instead of waiting on the peer', async () => {
  const ac = new AbortController()
  ac.abort()
  await expectFetchError(async (c) => { await c.silence() }, AbortedError, { signal: ac.signal, timeoutMs: 60_000 })
})
