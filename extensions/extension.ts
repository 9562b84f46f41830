// The interface every BEP-10 extension of bbmesh implements (bb_auth, bb_search, bb_bloom,
// bb_meta, bb_samples, bb_have). A registry (extensions/registry.ts) owns the set for one
// peer connection: it assigns our message ids, builds the `m` dict of our BEP-10 handshake,
// caps every payload before an extension decodes it, and refuses every bb_* message except
// bb_auth's until bb_auth has passed (they are dropped unanswered and counted).

import type { EncodableValue } from '../src/core/bencode.js'
import type { ExtHandshake } from '../src/wire/messages.js'

export interface RemoteInfo {
  host: string
  port: number
  /** The 20-byte peer id of the remote's BitTorrent handshake. */
  peerId: Buffer
}

/** What the connection lends an extension. */
export interface ExtensionContext {
  /** The infohash of the BitTorrent handshake (the rendezvous infohash for member links). */
  readonly infohash: Buffer
  readonly localPeerId: Buffer
  readonly remote: RemoteInfo
  /** True when we opened the connection. */
  readonly initiator: boolean
  /** Send one message of this extension (payload after the extension id byte). No-op if the remote does not support it. */
  send: (payload: Uint8Array) => void
  /** Whether the remote supports this extension (after its BEP-10 handshake). */
  remoteSupports: () => boolean
  /** True once bb_auth has passed on this connection. */
  authenticated: () => boolean
  /** bb_auth calls this when the remote has proven the community key. */
  markAuthenticated: (info: AuthInfo) => void
  /** Drop the connection, penalising the remote (counted and backed off by the caller). */
  misbehaved: (reason: string) => void
}

export interface AuthInfo {
  /** Which community (index into the node's keys, or an id) the remote proved. */
  community: string
  /** The remote's publisher public key (ed25519, 32 bytes), if it sent a signed one. */
  publisherKey?: Buffer
  /**
   * Integrity of this connection after bb_auth: keys derived from the community key and both
   * ends of the connection, so a relay that forwarded bb_auth unchanged can still neither alter
   * nor inject a later message. The registry tags and checks every message of a requiresAuth
   * extension with it (docs/protocol.md, "BEP-10 extensions of bbmesh: common rules").
   */
  session?: SessionMac
}

/** Per-connection, per-direction message tags (one counter each way, shared by all extensions). */
export interface SessionMac {
  /** Bytes of one tag. */
  readonly tagBytes: number
  /** The tag of our next message of extension `name` carrying `payload` (advances our counter). */
  mac: (name: string, payload: Uint8Array) => Buffer
  /** Whether `tag` is right for the remote's next message of `name` (advances its counter only if so). */
  verify: (name: string, payload: Uint8Array, tag: Uint8Array) => boolean
}

export interface Extension {
  /** BEP-10 name, e.g. 'bb_auth'. */
  readonly name: string
  /** Largest payload accepted; a larger one is a protocol violation, refused before decoding. */
  readonly maxMessage: number
  /**
   * Every bb_* extension but bb_auth: messages before authentication are dropped unanswered,
   * and after it every message carries a session tag. False for bb_auth and for the standard
   * ut_pex, which keeps BEP-11's payload and gates itself (extensions/ut-pex.ts).
   */
  readonly requiresAuth: boolean
  /** Extra top-level keys for our BEP-10 handshake, if any. */
  handshakeExtra?: () => Record<string, EncodableValue>
  /** The remote's BEP-10 handshake arrived (its `m` is known). */
  onRemoteHandshake?: (hs: ExtHandshake) => void
  /** bb_auth passed: start whatever needs an authenticated link. */
  onAuthenticated?: (info: AuthInfo) => void
  /** One message for this extension (already capped, and gated by authentication). */
  onMessage: (payload: Buffer) => void
  /** The connection closed: release timers and pending work. */
  close?: () => void
}

export type ExtensionFactory = (ctx: ExtensionContext) => Extension
