// Seeding over the ordinary peer wire: a TCP server that serves torrents (catalog shards and the
// index; v1, hybrid or v2-only) to any BitTorrent client, from memory (SeedTorrent) or from a
// file read on demand (FileSeedTorrent: seed-file.ts reads whole pieces into a byte-bounded
// LRU, checks each against the info dict's SHA-1 and the file's size, keeps few files open). It answers the
// handshake for a known infohash (v1, or the truncated v2 of a hybrid/v2 torrent) with the
// infohash the peer used (or, BEP-52 upgrade, the truncated v2 one when a peer sends a hybrid's
// v1 hash with the v2 reserved bit), offers ut_metadata (BEP-9/10) so a magnet-only peer gets
// the info dict, sends a full bitfield, unchokes on interested and serves `request`s (BEP-3)
// and BEP-52 `hash request`s (msg 21) with `hashes` (22) or `hash reject` (23).
//
// Pieces follow the torrent's own layout (seed-layout.ts): the v1 stream for v1 and hybrid, and
// for v2-only each file from a piece boundary, its last piece short (empty files: no pieces).
// A file's merkle tree (seed-merkle.ts) is built from its bytes the first time a peer asks for
// its hashes and kept in an LRU under one byte budget (hashTreeCacheBytes, default 32 MiB; a
// tree costs 64 bytes per 16 KiB of file, so 1/256 of the data: a ~200 KB catalog shard ~1 KiB).
// Hash requests are served whatever the choke state (BEP-52) but queue behind piece requests
// under the same cap and upload limit. A request this seeder will not serve (unknown root,
// layer out of range, index/length not aligned or not a power of two, too long, too many proof
// layers, tree over the budget) gets a hash reject and is counted; a malformed frame closes.
//
// Bounded: total connections, connections per IP, idle timeout, request size, send-queue size,
// and an upload rate (token bucket, bytes/s) shared by every connection.

import { createServer, type Server, type Socket } from 'node:net'
import { randomBytes, createHash } from 'node:crypto'
import { FrameReader } from '../wire/frame-reader.js'
import { encodeHandshake, decodeHandshake, HANDSHAKE_LEN } from '../wire/handshake.js'
import { MSG, frame, extendedFrame, decodeExtHandshake, decodeMetadataMessage, decodeHashRequest, encodeHashRequest, HASH_REQUEST_BYTES, type HashRequest } from '../wire/messages.js'
import { decode, getDict, getInt, getList, isDict } from '../core/bencode.js'
import { TokenBucket } from '../core/token-bucket.js'
import { LIMITS } from '../core/limits.js'
import { statSync } from 'node:fs'
import { BbmeshError, ProtocolError, UsageError } from '../core/errors.js'
import { BLOCK_SIZE, HASH_BYTES } from '../torrent/merkle.js'
import {
  isFileSeed, seedLayout, pieceSpan, pieceDataSize, v1PieceHashes, type FileSeedTorrent, type SeedFile, type SeedLayout, type SeedTorrent,
} from './seed-layout.js'
import { SeedFileReader } from './seed-file.js'
import {
  FileHashTree, HashTreeCache, MAX_HASHES_HARD, hashRequestProblem, uncleCount,
} from './seed-merkle.js'

export { v1PieceData, seedTorrentOf, type SeedTorrent, type FileSeedTorrent } from './seed-layout.js'

const OUR_UT_METADATA = 3
/** Largest block a peer may request (BEP-3 convention; libtorrent refuses bigger ones too). */
export const MAX_BLOCK = 16 * 1024

export interface PieceSeederOptions {
  host?: string
  port?: number
  /** Total open connections (default 200). */
  maxConnections?: number
  /** Connections from one IP (default 16). */
  maxPerIp?: number
  /** Upload limit in bytes/s over all connections, hashes included (default 64 MiB/s). */
  uploadRate?: number
  /** Close a connection that sent nothing for this long (default 120 s). */
  idleTimeoutMs?: number
  /** Send a keep-alive after this long without writing (default 60 s). */
  keepAliveMs?: number
  /** Queued requests (pieces and hashes) per connection before it is closed (default 500). */
  maxQueuedRequests?: number
  /**
   * Hashes one hash request may ask for (default 512, BEP-52's SHOULD). A torrent whose piece
   * holds more blocks allows one piece's worth, as libtorrent asks after a hash failure; never
   * more than 8192 (libtorrent's own cap).
   */
  maxHashesPerRequest?: number
  /** Bytes of merkle trees kept for hash requests, over all torrents (default 32 MiB). */
  hashTreeCacheBytes?: number
  /** File-backed torrents: files open at once (default 32). */
  maxOpenFiles?: number
  /** File-backed torrents: bytes of whole pieces cached after reading (default 8 MiB). */
  pieceCacheBytes?: number
  /** File-backed torrents: close a file unused for this long (default 30 s). */
  fileIdleMs?: number
}

