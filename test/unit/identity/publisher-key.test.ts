import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createPublicKey, createHash, verify as cryptoVerify, randomBytes } from 'node:crypto'
import { inspect } from 'node:util'
import { Writable } from 'node:stream'
import { chmodSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pino } from 'pino'
import {
  PublisherKey, generatePublisherKey, savePublisherKey, loadPublisherKey, readPublisherKeyInfo, publisherKeyPath,
  btpkMagnet, mutableItemTarget, DEFAULT_SCRYPT, PUBLISHER_KEY_FILE, loadOrCreatePublisherKey,
} from '../../../src/identity/publisher-key.js'
import { KeyError, type KeyErrorReason } from '../../../src/core/errors.js'
import { LIMITS } from '../../../src/core/limits.js'
import { REDACT_PATHS } from '../../../src/core/logger.js'

/** Cheap scrypt for tests (the least a file may use); DEFAULT_SCRYPT is tested once. */
const FAST = { N: 2 ** 14 }
const PASS = 'correct horse battery staple'

function tmp (): string { return mkdtempSync(join(tmpdir(), 'bbmesh-pubkey-')) }

function withDir (fn: (dir: string) => void): void {
  const dir = tmp()
  try { fn(dir) } finally { rmSync(dir, { recursive: true, force: true }) }
}

/** The JSON object of a key file. */
function readJson (dir: string): Record<string, any> {
  return JSON.parse(readFileSync(publisherKeyPath(dir), 'utf8'))
}

/** Replace the key file (mode 0600) with text. */
function writeKeyFile (dir: string, text: string | Buffer): void {
  const path = publisherKeyPath(dir)
  rmSync(path, { force: true })
  writeFileSync(path, text, { mode: 0o600 })
  chmodSync(path, 0o600)
}

function throwsKey (fn: () => unknown, reason: KeyErrorReason, secrets: string[] = [], pattern?: RegExp): KeyError {
  let caught: unknown
  try { fn() } catch (err) { caught = err }
  assert.ok(caught instanceof KeyError, `expected KeyError ${reason}, got ${String(caught)}`)
  assert.equal(caught.reason, reason, caught.message)
  assert.equal(caught.code, 'ERR_KEY')
  for (const s of secrets) assert.ok(!leaksHex(caught.message, s) && !caught.message.includes(s), `message leaks a secret: ${caught.message}`)
  if (pattern !== undefined) assert.match(caught.message, pattern)
  return caught
}

/** True when s shows any 8 consecutive hex digits of secretHex (or the base64 of it). */
function leaksHex (s: string, secretHex: string): boolean {
  const hay = s.toLowerCase()
  if (/^[0-9a-f]+$/.test(secretHex)) {
    for (let i = 0; i + 8 <= secretHex.length; i++) if (hay.includes(secretHex.slice(i, i + 8))) return true
    const b64 = Buffer.from(secretHex, 'hex').toString('base64')
    if (s.includes(b64.slice(0, 12)) || s.includes(Buffer.from(secretHex, 'hex').toString('base64url').slice(0, 12))) return true
    return false
  }
  return s.includes(secretHex)
}

function verifyWith (publicKey: Buffer, message: Buffer, signature: Buffer): boolean {
  const spki = Buffer.concat([Buffer.from('302a300506032b6570032100', 'hex'), publicKey])
  return cryptoVerify(null, message, createPublicKey({ key: spki, format: 'der', type: 'spki' }), signature)
}

// RFC 8032 section 7.1, test 1.
const RFC_SEED = '9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60'
const RFC_PUB = 'd75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a'
const RFC_SIG = 'e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b'

test('fromSeed: the RFC 8032 test vector (public key and signature of the empty message)', () => {
  const k = PublisherKey.fromSeed(Buffer.from(RFC_SEED, 'hex'))
  assert.equal(k.publicKeyHex, RFC_PUB)
  assert.deepEqual(k.publicKey, Buffer.from(RFC_PUB, 'hex'))
  assert.equal(k.sign(Buffer.alloc(0)).toString('hex'), RFC_SIG)
  assert.throws(() => PublisherKey.fromSeed(Buffer.alloc(31)), RangeError)
})

