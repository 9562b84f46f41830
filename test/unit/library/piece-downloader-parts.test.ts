// The downloader's pure parts without sockets: the piece picker's request accounting (one
// owner per piece, a choke clears pending requests, a stale copy of a request asked twice is
// accepted once, a copy never asked is refused, reject, release) and the layout's mapping of
// the v1 piece stream onto files and pads (pad-only blocks, pad bytes must be zeros, SHA-1 per
// piece), plus the path checks of planDownload.

import { test } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { PiecePicker } from '../../../src/library/piece-download-picker.js'
import { planDownload } from '../../../src/library/piece-download-layout.js'
import { createTorrentFromMemory } from '../../../src/torrent/create.js'
import { v1PieceData } from '../../../src/library/piece-seeder.js'
import { encode } from '../../../src/core/bencode.js'
import { SchemaError } from '../../../src/core/errors.js'
import { createHash } from 'node:crypto'

const B = 16 * 1024
const blocks2 = (): Array<{ begin: number, length: number } | null> => [{ begin: 0, length: B }, { begin: B, length: 100 }]

test('picker: a piece has one owner; each peer gets the next unowned piece it has', () => {
  const pk = new PiecePicker<object>(3, blocks2)
  const a = {}; const b = {}
  const all = new Uint8Array([1, 1, 1])
  assert.deepEqual(pk.next(a, all), { piece: 0, begin: 0, length: B })
  assert.deepEqual(pk.next(a, all), { piece: 0, begin: B, length: 100 })
  assert.deepEqual(pk.next(b, all), { piece: 1, begin: 0, length: B })
  assert.deepEqual(pk.next(b, new Uint8Array([1, 1, 0])), { piece: 1, begin: B, length: 100 })
  assert.equal(pk.next(b, new Uint8Array([1, 1, 0])), null, 'piece 2 is not b\'s to give')
  assert.equal(pk.outstanding(a), 2)
  assert.equal(pk.receive(b, 0, 0, B), 'unrequested', 'a block of a piece owned by another peer')
  assert.equal(pk.receive(a, 0, 0, B), 'accept')
  assert.equal(pk.receive(a, 0, 0, B), 'unrequested', 'a second copy of a block asked once')
  assert.equal(pk.receive(a, 0, B, 99), 'wrong-length')
  assert.equal(pk.receive(a, 0, B, 100), 'accept')
  assert.ok(pk.isComplete(0))
  assert.equal(pk.outstanding(a), 0)
  pk.settle(0, true)
  assert.equal(pk.missing, 2)
  assert.equal(pk.receive(a, 0, 0, B), 'unrequested', 'a block of a done piece')
})

test('picker: a choke clears pending requests; a re-request and the stale copy are both accounted', () => {
  const pk = new PiecePicker<object>(1, blocks2)
  const a = {}
  const has = new Uint8Array([1])
  pk.next(a, has); pk.next(a, has)
  pk.choked(a)
  assert.equal(pk.outstanding(a), 0)
  assert.deepEqual(pk.next(a, has), { piece: 0, begin: 0, length: B }, 'asked again after the unchoke')
  assert.equal(pk.receive(a, 0, 0, B), 'accept')
  assert.equal(pk.receive(a, 0, 0, B), 'duplicate', 'asked twice, so a second copy is no violation')
  assert.equal(pk.receive(a, 0, 0, B), 'unrequested', 'but a third is')
  assert.equal(pk.receive(a, 0, B, 100), 'accept', 'the copy of a request the choke cancelled')
  assert.ok(pk.isComplete(0))
})

test('picker: reject returns a request; release hands a gone peer\'s pieces to others; a failed hash frees the piece', () => {
  const pk = new PiecePicker<object>(2, blocks2)
  const a = {}; const b = {}
  const has = new Uint8Array([1, 1])
  pk.next(a, has)
  pk.rejected(a, 0, 0, B)
  assert.equal(pk.outstanding(a), 0)
  assert.equal(pk.receive(a, 0, 0, B), 'unrequested', 'a rejected request is not owed')
  pk.next(a, has); pk.next(a, has)
  pk.release(a)
  assert.deepEqual(pk.next(b, has), { piece: 0, begin: 0, length: B })
  pk.next(b, has)
  pk.receive(b, 0, 0, B); pk.receive(b, 0, B, 100)
  pk.settle(0, false)
  assert.equal(pk.missing, 2)
  assert.deepEqual(pk.next(a, has), { piece: 0, begin: 0, length: B }, 'the failed piece is asked again')
  assert.ok(pk.wants(new Uint8Array([0, 1])))
  assert.ok(!pk.wants(new Uint8Array([0, 0])))
})

