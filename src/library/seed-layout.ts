// Where each piece of a seeded torrent lives in its piece stream (in memory, or a file read on
// demand: FileSeedTorrent), for v1, hybrid and v2-only torrents alike.
//
// The stream is the bytes peers' piece numbers index (piece p starts at p × pieceLength):
//   v1, hybrid  the v1 stream: files in info-dict order with the BEP-47 pad files (zeros).
//   v2-only     BEP-52: every non-empty file starts on a piece boundary; the gap up to the next
//               boundary after a file is zeros (no tail after the last file); empty files take
//               no space and have no pieces. Same piece numbers as libtorrent's v2 file_storage.
// A v2-only file's last piece is short: its data ends with the file. libtorrent still asks
// for whole 16 KiB blocks there (torrent::to_req sizes blocks by the padded piece), so a
// block may run on into the zeros up to the piece boundary, but must start inside the file.

import { decode, getBytes, getInt, getList, isDict } from '../core/bencode.js'
import { createHash } from 'node:crypto'
import { BbmeshError, UsageError } from '../core/errors.js'
import { parseInfo } from '../torrent/info-parse.js'
import type { TorrentInfo, TorrentVersion } from '../torrent/types.js'

/** One torrent to serve: the info dict and its piece stream (see the header of seed-layout.ts). */
export interface SeedTorrent {
  rawInfo: Buffer
  pieceLength: number
  /** The piece stream: v1/hybrid files and pad files (zeros) in order; v2-only files from piece boundaries. */
  data: Buffer
}

/**
 * One torrent to serve whose piece stream is a file on disk, read on demand (seed-file.ts): a
 * single-file torrent's file itself (a catalog shard). `size` is the file's expected length.
 */
export interface FileSeedTorrent {
  rawInfo: Buffer
  pieceLength: number
  path: string
  size: number
}

export function isFileSeed (t: SeedTorrent | FileSeedTorrent): t is FileSeedTorrent {
  return typeof (t as FileSeedTorrent).path === 'string'
}

/** The v1 piece hashes (20 bytes each) of an info dict, or null for a v2-only one. */
export function v1PieceHashes (rawInfo: Buffer): Buffer | null {
  const d = decode(rawInfo)
  if (!isDict(d)) throw new UsageError('seed: info is not a dict')
  const p = getBytes(d, 'pieces')
  return p === undefined ? null : Buffer.from(p)
}

/** A non-empty file of a v2 or hybrid torrent, placed in the piece stream. */
export interface SeedFile {
  path: string
  /** Byte offset in the piece stream (a multiple of the piece length). */
  offset: number
  size: number
  /** BEP-52 pieces root. */
  root: Buffer
  firstPiece: number
  numPieces: number
}

export interface SeedLayout {
  version: TorrentVersion
  pieceLength: number
  numPieces: number
  dataLength: number
  /** v2 and hybrid: the non-empty files in piece order; empty for v1. */
  files: SeedFile[]
  /** files by hex pieces root. */
  byRoot: Map<string, SeedFile>
  /** The 20-byte handshake infohashes: SHA-1 (v1, hybrid) and truncated SHA-256 (v2, hybrid). */
  v1?: Buffer
  v2?: Buffer
}

function info (rawInfo: Buffer): TorrentInfo {
  try {
    return parseInfo(rawInfo)
  } catch (err) {
    if (!(err instanceof BbmeshError)) throw err
    throw new UsageError(`seed: info dict does not parse: ${err.message}`, { cause: err })
  }
}

/** Offsets in the v1 stream of the real (non-pad) files, in order, and the stream's length. */
function v1Offsets (rawInfo: Buffer): { offsets: number[], length: number } {
  const d = decode(rawInfo)
  if (!isDict(d)) throw new UsageError('seed: info is not a dict')
  const list = getList(d, 'files')
  if (list === undefined) return { offsets: [0], length: getInt(d, 'length') ?? 0 }
  const offsets: number[] = []
  let off = 0
  for (const f of list) {
    if (!isDict(f)) throw new UsageError('seed: files entry is not a dict')
    const attr = Buffer.from(getBytes(f, 'attr') ?? new Uint8Array()).toString('latin1')
    if (!attr.includes('p')) offsets.push(off)
    off += getInt(f, 'length') ?? 0
  }
  return { offsets, length: off }
}

