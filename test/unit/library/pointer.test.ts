// The BEP-46 pointer codec (src/library/pointer.ts) and its seq file (pointer-store.ts).

import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, writeFileSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { tmpdir } from 'node:os'
import { randomBytes } from 'node:crypto'
import { encode } from '../../../src/core/bencode.js'
import { LimitError, PointerError, SchemaError } from '../../../src/core/errors.js'
import { generatePublisherKey } from '../../../src/identity/publisher-key.js'
import {
  decodePointerValue, ed25519Verify, encodePointerValue, nextSeq, openPointer, pointerTarget, signableBuffer, signMutable, signPointer, verifyMutable,
} from '../../../src/library/pointer.js'
import { PointerStore, POINTER_STORE_FILE } from '../../../src/library/pointer-store.js'

// BEP-44 "Test vectors", mutable items: value "Hello World!", seq 1, this key.
const BEP44_PK = Buffer.from('77ff84905a91936367c01360803104f92432fcd904a43511876df5cdf3e7e548', 'hex')
const BEP44_V = encode('Hello World!')
const VEC = [
  { salt: undefined, target: '4a533d47ec9c7d95b1ad75f576cffc641853b750', sig: '305ac8aeb6c9c151fa120f120ea2cfb923564e11552d06a5d856091e5e853cff1260d3f39e4999684aa92eb73ffd136e6f4f3ecbfda0ce53a1608ecd7ae21f01', signable: '3:seqi1e1:v12:Hello World!' },
  { salt: 'foobar', target: '411eba73b6f087ca51a3795d9c8c938d365e32c1', sig: '6834284b6b24c3204eb2fea824d82f88883a3d95e8b4a21b8c0ded553d17d17ddf9a8a7104b1258f30bed3787e6cb896fca78c58f8e03b5f18f14951a87d9a08', signable: '4:salt6:foobar3:seqi1e1:v12:Hello World!' },
]

for (const vec of VEC) {
  test(`BEP-44 test vector ${vec.salt === undefined ? '1 (no salt)' : '2 (salt "foobar")'}: signable buffer, target and the documented signature verify`, () => {
    assert.equal(signableBuffer(1, BEP44_V, vec.salt).toString('latin1'), vec.signable)
    assert.equal(pointerTarget(BEP44_PK, vec.salt).toString('hex'), vec.target)
    const item = { k: BEP44_PK, ...(vec.salt !== undefined ? { salt: Buffer.from(vec.salt) } : {}), seq: 1, v: BEP44_V, sig: Buffer.from(vec.sig, 'hex') }
    verifyMutable(item, { publicKey: BEP44_PK, salt: vec.salt })
    // The same signature under another seq or value fails.
    assert.throws(() => verifyMutable({ ...item, seq: 2 }, { publicKey: BEP44_PK, salt: vec.salt }), (e: unknown) => e instanceof PointerError && e.reason === 'signature')
  })
}

test('BEP-46 test vectors: magnet key (and salt 6e) to target ID', () => {
  const pk = Buffer.from('8543d3e6115f0f98c944077a4493dcd543e49c739fd998550a1f614ab36ed63e', 'hex')
  assert.equal(pointerTarget(pk).toString('hex'), 'cc3f9d90b572172053626f9980ce261a850d050b')
  assert.equal(pointerTarget(pk, Buffer.from('6e', 'hex')).toString('hex'), '59ee7c2cb9b4f7eb1986ee2d18fd2fdb8a56554f')
})

test('pointer value is { ih: <20 bytes> }; other lengths and shapes are SchemaErrors', () => {
  const ih = randomBytes(20)
  const v = encodePointerValue(ih)
  assert.equal(v.toString('latin1'), `d2:ih20:${ih.toString('latin1')}e`)
  assert.deepEqual(decodePointerValue(v), ih)
  assert.throws(() => encodePointerValue(randomBytes(32)), SchemaError)
  assert.throws(() => decodePointerValue(encode({ ih: randomBytes(32) })), SchemaError)
  assert.throws(() => decodePointerValue(encode('not a dict')), SchemaError)
  assert.throws(() => decodePointerValue(Buffer.from('d2:ih')), SchemaError)
  // Unknown keys beside ih are ignored.
  assert.deepEqual(decodePointerValue(encode({ ih, x: 1 })), ih)
})

test('sign and open a pointer, with and without salt; ed25519Verify never throws', () => {
  const key = generatePublisherKey()
  const ih = randomBytes(20)
  for (const salt of [undefined, 'catalog', Buffer.alloc(64, 7)]) {
    const item = signPointer(key, ih, 5, salt)
    assert.deepEqual(openPointer(item, { publicKey: key.publicKey, salt }), { ih, seq: 5 })
  }
  assert.equal(ed25519Verify(Buffer.alloc(64), Buffer.from('x'), Buffer.alloc(31)), false)
  assert.equal(ed25519Verify(Buffer.alloc(63), Buffer.from('x'), key.publicKey), false)
  assert.equal(ed25519Verify(Buffer.alloc(64), Buffer.from('x'), Buffer.alloc(32, 0xff)), false)
})

