// Torrent records for the catalog tests: `synth` (src/torrent/synthetic.ts: named, 1-4 files,
// v1/hybrid/v2 by index) and `quick` (one 2 KiB file, for libraries of many thousands, where
// synthetic.ts's ~2 ms each would add up). Deterministic: the same arguments, the same torrent.

import { syntheticTorrent } from '../../src/torrent/synthetic.js'
import { createTorrentFromMemory, type CreateMode } from '../../src/torrent/create.js'
import type { TorrentRecord } from '../../src/torrent/types.js'

export const MODES: readonly CreateMode[] = ['v1', 'hybrid', 'v2']

export function synth (prefix: string, i: number, source = 'sample'): TorrentRecord {
  const t = syntheticTorrent(`${prefix}-${i}`, MODES[i % 3])
  return { info: t.info, rawInfo: t.rawInfo, source, discoveredAt: 1_700_000_000_000 + i }
}

export function quick (prefix: string, i: number): TorrentRecord {
  const data = Buffer.alloc(2048, i % 251)
  data.writeUInt32BE(i)
  const t = createTorrentFromMemory({ name: `${prefix}-${i}`, files: [{ path: [], data }] }, { mode: MODES[i % 3], pieceLength: 16384 })
  return { info: t.info, rawInfo: t.rawInfo, source: 'sample', discoveredAt: 1_700_000_000_000 + i }
}