test('plain: generate, save, load round-trip; file 0600 in a new 0700 directory; JSON v1 layout', () => {
  withDir((root) => {
    const dir = join(root, 'a', 'b')
    const key = generatePublisherKey()
    const path = savePublisherKey(dir, key)
    assert.equal(path, join(dir, PUBLISHER_KEY_FILE))
    assert.equal(statSync(path).mode & 0o777, 0o600)
    assert.equal(statSync(dir).mode & 0o777, 0o700)
    assert.deepEqual(readdirSync(dir), [PUBLISHER_KEY_FILE], 'no temp file left behind')
    const o = readJson(dir)
    assert.deepEqual(Object.keys(o).sort(), ['format', 'publicKey', 'seed', 'type', 'version'])
    assert.equal(o.format, 'bbmesh-publisher-key')
    assert.equal(o.version, 1)
    assert.equal(o.type, 'ed25519')
    assert.equal(o.publicKey, key.publicKeyHex)
    assert.match(o.seed, /^[0-9a-f]{64}$/)
    assert.equal(PublisherKey.fromSeed(Buffer.from(o.seed, 'hex')).publicKeyHex, key.publicKeyHex)

    const back = loadPublisherKey(dir)
    assert.ok(back.equals(key))
    assert.equal(back.publicKeyHex, key.publicKeyHex)
    assert.equal(back.publicKey.length, 32)
    const msg = Buffer.from('a BEP-46 pointer')
    // ed25519 is deterministic: the same key signs the same way.
    assert.deepEqual(back.sign(msg), key.sign(msg))
    // A passphrase given for a plain key is not needed and not in the way.
    assert.ok(loadPublisherKey(dir, { passphrase: 'unused' }).equals(key))
    const info = readPublisherKeyInfo(dir)
    assert.deepEqual(info, { path, publicKey: key.publicKey, publicKeyHex: key.publicKeyHex, encrypted: false })
  })
})

test('sign: node:crypto verifies it with the raw public key; another key or message does not', () => {
  const key = generatePublisherKey()
  const other = generatePublisherKey()
  const msg = randomBytes(100)
  const sig = key.sign(msg)
  assert.equal(sig.length, 64)
  assert.ok(verifyWith(key.publicKey, msg, sig))
  assert.ok(!verifyWith(other.publicKey, msg, sig))
  assert.ok(!verifyWith(key.publicKey, Buffer.concat([msg, Buffer.from([0])]), sig))
  // sign is bound: bb_auth (or anyone) may call it detached.
  const { sign, publicKey } = key
  assert.ok(verifyWith(publicKey, msg, sign(msg)))
  // The public key is a copy.
  key.publicKey.fill(0)
  assert.ok(verifyWith(key.publicKey, msg, sig))
})

test('encrypted with the default parameters: scrypt N=2^17 r=8 p=1, AES-256-GCM, round-trip', () => {
  withDir((dir) => {
    assert.deepEqual({ ...DEFAULT_SCRYPT }, { N: 131072, r: 8, p: 1 })
    const key = generatePublisherKey()
    savePublisherKey(dir, key, { passphrase: PASS })
    const o = readJson(dir)
    assert.deepEqual(Object.keys(o).sort(), ['encrypted', 'format', 'publicKey', 'type', 'version'])
    assert.equal(o.publicKey, key.publicKeyHex)
    const e = o.encrypted
    assert.deepEqual(Object.keys(e).sort(), ['N', 'cipher', 'ciphertext', 'kdf', 'nonce', 'p', 'r', 'salt', 'tag'])
    assert.deepEqual([e.kdf, e.N, e.r, e.p, e.cipher], ['scrypt', 131072, 8, 1, 'aes-256-gcm'])
    assert.match(e.salt, /^[0-9a-f]{32}$/)
    assert.match(e.nonce, /^[0-9a-f]{24}$/)
    assert.match(e.ciphertext, /^[0-9a-f]{64}$/)
    assert.match(e.tag, /^[0-9a-f]{32}$/)
    assert.ok(loadPublisherKey(dir, { passphrase: PASS }).equals(key))
    const info = readPublisherKeyInfo(dir)
    assert.equal(info.encrypted, true)
    assert.equal(info.publicKeyHex, key.publicKeyHex)
    assert.deepEqual(info.scrypt, { N: 131072, r: 8, p: 1 })
  })
})

