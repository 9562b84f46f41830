// bb_auth: the wire codec and the key schedule (pure; node:crypto only). The protocol, with
// every field, cap and the exact bytes MACed and signed, is in docs/protocol.md "bb_auth
// (BEP-10 extension)"; the state machine is in bb-auth.ts.
//
// Nothing here logs, and no error carries a key, a nonce, a proof or a tag.

import { createHmac, createPublicKey, hkdfSync, timingSafeEqual, verify as cryptoVerify, type KeyObject } from 'node:crypto'
import { decode, encode, getBytes, getInt, isDict, type BDict, type EncodableValue } from '../src/core/bencode.js'
import { DecodeError, LimitError, SchemaError } from '../src/core/errors.js'

export const BB_AUTH = 'bb_auth'
export const BB_AUTH_VERSION = 1
/** Largest bb_auth payload (the largest message, a hello with a publisher key, is 143 bytes). */
export const BB_AUTH_MAX_MESSAGE = 256
/** Community keys one node may hold: the most a verifier tries against one proof. */
export const BB_AUTH_MAX_KEYS = 16
/** Default total deadline for bb_auth, from our challenge (or the first bb_auth message) to authenticated. */
export const BB_AUTH_TIMEOUT_MS = 10_000

export const COMMUNITY_KEY_BYTES = 32
export const NONCE_BYTES = 32
export const PROOF_BYTES = 32
export const SESSION_TAG_BYTES = 16
export const PUBLIC_KEY_BYTES = 32
export const SIGNATURE_BYTES = 64
export const PEER_ID_BYTES = 20
export const INFOHASH_BYTES = 20

/** Message types (`t`). */
export const AUTH_MSG = Object.freeze({ challenge: 1, proof: 2, hello: 3 })

// Labels: ASCII, each used in exactly one place, so no MAC or signature of one kind can stand
// in for another.
export const LABEL_PROOF_KEY = 'bbmesh/bb_auth/v1 proof key'
export const LABEL_SESSION_KEY = 'bbmesh/bb_auth/v1 session key'
export const LABEL_PROOF = 'bbmesh/bb_auth/v1 proof'
export const LABEL_SESSION = 'bbmesh/bb_auth/v1 session'
export const LABEL_HELLO = 'bbmesh/bb_auth/v1 hello'

/** Role bytes in transcripts: the side that opened the TCP connection is the initiator. */
export const ROLE_INITIATOR = 0x49 // 'I'
export const ROLE_RESPONDER = 0x52 // 'R'

export type Role = 'initiator' | 'responder'

export type AuthMessage =
  | { type: 'challenge', nonce: Buffer }
  | { type: 'proof', proof: Buffer }
  | { type: 'hello', mac: Buffer, publicKey?: Buffer, signature?: Buffer }

// ---------------------------------------------------------------- codec

/** Keys each message type must have exactly (no more, no fewer), besides `t`. */
const SHAPES: Record<number, { required: Record<string, number>, optional: Record<string, number> }> = {
  [AUTH_MSG.challenge]: { required: { v: -1, n: NONCE_BYTES }, optional: {} },
  [AUTH_MSG.proof]: { required: { p: PROOF_BYTES }, optional: {} },
  [AUTH_MSG.hello]: { required: { mac: SESSION_TAG_BYTES }, optional: { pk: PUBLIC_KEY_BYTES, sig: SIGNATURE_BYTES } },
}

export function encodeAuthMessage (m: AuthMessage): Buffer {
  let d: Record<string, EncodableValue>
  switch (m.type) {
    case 'challenge':
      exact(m.nonce, NONCE_BYTES, 'nonce')
      d = { t: AUTH_MSG.challenge, v: BB_AUTH_VERSION, n: m.nonce }
      break
    case 'proof':
      exact(m.proof, PROOF_BYTES, 'proof')
      d = { t: AUTH_MSG.proof, p: m.proof }
      break
    case 'hello':
      exact(m.mac, SESSION_TAG_BYTES, 'mac')
      if ((m.publicKey === undefined) !== (m.signature === undefined)) throw new RangeError('bb_auth hello: pk and sig go together')
      d = { t: AUTH_MSG.hello, mac: m.mac }
      if (m.publicKey !== undefined && m.signature !== undefined) {
        exact(m.publicKey, PUBLIC_KEY_BYTES, 'pk')
        exact(m.signature, SIGNATURE_BYTES, 'sig')
        d.pk = m.publicKey
        d.sig = m.signature
      }
      break
  }
  return encode(d)
}

