// The publisher key: the operator's ed25519 identity (DESIGN.md "Keys"). Its public key is
// shared out of band; the key signs the BEP-46 pointer to the catalog and the node's gossip
// (bb_auth). Minted once by `bbmesh keygen`, kept in the data directory, never logged, printed
// only on request (the public half by `bbmesh key show`).
//
// File: `publisher.key` in the data directory, mode 0600 (the directory is created 0700 when
// missing; an existing one is left as it is). Written atomically: a temp file in the same
// directory (created 0600, fsynced), then hard-linked into place (so an existing key is never
// overwritten without `force`, even by a concurrent keygen) or renamed over it (`force`).
// JSON, one object, lowercase hex for every byte string; unknown fields are refused (a change
// of layout is a new version):
//
//   plain (no passphrase):
//   { "format": "bbmesh-publisher-key", "version": 1, "type": "ed25519",
//     "publicKey": "<64 hex: 32 bytes>", "seed": "<64 hex: 32 bytes>" }
//
//   encrypted (a passphrase):
//   { "format": "bbmesh-publisher-key", "version": 1, "type": "ed25519",
//     "publicKey": "<64 hex>",
//     "encrypted": { "kdf": "scrypt", "N": 131072, "r": 8, "p": 1, "salt": "<32 hex: 16 bytes>",
//                    "cipher": "aes-256-gcm", "nonce": "<24 hex: 12 bytes>",
//                    "ciphertext": "<64 hex: 32 bytes>", "tag": "<32 hex: 16 bytes>" } }
//
// seed: the 32-byte ed25519 private key of RFC 8032, from which the key pair derives.
// publicKey: in clear in both forms, so showing it needs no passphrase. Every load re-derives
//   it from the seed and refuses a file where the two differ.
// encrypted: k = scrypt(passphrase as NFC-normalised UTF-8, salt = 16 random bytes, N = 2^17,
//   r = 8, p = 1, 32 bytes): 128 MiB and about half a second a guess (the OWASP scrypt floor).
//   The seed is sealed with AES-256-GCM under k, a 12-byte random nonce, a 16-byte tag and
//   AAD = "bbmesh-publisher-key/1/ed25519/" + publicKey hex, so the clear public key cannot be
//   swapped either. A wrong passphrase and an altered file both fail the tag; they cannot be
//   told apart. The parameters are read from the file, so a later version can raise them;
//   reading accepts N a power of two in 2^14..2^18, r 1..32, p 1..16, salt 16..64 bytes, and
//   128·N·r at most 256 MiB, so a hostile file cannot make a load take gigabytes.
//
// Reading refuses, each with a KeyError (core/errors.ts) naming the file and never a byte of
// the key: a missing file, a file readable by group or others (like ssh; the message says to
// `chmod 600` it), one past LIMITS.publisherKeyFileMax, one that does not parse or whose fields
// are wrong (truncated or damaged), an unknown version, an encrypted file without a passphrase,
// a wrong passphrase (GCM tag), a public key that does not match the seed.
//
// A key held in memory is a PublisherKey: toJSON, toString and util.inspect show the public key
// only; the private half stays in a KeyObject outside the object, so logging one shows nothing
// secret. It fits bb_auth's `publisher` option as it is ({ publicKey, sign }).

import {
  createCipheriv, createDecipheriv, createHash, createPrivateKey, createPublicKey, generateKeyPairSync,
  randomBytes, scryptSync, sign as cryptoSign, timingSafeEqual, type KeyObject,
} from 'node:crypto'
import { closeSync, fchmodSync, fstatSync, fsyncSync, linkSync, lstatSync, mkdirSync, openSync, readSync, renameSync, rmSync, writeSync } from 'node:fs'
import { join } from 'node:path'
import { inspect } from 'node:util'
import { KeyError } from '../core/errors.js'
import { LIMITS } from '../core/limits.js'
import type { Logger } from '../core/logger.js'

