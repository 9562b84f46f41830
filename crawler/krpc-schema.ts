// KRPC (BEP-5) message schema: a table of what each method's arguments and each answer's
// fields must be. Pure: bytes in, a typed message or a KrpcInvalid out. The stock k-rpc and
// bittorrent-dht crash on one wrong-typed field, so nothing reaches them that did not pass here.

import { decode, encode, isDict, type BDict, type BValue, type EncodableValue } from '../src/core/bencode.js'
import { BbmeshError } from '../src/core/errors.js'
import { LIMITS } from '../src/core/limits.js'

export interface KrpcQuery { y: 'q', t: Buffer, q: string, a: BDict, id: Buffer }
export interface KrpcResponse { y: 'r', t: Buffer, r: BDict, id: Buffer }
export interface KrpcErrorReply { y: 'e', t: Buffer, code: number, message: string }
export type KrpcMessage = KrpcQuery | KrpcResponse | KrpcErrorReply

/**
 * A packet that fails the schema. `reply` says what to answer: a KRPC error code for a query
 * whose transaction id we could read (203 malformed, 204 unknown method), or null (no reply:
 * not a dict, no tid, or a broken response/error, which is never answered).
 */
export class KrpcInvalid extends BbmeshError {
  constructor (message: string, readonly reply: { t: Buffer, code: 203 | 204 } | null, readonly kind: string) {
    super('ERR_KRPC_INVALID', message)
  }
}

type Check = (v: BValue | undefined) => string | null

const bytesOf = (len: number): Check => (v) => v instanceof Uint8Array && v.length === len ? null : `must be ${len} bytes`
const bytesMax = (max: number): Check => (v) => v instanceof Uint8Array && v.length <= max ? null : `must be bytes of at most ${max}`
const bytesMult = (unit: number, maxUnits: number): Check => (v) =>
  v instanceof Uint8Array && v.length % unit === 0 && v.length / unit <= maxUnits ? null : `must be a multiple of ${unit} bytes (at most ${maxUnits})`
const int = (min: number, max: number): Check => (v) => typeof v === 'number' && v >= min && v <= max ? null : `must be an integer in ${min}..${max}`
const any: Check = (v) => v === undefined ? 'missing' : null
const bytesList = (sizes: number[], max: number): Check => (v) =>
  Array.isArray(v) && v.length <= max && v.every((x) => x instanceof Uint8Array && sizes.includes(x.length)) ? null : `must be a list of at most ${max} compact peers`
const bytesListAny = (maxItem: number, max: number): Check => (v) =>
  Array.isArray(v) && v.length <= max && v.every((x) => x instanceof Uint8Array && x.length <= maxItem) ? null : 'must be a list of short strings'

interface Spec { required: Record<string, Check>, optional: Record<string, Check> }

const ID = bytesOf(20)
const OPTIONAL_COMMON: Record<string, Check> = { want: bytesListAny(8, 4), ro: int(0, 1) }

/** Methods we accept, with their arguments (BEP-5, BEP-44, BEP-51). */
export const QUERY_SPECS: Readonly<Record<string, Spec>> = Object.freeze({
  ping: { required: { id: ID }, optional: {} },
  find_node: { required: { id: ID, target: bytesOf(20) }, optional: {} },
  get_peers: { required: { id: ID, info_hash: bytesOf(20) }, optional: { noseed: int(0, 1), scrape: int(0, 1) } },
  announce_peer: {
    required: { id: ID, info_hash: bytesOf(20), token: bytesMax(LIMITS.krpcMaxToken) },
    optional: { port: int(0, 65535), implied_port: int(0, 1), name: bytesMax(256), seed: int(0, 1) },
  },
  get: { required: { id: ID, target: bytesOf(20) }, optional: { seq: int(0, Number.MAX_SAFE_INTEGER) } },
  put: {
    required: { id: ID, token: bytesMax(LIMITS.krpcMaxToken), v: any },
    optional: { k: bytesOf(32), sig: bytesOf(64), seq: int(0, Number.MAX_SAFE_INTEGER), cas: int(0, Number.MAX_SAFE_INTEGER), salt: bytesMax(LIMITS.bep44MaxSalt) },
  },
  sample_infohashes: { required: { id: ID, target: bytesOf(20) }, optional: {} },
})

const RESPONSE_FIELDS: Record<string, Check> = {
  id: ID,
  nodes: bytesMult(26, 64),
  nodes6: bytesMult(38, 64),
  values: bytesList([6, 18], 200),
  token: bytesMax(LIMITS.krpcMaxToken),
  samples: bytesMult(20, LIMITS.bep51MaxSamplesIn),
  num: int(0, 2 ** 40),
  interval: int(0, 2 ** 31),
  v: any,
  k: bytesOf(32),
  sig: bytesOf(64),
  seq: int(0, Number.MAX_SAFE_INTEGER),
  ip: bytesMult(6, 3),
  p: int(0, 65535),
}

function asText (v: BValue | undefined): string | null {
  return v instanceof Uint8Array ? Buffer.from(v).toString('latin1') : null
}

