// A scripted seeder on loopback for tests of the piece downloader: it speaks the BEP-3
// handshake, sends a full bitfield, unchokes on interested and answers requests from a v1
// piece stream, unless the script says otherwise (another infohash, never unchoke, corrupt,
// duplicate, truncate or withhold blocks, choke mid-way). Every socket it accepted is
// counted, so tests can see that the downloader closed them all and never came back.

import { createServer, type Server, type Socket } from 'node:net'
import { FrameReader } from '../../src/wire/frame-reader.js'
import { decodeHandshake, encodeHandshake, HANDSHAKE_LEN } from '../../src/wire/handshake.js'
import { MSG, frame } from '../../src/wire/messages.js'
import { seedInfohashes, type SeedTorrent } from '../../src/library/piece-seeder.js'
import type { PeerAddr } from '../../src/core/compact.js'

export interface FakeRequest { piece: number, begin: number, length: number }

export interface FakeRequestContext {
  /** The bytes the request asks for, from the honest piece stream (a copy: safe to alter). */
  data: Buffer
  /** Requests this seeder received before this one (all connections). */
  index: number
  /** Write raw bytes to this connection now or later. */
  send: (b: Buffer) => void
}

export interface FakeSeederScript {
  /** Infohash to answer the handshake with (default: the one the downloader sent). */
  answerInfohash?: Buffer
  /** Unchoke after `interested` (default true). */
  unchoke?: boolean
  /** Frames to send for a request; undefined: the honest block. [] withholds it. */
  onRequest?: (r: FakeRequest, ctx: FakeRequestContext) => Buffer[] | undefined
  /** The downloader said `interested`. */
  onInterested?: () => void
}

/** A BEP-3 `piece` message. */
export function blockFrame (piece: number, begin: number, data: Buffer): Buffer {
  const head = Buffer.alloc(8)
  head.writeUInt32BE(piece, 0)
  head.writeUInt32BE(begin, 4)
  return frame(MSG.piece, Buffer.concat([head, data]))
}

export class FakeSeeder {
  readonly requests: FakeRequest[] = []
  connections = 0
  private server: Server | null = null
  private readonly sockets = new Set<Socket>()
  private readonly infohashes: Buffer[]
  private readonly bitfield: Buffer

  constructor (readonly torrent: SeedTorrent, readonly script: FakeSeederScript = {}) {
    this.infohashes = seedInfohashes(torrent.rawInfo)
    const n = Math.ceil(torrent.data.length / torrent.pieceLength)
    this.bitfield = Buffer.alloc(Math.ceil(n / 8))
    for (let i = 0; i < n; i++) this.bitfield[i >> 3] |= 0x80 >> (i & 7)
  }

  get openConnections (): number { return this.sockets.size }

  async start (): Promise<PeerAddr> {
    const server = createServer((s) => this.onConnection(s))
    this.server = server
    await new Promise<void>((resolve) => server.listen({ host: '127.0.0.1', port: 0 }, resolve))
    const a = server.address()
    if (a === null || typeof a === 'string') throw new Error('not listening')
    return { host: '127.0.0.1', port: a.port }
  }

  async close (): Promise<void> {
    for (const s of this.sockets) s.destroy()
    const server = this.server
    this.server = null
    if (server !== null) await new Promise<void>((resolve) => server.close(() => resolve()))
  }

  private onConnection (s: Socket): void {
    this.connections++
    this.sockets.add(s)
    s.on('close', () => this.sockets.delete(s))
    s.on('error', () => {})
    const reader = new FrameReader(1 << 20)
    let shook = false
    const send = (b: Buffer): void => { if (!s.destroyed) s.write(b) }
    s.on('data', (c: Buffer) => {
      reader.push(c)
      if (!shook) {
        const hb = reader.takeRaw(HANDSHAKE_LEN)
        if (hb === null) return
        const hs = decodeHandshake(hb)
        if (!this.infohashes.some((ih) => ih.equals(hs.infohash))) { s.destroy(); return }
        shook = true
        send(encodeHandshake(this.script.answerInfohash ?? hs.infohash, Buffer.alloc(20, 7)))
        send(frame(MSG.bitfield, this.bitfield))
      }
      for (let f = reader.next(); f !== null; f = reader.next()) {
        if (f.length === 0) continue
        if (f[0] === MSG.interested) {
          this.script.onInterested?.()
          if (this.script.unchoke !== false) send(frame(MSG.unchoke))
        } else if (f[0] === MSG.request && f.length === 13) {
          const r = { piece: f.readUInt32BE(1), begin: f.readUInt32BE(5), length: f.readUInt32BE(9) }
          const off = r.piece * this.torrent.pieceLength + r.begin
          const data = Buffer.from(this.torrent.data.subarray(off, off + r.length))
          const index = this.requests.length
          this.requests.push(r)
          const frames = this.script.onRequest?.(r, { data, index, send }) ?? [blockFrame(r.piece, r.begin, data)]
          for (const b of frames) send(b)
        }
      }
    })
  }
}
