// The v1 piece stream of a torrent mapped onto its files, for the downloader: which bytes of
// a piece belong to which file and which are BEP-47 pad bytes, where received blocks go, the
// SHA-1 check of a piece, and for hybrids the BEP-52 pieces-root check of a finished file.
// File contents live in one Buffer per file (pads are never stored: they are zeros by
// definition), so memory is the torrent's real size, which the caller capped.
// v2-only torrents have no v1 stream: planDownload hands them to V2DownloadLayout (piece-download-v2.ts).

import { createHash } from 'node:crypto'
import { constants as bufferConstants } from 'node:buffer'
import { decode, getBytes, getList, isDict, type BDict } from '../core/bencode.js'
import { HashMismatchError, LimitError, SchemaError, UsageError } from '../core/errors.js'
import { parseInfo, INFO_MAX_DEPTH, INFO_MAX_ITEMS } from '../torrent/info-parse.js'
import { checkPath } from '../torrent/path-safety.js'
import { BLOCK_SIZE, FileMerkleHasher } from '../torrent/merkle.js'
import { LIMITS } from '../core/limits.js'
import type { TorrentInfo } from '../torrent/types.js'
import { V2DownloadLayout } from './piece-download-v2.js'

/** A run of the v1 piece stream: bytes of file `file`, or pad bytes when file is -1. */
export interface Segment { start: number, end: number, file: number }

/** One block of a piece as requested on the wire (BEP-3: 16 KiB, the last one shorter). */
export interface BlockSpan { begin: number, length: number }

const ZEROS = Buffer.alloc(BLOCK_SIZE)

/** What the downloader needs of a torrent's pieces: the v1 stream (DownloadLayout) or BEP-52 per-file pieces (V2DownloadLayout). */
export interface PieceLayout {
  readonly info: TorrentInfo
  readonly numPieces: number
  /** File bytes only (what `maxBytes` caps). */
  readonly totalSize: number
  readonly paths: string[][]
  readonly files: Buffer[]
  /** The piece check, as named in messages: 'SHA-1' or 'merkle'. */
  readonly check: string
  blocks: (p: number) => Array<BlockSpan | null>
  dataBytes: (p: number) => number
  write: (p: number, begin: number, data: Buffer) => boolean
  verifyPiece: (p: number) => boolean
  pieceVerified: (p: number) => void
}

export class DownloadLayout implements PieceLayout {
  readonly check = 'SHA-1'
  readonly numPieces: number
  readonly pieceLength: number
  /** Bytes the v1 pieces cover: files and pads. */
  readonly layoutSize: number
  /** File bytes only (what `maxBytes` caps). */
  readonly totalSize: number
  readonly paths: string[][]
  readonly files: Buffer[]
  private readonly starts: number[]
  /** Pieces still unverified that cover each file (hybrids: its v2 root is checked at 0). */
  private readonly piecesLeft: number[]

  constructor (
    readonly info: TorrentInfo,
    private readonly pieceHashes: Uint8Array,
    readonly segments: Segment[],
  ) {
    this.pieceLength = info.pieceLength
    this.layoutSize = segments.length === 0 ? 0 : segments[segments.length - 1].end
    this.numPieces = pieceHashes.length / 20
    this.totalSize = info.totalSize
    this.starts = segments.map((s) => s.start)
    this.paths = info.files.map((f) => f.path.split('/'))
    this.files = info.files.map((f) => Buffer.alloc(f.size))
    this.piecesLeft = info.files.map(() => 0)
    for (let p = 0; p < this.numPieces; p++) for (const f of this.filesIn(p)) this.piecesLeft[f]++
  }

  pieceSize (p: number): number {
    return Math.min(this.pieceLength, this.layoutSize - p * this.pieceLength)
  }

