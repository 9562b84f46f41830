import { test } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync, readdirSync } from 'node:fs'
import fc from 'fast-check'
import { BbmeshError } from '../../../src/core/errors.js'
import {
  BB_AUTH_MAX_MESSAGE, computeProof, decodeAuthMessage, deriveAuthKeys, deriveDirectionKeys, encodeAuthMessage, ed25519PublicKey,
  helloSignedMessage, proofTranscript, sessionMac, verifyEd25519, verifyProof, verifySessionMac, type AuthMessage, type Transcript,
} from '../../../extensions/bb-auth.codec.js'
import { fixturePath, readFixture } from '../../helpers/krpc.js'
import { buildAuthFixtures, publisher, sha1, sha256 } from './helpers.js'

const bytes = (n: number): fc.Arbitrary<Buffer> => fc.uint8Array({ minLength: n, maxLength: n }).map((u) => Buffer.from(u))

const messageArb: fc.Arbitrary<AuthMessage> = fc.oneof(
  bytes(32).map((nonce) => ({ type: 'challenge' as const, nonce })),
  bytes(32).map((proof) => ({ type: 'proof' as const, proof })),
  bytes(16).map((mac) => ({ type: 'hello' as const, mac })),
  fc.tuple(bytes(16), bytes(32), bytes(64)).map(([mac, publicKey, signature]) => ({ type: 'hello' as const, mac, publicKey, signature })),
)

test('every message type round-trips, and every encoding fits the cap', () => {
  fc.assert(fc.property(messageArb, (m) => {
    const enc = encodeAuthMessage(m)
    assert.ok(enc.length <= BB_AUTH_MAX_MESSAGE)
    assert.deepEqual(decodeAuthMessage(enc), m)
  }), { seed: 0xb0a7, numRuns: 500 })
})

test('the wire form of each message is exactly as documented', () => {
  const n = Buffer.alloc(32, 0x11)
  assert.equal(encodeAuthMessage({ type: 'challenge', nonce: n }).toString('latin1'), `d1:n32:${n.toString('latin1')}1:ti1e1:vi1ee`)
  assert.equal(encodeAuthMessage({ type: 'proof', proof: n }).toString('latin1'), `d1:p32:${n.toString('latin1')}1:ti2ee`)
  const mac = Buffer.alloc(16, 0x22)
  assert.equal(encodeAuthMessage({ type: 'hello', mac }).toString('latin1'), `d3:mac16:${mac.toString('latin1')}1:ti3ee`)
  const big = encodeAuthMessage({ type: 'hello', mac, publicKey: Buffer.alloc(32, 1), signature: Buffer.alloc(64, 2) })
  assert.equal(big.length, 143)
  assert.ok(big.toString('latin1').startsWith('d3:mac16:'))
})

test('encode refuses wrong lengths and a pk without sig (programmer errors, not BbmeshError)', () => {
  assert.throws(() => encodeAuthMessage({ type: 'challenge', nonce: Buffer.alloc(31) }), RangeError)
  assert.throws(() => encodeAuthMessage({ type: 'proof', proof: Buffer.alloc(33) }), RangeError)
  assert.throws(() => encodeAuthMessage({ type: 'hello', mac: Buffer.alloc(16), publicKey: Buffer.alloc(32) }), RangeError)
  assert.throws(() => encodeAuthMessage({ type: 'hello', mac: Buffer.alloc(15) }), RangeError)
})

// ---------------------------------------------------------------- fixtures

const FIXTURES = buildAuthFixtures()

test('fixtures/ext holds exactly the files buildAuthFixtures() makes, byte for byte', () => {
  const onDisk = readdirSync(fixturePath('ext')).filter((f) => f.endsWith('.bin')).map((f) => f.slice(0, -4)).sort()
  assert.deepEqual(onDisk, Object.keys(FIXTURES).sort())
  for (const [name, f] of Object.entries(FIXTURES)) assert.deepEqual(readFixture('ext', `${name}.bin`), f.bytes, name)
})

test('every fixture has a README line', async () => {
  const { readFileSync } = await import('node:fs')
  const readme = readFileSync(fixturePath('README.md'), 'utf8')
  for (const name of Object.keys(FIXTURES)) assert.ok(readme.includes(`\`ext/${name}.bin\``), name)
})