export interface PieceSeederCounters {
  connections: number
  handshakes: number
  refused: number
  refusedLimit: number
  badRequests: number
  blocksServed: number
  bytesServed: number
  piecesServed: number
  metadataServed: number
  /** Well-formed hash requests received (BEP-52 msg 21). */
  hashRequests: number
  /** `hashes` messages sent. */
  hashesServed: number
  /** Uncle (proof) hashes sent inside them. */
  uncleHashesServed: number
  /** `hash reject`s sent. */
  hashRejects: number
  /** Handshakes answered with the truncated v2 infohash of a hybrid the peer named by SHA-1 (BEP-52 upgrade). */
  v2Upgrades: number
  /** File-backed torrents: reads refused (file missing, changed, or a piece not matching its hash); the link closed. */
  fileErrors: number
  errors: number
}

/** A served torrent: its bytes in memory (data) or in a file registered with the reader under id. */
interface Held { id: number, rawInfo: Buffer, data: Buffer | null, layout: SeedLayout, bitfield: Buffer, live: boolean }

/** The infohashes a peer may use for this info dict: SHA-1 (v1/hybrid) and truncated SHA-256 (v2/hybrid). */
export function seedInfohashes (rawInfo: Buffer): Buffer[] {
  const info = decode(rawInfo)
  if (!isDict(info)) throw new UsageError('seed: info is not a dict')
  const out: Buffer[] = []
  if (getList(info, 'files') !== undefined || getInt(info, 'length') !== undefined) out.push(createHash('sha1').update(rawInfo).digest())
  if (getDict(info, 'file tree') !== undefined) out.push(createHash('sha256').update(rawInfo).digest().subarray(0, 20))
  return out
}

export class PieceSeeder {
  private server: Server | null = null
  private readonly torrents = new Map<string, Held>()
  private readonly sockets = new Set<Socket>()
  private readonly perIp = new Map<string, number>()
  private readonly bucket: TokenBucket
  private readonly trees: HashTreeCache
  /** Trees being streamed from a file, so two peers asking at once build one. */
  private readonly building = new Map<string, Promise<FileHashTree>>()
  readonly files: SeedFileReader
  private nextId = 1
  readonly peerId = Buffer.concat([Buffer.from('-BM0100-', 'latin1'), randomBytes(12)])
  readonly counters: PieceSeederCounters = {
    connections: 0, handshakes: 0, refused: 0, refusedLimit: 0, badRequests: 0, blocksServed: 0,
    bytesServed: 0, piecesServed: 0, metadataServed: 0, hashRequests: 0, hashesServed: 0,
    uncleHashesServed: 0, hashRejects: 0, v2Upgrades: 0, fileErrors: 0, errors: 0,
  }

  constructor (private readonly opts: PieceSeederOptions = {}) {
    const rate = opts.uploadRate ?? 64 * 1024 * 1024
    if (!(rate > 0)) throw new UsageError('seed: uploadRate must be > 0')
    this.bucket = new TokenBucket(rate, Math.max(rate, 4 * MAX_BLOCK))
    const budget = opts.hashTreeCacheBytes ?? 32 * 1024 * 1024
    if (!(budget >= 0)) throw new UsageError('seed: hashTreeCacheBytes must be >= 0')
    this.trees = new HashTreeCache(budget)
    this.files = new SeedFileReader({
      ...(opts.maxOpenFiles !== undefined ? { maxOpenFiles: opts.maxOpenFiles } : {}),
      ...(opts.pieceCacheBytes !== undefined ? { pieceCacheBytes: opts.pieceCacheBytes } : {}),
      ...(opts.fileIdleMs !== undefined ? { idleMs: opts.fileIdleMs } : {}),
    })
  }