  /** Blocks of piece p by 16 KiB index; null for a block made only of pad bytes (never requested). */
  blocks (p: number): Array<BlockSpan | null> {
    const size = this.pieceSize(p)
    const base = p * this.pieceLength
    const out: Array<BlockSpan | null> = []
    for (let begin = 0; begin < size; begin += BLOCK_SIZE) {
      const length = Math.min(BLOCK_SIZE, size - begin)
      out.push(this.allPad(base + begin, base + begin + length) ? null : { begin, length })
    }
    return out
  }

  /** Real (non-pad) bytes in piece p. */
  dataBytes (p: number): number {
    let n = 0
    this.forEachRun(p * this.pieceLength, p * this.pieceLength + this.pieceSize(p), (s, lo, hi) => { if (s.file >= 0) n += hi - lo })
    return n
  }

  /**
   * Store a block (already checked to be one we asked for). Returns false, storing nothing
   * more, when bytes that fall on a pad file are not zeros: the sender lies (BEP-47 pads
   * are zeros), whatever the piece hash would say.
   */
  write (p: number, begin: number, data: Buffer): boolean {
    const off = p * this.pieceLength + begin
    let ok = true
    this.forEachRun(off, off + data.length, (s, lo, hi) => {
      if (!ok) return
      const chunk = data.subarray(lo - off, hi - off)
      if (s.file < 0) ok = chunk.equals(ZEROS.subarray(0, chunk.length))
      else chunk.copy(this.files[s.file], lo - s.start)
    })
    return ok
  }

  /** SHA-1 of piece p over the stored file bytes and zero pads equals the info dict's. */
  verifyPiece (p: number): boolean {
    const h = createHash('sha1')
    this.forEachRun(p * this.pieceLength, p * this.pieceLength + this.pieceSize(p), (s, lo, hi) => {
      if (s.file >= 0) { h.update(this.files[s.file].subarray(lo - s.start, hi - s.start)); return }
      for (let n = hi - lo; n > 0; n -= ZEROS.length) h.update(ZEROS.subarray(0, Math.min(n, ZEROS.length)))
    })
    return h.digest().equals(this.pieceHashes.subarray(p * 20, p * 20 + 20))
  }

  /**
   * Record piece p as verified. For a hybrid, every file it finishes has its BEP-52 pieces
   * root checked: a file that passes v1 but not v2 means the torrent contradicts itself, and
   * no peer can fix that, so it throws HashMismatchError.
   */
  pieceVerified (p: number): void {
    for (const f of this.filesIn(p)) {
      if (--this.piecesLeft[f] > 0) continue
      const want = this.info.files[f].piecesRoot
      if (this.info.version !== 'hybrid' || want === undefined) continue
      const hasher = new FileMerkleHasher(this.pieceLength)
      hasher.update(this.files[f])
      const got = hasher.finish().piecesRoot
      if (got === undefined || !got.equals(want)) {
        throw new HashMismatchError(`hybrid torrent is inconsistent: ${this.info.files[f].path} matches its v1 piece hashes but not its v2 pieces root`)
      }
    }
  }

  /** Files (indices) with bytes in piece p. */
  private filesIn (p: number): number[] {
    const out: number[] = []
    this.forEachRun(p * this.pieceLength, p * this.pieceLength + this.pieceSize(p), (s) => { if (s.file >= 0 && out[out.length - 1] !== s.file) out.push(s.file) })
    return out
  }

  private allPad (from: number, to: number): boolean {
    let pad = true
    this.forEachRun(from, to, (s) => { if (s.file >= 0) pad = false })
    return pad
  }

  /** Call fn for each segment overlapping [from, to), with the overlap [lo, hi). */
  private forEachRun (from: number, to: number, fn: (s: Segment, lo: number, hi: number) => void): void {
    // Binary search: the last segment starting at or before `from`.
    let a = 0
    let b = this.starts.length - 1
    while (a < b) {
      const m = (a + b + 1) >> 1
      if (this.starts[m] <= from) a = m
      else b = m - 1
    }
    for (let i = a; i < this.segments.length && this.segments[i].start < to; i++) {
      const s = this.segments[i]
      const lo = Math.max(s.start, from)
      const hi = Math.min(s.end, to)
      if (hi > lo) fn(s, lo, hi)
    }
  }
}