/** Place the torrent's pieces and v2 files; throws UsageError when `dataLength` is not the stream's length. */
export function seedLayout (rawInfo: Buffer, pieceLength: number, dataLength: number): SeedLayout {
  const ti = info(rawInfo)
  if (ti.pieceLength !== pieceLength) throw new UsageError(`seed: piece length ${pieceLength} but the info dict says ${ti.pieceLength}`)
  const files: SeedFile[] = []
  let expected: number
  if (ti.version === 'v2') {
    let off = 0
    expected = 0
    for (const f of ti.files) {
      if (f.size === 0) continue // BEP-52: no pieces, no root, no space
      const numPieces = Math.ceil(f.size / pieceLength)
      files.push({ path: f.path, offset: off, size: f.size, root: f.piecesRoot as Buffer, firstPiece: off / pieceLength, numPieces })
      expected = off + f.size
      off += numPieces * pieceLength
    }
  } else {
    const v1 = v1Offsets(rawInfo)
    expected = v1.length
    // parseInfo checked that a hybrid's v1 list and file tree name the same files in the same order.
    if (ti.version === 'hybrid') {
      ti.files.forEach((f, i) => {
        if (f.size === 0) return
        const offset = v1.offsets[i]
        files.push({ path: f.path, offset, size: f.size, root: f.piecesRoot as Buffer, firstPiece: offset / pieceLength, numPieces: Math.ceil(f.size / pieceLength) })
      })
    }
  }
  if (dataLength !== expected) throw new UsageError(`seed: piece stream of ${dataLength} bytes, the info dict needs ${expected}`)
  if (dataLength === 0) throw new UsageError('seed: torrent has no pieces')
  const sha256 = createHash('sha256').update(rawInfo).digest()
  return {
    version: ti.version,
    pieceLength,
    numPieces: Math.ceil(dataLength / pieceLength),
    dataLength,
    files,
    byRoot: new Map(files.map((f) => [f.root.toString('hex'), f])),
    v1: ti.infohashV1,
    v2: ti.version === 'v1' ? undefined : sha256.subarray(0, 20),
  }
}

/** Bytes from piece p's start to the end of the stream's piece: what a request may cover. */
export function pieceSpan (l: SeedLayout, p: number): number {
  return Math.min(l.pieceLength, l.dataLength - p * l.pieceLength)
}

/** Bytes of piece p's data: pieceSpan for v1/hybrid; for v2-only a file's last piece ends with the file. */
export function pieceDataSize (l: SeedLayout, p: number): number {
  const span = pieceSpan(l, p)
  if (l.version !== 'v2') return span
  // The file whose pieces hold p: the last one starting at or before it.
  let lo = 0
  let hi = l.files.length - 1
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1
    if (l.files[mid].firstPiece <= p) lo = mid
    else hi = mid - 1
  }
  const f = l.files[lo]
  return Math.min(span, f.offset + f.size - p * l.pieceLength)
}

/** Build the v1 piece stream of a torrent from its info dict and file contents keyed by '/'-joined path
 *  (relative to the torrent root; a single-file torrent's one file is keyed by its name). */
export function v1PieceData (rawInfo: Buffer, files: Map<string, Uint8Array>): Buffer {
  const d = decode(rawInfo)
  if (!isDict(d)) throw new UsageError('seed: info is not a dict')
  const list = getList(d, 'files')
  const name = Buffer.from(getBytes(d, 'name') ?? new Uint8Array()).toString('utf8')
  const length = getInt(d, 'length')
  if (list === undefined) {
    if (length === undefined) throw new UsageError('seed: info has neither files nor length (v2-only torrents have no v1 pieces: use seedTorrentOf)')
    const data = files.get(name)
    if (data === undefined || data.length !== length) throw new UsageError(`seed: data for ${name} missing or of the wrong size`)
    return Buffer.from(data)
  }
  const parts: Buffer[] = []
  for (const f of list) {
    if (!isDict(f)) throw new UsageError('seed: files entry is not a dict')
    const size = getInt(f, 'length') ?? -1
    const attr = Buffer.from(getBytes(f, 'attr') ?? new Uint8Array()).toString('latin1')
    if (attr.includes('p')) { parts.push(Buffer.alloc(size)); continue }
    const path = (getList(f, 'path') ?? []).map((c) => Buffer.from(c as Uint8Array).toString('utf8')).join('/')
    const data = files.get(path)
    if (data === undefined || data.length !== size) throw new UsageError(`seed: data for ${path} missing or of the wrong size`)
    parts.push(Buffer.from(data.buffer, data.byteOffset, data.byteLength))
  }
  return Buffer.concat(parts)
}

/**
 * What the seeder needs for any torrent (v1, hybrid or v2-only) from its info dict and its
 * files keyed by '/'-joined path under the torrent root (a single-file torrent's file by its name).
 */
export function seedTorrentOf (rawInfo: Buffer, files: Map<string, Uint8Array>): SeedTorrent {
  const ti = info(rawInfo)
  if (ti.version !== 'v2') return { rawInfo, pieceLength: ti.pieceLength, data: v1PieceData(rawInfo, files) }
  const parts: Buffer[] = []
  let off = 0
  for (const f of ti.files) {
    const data = files.get(f.path)
    if (data === undefined || data.length !== f.size) throw new UsageError(`seed: data for ${f.path} missing or of the wrong size`)
    if (f.size === 0) continue
    const start = Math.ceil(off / ti.pieceLength) * ti.pieceLength
    if (start > off) parts.push(Buffer.alloc(start - off)) // zeros up to this file's first piece
    parts.push(Buffer.from(data.buffer, data.byteOffset, data.byteLength))
    off = start + f.size
  }
  return { rawInfo, pieceLength: ti.pieceLength, data: Buffer.concat(parts) }
}
