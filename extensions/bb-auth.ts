// bb_auth: members of one cooperative prove to each other that they hold its community key,
// bound to both ends of this connection, then swap signed publisher keys (DESIGN.md "Finding
// each other"). The exchange, after both BEP-10 handshakes (I = initiator, R = responder):
//
//   I → R  challenge {v: 1, n: nI}          R → I  challenge {v: 1, n: nR}   (at once)
//   I → R  proof {p}   on R's challenge, under the key of the community I dialled
//   R → I  proof {p}   only after I's proof verified (R tries its keys: that fixes the community)
//   R → I  hello {mac, pk?, sig?}            at once after its proof
//   I → R  hello {mac, pk?, sig?}            after R's proof verified
//   each side: authenticated on the remote's hello (its proof verified, its mac right)
//
// Wire format, key schedule and every rule: docs/protocol.md "bb_auth (BEP-10 extension)"; the
// pure codec and crypto are in bb-auth.codec.ts. Secrets (keys, proofs, tags) are never logged
// nor put in an error.

import { randomBytes as cryptoRandomBytes } from 'node:crypto'
import { inspect } from 'node:util'
import { ConfigError, ProtocolError } from '../src/core/errors.js'
import type { AuthInfo, Extension, ExtensionContext, ExtensionFactory, SessionMac } from './extension.js'
import {
  BB_AUTH, BB_AUTH_MAX_KEYS, BB_AUTH_MAX_MESSAGE, BB_AUTH_TIMEOUT_MS, COMMUNITY_KEY_BYTES, NONCE_BYTES, PUBLIC_KEY_BYTES,
  SESSION_TAG_BYTES, SIGNATURE_BYTES, computeProof, decodeAuthMessage, deriveAuthKeys, deriveDirectionKeys, encodeAuthMessage,
  helloMacPayload, helloSignedMessage, sessionMac, verifyEd25519, verifyProof, verifySessionMac,
  type AuthMessage, type CommunityAuthKeys, type Role, type Transcript,
} from './bb-auth.codec.js'

export interface BbAuthOptions {
  /** The community keys this node holds (at most 16): a CommunityKey from src/identity fits. */
  keys: ReadonlyArray<{ readonly id: string, readonly key: Buffer }>
  /**
   * Which community a handshake infohash is the rendezvous of (src/coop fills it in from
   * rendezvousInfohashes). The initiator proves under that key; a responder tries it first.
   * Without it, or when it does not know the infohash, the initiator uses keys[0].
   */
  communityOf?: (infohash: Buffer) => string | undefined
  /** Our publisher key: the raw 32-byte ed25519 public key and a signer (the private key stays with its owner). */
  publisher?: { publicKey: Buffer, sign: (message: Buffer) => Buffer }
  /** Total deadline from the first bb_auth message either way to authenticated (default 10 s). */
  timeoutMs?: number
  /** Timer hook (tests): run fn after ms, return a cancel function. Default: an unref'd setTimeout. */
  schedule?: (ms: number, fn: () => void) => () => void
  /** Randomness hook (tests that replay a transcript): n random bytes. */
  randomBytes?: (n: number) => Buffer
}

interface PreparedKey extends CommunityAuthKeys {
  readonly id: string
}

function defaultSchedule (ms: number, fn: () => void): () => void {
  const t = setTimeout(fn, ms)
  t.unref?.()
  return () => clearTimeout(t)
}