export const PUBLISHER_KEY_FILE = 'publisher.key'
export const PUBLISHER_KEY_FORMAT = 'bbmesh-publisher-key'
export const PUBLISHER_KEY_VERSION = 1
export const PUBLIC_KEY_BYTES = 32
export const SEED_BYTES = 32
export const SIGNATURE_BYTES = 64

export interface ScryptParams { N: number, r: number, p: number }
/** What a new encrypted key is sealed with. */
export const DEFAULT_SCRYPT: Readonly<ScryptParams> = Object.freeze({ N: 2 ** 17, r: 8, p: 1 })
/** The bounds a file's parameters must keep (on save and on load). */
export const SCRYPT_BOUNDS = Object.freeze({ minN: 2 ** 14, maxN: 2 ** 18, maxR: 32, maxP: 16, maxMem: 256 * 1024 * 1024 })
const SALT_BYTES = 16
const SALT_MAX_BYTES = 64
const NONCE_BYTES = 12
const TAG_BYTES = 16
const AES_KEY_BYTES = 32
const AAD_PREFIX = `${PUBLISHER_KEY_FORMAT}/${PUBLISHER_KEY_VERSION}/ed25519/`

/** DER PKCS#8 header of an ed25519 private key (RFC 8410); the 32-byte seed follows. */
const PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex')
/** DER SubjectPublicKeyInfo header of an ed25519 public key (RFC 8410); the 32 raw bytes follow. */
const SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex')

const TOP_FIELDS = new Set(['format', 'version', 'type', 'publicKey', 'seed', 'encrypted'])
const ENC_FIELDS = new Set(['kdf', 'N', 'r', 'p', 'salt', 'cipher', 'nonce', 'ciphertext', 'tag'])

/** The private KeyObject of each PublisherKey, kept off the object so nothing can serialise it. */
const PRIVATE = new WeakMap<PublisherKey, KeyObject>()

export class PublisherKey {
  /** The public key as 64 lowercase hex digits: the operator's identity, safe to show. */
  readonly publicKeyHex: string
  /** An ed25519 signature (64 bytes) of message. A bound function: pass it around freely. */
  readonly sign: (message: Uint8Array) => Buffer
  readonly #public: Buffer

  private constructor (privateKey: KeyObject, publicRaw: Buffer) {
    this.#public = Buffer.from(publicRaw)
    this.publicKeyHex = this.#public.toString('hex')
    PRIVATE.set(this, privateKey)
    this.sign = (message) => cryptoSign(null, message, privateKey)
  }

  /** The key pair of a 32-byte seed (the RFC 8032 private key). */
  static fromSeed (seed: Uint8Array): PublisherKey {
    if (seed.length !== SEED_BYTES) throw new RangeError(`an ed25519 seed is ${SEED_BYTES} bytes`)
    const der = Buffer.concat([PKCS8_PREFIX, seed])
    try {
      const priv = createPrivateKey({ key: der, format: 'der', type: 'pkcs8' })
      return new PublisherKey(priv, rawPublicKey(createPublicKey(priv)))
    } finally { der.fill(0) }
  }

  /** @internal A fresh pair from node:crypto. */
  static generate (): PublisherKey {
    const { privateKey, publicKey } = generateKeyPairSync('ed25519')
    return new PublisherKey(privateKey, rawPublicKey(publicKey))
  }