  /**
   * Serve a torrent under its infohashes (default: those of its info dict). Throws UsageError
   * when the piece stream does not fit the info dict (see seedTorrentOf to build one), or, for
   * a file-backed torrent, when the file is not there with its size now.
   */
  add (t: SeedTorrent | FileSeedTorrent, infohashes: Buffer[] = seedInfohashes(t.rawInfo)): void {
    const size = isFileSeed(t) ? t.size : t.data.length
    if (!(t.pieceLength > 0) || size === 0) throw new UsageError('seed: torrent has no pieces')
    const layout = seedLayout(t.rawInfo, t.pieceLength, size)
    const bitfield = Buffer.alloc(Math.ceil(layout.numPieces / 8))
    for (let i = 0; i < layout.numPieces; i++) bitfield[i >> 3] |= 0x80 >> (i & 7)
    for (const ih of infohashes) if (ih.length !== 20) throw new UsageError('seed: infohashes are 20 bytes')
    const held: Held = { id: this.nextId++, rawInfo: t.rawInfo, data: isFileSeed(t) ? null : t.data, layout, bitfield, live: true }
    if (isFileSeed(t)) {
      let st
      try { st = statSync(t.path) } catch (err) { throw new UsageError(`seed: cannot stat ${t.path}: ${(err as Error).message}`, { cause: err }) }
      if (!st.isFile() || st.size !== t.size) throw new UsageError(`seed: ${t.path} is not a file of ${t.size} bytes`)
      this.files.register(held.id, t.path, t.size, t.pieceLength, v1PieceHashes(t.rawInfo))
    }
    const replaced = new Set<Held>()
    for (const ih of infohashes) {
      const old = this.torrents.get(ih.toString('hex'))
      if (old !== undefined) replaced.add(old)
      this.torrents.set(ih.toString('hex'), held)
    }
    for (const old of replaced) this.release(old)
  }

  remove (infohashes: Buffer[]): void {
    const gone = new Set<Held>()
    for (const ih of infohashes) {
      const h = this.torrents.get(ih.toString('hex'))
      if (h !== undefined) gone.add(h)
      this.torrents.delete(ih.toString('hex'))
    }
    for (const h of gone) this.release(h)
  }

  /** Drop the cached trees (and the file) of a torrent no infohash serves any more. */
  private release (h: Held): void {
    for (const v of this.torrents.values()) if (v === h) return
    h.live = false
    this.trees.dropPrefix(`${h.id}:`)
    if (h.data === null) this.files.unregister(h.id)
  }

  /** The merkle tree of one file of a held torrent: cached, else built (streamed from disk for a file-backed one). */
  tree (h: Held, file: SeedFile): FileHashTree | Promise<FileHashTree> {
    const key = `${h.id}:${file.root.toString('hex')}`
    const data = h.data
    if (data !== null) return this.trees.get(key, () => FileHashTree.build(data.subarray(file.offset, file.offset + file.size)))
    const hit = this.trees.peek(key)
    if (hit !== undefined) return hit
    let p = this.building.get(key)
    if (p === undefined) {
      p = FileHashTree.buildStreaming(file.size, async (off, len) => await this.files.range(h.id, file.offset + off, len))
        .then((t) => { if (h.live) this.trees.put(key, t); return t })
        .finally(() => this.building.delete(key))
      this.building.set(key, p)
    }
    return p
  }

  async start (): Promise<{ host: string, port: number }> {
    const server = createServer({ noDelay: true }, (s) => this.onConnection(s))
    this.server = server
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen({ host: this.opts.host ?? '127.0.0.1', port: this.opts.port ?? 0 }, () => { server.off('error', reject); resolve() })
    })
    return this.address()
  }

  address (): { host: string, port: number } {
    const a = this.server?.address()
    if (a === null || a === undefined || typeof a === 'string') throw new UsageError('seeder not listening')
    return { host: a.address, port: a.port }
  }

  get openConnections (): number { return this.sockets.size }

  /** Bytes of merkle trees held for hash requests. */
  get hashTreeBytes (): number { return this.trees.bytes }

  private onConnection (s: Socket): void {
    const ip = s.remoteAddress ?? '?'
    const n = this.perIp.get(ip) ?? 0
    if (this.sockets.size >= (this.opts.maxConnections ?? 200) || n >= (this.opts.maxPerIp ?? 16)) {
      this.counters.refusedLimit++
      s.destroy()
      return
    }
    this.counters.connections++
    this.sockets.add(s)
    this.perIp.set(ip, n + 1)
    new SeedConnection(this, s, this.torrents, this.bucket, this.trees, this.opts).run()
    s.on('close', () => {
      this.sockets.delete(s)
      const k = (this.perIp.get(ip) ?? 1) - 1
      if (k <= 0) this.perIp.delete(ip)
      else this.perIp.set(ip, k)
    })
  }

  async close (): Promise<void> {
    const server = this.server
    this.server = null
    for (const s of this.sockets) s.destroy()
    if (server !== null) await new Promise<void>((resolve) => server.close(() => resolve()))
    await this.files.close()
  }
}