/**
 * Decode one bb_auth payload (after the extension id byte). Total: returns a message or throws
 * LimitError (over the cap, checked first), DecodeError (not bencode, nested, trailing bytes,
 * not canonical) or SchemaError (not a dict, `__proto__`, unknown `t`, a missing, extra or
 * wrong-typed key, a wrong length, a version other than 1).
 */
export function decodeAuthMessage (payload: Uint8Array): AuthMessage {
  if (!(payload instanceof Uint8Array)) throw new DecodeError('bb_auth: payload is not bytes')
  if (payload.length > BB_AUTH_MAX_MESSAGE) throw new LimitError(`bb_auth message of ${payload.length} bytes exceeds cap ${BB_AUTH_MAX_MESSAGE}`)
  let v
  try {
    // Depth 1: the top dict holds only integers and strings. 16 values is twice what a hello has.
    v = decode(payload, { maxDepth: 1, maxItems: 16 })
  } catch (err) {
    if (err instanceof LimitError) throw new LimitError(`bb_auth: ${err.message}`, { cause: err })
    throw new DecodeError(`bb_auth: ${err instanceof Error ? err.message : 'does not decode'}`, { cause: err })
  }
  if (!isDict(v)) throw new SchemaError('bb_auth: message is not a dict')
  if (Object.prototype.hasOwnProperty.call(v, '__proto__')) throw new SchemaError('bb_auth: __proto__ key')
  const t = getInt(v, 't')
  if (t === undefined) throw new SchemaError('bb_auth: missing or non-integer t')
  const shape = Object.prototype.hasOwnProperty.call(SHAPES, t) ? SHAPES[t] : undefined
  if (shape === undefined) throw new SchemaError(`bb_auth: unknown message type ${t}`)
  for (const k of Object.keys(v)) {
    if (k !== 't' && !Object.prototype.hasOwnProperty.call(shape.required, k) && !Object.prototype.hasOwnProperty.call(shape.optional, k)) {
      throw new SchemaError(`bb_auth: unexpected key ${JSON.stringify(printable(k))} in message type ${t}`)
    }
  }
  let msg: AuthMessage
  if (t === AUTH_MSG.challenge) {
    const ver = getInt(v, 'v')
    if (ver === undefined) throw new SchemaError('bb_auth challenge: missing or non-integer v')
    if (ver !== BB_AUTH_VERSION) throw new SchemaError(`bb_auth challenge: unsupported version ${ver}`)
    msg = { type: 'challenge', nonce: field(v, 'n', NONCE_BYTES, 'challenge') }
  } else if (t === AUTH_MSG.proof) {
    msg = { type: 'proof', proof: field(v, 'p', PROOF_BYTES, 'proof') }
  } else {
    const mac = field(v, 'mac', SESSION_TAG_BYTES, 'hello')
    const hasPk = Object.prototype.hasOwnProperty.call(v, 'pk')
    const hasSig = Object.prototype.hasOwnProperty.call(v, 'sig')
    if (hasPk !== hasSig) throw new SchemaError('bb_auth hello: pk and sig go together')
    msg = hasPk
      ? { type: 'hello', mac, publicKey: field(v, 'pk', PUBLIC_KEY_BYTES, 'hello'), signature: field(v, 'sig', SIGNATURE_BYTES, 'hello') }
      : { type: 'hello', mac }
  }
  // One encoding per message: keys sorted (BEP-3), nothing re-ordered or padded.
  if (!encodeAuthMessage(msg).equals(payload)) throw new DecodeError('bb_auth: not canonical bencode (keys out of order)')
  return msg
}

function field (d: BDict, key: string, len: number, what: string): Buffer {
  const b = getBytes(d, key)
  if (b === undefined) throw new SchemaError(`bb_auth ${what}: missing or non-string ${key}`)
  if (b.length !== len) throw new SchemaError(`bb_auth ${what}: ${key} is ${b.length} bytes, expected ${len}`)
  return Buffer.from(b)
}

function exact (b: Uint8Array, len: number, what: string): void {
  if (!(b instanceof Uint8Array) || b.length !== len) throw new RangeError(`bb_auth: ${what} must be ${len} bytes`)
}

