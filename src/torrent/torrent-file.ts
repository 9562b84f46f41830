// .torrent files (BEP-3 metainfo, BEP-52 `piece layers`, BEP-12 `announce-list`). The
// info dict is taken from the file as a raw byte span and spliced back in raw when
// writing, so its infohash never depends on how we would have encoded it.

import { decode, encode, rawValueSpan, isDict, isBytes, getBytes, getList, getDict, has, text } from '../core/bencode.js'
import type { BDict, EncodableValue } from '../core/bencode.js'
import { SchemaError, HashMismatchError } from '../core/errors.js'
import { LIMITS } from '../core/limits.js'
import type { TorrentInfo } from './types.js'
import { parseInfo, INFO_MAX_DEPTH, INFO_MAX_ITEMS } from './info-parse.js'
import { HASH_BYTES, rootFromPieceLayer } from './merkle.js'

/** Trackers kept from one .torrent (a file listing more is hostile or broken). */
export const TORRENT_MAX_TRACKERS = 256

const FILE_DECODE = {
  maxBytes: LIMITS.torrentFileMax,
  maxDepth: INFO_MAX_DEPTH + 1, // the info dict sits one level down
  // Piece layers are few large strings; announce lists are short. Info items dominate.
  maxItems: INFO_MAX_ITEMS + 4 * LIMITS.torrentMaxFiles,
}

export interface ParsedTorrentFile {
  /** The info dict bytes exactly as they appear in the file (a copy, not a view). */
  rawInfo: Buffer
  info: TorrentInfo
  /**
   * BEP-52 piece layers keyed by hex pieces root, each checked against its file's root.
   * Present when the file has a `piece layers` dict; files with no entry in it (metadata
   * saved without layers) are simply missing from the map.
   */
  pieceLayers?: Map<string, Buffer>
  /** `announce` then the `announce-list` tiers, flattened, duplicates removed. */
  announce: string[]
}

/** Parse a .torrent file. Throws DecodeError / SchemaError / LimitError / HashMismatchError only. */
export function parseTorrentFile (buf: Uint8Array): ParsedTorrentFile {
  const top = decode(buf, FILE_DECODE)
  if (!isDict(top)) throw new SchemaError('torrent: top level is not a dict')
  if (!has(top, 'info')) throw new SchemaError('torrent: missing `info`')
  if (!isDict(top.info)) throw new SchemaError('torrent: `info` is not a dict')
  const span = rawValueSpan(buf, 'info', FILE_DECODE)
  if (span === null) throw new SchemaError('torrent: missing `info`') // unreachable after decode; kept total
  const rawInfo = Buffer.from(buf.subarray(span.start, span.end))
  const info = parseInfo(rawInfo)
  const out: ParsedTorrentFile = { rawInfo, info, announce: readAnnounce(top) }
  if (has(top, 'piece layers') && info.version !== 'v1') out.pieceLayers = readPieceLayers(top, info)
  return out
}

function readAnnounce (top: BDict): string[] {
  const urls: string[] = []
  const add = (v: unknown): void => {
    if (!isBytes(v) || v.length === 0 || urls.length >= TORRENT_MAX_TRACKERS) return
    const u = text(v)
    if (!urls.includes(u)) urls.push(u)
  }
  // Trackers are advisory: malformed entries, and any past the cap, are skipped rather than
  // failing the torrent.
  add(getBytes(top, 'announce'))
  for (const tier of getList(top, 'announce-list') ?? []) {
    if (Array.isArray(tier)) for (const u of tier) add(u)
  }
  return urls
}