type Job =
  | { kind: 'block', piece: number, begin: number, length: number }
  | { kind: 'hashes', r: HashRequest, file: SeedFile, bytes: number }

class SeedConnection {
  private readonly reader = new FrameReader(LIMITS.wireMaxFrame)
  private held: Held | null = null
  private theirMetadataId: number | undefined
  private choked = true
  private readonly queue: Job[] = []
  private sending = false
  private closed = false
  private idle: NodeJS.Timeout | null = null
  private keepAlive: NodeJS.Timeout | null = null
  private wait: NodeJS.Timeout | null = null
  /** Bytes of each piece sent on this connection, to count whole pieces served. */
  private readonly pieceBytes = new Map<number, number>()

  constructor (
    private readonly owner: PieceSeeder, private readonly s: Socket, private readonly torrents: Map<string, Held>,
    private readonly bucket: TokenBucket, private readonly trees: HashTreeCache, private readonly opts: PieceSeederOptions,
  ) {}

  run (): void {
    const s = this.s
    this.touch()
    s.on('close', () => this.shutdown())
    s.on('error', () => { this.owner.counters.errors++ })
    s.on('data', (chunk: Buffer) => {
      try {
        this.touch()
        this.onData(chunk)
      } catch (err) {
        if (!(err instanceof BbmeshError)) throw err
        if (err instanceof ProtocolError) this.owner.counters.badRequests++
        this.close()
      }
    })
  }

  private touch (): void {
    if (this.idle !== null) clearTimeout(this.idle)
    this.idle = setTimeout(() => this.close(), this.opts.idleTimeoutMs ?? 120_000)
    this.idle.unref()
  }

  private armKeepAlive (): void {
    if (this.keepAlive !== null) clearTimeout(this.keepAlive)
    this.keepAlive = setTimeout(() => { if (!this.closed) { this.s.write(Buffer.alloc(4)); this.armKeepAlive() } }, this.opts.keepAliveMs ?? 60_000)
    this.keepAlive.unref()
  }

  private send (b: Buffer): boolean {
    this.armKeepAlive()
    return this.s.write(b)
  }

  private onData (chunk: Buffer): void {
    this.reader.push(chunk)
    if (this.held === null) {
      const hb = this.reader.takeRaw(HANDSHAKE_LEN)
      if (hb === null) return
      const hs = decodeHandshake(hb)
      const held = this.torrents.get(hs.infohash.toString('hex'))
      if (held === undefined) { this.owner.counters.refused++; this.close(); return }
      this.held = held
      this.owner.counters.handshakes++
      this.send(encodeHandshake(this.replyInfohash(held, hs.infohash, hs.v2), this.owner.peerId))
      if (hs.extended) {
        this.send(extendedFrame(0, { m: { ut_metadata: OUR_UT_METADATA }, metadata_size: held.rawInfo.length, v: 'bbmesh 0.1', reqq: this.opts.maxQueuedRequests ?? 500 }))
      }
      this.send(frame(MSG.bitfield, held.bitfield))
    }
    for (let f = this.reader.next(); f !== null; f = this.reader.next()) {
      if (this.closed) return
      if (f.length === 0) continue // keep-alive
      this.onMessage(f)
    }
  }

