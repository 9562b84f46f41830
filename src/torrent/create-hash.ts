// Streaming hashers for torrent creation: v1 SHA-1 pieces over the whole piece stream (pad
// files read as zeros, BEP-47) and, per file, BEP-52 merkle trees. Fed chunks of any size;
// memory stays at one hash state plus 32 bytes per finished piece.

import { createHash } from 'node:crypto'
import type { Hash } from 'node:crypto'
import { FileMerkleHasher } from './merkle.js'
import type { FileHashes } from './merkle.js'
import type { CreateMode } from './create-layout.js'

const ZEROS = Buffer.alloc(64 * 1024)

/** SHA-1 of each piece of a byte stream (BEP-3 `pieces`). */
export class V1PieceHasher {
  private h: Hash = createHash('sha1')
  private fill = 0
  private readonly out: Buffer[] = []

  constructor (readonly pieceLength: number) {}

  update (chunk: Uint8Array): void {
    let off = 0
    while (off < chunk.length) {
      const take = Math.min(this.pieceLength - this.fill, chunk.length - off)
      this.h.update(chunk.subarray(off, off + take))
      this.fill += take
      off += take
      if (this.fill === this.pieceLength) {
        this.out.push(this.h.digest())
        this.h = createHash('sha1')
        this.fill = 0
      }
    }
  }

  zeros (n: number): void {
    while (n > 0) {
      const take = Math.min(n, ZEROS.length)
      this.update(ZEROS.subarray(0, take))
      n -= take
    }
  }

  /** All piece hashes; the last piece may be short. */
  finish (): Buffer {
    if (this.fill > 0) {
      this.out.push(this.h.digest())
      this.fill = 0
    }
    return Buffer.concat(this.out)
  }
}

/** Both hash families of a torrent being created, fed file by file in torrent order. */
export class TorrentHasher {
  private readonly v1?: V1PieceHasher
  private file?: FileMerkleHasher

  constructor (readonly mode: CreateMode, readonly pieceLength: number) {
    if (mode !== 'v2') this.v1 = new V1PieceHasher(pieceLength)
  }

  beginFile (): void {
    if (this.mode !== 'v1') this.file = new FileMerkleHasher(this.pieceLength)
  }

  update (chunk: Uint8Array): void {
    this.v1?.update(chunk)
    this.file?.update(chunk)
  }

  endFile (): FileHashes {
    const r = this.file?.finish() ?? {}
    this.file = undefined
    return r
  }

  /** A BEP-47 pad file: zeros in the v1 stream only (v2 hashes each file on its own). */
  pad (n: number): void {
    this.v1?.zeros(n)
  }

  /** v1 `pieces`, or undefined for a v2-only torrent. */
  finishPieces (): Buffer | undefined {
    return this.v1?.finish()
  }
}