test('tampered signature, value, seq or salt, and another key: each refused with a PointerError', () => {
  const key = generatePublisherKey()
  const other = generatePublisherKey()
  const item = signPointer(key, randomBytes(20), 3, 'cat')
  const exp = { publicKey: key.publicKey, salt: 'cat' }
  const sig = Buffer.from(item.sig); sig[10] ^= 1
  const isReason = (r: string) => (e: unknown) => e instanceof PointerError && e.reason === r && /pointer|item/.test(e.message)
  assert.throws(() => verifyMutable({ ...item, sig }, exp), isReason('signature'))
  assert.throws(() => verifyMutable({ ...item, v: encodePointerValue(randomBytes(20)) }, exp), isReason('signature'))
  assert.throws(() => verifyMutable({ ...item, seq: 4 }, exp), isReason('signature'))
  // A salt changed in the item: no longer the item asked for.
  assert.throws(() => verifyMutable({ ...item, salt: Buffer.from('dog') }, exp), isReason('target'))
  // Same salt asked for as the tampered item claims: the signature fails.
  assert.throws(() => verifyMutable({ ...item, salt: Buffer.from('dog') }, { publicKey: key.publicKey, salt: 'dog' }), isReason('signature'))
  // Someone else's key, validly signed by them.
  const forged = signPointer(other, randomBytes(20), 9, 'cat')
  assert.throws(() => verifyMutable(forged, exp), isReason('target'))
  // ...and claiming our key with their signature.
  assert.throws(() => verifyMutable({ ...forged, k: key.publicKey }, exp), isReason('signature'))
})

test('caps are errors, not truncations: v over 1000 bytes, salt over 64 bytes; bad seq', () => {
  const key = generatePublisherKey()
  const v1000 = encode(Buffer.alloc(996))
  assert.equal(v1000.length, 1000)
  signMutable(key, v1000, 1)
  const v1001 = encode(Buffer.alloc(997))
  assert.throws(() => signMutable(key, v1001, 1), (e: unknown) => e instanceof LimitError && /1000/.test(e.message))
  assert.throws(() => signableBuffer(1, v1001), LimitError)
  assert.throws(() => decodePointerValue(v1001), LimitError)
  signPointer(key, randomBytes(20), 1, Buffer.alloc(64))
  assert.throws(() => signPointer(key, randomBytes(20), 1, Buffer.alloc(65)), (e: unknown) => e instanceof LimitError && /64/.test(e.message))
  assert.throws(() => pointerTarget(key.publicKey, 'x'.repeat(65)), LimitError)
  for (const seq of [-1, 1.5, Number.MAX_SAFE_INTEGER + 1, NaN]) assert.throws(() => signPointer(key, randomBytes(20), seq), SchemaError)
})

test('nextSeq: one past the highest known, 1 at first; exhausted seq is a LimitError', () => {
  assert.equal(nextSeq(), 1)
  assert.equal(nextSeq(undefined, undefined), 1)
  assert.equal(nextSeq(4, 7), 8)
  assert.equal(nextSeq(9, 2), 10)
  assert.throws(() => nextSeq(Number.MAX_SAFE_INTEGER), LimitError)
})

test('seq store: lower seq refused, same seq accepted, restart keeps both sides, salts apart', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'bbmesh-pointer-'))
  t.after(() => rmSync(dir, { recursive: true, force: true }))
  const pk = generatePublisherKey().publicKey
  const s1 = PointerStore.open(dir)
  assert.equal(s1.seen(pk), undefined)
  s1.recordSeen(pk, undefined, 5)
  s1.recordSeen(pk, undefined, 5)
  s1.recordSeen(pk, 'cat', 2)
  s1.recordPublished(pk, 'cat', 7)
  assert.throws(() => s1.recordSeen(pk, undefined, 4), (e: unknown) => e instanceof PointerError && e.reason === 'stale' && /seq 4/.test(e.message) && /seq 5/.test(e.message))
  const s2 = PointerStore.open(dir)
  assert.equal(s2.seen(pk), 5)
  assert.equal(s2.seen(pk, 'cat'), 2)
  assert.equal(s2.published(pk, 'cat'), 7)
  assert.equal(s2.published(pk), undefined)
  assert.throws(() => s2.checkSeen(pk, undefined, 1), (e: unknown) => e instanceof PointerError && e.reason === 'stale')
  s2.recordSeen(pk, undefined, 6)
  assert.equal(PointerStore.open(dir).seen(pk), 6)
  const text = readFileSync(join(dir, POINTER_STORE_FILE), 'utf8')
  assert.equal(JSON.parse(text).format, 'bbmesh-pointer-seq')
})

test('seq store: a damaged file is a clear PointerError, never a silent reset', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'bbmesh-pointer-'))
  t.after(() => rmSync(dir, { recursive: true, force: true }))
  const path = join(dir, POINTER_STORE_FILE)
  const good = { format: 'bbmesh-pointer-seq', version: 1, published: {}, seen: {} }
  for (const body of ['{"format":', '[]', JSON.stringify({ ...good, version: 2 }), JSON.stringify({ ...good, extra: 1 }),
    JSON.stringify({ ...good, seen: { ['a'.repeat(64) + '/']: -1 } }), JSON.stringify({ ...good, seen: { 'zz/': 1 } })]) {
    writeFileSync(path, body)
    assert.throws(() => PointerStore.open(dir), (e: unknown) => e instanceof PointerError && e.reason === 'store-corrupt' && e.message.includes(path))
  }
  writeFileSync(path, JSON.stringify({ ...good, seen: { ['a'.repeat(64) + '/']: 3 } }))
  assert.equal(PointerStore.open(dir).seen(Buffer.alloc(32, 0xaa)), 3)
})