/** Decode and validate one datagram. Throws KrpcInvalid; never anything else. */
export function parseKrpc (packet: Uint8Array): KrpcMessage {
  if (packet.length > LIMITS.krpcMaxPacket) throw new KrpcInvalid(`packet of ${packet.length} bytes over cap`, null, 'oversize')
  let m: BValue
  try {
    m = decode(packet, { maxBytes: LIMITS.krpcMaxPacket, maxDepth: LIMITS.krpcMaxDepth, maxItems: LIMITS.krpcMaxItems })
  } catch (err) {
    throw new KrpcInvalid(`bencode: ${(err as Error).message}`, null, 'bencode')
  }
  if (!isDict(m)) throw new KrpcInvalid('packet is not a dict', null, 'not-dict')
  const t = m.t
  if (!(t instanceof Uint8Array) || t.length === 0 || t.length > LIMITS.krpcMaxTid) throw new KrpcInvalid('bad transaction id', null, 'tid')
  const tid = Buffer.from(t)
  const y = asText(m.y)
  if (m.v !== undefined && !(m.v instanceof Uint8Array && m.v.length <= 16)) throw new KrpcInvalid('bad client version', y === 'q' ? { t: tid, code: 203 } : null, 'version')
  // k-rpc-socket decodes the same bytes with bencode 2 into plain objects, where a `__proto__`
  // key becomes the prototype: fields we saw as absent (a.k, r.nodes...) then appear there
  // with any type and bittorrent-dht throws on them. No KRPC message has such a key.
  if (hasProtoKey(m)) throw new KrpcInvalid('a dict holds a __proto__ key', y === 'q' ? { t: tid, code: 203 } : null, 'proto-key')
  if (y === 'q') return parseQuery(m, tid)
  if (y === 'r') return parseResponse(m, tid)
  if (y === 'e') return parseError(m, tid)
  throw new KrpcInvalid('unknown message type', null, 'type')
}

function hasProtoKey (v: BValue): boolean {
  if (Array.isArray(v)) return v.some(hasProtoKey)
  if (!isDict(v)) return false
  for (const k of Object.keys(v)) if (k === '__proto__' || hasProtoKey(v[k])) return true
  return false
}

function parseQuery (m: BDict, t: Buffer): KrpcQuery {
  const q = asText(m.q)
  if (q === null || q.length === 0 || q.length > 32) throw new KrpcInvalid('bad method name', { t, code: 203 }, 'method')
  const a = m.a
  if (!isDict(a)) throw new KrpcInvalid('query without argument dict', { t, code: 203 }, 'args')
  const spec = Object.prototype.hasOwnProperty.call(QUERY_SPECS, q) ? QUERY_SPECS[q] : undefined
  if (spec === undefined) {
    // Still require a well-formed id before we spend an answer on an unknown method.
    if (ID(a.id) !== null) throw new KrpcInvalid('bad id', { t, code: 203 }, 'args')
    throw new KrpcInvalid(`unknown method ${q.slice(0, 32)}`, { t, code: 204 }, 'unknown-method')
  }
  for (const [k, check] of Object.entries(spec.required)) {
    const err = check(a[k])
    if (err !== null) throw new KrpcInvalid(`${q}: a.${k} ${err}`, { t, code: 203 }, 'args')
  }
  for (const [k, check] of [...Object.entries(spec.optional), ...Object.entries(OPTIONAL_COMMON)]) {
    if (Object.prototype.hasOwnProperty.call(a, k)) {
      const err = check(a[k])
      if (err !== null) throw new KrpcInvalid(`${q}: a.${k} ${err}`, { t, code: 203 }, 'args')
    }
  }
  if (q === 'announce_peer' && a.implied_port !== 1 && typeof a.port !== 'number') {
    throw new KrpcInvalid('announce_peer: a.port missing', { t, code: 203 }, 'args')
  }
  if (q === 'put') {
    if (encode(a.v as EncodableValue).length > LIMITS.bep44MaxValue) throw new KrpcInvalid('put: v too large', { t, code: 203 }, 'args')
    const mutable = a.k !== undefined || a.sig !== undefined
    if (mutable && (a.k === undefined || a.sig === undefined || a.seq === undefined)) {
      throw new KrpcInvalid('put: mutable item needs k, sig and seq', { t, code: 203 }, 'args')
    }
  }
  return { y: 'q', t, q, a, id: Buffer.from(a.id as Uint8Array) }
}

function parseResponse (m: BDict, t: Buffer): KrpcResponse {
  const r = m.r
  if (!isDict(r)) throw new KrpcInvalid('response without r dict', null, 'response')
  if (ID(r.id) !== null) throw new KrpcInvalid('response: r.id must be 20 bytes', null, 'response')
  for (const k of Object.keys(r)) {
    const check = Object.prototype.hasOwnProperty.call(RESPONSE_FIELDS, k) ? RESPONSE_FIELDS[k] : undefined
    if (check === undefined) continue
    const err = check(r[k])
    if (err !== null) throw new KrpcInvalid(`response: r.${k} ${err}`, null, 'response')
  }
  return { y: 'r', t, r, id: Buffer.from(r.id as Uint8Array) }
}

function parseError (m: BDict, t: Buffer): KrpcErrorReply {
  const e = m.e
  if (!Array.isArray(e) || e.length === 0 || e.length > 4 || typeof e[0] !== 'number') throw new KrpcInvalid('error without [code, message]', null, 'error')
  if (e.length > 1 && !(e[1] instanceof Uint8Array && e[1].length <= 512)) throw new KrpcInvalid('error message is not a short string', null, 'error')
  if (e.length > 2) throw new KrpcInvalid('error list too long', null, 'error')
  return { y: 'e', t, code: e[0], message: e.length > 1 ? Buffer.from(e[1] as Uint8Array).toString('utf8') : '' }
}

/** Encode a KRPC error reply (pure). */
export function encodeError (t: Uint8Array, code: number, message: string): Buffer {
  return encode({ t, y: 'e', e: [code, message] })
}

/** Encode a KRPC response (pure). */
export function encodeResponse (t: Uint8Array, r: Record<string, EncodableValue>): Buffer {
  return encode({ t, y: 'r', r })
}
