// Parse a raw info dict (BEP-3 v1, BEP-52 v2, or hybrid) into a TorrentInfo. Pure and
// total: any input either parses or throws one DecodeError / SchemaError / LimitError.
// The infohashes are taken over the raw bytes as given, never over a re-encoding.

import { decode, isDict, isBytes, getBytes, getInt, getDict, getList, has, text } from '../core/bencode.js'
import type { BDict, BValue } from '../core/bencode.js'
import { SchemaError, LimitError } from '../core/errors.js'
import { LIMITS } from '../core/limits.js'
import { sha1, sha256 } from '../core/infohash.js'
import type { TorrentFile, TorrentInfo, TorrentVersion } from './types.js'
import { checkComponent, checkPath, checkNameBytes } from './path-safety.js'
import { BLOCK_SIZE, HASH_BYTES } from './merkle.js'

/**
 * Bencode nesting an info dict may use: a v2 `file tree` nests one dict per path
 * component, under info → file tree, plus the file's own '' → {length} dicts.
 */
export const INFO_MAX_DEPTH = LIMITS.torrentMaxPathDepth + 4

/**
 * Bencode values an info dict may hold. A hybrid file costs about 30 values (v1 entry, its
 * pad entry, v2 tree node), so this admits torrentMaxFiles files while bounding the work a
 * hostile 16 MiB dict of tiny values can cause.
 */
export const INFO_MAX_ITEMS = LIMITS.torrentMaxFiles * 32

const latin1ToBytes = (k: string): Buffer => Buffer.from(k, 'latin1')

/** Parse raw info-dict bytes. */
export function parseInfo (raw: Uint8Array): TorrentInfo {
  const d = decode(raw, { maxBytes: LIMITS.metadataMaxSize, maxDepth: INFO_MAX_DEPTH, maxItems: INFO_MAX_ITEMS })
  if (!isDict(d)) throw new SchemaError('info: not a dict')

  const version = detectVersion(d)
  const name = readName(d)
  const pieceLength = readPieceLength(d, version)

  let files: TorrentFile[]
  if (version === 'v1') {
    const v1 = readV1Files(d, name)
    checkV1Pieces(d, v1.layoutSize, pieceLength)
    files = v1.files
  } else {
    files = readFileTree(d)
    if (version === 'hybrid') {
      const v1 = readV1Files(d, name)
      checkV1Pieces(d, v1.layoutSize, pieceLength)
      checkHybridAgrees(v1.files, v1.offsets, files, pieceLength)
    }
  }

  let totalSize = 0
  for (const f of files) {
    totalSize += f.size
    if (!Number.isSafeInteger(totalSize)) throw new SchemaError('info: total size is not a safe integer')
  }

  return {
    name,
    totalSize,
    files,
    pieceLength,
    version,
    private: getInt(d, 'private') === 1,
    infohashV1: version === 'v2' ? undefined : sha1(raw),
    infohashV2: version === 'v1' ? undefined : sha256(raw),
  }
}

function detectVersion (d: BDict): TorrentVersion {
  const hasPieces = has(d, 'pieces')
  if (!has(d, 'meta version')) {
    // A `file tree` without `meta version` is not v2 (BEP-52 requires both); v1 ignores it.
    if (!hasPieces) throw new SchemaError('info: neither `pieces` (v1) nor `meta version` (v2)')
    return 'v1'
  }
  const mv = getInt(d, 'meta version')
  if (mv === undefined) throw new SchemaError('info: `meta version` is not an integer')
  if (mv !== 2) throw new SchemaError(`info: unsupported meta version ${mv}`)
  if (!has(d, 'file tree')) throw new SchemaError('info: `meta version` 2 without `file tree`')
  return hasPieces ? 'hybrid' : 'v2'
}

function readName (d: BDict): string {
  // `name.utf-8` is a non-standard key some clients add when `name` is in a legacy codepage.
  const b = getBytes(d, 'name.utf-8') ?? getBytes(d, 'name')
  if (b === undefined) throw new SchemaError('info: missing or non-string `name`')
  if (b.length > LIMITS.torrentMaxNameBytes) throw new LimitError(`info: name of ${b.length} bytes, cap ${LIMITS.torrentMaxNameBytes}`)
  const name = text(b)
  checkComponent(name, 'info: name')
  checkNameBytes(name, 'info: name')
  return name
}

