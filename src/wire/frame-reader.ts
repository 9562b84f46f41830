// Splits a peer-wire byte stream into length-prefixed frames with a hard cap, buffering by
// chunk list (no quadratic concatenation: one copy per frame at most). A lying length is
// refused as soon as the 4-byte prefix is read, before any of its body is buffered.

import { ProtocolError } from '../core/errors.js'

const EMPTY = Buffer.alloc(0)

export class FrameReader {
  private chunks: Buffer[] = []
  /** Index of the first unread chunk: Array#shift() on a long list is O(n), so 64k one-byte
   *  chunks made the final consume quadratic (seconds of CPU). Compacted once half is read. */
  private head = 0
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
    const first = this.chunks[this.head]
    if (first.length >= 4) return first.readUInt32BE(0)
    const head = Buffer.alloc(4)
    let o = 0
    for (let i = this.head; o < 4; i++) {
      const c = this.chunks[i]
      const n = Math.min(4 - o, c.length)
      c.copy(head, o, 0, n)
      o += n
    }
    return head.readUInt32BE(0)
  }

  private dropFirst (): void {
    this.chunks[this.head] = EMPTY // release the read chunk now, not at compaction
    this.head++
    if (this.head === this.chunks.length) {
      this.chunks = []
      this.head = 0
    } else if (this.head >= 1024 && this.head * 2 >= this.chunks.length) {
      this.chunks = this.chunks.slice(this.head)
      this.head = 0
    }
  }

  private consume (n: number): Buffer {
    this.buffered -= n
    const first = this.chunks[this.head]
    if (first.length === n) { this.dropFirst(); return first }
    if (first.length > n) { this.chunks[this.head] = first.subarray(n); return first.subarray(0, n) }
    const out = Buffer.allocUnsafe(n)
    let o = 0
    while (o < n) {
      const c = this.chunks[this.head]
      const k = Math.min(n - o, c.length)
      c.copy(out, o, 0, k)
      o += k
      if (k === c.length) this.dropFirst()
      else this.chunks[this.head] = c.subarray(k)
    }
    return out
  }
}
