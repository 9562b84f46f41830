// Community keys: the 32-byte shared secret that defines one cooperative (DESIGN.md "Keys").
// Without it a node can neither find the rendezvous nor pass bb_auth; a node may hold several.
//
// Text form, the only way a key is written down or passed between operators:
//
//   bbmesh-community:<72 hex digits>
//                    64 hex = the key (32 bytes), then 8 hex = checksum
//   checksum = the first 4 bytes of SHA-256(key)
//
// e.g. the key 00 01 02 .. 1f is bbmesh-community:000102...1e1f630dcd29 (id d6129fbcdfe2310b).
// Hex rather than base32 so any tool can check it (`xxd -r -p | sha256sum`); the checksum
// catches a mistyped, truncated or doubled key (a random error passes with odds 2^-32) before a
// node quietly waits at a rendezvous of its own. Parsing trims surrounding whitespace and
// ignores case; nothing else is accepted (no bare hex: it has no checksum).
//
// Public id: the first 8 bytes of SHA-256("bbmesh-community-id-v1" ‖ key), as 16 lowercase hex
// digits. It is safe to log and to show: operators compare ids to learn whether they hold the
// same key without revealing it. The label separates it from the checksum and the rendezvous.
//
// A key held in memory is a CommunityKey: toJSON, toString and util.inspect show the id only,
// so logging one by accident shows nothing secret. Errors never echo the key text back.

import { createHash, randomBytes, timingSafeEqual } from 'node:crypto'
import { inspect } from 'node:util'
import { join } from 'node:path'
import { ConfigError } from '../core/errors.js'
import type { LoadedConfig } from '../config/load.js'

export const COMMUNITY_KEY_BYTES = 32
export const COMMUNITY_KEY_PREFIX = 'bbmesh-community:'
export const COMMUNITY_CHECKSUM_BYTES = 4
export const COMMUNITY_ID_LABEL = 'bbmesh-community-id-v1'
/** Hex digits after the prefix: key and checksum. */
const BODY_HEX = (COMMUNITY_KEY_BYTES + COMMUNITY_CHECKSUM_BYTES) * 2
/** Longer input is refused before any work (a config file holds at most 1 MiB). */
const MAX_TEXT = 256

function checksum (key: Buffer): Buffer {
  return createHash('sha256').update(key).digest().subarray(0, COMMUNITY_CHECKSUM_BYTES)
}

/** The public fingerprint of a key: 16 hex digits, safe to log and show. */
export function communityId (key: Buffer): string {
  checkLength(key)
  return createHash('sha256').update(COMMUNITY_ID_LABEL, 'ascii').update(key).digest().subarray(0, 8).toString('hex')
}

function checkLength (key: Buffer): void {
  if (!Buffer.isBuffer(key) || key.length !== COMMUNITY_KEY_BYTES) throw new RangeError(`a community key is ${COMMUNITY_KEY_BYTES} bytes`)
}

export class CommunityKey {
  /** Public fingerprint (see communityId). */
  readonly id: string
  readonly #key: Buffer

  /** Takes a copy of the 32 bytes; use parseCommunityKey for text. */
  constructor (key: Buffer) {
    checkLength(key)
    this.#key = Buffer.from(key)
    this.id = communityId(this.#key)
  }

  /** The secret bytes (a copy): for the rendezvous and bb_auth, never for logs. */
  get key (): Buffer { return Buffer.from(this.#key) }

  /** The text form, bbmesh-community:<hex key><hex checksum>. Secret. */
  format (): string { return formatCommunityKey(this.#key) }

  equals (other: CommunityKey): boolean { return timingSafeEqual(this.#key, other.#key) }

  toJSON (): { id: string } { return { id: this.id } }
  toString (): string { return `CommunityKey(${this.id})` }
  [inspect.custom] (): string { return `CommunityKey { id: '${this.id}' }` }
}

/** A fresh random key. */
export function generateCommunityKey (): CommunityKey {
  return new CommunityKey(randomBytes(COMMUNITY_KEY_BYTES))
}

/** The text form of a key (secret: print only on request, never log). */
export function formatCommunityKey (key: Buffer | CommunityKey): string {
  if (key instanceof CommunityKey) return key.format()
  checkLength(key)
  return COMMUNITY_KEY_PREFIX + key.toString('hex') + checksum(key).toString('hex')
}

/**
 * Parse the text form. `where` names the source in errors (e.g. "community from --community,
 * key 2"). Every error is a ConfigError that never contains the text.
 */
export function parseCommunityKey (text: string, where = 'community key'): CommunityKey {
  const bad = (what: string): never => { throw new ConfigError(`${where}: ${what}`) }
  if (typeof text !== 'string') return bad('expected a string')
  const t = text.trim().toLowerCase()
  if (t === '') return bad('is empty')
  if (t.length > MAX_TEXT) return bad(`is ${t.length} characters long; a community key is ${COMMUNITY_KEY_PREFIX.length + BODY_HEX}`)
  if (!t.startsWith(COMMUNITY_KEY_PREFIX)) {
    return bad(`is not a community key: it must start with "${COMMUNITY_KEY_PREFIX}" followed by ${BODY_HEX} hex digits (make one with \`bbmesh community new\`)`)
  }
  const body = t.slice(COMMUNITY_KEY_PREFIX.length)
  const at = body.search(/[^0-9a-f]/)
  if (at >= 0) return bad(`character ${COMMUNITY_KEY_PREFIX.length + at + 1} is not a hex digit`)
  if (body.length !== BODY_HEX) return bad(`has ${body.length} hex digits after "${COMMUNITY_KEY_PREFIX}", expected ${BODY_HEX} (truncated or pasted twice?)`)
  const bytes = Buffer.from(body, 'hex')
  const key = bytes.subarray(0, COMMUNITY_KEY_BYTES)
  if (!timingSafeEqual(checksum(key), bytes.subarray(COMMUNITY_KEY_BYTES))) {
    return bad('checksum does not match: the key was mistyped or altered (its text is not shown)')
  }
  const ck = new CommunityKey(key)
  bytes.fill(0)
  return ck
}

/**
 * The `community` keys of a loaded config, each parsed, duplicates dropped (first wins). A bad
 * key is a ConfigError naming the source (flag, environment variable or file) and the key's
 * position in the list, never the key.
 */
export function parseCommunityKeys (loaded: Pick<LoadedConfig, 'config' | 'sources'>): CommunityKey[] {
  const texts = loaded.config.community ?? []
  const from = sourceName(loaded)
  const out: CommunityKey[] = []
  texts.forEach((text, i) => {
    const ck = parseCommunityKey(text, `community from ${from}${texts.length > 1 ? `, key ${i + 1} of ${texts.length}` : ''}`)
    if (!out.some((o) => o.equals(ck))) out.push(ck)
  })
  return out
}

function sourceName ({ config, sources }: Pick<LoadedConfig, 'config' | 'sources'>): string {
  switch (sources.community) {
    case 'flag': return '--community'
    case 'env': return 'BBMESH_COMMUNITY'
    case 'file':
      // Where loadConfig found the file: --config / BBMESH_CONFIG, else config.json in the data dir.
      return sources.config === 'flag' || sources.config === 'env' ? config.config : join(config.dataDir, 'config.json')
    default: return 'the defaults'
  }
}