/** A dict key from the network, safe to put in an error message (short, printable). */
function printable (k: string): string {
  const s = k.length > 24 ? k.slice(0, 24) + '…' : k
  return s.replace(/[^\x20-\x7e]/g, '?')
}

// ---------------------------------------------------------------- key schedule

export interface CommunityAuthKeys {
  /** HKDF-SHA256(K, salt = empty, info = LABEL_PROOF_KEY, 32). */
  proofKey: Buffer
  /** HKDF-SHA256(K, salt = empty, info = LABEL_SESSION_KEY, 32). */
  sessionKey: Buffer
}

/** The two keys bb_auth uses, derived once from a 32-byte community key K. */
export function deriveAuthKeys (communityKey: Buffer): CommunityAuthKeys {
  exact(communityKey, COMMUNITY_KEY_BYTES, 'a community key')
  const hkdf = (info: string): Buffer => Buffer.from(hkdfSync('sha256', communityKey, Buffer.alloc(0), Buffer.from(info, 'ascii'), 32))
  return { proofKey: hkdf(LABEL_PROOF_KEY), sessionKey: hkdf(LABEL_SESSION_KEY) }
}

/** The two ends of one connection, named by role. */
export interface Transcript {
  /** The 20-byte infohash of the BitTorrent handshake. */
  infohash: Buffer
  initiatorPeerId: Buffer
  responderPeerId: Buffer
  initiatorNonce: Buffer
  responderNonce: Buffer
}

function checkTranscript (t: Transcript): void {
  exact(t.infohash, INFOHASH_BYTES, 'the infohash')
  exact(t.initiatorPeerId, PEER_ID_BYTES, 'a peer id')
  exact(t.responderPeerId, PEER_ID_BYTES, 'a peer id')
  exact(t.initiatorNonce, NONCE_BYTES, 'a nonce')
  exact(t.responderNonce, NONCE_BYTES, 'a nonce')
}

/**
 * The bytes a prover MACs (all fields fixed length, so plain concatenation is unambiguous):
 *   LABEL_PROOF (23) ‖ role of the prover (1: 'I' or 'R') ‖ prover's nonce (32) ‖
 *   verifier's nonce (32) ‖ prover's peer id (20) ‖ verifier's peer id (20) ‖ infohash (20)
 */
export function proofTranscript (prover: Role, t: Transcript): Buffer {
  checkTranscript(t)
  const byInitiator = prover === 'initiator'
  return Buffer.concat([
    Buffer.from(LABEL_PROOF, 'ascii'),
    Buffer.from([byInitiator ? ROLE_INITIATOR : ROLE_RESPONDER]),
    byInitiator ? t.initiatorNonce : t.responderNonce,
    byInitiator ? t.responderNonce : t.initiatorNonce,
    byInitiator ? t.initiatorPeerId : t.responderPeerId,
    byInitiator ? t.responderPeerId : t.initiatorPeerId,
    t.infohash,
  ])
}

/** proof = HMAC-SHA256(proofKey, proofTranscript(prover, t)), 32 bytes. */
export function computeProof (proofKey: Buffer, prover: Role, t: Transcript): Buffer {
  return createHmac('sha256', proofKey).update(proofTranscript(prover, t)).digest()
}

export function verifyProof (proofKey: Buffer, prover: Role, t: Transcript, proof: Uint8Array): boolean {
  if (proof.length !== PROOF_BYTES) return false
  return timingSafeEqual(computeProof(proofKey, prover, t), proof)
}

export interface DirectionKeys {
  /** Key of the messages the initiator sends. */
  initiatorToResponder: Buffer
  /** Key of the messages the responder sends. */
  responderToInitiator: Buffer
}

/**
 * Per-connection, per-direction session keys:
 *   K_dir = HMAC-SHA256(sessionKey, LABEL_SESSION (25) ‖ dir (1: 'I' for initiator → responder,
 *           'R' for responder → initiator) ‖ initiator nonce ‖ responder nonce ‖
 *           initiator peer id ‖ responder peer id ‖ infohash)
 */