test('encrypted: parameters come from the file; fresh salt and nonce every time; NFC passphrases', () => {
  withDir((dir) => {
    const key = generatePublisherKey()
    savePublisherKey(dir, key, { passphrase: PASS, scrypt: { N: 2 ** 14, r: 4, p: 2 } })
    const a = readJson(dir).encrypted
    assert.deepEqual([a.N, a.r, a.p], [2 ** 14, 4, 2])
    assert.ok(loadPublisherKey(dir, { passphrase: PASS }).equals(key))
    savePublisherKey(dir, key, { passphrase: PASS, scrypt: FAST, force: true })
    const b = readJson(dir).encrypted
    assert.notEqual(a.salt, b.salt)
    assert.notEqual(a.nonce, b.nonce)
    assert.notEqual(a.ciphertext, b.ciphertext)
    // "é" precomposed and decomposed are one passphrase.
    savePublisherKey(dir, key, { passphrase: 'caf\u00e9', scrypt: FAST, force: true })
    assert.ok(loadPublisherKey(dir, { passphrase: 'cafe\u0301' }).equals(key))
    // Out-of-bounds parameters are refused when saving.
    assert.throws(() => savePublisherKey(dir, key, { passphrase: PASS, scrypt: { N: 2 ** 13 }, force: true }), RangeError)
    assert.throws(() => savePublisherKey(dir, key, { passphrase: PASS, scrypt: { N: 3 * 2 ** 14 }, force: true }), RangeError)
  })
})

test('wrong passphrase, missing passphrase, empty or oversized passphrase', () => {
  withDir((dir) => {
    const key = generatePublisherKey()
    savePublisherKey(dir, key, { passphrase: PASS, scrypt: FAST })
    throwsKey(() => loadPublisherKey(dir, { passphrase: PASS + '!' }), 'passphrase-wrong', [PASS], /wrong passphrase/)
    throwsKey(() => loadPublisherKey(dir, { passphrase: PASS.toUpperCase() }), 'passphrase-wrong')
    throwsKey(() => loadPublisherKey(dir), 'passphrase-required', [], /encrypted and no passphrase was given/)
    throwsKey(() => loadPublisherKey(dir, { passphrase: '' }), 'passphrase-invalid')
    throwsKey(() => loadPublisherKey(dir, { passphrase: 'x'.repeat(LIMITS.passphraseMax + 1) }), 'passphrase-invalid')
    throwsKey(() => savePublisherKey(dir, key, { passphrase: '', force: true }), 'passphrase-invalid')
    assert.ok(loadPublisherKey(dir, { passphrase: PASS }).equals(key), 'the failures left the file alone')
  })
})