for (const [name, f] of Object.entries(FIXTURES)) {
  if (f.error === null) {
    test(`good fixture ${name} decodes and re-encodes to the same bytes`, () => {
      const bin = readFixture('ext', `${name}.bin`)
      assert.deepEqual(encodeAuthMessage(decodeAuthMessage(bin)), bin)
    })
  } else {
    const Err = f.error
    test(`bad fixture ${name}: ${f.why} → ${Err.name}`, () => {
      assert.ok(existsSync(fixturePath('ext', `${name}.bin`)))
      assert.throws(() => decodeAuthMessage(readFixture('ext', `${name}.bin`)), (err: unknown) => {
        assert.ok(err instanceof Err, `${name}: got ${String(err)}`)
        assert.match((err as Error).message, /^bb_auth/)
        return true
      })
    })
  }
}

test('decoding is total: random bytes and mutated good messages throw only BbmeshError', () => {
  const good = Object.values(FIXTURES).filter((f) => f.error === null).map((f) => f.bytes)
  const mutated = fc.tuple(fc.constantFrom(...good), fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 4 }), fc.nat({ max: 8 }))
    .map(([g, edits, cut]) => {
      const m = Buffer.from(g)
      for (const [at, v] of edits) m[at % m.length] = v
      return m.subarray(0, Math.max(0, m.length - cut))
    })
  fc.assert(fc.property(fc.oneof(fc.uint8Array({ maxLength: 300 }).map((u) => Buffer.from(u)), mutated), (input) => {
    try {
      const m = decodeAuthMessage(input)
      // Whatever decodes is canonical: it encodes back to the same bytes.
      assert.deepEqual(encodeAuthMessage(m), Buffer.from(input))
    } catch (err) {
      if (!(err instanceof BbmeshError)) throw err
    }
  }), { seed: 0xa07, numRuns: 3000 })
})

// ---------------------------------------------------------------- key schedule

const K = Buffer.from(Array.from({ length: 32 }, (_, i) => i))
const T: Transcript = {
  infohash: sha1('bbmesh test vector'),
  initiatorPeerId: Buffer.from('-BM0100-initiator000', 'latin1'),
  responderPeerId: Buffer.from('-BM0100-responder000', 'latin1'),
  initiatorNonce: Buffer.alloc(32, 0x11),
  responderNonce: Buffer.alloc(32, 0x22),
}

test('test vector of docs/protocol.md (K = 00..1f)', () => {
  const keys = deriveAuthKeys(K)
  const dir = deriveDirectionKeys(keys.sessionKey, T)
  const got = {
    proofKey: keys.proofKey.toString('hex'),
    sessionKey: keys.sessionKey.toString('hex'),
    proofI: computeProof(keys.proofKey, 'initiator', T).toString('hex'),
    proofR: computeProof(keys.proofKey, 'responder', T).toString('hex'),
    keyIR: dir.initiatorToResponder.toString('hex'),
    keyRI: dir.responderToInitiator.toString('hex'),
    helloTagI: sessionMac(dir.initiatorToResponder, 0, 'bb_auth', Buffer.alloc(0)).toString('hex'),
    tagI1: sessionMac(dir.initiatorToResponder, 1, 'bb_search', Buffer.from('d1:q5:ubuntue', 'latin1')).toString('hex'),
  }
  assert.deepEqual(got, VECTOR)
})

test('the proof transcript is label, role, prover nonce, verifier nonce, prover id, verifier id, infohash', () => {
  const t = proofTranscript('responder', T)
  assert.equal(t.length, 23 + 1 + 32 + 32 + 20 + 20 + 20)
  assert.equal(t.subarray(0, 23).toString('ascii'), 'bbmesh/bb_auth/v1 proof')
  assert.equal(t[23], 0x52)
  assert.deepEqual(t.subarray(24, 56), T.responderNonce)
  assert.deepEqual(t.subarray(56, 88), T.initiatorNonce)
  assert.deepEqual(t.subarray(88, 108), T.responderPeerId)
  assert.deepEqual(t.subarray(108, 128), T.initiatorPeerId)
  assert.deepEqual(t.subarray(128), T.infohash)
})

