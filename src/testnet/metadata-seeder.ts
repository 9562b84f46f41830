// A lightweight BEP-9 seeder for the loopback testnet: it accepts peer-wire connections for
// any of its torrents (by v1 or truncated v2 infohash) and serves their info dicts over
// ut_metadata. It counts what it served, so tests can tell swarm fetches apart.

import { createServer, type Server, type Socket } from 'node:net'
import { FrameReader } from '../wire/frame-reader.js'
import { encodeHandshake, decodeHandshake, HANDSHAKE_LEN } from '../wire/handshake.js'
import { MSG, extendedFrame, decodeExtHandshake, decodeMetadataMessage } from '../wire/messages.js'
import { LIMITS } from '../core/limits.js'
import { BbmeshError } from '../core/errors.js'
import { makePeerId } from '../../crawler/metadata-fetcher.js'

const OUR_UT_METADATA = 3

export interface SeederCounters { connections: number, handshakes: number, metadataServed: number, refused: number, errors: number }

export class MetadataSeeder {
  private server: Server | null = null
  private readonly torrents = new Map<string, Buffer>()
  private readonly sockets = new Set<Socket>()
  readonly peerId = makePeerId()
  readonly counters: SeederCounters = { connections: 0, handshakes: 0, metadataServed: 0, refused: 0, errors: 0 }
  /** Completed metadata transfers per infohash (hex). */
  readonly servedBy = new Map<string, number>()

  constructor (private readonly opts: { host?: string, port?: number, maxConnections?: number } = {}) {}

  /** Serve rawInfo under each of the given 20-byte infohashes. */
  add (infohashes: Buffer[], rawInfo: Buffer): void {
    for (const ih of infohashes) this.torrents.set(ih.toString('hex'), rawInfo)
  }

  async start (): Promise<{ host: string, port: number }> {
    const server = createServer({ noDelay: true }, (s) => this.onConnection(s))
    server.maxConnections = this.opts.maxConnections ?? 2048
    this.server = server
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen({ host: this.opts.host ?? '127.0.0.1', port: this.opts.port ?? 0, backlog: 1024 }, () => { server.off('error', reject); resolve() })
    })
    return this.address()
  }

  address (): { host: string, port: number } {
    const a = this.server?.address()
    if (a === null || a === undefined || typeof a === 'string') throw new Error('seeder not listening')
    return { host: a.address, port: a.port }
  }

  private onConnection (s: Socket): void {
    this.counters.connections++
    this.sockets.add(s)
    const reader = new FrameReader(LIMITS.wireMaxFrame)
    let raw: Buffer | null = null
    let ih: string | null = null
    let theirs: number | undefined
    const timer = setTimeout(() => s.destroy(), 30_000)
    s.on('close', () => { clearTimeout(timer); this.sockets.delete(s) })
    s.on('error', () => { this.counters.errors++ })
    s.on('data', (chunk: Buffer) => {
      try {
        reader.push(chunk)
        if (ih === null) {
          const hb = reader.takeRaw(HANDSHAKE_LEN)
          if (hb === null) return
          const hs = decodeHandshake(hb)
          ih = hs.infohash.toString('hex')
          raw = this.torrents.get(ih) ?? null
          if (raw === null) { this.counters.refused++; s.destroy(); return }
          this.counters.handshakes++
          s.write(encodeHandshake(hs.infohash, this.peerId))
          s.write(extendedFrame(0, { m: { ut_metadata: OUR_UT_METADATA }, metadata_size: raw.length, v: 'bbmesh-testnet' }))
        }
        for (let f = reader.next(); f !== null; f = reader.next()) {
          if (f.length < 2 || f[0] !== MSG.extended) continue
          if (f[1] === 0) { theirs = decodeExtHandshake(f.subarray(2)).m.get('ut_metadata'); continue }
          if (f[1] !== OUR_UT_METADATA || theirs === undefined || raw === null) continue
          const m = decodeMetadataMessage(f.subarray(2))
          if (m.msgType !== 0) continue
          const pieces = Math.ceil(raw.length / LIMITS.metadataPiece)
          if (m.piece >= pieces) { s.write(extendedFrame(theirs, { msg_type: 2, piece: m.piece })); continue }
          const data = raw.subarray(m.piece * LIMITS.metadataPiece, Math.min(raw.length, (m.piece + 1) * LIMITS.metadataPiece))
          s.write(extendedFrame(theirs, { msg_type: 1, piece: m.piece, total_size: raw.length }, data))
          if (m.piece === pieces - 1) {
            this.counters.metadataServed++
            this.servedBy.set(ih as string, (this.servedBy.get(ih as string) ?? 0) + 1)
          }
        }
      } catch (err) {
        if (!(err instanceof BbmeshError)) throw err
        this.counters.errors++
        s.destroy()
      }
    })
  }

  async close (): Promise<void> {
    for (const s of this.sockets) s.destroy()
    const server = this.server
    this.server = null
    if (server !== null) await new Promise<void>((resolve) => server.close(() => resolve()))
  }
}
