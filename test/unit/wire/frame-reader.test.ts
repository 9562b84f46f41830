import { test } from 'node:test'
import assert from 'node:assert/strict'
import { FrameReader } from '../../../src/wire/frame-reader.js'
import { frame, extendedFrame, MSG } from '../../../src/wire/messages.js'
import { encodeHandshake, HANDSHAKE_LEN } from '../../../src/wire/handshake.js'
import { ProtocolError } from '../../../src/core/errors.js'
import { LIMITS } from '../../../src/core/limits.js'
import { readFixture, key20 } from '../../helpers/krpc.js'

const KEEP_ALIVE = Buffer.alloc(4)

function frames (): { stream: Buffer, bodies: Buffer[] } {
  const parts = [
    frame(MSG.interested),
    KEEP_ALIVE,
    extendedFrame(0, { m: { ut_metadata: 3 }, metadata_size: 31337, v: 'x'.repeat(300) }),
    frame(MSG.have, Buffer.from([0, 0, 0, 7])),
    KEEP_ALIVE,
    frame(MSG.bitfield, Buffer.alloc(3, 0xff)),
  ]
  return { stream: Buffer.concat(parts), bodies: parts.map((p) => p.subarray(4)) }
}

function drain (r: FrameReader, out: Buffer[]): void {
  for (let f = r.next(); f !== null; f = r.next()) out.push(f)
}

test('splitting the stream in two at every byte boundary gives the same frames', () => {
  const { stream, bodies } = frames()
  for (let k = 0; k <= stream.length; k++) {
    const r = new FrameReader(LIMITS.wireMaxFrame)
    const out: Buffer[] = []
    r.push(stream.subarray(0, k))
    drain(r, out)
    r.push(stream.subarray(k))
    drain(r, out)
    assert.deepEqual(out, bodies, `split at ${k}`)
    assert.equal(r.bufferedBytes, 0)
  }
})

test('splitting in three at many boundary pairs, and byte by byte, gives the same frames', () => {
  const { stream, bodies } = frames()
  for (let i = 0; i <= stream.length; i += 7) {
    for (let j = i; j <= stream.length; j += 5) {
      const r = new FrameReader(LIMITS.wireMaxFrame)
      const out: Buffer[] = []
      for (const c of [stream.subarray(0, i), stream.subarray(i, j), stream.subarray(j)]) { r.push(c); drain(r, out) }
      assert.deepEqual(out, bodies, `split at ${i}, ${j}`)
    }
  }
  const r = new FrameReader(LIMITS.wireMaxFrame)
  const out: Buffer[] = []
  for (let i = 0; i < stream.length; i++) { r.push(stream.subarray(i, i + 1)); drain(r, out) }
  assert.deepEqual(out, bodies)
})

test('a keep-alive is an empty frame, not "need more"', () => {
  const r = new FrameReader(16)
  r.push(KEEP_ALIVE)
  const f = r.next()
  assert.ok(f !== null)
  assert.equal(f.length, 0)
  assert.equal(r.next(), null)
})

test('the raw handshake, then frames, at every split point', () => {
  const hs = encodeHandshake(key20('ih'), key20('peer'))
  const { stream, bodies } = frames()
  const all = Buffer.concat([hs, stream])
  for (let k = 0; k <= all.length; k += 3) {
    const r = new FrameReader(LIMITS.wireMaxFrame)
    r.push(all.subarray(0, k))
    let got = r.takeRaw(HANDSHAKE_LEN)
    if (got === null) { r.push(all.subarray(k)); got = r.takeRaw(HANDSHAKE_LEN) } else r.push(all.subarray(k))
    assert.deepEqual(got, hs)
    const out: Buffer[] = []
    drain(r, out)
    assert.deepEqual(out, bodies)
  }
})

