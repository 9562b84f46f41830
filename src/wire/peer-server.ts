// The inbound side of the peer wire: a TCP listener that takes sockets through the
// BitTorrent handshake and hands finished PeerConnections to its owner. Bounded: total
// connections, connections per IP, and handshakes in progress.

import { createServer, type Server, type Socket } from 'node:net'
import { PeerConnection, type AcceptOptions } from './peer-connection.js'
import { BbmeshError } from '../core/errors.js'

export interface PeerServerOptions extends AcceptOptions {
  host?: string
  port?: number
  maxConnections?: number
  maxPerIp?: number
}

export interface PeerServerCounters { accepted: number, refusedLimit: number, failedHandshake: number }

export class PeerServer {
  private server: Server | null = null
  private readonly sockets = new Set<Socket>()
  private readonly perIp = new Map<string, number>()
  readonly counters: PeerServerCounters = { accepted: 0, refusedLimit: 0, failedHandshake: 0 }

  constructor (private readonly opts: PeerServerOptions, private readonly onConnection: (c: PeerConnection) => void) {}

  async start (): Promise<{ host: string, port: number }> {
    const server = createServer({ noDelay: true, pauseOnConnect: false }, (s) => this.onSocket(s))
    this.server = server
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen({ host: this.opts.host ?? '0.0.0.0', port: this.opts.port ?? 0, backlog: 512 }, () => { server.off('error', reject); resolve() })
    })
    return this.address()
  }

  address (): { host: string, port: number } {
    const a = this.server?.address()
    if (a === null || a === undefined || typeof a === 'string') throw new Error('peer server not listening')
    return { host: a.address, port: a.port }
  }

  private onSocket (s: Socket): void {
    const ip = s.remoteAddress ?? ''
    const n = this.perIp.get(ip) ?? 0
    if (this.sockets.size >= (this.opts.maxConnections ?? 256) || n >= (this.opts.maxPerIp ?? 4)) {
      this.counters.refusedLimit++
      s.destroy()
      return
    }
    this.sockets.add(s)
    this.perIp.set(ip, n + 1)
    s.once('close', () => {
      this.sockets.delete(s)
      const m = (this.perIp.get(ip) ?? 1) - 1
      if (m <= 0) this.perIp.delete(ip); else this.perIp.set(ip, m)
    })
    s.on('error', () => {})
    PeerConnection.accept(s, this.opts).then((c) => {
      this.counters.accepted++
      this.onConnection(c)
    }, (err: unknown) => {
      if (!(err instanceof BbmeshError)) throw err
      this.counters.failedHandshake++
    })
  }

  get connections (): number { return this.sockets.size }

  async close (): Promise<void> {
    for (const s of this.sockets) s.destroy()
    const server = this.server
    this.server = null
    if (server !== null) await new Promise<void>((resolve) => server.close(() => resolve()))
  }
}