/**
 * Parse and check a raw info dict for download, allocating the file buffers last: the
 * infohash must be one of the torrent's (v1, or v2 truncated to 20 bytes), the real size at
 * most maxBytes (LimitError, before any connection), paths safe and distinct. v2-only
 * torrents have no v1 piece stream: their pieces are laid out per file (V2DownloadLayout).
 */
export function planDownload (rawInfo: Buffer, infohash: Buffer, maxBytes: number): PieceLayout {
  if (!Buffer.isBuffer(rawInfo)) throw new UsageError('download: rawInfo must be a Buffer')
  if (!Buffer.isBuffer(infohash) || infohash.length !== 20) throw new UsageError('download: infohash must be 20 bytes')
  if (!(Number.isSafeInteger(maxBytes) && maxBytes >= 0)) throw new UsageError('download: maxBytes must be a non-negative integer')
  const info = parseInfo(rawInfo)
  const v2 = info.infohashV2?.subarray(0, 20)
  if (!(info.infohashV1?.equals(infohash) === true || v2?.equals(infohash) === true)) {
    throw new UsageError('download: the infohash is not this info dict\'s (v1, or v2 truncated to 20 bytes)')
  }
  if (info.totalSize > maxBytes) throw new LimitError(`download: torrent of ${info.totalSize} bytes exceeds the cap of ${maxBytes}`)
  checkPaths(info)
  for (const f of info.files) {
    if (f.size > bufferConstants.MAX_LENGTH) throw new LimitError(`download: file ${f.path} of ${f.size} bytes does not fit in memory`)
  }
  if (info.version === 'v2') return new V2DownloadLayout(info)
  const d = decode(rawInfo, { maxBytes: LIMITS.metadataMaxSize, maxDepth: INFO_MAX_DEPTH, maxItems: INFO_MAX_ITEMS })
  if (!isDict(d)) throw new SchemaError('info: not a dict') // parseInfo already refused it
  return new DownloadLayout(info, getBytes(d, 'pieces') ?? new Uint8Array(), v1Segments(d, info))
}

/**
 * The v1 file list with its pad entries, as segments. parseInfo dropped the pads but kept
 * the real files in the same order (and, for hybrids, checked v1 and v2 agree), so the n-th
 * non-pad entry is info.files[n].
 */
function v1Segments (d: BDict, info: TorrentInfo): Segment[] {
  const list = getList(d, 'files')
  if (list === undefined) return info.files[0].size === 0 ? [] : [{ start: 0, end: info.files[0].size, file: 0 }]
  const out: Segment[] = []
  let off = 0
  let real = 0
  for (const e of list) {
    if (!isDict(e)) throw new SchemaError('info: files entry is not a dict')
    const size = e.length as number // a checked non-negative integer (parseInfo)
    const attr = getBytes(e, 'attr')
    const isPad = attr !== undefined && attr.includes(0x70)
    const file = isPad ? -1 : real++
    if (size > 0) out.push({ start: off, end: off + size, file })
    off += size
  }
  if (real !== info.files.length) throw new SchemaError('info: v1 file list and parsed files disagree')
  return out
}

/**
 * Each path checked again component by component (the caller may write them to disk), and
 * no two files may claim the same path or one be a folder of another.
 */
function checkPaths (info: TorrentInfo): void {
  const files = new Set<string>()
  const dirs = new Set<string>()
  for (const f of info.files) {
    const comps = f.path.split('/')
    const joined = checkPath(comps, 'download: file path')
    if (files.has(joined)) throw new SchemaError(`download: file path ${joined} appears twice`)
    if (dirs.has(joined)) throw new SchemaError(`download: ${joined} is both a file and a folder`)
    files.add(joined)
    for (let i = 1; i < comps.length; i++) {
      const dir = comps.slice(0, i).join('/')
      if (files.has(dir)) throw new SchemaError(`download: ${dir} is both a file and a folder`)
      dirs.add(dir)
    }
  }
}
