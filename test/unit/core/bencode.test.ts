import { test } from 'node:test'
import assert from 'node:assert/strict'
import { decode, encode, decodePrefix, rawValueSpan, isDict, getBytes } from '../../../src/core/bencode.js'
import { DecodeError, LimitError } from '../../../src/core/errors.js'

const b = (s: string): Buffer => Buffer.from(s, 'latin1')

test('round-trips ints, strings, lists and dicts', () => {
  const v = { a: 1, b: [Buffer.from('xy'), -5, { c: Buffer.alloc(0) }], z: 0 }
  const e = encode(v)
  assert.equal(e.toString('latin1'), 'd1:ai1e1:bl2:xyi-5ed1:c0:ee1:zi0ee')
  assert.deepEqual(encode(decode(e) as never), e)
})

test('sorts dict keys by raw bytes', () => {
  assert.equal(encode({ b: 1, a: 2, '\u00ff': 3, B: 4 }).toString('latin1'), 'd1:Bi4e1:ai2e1:bi1e1:\u00ffi3ee')
})

test('a __proto__ key is an own key and shadows nothing', () => {
  const v = decode(b('d9:__proto__d1:xi1eee'))
  assert.ok(isDict(v))
  assert.equal(Object.getPrototypeOf(v), null)
  assert.ok(Object.prototype.hasOwnProperty.call(v, '__proto__'))
})

test('binary dict keys survive as latin1', () => {
  const key = Buffer.from([0xff, 0x00, 0x80])
  const enc = Buffer.concat([b('d3:'), key, b('i1ee')])
  const v = decode(enc) as Record<string, number>
  assert.equal(v[key.toString('latin1')], 1)
  assert.deepEqual(encode(v), enc)
})

for (const [name, input, Err] of [
  ['empty', '', DecodeError],
  ['unterminated list', 'l1:a', DecodeError],
  ['lying string length', '10:abc', DecodeError],
  ['leading zero int', 'i03e', DecodeError],
  ['negative zero', 'i-0e', DecodeError],
  ['empty int', 'ie', DecodeError],
  ['int too long', 'i12345678901234567890e', DecodeError],
  ['non-string dict key', 'di1ei2ee', DecodeError],
  ['duplicate key', 'd1:ai1e1:ai2ee', DecodeError],
  ['trailing bytes', 'i1exx', DecodeError],
  ['bad byte', 'x', DecodeError],
  ['string length leading zero', '01:a', DecodeError],
  ['huge string length', '99999999999:a', DecodeError],
] as const) {
  test(`rejects ${name}`, () => {
    assert.throws(() => decode(b(input)), Err)
  })
}

test('depth, size and item caps', () => {
  assert.throws(() => decode(b('l'.repeat(100) + 'e'.repeat(100)), { maxDepth: 10 }), LimitError)
  assert.throws(() => decode(b('i1e'), { maxBytes: 2 }), LimitError)
  assert.throws(() => decode(b('l' + 'i1e'.repeat(100) + 'e'), { maxItems: 50 }), LimitError)
  assert.doesNotThrow(() => decode(b('l'.repeat(10) + 'e'.repeat(10)), { maxDepth: 10 }))
})

test('decodePrefix reports the end for trailing data', () => {
  const r = decodePrefix(b('d1:ai1eeTRAILER'))
  assert.equal(r.end, 8)
})

test('rawValueSpan returns the exact bytes of a key', () => {
  const info = b('d6:lengthi5e4:name1:xe')
  const t = Buffer.concat([b('d8:announce3:abc4:info'), info, b('e')])
  const s = rawValueSpan(t, 'info')
  assert.ok(s !== null)
  assert.deepEqual(t.subarray(s.start, s.end), info)
  assert.equal(rawValueSpan(t, 'nope'), null)
})

test('getBytes reads own keys only', () => {
  const v = decode(b('d1:a1:be')) as never
  assert.deepEqual(getBytes(v, 'a'), b('b'))
  assert.equal(getBytes(v, 'constructor'), undefined)
})