test('tampering: every altered byte of the sealed seed, tag, nonce, salt or clear public key fails the tag', () => {
  withDir((dir) => {
    const key = generatePublisherKey()
    savePublisherKey(dir, key, { passphrase: PASS, scrypt: FAST })
    const good = readJson(dir)
    const flip = (hex: string, at: number): string => {
      const b = Buffer.from(hex, 'hex'); b[at] ^= 0x01; return b.toString('hex')
    }
    const cases: Array<[string, (o: Record<string, any>) => void]> = [
      ['ciphertext first byte', (o) => { o.encrypted.ciphertext = flip(o.encrypted.ciphertext, 0) }],
      ['ciphertext last byte', (o) => { o.encrypted.ciphertext = flip(o.encrypted.ciphertext, 31) }],
      ['tag', (o) => { o.encrypted.tag = flip(o.encrypted.tag, 15) }],
      ['nonce', (o) => { o.encrypted.nonce = flip(o.encrypted.nonce, 0) }],
      ['salt', (o) => { o.encrypted.salt = flip(o.encrypted.salt, 7) }],
      ['public key', (o) => { o.publicKey = generatePublisherKey().publicKeyHex }],
      ['public key one bit', (o) => { o.publicKey = flip(o.publicKey, 31) }],
      ['scrypt r', (o) => { o.encrypted.r = 4 }],
    ]
    for (const [what, change] of cases) {
      const o = structuredClone(good)
      change(o)
      writeKeyFile(dir, JSON.stringify(o))
      throwsKey(() => loadPublisherKey(dir, { passphrase: PASS }), 'passphrase-wrong', [PASS])
      if (what.startsWith('public key')) {
        // Without the passphrase the swap cannot be seen yet; it is caught on unsealing (above).
        assert.equal(readPublisherKeyInfo(dir).publicKeyHex, o.publicKey)
      }
    }
    writeKeyFile(dir, JSON.stringify(good))
    assert.ok(loadPublisherKey(dir, { passphrase: PASS }).equals(key))
  })
})

test('tampering a plain key: a public key or seed that does not match is refused', () => {
  withDir((dir) => {
    const key = generatePublisherKey()
    savePublisherKey(dir, key)
    const good = readJson(dir)
    for (const change of [
      (o: Record<string, any>) => { o.publicKey = generatePublisherKey().publicKeyHex },
      (o: Record<string, any>) => { o.seed = randomBytes(32).toString('hex') },
    ]) {
      const o = structuredClone(good)
      change(o)
      writeKeyFile(dir, JSON.stringify(o))
      throwsKey(() => loadPublisherKey(dir), 'mismatch', [good.seed, o.seed], /does not belong to its private key/)
      throwsKey(() => readPublisherKeyInfo(dir), 'mismatch', [good.seed, o.seed])
    }
  })
})

test('truncated files: every shorter prefix is a corrupt-file error that shows no key bytes', () => {
  withDir((dir) => {
    const key = generatePublisherKey()
    savePublisherKey(dir, key)
    const plain = readFileSync(publisherKeyPath(dir))
    const seed = readJson(dir).seed as string
    savePublisherKey(dir, key, { passphrase: PASS, scrypt: FAST, force: true })
    const sealed = readFileSync(publisherKeyPath(dir))
    for (const [text, passphrase] of [[plain, undefined], [sealed, PASS]] as const) {
      // The last byte is the newline: without it the JSON is whole.
      for (let n = 0; n < text.length - 1; n++) {
        writeKeyFile(dir, text.subarray(0, n))
        throwsKey(() => loadPublisherKey(dir, { passphrase }), 'corrupt', [seed], /not a valid publisher key file/)
        throwsKey(() => readPublisherKeyInfo(dir), 'corrupt', [seed])
      }
    }
  })
})

