// Peer-wire message ids, the BEP-10 extended message codec and the BEP-52 hash request /
// hashes / hash reject header (pure).

import { decode, decodePrefix, encode, getBytes, getDict, getInt, isDict, type BDict, type EncodableValue } from '../core/bencode.js'
import { ProtocolError } from '../core/errors.js'
import { LIMITS } from '../core/limits.js'

export const MSG = Object.freeze({
  choke: 0, unchoke: 1, interested: 2, notInterested: 3, have: 4, bitfield: 5,
  request: 6, piece: 7, cancel: 8, port: 9,
  hashRequest: 21, hashes: 22, hashReject: 23,
  extended: 20,
})

export function frame (id: number, payload?: Uint8Array): Buffer {
  const len = 1 + (payload?.length ?? 0)
  const b = Buffer.allocUnsafe(4 + len)
  b.writeUInt32BE(len, 0)
  b[4] = id
  if (payload !== undefined) b.set(payload, 5)
  return b
}

export function extendedFrame (extId: number, dict: EncodableValue, trailer?: Uint8Array): Buffer {
  const body = encode(dict)
  const payload = Buffer.allocUnsafe(1 + body.length + (trailer?.length ?? 0))
  payload[0] = extId
  body.copy(payload, 1)
  if (trailer !== undefined) payload.set(trailer, 1 + body.length)
  return frame(MSG.extended, payload)
}

export interface ExtHandshake {
  /** Extension name → the id the remote wants us to use when sending to it. */
  m: Map<string, number>
  metadataSize?: number
  client?: string
  reqq?: number
  port?: number
  raw: BDict
}

/** Decode a BEP-10 handshake payload (after the ext id byte 0). */
export function decodeExtHandshake (payload: Uint8Array): ExtHandshake {
  if (payload.length > LIMITS.extHandshakeMax) throw new ProtocolError(`extended handshake of ${payload.length} bytes exceeds cap`)
  let d: unknown
  try {
    d = decode(payload, { maxDepth: 4, maxItems: 1024 })
  } catch (err) {
    throw new ProtocolError('extended handshake does not decode', { cause: err })
  }
  if (!isDict(d)) throw new ProtocolError('extended handshake is not a dict')
  const m = new Map<string, number>()
  const md = getDict(d, 'm')
  if (md !== undefined) {
    for (const k of Object.keys(md)) {
      const v = md[k]
      // BEP-10: 0 disables; ids are one byte.
      if (typeof v === 'number' && v > 0 && v < 256) m.set(k, v)
    }
  }
  const size = getInt(d, 'metadata_size')
  const v = getBytes(d, 'v')
  return {
    m,
    metadataSize: size,
    client: v === undefined ? undefined : Buffer.from(v).toString('utf8').slice(0, 64),
    reqq: getInt(d, 'reqq'),
    port: getInt(d, 'p'),
    raw: d,
  }
}

export interface MetadataMessage {
  msgType: number
  piece: number
  totalSize?: number
  data?: Buffer
}

/** Decode a BEP-9 ut_metadata message: a bencoded dict, for `data` followed by the piece bytes. */
export function decodeMetadataMessage (payload: Uint8Array): MetadataMessage {
  let r
  try {
    r = decodePrefix(payload, { maxDepth: 2, maxItems: 16 })
  } catch (err) {
    throw new ProtocolError('ut_metadata message does not decode', { cause: err })
  }
  if (!isDict(r.value)) throw new ProtocolError('ut_metadata message is not a dict')
  const msgType = getInt(r.value, 'msg_type')
  const piece = getInt(r.value, 'piece')
  if (msgType === undefined || piece === undefined) throw new ProtocolError('ut_metadata message lacks msg_type or piece')
  if (piece < 0) throw new ProtocolError('ut_metadata negative piece')
  const out: MetadataMessage = { msgType, piece, totalSize: getInt(r.value, 'total_size') }
  if (msgType === 1) out.data = Buffer.from(payload.subarray(r.end))
  else if (r.end !== payload.length) throw new ProtocolError('ut_metadata message has trailing bytes')
  return out
}

// ------------------------------------------------------------------ BEP-52 hash messages

/** A pieces root: SHA-256. */
const ROOT_BYTES = 32
/** Bytes of a hash request / hash reject payload, and of the header of a hashes message. */
export const HASH_REQUEST_BYTES = ROOT_BYTES + 4 * 4

export interface HashRequest {
  /** The file's pieces root (32 bytes). */
  root: Buffer
  /** Layer of the requested hashes: 0 = 16 KiB blocks. */
  base: number
  index: number
  length: number
  proofLayers: number
}

/** Decode the payload of a hash request (or hash reject): after the message id, exactly 48 bytes. */
export function decodeHashRequest (payload: Uint8Array): HashRequest {
  if (payload.length !== HASH_REQUEST_BYTES) throw new ProtocolError(`hash request: ${payload.length} bytes, need ${HASH_REQUEST_BYTES}`)
  const b = Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength)
  return {
    root: Buffer.from(b.subarray(0, ROOT_BYTES)),
    base: b.readUInt32BE(ROOT_BYTES),
    index: b.readUInt32BE(36),
    length: b.readUInt32BE(40),
    proofLayers: b.readUInt32BE(44),
  }
}

/** A hash request / hash reject payload, or the header of a hashes message. */
export function encodeHashRequest (r: HashRequest): Buffer {
  const b = Buffer.allocUnsafe(HASH_REQUEST_BYTES)
  r.root.copy(b, 0)
  b.writeUInt32BE(r.base, ROOT_BYTES)
  b.writeUInt32BE(r.index, 36)
  b.writeUInt32BE(r.length, 40)
  b.writeUInt32BE(r.proofLayers, 44)
  return b
}