test('layout: pad-only blocks are not requested, pad bytes must be zeros, pieces check by SHA-1', () => {
  const a = randomBytes(20_000)
  const b = randomBytes(5000)
  const t = createTorrentFromMemory({ name: 'lay', files: [{ path: ['a.bin'], data: a }, { path: ['b.bin'], data: b }] }, { mode: 'hybrid', pieceLength: 32 * 1024 })
  const ih = t.info.infohashV1 as Buffer
  const stream = v1PieceData(t.rawInfo, new Map([['a.bin', a], ['b.bin', b]]))
  const l = planDownload(t.rawInfo, ih, 1 << 20)
  assert.equal(l.numPieces, 2)
  // Piece 0: a.bin (20,000 bytes) then pad to 32 KiB: block 1 holds a.bin's tail and pad.
  assert.deepEqual(l.blocks(0), [{ begin: 0, length: B }, { begin: B, length: B }])
  // Piece 1: b.bin, then pad to the piece end (hybrids pad the last file too): block 1 is all pad.
  assert.deepEqual(l.blocks(1), [{ begin: 0, length: B }, null])
  assert.equal(l.dataBytes(0), 20_000)
  const tail = Buffer.from(stream.subarray(B, 2 * B))
  tail[tail.length - 1] = 9
  assert.equal(l.write(0, B, tail), false, 'a non-zero pad byte')
  assert.equal(l.write(0, 0, stream.subarray(0, B)), true)
  assert.equal(l.write(0, B, stream.subarray(B, 2 * B)), true)
  assert.ok(l.verifyPiece(0))
  assert.ok(!l.verifyPiece(1))
  assert.equal(l.write(1, 0, stream.subarray(32 * 1024, 32 * 1024 + B)), true)
  assert.ok(l.verifyPiece(1))
  l.pieceVerified(0); l.pieceVerified(1)
  assert.ok(l.files[0].equals(a) && l.files[1].equals(b))

})

test('layout: a v1 pad file between two files leaves a pad-only block in the middle of a piece, hashed as zeros', () => {
  const a = randomBytes(B)
  const b = randomBytes(100)
  const stream = Buffer.concat([a, Buffer.alloc(B), b])
  const raw = encode({
    name: 'padded', 'piece length': 64 * 1024, pieces: createHash('sha1').update(stream).digest(),
    files: [{ path: ['a'], length: B }, { path: ['.pad', String(B)], length: B, attr: 'p' }, { path: ['b'], length: 100 }],
  })
  const l = planDownload(raw, createHash('sha1').update(raw).digest(), 1 << 20)
  assert.deepEqual(l.paths, [['a'], ['b']])
  assert.deepEqual(l.blocks(0), [{ begin: 0, length: B }, null, { begin: 2 * B, length: 100 }])
  assert.ok(l.write(0, 0, a) && l.write(0, 2 * B, b))
  assert.ok(l.verifyPiece(0))
  assert.equal(l.dataBytes(0), B + 100)
})

test('planDownload refuses a v1 torrent naming one path twice, or a file that is also a folder', () => {
  const v1 = (files: Array<{ path: string[], length: number }>): Buffer => encode({
    name: 'dup', 'piece length': B, files, pieces: Buffer.concat(Array.from({ length: Math.ceil(files.reduce((n, f) => n + f.length, 0) / B) }, () => Buffer.alloc(20))),
  })
  const sha1 = (r: Buffer): Buffer => createHash('sha1').update(r).digest()
  const twice = v1([{ path: ['a'], length: 10 }, { path: ['a'], length: 10 }])
  assert.throws(() => planDownload(twice, sha1(twice), 1 << 20), (e: unknown) => e instanceof SchemaError && /appears twice/.test(e.message))
  const both = v1([{ path: ['a'], length: 10 }, { path: ['a', 'b'], length: 10 }])
  assert.throws(() => planDownload(both, sha1(both), 1 << 20), (e: unknown) => e instanceof SchemaError && /both a file and a folder/.test(e.message))
  const traversal = v1([{ path: ['..', 'x'], length: 10 }])
  assert.throws(() => planDownload(traversal, sha1(traversal), 1 << 20), SchemaError)
})
