// BEP-52 hash trees for the seeder: the whole merkle tree of one file, built once from its
// bytes (in memory, or streamed from disk a chunk at a time: buildStreaming), answers `hash request`s (msg 21) with `hashes` (msg 22): `length` hashes of
// the base layer from `index`, then the uncle hashes that prove them up to the pieces root.
//
// Geometry (BEP-52; libtorrent merkle.cpp): leaves are SHA-256 of the file's 16 KiB blocks
// (the last one short, hashed as is), padded with zero leaves to a power of two; a file of
// B blocks has nextPow2(B) leaves and height log2(nextPow2(B)). Layer 0 holds the leaves,
// layer log2(pieceLength / 16 KiB) the piece hashes, the top layer the pieces root. A node
// over padding only is padHash(layer) (merkle.ts), so pads cost no hashing.
//
// Proof order (BEP-52 "hashes"; libtorrent hash_picker add_hashes / merkle_check_proofs):
// the base hashes, then for each layer j from log2(length) up to `proof layers` the sibling
// of the range's ancestor at base + j, lowest first. Layers below log2(length) are inside the
// requested range and are left out (they still count towards proof layers), so a request
// carries max(0, proofLayers - log2(length) + 1) uncles. libtorrent applies the same count
// to length 1 (proofLayers + 1 uncles), so this does too.

import { createHash } from 'node:crypto'
import { ProtocolError } from '../core/errors.js'
import type { HashRequest } from '../wire/messages.js'
import { BLOCK_SIZE, HASH_BYTES, log2, nextPow2, padHash } from '../torrent/merkle.js'

/** Most hashes one request may ask for whatever the piece size: libtorrent's own cap (128 MiB pieces). */
export const MAX_HASHES_HARD = 8192

/** Uncle hashes a `hashes` reply to this request carries after its `length` base hashes. */
export function uncleCount (length: number, proofLayers: number): number {
  return Math.max(0, proofLayers - log2(length) + 1)
}

/** Height of a file's tree (its root's layer) from its size alone, so requests are checked before any hashing. */
export function treeHeight (size: number): number {
  return log2(nextPow2(Math.max(1, Math.ceil(size / BLOCK_SIZE))))
}

/** Memory a file's whole tree takes: 2 × leaves − 1 nodes of 32 bytes. */
export function treeBytes (size: number): number {
  return (2 * nextPow2(Math.max(1, Math.ceil(size / BLOCK_SIZE))) - 1) * HASH_BYTES
}

const isPow2 = (n: number): boolean => n > 0 && (n & (n - 1)) === 0

/**
 * Why a request for a file of `size` bytes will not be served, or undefined when it will.
 * The same rules as libtorrent's validate_hash_request, plus BEP-52's shape (length a power
 * of two, index a multiple of length) and a cap on length.
 */
export function hashRequestProblem (size: number, r: HashRequest, maxLength: number): string | undefined {
  const height = treeHeight(size)
  // The root layer itself comes from the info dict; a request must sit below it.
  if (r.base >= height) return `base layer ${r.base} not below the root layer ${height}`
  if (!isPow2(r.length)) return `length ${r.length} is not a power of two`
  if (r.length > maxLength) return `length ${r.length} over the cap of ${maxLength}`
  if (r.index % r.length !== 0) return `index ${r.index} is not a multiple of length ${r.length}`
  const width = 2 ** (height - r.base)
  if (r.index + r.length > width) return `hashes ${r.index}..${r.index + r.length - 1} past the ${width} of layer ${r.base}`
  // The highest uncle sits at base + proofLayers and must be below the root.
  if (r.proofLayers > height - r.base - 1) return `${r.proofLayers} proof layers over the ${height - r.base - 1} above layer ${r.base}`
  return undefined
}

/** The full BEP-52 merkle tree of one file, one flat buffer per layer. */
export class FileHashTree {
  private constructor (private readonly layers: Buffer[]) {}

  static build (data: Uint8Array): FileHashTree {
    const blocks = Math.max(1, Math.ceil(data.length / BLOCK_SIZE))
    const layer0 = Buffer.alloc(nextPow2(blocks) * HASH_BYTES) // pad leaves stay zero (padHash(0))
    for (let i = 0; i * BLOCK_SIZE < data.length; i++) {
      createHash('sha256').update(data.subarray(i * BLOCK_SIZE, (i + 1) * BLOCK_SIZE)).digest().copy(layer0, i * HASH_BYTES)
    }
    return FileHashTree.up(layer0, data.length === 0 ? 0 : blocks)
  }

