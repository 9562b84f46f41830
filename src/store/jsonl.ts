// JSON Lines export and import: one torrent per line,
//   {"infohash": hex v1 (else truncated v2), "ih_v2"?: hex 32 bytes, "name", "size",
//    "files": [{"path", "size", "pieces_root"?: hex}], "source", "discovered_at": unix ms,
//    "info": base64 of the raw info dict}
// Import trusts nothing in a line but the info dict, and that only once it hashes to the
// claimed infohash (SHA-1 for v1, truncated SHA-256 for v2): the record stored is parsed
// from those bytes, so name, size and files in the line are for people and other tools.
// A bad line is counted with its number and skipped; it never aborts the import. Lines are
// cut from the byte stream with a length cap, so one endless line cannot fill memory.

import { once } from 'node:events'
import type { Writable } from 'node:stream'
import { AbortedError, SchemaError, isExpected, errorMessage } from '../core/errors.js'
import { LIMITS } from '../core/limits.js'
import { fromHex, isInfohashHex, toHex, equalBytes } from '../core/infohash.js'
import { verifyInfohash } from '../torrent/info-verify.js'
import { parseInfo } from '../torrent/info-parse.js'
import type { TorrentRecord } from '../torrent/types.js'
import type { AddResult, StoredTorrent } from './torrents.js'
import { SOURCE_MAX_CHARS } from './torrents.js'

export interface JsonlFile {
  path: string
  size: number
  pieces_root?: string
}

export interface JsonlLine {
  infohash: string
  ih_v2?: string
  name: string
  size: number
  files: JsonlFile[]
  source: string
  discovered_at: number
  info: string
}

/** What export reads from the store. */
export interface JsonlSource {
  pageTorrents: (afterId: number, limit: number) => StoredTorrent[]
}

/** What import writes to. */
export interface JsonlSink {
  addTorrents: (records: readonly TorrentRecord[]) => AddResult
}

export interface ImportOptions {
  /** Provenance stored for every record; default: the line's own `source`, else 'import'. */
  source?: string
  /** Records per write transaction. */
  batchSize?: number
  /** Longest line, bytes (default LIMITS.jsonLineMax). */
  maxLineBytes?: number
  /** discovered_at for lines without one (default Date.now). */
  now?: () => number
  signal?: AbortSignal
}

export interface ImportError {
  line: number
  reason: string
}

export interface ImportResult {
  imported: number
  duplicates: number
  invalid: number
  /** The first ERRORS_KEPT bad lines, with why. */
  errors: ImportError[]
}

/** Bad lines reported in detail; the rest are only counted. */
export const ERRORS_KEPT = 100
const DEFAULT_BATCH = 1000
/** Rows per read during export: short reads, so a long export never pins a snapshot. */
const EXPORT_PAGE = 500

/** The line for one stored torrent (no newline). */
export function toJsonlLine (t: StoredTorrent): string {
  const info = t.info
  const line: JsonlLine = {
    infohash: toHex(info.infohashV1 ?? (info.infohashV2 as Buffer).subarray(0, 20)),
    name: info.name,
    size: info.totalSize,
    files: info.files.map((f) => f.piecesRoot === undefined
      ? { path: f.path, size: f.size }
      : { path: f.path, size: f.size, pieces_root: toHex(f.piecesRoot) }),
    source: t.source,
    discovered_at: t.discoveredAt,
    info: Buffer.from(t.rawInfo.buffer, t.rawInfo.byteOffset, t.rawInfo.byteLength).toString('base64'),
  }
  if (info.infohashV2 !== undefined) line.ih_v2 = toHex(info.infohashV2)
  // Key order as documented: ih_v2 right after infohash.
  const { infohash, ih_v2: v2, ...rest } = line
  return JSON.stringify(v2 === undefined ? line : { infohash, ih_v2: v2, ...rest })
}

/**
 * Write every torrent, oldest first, one line each, honouring back-pressure. The stream is
 * left open (the caller owns it). Rows added while the export runs are included.
 */
export async function exportJsonl (store: JsonlSource, out: Writable, opts: { signal?: AbortSignal } = {}): Promise<{ exported: number }> {
  let after = 0
  let exported = 0
  while (true) {
    if (opts.signal?.aborted === true) throw new AbortedError('export aborted')
    const page = store.pageTorrents(after, EXPORT_PAGE)
    if (page.length === 0) break
    let chunk = ''
    for (const t of page) chunk += toJsonlLine(t) + '\n'
    after = page[page.length - 1].id
    exported += page.length
    if (!out.write(chunk)) await once(out, 'drain', opts.signal === undefined ? {} : { signal: opts.signal })
  }
  return { exported }
}

/**
 * Read JSON Lines from input and add the valid, hash-checked records in batches. Blank lines
 * are skipped silently; every other line counts as imported, duplicate or invalid.
 */
