// One peer-wire connection (BEP-3 + BEP-10), either direction, for the long-lived links of
// the cooperative and for seeding: the BitTorrent handshake under a deadline, our BEP-10
// handshake sent at once, every frame through the capped FrameReader, keep-alives, an idle
// timeout, and close() that destroys the socket and clears every timer. Extensions sit on
// top (extensions/registry.ts); this class only moves frames.

import { EventEmitter } from 'node:events'
import { connect, type Socket } from 'node:net'
import { FrameReader } from './frame-reader.js'
import { encodeHandshake, decodeHandshake, HANDSHAKE_LEN, type Handshake } from './handshake.js'
import { MSG, frame, decodeExtHandshake, type ExtHandshake } from './messages.js'
import { encode, type EncodableValue } from '../core/bencode.js'
import { LIMITS } from '../core/limits.js'
import { BbmeshError, NetworkError, ProtocolError, TimeoutError } from '../core/errors.js'
import type { PeerAddr } from '../core/compact.js'

export interface PeerConnectionOptions {
  peerId: Buffer
  /**
   * Our BEP-10 handshake dict (`m`, `v`, `p`, extension extras), sent as soon as the
   * BitTorrent handshake is done. Leave it out to send it later with sendExtHandshake()
   * (when the extensions need the remote's peer id to be built).
   */
  extHandshake?: () => Record<string, EncodableValue>
  maxFrame?: number
  /** The BitTorrent handshake must complete within this. */
  handshakeTimeoutMs?: number
  /** No frame at all from the remote for this long closes the link (keep-alives count). */
  idleTimeoutMs?: number
  /** How often we send a keep-alive when we have sent nothing else. */
  keepAliveMs?: number
}

export interface ConnectOptions extends PeerConnectionOptions {
  infohash: Buffer
  signal?: AbortSignal
  /** Source address to dial from (the address we listen on), so the remote sees that one. */
  localAddress?: string
}

export interface AcceptOptions extends PeerConnectionOptions {
  /** Infohashes we answer for; anything else is refused before we say a byte. */
  accept: (infohash: Buffer) => boolean
}

export interface PeerConnectionEvents {
  extHandshake: [ExtHandshake]
  extended: [number, Buffer]
  message: [number, Buffer]
  close: [string]
}

export class PeerConnection extends EventEmitter<PeerConnectionEvents> {
  readonly remote: PeerAddr & { peerId: Buffer }
  private readonly reader: FrameReader
  private idleTimer: NodeJS.Timeout | null = null
  private keepAliveTimer: NodeJS.Timeout | null = null
  private lastSent = Date.now()
  private closed = false
  remoteExt: ExtHandshake | null = null
  readonly bytes = { in: 0, out: 0 }

  private constructor (
    private readonly sock: Socket,
    readonly infohash: Buffer,
    readonly initiator: boolean,
    hs: Handshake,
    reader: FrameReader,
    private readonly opts: PeerConnectionOptions,
  ) {
    super()
    this.reader = reader
    this.remote = { host: sock.remoteAddress ?? '', port: sock.remotePort ?? 0, peerId: hs.peerId }
    if (!hs.extended) {
      // A peer without BEP-10 can carry no bbmesh extension: nothing to do with it.
      queueMicrotask(() => this.close('remote does not support BEP-10'))
    }
    sock.on('data', (c: Buffer) => this.onData(c))
    sock.on('close', () => this.close('remote closed'))
    sock.on('error', (err) => this.close(`socket error: ${err.message}`))
    this.armIdle()
    const ka = opts.keepAliveMs ?? 60_000
    this.keepAliveTimer = setInterval(() => { if (Date.now() - this.lastSent >= ka) this.write(Buffer.alloc(4)) }, ka)
    if (opts.extHandshake !== undefined) this.sendExtHandshake(opts.extHandshake())
    // Frames that arrived with the handshake are processed once listeners are attached.
    setImmediate(() => this.drain())
  }

  /** Dial a peer and complete the BitTorrent handshake. */
  static async connect (peer: PeerAddr, opts: ConnectOptions): Promise<PeerConnection> {
    const sock = connect({ host: peer.host, port: peer.port, noDelay: true, ...(opts.localAddress !== undefined ? { localAddress: opts.localAddress } : {}) })
    try {
      await waitConnected(sock, opts.handshakeTimeoutMs ?? 10_000, opts.signal)
      sock.write(encodeHandshake(opts.infohash, opts.peerId, { dht: true }))
      const reader = new FrameReader(opts.maxFrame ?? LIMITS.wireMaxFrame)
      const hs = decodeHandshake(await readRaw(sock, reader, HANDSHAKE_LEN, opts.handshakeTimeoutMs ?? 10_000, opts.signal))
      if (!hs.infohash.equals(opts.infohash)) throw new ProtocolError('peer answered for another infohash')
      return new PeerConnection(sock, opts.infohash, true, hs, reader, opts)
    } catch (err) {
      sock.destroy()
      throw err
    }
  }

