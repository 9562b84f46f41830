// Build the info dict of a new torrent and wrap it in a .torrent file. Only the keys
// libtorrent 2.0's create_torrent writes (without optional flags): name, piece length,
// pieces, length/files (attr 'x'/'p'), meta version, file tree, and private when asked.
// No creation date, mtime or creator inside info, so the infohash depends on content only.

import { encode } from '../core/bencode.js'
import type { EncodableValue } from '../core/bencode.js'
import type { TorrentInfo } from './types.js'
import type { FileHashes } from './merkle.js'
import type { Plan, SourceFile } from './create-layout.js'
import { parseInfo } from './info-parse.js'
import { encodeTorrentFile } from './torrent-file.js'

type Dict = Record<string, EncodableValue>

export interface CreatedTorrent {
  /** The .torrent file bytes. */
  torrent: Buffer
  /** The info dict bytes (its SHA-1 / SHA-256 are the infohashes). */
  rawInfo: Buffer
  info: TorrentInfo
  /** BEP-52 piece layers keyed by hex pieces root (files larger than one piece); empty for v1. */
  pieceLayers: Map<string, Buffer>
}

export interface FinishOptions {
  private?: boolean
  announce?: string[]
}

// encode() takes dict keys as latin1 (one char per byte), so UTF-8 names become byte strings first.
const key = (s: string): string => Buffer.from(s, 'utf8').toString('latin1')

function dict (): Dict {
  return Object.create(null) as Dict // a file named __proto__ must be an own key
}

export function finishTorrent<T extends SourceFile> (
  plan: Plan<T>, hashes: Map<T, FileHashes>, pieces: Buffer | undefined, opts: FinishOptions,
): CreatedTorrent {
  const info = dict()
  info.name = plan.name
  info['piece length'] = plan.pieceLength
  if (opts.private === true) info.private = 1

  if (plan.mode !== 'v2') {
    if (pieces === undefined) throw new Error('finishTorrent: v1 pieces missing') // programmer error
    info.pieces = pieces
    if (plan.single) {
      info.length = plan.files[0].size
      if (plan.files[0].executable) info.attr = 'x'
    } else {
      info.files = plan.layout.map((e): EncodableValue => {
        if (e.pad !== undefined) return { attr: 'p', length: e.pad, path: ['.pad', String(e.pad)] } // libtorrent's pad naming
        const f: Dict = { length: e.file.size, path: e.file.path }
        if (e.file.executable) f.attr = 'x'
        return f
      })
    }
  }

  const pieceLayers = new Map<string, Buffer>()
  if (plan.mode !== 'v1') {
    info['meta version'] = 2
    const tree = dict()
    for (const f of plan.files) {
      const h = hashes.get(f) ?? {}
      const leaf: Dict = { length: f.size }
      if (h.piecesRoot !== undefined) leaf['pieces root'] = h.piecesRoot
      if (f.executable) leaf.attr = 'x'
      const node = dict()
      node[''] = leaf
      let dir = tree
      const path = plan.single ? [plan.name] : f.path
      for (const c of path.slice(0, -1)) {
        const k = key(c)
        dir[k] ??= dict()
        dir = dir[k] as Dict
      }
      dir[key(path[path.length - 1])] = node
      if (h.pieceLayer !== undefined && h.piecesRoot !== undefined) pieceLayers.set(h.piecesRoot.toString('hex'), h.pieceLayer)
    }
    info['file tree'] = tree
  }

  const rawInfo = encode(info)
  const parsed = parseInfo(rawInfo) // our own output must pass our own parser
  const torrent = encodeTorrentFile(rawInfo, { pieceLayers, announce: opts.announce })
  return { torrent, rawInfo, info: parsed, pieceLayers }
}
