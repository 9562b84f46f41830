// Test helpers of the store tests: real info dicts (v1, v2, hybrid) parsed by the real
// parser, and throw-away database paths.

import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createHash } from 'node:crypto'
import { encode, type EncodableValue } from '../../../src/core/bencode.js'
import { parseInfo } from '../../../src/torrent/info-parse.js'
import type { TorrentRecord } from '../../../src/torrent/types.js'

const PIECE = 16384

/** Deterministic filler bytes so each name gives the same dict every time. */
function bytes (seed: string, n: number): Buffer {
  const out = Buffer.alloc(n)
  let block = createHash('sha256').update(seed).digest()
  for (let i = 0; i < n; i += 32) {
    block.copy(out, i, 0, Math.min(32, n - i))
    block = createHash('sha256').update(block).digest()
  }
  return out
}

export type Kind = 'v1' | 'v2' | 'hybrid'

/** Raw info dict of a single-file torrent. */
export function rawInfo (kind: Kind, name: string, size = 1000): Buffer {
  const d: Record<string, EncodableValue> = { name, 'piece length': PIECE }
  if (kind !== 'v2') {
    d.length = size
    d.pieces = bytes(`pieces:${name}`, 20 * Math.max(1, Math.ceil(size / PIECE)))
  }
  if (kind !== 'v1') {
    d['meta version'] = 2
    d['file tree'] = { [name]: { '': { length: size, 'pieces root': bytes(`root:${name}`, 32) } } }
  }
  return encode(d)
}

/** Raw info dict of a multi-file v1 torrent. */
export function rawInfoMulti (name: string, files: Array<{ path: string[], size: number }>): Buffer {
  const total = files.reduce((a, f) => a + f.size, 0)
  return encode({
    name,
    'piece length': PIECE,
    pieces: bytes(`pieces:${name}`, 20 * Math.max(1, Math.ceil(total / PIECE))),
    files: files.map((f) => ({ length: f.size, path: f.path })),
  })
}

export function record (raw: Buffer, source = 'test', discoveredAt = 1_700_000_000_000): TorrentRecord {
  return { info: parseInfo(raw), rawInfo: raw, source, discoveredAt }
}

export function torrent (kind: Kind, name: string, size = 1000): TorrentRecord {
  return record(rawInfo(kind, name, size))
}

/** 20-byte infohash as the DHT carries it. */
export function ih20 (r: TorrentRecord): Buffer {
  return r.info.infohashV1 ?? (r.info.infohashV2 as Buffer).subarray(0, 20)
}

export function v2short (r: TorrentRecord): Buffer {
  return (r.info.infohashV2 as Buffer).subarray(0, 20)
}

export function ih (n: number): Buffer {
  return createHash('sha1').update(`ih:${n}`).digest()
}

/** A temp directory with a store path in it; cleanup() removes it. */
export function tempStore (): { dir: string, path: string, cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'bbmesh-store-'))
  return { dir, path: join(dir, 'store.db'), cleanup: () => rmSync(dir, { recursive: true, force: true }) }
}