test('malformed fields are corrupt-file errors; the message names the field, never its value', () => {
  withDir((dir) => {
    const key = generatePublisherKey()
    savePublisherKey(dir, key)
    const plain = readJson(dir)
    savePublisherKey(dir, key, { passphrase: PASS, scrypt: FAST, force: true })
    const sealed = readJson(dir)
    const seed = plain.seed as string
    const cases: Array<[Record<string, any>, RegExp]> = [
      [{ ...plain, format: 'something-else' }, /"format"/],
      [{ ...plain, version: '1' }, /"version"/],
      [{ ...plain, version: 0 }, /"version"/],
      [{ ...plain, type: 'rsa' }, /"type"/],
      [{ ...plain, extra: 1 }, /unknown field "extra"/],
      [{ ...plain, seed: seed.toUpperCase() }, /"seed"/],
      [{ ...plain, seed: seed.slice(0, 62) }, /"seed"/],
      [{ ...plain, seed: seed + '00' }, /"seed"/],
      [{ ...plain, seed: 7 }, /"seed"/],
      [{ ...plain, publicKey: plain.publicKey.slice(2) }, /"publicKey"/],
      [{ ...plain, encrypted: sealed.encrypted }, /exactly one of/],
      [{ format: plain.format, version: 1, type: 'ed25519', publicKey: plain.publicKey }, /exactly one of/],
      [[plain], /not a JSON object/],
      [{ ...sealed, encrypted: { ...sealed.encrypted, kdf: 'argon2id' } }, /"encrypted.kdf"/],
      [{ ...sealed, encrypted: { ...sealed.encrypted, cipher: 'aes-128-gcm' } }, /"encrypted.cipher"/],
      [{ ...sealed, encrypted: { ...sealed.encrypted, N: 2 ** 30 } }, /scrypt N/],
      [{ ...sealed, encrypted: { ...sealed.encrypted, N: 2 ** 13 } }, /scrypt N/],
      [{ ...sealed, encrypted: { ...sealed.encrypted, r: 0 } }, /scrypt r/],
      [{ ...sealed, encrypted: { ...sealed.encrypted, p: 1000 } }, /scrypt p/],
      [{ ...sealed, encrypted: { ...sealed.encrypted, N: 2 ** 18, r: 16 } }, /256 MiB/],
      [{ ...sealed, encrypted: { ...sealed.encrypted, nonce: 'ab'.repeat(16) } }, /"nonce"/],
      [{ ...sealed, encrypted: { ...sealed.encrypted, tag: 'ab'.repeat(8) } }, /"tag"/],
      [{ ...sealed, encrypted: { ...sealed.encrypted, salt: 'ab'.repeat(8) } }, /"salt"/],
      [{ ...sealed, encrypted: { ...sealed.encrypted, ciphertext: sealed.encrypted.ciphertext + '00' } }, /"ciphertext"/],
      [{ ...sealed, encrypted: { ...sealed.encrypted, more: true } }, /unknown field "encrypted.more"/],
      [{ ...sealed, encrypted: 'yes' }, /"encrypted" is not an object/],
    ]
    for (const [o, pattern] of cases) {
      writeKeyFile(dir, JSON.stringify(o))
      throwsKey(() => loadPublisherKey(dir, { passphrase: PASS }), 'corrupt', [seed], pattern)
    }
    writeKeyFile(dir, '\u0000\u0001 not json ' + seed)
    throwsKey(() => loadPublisherKey(dir), 'corrupt', [seed], /does not parse/)
  })
})

test('an unknown version is its own error, asked about before the rest of the file', () => {
  withDir((dir) => {
    savePublisherKey(dir, generatePublisherKey())
    const o = readJson(dir)
    writeKeyFile(dir, JSON.stringify({ ...o, version: 2, seed: undefined, somethingNew: { x: 1 } }))
    throwsKey(() => loadPublisherKey(dir), 'version', [o.seed], /version 2 publisher key file; this bbmesh reads version 1/)
    throwsKey(() => readPublisherKeyInfo(dir), 'version')
  })
})

test('size cap: a file past LIMITS.publisherKeyFileMax is refused unread; one at the cap is parsed', () => {
  withDir((dir) => {
    const max = LIMITS.publisherKeyFileMax
    assert.equal(max, 64 * 1024)
    writeKeyFile(dir, Buffer.alloc(max + 1, 0x20))
    throwsKey(() => loadPublisherKey(dir), 'too-large', [], /more than a publisher key file can be/)
    throwsKey(() => readPublisherKeyInfo(dir), 'too-large')
    writeKeyFile(dir, Buffer.alloc(max, 0x20))
    throwsKey(() => loadPublisherKey(dir), 'corrupt')
  })
})

