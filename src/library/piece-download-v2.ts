// The pieces of a v2-only torrent (BEP-52) for the downloader, and the piece layers it must
// fetch to check them. Pure state, no sockets.
//
// Layout (BEP-52, the same piece numbers as the seeder's seed-layout.ts and libtorrent): every
// non-empty file starts on a piece boundary, its last piece is short (it ends with the file),
// empty files have no pieces. A block is asked for exactly over file bytes.
//
// Piece hashes: for a file of at most one piece, its pieces root is its piece hash. For a
// longer file, its piece layer (layer log2(pieceLength / 16 KiB) of the file's merkle tree) is
// asked of peers by `hash request` (msg 21) in chunks of at most 512 hashes; a `hashes` reply
// (msg 22) counts only once its hashes, folded up and then combined with the uncle hashes
// (lowest first, one per layer from the chunk's top up to just below the root), give the
// pieces root from the info dict. A piece is then checked by the merkle root of its 16 KiB
// block hashes: padded with zero leaves to a whole piece in a multi-piece file, to the next
// power of two of its blocks in a one-piece file (merkle.ts; BEP-52).

import { createHash } from 'node:crypto'
import { BLOCK_SIZE, HASH_BYTES, log2, merkleRoot, nextPow2 } from '../torrent/merkle.js'
import type { TorrentInfo } from '../torrent/types.js'
import type { BlockSpan, PieceLayout } from './piece-download-layout.js'

/** Most hashes asked in one request (BEP-52: a request SHOULD NOT ask for more than 512). */
export const MAX_HASHES_PER_REQUEST = 512

/** One hash request for part of a file's piece layer, and who has it. */
export interface HashChunk {
  /** Index in info.files. */
  file: number
  root: Buffer
  /** Layer of the requested hashes (the piece layer). */
  base: number
  /** First piece (of the file) it covers. */
  index: number
  /** A power of two; the entries past the file's last piece are pad hashes. */
  length: number
  /** Layers of uncles asked for: up to just below the root. */
  proofLayers: number
  /** Layer of the file's root. */
  height: number
  /** The peer it is asked of now, or null. */
  askedOf: object | null
  /** Keys of peers that rejected it: never asked again. */
  rejectedBy: Set<string>
  done: boolean
}

export class V2DownloadLayout implements PieceLayout {
  readonly check = 'merkle'
  readonly numPieces: number
  readonly pieceLength: number
  readonly totalSize: number
  readonly paths: string[][]
  readonly files: Buffer[]
  /** Piece-layer requests still to make or made, in piece order. */
  readonly chunks: HashChunk[] = []
  /** Per file: its first piece, -1 for an empty file. */
  private readonly first: number[] = []
  private readonly pieceFile: Int32Array
  /** 32 bytes per piece, valid where known[p] is 1. */
  private readonly hashes: Buffer
  private readonly known: Uint8Array
  private readonly blocksPerPiece: number

  constructor (readonly info: TorrentInfo) {
    const pl = info.pieceLength // parseInfo: a power of two >= 16 KiB for v2
    this.pieceLength = pl
    this.blocksPerPiece = pl / BLOCK_SIZE
    this.totalSize = info.totalSize
    this.paths = info.files.map((f) => f.path.split('/'))
    this.files = info.files.map((f) => Buffer.alloc(f.size))
    const base = log2(this.blocksPerPiece)
    let p = 0
    for (const [i, f] of info.files.entries()) {
      if (f.size === 0) { this.first.push(-1); continue }
      const n = Math.ceil(f.size / pl)
      this.first.push(p)
      if (n > 1) {
        const height = log2(nextPow2(Math.ceil(f.size / BLOCK_SIZE)))
        const width = 2 ** (height - base) // nextPow2(n)
        const length = Math.min(MAX_HASHES_PER_REQUEST, width)
        for (let index = 0; index < n; index += length) {
          this.chunks.push({
            file: i, root: f.piecesRoot as Buffer, base, index, length, proofLayers: height - base - 1, height,
            askedOf: null, rejectedBy: new Set(), done: false,
          })
        }
      }
      p += n
    }
    this.numPieces = p
    this.pieceFile = new Int32Array(p)
    this.hashes = Buffer.alloc(p * HASH_BYTES)
    this.known = new Uint8Array(p)
    for (const [i, f] of info.files.entries()) {
      const first = this.first[i]
      if (first < 0) continue
      const n = Math.ceil(f.size / pl)
      this.pieceFile.fill(i, first, first + n)
      if (n === 1) { (f.piecesRoot as Buffer).copy(this.hashes, first * HASH_BYTES); this.known[first] = 1 }
    }
  }