test('a proof is bound to the role, both nonces, both peer ids, the infohash and the key', () => {
  const { proofKey } = deriveAuthKeys(K)
  const p = computeProof(proofKey, 'initiator', T)
  assert.ok(verifyProof(proofKey, 'initiator', T, p))
  assert.ok(!verifyProof(proofKey, 'responder', T, p), 'role')
  const change: Array<[string, Partial<Transcript>]> = [
    ['initiator nonce', { initiatorNonce: Buffer.alloc(32, 0x33) }],
    ['responder nonce', { responderNonce: Buffer.alloc(32, 0x33) }],
    ['swapped nonces', { initiatorNonce: T.responderNonce, responderNonce: T.initiatorNonce }],
    ['initiator id', { initiatorPeerId: sha1('x') }],
    ['responder id', { responderPeerId: sha1('x') }],
    ['infohash', { infohash: sha1('other') }],
  ]
  for (const [what, c] of change) assert.ok(!verifyProof(proofKey, 'initiator', { ...T, ...c }, p), what)
  assert.ok(!verifyProof(deriveAuthKeys(sha256('other key')).proofKey, 'initiator', T, p), 'key')
  assert.ok(!verifyProof(proofKey, 'initiator', T, p.subarray(0, 31)), 'short proof')
})

test('session tags depend on direction, counter, extension name and payload; 16 bytes', () => {
  const dir = deriveDirectionKeys(deriveAuthKeys(K).sessionKey, T)
  const p = Buffer.from('payload')
  const tag = sessionMac(dir.initiatorToResponder, 5, 'bb_x', p)
  assert.equal(tag.length, 16)
  assert.ok(verifySessionMac(dir.initiatorToResponder, 5, 'bb_x', p, tag))
  assert.ok(!verifySessionMac(dir.responderToInitiator, 5, 'bb_x', p, tag), 'direction')
  assert.ok(!verifySessionMac(dir.initiatorToResponder, 6, 'bb_x', p, tag), 'counter')
  assert.ok(!verifySessionMac(dir.initiatorToResponder, 5, 'bb_y', p, tag), 'name')
  assert.ok(!verifySessionMac(dir.initiatorToResponder, 5, 'bb_x', Buffer.from('payloaD'), tag), 'payload')
  assert.ok(!verifySessionMac(dir.initiatorToResponder, 5, 'bb_x', p, tag.subarray(0, 15)), 'short tag')
  // The name is length-prefixed: moving a byte between name and payload changes the tag.
  assert.notDeepEqual(sessionMac(dir.initiatorToResponder, 0, 'bb_ab', Buffer.from('c')), sessionMac(dir.initiatorToResponder, 0, 'bb_a', Buffer.from('bc')))
  assert.throws(() => sessionMac(dir.initiatorToResponder, -1, 'bb_x', p), RangeError)
  assert.throws(() => sessionMac(dir.initiatorToResponder, 0, '', p), RangeError)
})

test('hello signatures verify with a key built from 32 raw bytes; garbage never throws', () => {
  const pub = publisher(sha256('seed'))
  const msg = helloSignedMessage(T.initiatorNonce, T.responderNonce, T.responderPeerId)
  assert.equal(msg.length, 23 + 32 + 32 + 20)
  const sig = pub.sign(msg)
  assert.ok(verifyEd25519(pub.publicKey, msg, sig))
  assert.ok(!verifyEd25519(pub.publicKey, helloSignedMessage(T.responderNonce, T.initiatorNonce, T.responderPeerId), sig), 'nonces swapped')
  assert.ok(!verifyEd25519(pub.publicKey, msg, Buffer.alloc(64)), 'zero signature')
  assert.ok(!verifyEd25519(Buffer.alloc(32, 0xff), msg, sig), 'not a key')
  assert.ok(!verifyEd25519(pub.publicKey.subarray(0, 31), msg, sig), 'short key')
  assert.equal(ed25519PublicKey(pub.publicKey).asymmetricKeyType, 'ed25519')
})

// Also computed independently (Python hmac/hashlib, RFC 5869 HKDF) from the text of docs/protocol.md.
const VECTOR = {
  proofKey: '633be636750f5aa9f9d331ce4b053e88181ce4a4390647fc7d9709da020bce24',
  sessionKey: 'ad30fb4335e2f9aa143a5a2e2b9d8bc75bc21024a3a7675e9eb351f18323051b',
  proofI: '62d2331e9c85ac4fbd763ede37a1ba1527cd0123582fa170ecf7b958dc5b19ae',
  proofR: 'aee75303db6bb1e3f5c0d828c89ba013669be71ff8370108b5fed18fc0bedff6',
  keyIR: 'a33d8079c94d602ec5d147b834b62f762d08b3fbb99ca0cc9785782be5156629',
  keyRI: '16201fa8a48e0b1b4e78fc7d2a193c3f1ba91f84e7450af8a8faa5a5f0a8b0bd',
  helloTagI: 'd2dbd07481ab320617d633affbbbf686',
  tagI1: 'c27b4feefff7417f1f3788252abdee1d',
}
