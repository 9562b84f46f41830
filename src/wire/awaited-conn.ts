// One outgoing peer-wire TCP connection read by awaiting frames, for straight-line protocol
// code (the BEP-9 fetch, the piece downloader): every wait ends on data, on the socket
// closing, on the caller's signal (a deadline becomes a TimeoutError naming `what`), or on
// fail() (e.g. a stall check). Reads go through the capped FrameReader; a peer that gets more
// than a few frames ahead of us is cut.

import { connect, type Socket } from 'node:net'
import { FrameReader } from '../wire/frame-reader.js'
import { LIMITS } from '../core/limits.js'
import { AbortedError, NetworkError, ProtocolError, TimeoutError } from '../core/errors.js'
import { abortReason } from '../core/deadline.js'
import type { PeerAddr } from '../core/compact.js'

export class AwaitedConn {
  private readonly sock: Socket
  private readonly reader = new FrameReader(LIMITS.wireMaxFrame)
  private wake: (() => void) | null = null
  private error: Error | null = null
  private ended = false
  private closed = false
  private readonly closedPromise: Promise<void>
  private isConnected = false

  /** `what` names the work in a deadline error ("metadata fetch deadline passed"). */
  constructor (readonly peer: PeerAddr, private readonly signal: AbortSignal, private readonly what = 'connection') {
    this.sock = connect({ host: peer.host, port: peer.port, noDelay: true })
    this.closedPromise = new Promise((resolve) => this.sock.once('close', () => { this.closed = true; resolve() }))
    this.sock.on('data', (c: Buffer) => {
      this.reader.push(c)
      // We read every frame as soon as it is here, so more than a few frames buffered means
      // a peer sending faster than any request of ours could explain.
      if (this.reader.bufferedBytes > LIMITS.wireMaxFrame * 4) this.fail(new ProtocolError('peer sent more than it was asked for'))
      this.poke()
    })
    this.sock.on('connect', () => { this.isConnected = true; this.poke() })
    this.sock.on('error', (err) => this.fail(new NetworkError(`connection to ${peer.host}:${peer.port} failed: ${err.message}`, { cause: err })))
    this.sock.on('close', () => { this.ended = true; this.poke() })
    if (signal.aborted) this.onAbort()
    else signal.addEventListener('abort', this.onAbort, { once: true })
  }

  private readonly onAbort = (): void => {
    const r = abortReason(this.signal)
    this.fail(r instanceof TimeoutError ? new TimeoutError(`${this.what} deadline passed`, { cause: r }) : r)
  }

  /** End every wait with `err` (the first failure wins). */
  fail (err: Error): void {
    if (this.error === null) this.error = err
    this.poke()
  }

  private poke (): void {
    const w = this.wake
    this.wake = null
    w?.()
  }

  private async waitData (): Promise<void> {
    if (this.error !== null) throw this.error
    if (this.ended) throw new NetworkError('peer closed the connection')
    await new Promise<void>((resolve) => { this.wake = resolve })
    if (this.error !== null) throw this.error
  }

  async connected (): Promise<void> {
    while (!this.isConnected) await this.waitData()
  }

  write (b: Buffer): void {
    if (this.error === null && !this.ended) this.sock.write(b)
  }

  async raw (n: number): Promise<Buffer> {
    for (;;) {
      if (this.error !== null) throw this.error
      const b = this.reader.takeRaw(n)
      if (b !== null) return b
      await this.waitData()
    }
  }

  /** The next frame body; an empty Buffer is a keep-alive. */
  async frame (): Promise<Buffer> {
    for (;;) {
      // A failed connection yields no more frames even if some are buffered.
      if (this.error !== null) throw this.error
      const f = this.reader.next()
      if (f !== null) return f
      await this.waitData()
    }
  }

  /** Destroy the socket and wait until it is closed. Idempotent. */
  async destroy (): Promise<void> {
    this.signal.removeEventListener('abort', this.onAbort)
    if (this.error === null) this.error = new AbortedError('connection closed')
    this.sock.destroy()
    if (!this.closed) await this.closedPromise
  }
}
