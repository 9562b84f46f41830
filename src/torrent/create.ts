// Create v1, v2 (BEP-52) and hybrid torrents, byte-for-byte like libtorrent 2.0's
// create_torrent: same file order, pad files, piece size and info keys, so the same files
// give the same infohashes. No npm package creates v2 torrents, hence this.
//
//   createTorrent('/some/folder', { mode: 'hybrid' })                 // from disk, streamed
//   createTorrentFromMemory({ name, files: [{ path: ['a.txt'], data }] }, { mode: 'v2' })

import { AbortedError, UsageError } from '../core/errors.js'
import type { FileHashes } from './merkle.js'
import { planTorrent } from './create-layout.js'
import type { CreateMode, FileOrder, Plan, SourceFile } from './create-layout.js'
import { TorrentHasher } from './create-hash.js'
import { finishTorrent } from './create-info.js'
import type { CreatedTorrent } from './create-info.js'
import { walkDisk, readDiskFile } from './create-disk.js'
import type { DiskFile } from './create-disk.js'

export type { CreateMode, FileOrder } from './create-layout.js'
export type { CreatedTorrent } from './create-info.js'
export { defaultPieceLength, comparePaths } from './create-layout.js'

export interface MemoryFile {
  /** Components under the torrent root. One file with path [] makes a single-file torrent named `name`. */
  path: string[]
  data: Uint8Array
  /** Sets BEP-47 attr 'x'. */
  executable?: boolean
}

export interface MemoryInput {
  name: string
  files: MemoryFile[]
}

export interface CreateOptions {
  mode: CreateMode
  /** Power of two >= 16 KiB; default: libtorrent's automatic choice from the total size. */
  pieceLength?: number
  /** Sets `private: 1` in info (BEP-27). */
  private?: boolean
  /** Trackers written outside info (they do not change the infohash). */
  announce?: string[]
  /**
   * Default 'canonical' (sorted, deterministic). 'input' (v1 only) keeps the given order, or
   * for a folder the OS listing order, which matches libtorrent's add_files() + v1_only.
   */
  fileOrder?: FileOrder
  /** Aborts reading from disk. */
  signal?: AbortSignal
  /** The torrent's name; default: the file or folder's base name (from disk) or input.name. */
  name?: string
  /**
   * Called after every chunk read from disk with the bytes hashed so far and the total (file
   * bytes, pad files excluded); once with hashed 0 before the first read. Disk input only.
   */
  onProgress?: (hashed: number, total: number) => void
}

interface MemSource extends SourceFile { data: Uint8Array }

/** Create a torrent from files in memory (synchronous: everything is already here). */
export function createTorrentFromMemory (input: MemoryInput, opts: CreateOptions): CreatedTorrent {
  if (typeof input !== 'object' || input === null || !Array.isArray(input.files) || typeof input.name !== 'string') {
    throw new UsageError('create: input must be { name, files }')
  }
  const files: MemSource[] = input.files.map((f) => {
    if (!Array.isArray(f.path) || !f.path.every((c) => typeof c === 'string') || !(f.data instanceof Uint8Array)) {
      throw new UsageError('create: each file needs path: string[] and data: Uint8Array')
    }
    return { path: f.path, size: f.data.length, executable: f.executable === true, data: f.data }
  })
  const plan = planTorrent(opts.name ?? input.name, files, opts)
  const hasher = new TorrentHasher(plan.mode, plan.pieceLength)
  const hashes = new Map<MemSource, FileHashes>()
  for (const e of plan.layout) {
    if (e.pad !== undefined) { hasher.pad(e.pad); continue }
    hasher.beginFile()
    hasher.update(e.file.data)
    hashes.set(e.file, hasher.endFile())
  }
  return finish(plan, hashes, hasher, opts)
}

/** Create a torrent from a file or folder on disk (streamed), or from files in memory. */
export async function createTorrent (input: string | MemoryInput, opts: CreateOptions): Promise<CreatedTorrent> {
  if (typeof input !== 'string') return createTorrentFromMemory(input, opts)
  const signal = opts.signal
  const disk = await walkDisk(input, signal)
  if (disk.files.length === 0) throw new UsageError(`create: ${input} holds no files`)
  const plan = planTorrent(opts.name ?? disk.name, disk.files, opts)
  const hasher = new TorrentHasher(plan.mode, plan.pieceLength)
  const hashes = new Map<DiskFile, FileHashes>()
  const total = plan.files.reduce((s, f) => s + f.size, 0)
  let hashed = 0
  opts.onProgress?.(0, total)
  for (const e of plan.layout) {
    if (signal?.aborted === true) throw new AbortedError('create: aborted')
    if (e.pad !== undefined) { hasher.pad(e.pad); continue }
    hasher.beginFile()
    if (e.file.size > 0) {
      for await (const chunk of readDiskFile(e.file, signal)) {
        hasher.update(chunk)
        hashed += chunk.length
        opts.onProgress?.(hashed, total)
      }
    }
    hashes.set(e.file, hasher.endFile())
  }
  return finish(plan, hashes, hasher, opts)
}

function finish<T extends SourceFile> (plan: Plan<T>, hashes: Map<T, FileHashes>, hasher: TorrentHasher, opts: CreateOptions): CreatedTorrent {
  return finishTorrent(plan, hashes, hasher.finishPieces(), { private: opts.private, announce: opts.announce })
}
