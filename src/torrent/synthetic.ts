// Deterministic small torrents for the testnet, tests and benchmarks: the same seed always
// gives the same files, names and therefore infohashes. Names are built from a fixed word
// list so a search test can look for words it knows are there.

import { createHash } from 'node:crypto'
import { UsageError } from '../core/errors.js'
import { createTorrentFromMemory } from './create.js'
import type { CreateMode, CreatedTorrent, MemoryFile } from './create.js'

export const SYNTHETIC_WORDS: readonly string[] = Object.freeze([
  'amber', 'anchor', 'apple', 'arrow', 'aurora', 'badger', 'banjo', 'basalt',
  'beacon', 'birch', 'bison', 'bramble', 'breeze', 'cactus', 'canyon', 'cedar',
  'cobalt', 'comet', 'copper', 'coral', 'cricket', 'delta', 'dune', 'ember',
  'falcon', 'fern', 'fjord', 'garnet', 'glacier', 'granite', 'harbor', 'hazel',
  'heron', 'indigo', 'island', 'jasper', 'juniper', 'kestrel', 'lagoon', 'lantern',
  'lotus', 'maple', 'meadow', 'mesa', 'nebula', 'nutmeg', 'oasis', 'onyx',
  'orchid', 'otter', 'pebble', 'pepper', 'quartz', 'quill', 'raven', 'reef',
  'saffron', 'sequoia', 'summit', 'thistle', 'tundra', 'velvet', 'willow', 'zephyr',
])

export interface SyntheticOptions {
  /** Default 16 KiB. */
  pieceLength?: number
  /** 1-4 to force a file count; default derived from the seed. A count of 1 makes a single-file torrent. */
  files?: number
  private?: boolean
}

/** SHA-256 in counter mode: block i = SHA-256(seed ‖ ':' ‖ i). A byte stream with no state but the seed. */
class SeedStream {
  private counter = 0
  private buf = Buffer.alloc(0)
  private pos = 0

  constructor (private readonly seed: string) {}

  bytes (n: number): Buffer {
    const out = Buffer.allocUnsafe(n)
    let off = 0
    while (off < n) {
      if (this.pos === this.buf.length) {
        this.buf = createHash('sha256').update(`${this.seed}:${this.counter++}`).digest()
        this.pos = 0
      }
      const take = Math.min(n - off, this.buf.length - this.pos)
      this.buf.copy(out, off, this.pos, this.pos + take)
      off += take
      this.pos += take
    }
    return out
  }

  /** Uniform enough in [0, n) for small n (n << 2^32). */
  int (n: number): number {
    return this.bytes(4).readUInt32BE(0) % n
  }

  words (k: number): string[] {
    const out: string[] = []
    while (out.length < k) {
      const w = SYNTHETIC_WORDS[this.int(SYNTHETIC_WORDS.length)]
      if (!out.includes(w)) out.push(w)
    }
    return out
  }
}

/**
 * A deterministic torrent of 1-4 files of a few KB. The torrent name is three words from
 * SYNTHETIC_WORDS separated by spaces; file names are two words joined by '-' plus an
 * extension. Separate streams drive the layout and the contents, so they stay independent.
 */
export function syntheticTorrent (seed: number | string, mode: CreateMode, opts: SyntheticOptions = {}): CreatedTorrent {
  if (typeof seed !== 'number' && typeof seed !== 'string') throw new UsageError('synthetic: seed must be a number or string')
  const s = `bbmesh-synthetic:${String(seed)}`
  const layout = new SeedStream(`${s}:layout`)
  const data = new SeedStream(`${s}:data`)
  const count = opts.files ?? 1 + layout.int(4)
  if (!Number.isInteger(count) || count < 1 || count > 4) throw new UsageError('synthetic: files must be 1-4')

  const exts = ['txt', 'bin', 'dat', 'log']
  const name = layout.words(3).join(' ')
  const files: MemoryFile[] = []
  const used = new Set<string>()
  for (let i = 0; i < count; i++) {
    let fname: string
    do fname = `${layout.words(2).join('-')}.${exts[layout.int(exts.length)]}`
    while (used.has(fname))
    used.add(fname)
    const size = 1024 + layout.int(7 * 1024) // 1-8 KiB
    files.push({ path: count === 1 ? [] : [fname], data: data.bytes(size) })
  }
  return createTorrentFromMemory(
    { name: count === 1 ? `${name}.${exts[0]}` : name, files },
    { mode, pieceLength: opts.pieceLength ?? 16 * 1024, private: opts.private },
  )
}
