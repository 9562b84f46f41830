// BEP-52 merkle trees: SHA-256 over 16 KiB blocks, branching factor 2. Leaves beyond the
// end of a file are 32 zero bytes, so the hash of an all-padding subtree of 2^k leaves is
// a fixed value padHash(k); trees are never materialised past the real nodes.
//
// Nodes are kept in one flat Buffer (32 bytes each) rather than one Buffer per hash, so a
// multi-GB file costs 32 bytes per piece, not an object per block.

import { createHash } from 'node:crypto'

export const BLOCK_SIZE = 16 * 1024
export const HASH_BYTES = 32

const padCache: Buffer[] = [Buffer.alloc(HASH_BYTES)]

/** Root of an all-zero-leaf subtree with 2^level leaves (level 0 is one zero leaf). */
export function padHash (level: number): Buffer {
  while (padCache.length <= level) {
    const p = padCache[padCache.length - 1]
    padCache.push(createHash('sha256').update(p).update(p).digest())
  }
  return padCache[level]
}

/** Smallest power of two >= n (n >= 1). */
export function nextPow2 (n: number): number {
  let p = 1
  while (p < n) p *= 2
  return p
}

/** log2 of a power of two. */
export function log2 (p: number): number {
  let l = 0
  while (2 ** l < p) l++
  return l
}

/**
 * Root of a tree whose bottom layer is `count` nodes (flat, 32 bytes each) at tree level
 * `level` (0 = blocks), padded on the right to `width` nodes (a power of two >= count)
 * with padHash(level) nodes.
 */
export function merkleRoot (nodes: Uint8Array, count: number, level: number, width: number): Buffer {
  if (count === 0) return padHash(level + log2(width))
  let cur = Buffer.from(nodes.buffer, nodes.byteOffset, count * HASH_BYTES)
  let n = count
  let w = width
  let lv = level
  while (w > 1) {
    const pad = padHash(lv)
    const m = Math.ceil(n / 2)
    const next = Buffer.allocUnsafe(m * HASH_BYTES)
    for (let i = 0; i < m; i++) {
      const h = createHash('sha256').update(cur.subarray(2 * i * HASH_BYTES, (2 * i + 1) * HASH_BYTES))
      h.update(2 * i + 1 < n ? cur.subarray((2 * i + 1) * HASH_BYTES, (2 * i + 2) * HASH_BYTES) : pad)
      h.digest().copy(next, i * HASH_BYTES)
    }
    cur = next
    n = m
    w /= 2
    lv++
  }
  return Buffer.from(cur.subarray(0, HASH_BYTES))
}

/**
 * The pieces root a BEP-52 piece layer implies: the layer's hashes sit at level
 * log2(pieceLength / 16 KiB), padded with all-zero piece subtrees.
 */
export function rootFromPieceLayer (layer: Uint8Array, pieceLength: number): Buffer {
  const count = layer.length / HASH_BYTES
  return merkleRoot(layer, count, log2(pieceLength / BLOCK_SIZE), nextPow2(count))
}

export interface FileHashes {
  /** Absent for an empty file (BEP-52: empty files have no pieces root). */
  piecesRoot?: Buffer
  /** The piece layer (concatenated 32-byte hashes), only for files larger than one piece. */
  pieceLayer?: Buffer
}

/**
 * Streaming BEP-52 hasher for one file: feed its bytes in any chunking, then finish().
 * Keeps the leaves of the current piece and one hash per finished piece.
 */
export class FileMerkleHasher {
  private readonly blocksPerPiece: number
  private block = createHash('sha256')
  private blockFill = 0
  private leaves: Buffer
  private leafCount = 0
  private layer: Buffer[] = []
  private total = 0

  constructor (readonly pieceLength: number) {
    this.blocksPerPiece = pieceLength / BLOCK_SIZE
    this.leaves = Buffer.allocUnsafe(this.blocksPerPiece * HASH_BYTES)
  }

  update (chunk: Uint8Array): void {
    let off = 0
    while (off < chunk.length) {
      const take = Math.min(BLOCK_SIZE - this.blockFill, chunk.length - off)
      this.block.update(chunk.subarray(off, off + take))
      this.blockFill += take
      off += take
      if (this.blockFill === BLOCK_SIZE) this.endBlock()
    }
    this.total += chunk.length
  }

  finish (): FileHashes {
    if (this.blockFill > 0) this.endBlock() // the last block may be short; hashed as is (BEP-52)
    if (this.total === 0) return {}
    if (this.layer.length === 0) {
      // At most one piece: the root covers only as many leaves as the file needs, rounded
      // up to a power of two (not to a whole piece), and there is no piece layer.
      return { piecesRoot: merkleRoot(this.leaves, this.leafCount, 0, nextPow2(this.leafCount)) }
    }
    if (this.leafCount > 0) this.endPiece()
    if (this.layer.length === 1) return { piecesRoot: this.layer[0] }
    const layer = Buffer.concat(this.layer)
    return { piecesRoot: rootFromPieceLayer(layer, this.pieceLength), pieceLayer: layer }
  }

  private endBlock (): void {
    this.block.digest().copy(this.leaves, this.leafCount * HASH_BYTES)
    this.leafCount++
    this.block = createHash('sha256')
    this.blockFill = 0
    // A full piece of leaves becomes one piece-layer hash. When the file turns out to be
    // exactly one piece long, that hash is also its root.
    if (this.leafCount === this.blocksPerPiece) this.endPiece()
  }

  private endPiece (): void {
    this.layer.push(merkleRoot(this.leaves, this.leafCount, 0, this.blocksPerPiece))
    this.leafCount = 0
  }
}
