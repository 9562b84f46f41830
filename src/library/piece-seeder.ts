// Seeding over the ordinary peer wire (BEP-3 v1 piece requests): a TCP server that serves
// in-memory torrents (catalog shards and the index) to any BitTorrent client. It answers the
// handshake for a known infohash (v1, or the truncated v2 of a hybrid/v2 torrent) with the
// infohash the peer used, offers ut_metadata (BEP-9/10) so a magnet-only peer gets the info
// dict, sends a full bitfield, unchokes on interested and serves `request`s. Bounded: total
// connections, connections per IP, idle timeout, request size, send-queue size, and an
// upload rate (token bucket, bytes/s) shared by every connection.
//
// v2 hash requests (BEP-52 msg 21) are not served yet: a v2-aware peer gets a hash reject.

import { createServer, type Server, type Socket } from 'node:net'
import { randomBytes, createHash } from 'node:crypto'
import { FrameReader } from '../wire/frame-reader.js'
import { encodeHandshake, decodeHandshake, HANDSHAKE_LEN } from '../wire/handshake.js'
import { MSG, frame, extendedFrame, decodeExtHandshake, decodeMetadataMessage } from '../wire/messages.js'
import { decode, getBytes, getDict, getInt, getList, isDict } from '../core/bencode.js'
import { TokenBucket } from '../core/token-bucket.js'
import { LIMITS } from '../core/limits.js'
import { BbmeshError, ProtocolError, UsageError } from '../core/errors.js'

const OUR_UT_METADATA = 3
/** Largest block a peer may request (BEP-3 convention; libtorrent refuses bigger ones too). */
export const MAX_BLOCK = 16 * 1024

/** One torrent to serve: the info dict and the v1 piece stream (files and pad files, in order). */
export interface SeedTorrent {
  rawInfo: Buffer
  pieceLength: number
  /** Concatenated file bytes in v1 piece order, pad files (zeros) included. */
  data: Buffer
}

export interface PieceSeederOptions {
  host?: string
  port?: number
  /** Total open connections (default 200). */
  maxConnections?: number
  /** Connections from one IP (default 16). */
  maxPerIp?: number
  /** Upload limit in bytes/s over all connections (default 64 MiB/s). */
  uploadRate?: number
  /** Close a connection that sent nothing for this long (default 120 s). */
  idleTimeoutMs?: number
  /** Send a keep-alive after this long without writing (default 60 s). */
  keepAliveMs?: number
  /** Queued requests per connection before it is closed (default 500). */
  maxQueuedRequests?: number
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
  errors: number
}

interface Held { torrent: SeedTorrent, numPieces: number, bitfield: Buffer }

/** Build the v1 piece stream of a torrent from its info dict and file contents keyed by '/'-joined path
 *  (relative to the torrent root; a single-file torrent's one file is keyed by its name). */
export function v1PieceData (rawInfo: Buffer, files: Map<string, Uint8Array>): Buffer {
  const info = decode(rawInfo)
  if (!isDict(info)) throw new UsageError('seed: info is not a dict')
  const list = getList(info, 'files')
  const name = Buffer.from(getBytes(info, 'name') ?? new Uint8Array()).toString('utf8')
  const length = getInt(info, 'length')
  if (list === undefined) {
    if (length === undefined) throw new UsageError('seed: info has neither files nor length (v2-only torrents have no v1 pieces)')
    const d = files.get(name)
    if (d === undefined || d.length !== length) throw new UsageError(`seed: data for ${name} missing or of the wrong size`)
    return Buffer.from(d)
  }
  const parts: Buffer[] = []
  for (const f of list) {
    if (!isDict(f)) throw new UsageError('seed: files entry is not a dict')
    const size = getInt(f, 'length') ?? -1
    const attr = Buffer.from(getBytes(f, 'attr') ?? new Uint8Array()).toString('latin1')
    if (attr.includes('p')) { parts.push(Buffer.alloc(size)); continue }
    const path = (getList(f, 'path') ?? []).map((c) => Buffer.from(c as Uint8Array).toString('utf8')).join('/')
    const d = files.get(path)
    if (d === undefined || d.length !== size) throw new UsageError(`seed: data for ${path} missing or of the wrong size`)
    parts.push(Buffer.from(d.buffer, d.byteOffset, d.byteLength))
  }
  return Buffer.concat(parts)
}

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
  readonly peerId = Buffer.concat([Buffer.from('-BM0100-', 'latin1'), randomBytes(12)])
  readonly counters: PieceSeederCounters = {
    connections: 0, handshakes: 0, refused: 0, refusedLimit: 0, badRequests: 0, blocksServed: 0,
    bytesServed: 0, piecesServed: 0, metadataServed: 0, errors: 0,
  }

  constructor (private readonly opts: PieceSeederOptions = {}) {
    const rate = opts.uploadRate ?? 64 * 1024 * 1024
    if (!(rate > 0)) throw new UsageError('seed: uploadRate must be > 0')
    this.bucket = new TokenBucket(rate, Math.max(rate, 4 * MAX_BLOCK))
  }

  /** Serve a torrent under its infohashes (default: those of its info dict). */
  add (t: SeedTorrent, infohashes: Buffer[] = seedInfohashes(t.rawInfo)): void {
    if (t.pieceLength <= 0 || t.data.length === 0) throw new UsageError('seed: torrent has no pieces')
    const numPieces = Math.ceil(t.data.length / t.pieceLength)
    const bitfield = Buffer.alloc(Math.ceil(numPieces / 8))
    for (let i = 0; i < numPieces; i++) bitfield[i >> 3] |= 0x80 >> (i & 7)
    const held: Held = { torrent: t, numPieces, bitfield }
    for (const ih of infohashes) {
      if (ih.length !== 20) throw new UsageError('seed: infohashes are 20 bytes')
      this.torrents.set(ih.toString('hex'), held)
    }
  }

  remove (infohashes: Buffer[]): void {
    for (const ih of infohashes) this.torrents.delete(ih.toString('hex'))
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
    new SeedConnection(this, s, this.torrents, this.bucket, this.opts).run()
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
  }
}