function readPieceLength (d: BDict, version: TorrentVersion): number {
  if (!has(d, 'piece length')) throw new SchemaError('info: missing `piece length`')
  const pl = getInt(d, 'piece length')
  if (pl === undefined) throw new SchemaError('info: `piece length` is not an integer')
  if (pl <= 0) throw new SchemaError(`info: piece length ${pl} is not positive`)
  // BEP-52: a power of two, at least one 16 KiB block, so pieces align with merkle subtrees.
  if (version !== 'v1' && (pl < BLOCK_SIZE || (pl & (pl - 1)) !== 0 || pl > 2 ** 30)) {
    throw new SchemaError(`info: v2 piece length ${pl} is not a power of two from ${BLOCK_SIZE} to 2^30`)
  }
  return pl
}

function readSize (v: BValue | undefined, where: string): number {
  if (typeof v !== 'number') throw new SchemaError(`${where}: \`length\` missing or not an integer`)
  if (v < 0) throw new SchemaError(`${where}: negative length ${v}`)
  // bencode ints are already safe integers; keep the check for the invariant it states.
  if (!Number.isSafeInteger(v)) throw new SchemaError(`${where}: length is not a safe integer`)
  return v
}

interface V1Files {
  /** Real files (pads removed). */
  files: TorrentFile[]
  /** Byte offset of each real file in the v1 piece stream (pads included). */
  offsets: number[]
  /** Bytes the v1 pieces cover: real files plus pad files. */
  layoutSize: number
}

function readV1Files (d: BDict, name: string): V1Files {
  const hasLength = has(d, 'length')
  const hasFiles = has(d, 'files')
  if (hasLength && hasFiles) throw new SchemaError('info: both `length` and `files`')
  if (hasLength) {
    const size = readSize(d.length, 'info')
    return { files: [{ path: name, size }], offsets: [0], layoutSize: size }
  }
  if (!hasFiles) throw new SchemaError('info: neither `length` nor `files`')
  const list = getList(d, 'files')
  if (list === undefined) throw new SchemaError('info: `files` is not a list')
  if (list.length === 0) throw new SchemaError('info: `files` is empty')
  // Pads add at most one entry per real file (BEP-47), hence twice the file cap.
  if (list.length > 2 * LIMITS.torrentMaxFiles) throw new LimitError(`info: ${list.length} file entries, cap ${2 * LIMITS.torrentMaxFiles}`)

  const files: TorrentFile[] = []
  const offsets: number[] = []
  let off = 0
  for (let i = 0; i < list.length; i++) {
    const where = `info: files[${i}]`
    const e = list[i]
    if (!isDict(e)) throw new SchemaError(`${where}: not a dict`)
    const size = readSize(e.length, where)
    const attr = getBytes(e, 'attr')
    if (has(e, 'attr') && attr === undefined) throw new SchemaError(`${where}: \`attr\` is not a string`)
    // BEP-47: attr 'p' marks a pad file. It fills the piece stream with zeros; it is not content.
    const isPad = attr !== undefined && attr.includes(0x70)
    if (!isPad) {
      if (files.length >= LIMITS.torrentMaxFiles) throw new LimitError(`info: more than ${LIMITS.torrentMaxFiles} files`)
      files.push({ path: readV1Path(e, where), size })
      offsets.push(off)
    }
    off += size
    if (!Number.isSafeInteger(off)) throw new SchemaError('info: total size is not a safe integer')
  }
  if (files.length === 0) throw new SchemaError('info: `files` holds only pad files')
  return { files, offsets, layoutSize: off }
}

function readV1Path (e: BDict, where: string): string {
  // Prefer `path.utf-8` (non-standard, added next to a legacy-codepage `path`).
  const key = has(e, 'path.utf-8') ? 'path.utf-8' : 'path'
  const list = getList(e, key)
  if (list === undefined) throw new SchemaError(`${where}: \`${key}\` missing or not a list`)
  if (list.length > LIMITS.torrentMaxPathDepth) {
    throw new LimitError(`${where}: path has ${list.length} components, cap ${LIMITS.torrentMaxPathDepth}`)
  }
  const comps: string[] = []
  for (const c of list) {
    if (!isBytes(c)) throw new SchemaError(`${where}: path component is not a string`)
    if (c.length > LIMITS.torrentMaxNameBytes) throw new LimitError(`${where}: path component of ${c.length} bytes`)
    comps.push(text(c))
  }
  return checkPath(comps, where)
}