test('permissions: a key readable by group or others is refused with the chmod to fix it; 0400 is fine', () => {
  withDir((dir) => {
    const key = generatePublisherKey()
    const path = savePublisherKey(dir, key)
    const seed = readJson(dir).seed as string
    for (const mode of [0o644, 0o640, 0o604, 0o660, 0o666, 0o601]) {
      chmodSync(path, mode)
      const e = throwsKey(() => loadPublisherKey(dir), 'permissions', [seed])
      assert.ok(e.message.includes(`permissions ${mode.toString(8).padStart(4, '0')} for ${path} are too open`), e.message)
      assert.ok(e.message.includes(`chmod 600 ${path}`), e.message)
      throwsKey(() => readPublisherKeyInfo(dir), 'permissions')
    }
    chmodSync(path, 0o400)
    assert.ok(loadPublisherKey(dir).equals(key))
    chmodSync(path, 0o600)
    assert.ok(loadPublisherKey(dir).equals(key))
  })
})

test('missing file; an existing key is not replaced without force, and is with it', () => {
  withDir((dir) => {
    throwsKey(() => loadPublisherKey(dir), 'missing', [], /no publisher key at .*make one with `bbmesh keygen`/)
    throwsKey(() => readPublisherKeyInfo(join(dir, 'nope')), 'missing')
    const a = generatePublisherKey()
    const b = generatePublisherKey()
    savePublisherKey(dir, a)
    const before = readFileSync(publisherKeyPath(dir))
    throwsKey(() => savePublisherKey(dir, b), 'exists', [], /already exists/)
    throwsKey(() => savePublisherKey(dir, b, { passphrase: PASS, scrypt: FAST }), 'exists')
    assert.deepEqual(readFileSync(publisherKeyPath(dir)), before)
    savePublisherKey(dir, b, { force: true })
    assert.ok(loadPublisherKey(dir).equals(b))
    assert.equal(statSync(publisherKeyPath(dir)).mode & 0o777, 0o600)
    // A damaged file is still "something there".
    writeKeyFile(dir, 'junk')
    throwsKey(() => savePublisherKey(dir, a), 'exists')
    assert.deepEqual(readdirSync(dir), [PUBLISHER_KEY_FILE], 'no temp file left behind')
  })
})

test('btpkMagnet: exactly magnet:?xs=urn:btpk:<64 lowercase hex>[&s=<hex salt>] (BEP-46)', () => {
  const pk = Buffer.from('8543d3e6115f0f98c944077a4493dcd543e49c739fd998550a1f614ab36ed63e', 'hex')
  assert.equal(btpkMagnet(pk), 'magnet:?xs=urn:btpk:8543d3e6115f0f98c944077a4493dcd543e49c739fd998550a1f614ab36ed63e')
  assert.equal(btpkMagnet(pk, 'n'), 'magnet:?xs=urn:btpk:8543d3e6115f0f98c944077a4493dcd543e49c739fd998550a1f614ab36ed63e&s=6e')
  assert.equal(btpkMagnet(pk, Buffer.from([0x6e])), btpkMagnet(pk, 'n'))
  assert.equal(btpkMagnet(pk, Buffer.from([0, 0xff, 0xAB])), 'magnet:?xs=urn:btpk:8543d3e6115f0f98c944077a4493dcd543e49c739fd998550a1f614ab36ed63e&s=00ffab')
  assert.equal(btpkMagnet(pk, 'catalog/é'), `magnet:?xs=urn:btpk:${pk.toString('hex')}&s=${Buffer.from('catalog/é', 'utf8').toString('hex')}`)
  // BEP-44: an empty salt is no salt; at most 64 bytes.
  assert.equal(btpkMagnet(pk, ''), btpkMagnet(pk))
  assert.match(btpkMagnet(pk, 'x'.repeat(64)), /&s=(78){64}$/)
  assert.throws(() => btpkMagnet(pk, 'x'.repeat(65)), RangeError)
  assert.throws(() => btpkMagnet(pk.subarray(1)), RangeError)
  const key = generatePublisherKey()
  assert.equal(key.magnet(), `magnet:?xs=urn:btpk:${key.publicKeyHex}`)
  assert.match(key.magnet('s'), /^magnet:\?xs=urn:btpk:[0-9a-f]{64}&s=73$/)
})