/** The bb_auth extension factory. Throws ConfigError for a bad key list (checked once, not per connection). */
export function bbAuth (options: BbAuthOptions): ExtensionFactory {
  const keys = prepareKeys(options.keys)
  const publisher = options.publisher
  if (publisher !== undefined && (!Buffer.isBuffer(publisher.publicKey) || publisher.publicKey.length !== PUBLIC_KEY_BYTES)) {
    throw new ConfigError(`bb_auth: a publisher public key is ${PUBLIC_KEY_BYTES} bytes`)
  }
  const timeoutMs = options.timeoutMs ?? BB_AUTH_TIMEOUT_MS
  if (!(timeoutMs > 0)) throw new ConfigError('bb_auth: timeoutMs must be positive')
  const deps: AuthDeps = {
    keys,
    communityOf: options.communityOf,
    publisher,
    timeoutMs,
    schedule: options.schedule ?? defaultSchedule,
    randomBytes: options.randomBytes ?? cryptoRandomBytes,
  }
  return (ctx) => new BbAuth(ctx, deps)
}

function prepareKeys (list: BbAuthOptions['keys']): PreparedKey[] {
  if (!Array.isArray(list) || list.length === 0) throw new ConfigError('bb_auth needs at least one community key')
  if (list.length > BB_AUTH_MAX_KEYS) throw new ConfigError(`bb_auth: ${list.length} community keys, at most ${BB_AUTH_MAX_KEYS}`)
  const ids = new Set<string>()
  return list.map((k, i) => {
    if (typeof k.id !== 'string' || k.id === '' || ids.has(k.id)) throw new ConfigError(`bb_auth: community key ${i + 1} has a missing or repeated id`)
    const key = k.key
    if (!Buffer.isBuffer(key) || key.length !== COMMUNITY_KEY_BYTES) throw new ConfigError(`bb_auth: community key ${i + 1} is not ${COMMUNITY_KEY_BYTES} bytes`)
    ids.add(k.id)
    return { id: k.id, ...deriveAuthKeys(key) }
  })
}

interface AuthDeps {
  keys: PreparedKey[]
  communityOf: ((infohash: Buffer) => string | undefined) | undefined
  publisher: BbAuthOptions['publisher']
  timeoutMs: number
  schedule: (ms: number, fn: () => void) => () => void
  randomBytes: (n: number) => Buffer
}

/**
 * The session tags of one connection (AuthInfo.session): one counter per direction, shared by
 * every extension, starting at 0 with bb_auth's own hello. Holds derived keys only; shows
 * nothing when logged or inspected.
 */
export class ConnectionSession implements SessionMac {
  readonly tagBytes = SESSION_TAG_BYTES
  readonly #sendKey: Buffer
  readonly #receiveKey: Buffer
  #sent = 0
  #received = 0

  constructor (sessionKey: Buffer, role: Role, t: Transcript) {
    const k = deriveDirectionKeys(sessionKey, t)
    this.#sendKey = role === 'initiator' ? k.initiatorToResponder : k.responderToInitiator
    this.#receiveKey = role === 'initiator' ? k.responderToInitiator : k.initiatorToResponder
  }