  /** The raw 32-byte public key (a copy). */
  get publicKey (): Buffer { return Buffer.from(this.#public) }

  /** The BEP-46 magnet of this key (see btpkMagnet). */
  magnet (salt?: Uint8Array | string): string { return btpkMagnet(this.#public, salt) }

  equals (other: PublisherKey): boolean { return timingSafeEqual(this.#public, other.#public) }

  toJSON (): { type: 'ed25519', publicKey: string } { return { type: 'ed25519', publicKey: this.publicKeyHex } }
  toString (): string { return `PublisherKey(${this.publicKeyHex})` }
  [inspect.custom] (): string { return `PublisherKey { publicKey: '${this.publicKeyHex}' }` }
}

/** A new random publisher key (in memory; savePublisherKey writes it). */
export function generatePublisherKey (): PublisherKey {
  return PublisherKey.generate()
}

function rawPublicKey (key: KeyObject): Buffer {
  const der = key.export({ format: 'der', type: 'spki' })
  if (der.length !== SPKI_PREFIX.length + PUBLIC_KEY_BYTES || !der.subarray(0, SPKI_PREFIX.length).equals(SPKI_PREFIX)) throw new RangeError('not an ed25519 public key')
  return Buffer.from(der.subarray(SPKI_PREFIX.length))
}

/** The seed of a key (secret; the caller zeroes it). */
function seedOf (key: PublisherKey): Buffer {
  const priv = PRIVATE.get(key)
  if (priv === undefined) throw new TypeError('not a PublisherKey')
  const der = priv.export({ format: 'der', type: 'pkcs8' })
  try {
    if (der.length !== PKCS8_PREFIX.length + SEED_BYTES || !der.subarray(0, PKCS8_PREFIX.length).equals(PKCS8_PREFIX)) throw new RangeError('not an ed25519 private key')
    return Buffer.from(der.subarray(PKCS8_PREFIX.length))
  } finally { der.fill(0) }
}

// ---- BEP-46 ----

function saltBytes (salt: Uint8Array | string | undefined): Buffer | undefined {
  if (salt === undefined) return undefined
  const s = typeof salt === 'string' ? Buffer.from(salt, 'utf8') : Buffer.from(salt)
  if (s.length > LIMITS.bep44MaxSalt) throw new RangeError(`a BEP-44 salt is at most ${LIMITS.bep44MaxSalt} bytes, this one is ${s.length}`)
  // BEP-44: an empty salt is the same as none.
  return s.length === 0 ? undefined : s
}

function checkPublicKey (publicKey: Uint8Array): void {
  if (!(publicKey instanceof Uint8Array) || publicKey.length !== PUBLIC_KEY_BYTES) throw new RangeError(`an ed25519 public key is ${PUBLIC_KEY_BYTES} bytes`)
}

/**
 * The BEP-46 magnet of a public key: `magnet:?xs=urn:btpk:<64 lowercase hex>`, plus
 * `&s=<hex of the salt>` with a salt (bytes, or a string taken as UTF-8; at most 64 bytes,
 * BEP-44; an empty salt is none).
 */
export function btpkMagnet (publicKey: Uint8Array, salt?: Uint8Array | string): string {
  checkPublicKey(publicKey)
  const s = saltBytes(salt)
  return `magnet:?xs=urn:btpk:${Buffer.from(publicKey).toString('hex')}${s !== undefined ? `&s=${s.toString('hex')}` : ''}`
}

/** The DHT target of the BEP-44 mutable item under a public key (and salt): SHA-1(k ‖ salt). */
export function mutableItemTarget (publicKey: Uint8Array, salt?: Uint8Array | string): Buffer {
  checkPublicKey(publicKey)
  const h = createHash('sha1').update(publicKey)
  const s = saltBytes(salt)
  if (s !== undefined) h.update(s)
  return h.digest()
}

// ---- the file ----

export function publisherKeyPath (dataDir: string): string {
  return join(dataDir, PUBLISHER_KEY_FILE)
}

/** Whether anything (a key, a damaged file, a dangling link) is at the key's path. */
export function publisherKeyExists (dataDir: string): boolean {
  const path = publisherKeyPath(dataDir)
  try { lstatSync(path); return true } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    if (code === 'ENOENT') return false
    throw new KeyError('io', `cannot look for the publisher key ${path}: ${code ?? (err as Error).message}`, { cause: err })
  }
}

function passphraseBytes (passphrase: string): Buffer {
  if (typeof passphrase !== 'string') throw new KeyError('passphrase-invalid', 'the passphrase must be a string')
  const b = Buffer.from(passphrase.normalize('NFC'), 'utf8')
  if (b.length === 0) throw new KeyError('passphrase-invalid', 'the passphrase is empty')
  if (b.length > LIMITS.passphraseMax) {
    b.fill(0)
    throw new KeyError('passphrase-invalid', `the passphrase is longer than ${LIMITS.passphraseMax} bytes`)
  }
  return b
}

/** Why params break SCRYPT_BOUNDS, or undefined when they keep them. */
function scryptProblem ({ N, r, p }: ScryptParams): string | undefined {
  const B = SCRYPT_BOUNDS
  const int = (x: unknown): x is number => typeof x === 'number' && Number.isSafeInteger(x)
  if (!int(N) || N < B.minN || N > B.maxN || (N & (N - 1)) !== 0) return `scrypt N must be a power of two from 2^14 to 2^18`
  if (!int(r) || r < 1 || r > B.maxR) return `scrypt r must be 1..${B.maxR}`
  if (!int(p) || p < 1 || p > B.maxP) return `scrypt p must be 1..${B.maxP}`
  if (128 * N * r > B.maxMem) return `scrypt 128·N·r must be at most ${B.maxMem / 1024 / 1024} MiB`
  return undefined
}

function deriveKey (pass: Buffer, salt: Buffer, params: ScryptParams): Buffer {
  return scryptSync(pass, salt, AES_KEY_BYTES, { N: params.N, r: params.r, p: params.p, maxmem: 2 * 128 * params.N * params.r + 1024 * 1024 })
}

function aad (publicKeyHex: string): Buffer {
  return Buffer.from(AAD_PREFIX + publicKeyHex, 'ascii')
}

/** The file text of a key; sealed when a passphrase is given. */
function encodeKeyFile (key: PublisherKey, passphrase: string | undefined, params: ScryptParams): string {
  const seed = seedOf(key)
  try {
    const body: Record<string, unknown> = { format: PUBLISHER_KEY_FORMAT, version: PUBLISHER_KEY_VERSION, type: 'ed25519', publicKey: key.publicKeyHex }
    if (passphrase === undefined) {
      body.seed = seed.toString('hex')
    } else {
      const problem = scryptProblem(params)
      if (problem !== undefined) throw new RangeError(problem)
      const pass = passphraseBytes(passphrase)
      const salt = randomBytes(SALT_BYTES)
      const nonce = randomBytes(NONCE_BYTES)
      const k = deriveKey(pass, salt, params)
      pass.fill(0)
      try {
        const cipher = createCipheriv('aes-256-gcm', k, nonce, { authTagLength: TAG_BYTES })
        cipher.setAAD(aad(key.publicKeyHex))
        const ciphertext = Buffer.concat([cipher.update(seed), cipher.final()])
        body.encrypted = {
          kdf: 'scrypt', N: params.N, r: params.r, p: params.p, salt: salt.toString('hex'),
          cipher: 'aes-256-gcm', nonce: nonce.toString('hex'), ciphertext: ciphertext.toString('hex'), tag: cipher.getAuthTag().toString('hex'),
        }
      } finally { k.fill(0) }
    }
    return JSON.stringify(body, null, 2) + '\n'
  } finally { seed.fill(0) }
}

interface KeyFile {
  publicKey: Buffer
  /** Plain files. */
  seed?: Buffer
  /** Encrypted files. */
  sealed?: { params: ScryptParams, salt: Buffer, nonce: Buffer, ciphertext: Buffer, tag: Buffer }
}

/** The bytes of the key file, after the checks on the file itself (exists, mode, size). */
function readKeyFile (path: string): Buffer {
  let fd: number
  try {
    fd = openSync(path, 'r')
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    if (code === 'ENOENT') throw new KeyError('missing', `no publisher key at ${path}: make one with \`bbmesh keygen\``)
    throw new KeyError('io', `cannot read the publisher key ${path}: ${code ?? (err as Error).message}`, { cause: err })
  }
  try {
    const st = fstatSync(fd)
    if (!st.isFile()) throw new KeyError('corrupt', `${path} is not a regular file`)
    if (process.platform !== 'win32' && (st.mode & 0o077) !== 0) {
      throw new KeyError('permissions', `permissions ${(st.mode & 0o777).toString(8).padStart(4, '0')} for ${path} are too open: a publisher key must be readable by its owner only. Fix with \`chmod 600 ${shellQuote(path)}\``)
    }
    const max = LIMITS.publisherKeyFileMax
    if (st.size > max) throw new KeyError('too-large', `${path} is ${st.size} bytes, more than a publisher key file can be (${max}): not a publisher key`)
    const buf = Buffer.alloc(max + 1)
    let n = 0
    for (;;) {
      const got = readSync(fd, buf, n, buf.length - n, null)
      if (got === 0) break
      n += got
      if (n === buf.length) break
    }
    if (n > max) { buf.fill(0); throw new KeyError('too-large', `${path} is more than ${max} bytes: not a publisher key`) }
    return buf.subarray(0, n)
  } finally { closeSync(fd) }
}

function shellQuote (s: string): string {
  return /^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, "'\\''")}'`
}

/** Parse and check a key file's text. Messages name fields, never their values. */
function parseKeyFile (bytes: Buffer, path: string): KeyFile {
  const corrupt = (what: string): never => { throw new KeyError('corrupt', `${path} is not a valid publisher key file: ${what}`) }
  let v: unknown
  try {
    v = JSON.parse(bytes.toString('utf8'))
  } catch {
    // JSON.parse's message quotes the text, which may hold the seed: not shown, not chained.
    return corrupt('it does not parse (truncated or damaged?)')
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return corrupt('not a JSON object')
  const o = v as Record<string, unknown>
  if (o.format !== PUBLISHER_KEY_FORMAT) return corrupt(`"format" is not "${PUBLISHER_KEY_FORMAT}"`)
  if (typeof o.version !== 'number' || !Number.isSafeInteger(o.version) || o.version < 1) return corrupt('"version" is not a positive integer')
  if (o.version !== PUBLISHER_KEY_VERSION) {
    throw new KeyError('version', `${path} is a version ${o.version} publisher key file; this bbmesh reads version ${PUBLISHER_KEY_VERSION} (was it written by a newer bbmesh?)`)
  }
  for (const k of Object.keys(o)) if (!TOP_FIELDS.has(k)) return corrupt(`unknown field ${JSON.stringify(k.slice(0, 32))}`)
  if (o.type !== 'ed25519') return corrupt('"type" is not "ed25519"')
  const hex = (obj: Record<string, unknown>, name: string, min: number, max = min): Buffer => {
    const s = obj[name]
    if (typeof s !== 'string' || s.length < 2 * min || s.length > 2 * max || s.length % 2 !== 0 || !/^[0-9a-f]*$/.test(s)) {
      return corrupt(`"${name}" is not ${min === max ? min : `${min}..${max}`} bytes of lowercase hex`)
    }
    return Buffer.from(s, 'hex')
  }
  const publicKey = hex(o, 'publicKey', PUBLIC_KEY_BYTES)
  if (('seed' in o) === ('encrypted' in o)) return corrupt('it must hold exactly one of "seed" and "encrypted"')
  if ('seed' in o) return { publicKey, seed: hex(o, 'seed', SEED_BYTES) }
  const e = o.encrypted
  if (typeof e !== 'object' || e === null || Array.isArray(e)) return corrupt('"encrypted" is not an object')
  const enc = e as Record<string, unknown>
  for (const k of Object.keys(enc)) if (!ENC_FIELDS.has(k)) return corrupt(`unknown field "encrypted.${k.slice(0, 32)}"`)
  if (enc.kdf !== 'scrypt') return corrupt('"encrypted.kdf" is not "scrypt"')
  if (enc.cipher !== 'aes-256-gcm') return corrupt('"encrypted.cipher" is not "aes-256-gcm"')
  const params = { N: enc.N, r: enc.r, p: enc.p } as ScryptParams
  const problem = scryptProblem(params)
  if (problem !== undefined) return corrupt(problem)
  return {
    publicKey,
    sealed: {
      params,
      salt: hex(enc, 'salt', SALT_BYTES, SALT_MAX_BYTES),
      nonce: hex(enc, 'nonce', NONCE_BYTES),
      ciphertext: hex(enc, 'ciphertext', SEED_BYTES),
      tag: hex(enc, 'tag', TAG_BYTES),
    },
  }
}

function readAndParse (path: string): KeyFile {
  const bytes = readKeyFile(path)
  try { return parseKeyFile(bytes, path) } finally { bytes.fill(0) }
}

function mismatch (path: string): KeyError {
  return new KeyError('mismatch', `the public key in ${path} does not belong to its private key: the file was altered`)
}

export interface SaveOptions {
  /** Seal the seed under this passphrase (scrypt + AES-256-GCM); none: plain. */
  passphrase?: string
  /** Replace an existing key file (the old key is lost). Without it an existing file is a KeyError 'exists'. */
  force?: boolean
  /** scrypt parameters of a sealed key, within SCRYPT_BOUNDS (default DEFAULT_SCRYPT). */
  scrypt?: Partial<ScryptParams>
  logger?: Logger
}

/** Write key to `publisher.key` in dataDir (see the top of this file). Returns the path. */
export function savePublisherKey (dataDir: string, key: PublisherKey, opts: SaveOptions = {}): string {
  const path = publisherKeyPath(dataDir)
  const force = opts.force === true
  if (!force && publisherKeyExists(dataDir)) throw existsError(path)
  const params: ScryptParams = { ...DEFAULT_SCRYPT, ...opts.scrypt }
  const text = encodeKeyFile(key, opts.passphrase, params)
  try {
    mkdirSync(dataDir, { recursive: true, mode: 0o700 })
  } catch (err) {
    throw new KeyError('io', `cannot create the data directory ${dataDir}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { cause: err })
  }
  const tmp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`
  try {
    const fd = openSync(tmp, 'wx', 0o600)
    try {
      // Exactly 0600 whatever the umask.
      if (process.platform !== 'win32') fchmodSync(fd, 0o600)
      writeSync(fd, text)
      fsyncSync(fd)
    } finally { closeSync(fd) }
    if (force) renameSync(tmp, path)
    else placeNew(tmp, path)
  } catch (err) {
    if (err instanceof KeyError) throw err
    throw new KeyError('io', `cannot write the publisher key ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { cause: err })
  } finally {
    rmSync(tmp, { force: true })
  }
  syncDir(dataDir)
  opts.logger?.info({ path, publicKey: key.publicKeyHex, encrypted: opts.passphrase !== undefined }, 'publisher key saved')
  return path
}

function existsError (path: string): KeyError {
  return new KeyError('exists', `${path} already exists; refusing to replace a publisher key (with --force the old key is lost, and with it the identity others know you by)`)
}

/** Move tmp to path unless path exists: link (atomic, fails on an existing file), or where links are not supported check and rename. */
function placeNew (tmp: string, path: string): void {
  try {
    linkSync(tmp, path)
    return
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    if (code === 'EEXIST') throw existsError(path)
    if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP' && code !== 'ENOSYS' && code !== 'EXDEV') throw err
  }
  try { lstatSync(path); throw existsError(path) } catch (err) {
    if (err instanceof KeyError) throw err
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
  }
  renameSync(tmp, path)
}

/** fsync the directory so the new name survives a crash (best effort: not every platform can). */
function syncDir (dir: string): void {
  let fd: number | undefined
  try { fd = openSync(dir, 'r'); fsyncSync(fd) } catch { /* not supported here */ } finally { if (fd !== undefined) closeSync(fd) }
}

export interface LoadOptions {
  /** The passphrase of a sealed key; ignored for a plain one. */
  passphrase?: string
  logger?: Logger
}

/** Read, check and (with the passphrase) unseal `publisher.key` in dataDir. */
export function loadPublisherKey (dataDir: string, opts: LoadOptions = {}): PublisherKey {
  const path = publisherKeyPath(dataDir)
  const file = readAndParse(path)
  let seed: Buffer
  if (file.seed !== undefined) {
    seed = file.seed
  } else {
    const s = file.sealed as NonNullable<KeyFile['sealed']>
    if (opts.passphrase === undefined) {
      throw new KeyError('passphrase-required', `the publisher key ${path} is encrypted and no passphrase was given (--passphrase-file FILE or --passphrase-env VAR)`)
    }
    const pass = passphraseBytes(opts.passphrase)
    const k = deriveKey(pass, s.salt, s.params)
    pass.fill(0)
    try {
      const decipher = createDecipheriv('aes-256-gcm', k, s.nonce, { authTagLength: TAG_BYTES })
      decipher.setAAD(aad(file.publicKey.toString('hex')))
      decipher.setAuthTag(s.tag)
      const head = decipher.update(s.ciphertext)
      try {
        seed = Buffer.concat([head, decipher.final()])
      } catch {
        throw new KeyError('passphrase-wrong', `wrong passphrase for the publisher key ${path} (or the file was altered)`)
      } finally { head.fill(0) }
    } finally { k.fill(0) }
  }
  let key: PublisherKey
  try { key = PublisherKey.fromSeed(seed) } finally { seed.fill(0) }
  if (!timingSafeEqual(key.publicKey, file.publicKey)) throw mismatch(path)
  opts.logger?.info({ path, publicKey: key.publicKeyHex, encrypted: file.sealed !== undefined }, 'publisher key loaded')
  return key
}

export interface PublisherKeyInfo {
  path: string
  /** Raw 32 bytes. */
  publicKey: Buffer
  publicKeyHex: string
  encrypted: boolean
  /** The scrypt parameters of a sealed key. */
  scrypt?: ScryptParams
}

/**
 * The public half of `publisher.key` in dataDir, without a passphrase. The file gets every check
 * loadPublisherKey makes short of unsealing: for a plain key the public key is re-derived from
 * the seed; for a sealed one it is bound to the seed by the GCM tag and checked when unsealed.
 */
export function readPublisherKeyInfo (dataDir: string): PublisherKeyInfo {
  const path = publisherKeyPath(dataDir)
  const file = readAndParse(path)
  if (file.seed !== undefined) {
    let key: PublisherKey
    try { key = PublisherKey.fromSeed(file.seed) } finally { file.seed.fill(0) }
    if (!timingSafeEqual(key.publicKey, file.publicKey)) throw mismatch(path)
  }
  return {
    path,
    publicKey: file.publicKey,
    publicKeyHex: file.publicKey.toString('hex'),
    encrypted: file.sealed !== undefined,
    ...(file.sealed !== undefined ? { scrypt: { ...file.sealed.params } } : {}),
  }
}

/**
 * The data directory's key, or, when there is none, a new one minted and saved as keygen does
 * (sealed when a passphrase is given): DESIGN.md "Keys", minted by keygen or on first publish.
 * `minted` tells the caller to show the new public key. savePublisherKey links the file into
 * place, so a keygen racing this one wins and its key is loaded instead.
 */
export function loadOrCreatePublisherKey (dataDir: string, opts: LoadOptions = {}): { key: PublisherKey, minted: boolean } {
  if (publisherKeyExists(dataDir)) return { key: loadPublisherKey(dataDir, opts), minted: false }
  const key = generatePublisherKey()
  try {
    savePublisherKey(dataDir, key, { passphrase: opts.passphrase })
  } catch (err) {
    if (err instanceof KeyError && err.reason === 'exists') return { key: loadPublisherKey(dataDir, opts), minted: false }
    throw err
  }
  opts.logger?.info({ publicKey: key.publicKeyHex, path: publisherKeyPath(dataDir) }, 'publisher key minted')
  return { key, minted: true }
}

