// The pointer: a BEP-46 mutable item (BEP-44) under the publisher key, whose value names the
// catalog torrent. Pure codec and checks here; persistence in pointer-store.ts, the DHT in
// pointer-dht.ts; docs/library.md "Pointer".
//
// Value (BEP-46): the bencoded dict { "ih": <20-byte infohash> }. BEP-46 allows only a 20-byte
// infohash, so a v1 or hybrid catalog is named by its v1 infohash, and a v2-only one by its
// SHA-256 infohash truncated to 20 bytes (what BEP-52 announces on the DHT and sends in the
// handshake). Reading, other keys of the dict are ignored (a later BEP may add some); `ih` must
// be 20 bytes.
//
// Signed buffer (BEP-44): the bencoded pairs without the enclosing dict,
//   [4:salt<len>:<salt>]  3:seqi<seq>e  1:v<bencoded v>
// the salt pair only with a (non-empty) salt. Target: SHA-1(public key ‖ salt).
// Caps (BEP-44), errors and never truncations: the bencoded v at most 1000 bytes, the salt at
// most 64 bytes (LimitError). seq: an integer 0..2^53-1 (SchemaError otherwise; bencode allows
// int64, but JavaScript numbers are exact only to 2^53).

import { createPublicKey, verify as cryptoVerify, type KeyObject } from 'node:crypto'
import { decode, encode, isDict, type BValue } from '../core/bencode.js'
import { LimitError, PointerError, SchemaError } from '../core/errors.js'
import { LIMITS } from '../core/limits.js'
import { mutableItemTarget, PUBLIC_KEY_BYTES, SIGNATURE_BYTES } from '../identity/publisher-key.js'

export const POINTER_IH_BYTES = 20
export const MAX_SEQ = Number.MAX_SAFE_INTEGER

/** What signs a pointer: a PublisherKey fits. */
export interface PointerSigner { publicKey: Buffer, sign: (message: Uint8Array) => Buffer }

/** A signed BEP-44 mutable item, as sent in a put or received from a get. */
export interface MutableItem {
  /** ed25519 public key, 32 bytes. */
  k: Buffer
  /** Salt (absent or empty: none). */
  salt?: Buffer
  seq: number
  /** The bencoded value. */
  v: Buffer
  /** ed25519 signature of the signable buffer, 64 bytes. */
  sig: Buffer
}

/** A verified pointer: the infohash it names and its seq. */
export interface Pointer { ih: Buffer, seq: number }

/** A salt as bytes (a string is UTF-8); an empty salt is none (BEP-44). LimitError past 64 bytes. */
export function saltBytes (salt: Uint8Array | string | undefined): Buffer | undefined {
  if (salt === undefined) return undefined
  const s = typeof salt === 'string' ? Buffer.from(salt, 'utf8') : Buffer.from(salt)
  if (s.length > LIMITS.bep44MaxSalt) throw new LimitError(`a BEP-44 salt is at most ${LIMITS.bep44MaxSalt} bytes, this one is ${s.length}`)
  return s.length === 0 ? undefined : s
}

export function checkSeq (seq: unknown): number {
  if (typeof seq !== 'number' || !Number.isSafeInteger(seq) || seq < 0) throw new SchemaError(`a pointer seq must be an integer in 0..${MAX_SEQ}, got ${String(seq).slice(0, 32)}`)
  return seq
}

function checkValueSize (v: Uint8Array): void {
  if (v.length > LIMITS.bep44MaxValue) throw new LimitError(`a BEP-44 value is at most ${LIMITS.bep44MaxValue} bytes bencoded, this one is ${v.length}`)
}

function checkKey (k: Uint8Array): void {
  if (!(k instanceof Uint8Array) || k.length !== PUBLIC_KEY_BYTES) throw new SchemaError(`an ed25519 public key is ${PUBLIC_KEY_BYTES} bytes`)
}

/** The bencoded BEP-46 value { ih } of an infohash (20 bytes; SchemaError otherwise). */
export function encodePointerValue (ih: Uint8Array): Buffer {
  if (!(ih instanceof Uint8Array) || ih.length !== POINTER_IH_BYTES) {
    throw new SchemaError(`a BEP-46 pointer names a ${POINTER_IH_BYTES}-byte infohash (a v2-only torrent: its SHA-256 infohash truncated to 20 bytes), got ${ih?.length ?? 'none'} bytes`)
  }
  return encode({ ih })
}

/** The infohash in a bencoded BEP-46 value: SchemaError unless a dict with a 20-byte `ih`; LimitError past 1000 bytes. */
export function decodePointerValue (v: Uint8Array): Buffer {
  checkValueSize(v)
  let d: BValue
  try {
    d = decode(v, { maxBytes: LIMITS.bep44MaxValue, maxDepth: LIMITS.krpcMaxDepth, maxItems: LIMITS.krpcMaxItems })
  } catch (err) {
    throw new SchemaError(`the pointer value does not decode: ${(err as Error).message}`, { cause: err })
  }
  if (!isDict(d)) throw new SchemaError('the pointer value is not a dict (BEP-46: { ih: <20-byte infohash> })')
  const ih = d.ih
  if (!(ih instanceof Uint8Array) || ih.length !== POINTER_IH_BYTES) throw new SchemaError(`the pointer value has no ${POINTER_IH_BYTES}-byte "ih"`)
  return Buffer.from(ih)
}

