// Infohashes and node IDs: 20-byte keys in the 160-bit DHT keyspace.

import { createHash } from 'node:crypto'
import { DecodeError } from './errors.js'

export const ID_BYTES = 20

export function toHex (b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex')
}

/** Parse 40 hex digits (either case) into 20 bytes, or throw. */
export function fromHex (hex: string, bytes = ID_BYTES): Buffer {
  if (typeof hex !== 'string' || hex.length !== bytes * 2 || !/^[0-9a-fA-F]+$/.test(hex)) {
    throw new DecodeError(`expected ${bytes * 2} hex digits`)
  }
  return Buffer.from(hex, 'hex')
}

export function isInfohashHex (s: string): boolean {
  return typeof s === 'string' && /^[0-9a-fA-F]{40}$/.test(s)
}

export function sha1 (b: Uint8Array): Buffer {
  return createHash('sha1').update(b).digest()
}

export function sha256 (b: Uint8Array): Buffer {
  return createHash('sha256').update(b).digest()
}

/** XOR distance of two equal-length keys, as bytes. */
export function xor (a: Uint8Array, b: Uint8Array): Buffer {
  const out = Buffer.alloc(a.length)
  for (let i = 0; i < a.length; i++) out[i] = a[i] ^ b[i]
  return out
}

/** Compare the XOR distances d(a,t) and d(b,t): negative when a is closer. */
export function compareDistance (a: Uint8Array, b: Uint8Array, target: Uint8Array): number {
  for (let i = 0; i < target.length; i++) {
    const da = a[i] ^ target[i]
    const db = b[i] ^ target[i]
    if (da !== db) return da - db
  }
  return 0
}

export function equalBytes (a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}

/** A key-space region: every key whose first `bits` bits equal those of `prefix`. */
export interface Region {
  prefix: Buffer
  bits: number
}

export const WHOLE_KEYSPACE: Region = Object.freeze({ prefix: Buffer.alloc(ID_BYTES), bits: 0 }) as Region

export function inRegion (key: Uint8Array, r: Region): boolean {
  const full = r.bits >> 3
  for (let i = 0; i < full; i++) if (key[i] !== r.prefix[i]) return false
  const rest = r.bits & 7
  if (rest === 0) return true
  const mask = (0xff << (8 - rest)) & 0xff
  return (key[full] & mask) === (r.prefix[full] & mask)
}

/** A uniformly random key inside the region. */
export function randomInRegion (r: Region, random: (n: number) => Buffer): Buffer {
  const k = random(ID_BYTES)
  const full = r.bits >> 3
  for (let i = 0; i < full; i++) k[i] = r.prefix[i]
  const rest = r.bits & 7
  if (rest !== 0) {
    const mask = (0xff << (8 - rest)) & 0xff
    k[full] = (r.prefix[full] & mask) | (k[full] & ~mask & 0xff)
  }
  return k
}

export function regionToString (r: Region): string {
  if (r.bits === 0) return 'whole keyspace'
  return `${toHex(r.prefix).slice(0, Math.ceil(r.bits / 4))}/${r.bits}`
}