  /** The piece's hash is known: it may be downloaded and checked. */
  ready (p: number): boolean { return this.known[p] === 1 }

  pieceSize (p: number): number {
    const f = this.pieceFile[p]
    return Math.min(this.pieceLength, this.info.files[f].size - (p - this.first[f]) * this.pieceLength)
  }

  blocks (p: number): Array<BlockSpan | null> {
    const size = this.pieceSize(p)
    const out: BlockSpan[] = []
    for (let begin = 0; begin < size; begin += BLOCK_SIZE) out.push({ begin, length: Math.min(BLOCK_SIZE, size - begin) })
    return out
  }

  dataBytes (p: number): number { return this.pieceSize(p) }

  write (p: number, begin: number, data: Buffer): boolean {
    const f = this.pieceFile[p]
    data.copy(this.files[f], (p - this.first[f]) * this.pieceLength + begin)
    return true
  }

  /** The merkle root of the piece's block hashes equals its proven piece-layer hash (or the file's root). */
  verifyPiece (p: number): boolean {
    if (this.known[p] !== 1) return false
    const f = this.pieceFile[p]
    const off = (p - this.first[f]) * this.pieceLength
    const data = this.files[f].subarray(off, off + this.pieceSize(p))
    const count = Math.ceil(data.length / BLOCK_SIZE)
    const leaves = Buffer.allocUnsafe(count * HASH_BYTES)
    for (let i = 0; i < count; i++) createHash('sha256').update(data.subarray(i * BLOCK_SIZE, (i + 1) * BLOCK_SIZE)).digest().copy(leaves, i * HASH_BYTES)
    const multi = this.info.files[f].size > this.pieceLength
    const root = merkleRoot(leaves, count, 0, multi ? this.blocksPerPiece : nextPow2(count))
    return root.equals(this.hashes.subarray(p * HASH_BYTES, (p + 1) * HASH_BYTES))
  }

  /** Every piece was checked against hashes proven up to its file's root: nothing more to check. */
  pieceVerified (_p: number): void {}

  /** The hashes a reply to `c` carries after its 48-byte header: `length` base hashes and this many uncles. */
  uncles (c: HashChunk): number { return c.height - c.base - log2(c.length) }

  /**
   * Check the hashes of a `hashes` reply to chunk c (after its header) up to the file's pieces
   * root; store them and mark the chunk done when they prove, else false (nothing stored).
   */
  acceptHashes (c: HashChunk, body: Buffer): boolean {
    const uncles = this.uncles(c)
    if (body.length !== (c.length + uncles) * HASH_BYTES) return false
    let node = merkleRoot(body, c.length, c.base, c.length) // the range's own subtree
    let pos = c.index / c.length
    for (let u = 0; u < uncles; u++) {
      const uncle = body.subarray((c.length + u) * HASH_BYTES, (c.length + u + 1) * HASH_BYTES)
      const h = createHash('sha256')
      if (pos % 2 === 0) h.update(node).update(uncle)
      else h.update(uncle).update(node)
      node = h.digest()
      pos = Math.floor(pos / 2)
    }
    if (!node.equals(c.root)) return false
    const first = this.first[c.file]
    const n = Math.min(c.length, Math.ceil(this.info.files[c.file].size / this.pieceLength) - c.index)
    body.copy(this.hashes, (first + c.index) * HASH_BYTES, 0, n * HASH_BYTES)
    this.known.fill(1, first + c.index, first + c.index + n)
    c.done = true
    return true
  }

  /** Path of file f, for messages. */
  path (f: number): string { return this.info.files[f].path }
}