  /** Take an inbound socket through the BitTorrent handshake. */
  static async accept (sock: Socket, opts: AcceptOptions): Promise<PeerConnection> {
    try {
      const reader = new FrameReader(opts.maxFrame ?? LIMITS.wireMaxFrame)
      const hs = decodeHandshake(await readRaw(sock, reader, HANDSHAKE_LEN, opts.handshakeTimeoutMs ?? 10_000))
      if (!opts.accept(hs.infohash)) throw new ProtocolError('handshake for an infohash we do not serve')
      sock.write(encodeHandshake(hs.infohash, opts.peerId, { dht: true }))
      return new PeerConnection(sock, hs.infohash, false, hs, reader, opts)
    } catch (err) {
      sock.destroy()
      throw err
    }
  }

  private armIdle (): void {
    if (this.idleTimer !== null) clearTimeout(this.idleTimer)
    this.idleTimer = setTimeout(() => this.close('idle timeout'), this.opts.idleTimeoutMs ?? 180_000)
  }

  private onData (c: Buffer): void {
    if (this.closed) return
    this.bytes.in += c.length
    this.reader.push(c)
    this.drain()
  }

  private drain (): void {
    try {
      for (let f = this.reader.next(); f !== null && !this.closed; f = this.reader.next()) {
        this.armIdle()
        if (f.length === 0) continue
        const id = f[0]
        if (id === MSG.extended) {
          if (f.length < 2) throw new ProtocolError('empty extended message')
          const ext = f[1]
          const payload = f.subarray(2)
          if (ext === 0) {
            this.remoteExt = decodeExtHandshake(payload)
            this.emit('extHandshake', this.remoteExt)
          } else {
            this.emit('extended', ext, payload)
          }
        } else {
          this.emit('message', id, f.subarray(1))
        }
      }
    } catch (err) {
      if (!(err instanceof BbmeshError)) throw err
      this.close(`protocol error: ${err.message}`)
    }
  }

  private write (b: Buffer): void {
    if (this.closed) return
    this.lastSent = Date.now()
    this.bytes.out += b.length
    this.sock.write(b)
  }

  sendExtHandshake (dict: Record<string, EncodableValue>): void {
    this.write(frame(MSG.extended, Buffer.concat([Buffer.from([0]), encode(dict)])))
  }

  sendExtended (remoteId: number, payload: Uint8Array): void {
    if (remoteId <= 0 || remoteId > 255) throw new RangeError('extended message id must be 1..255')
    const body = Buffer.allocUnsafe(1 + payload.length)
    body[0] = remoteId
    body.set(payload, 1)
    this.write(frame(MSG.extended, body))
  }

  sendMessage (id: number, payload?: Uint8Array): void {
    this.write(frame(id, payload))
  }

  get isClosed (): boolean { return this.closed }

  close (reason = 'closed'): void {
    if (this.closed) return
    this.closed = true
    if (this.idleTimer !== null) clearTimeout(this.idleTimer)
    if (this.keepAliveTimer !== null) clearInterval(this.keepAliveTimer)
    this.sock.destroy()
    this.emit('close', reason)
    this.removeAllListeners()
  }
}

function waitConnected (sock: Socket, ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const done = (err?: Error): void => {
      clearTimeout(t)
      sock.off('connect', onConnect); sock.off('error', onError)
      signal?.removeEventListener('abort', onAbort)
      if (err === undefined) resolve(); else reject(err)
    }
    const onConnect = (): void => done()
    const onError = (err: Error): void => done(new NetworkError(`connect failed: ${err.message}`, { cause: err }))
    const onAbort = (): void => done(new TimeoutError('connect aborted'))
    const t = setTimeout(() => done(new TimeoutError('connect timed out')), ms)
    sock.once('connect', onConnect)
    sock.once('error', onError)
    signal?.addEventListener('abort', onAbort, { once: true })
  })
}

/** Read exactly n bytes (the handshake) under a deadline; later bytes stay in the reader. */
function readRaw (sock: Socket, reader: FrameReader, n: number, ms: number, signal?: AbortSignal): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const finish = (err: Error | null, b?: Buffer): void => {
      clearTimeout(t)
      sock.off('data', onData); sock.off('error', onError); sock.off('close', onClose)
      signal?.removeEventListener('abort', onAbort)
      if (err !== null) reject(err); else resolve(b as Buffer)
    }
    const onData = (c: Buffer): void => {
      reader.push(c)
      if (reader.bufferedBytes > n + LIMITS.wireMaxFrame * 2) { finish(new ProtocolError('peer sent too much before the handshake')); return }
      const b = reader.takeRaw(n)
      if (b !== null) {
        // Stop reading until the connection object attaches its own listener.
        sock.pause()
        setImmediate(() => sock.resume())
        finish(null, b)
      }
    }
    const onError = (err: Error): void => finish(new NetworkError(`connection failed: ${err.message}`, { cause: err }))
    const onClose = (): void => finish(new NetworkError('peer closed the connection during the handshake'))
    const onAbort = (): void => finish(new TimeoutError('handshake aborted'))
    const t = setTimeout(() => finish(new TimeoutError('handshake timed out')), ms)
    sock.on('data', onData)
    sock.once('error', onError)
    sock.once('close', onClose)
    signal?.addEventListener('abort', onAbort, { once: true })
  })
}
