// The torrent metainfo module: parse, verify, read/write .torrent files, create.

export type { TorrentFile, TorrentInfo, TorrentRecord, TorrentVersion } from './types.js'
export { parseInfo } from './info-parse.js'
export { verifyInfohash, infohashesOf } from './info-verify.js'
export type { RawInfohashes } from './info-verify.js'
export { parseTorrentFile, encodeTorrentFile } from './torrent-file.js'
export type { ParsedTorrentFile, EncodeTorrentOptions } from './torrent-file.js'
export { createTorrent, createTorrentFromMemory, defaultPieceLength, comparePaths } from './create.js'
export type { CreateMode, CreateOptions, CreatedTorrent, FileOrder, MemoryFile, MemoryInput } from './create.js'
export { syntheticTorrent, SYNTHETIC_WORDS } from './synthetic.js'
export type { SyntheticOptions } from './synthetic.js'