export async function importJsonl (store: JsonlSink, input: AsyncIterable<Uint8Array | string>, opts: ImportOptions = {}): Promise<ImportResult> {
  const maxLine = opts.maxLineBytes ?? LIMITS.jsonLineMax
  const batchSize = Math.max(1, opts.batchSize ?? DEFAULT_BATCH)
  const now = opts.now ?? Date.now
  const result: ImportResult = { imported: 0, duplicates: 0, invalid: 0, errors: [] }
  let batch: TorrentRecord[] = []

  const bad = (line: number, reason: string): void => {
    result.invalid++
    if (result.errors.length < ERRORS_KEPT) result.errors.push({ line, reason })
  }
  const flush = (): void => {
    if (batch.length === 0) return
    const r = store.addTorrents(batch)
    result.imported += r.inserted
    result.duplicates += r.duplicates
    batch = []
  }
  const onLine = (bytes: Buffer, lineNo: number): void => {
    const text = bytes.toString('utf8').trim()
    if (text.length === 0) return
    try {
      batch.push(lineToRecord(text, opts.source, now))
    } catch (err) {
      if (err instanceof SyntaxError) bad(lineNo, `not JSON: ${err.message}`)
      else if (isExpected(err)) bad(lineNo, errorMessage(err))
      else throw err // a bug in a parser: show it, do not count it as bad data
      return
    }
    if (batch.length >= batchSize) flush()
  }

  // Line splitter over raw bytes with a cap: past maxLine bytes the line's bytes are dropped
  // until its newline, and the line is reported once.
  let parts: Buffer[] = []
  let partBytes = 0
  let skipping = false
  let lineNo = 1
  for await (const chunk of input) {
    if (opts.signal?.aborted === true) throw new AbortedError('import aborted')
    const buf = typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength)
    let start = 0
    while (start < buf.length) {
      const nl = buf.indexOf(0x0a, start)
      const end = nl === -1 ? buf.length : nl
      if (!skipping) {
        if (partBytes + (end - start) > maxLine) {
          skipping = true
          parts = []
          partBytes = 0
        } else if (end > start) {
          parts.push(buf.subarray(start, end))
          partBytes += end - start
        }
      }
      if (nl === -1) break
      if (skipping) bad(lineNo, `line longer than ${maxLine} bytes`)
      else onLine(parts.length === 1 ? parts[0] : Buffer.concat(parts), lineNo)
      parts = []
      partBytes = 0
      skipping = false
      lineNo++
      start = nl + 1
    }
    // A chunk's subarrays are kept until their line ends; copy them out so a huge stream of
    // short lines does not pin every chunk it was read in.
    if (parts.length > 0 && parts[parts.length - 1].buffer === buf.buffer) parts[parts.length - 1] = Buffer.from(parts[parts.length - 1])
  }
  if (skipping) bad(lineNo, `line longer than ${maxLine} bytes`)
  else if (partBytes > 0) onLine(Buffer.concat(parts), lineNo)
  flush()
  return result
}

function lineToRecord (text: string, sourceOverride: string | undefined, now: () => number): TorrentRecord {
  const v: unknown = JSON.parse(text)
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new SchemaError('not a JSON object')
  const o = v as Record<string, unknown>
  if (typeof o.infohash !== 'string' || !isInfohashHex(o.infohash)) throw new SchemaError('`infohash` is not 40 hex digits')
  if (typeof o.info !== 'string' || o.info.length === 0) throw new SchemaError('`info` (base64 of the info dict) is missing: a record without it cannot be verified')
  if (o.info.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(o.info)) throw new SchemaError('`info` is not base64')
  if (o.info.length / 4 * 3 > LIMITS.metadataMaxSize + 3) throw new SchemaError(`\`info\` is larger than ${LIMITS.metadataMaxSize} bytes`)
  const raw = Buffer.from(o.info, 'base64')
  const ih = fromHex(o.infohash)
  const kind = verifyInfohash(raw, ih)
  const info = parseInfo(raw)
  if (kind === 'v1' && info.infohashV1 === undefined) throw new SchemaError('`infohash` is the SHA-1 of a v2-only info dict')
  if (kind === 'v2' && info.infohashV2 === undefined) throw new SchemaError('`infohash` is the SHA-256 of a v1-only info dict')
  if (o.ih_v2 !== undefined) {
    if (typeof o.ih_v2 !== 'string' || !/^[0-9a-fA-F]{64}$/.test(o.ih_v2)) throw new SchemaError('`ih_v2` is not 64 hex digits')
    if (info.infohashV2 === undefined || !equalBytes(fromHex(o.ih_v2, 32), info.infohashV2)) throw new SchemaError('`ih_v2` does not match the info dict')
  }
  const lineSource = typeof o.source === 'string' && o.source.length > 0 && o.source.length <= SOURCE_MAX_CHARS ? o.source : undefined
  const at = typeof o.discovered_at === 'number' && Number.isSafeInteger(o.discovered_at) && o.discovered_at >= 0 ? o.discovered_at : Math.floor(now())
  return { info, rawInfo: raw, source: sourceOverride ?? lineSource ?? 'import', discoveredAt: at }
}