export function deriveDirectionKeys (sessionKey: Buffer, t: Transcript): DirectionKeys {
  checkTranscript(t)
  const k = (dir: number): Buffer => createHmac('sha256', sessionKey)
    .update(Buffer.from(LABEL_SESSION, 'ascii'))
    .update(Buffer.from([dir]))
    .update(t.initiatorNonce).update(t.responderNonce)
    .update(t.initiatorPeerId).update(t.responderPeerId)
    .update(t.infohash)
    .digest()
  return { initiatorToResponder: k(ROLE_INITIATOR), responderToInitiator: k(ROLE_RESPONDER) }
}

/**
 * The session tag of the counter-th message (0-based, per direction) of extension `name`:
 *   first 16 bytes of HMAC-SHA256(K_dir, counter (8, big-endian) ‖ len(name) (1) ‖ name ‖ payload)
 */
export function sessionMac (directionKey: Buffer, counter: number, name: string, payload: Uint8Array): Buffer {
  if (!Number.isSafeInteger(counter) || counter < 0) throw new RangeError('session counter out of range')
  const nb = Buffer.from(name, 'latin1')
  if (nb.length === 0 || nb.length > 255 || nb.toString('latin1') !== name) throw new RangeError('extension name must be 1..255 latin1 bytes')
  const head = Buffer.alloc(9)
  head.writeBigUInt64BE(BigInt(counter), 0)
  head[8] = nb.length
  return createHmac('sha256', directionKey).update(head).update(nb).update(payload).digest().subarray(0, SESSION_TAG_BYTES)
}

export function verifySessionMac (directionKey: Buffer, counter: number, name: string, payload: Uint8Array, tag: Uint8Array): boolean {
  if (tag.length !== SESSION_TAG_BYTES) return false
  return timingSafeEqual(sessionMac(directionKey, counter, name, payload), tag)
}

/** The bytes a hello's `mac` covers: pk ‖ sig when present, else nothing. */
export function helloMacPayload (publicKey?: Uint8Array, signature?: Uint8Array): Buffer {
  return publicKey === undefined || signature === undefined ? Buffer.alloc(0) : Buffer.concat([publicKey, signature])
}

/**
 * The bytes a hello's signature covers:
 *   LABEL_HELLO (23) ‖ signer's nonce (32) ‖ recipient's nonce (32) ‖ recipient's peer id (20)
 */
export function helloSignedMessage (signerNonce: Buffer, recipientNonce: Buffer, recipientPeerId: Buffer): Buffer {
  exact(signerNonce, NONCE_BYTES, 'a nonce')
  exact(recipientNonce, NONCE_BYTES, 'a nonce')
  exact(recipientPeerId, PEER_ID_BYTES, 'a peer id')
  return Buffer.concat([Buffer.from(LABEL_HELLO, 'ascii'), signerNonce, recipientNonce, recipientPeerId])
}

/** DER SubjectPublicKeyInfo header of an ed25519 key (RFC 8410); the 32 raw bytes follow. */
const ED25519_SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex')

/** An ed25519 public KeyObject from its 32 raw bytes. */
export function ed25519PublicKey (raw: Uint8Array): KeyObject {
  exact(raw, PUBLIC_KEY_BYTES, 'an ed25519 public key')
  return createPublicKey({ key: Buffer.concat([ED25519_SPKI_PREFIX, raw]), format: 'der', type: 'spki' })
}

/** Whether signature is a valid ed25519 signature by publicKey (raw 32 bytes) over message. Never throws on bad input. */
export function verifyEd25519 (publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  if (publicKey.length !== PUBLIC_KEY_BYTES || signature.length !== SIGNATURE_BYTES) return false
  try {
    return cryptoVerify(null, message, ed25519PublicKey(publicKey), signature)
  } catch {
    // OpenSSL refuses some 32-byte strings as keys: that is a bad signature, not a crash.
    return false
  }
}

/** The 32 raw bytes of an ed25519 public KeyObject. */
export function rawEd25519PublicKey (key: KeyObject): Buffer {
  const der = key.export({ format: 'der', type: 'spki' })
  if (der.length !== ED25519_SPKI_PREFIX.length + PUBLIC_KEY_BYTES || !der.subarray(0, ED25519_SPKI_PREFIX.length).equals(ED25519_SPKI_PREFIX)) {
    throw new RangeError('not an ed25519 public key')
  }
  return Buffer.from(der.subarray(ED25519_SPKI_PREFIX.length))
}