  /**
   * BEP-52 upgrade path: a peer that sends a hybrid's SHA-1 infohash with the v2 reserved bit
   * may be answered with the truncated v2 one, and then speaks v2 on this link (libtorrent
   * sends hash requests only on such a link).
   */
  private replyInfohash (held: Held, theirs: Buffer, v2Bit: boolean): Buffer {
    const v2 = held.layout.v2
    if (!v2Bit || v2 === undefined || held.layout.v1?.equals(theirs) !== true) return theirs
    if (this.torrents.get(v2.toString('hex')) !== held) return theirs
    this.owner.counters.v2Upgrades++
    return v2
  }

  private onMessage (f: Buffer): void {
    const held = this.held as Held
    switch (f[0]) {
      case MSG.interested:
        if (this.choked) { this.choked = false; this.send(frame(MSG.unchoke)) }
        return
      case MSG.notInterested:
        return
      case MSG.request: {
        if (f.length !== 13) throw new ProtocolError('request: bad length')
        const piece = f.readUInt32BE(1); const begin = f.readUInt32BE(5); const length = f.readUInt32BE(9)
        const l = held.layout
        // A block starts inside the piece's data; in a v2-only file's short last piece it may
        // run on into the zeros up to the piece boundary (seed-layout.ts).
        if (piece >= l.numPieces || length === 0 || length > MAX_BLOCK || begin >= pieceDataSize(l, piece) || begin + length > pieceSpan(l, piece)) {
          throw new ProtocolError(`request out of range: piece ${piece} begin ${begin} length ${length}`)
        }
        if (this.choked) return // BEP-3: requests while choked are dropped
        this.enqueue({ kind: 'block', piece, begin, length })
        return
      }
      case MSG.cancel: {
        if (f.length !== 13) throw new ProtocolError('cancel: bad length')
        const p = f.readUInt32BE(1); const b = f.readUInt32BE(5); const l = f.readUInt32BE(9)
        const i = this.queue.findIndex((j) => j.kind === 'block' && j.piece === p && j.begin === b && j.length === l)
        if (i >= 0) this.queue.splice(i, 1)
        return
      }
      case MSG.hashRequest:
        this.onHashRequest(held, f)
        return
      case MSG.extended:
        this.onExtended(f)
        return
      default:
        // choke/unchoke/have/bitfield/port/hashes/hash reject from a peer that downloads: nothing to do.
    }
  }

  /** BEP-52 msg 21: queue a `hashes` reply, or reject with the request's own fields. Served while choked too. */
  private onHashRequest (held: Held, f: Buffer): void {
    const r = decodeHashRequest(f.subarray(1)) // wrong size: ProtocolError, the link closes
    const c = this.owner.counters
    c.hashRequests++
    const file = held.layout.byRoot.get(r.root.toString('hex'))
    const cap = Math.min(MAX_HASHES_HARD, Math.max(this.opts.maxHashesPerRequest ?? 512, held.layout.pieceLength / BLOCK_SIZE))
    const problem = file === undefined
      ? 'unknown pieces root'
      : hashRequestProblem(file.size, r, cap) ?? (this.trees.fits(file.size) ? undefined : 'merkle tree over the cache budget')
    if (file === undefined || problem !== undefined) { this.rejectHashes(r); return }
    const bytes = 4 + 1 + HASH_REQUEST_BYTES + (r.length + uncleCount(r.length, r.proofLayers)) * HASH_BYTES
    this.enqueue({ kind: 'hashes', r, file, bytes })
  }

  private rejectHashes (r: HashRequest): void {
    this.owner.counters.hashRejects++
    this.send(frame(MSG.hashReject, encodeHashRequest(r)))
  }

  private enqueue (j: Job): void {
    if (this.queue.length >= (this.opts.maxQueuedRequests ?? 500)) throw new ProtocolError('too many queued requests')
    this.queue.push(j)
    this.pump()
  }

  private onExtended (f: Buffer): void {
    if (f.length < 2) return
    const raw = (this.held as Held).rawInfo
    if (f[1] === 0) { this.theirMetadataId = decodeExtHandshake(f.subarray(2)).m.get('ut_metadata'); return }
    if (f[1] !== OUR_UT_METADATA || this.theirMetadataId === undefined) return
    const m = decodeMetadataMessage(f.subarray(2))
    if (m.msgType !== 0) return
    const pieces = Math.ceil(raw.length / LIMITS.metadataPiece)
    if (m.piece >= pieces) { this.send(extendedFrame(this.theirMetadataId, { msg_type: 2, piece: m.piece })); return }
    const data = raw.subarray(m.piece * LIMITS.metadataPiece, Math.min(raw.length, (m.piece + 1) * LIMITS.metadataPiece))
    this.send(extendedFrame(this.theirMetadataId, { msg_type: 1, piece: m.piece, total_size: raw.length }, data))
    if (m.piece === pieces - 1) this.owner.counters.metadataServed++
  }

