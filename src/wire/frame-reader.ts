// Splits a peer-wire byte stream into length-prefixed frames with a hard cap, buffering by
// chunk list (no quadratic concatenation: one copy per frame at most). A lying length is
// refused as soon as the 4-byte prefix is read, before any of its body is buffered.

import { ProtocolError } from '../core/errors.js'

export class FrameReader {
  private chunks: Buffer[] = []
  private buffered = 0

  constructor (readonly maxFrame: number) {}

  get bufferedBytes (): number { return this.buffered }

  push (chunk: Buffer): void {
    if (chunk.length === 0) return
    this.chunks.push(chunk)
    this.buffered += chunk.length
  }

  /** Take exactly n raw bytes (for the 68-byte handshake), or null if not yet there. */
  takeRaw (n: number): Buffer | null {
    if (this.buffered < n) return null
    return this.consume(n)
  }

  /**
   * The next complete frame body (without its length prefix), an empty Buffer for a
   * keep-alive, or null if more bytes are needed. Throws ProtocolError over the cap.
   */
  next (): Buffer | null {
    if (this.buffered < 4) return null
    const len = this.peekUInt32()
    if (len > this.maxFrame) throw new ProtocolError(`peer frame of ${len} bytes exceeds cap ${this.maxFrame}`)
    if (this.buffered < 4 + len) return null
    this.consume(4)
    return len === 0 ? Buffer.alloc(0) : this.consume(len)
  }

  private peekUInt32 (): number {
    const first = this.chunks[0]
    if (first.length >= 4) return first.readUInt32BE(0)
    const head = Buffer.alloc(4)
    let o = 0
    for (const c of this.chunks) {
      const n = Math.min(4 - o, c.length)
      c.copy(head, o, 0, n)
      o += n
      if (o === 4) break
    }
    return head.readUInt32BE(0)
  }

  private consume (n: number): Buffer {
    this.buffered -= n
    const first = this.chunks[0]
    if (first.length === n) { this.chunks.shift(); return first }
    if (first.length > n) { this.chunks[0] = first.subarray(n); return first.subarray(0, n) }
    const out = Buffer.allocUnsafe(n)
    let o = 0
    while (o < n) {
      const c = this.chunks[0]
      const k = Math.min(n - o, c.length)
      c.copy(out, o, 0, k)
      o += k
      if (k === c.length) this.chunks.shift()
      else this.chunks[0] = c.subarray(k)
    }
    return out
  }
}