test('a frame over the cap throws ProtocolError from its prefix alone, before the body is buffered', () => {
  const fx = readFixture('wire', 'frame-4gb-prefix.bin')
  const r = new FrameReader(LIMITS.wireMaxFrame)
  r.push(fx)
  assert.throws(() => r.next(), ProtocolError)
  assert.equal(r.bufferedBytes, fx.length, 'nothing beyond what arrived is held')

  const cap = 1024
  const at = new FrameReader(cap)
  const ok = Buffer.alloc(4 + cap, 1); ok.writeUInt32BE(cap, 0)
  at.push(ok)
  assert.equal(at.next()?.length, cap)

  const over = new FrameReader(cap)
  const p = Buffer.alloc(4); p.writeUInt32BE(cap + 1, 0)
  // The prefix arrives split: nothing is decided on 3 bytes, the 4th is enough to refuse.
  over.push(p.subarray(0, 1)); over.push(p.subarray(1, 3))
  assert.equal(over.next(), null)
  over.push(p.subarray(3))
  assert.throws(() => over.next(), (e: unknown) => e instanceof ProtocolError && /exceeds cap/.test(e.message))
})

test('takeRaw waits for enough bytes', () => {
  const r = new FrameReader(16)
  r.push(Buffer.from([1, 2, 3]))
  assert.equal(r.takeRaw(4), null)
  r.push(Buffer.from([4, 5]))
  assert.deepEqual(r.takeRaw(4), Buffer.from([1, 2, 3, 4]))
  assert.equal(r.bufferedBytes, 1)
})

test('no quadratic work: a 64 KiB frame in one-byte pushes copies each byte about once', () => {
  // Count the bytes copied and the array shifts while a frame arrives one byte at a time
  // (what a hostile peer with tiny TCP segments does). bittorrent-protocol concatenated on
  // every push; an Array#shift per chunk is quadratic too (64k shifts of a 64k-long list).
  const n = LIMITS.wireMaxFrame
  const body = Buffer.alloc(n, 7)
  const prefix = Buffer.alloc(4); prefix.writeUInt32BE(n, 0)
  const all = Buffer.concat([prefix, body])
  let copied = 0
  let shifts = 0
  const origCopy = Buffer.prototype.copy
  const origConcat = Buffer.concat
  const origSet = Uint8Array.prototype.set
  const origShift = Array.prototype.shift
  Buffer.prototype.copy = function (this: Buffer, target: Uint8Array, ts?: number, ss?: number, se?: number) {
    const n = origCopy.call(this, target, ts, ss, se)
    copied += n
    return n
  }
  Buffer.concat = function (list: readonly Uint8Array[], len?: number) {
    const out = origConcat.call(Buffer, list, len)
    copied += out.length
    return out
  } as typeof Buffer.concat
  Uint8Array.prototype.set = function (this: Uint8Array, src: ArrayLike<number>, off?: number) {
    copied += src.length
    return origSet.call(this, src, off)
  }
  // eslint-disable-next-line no-extend-native
  Array.prototype.shift = function <T>(this: T[]) { shifts++; return origShift.call(this) as T | undefined }
  let got: Buffer | null = null
  let pushes = 0
  try {
    const r = new FrameReader(LIMITS.wireMaxFrame)
    for (let i = 0; i < all.length; i++) {
      r.push(all.subarray(i, i + 1))
      pushes++
      const f = r.next()
      if (f !== null) got = f
    }
  } finally {
    Buffer.prototype.copy = origCopy
    Buffer.concat = origConcat
    Uint8Array.prototype.set = origSet
    Array.prototype.shift = origShift // eslint-disable-line no-extend-native
  }
  assert.ok(got !== null)
  assert.equal(got.length, n)
  assert.ok(got.equals(body))
  assert.equal(pushes, n + 4)
  // One copy of the body, plus at most the 4-byte prefix re-read per push.
  assert.ok(copied <= n + 4 * pushes, `copied ${copied} bytes for a ${n}-byte frame`)
  assert.ok(shifts <= 4, `${shifts} array shifts for one frame`)
})

test('10k one-byte pushes of many small frames complete and keep the order', () => {
  const parts: Buffer[] = []
  for (let i = 0; i < 2000; i++) parts.push(frame(MSG.have, Buffer.from([0, 0, i >> 8, i & 255])))
  const all = Buffer.concat(parts)
  assert.equal(all.length, 18_000)
  const r = new FrameReader(64)
  const out: Buffer[] = []
  for (let i = 0; i < all.length; i++) { r.push(all.subarray(i, i + 1)); drain(r, out) }
  assert.equal(out.length, 2000)
  out.forEach((f, i) => assert.equal(f.readUInt16BE(3), i))
  assert.equal(r.bufferedBytes, 0)
})
