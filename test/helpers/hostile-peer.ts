// A tiny scripted BitTorrent peer on loopback for tests of the BEP-9 fetcher: it speaks the
// handshake and then does whatever the test's script says (lie, stall, flood, reject).

import { createServer, type Server, type Socket } from 'node:net'
import { FrameReader } from '../../src/wire/frame-reader.js'
import { decodeHandshake, encodeHandshake, HANDSHAKE_LEN, type Handshake } from '../../src/wire/handshake.js'
import { MSG, extendedFrame, decodeExtHandshake, decodeMetadataMessage, type MetadataMessage } from '../../src/wire/messages.js'
import type { EncodableValue } from '../../src/core/bencode.js'
import type { PeerAddr } from '../../src/core/compact.js'

export class HostileConn {
  private readonly reader = new FrameReader(1 << 20)
  private wake: (() => void) | null = null
  private closed = false
  /** The ext id the fetcher asked us to use for ut_metadata, once its BEP-10 handshake came. */
  theirUtMetadata: number | undefined

  constructor (readonly sock: Socket) {
    sock.on('data', (c: Buffer) => { this.reader.push(c); this.poke() })
    sock.on('close', () => { this.closed = true; this.poke() })
    sock.on('error', () => { this.closed = true; this.poke() })
  }

  private poke (): void { const w = this.wake; this.wake = null; w?.() }

  private async wait (): Promise<void> {
    if (this.closed) throw new Error('fetcher closed the connection')
    await new Promise<void>((resolve) => { this.wake = resolve })
  }

  async handshake (): Promise<Handshake> {
    for (;;) {
      const b = this.reader.takeRaw(HANDSHAKE_LEN)
      if (b !== null) return decodeHandshake(b)
      await this.wait()
    }
  }

  async frame (): Promise<Buffer> {
    for (;;) {
      const f = this.reader.next()
      if (f !== null) return f
      await this.wait()
    }
  }

  /** Frames until the fetcher's BEP-10 handshake; remembers its ut_metadata id. */
  async extHandshake (): Promise<void> {
    for (;;) {
      const f = await this.frame()
      if (f.length >= 2 && f[0] === MSG.extended && f[1] === 0) {
        this.theirUtMetadata = decodeExtHandshake(f.subarray(2)).m.get('ut_metadata')
        return
      }
    }
  }

  /** The next ut_metadata message the fetcher sends. */
  async metadataMessage (): Promise<MetadataMessage> {
    for (;;) {
      const f = await this.frame()
      if (f.length >= 2 && f[0] === MSG.extended && f[1] !== 0) return decodeMetadataMessage(f.subarray(2))
    }
  }

  write (b: Uint8Array): void {
    if (!this.closed) this.sock.write(b)
  }

  sendHandshake (infohash: Uint8Array, opts: { extended?: boolean } = {}): void {
    const b = encodeHandshake(infohash, Buffer.from('-XX0000-hostilepeer!', 'latin1'))
    if (opts.extended === false) b[25] &= ~0x10
    this.write(b)
  }

  sendExt (id: number, dict: EncodableValue, trailer?: Uint8Array): void {
    this.write(extendedFrame(id, dict, trailer))
  }

  /** Our BEP-10 handshake with exactly these fields. */
  sendExtHandshake (fields: Record<string, EncodableValue>): void {
    this.sendExt(0, fields)
  }

  /** Hold the connection open without a word until the fetcher gives up. */
  async silence (): Promise<void> {
    while (!this.closed) await this.wait().catch(() => {})
  }
}

export interface HostilePeer {
  addr: PeerAddr
  /** Connections accepted so far. */
  connections: () => number
  /** Errors a script threw that were not the fetcher hanging up. */
  scriptErrors: unknown[]
  close: () => Promise<void>
}

/** Start a peer on 127.0.0.1 that runs `script` on each connection. */
export async function startHostilePeer (script: (c: HostileConn) => Promise<void>): Promise<HostilePeer> {
  const sockets = new Set<Socket>()
  const scriptErrors: unknown[] = []
  let connections = 0
  const server: Server = createServer((s) => {
    connections++
    sockets.add(s)
    s.on('close', () => sockets.delete(s))
    const c = new HostileConn(s)
    script(c).catch((err: unknown) => {
      if (!(err instanceof Error && /fetcher closed/.test(err.message))) scriptErrors.push(err)
    })
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => { server.off('error', reject); resolve() })
  })
  const a = server.address()
  if (a === null || typeof a === 'string') throw new Error('no address')
  return {
    addr: { host: '127.0.0.1', port: a.port },
    connections: () => connections,
    scriptErrors,
    close: async () => {
      for (const s of sockets) s.destroy()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}