  /** Send queued blocks and hashes while the rate limit and the socket allow. */
  private pump (): void {
    if (this.sending || this.closed) return
    const held = this.held as Held
    while (this.queue.length > 0 && !this.closed) {
      const j = this.queue[0]
      const size = j.kind === 'block' ? j.length : j.bytes
      const wait = this.bucket.waitFor(size)
      if (wait > 0) {
        this.sending = true
        this.wait = setTimeout(() => { this.wait = null; this.sending = false; this.pump() }, wait)
        return
      }
      this.bucket.force(size)
      this.queue.shift()
      const ok = this.serve(held, j)
      if (typeof ok !== 'boolean') {
        // A file read or a tree streamed from disk: nothing else is sent on this link meanwhile.
        this.sending = true
        ok.then((sent) => {
          if (this.closed) return
          if (sent) { this.sending = false; this.pump(); return }
          this.s.once('drain', () => { this.sending = false; this.pump() })
        }, (err: unknown) => {
          if (!(err instanceof BbmeshError)) throw err
          // The file is gone, changed, or a piece fails its hash: refuse rather than send it.
          if (!this.closed) this.owner.counters.fileErrors++
          this.close()
        })
        return
      }
      if (!ok) {
        this.sending = true
        this.s.once('drain', () => { this.sending = false; this.pump() })
        return
      }
    }
  }

  /** Send one job: at once from memory or a cached tree, or once the file read is done. */
  private serve (held: Held, j: Job): boolean | Promise<boolean> {
    if (j.kind === 'hashes') {
      const tree = this.owner.tree(held, j.file)
      return tree instanceof FileHashTree ? this.sendHashes(j.r, j.file, tree) : tree.then((t) => this.sendHashes(j.r, j.file, t))
    }
    const data = held.data
    if (data !== null) {
      const off = j.piece * held.layout.pieceLength + j.begin
      return this.sendBlock(j.piece, j.begin, data.subarray(off, off + j.length))
    }
    return this.owner.files.piece(held.id, j.piece, pieceSpan(held.layout, j.piece))
      .then((p) => this.closed || this.sendBlock(j.piece, j.begin, p.subarray(j.begin, j.begin + j.length)))
  }

  private sendBlock (piece: number, begin: number, block: Buffer): boolean {
    const held = this.held as Held
    const length = block.length
    const head = Buffer.allocUnsafe(13)
    head.writeUInt32BE(9 + length, 0)
    head[4] = MSG.piece
    head.writeUInt32BE(piece, 5)
    head.writeUInt32BE(begin, 9)
    this.s.write(head)
    const ok = this.send(block)
    const c = this.owner.counters
    c.blocksServed++
    c.bytesServed += length
    const sent = (this.pieceBytes.get(piece) ?? 0) + length
    if (sent >= pieceDataSize(held.layout, piece)) { this.pieceBytes.delete(piece); c.piecesServed++ } else this.pieceBytes.set(piece, sent)
    return ok
  }

  private sendHashes (r: HashRequest, file: SeedFile, tree: FileHashTree): boolean {
    if (this.closed) return true
    const c = this.owner.counters
    if (!tree.node(tree.height, 0).equals(file.root)) {
      // The bytes we hold are not the file the info dict names: never hand out hashes for them.
      c.errors++
      this.rejectHashes(r)
      return true
    }
    const proof = tree.proof(r)
    c.hashesServed++
    c.uncleHashesServed += proof.length / HASH_BYTES - r.length
    return this.send(frame(MSG.hashes, Buffer.concat([encodeHashRequest(r), proof])))
  }

  close (): void {
    if (this.closed) return
    this.s.destroy()
    this.shutdown()
  }

  private shutdown (): void {
    this.closed = true
    this.queue.length = 0
    for (const t of [this.idle, this.keepAlive, this.wait]) if (t !== null) clearTimeout(t)
  }
}
