import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { FileMerkleHasher, padHash, rootFromPieceLayer, merkleRoot, nextPow2, BLOCK_SIZE } from '../../../src/torrent/merkle.js'
import { bytesFrom } from './helpers.js'

const sha256 = (...b: Uint8Array[]): Buffer => { const h = createHash('sha256'); for (const x of b) h.update(x); return h.digest() }

/** Textbook BEP-52: materialise every leaf (zeros past the end) and hash level by level. */
function naiveRoot (leaves: Buffer[], width: number): Buffer {
  let level = [...leaves]
  while (level.length < width) level.push(Buffer.alloc(32))
  while (level.length > 1) {
    const next: Buffer[] = []
    for (let i = 0; i < level.length; i += 2) next.push(sha256(level[i], level[i + 1]))
    level = next
  }
  return level[0]
}

function naive (data: Buffer, pieceLength: number): { root?: Buffer, layer?: Buffer } {
  if (data.length === 0) return {}
  const leaves: Buffer[] = []
  for (let o = 0; o < data.length; o += BLOCK_SIZE) leaves.push(sha256(data.subarray(o, o + BLOCK_SIZE)))
  const bpp = pieceLength / BLOCK_SIZE
  if (data.length <= pieceLength) return { root: naiveRoot(leaves, nextPow2(leaves.length)) }
  const pieces: Buffer[] = []
  for (let i = 0; i < leaves.length; i += bpp) pieces.push(naiveRoot(leaves.slice(i, i + bpp), bpp))
  return { root: naiveRoot(leaves, nextPow2(leaves.length)), layer: Buffer.concat(pieces) }
}

test('pad hashes: level 0 is 32 zero bytes, each level hashes two of the one below', () => {
  assert.deepEqual(padHash(0), Buffer.alloc(32))
  assert.deepEqual(padHash(1), sha256(Buffer.alloc(64)))
  assert.deepEqual(padHash(3), naiveRoot([], 8))
})

test('a file of one block has the block hash as its root and no piece layer', () => {
  const h = new FileMerkleHasher(BLOCK_SIZE)
  h.update(Buffer.from('hello world'))
  // The value libtorrent writes for an 11-byte 'hello world' file (checked in the interop test too).
  assert.equal(h.finish().piecesRoot?.toString('hex'), 'b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9')
})

test('an empty file has no root', () => {
  assert.deepEqual(new FileMerkleHasher(BLOCK_SIZE).finish(), {})
})

for (const pieceLength of [BLOCK_SIZE, 4 * BLOCK_SIZE]) {
  for (const size of [1, BLOCK_SIZE - 1, BLOCK_SIZE, BLOCK_SIZE + 1, 3 * BLOCK_SIZE, 4 * BLOCK_SIZE, 4 * BLOCK_SIZE + 1, 9 * BLOCK_SIZE + 77, 17 * BLOCK_SIZE]) {
    test(`streaming root and layer equal the textbook tree: ${size} bytes, piece ${pieceLength}`, () => {
      const data = bytesFrom(`m${size}`, size)
      const want = naive(data, pieceLength)
      const h = new FileMerkleHasher(pieceLength)
      for (let o = 0; o < data.length; o += 7001) h.update(data.subarray(o, o + 7001)) // odd chunking
      const got = h.finish()
      assert.deepEqual(got.piecesRoot, want.root)
      assert.deepEqual(got.pieceLayer, want.layer)
      if (got.pieceLayer !== undefined) {
        assert.equal(got.pieceLayer.length, Math.ceil(size / pieceLength) * 32)
        assert.deepEqual(rootFromPieceLayer(got.pieceLayer, pieceLength), want.root)
      }
    })
  }
}

test('merkleRoot pads with the pad hash of its level', () => {
  const a = sha256(Buffer.from('a'))
  assert.deepEqual(merkleRoot(a, 1, 0, 4), naiveRoot([a], 4))
  assert.deepEqual(merkleRoot(a, 1, 2, 2), sha256(a, padHash(2)))
  assert.deepEqual(merkleRoot(Buffer.alloc(0), 0, 1, 2), padHash(2))
})