function readPieceLayers (top: BDict, info: TorrentInfo): Map<string, Buffer> {
  const layers = getDict(top, 'piece layers')
  if (layers === undefined) throw new SchemaError('torrent: `piece layers` is not a dict')
  const sizeByRoot = new Map<string, number>()
  for (const f of info.files) if (f.piecesRoot !== undefined) sizeByRoot.set(f.piecesRoot.toString('hex'), f.size)

  const out = new Map<string, Buffer>()
  for (const key of Object.keys(layers)) {
    const root = Buffer.from(key, 'latin1') // binary keys survive decoding as latin1
    if (root.length !== HASH_BYTES) throw new SchemaError(`torrent: piece layers key of ${root.length} bytes, not 32`)
    const layer = layers[key]
    if (!isBytes(layer)) throw new SchemaError('torrent: piece layer is not a string')
    const hex = root.toString('hex')
    const size = sizeByRoot.get(hex)
    if (size === undefined) continue // BEP-52 only defines layers for the torrent's files
    if (size <= info.pieceLength) continue // a one-piece file's layer would be its root: nothing to store
    const want = Math.ceil(size / info.pieceLength) * HASH_BYTES
    if (layer.length !== want) throw new SchemaError(`torrent: piece layer for ${hex} is ${layer.length} bytes, expected ${want}`)
    // A layer that does not hash up to its root would poison every piece check that uses it.
    if (!rootFromPieceLayer(layer, info.pieceLength).equals(root)) {
      throw new HashMismatchError(`torrent: piece layer does not hash to pieces root ${hex}`)
    }
    out.set(hex, Buffer.from(layer))
  }
  return out
}

export interface EncodeTorrentOptions {
  /** BEP-52 piece layers keyed by hex pieces root. */
  pieceLayers?: Map<string, Uint8Array>
  /** Tracker URLs: the first becomes `announce`; with several, each is its own BEP-12 tier. */
  announce?: string[]
  /** Unix seconds; left out unless given, so the same input gives the same bytes. */
  creationDate?: number
  /** BEP-3 `comment` (outside info: it does not change the infohash). */
  comment?: string
  /** `created by` (outside info). */
  createdBy?: string
}

/**
 * Write a .torrent around raw info bytes. The info bytes are spliced in unchanged (they
 * must already be a valid info dict; they are parsed to make sure), so the infohash is
 * that of `rawInfo`.
 */
export function encodeTorrentFile (rawInfo: Uint8Array, opts: EncodeTorrentOptions = {}): Buffer {
  parseInfo(rawInfo)
  const outer: Record<string, EncodableValue> = Object.create(null)
  const announce = opts.announce ?? []
  if (announce.length > 0) outer.announce = announce[0]
  if (announce.length > 1) outer['announce-list'] = announce.map((u) => [u])
  if (opts.creationDate !== undefined) outer['creation date'] = opts.creationDate
  if (opts.comment !== undefined && opts.comment !== '') outer.comment = opts.comment
  if (opts.createdBy !== undefined && opts.createdBy !== '') outer['created by'] = opts.createdBy
  if (opts.pieceLayers !== undefined && opts.pieceLayers.size > 0) {
    const layers: Record<string, Uint8Array> = Object.create(null)
    for (const [hex, layer] of opts.pieceLayers) {
      if (!/^[0-9a-f]{64}$/i.test(hex)) throw new SchemaError(`piece layers: key ${hex} is not 64 hex digits`)
      layers[Buffer.from(hex, 'hex').toString('latin1')] = layer
    }
    outer['piece layers'] = layers
  }
  // Encode everything but info, then splice info in at its sorted place: keys compare as
  // raw bytes, and 'info' sorts after 'announce*', 'comment' and 'creat*', before 'piece layers'.
  const keys = [...Object.keys(outer), 'info'].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))
  const parts: Uint8Array[] = [Buffer.from('d')]
  for (const k of keys) {
    const kb = Buffer.from(k, 'latin1')
    parts.push(Buffer.from(`${kb.length}:`), kb)
    parts.push(k === 'info' ? rawInfo : encode(outer[k]))
  }
  parts.push(Buffer.from('e'))
  return Buffer.concat(parts)
}
