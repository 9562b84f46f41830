// Typed errors: identity in `.name`, a stable machine code in `.code`, the cause chained.
// Every error a remote can provoke is one of these; anything else is a programmer error.

export class BbmeshError extends Error {
  readonly code: string
  constructor (code: string, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = new.target.name
    this.code = code
  }
}

/** A byte string from the network or a file that does not decode (bencode, compact, wire). */
export class DecodeError extends BbmeshError {
  constructor (message: string, options?: { cause?: unknown }) {
    super('ERR_DECODE', message, options)
  }
}

/** A decoded value that is well-formed but breaks a schema (wrong type, length, range). */
export class SchemaError extends BbmeshError {
  constructor (message: string, options?: { cause?: unknown }) {
    super('ERR_SCHEMA', message, options)
  }
}

/** Something exceeded a hard cap from core/limits. */
export class LimitError extends BbmeshError {
  constructor (message: string, options?: { cause?: unknown }) {
    super('ERR_LIMIT', message, options)
  }
}

/** Metadata whose hash does not match the infohash it was fetched for. */
export class HashMismatchError extends BbmeshError {
  constructor (message: string, options?: { cause?: unknown }) {
    super('ERR_HASH_MISMATCH', message, options)
  }
}

/** An operation ran past its total deadline or was aborted. */
export class TimeoutError extends BbmeshError {
  constructor (message: string, options?: { cause?: unknown }) {
    super('ERR_TIMEOUT', message, options)
  }
}

export class AbortedError extends BbmeshError {
  constructor (message = 'aborted', options?: { cause?: unknown }) {
    super('ERR_ABORTED', message, options)
  }
}

/** A remote peer broke the protocol (lying length, bad handshake, unexpected message). */
export class ProtocolError extends BbmeshError {
  constructor (message: string, options?: { cause?: unknown }) {
    super('ERR_PROTOCOL', message, options)
  }
}

/** Bad user input: a flag, a config file, a query. */
export class UsageError extends BbmeshError {
  constructor (message: string, options?: { cause?: unknown }) {
    super('ERR_USAGE', message, options)
  }
}

export class ConfigError extends BbmeshError {
  constructor (message: string, options?: { cause?: unknown }) {
    super('ERR_CONFIG', message, options)
  }
}

export class StoreError extends BbmeshError {
  constructor (message: string, options?: { cause?: unknown }) {
    super('ERR_STORE', message, options)
  }
}

export class NetworkError extends BbmeshError {
  constructor (message: string, options?: { cause?: unknown }) {
    super('ERR_NETWORK', message, options)
  }
}

/** Why a publisher key could not be saved or loaded (identity/publisher-key.ts). */
export type KeyErrorReason =
  | 'missing' | 'exists' | 'io' | 'permissions' | 'too-large' | 'corrupt' | 'version'
  | 'passphrase-required' | 'passphrase-wrong' | 'passphrase-invalid' | 'mismatch'

/** A key file that is missing, unsafe, damaged, or locked by a passphrase. Never holds key material. */
export class KeyError extends BbmeshError {
  readonly reason: KeyErrorReason
  constructor (reason: KeyErrorReason, message: string, options?: { cause?: unknown }) {
    super('ERR_KEY', message, options)
    this.reason = reason
  }
}

/** True for errors a remote or the environment can cause; false means a bug to rethrow. */
export function isExpected (err: unknown): err is BbmeshError {
  return err instanceof BbmeshError
}

export function errorMessage (err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}

/** Why a BEP-46 pointer was refused or could not be read/written (src/library/pointer*.ts). */
export type PointerErrorReason =
  | 'signature' | 'target' | 'stale' | 'not-found' | 'store-corrupt' | 'store-io' | 'put-failed'

/**
 * A BEP-46 pointer (a BEP-44 mutable item) that is refused: a signature that does not verify,
 * an item under another key or salt, a seq lower than one seen before (`stale`), none found, or
 * the seq file damaged or unwritable. Caps (value over 1000 bytes, salt over 64) are LimitErrors,
 * a malformed value a SchemaError.
 */
export class PointerError extends BbmeshError {
  readonly reason: PointerErrorReason
  constructor (reason: PointerErrorReason, message: string, options?: { cause?: unknown }) {
    super('ERR_POINTER', message, options)
    this.reason = reason
  }
}

/** Where a torrent download stood when it gave up (src/library/piece-downloader.ts). */
export interface DownloadErrorDetails {
  piecesMissing: number
  pieces: number
  /** Pieces that failed their hash check (each one banned the peer that sent it). */
  piecesFailed: number
  peersBanned: number
  peersTried: number
  /** Why peers were dropped, `host:port: reason`, the first few only. */
  reasons: string[]
}

/**
 * A torrent download that cannot finish: every candidate peer was tried and dropped (or
 * banned for bad data) while pieces were still missing. Carries the counts in its fields
 * and in its message.
 */
export class DownloadError extends BbmeshError {
  readonly piecesMissing: number
  readonly pieces: number
  readonly piecesFailed: number
  readonly peersBanned: number
  readonly peersTried: number
  readonly reasons: string[]
  constructor (message: string, details: DownloadErrorDetails, options?: { cause?: unknown }) {
    super('ERR_DOWNLOAD', message, options)
    this.piecesMissing = details.piecesMissing
    this.pieces = details.pieces
    this.piecesFailed = details.piecesFailed
    this.peersBanned = details.peersBanned
    this.peersTried = details.peersTried
    this.reasons = details.reasons
  }
}