/** The buffer BEP-44 signs: [4:salt<len>:<salt>]3:seqi<seq>e1:v<v>, v already bencoded. */
export function signableBuffer (seq: number, v: Uint8Array, salt?: Uint8Array | string): Buffer {
  checkSeq(seq)
  checkValueSize(v)
  const s = saltBytes(salt)
  const parts: Buffer[] = []
  if (s !== undefined) parts.push(Buffer.from(`4:salt${s.length}:`, 'ascii'), s)
  parts.push(Buffer.from(`3:seqi${seq}e1:v`, 'ascii'), Buffer.from(v))
  return Buffer.concat(parts)
}

/** The DHT target of the item under a public key and salt: SHA-1(k ‖ salt). */
export function pointerTarget (publicKey: Uint8Array, salt?: Uint8Array | string): Buffer {
  checkKey(publicKey)
  return mutableItemTarget(publicKey, saltBytes(salt))
}

/** Sign a bencoded value as a mutable item (caps checked first: LimitError, SchemaError). */
export function signMutable (signer: PointerSigner, v: Uint8Array, seq: number, salt?: Uint8Array | string): MutableItem {
  const s = saltBytes(salt)
  const msg = signableBuffer(seq, v, s)
  const k = Buffer.from(signer.publicKey)
  checkKey(k)
  return { k, ...(s !== undefined ? { salt: s } : {}), seq, v: Buffer.from(v), sig: signer.sign(msg) }
}

/** Sign a pointer to ih. */
export function signPointer (signer: PointerSigner, ih: Uint8Array, seq: number, salt?: Uint8Array | string): MutableItem {
  return signMutable(signer, encodePointerValue(ih), seq, salt)
}

/** DER SubjectPublicKeyInfo header of an ed25519 public key (RFC 8410). */
const SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex')

function publicKeyObject (k: Uint8Array): KeyObject {
  return createPublicKey({ key: Buffer.concat([SPKI_PREFIX, k]), format: 'der', type: 'spki' })
}

/** ed25519 verification (node:crypto) with bittorrent-dht's `verify` signature; false, never a throw, on any bad input. */
export function ed25519Verify (sig: Uint8Array, msg: Uint8Array, publicKey: Uint8Array): boolean {
  if (!(sig instanceof Uint8Array) || sig.length !== SIGNATURE_BYTES) return false
  if (!(publicKey instanceof Uint8Array) || publicKey.length !== PUBLIC_KEY_BYTES) return false
  if (!(msg instanceof Uint8Array)) return false
  try { return cryptoVerify(null, msg, publicKeyObject(publicKey), sig) } catch { return false }
}

/**
 * Check a received item: the shapes and caps (SchemaError, LimitError), that it is under the
 * expected key and salt (PointerError 'target'), and its signature (PointerError 'signature').
 */
export function verifyMutable (item: MutableItem, expected: { publicKey: Uint8Array, salt?: Uint8Array | string }): void {
  checkKey(item.k)
  checkKey(expected.publicKey)
  if (!(item.sig instanceof Uint8Array) || item.sig.length !== SIGNATURE_BYTES) throw new SchemaError(`an ed25519 signature is ${SIGNATURE_BYTES} bytes`)
  const want = saltBytes(expected.salt)
  const got = saltBytes(item.salt)
  if (!Buffer.from(item.k).equals(Buffer.from(expected.publicKey)) || !(want === undefined ? got === undefined : got !== undefined && got.equals(want))) {
    throw new PointerError('target', `the item is under key ${Buffer.from(item.k).toString('hex')}${got !== undefined ? ` salt ${got.toString('hex')}` : ''}, not the publisher key and salt asked for`)
  }
  const msg = signableBuffer(checkSeq(item.seq), item.v, got)
  if (!ed25519Verify(item.sig, msg, item.k)) {
    throw new PointerError('signature', `the pointer signature does not verify for key ${Buffer.from(item.k).toString('hex')} (seq ${item.seq}): the item was altered or forged`)
  }
}

/** Verify a received item and read its pointer. */
export function openPointer (item: MutableItem, expected: { publicKey: Uint8Array, salt?: Uint8Array | string }): Pointer {
  verifyMutable(item, expected)
  return { ih: decodePointerValue(item.v), seq: item.seq }
}

/**
 * The seq of the next put: one more than the highest of what the DHT holds now and what we
 * put before (BEP-44: seq only grows). The first put is seq 1. LimitError when seq is exhausted.
 */
export function nextSeq (...known: Array<number | undefined>): number {
  let top = 0
  for (const s of known) if (s !== undefined) top = Math.max(top, checkSeq(s))
  if (top >= MAX_SEQ) throw new LimitError(`the pointer seq is at its maximum (${MAX_SEQ})`)
  return top + 1
}
