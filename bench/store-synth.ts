// Synthetic torrents for the store benchmarks: real bencoded info dicts (v1, v2, hybrid),
// hashed like real ones, with names drawn from a Zipf-distributed vocabulary so some words
// appear in a large share of names (the hard case for search) and most are rare.
// Deterministic: the same seed gives the same torrents.

import { createHash } from 'node:crypto'
import { encode, type EncodableValue } from '../src/core/bencode.js'
import type { TorrentFile, TorrentRecord, TorrentVersion } from '../src/torrent/types.js'
import { prng } from '../src/core/prng.js'
export { prng }

export const VOCABULARY = 50_000
const PIECE = 256 * 1024


const SYL = ['ka', 'lo', 'mi', 'ne', 'ru', 'ta', 'vo', 'si', 'de', 'ba', 'xu', 'fe', 'go', 'hi', 'ja', 'pu', 'we', 'zo', 'qi', 'ly']

/** The word of Zipf rank i (0 is the most common): distinct pronounceable letter strings. */
export function word (i: number): string {
  let s = ''
  let n = i + 1
  while (n > 0) { s += SYL[n % SYL.length]; n = Math.floor(n / SYL.length) }
  return s
}

export class Zipf {
  readonly #cum: Float64Array
  readonly #total: number
  constructor (n = VOCABULARY, s = 1) {
    this.#cum = new Float64Array(n)
    let acc = 0
    for (let i = 0; i < n; i++) { acc += 1 / (i + 1) ** s; this.#cum[i] = acc }
    this.#total = acc
  }

  /** A rank drawn with probability ∝ 1/(rank+1)^s. */
  draw (rnd: () => number): number {
    const u = rnd() * this.#total
    let lo = 0; let hi = this.#cum.length - 1
    while (lo < hi) {
      const m = (lo + hi) >> 1
      if (this.#cum[m] < u) lo = m + 1; else hi = m
    }
    return lo
  }

  /** Share of draws that land on rank i. */
  share (i: number): number {
    return (this.#cum[i] - (i === 0 ? 0 : this.#cum[i - 1])) / this.#total
  }
}

const SEPS = [' ', ' ', ' ', '.', '-', '_']
const TAGS = ['1080p', '720p', '2160p', 'x264', 'x265', 'flac', 'mp3', 'web', 'bluray', '2019', '2021', '2023', 'repack']

export interface SynthOptions {
  /** Share of v2-only and hybrid torrents; the rest are v1 (today's DHT is mostly v1). */
  v2Share?: number
  hybridShare?: number
}

/** A generator of synthetic torrent records. */
export class Synth {
  readonly #rnd: () => number
  readonly #zipf = new Zipf()
  readonly #opts: Required<SynthOptions>
  #n = 0

  constructor (seed = 1, opts: SynthOptions = {}) {
    this.#rnd = prng(seed)
    this.#opts = { v2Share: opts.v2Share ?? 0.05, hybridShare: opts.hybridShare ?? 0.15 }
  }

  name (): string {
    const r = this.#rnd
    const words = 3 + Math.floor(r() * 6)
    const sep = SEPS[Math.floor(r() * SEPS.length)]
    const parts: string[] = []
    for (let i = 0; i < words; i++) parts.push(word(this.#zipf.draw(r)))
    if (r() < 0.5) parts.push(TAGS[Math.floor(r() * TAGS.length)])
    return parts.join(sep)
  }

  record (): TorrentRecord {
    const r = this.#rnd
    const id = this.#n++
    const name = `${this.name()}${sep(r)}${id.toString(36)}` // the id keeps every dict distinct
    const u = r()
    const version: TorrentVersion = u < this.#opts.v2Share ? 'v2' : u < this.#opts.v2Share + this.#opts.hybridShare ? 'hybrid' : 'v1'
    // Geometric file count, mean ~4, long tail capped at 200.
    let nfiles = 1
    while (nfiles < 200 && r() < 0.75) nfiles++
    const files: TorrentFile[] = []
    for (let i = 0; i < nfiles; i++) {
      const size = Math.floor(r() * 8 * PIECE) + 1
      const path = nfiles === 1 ? name : `${word(this.#zipf.draw(r))}-${i}.bin`
      files.push(version === 'v1' ? { path, size } : { path, size, piecesRoot: fakeHash(`${id}:${i}`, 32) })
    }
    return build(name, version, files, id)
  }

  records (n: number): TorrentRecord[] {
    const out: TorrentRecord[] = []
    for (let i = 0; i < n; i++) out.push(this.record())
    return out
  }
}

function sep (r: () => number): string {
  return SEPS[Math.floor(r() * SEPS.length)]
}

function fakeHash (seed: string, n: number): Buffer {
  const h = createHash('sha256').update(seed).digest()
  return n === 32 ? h : h.subarray(0, n)
}

/**
 * Bencode an info dict for the files. v1 pieces are placeholders of the right length (the
 * store never checks piece hashes); hybrids are laid out without pad files, which the store
 * does not check either. The infohashes are the real hashes of the bytes.
 */
function build (name: string, version: TorrentVersion, files: TorrentFile[], id: number): TorrentRecord {
  const total = files.reduce((a, f) => a + f.size, 0)
  const d: Record<string, EncodableValue> = { name, 'piece length': PIECE }
  if (version !== 'v2') {
    d.pieces = Buffer.alloc(20 * Math.ceil(total / PIECE), id & 0xff)
    if (files.length === 1) d.length = files[0].size
    else d.files = files.map((f) => ({ length: f.size, path: [f.path] }))
  }
  if (version !== 'v1') {
    d['meta version'] = 2
    const tree: Record<string, EncodableValue> = {}
    for (const f of files) tree[f.path] = { '': { length: f.size, 'pieces root': f.piecesRoot as Buffer } }
    d['file tree'] = tree
  }
  const raw = encode(d)
  return {
    info: {
      name,
      totalSize: total,
      files,
      pieceLength: PIECE,
      version,
      private: false,
      infohashV1: version === 'v2' ? undefined : createHash('sha1').update(raw).digest(),
      infohashV2: version === 'v1' ? undefined : createHash('sha256').update(raw).digest(),
    },
    rawInfo: raw,
    source: 'bench',
    discoveredAt: 1_700_000_000_000 + id,
  }
}

/** Percentile of sorted numbers (nearest rank). */
export function percentile (sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p / 100 * sorted.length) - 1))]
}
