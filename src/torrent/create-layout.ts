// Where each file sits in a new torrent: file order, piece length, and BEP-47 pad files.
// Everything here mirrors libtorrent 2.0's create_torrent so that the same files give the
// same infohashes (file_storage::canonicalize and the automatic piece size).

import { LimitError, UsageError } from '../core/errors.js'
import { LIMITS } from '../core/limits.js'
import { checkComponent, checkPath } from './path-safety.js'
import { BLOCK_SIZE } from './merkle.js'

export type CreateMode = 'v1' | 'v2' | 'hybrid'

/**
 * 'canonical': sorted path by path (what BEP-52 file trees and libtorrent's v2/hybrid
 * torrents require; deterministic). 'input': the order given, or for a folder the order the
 * OS lists it in, which is what libtorrent's add_files() + v1_only produces. v1 only.
 */
export type FileOrder = 'canonical' | 'input'

export interface SourceFile {
  /** Components relative to the torrent root; [] for a single-file torrent. */
  path: string[]
  size: number
  /** BEP-47 attr 'x'. */
  executable: boolean
}

export type LayoutEntry<T> = { file: T, pad?: undefined } | { pad: number, file?: undefined }

export interface Plan<T extends SourceFile> {
  name: string
  mode: CreateMode
  pieceLength: number
  /** A single-file torrent (v1 `length`, a v2 file tree with one entry named `name`). */
  single: boolean
  /** Files in torrent order. */
  files: T[]
  /** The v1 piece stream: files and, for hybrids, pad files between them. */
  layout: Array<LayoutEntry<T>>
}

/**
 * Deepest path a v2/hybrid torrent we create may hold: core's encode() refuses values nested
 * more than 64 deep, and a file tree puts a file's fields 3 levels below its last component
 * (info → file tree → components... → '' → fields).
 */
export const CREATE_MAX_TREE_DEPTH = Math.min(LIMITS.torrentMaxPathDepth, 61)

export const MIN_PIECE_LENGTH = BLOCK_SIZE
export const MAX_PIECE_LENGTH = 2 ** 30

/**
 * libtorrent 2.0's automatic piece size (create_torrent with piece_size 0): 16 KiB doubled
 * once per threshold the total size exceeds, up to 16 MiB. The thresholds aim at a piece
 * list of about sqrt(total size) * 2 bytes. Sizes here exclude pad files, as libtorrent's
 * choice is made before it inserts them.
 */
const AUTO_PIECE_THRESHOLDS = [
  2684355, 10737418, 42949673, 171798692, 687194767,
  2748779069, 10995116278, 43980465111, 175921860444, 703687441777,
]

export function defaultPieceLength (totalSize: number): number {
  let i = 0
  for (const t of AUTO_PIECE_THRESHOLDS) {
    if (t >= totalSize) break
    i++
  }
  return BLOCK_SIZE * 2 ** i
}

/**
 * Compare two paths component by component, each as raw UTF-8 bytes: libtorrent's
 * path_compare(), and the order of keys in a bencoded `file tree`. (Comparing the joined
 * strings differs: 'a-b/x' < 'a/y' as strings but 'a' < 'a-b' as components.)
 */
export function comparePaths (a: readonly string[], b: readonly string[]): number {
  const n = Math.min(a.length, b.length)
  for (let i = 0; i < n; i++) {
    const c = Buffer.compare(Buffer.from(a[i], 'utf8'), Buffer.from(b[i], 'utf8'))
    if (c !== 0) return c
  }
  return a.length - b.length
}

export interface PlanOptions {
  mode: CreateMode
  pieceLength?: number
  fileOrder?: FileOrder
}

/** Validate the files and lay them out the way libtorrent would. */
export function planTorrent<T extends SourceFile> (name: string, files: T[], opts: PlanOptions): Plan<T> {
  const mode = opts.mode
  if (mode !== 'v1' && mode !== 'v2' && mode !== 'hybrid') throw new UsageError(`create: unknown mode ${String(mode)}`)
  checkComponent(name, 'create: name')
  checkPath([name], 'create: name')
  if (files.length === 0) throw new UsageError('create: no files')
  if (files.length > LIMITS.torrentMaxFiles) throw new LimitError(`create: ${files.length} files, cap ${LIMITS.torrentMaxFiles}`)

  const single = files.length === 1 && files[0].path.length === 0
  let total = 0
  for (const f of files) {
    if (!single) checkPath(f.path, `create: file ${JSON.stringify(f.path.join('/'))}`)
    if (mode !== 'v1' && f.path.length > CREATE_MAX_TREE_DEPTH) {
      throw new LimitError(`create: v2 path ${f.path.join('/')} has ${f.path.length} components, cap ${CREATE_MAX_TREE_DEPTH}`)
    }
    if (!Number.isSafeInteger(f.size) || f.size < 0) throw new UsageError(`create: bad size ${f.size}`)
    total += f.size
  }
  if (!Number.isSafeInteger(total)) throw new UsageError('create: total size is not a safe integer')
  // libtorrent refuses to create a torrent with no content; so do we (there is nothing to hash).
  if (total === 0) throw new UsageError('create: all files are empty')

  const order = opts.fileOrder ?? 'canonical'
  if (order !== 'canonical' && order !== 'input') throw new UsageError(`create: unknown file order ${String(order)}`)
  // v2 file trees are dicts, so their order is sorted by definition; a hybrid's v1 list must match it.
  if (order === 'input' && mode !== 'v1') throw new UsageError('create: file order "input" is only possible for v1 torrents')
  const sorted = order === 'canonical' ? [...files].sort((a, b) => comparePaths(a.path, b.path)) : [...files]
  if (!single) checkNoClashes(sorted)

  const pieceLength = opts.pieceLength ?? defaultPieceLength(total)
  if (!Number.isSafeInteger(pieceLength) || pieceLength < MIN_PIECE_LENGTH || pieceLength > MAX_PIECE_LENGTH ||
      (pieceLength & (pieceLength - 1)) !== 0) {
    throw new UsageError(`create: piece length ${pieceLength} is not a power of two from 16 KiB to 1 GiB`)
  }

  const layout: Array<LayoutEntry<T>> = []
  let off = 0
  for (const file of sorted) {
    layout.push({ file })
    off += file.size
    // BEP-47 / BEP-52 hybrids: pad after each file so the next starts on a piece boundary,
    // as libtorrent's canonicalize() does: after every file including the last (the v1
    // piece stream then ends on a boundary too), but never in a one-file torrent, where a
    // pad would turn a single-file torrent into a multi-file one.
    if (mode === 'hybrid' && sorted.length > 1 && off % pieceLength !== 0) {
      const pad = pieceLength - (off % pieceLength)
      layout.push({ pad })
      off += pad
    }
  }
  return { name, mode, pieceLength, single, files: sorted, layout }
}

/** Two files with the same path, or a file that is also a directory of another, cannot be written. */
function checkNoClashes (files: readonly SourceFile[]): void {
  const seen = new Set<string>()
  const dirs = new Set<string>()
  for (const f of files) {
    const key = f.path.join('/')
    if (seen.has(key)) throw new UsageError(`create: duplicate file path ${key}`)
    seen.add(key)
    for (let i = 1; i < f.path.length; i++) dirs.add(f.path.slice(0, i).join('/'))
  }
  for (const d of dirs) if (seen.has(d)) throw new UsageError(`create: ${d} is both a file and a directory`)
}