test('mutableItemTarget: the BEP-46 test vectors (SHA-1 of public key and salt)', () => {
  const pk = Buffer.from('8543d3e6115f0f98c944077a4493dcd543e49c739fd998550a1f614ab36ed63e', 'hex')
  assert.equal(mutableItemTarget(pk).toString('hex'), 'cc3f9d90b572172053626f9980ce261a850d050b')
  assert.equal(mutableItemTarget(pk, Buffer.from('6e', 'hex')).toString('hex'), '59ee7c2cb9b4f7eb1986ee2d18fd2fdb8a56554f')
  assert.deepEqual(mutableItemTarget(pk, 'n'), createHash('sha1').update(pk).update('n').digest())
})

test('a PublisherKey shows its public key only: inspect, JSON, String, spread, keys', () => {
  withDir((dir) => {
    const key = generatePublisherKey()
    savePublisherKey(dir, key)
    const seed = readJson(dir).seed as string
    const shown = [
      inspect(key), inspect({ nested: { key } }, { depth: 10, showHidden: true }), JSON.stringify(key), JSON.stringify({ keys: [key] }),
      String(key), `${key}`, Object.keys(key).join(','), JSON.stringify({ ...key }), inspect({ ...key }, { showHidden: true }),
    ]
    for (const s of shown) assert.ok(!leaksHex(s, seed), `leaks: ${s}`)
    assert.deepEqual(JSON.parse(JSON.stringify(key)), { type: 'ed25519', publicKey: key.publicKeyHex })
    assert.ok(inspect(key).includes(key.publicKeyHex))
  })
})

test('logs: saving and loading log the public key only; seed and passphrase fields are redacted', () => {
  withDir((dir) => {
    const lines: string[] = []
    const sink = new Writable({ write (chunk: Buffer, _enc, cb) { lines.push(chunk.toString()); cb() } })
    const logger = pino({ level: 'trace', redact: { paths: REDACT_PATHS, censor: '[redacted]' }, base: undefined }, sink)
    const key = generatePublisherKey()
    savePublisherKey(dir, key, { logger })
    const seed = readJson(dir).seed as string
    const loaded = loadPublisherKey(dir, { logger })
    savePublisherKey(dir, key, { logger, passphrase: PASS, scrypt: FAST, force: true })
    loadPublisherKey(dir, { logger, passphrase: PASS })
    // What careless code might log: the key, its file, the secrets by the names the code uses.
    logger.info({ key: loaded, publisher: loaded }, 'object')
    logger.info({ seed, passphrase: PASS }, 'top-level fields')
    logger.info({ file: { seed, publicKey: key.publicKeyHex }, opts: { passphrase: PASS } }, 'nested fields')
    try { loadPublisherKey(dir, { passphrase: 'wrong' }) } catch (err) { logger.warn({ err }, 'load failed') }
    writeKeyFile(dir, JSON.stringify({ format: 'bbmesh-publisher-key', version: 1, type: 'ed25519', publicKey: key.publicKeyHex, seed: seed.toUpperCase() }))
    try { loadPublisherKey(dir) } catch (err) { logger.warn({ err }, 'load failed') }
    const all = lines.join('')
    assert.equal(lines.length, 9)
    assert.ok(!leaksHex(all, seed), all)
    assert.ok(!all.includes(PASS), all)
    assert.ok(all.includes(key.publicKeyHex))
    assert.match(all, /"msg":"publisher key saved"/)
    assert.match(all, /"msg":"publisher key loaded"/)
  })
})

test('loadOrCreatePublisherKey mints and saves a key when there is none, then loads that same key', () => {
  const dir = tmp()
  try {
    const first = loadOrCreatePublisherKey(dir)
    assert.equal(first.minted, true)
    assert.equal(statSync(join(dir, 'publisher.key')).mode & 0o777, 0o600)
    const again = loadOrCreatePublisherKey(dir)
    assert.equal(again.minted, false)
    assert.deepEqual(again.key.publicKey, first.key.publicKey)
  } finally { rmSync(dir, { recursive: true, force: true }) }
})

