import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import { FrameReader } from '../../src/wire/frame-reader.js'
import { decodeHandshake, encodeHandshake, HANDSHAKE_LEN } from '../../src/wire/handshake.js'
import { decodeExtHandshake, decodeMetadataMessage, extendedFrame, frame, MSG } from '../../src/wire/messages.js'
import { encode, type EncodableValue } from '../../src/core/bencode.js'
import { BbmeshError } from '../../src/core/errors.js'
import { key20, readFixture } from '../helpers/krpc.js'
import { prng, mutate, heapUsed } from './mutate.js'

const SEED = 0x00b1_7e55
const MAX_FRAME = 16 * 1024
let total = 0
const started = Date.now()
after(() => { console.log(`# wire fuzz: ${total} inputs in ${((Date.now() - started) / 1000).toFixed(1)} s`) })

/** Run fn; anything thrown must be a BbmeshError. Returns false when it threw. */
function tolerate (fn: () => void, where: string, count = true): boolean {
  if (count) total++
  try {
    fn()
    return true
  } catch (err) {
    if (!(err instanceof BbmeshError)) throw new Error(`${where}: ${String(err)}`, { cause: err })
    return false
  }
}

const HS = encodeHandshake(key20('ih'), key20('peer'), { dht: true })
const EXT = encode({ m: { ut_metadata: 3, ut_pex: 1 }, metadata_size: 31337, v: 'client', reqq: 250, p: 6881 })
const MSGS = [encode({ msg_type: 0, piece: 1 }), Buffer.concat([encode({ msg_type: 1, piece: 0, total_size: 5 }), Buffer.from('hello')]), encode({ msg_type: 2, piece: 3 })]
const WIRE_FIXTURES = ['ext-handshake-bad-ids', 'metadata-trailing', 'metadata-negative-piece', 'metadata-missing-piece'].map((n) => readFixture('wire', `${n}.bin`))
const PAYLOADS = [EXT, ...MSGS, ...WIRE_FIXTURES]

function message (rnd: () => number): Buffer {
  const k = Math.floor(rnd() * 8)
  const pick = <T>(xs: T[]): T => xs[Math.floor(rnd() * xs.length)]
  switch (k) {
    case 0: return Buffer.alloc(4) // keep-alive
    case 1: return frame(Math.floor(rnd() * 25), Buffer.alloc(Math.floor(rnd() * 64), Math.floor(rnd() * 256)))
    case 2: return frame(MSG.extended, Buffer.concat([Buffer.from([0]), rnd() < 0.5 ? EXT : mutate(pick(PAYLOADS), rnd)]))
    case 3: return frame(MSG.extended, Buffer.concat([Buffer.from([1 + Math.floor(rnd() * 5)]), rnd() < 0.3 ? pick(MSGS) : mutate(pick(PAYLOADS), rnd)]))
    case 4: { const b = Buffer.alloc(4); b.writeUInt32BE(rnd() < 0.5 ? 0xffffffff : MAX_FRAME + 1 + Math.floor(rnd() * 100), 0); return b } // lying length
    case 5: return Buffer.from(Array.from({ length: Math.floor(rnd() * 12) }, () => Math.floor(rnd() * 256))) // garbage
    case 6: return mutate(extendedFrame(3, { msg_type: 1, piece: 0, total_size: 5 }, Buffer.from('hello')), rnd)
    default: return frame(MSG.extended, Buffer.concat([Buffer.from([0]), Buffer.alloc(Math.floor(rnd() * 2 * MAX_FRAME))]))
  }
}