function checkV1Pieces (d: BDict, layoutSize: number, pieceLength: number): void {
  const pieces = getBytes(d, 'pieces')
  if (pieces === undefined) throw new SchemaError('info: `pieces` is not a string')
  if (pieces.length % 20 !== 0) throw new SchemaError(`info: \`pieces\` is ${pieces.length} bytes, not a multiple of 20`)
  const expected = Math.ceil(layoutSize / pieceLength)
  if (pieces.length / 20 !== expected) {
    throw new SchemaError(`info: ${pieces.length / 20} piece hashes for ${layoutSize} bytes at piece length ${pieceLength} (expected ${expected})`)
  }
}

/** Walk a BEP-52 `file tree`: dicts keyed by path component; a key '' holds a file's {length, pieces root}. */
function readFileTree (d: BDict): TorrentFile[] {
  const tree = getDict(d, 'file tree')
  if (tree === undefined) throw new SchemaError('info: `file tree` is not a dict')
  if (has(tree, '')) throw new SchemaError('info: `file tree` root is a file with no name')
  const files: TorrentFile[] = []
  walkTree(tree, [], files)
  if (files.length === 0) throw new SchemaError('info: `file tree` holds no files')
  return files
}

function walkTree (node: BDict, prefix: string[], out: TorrentFile[]): void {
  // Keys sorted by raw bytes (latin1 strings compare bytewise), not Object.keys order:
  // JS puts integer-like keys such as '10' before '9' regardless of insertion order.
  const keys = Object.keys(node).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))
  for (const k of keys) {
    const child = node[k]
    const comp = text(latin1ToBytes(k))
    const path = [...prefix, comp]
    const joined = checkPath(path, 'info: file tree')
    if (!isDict(child)) throw new SchemaError(`info: file tree ${joined}: entry is not a dict`)
    if (has(child, '')) {
      // A file node: { '': { length, pieces root } } and nothing else beside it.
      if (Object.keys(child).length !== 1) throw new SchemaError(`info: file tree ${joined}: a file node has other keys`)
      const leaf = child['']
      if (!isDict(leaf)) throw new SchemaError(`info: file tree ${joined}: file entry is not a dict`)
      if (out.length >= LIMITS.torrentMaxFiles) throw new LimitError(`info: more than ${LIMITS.torrentMaxFiles} files`)
      out.push(readTreeFile(leaf, joined))
    } else {
      walkTree(child, path, out)
    }
  }
}

function readTreeFile (leaf: BDict, path: string): TorrentFile {
  const where = `info: file tree ${path}`
  const size = readSize(leaf.length, where)
  if (size === 0) return { path, size } // BEP-52: empty files have no pieces root
  const root = getBytes(leaf, 'pieces root')
  if (root === undefined) throw new SchemaError(`${where}: missing \`pieces root\``)
  if (root.length !== HASH_BYTES) throw new SchemaError(`${where}: \`pieces root\` is ${root.length} bytes, not 32`)
  return { path, size, piecesRoot: Buffer.from(root) }
}

/**
 * Hybrid torrents describe the same files twice. A client reading only the v1 half must
 * see the same files, in the same order, with every non-empty file starting on a piece
 * boundary (BEP-52 "upgrade path": pad files align v1 files with v2's per-file pieces).
 */
function checkHybridAgrees (v1: TorrentFile[], offsets: number[], v2: TorrentFile[], pieceLength: number): void {
  if (v1.length !== v2.length) throw new SchemaError(`info: hybrid v1 lists ${v1.length} files, v2 file tree ${v2.length}`)
  for (let i = 0; i < v1.length; i++) {
    if (v1[i].path !== v2[i].path) throw new SchemaError(`info: hybrid file ${i} is '${v1[i].path}' in v1 but '${v2[i].path}' in v2`)
    if (v1[i].size !== v2[i].size) throw new SchemaError(`info: hybrid file ${v2[i].path} is ${v1[i].size} bytes in v1 but ${v2[i].size} in v2`)
    if (v1[i].size > 0 && offsets[i] % pieceLength !== 0) {
      throw new SchemaError(`info: hybrid file ${v2[i].path} does not start on a piece boundary in v1`)
    }
  }
}