  /**
   * The same tree from a file of `size` bytes read through `read(offset, length)` a chunk at a
   * time (a multiple of 16 KiB), so only the leaves and one chunk are in memory.
   */
  static async buildStreaming (size: number, read: (offset: number, length: number) => Promise<Uint8Array>, chunk = 64 * BLOCK_SIZE): Promise<FileHashTree> {
    if (chunk <= 0 || chunk % BLOCK_SIZE !== 0) throw new ProtocolError('merkle: chunk must be a positive multiple of 16 KiB')
    const blocks = Math.max(1, Math.ceil(size / BLOCK_SIZE))
    const layer0 = Buffer.alloc(nextPow2(blocks) * HASH_BYTES)
    for (let off = 0; off < size; off += chunk) {
      const data = await read(off, Math.min(chunk, size - off))
      for (let o = 0; o < data.length; o += BLOCK_SIZE) {
        createHash('sha256').update(data.subarray(o, o + BLOCK_SIZE)).digest().copy(layer0, ((off + o) / BLOCK_SIZE) * HASH_BYTES)
      }
    }
    return FileHashTree.up(layer0, size === 0 ? 0 : blocks)
  }

  /** The layers above the leaves; `real` leaves carry data, the rest are pads. */
  private static up (layer0: Buffer, real: number): FileHashTree {
    const layers = [layer0]
    for (let width = layer0.length / HASH_BYTES / 2, lv = 1; width >= 1; width /= 2, lv++) {
      const below = layers[lv - 1]
      const cur = Buffer.allocUnsafe(width * HASH_BYTES)
      real = Math.ceil(real / 2)
      for (let i = 0; i < width; i++) {
        if (i >= real) { padHash(lv).copy(cur, i * HASH_BYTES); continue }
        createHash('sha256').update(below.subarray(2 * i * HASH_BYTES, (2 * i + 2) * HASH_BYTES)).digest().copy(cur, i * HASH_BYTES)
      }
      layers.push(cur)
    }
    return new FileHashTree(layers)
  }

  /** Layer of the root (0 for a file of one block). */
  get height (): number { return this.layers.length - 1 }
  get root (): Buffer { return Buffer.from(this.layers[this.height]) }
  get bytes (): number { return this.layers.reduce((s, l) => s + l.length, 0) }

  node (layer: number, index: number): Buffer {
    return this.layers[layer].subarray(index * HASH_BYTES, (index + 1) * HASH_BYTES)
  }

  /** The hashes of a `hashes` reply (base hashes, then uncles lowest first); the request must have passed hashRequestProblem. */
  proof (r: HashRequest): Buffer {
    const uncles = uncleCount(r.length, r.proofLayers)
    const out = Buffer.allocUnsafe((r.length + uncles) * HASH_BYTES)
    this.layers[r.base].copy(out, 0, r.index * HASH_BYTES, (r.index + r.length) * HASH_BYTES)
    let o = r.length * HASH_BYTES
    for (let j = log2(r.length); j <= r.proofLayers; j++) {
      // The sibling of the range's ancestor at layer base + j.
      this.node(r.base + j, (r.index >> j) ^ 1).copy(out, o)
      o += HASH_BYTES
    }
    return out
  }
}

/**
 * Trees of the files peers asked about, least recently used evicted first, under one byte
 * budget. A tree larger than the whole budget is never built (its requests are rejected).
 */
export class HashTreeCache {
  private readonly map = new Map<string, FileHashTree>()
  private used = 0

  constructor (readonly budget: number) {}

  fits (size: number): boolean { return treeBytes(size) <= this.budget }

  get (key: string, build: () => FileHashTree): FileHashTree {
    const hit = this.peek(key)
    if (hit !== undefined) return hit
    const tree = build()
    this.put(key, tree)
    return tree
  }

  /** A cached tree (now the most recently used), or undefined. */
  peek (key: string): FileHashTree | undefined {
    const hit = this.map.get(key)
    if (hit !== undefined) { this.map.delete(key); this.map.set(key, hit) }
    return hit
  }

  /** Cache a tree built elsewhere (streamed from a file), evicting the least recently used. */
  put (key: string, tree: FileHashTree): void {
    const old = this.map.get(key)
    if (old !== undefined) { this.map.delete(key); this.used -= old.bytes }
    this.map.set(key, tree)
    this.used += tree.bytes
    for (const [k, t] of this.map) {
      if (this.used <= this.budget || k === key) break
      this.map.delete(k)
      this.used -= t.bytes
    }
  }

  /** Forget every tree whose key starts with prefix (a torrent no longer served). */
  dropPrefix (prefix: string): void {
    for (const [k, t] of this.map) if (k.startsWith(prefix)) { this.map.delete(k); this.used -= t.bytes }
  }

  get bytes (): number { return this.used }
  get size (): number { return this.map.size }
}