function streamRound (seed: number, streams: number): { frames: number, refused: number } {
  const rnd = prng(seed)
  let frames = 0
  let refused = 0
  for (let s = 0; s < streams; s++) {
    const parts: Buffer[] = [rnd() < 0.8 ? HS : mutate(HS, rnd)]
    const n = 1 + Math.floor(rnd() * 20)
    for (let i = 0; i < n; i++) parts.push(message(rnd))
    const all = Buffer.concat(parts)
    const reader = new FrameReader(MAX_FRAME)
    let handshaken = false
    let dead = false
    for (let o = 0; o < all.length && !dead;) {
      const len = rnd() < 0.2 ? 1 : 1 + Math.floor(rnd() * (rnd() < 0.1 ? 20_000 : 200))
      reader.push(all.subarray(o, o + len))
      o += len
      if (!handshaken) {
        const hb = reader.takeRaw(HANDSHAKE_LEN)
        if (hb === null) continue
        handshaken = true
        if (!tolerate(() => decodeHandshake(hb), `stream ${s} handshake`)) { dead = true; refused++; break }
      }
      for (;;) {
        let f: Buffer | null = null
        if (!tolerate(() => { f = reader.next() }, `stream ${s} frame`, false)) { dead = true; refused++; break }
        if (f === null) break
        const body: Buffer = f
        frames++
        total++
        if (body.length >= 2 && body[0] === MSG.extended) {
          const p = body.subarray(2)
          if (body[1] === 0) tolerate(() => decodeExtHandshake(p), `stream ${s} ext handshake`)
          else tolerate(() => decodeMetadataMessage(p), `stream ${s} ut_metadata`)
        }
      }
      // Drained: what stays buffered is less than one frame at the cap.
      if (!dead) assert.ok(reader.bufferedBytes < 4 + MAX_FRAME, `stream ${s}: ${reader.bufferedBytes} bytes held`)
    }
  }
  return { frames, refused }
}

test('random streams through FrameReader and the decoders only ever throw BbmeshError; no heap growth', () => {
  const first = streamRound(SEED, 4000)
  console.log(`# wire fuzz streams: ${JSON.stringify(first)}`)
  assert.ok(first.frames > 10_000, `only ${first.frames} frames decoded`)
  assert.ok(first.refused > 100, 'lying lengths and bad handshakes were refused')
  const before = heapUsed()
  const second = streamRound(SEED, 4000)
  const grown = heapUsed() - before
  assert.deepEqual(second, first, 'same seed, same run')
  assert.ok(grown < 8 * 1024 * 1024, `heap grew ${grown} bytes over a second identical round`)
})

const keys = ['m', 'metadata_size', 'v', 'reqq', 'p', 'msg_type', 'piece', 'total_size', 'ut_metadata', 'ut_pex', '__proto__', 'yourip']
const { value } = fc.letrec<{ value: EncodableValue }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', maxDepth: 5 },
    fc.oneof(fc.integer({ min: -3, max: 300 }), fc.maxSafeInteger()),
    fc.uint8Array({ maxLength: 30 }),
    fc.array(tie('value'), { maxLength: 4 }),
    fc.array(fc.tuple(fc.oneof(fc.constantFrom(...keys), fc.string({ maxLength: 4 })), tie('value')), { maxLength: 6 })
      .map((es) => { const d: Record<string, EncodableValue> = Object.create(null); for (const [k, v] of es) d[k] = v; return d }),
  ),
}))

test('decodeExtHandshake and decodeMetadataMessage on generated values, with trailers, only throw BbmeshError', () => {
  fc.assert(fc.property(value, fc.uint8Array({ maxLength: 40 }), (v, trailer) => {
    const e = encode(v)
    tolerate(() => decodeExtHandshake(e), 'ext')
    tolerate(() => decodeMetadataMessage(e), 'meta')
    const t = Buffer.concat([e, trailer])
    tolerate(() => decodeExtHandshake(t), 'ext+trailer')
    const m = decodeMetadataMessageOr(t)
    if (m !== null && m.msgType === 1) assert.ok(m.data !== undefined && m.data.length === trailer.length)
  }), { seed: SEED, numRuns: 12_000 })
})

function decodeMetadataMessageOr (b: Buffer): ReturnType<typeof decodeMetadataMessage> | null {
  let out: ReturnType<typeof decodeMetadataMessage> | null = null
  tolerate(() => { out = decodeMetadataMessage(b) }, 'meta+trailer')
  return out
}

test('decodeHandshake on mutated and random 68-byte inputs only throws ProtocolError', () => {
  const rnd = prng(SEED + 1)
  let ok = 0
  for (let i = 0; i < 10_000; i++) {
    const b = i % 4 === 0 ? Buffer.from(Array.from({ length: Math.floor(rnd() * 80) }, () => Math.floor(rnd() * 256))) : mutate(HS, rnd)
    if (tolerate(() => decodeHandshake(b), `handshake ${i}`)) ok++
  }
  assert.ok(ok > 1000, 'mutations that spare the protocol string still decode')
})
