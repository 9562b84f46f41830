// A raw peer-wire client for the seeder tests: a TCP connection whose incoming bytes are split
// into the handshake (`hs`) and frames, read by awaiting the next frame of a given id.

import assert from 'node:assert/strict'
import { connect, type Socket } from 'node:net'
import { randomBytes } from 'node:crypto'
import { FrameReader } from '../../src/wire/frame-reader.js'
import { encodeHandshake, HANDSHAKE_LEN } from '../../src/wire/handshake.js'
import { MSG } from '../../src/wire/messages.js'

export class RawPeer {
  private readonly reader = new FrameReader(1 << 20)
  private readonly frames: Buffer[] = []
  private waiter: (() => void) | null = null
  closed = false
  hs: Buffer | null = null

  constructor (readonly s: Socket) {
    s.on('data', (c: Buffer) => {
      this.reader.push(c)
      if (this.hs === null) {
        this.hs = this.reader.takeRaw(HANDSHAKE_LEN)
        if (this.hs === null) return
      }
      for (let f = this.reader.next(); f !== null; f = this.reader.next()) this.frames.push(f)
      this.waiter?.()
    })
    s.on('close', () => { this.closed = true; this.waiter?.() })
    s.on('error', () => {})
  }

  static async open (port: number): Promise<RawPeer> {
    const s = connect({ host: '127.0.0.1', port })
    await new Promise<void>((resolve, reject) => { s.once('connect', resolve); s.once('error', reject) })
    return new RawPeer(s)
  }

  /** Connect, send our handshake for `infohash` (v2 bit on request) and wait for the seeder's bitfield. */
  static async handshake (port: number, infohash: Uint8Array, opts: { v2?: boolean } = {}): Promise<RawPeer> {
    const p = await RawPeer.open(port)
    p.s.write(encodeHandshake(infohash, randomBytes(20), opts))
    assert.ok(await p.next(MSG.bitfield), 'bitfield after the handshake')
    return p
  }

  /** The next frame whose id is one of `ids` (others skipped), or null once the link closed. */
  async next (...ids: number[]): Promise<Buffer | null> {
    for (;;) {
      const i = this.frames.findIndex((f) => f.length > 0 && ids.includes(f[0]))
      if (i >= 0) return this.frames.splice(i, 1)[0]
      if (this.closed) return null
      await new Promise<void>((resolve) => { this.waiter = resolve })
      this.waiter = null
    }
  }

  async untilClosed (): Promise<void> {
    while (!this.closed) await new Promise<void>((resolve) => { this.waiter = resolve })
  }
}
