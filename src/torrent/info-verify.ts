// The info dict is self-certifying: its hash is the infohash it was asked for under. A v1
// infohash is SHA-1 of the raw bytes; a v2 infohash in the DHT and on the wire is SHA-256
// of the raw bytes truncated to 20 bytes (BEP-52). Hash the bytes as received, never a
// re-encoding.

import { HashMismatchError, SchemaError } from '../core/errors.js'
import { sha1, sha256, equalBytes, toHex, ID_BYTES } from '../core/infohash.js'

export interface RawInfohashes {
  /** SHA-1 of the bytes: the v1 infohash when the dict is v1 or hybrid. */
  v1: Buffer
  /** Full SHA-256 of the bytes (32): the v2 infohash when the dict is v2 or hybrid. */
  v2: Buffer
  /** First 20 bytes of v2: the form the DHT and the peer-wire handshake carry. */
  v2short: Buffer
}

/**
 * Both hashes of raw info bytes, whatever the dict holds. Whether each is a real infohash
 * depends on the version, which parseInfo() tells; this does not decode.
 */
export function infohashesOf (raw: Uint8Array): RawInfohashes {
  const v2 = sha256(raw)
  return { v1: sha1(raw), v2, v2short: Buffer.from(v2.subarray(0, ID_BYTES)) }
}

/**
 * Which hash of `raw` the 20-byte `infohash` is: 'v1' (SHA-1) or 'v2' (truncated SHA-256).
 * Throws HashMismatchError when it is neither.
 */
export function verifyInfohash (raw: Uint8Array, infohash: Uint8Array): 'v1' | 'v2' {
  if (!(infohash instanceof Uint8Array) || infohash.length !== ID_BYTES) {
    throw new SchemaError(`verifyInfohash: infohash must be ${ID_BYTES} bytes`)
  }
  if (equalBytes(sha1(raw), infohash)) return 'v1'
  if (equalBytes(sha256(raw).subarray(0, ID_BYTES), infohash)) return 'v2'
  throw new HashMismatchError(`info dict of ${raw.length} bytes does not hash to ${toHex(infohash)}`)
}
