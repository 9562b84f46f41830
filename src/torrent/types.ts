// The parsed view of a torrent's info dict that the store indexes and the CLI shows.

export type TorrentVersion = 'v1' | 'v2' | 'hybrid'

export interface TorrentFile {
  /** Path components joined with '/', relative to the torrent root (the name for single-file torrents). */
  path: string
  size: number
  /** BEP-52 `pieces root` of this file (32 bytes), v2 and hybrid torrents only, absent for empty files. */
  piecesRoot?: Buffer
}

export interface TorrentInfo {
  name: string
  /** Sum of file sizes, pad files excluded. */
  totalSize: number
  /** Real files only (BEP-47 pad files left out), in info-dict order. */
  files: TorrentFile[]
  pieceLength: number
  version: TorrentVersion
  private: boolean
  /** SHA-1 of the raw info bytes; present for v1 and hybrid. */
  infohashV1?: Buffer
  /** SHA-256 of the raw info bytes (32 bytes); present for v2 and hybrid. */
  infohashV2?: Buffer
}

/** A torrent ready for the store: the parsed view plus the raw info bytes it came from. */
export interface TorrentRecord {
  info: TorrentInfo
  /** The info dict exactly as received; its hash is the infohash. */
  rawInfo: Buffer
  /** Where we learnt of it: 'sample', 'get_peers', 'announce', 'import', 'catalog', 'member'. */
  source: string
  /** Unix milliseconds. */
  discoveredAt: number
}