interface Request { piece: number, begin: number, length: number }

class SeedConnection {
  private readonly reader = new FrameReader(LIMITS.wireMaxFrame)
  private held: Held | null = null
  private theirMetadataId: number | undefined
  private choked = true
  private readonly queue: Request[] = []
  private sending = false
  private closed = false
  private idle: NodeJS.Timeout | null = null
  private keepAlive: NodeJS.Timeout | null = null
  private wait: NodeJS.Timeout | null = null
  /** Bytes of each piece sent on this connection, to count whole pieces served. */
  private readonly pieceBytes = new Map<number, number>()

  constructor (
    private readonly owner: PieceSeeder, private readonly s: Socket, private readonly torrents: Map<string, Held>,
    private readonly bucket: TokenBucket, private readonly opts: PieceSeederOptions,
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
      this.send(encodeHandshake(hs.infohash, this.owner.peerId))
      if (hs.extended) {
        this.send(extendedFrame(0, { m: { ut_metadata: OUR_UT_METADATA }, metadata_size: held.torrent.rawInfo.length, v: 'bbmesh 0.1', reqq: this.opts.maxQueuedRequests ?? 500 }))
      }
      this.send(frame(MSG.bitfield, held.bitfield))
    }
    for (let f = this.reader.next(); f !== null; f = this.reader.next()) {
      if (this.closed) return
      if (f.length === 0) continue // keep-alive
      this.onMessage(f)
    }
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
        const r = { piece: f.readUInt32BE(1), begin: f.readUInt32BE(5), length: f.readUInt32BE(9) }
        const pieceLen = Math.min(held.torrent.pieceLength, held.torrent.data.length - r.piece * held.torrent.pieceLength)
        if (r.piece >= held.numPieces || r.length === 0 || r.length > MAX_BLOCK || r.begin + r.length > pieceLen) {
          throw new ProtocolError(`request out of range: piece ${r.piece} begin ${r.begin} length ${r.length}`)
        }
        if (this.choked) return // BEP-3: requests while choked are dropped
        if (this.queue.length >= (this.opts.maxQueuedRequests ?? 500)) throw new ProtocolError('too many queued requests')
        this.queue.push(r)
        this.pump()
        return
      }
      case MSG.cancel: {
        if (f.length !== 13) throw new ProtocolError('cancel: bad length')
        const p = f.readUInt32BE(1); const b = f.readUInt32BE(5); const l = f.readUInt32BE(9)
        const i = this.queue.findIndex((r) => r.piece === p && r.begin === b && r.length === l)
        if (i >= 0) this.queue.splice(i, 1)
        return
      }
      case MSG.hashRequest:
        // Not served yet: reject with the request's own fields (BEP-52).
        this.send(frame(MSG.hashReject, f.subarray(1)))
        return
      case MSG.extended:
        this.onExtended(f)
        return
      default:
        // choke/unchoke/have/bitfield/port from a peer that downloads: nothing to do.
    }
  }

  private onExtended (f: Buffer): void {
    if (f.length < 2) return
    const raw = (this.held as Held).torrent.rawInfo
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

  /** Send queued blocks while the rate limit and the socket allow. */
  private pump (): void {
    if (this.sending || this.closed) return
    const held = this.held as Held
    while (this.queue.length > 0 && !this.closed) {
      const r = this.queue[0]
      const wait = this.bucket.waitFor(r.length)
      if (wait > 0) {
        this.sending = true
        this.wait = setTimeout(() => { this.wait = null; this.sending = false; this.pump() }, wait)
        return
      }
      this.bucket.force(r.length)
      this.queue.shift()
      const off = r.piece * held.torrent.pieceLength + r.begin
      const head = Buffer.allocUnsafe(13)
      head.writeUInt32BE(9 + r.length, 0)
      head[4] = MSG.piece
      head.writeUInt32BE(r.piece, 5)
      head.writeUInt32BE(r.begin, 9)
      this.s.write(head)
      const ok = this.send(held.torrent.data.subarray(off, off + r.length))
      this.count(r, held)
      if (!ok) {
        this.sending = true
        this.s.once('drain', () => { this.sending = false; this.pump() })
        return
      }
    }
  }

  private count (r: Request, held: Held): void {
    const c = this.owner.counters
    c.blocksServed++
    c.bytesServed += r.length
    const pieceLen = Math.min(held.torrent.pieceLength, held.torrent.data.length - r.piece * held.torrent.pieceLength)
    const sent = (this.pieceBytes.get(r.piece) ?? 0) + r.length
    if (sent >= pieceLen) { this.pieceBytes.delete(r.piece); c.piecesServed++ } else this.pieceBytes.set(r.piece, sent)
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