  mac (name: string, payload: Uint8Array): Buffer {
    return sessionMac(this.#sendKey, this.#sent++, name, payload)
  }

  verify (name: string, payload: Uint8Array, tag: Uint8Array): boolean {
    if (!verifySessionMac(this.#receiveKey, this.#received, name, payload, tag)) return false
    this.#received++
    return true
  }

  /** Messages tagged so far each way. */
  get counters (): { sent: number, received: number } { return { sent: this.#sent, received: this.#received } }

  toJSON (): Record<string, never> { return {} }
  [inspect.custom] (): string { return 'ConnectionSession {}' }
}

type State = 'running' | 'done' | 'failed' | 'closed'

class BbAuth implements Extension {
  readonly name = BB_AUTH
  readonly maxMessage = BB_AUTH_MAX_MESSAGE
  readonly requiresAuth = false

  readonly #ctx: ExtensionContext
  readonly #deps: AuthDeps
  readonly #role: Role
  readonly #nonce: Buffer
  #state: State = 'running'
  #cancelTimer: (() => void) | undefined
  #timerStarted = false
  /** The key we prove under and accept: the initiator's choice, or the one the initiator's proof matched. */
  #key: PreparedKey | undefined
  #remoteNonce: Buffer | undefined
  #challengeSent = false
  #proofSent = false
  #proofReceived = false
  #remoteProofOk = false
  #helloSent = false
  #helloReceived = false
  #remotePublisherKey: Buffer | undefined
  #session: ConnectionSession | undefined

  constructor (ctx: ExtensionContext, deps: AuthDeps) {
    this.#ctx = ctx
    this.#deps = deps
    this.#role = ctx.initiator ? 'initiator' : 'responder'
    this.#nonce = Buffer.from(deps.randomBytes(NONCE_BYTES))
    if (this.#nonce.length !== NONCE_BYTES) throw new RangeError('randomBytes returned the wrong length')
    if (this.#role === 'initiator') this.#key = this.#candidates()[0]
  }

  onRemoteHandshake (): void {
    this.#progress()
  }

  onMessage (payload: Buffer): void {
    if (this.#state === 'failed' || this.#state === 'closed') return
    if (this.#state === 'done') this.#violation('bb_auth message after authentication')
    this.#startTimer()
    let msg: AuthMessage
    try {
      msg = decodeAuthMessage(payload)
    } catch (err) {
      this.#stop('failed')
      throw err
    }
    switch (msg.type) {
      case 'challenge': this.#onChallenge(msg.nonce); break
      case 'proof': this.#onProof(msg.proof); break
      case 'hello': this.#onHello(msg.mac, msg.publicKey, msg.signature); break
    }
    this.#progress()
  }

  close (): void {
    this.#stop('closed')
  }

  #onChallenge (nonce: Buffer): void {
    if (this.#remoteNonce !== undefined) this.#violation('bb_auth duplicate challenge')
    // Our own nonce sent back: a reflection, never an honest peer (odds 2^-256).
    if (nonce.equals(this.#nonce)) this.#violation('bb_auth reflected challenge')
    this.#remoteNonce = nonce
  }

  #onProof (proof: Buffer): void {
    if (this.#proofReceived) this.#violation('bb_auth duplicate proof')
    this.#proofReceived = true
    // The prover needs our nonce, so a proof before our challenge went out cannot be honest.
    if (this.#remoteNonce === undefined || !this.#challengeSent) this.#violation('bb_auth proof before challenge')
    const remoteRole: Role = this.#role === 'initiator' ? 'responder' : 'initiator'
    if (this.#role === 'initiator') {
      // The responder proves only after ours verified.
      if (!this.#proofSent) this.#violation('bb_auth proof out of order')
      const key = this.#key as PreparedKey
      if (!verifyProof(key.proofKey, remoteRole, this.#transcript(), proof)) this.#violation('bb_auth failed')
    } else {
      const t = this.#transcript()
      const key = this.#candidates().find((k) => verifyProof(k.proofKey, remoteRole, t, proof))
      if (key === undefined) this.#violation('bb_auth failed')
      this.#key = key
    }
    this.#remoteProofOk = true
    this.#session = new ConnectionSession((this.#key as PreparedKey).sessionKey, this.#role, this.#transcript())
  }

  #onHello (mac: Buffer, publicKey: Buffer | undefined, signature: Buffer | undefined): void {
    if (this.#helloReceived) this.#violation('bb_auth duplicate hello')
    this.#helloReceived = true
    if (!this.#remoteProofOk || this.#session === undefined) this.#violation('bb_auth hello before proof')
    const session = this.#session as ConnectionSession
    if (!session.verify(BB_AUTH, helloMacPayload(publicKey, signature), mac)) this.#violation('bb_auth hello has a bad session tag')
    if (publicKey !== undefined && signature !== undefined) {
      const signed = helloSignedMessage(this.#remoteNonce as Buffer, this.#nonce, this.#ctx.localPeerId)
      if (!verifyEd25519(publicKey, signed, signature)) this.#violation('bb_auth hello has a bad signature')
      this.#remotePublisherKey = publicKey
    }
  }

  /** Send whatever the state allows, in order; authenticate when both sides are through. */
  #progress (): void {
    if (this.#state !== 'running' || !this.#ctx.remoteSupports()) return
    if (!this.#challengeSent) {
      this.#challengeSent = true
      this.#startTimer()
      this.#ctx.send(encodeAuthMessage({ type: 'challenge', nonce: this.#nonce }))
    }
    const mayProve = this.#role === 'initiator' ? this.#remoteNonce !== undefined : this.#remoteProofOk
    if (mayProve && !this.#proofSent) {
      this.#proofSent = true
      const key = this.#key as PreparedKey
      this.#ctx.send(encodeAuthMessage({ type: 'proof', proof: computeProof(key.proofKey, this.#role, this.#transcript()) }))
    }
    if (this.#remoteProofOk && this.#proofSent && !this.#helloSent) {
      this.#helloSent = true
      this.#ctx.send(encodeAuthMessage(this.#hello()))
    }
    if (this.#remoteProofOk && this.#helloSent && this.#helloReceived) {
      this.#stop('done')
      const info: AuthInfo = { community: (this.#key as PreparedKey).id, session: this.#session }
      if (this.#remotePublisherKey !== undefined) info.publisherKey = this.#remotePublisherKey
      this.#ctx.markAuthenticated(info)
    }
  }

  #hello (): AuthMessage {
    const session = this.#session as ConnectionSession
    const pub = this.#deps.publisher
    if (pub === undefined) return { type: 'hello', mac: session.mac(BB_AUTH, helloMacPayload()) }
    const signature = pub.sign(helloSignedMessage(this.#nonce, this.#remoteNonce as Buffer, this.#ctx.remote.peerId))
    if (!Buffer.isBuffer(signature) || signature.length !== SIGNATURE_BYTES) throw new RangeError('bb_auth: publisher signer returned no 64-byte signature')
    return { type: 'hello', mac: session.mac(BB_AUTH, helloMacPayload(pub.publicKey, signature)), publicKey: pub.publicKey, signature }
  }

  #transcript (): Transcript {
    const local = { peerId: this.#ctx.localPeerId, nonce: this.#nonce }
    const remote = { peerId: this.#ctx.remote.peerId, nonce: this.#remoteNonce as Buffer }
    const [i, r] = this.#role === 'initiator' ? [local, remote] : [remote, local]
    return { infohash: this.#ctx.infohash, initiatorPeerId: i.peerId, responderPeerId: r.peerId, initiatorNonce: i.nonce, responderNonce: r.nonce }
  }

  /** Our keys, the one the handshake infohash names first. */
  #candidates (): PreparedKey[] {
    const keys = this.#deps.keys
    const id = this.#deps.communityOf?.(this.#ctx.infohash)
    const named = id === undefined ? undefined : keys.find((k) => k.id === id)
    return named === undefined ? keys : [named, ...keys.filter((k) => k !== named)]
  }

  #startTimer (): void {
    if (this.#timerStarted || this.#state !== 'running') return
    this.#timerStarted = true
    this.#cancelTimer = this.#deps.schedule(this.#deps.timeoutMs, () => {
      this.#cancelTimer = undefined
      if (this.#state !== 'running') return
      this.#stop('failed')
      this.#ctx.misbehaved('bb_auth timed out')
    })
  }

  #stop (state: Exclude<State, 'running'>): void {
    if (this.#state !== 'running') {
      if (state === 'closed') this.#state = 'closed'
      return
    }
    this.#state = state
    this.#cancelTimer?.()
    this.#cancelTimer = undefined
  }

  /** A broken rule: bb_auth is over for this connection and the registry reports the remote. */
  #violation (reason: string): never {
    this.#stop('failed')
    throw new ProtocolError(reason)
  }
}

export { BB_AUTH, BB_AUTH_MAX_MESSAGE, BB_AUTH_MAX_KEYS, BB_AUTH_TIMEOUT_MS }
