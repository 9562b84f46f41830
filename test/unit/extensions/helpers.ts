// Test tools for the BEP-10 extensions: two registries wired back to back in memory (what one
// sends is delivered to the other's onExtended on a microtask, the way a socket would, in
// order), one registry facing a scripted raw remote, a manual clock for deadlines, a dummy
// requiresAuth extension, deterministic keys, and the builder of the fixtures/ext files.

import { createHash, createPrivateKey, generateKeyPairSync, sign as cryptoSign, createPublicKey, type KeyObject } from 'node:crypto'
import { encode, type EncodableValue } from '../../../src/core/bencode.js'
import { DecodeError, LimitError, ProtocolError, SchemaError, type BbmeshError } from '../../../src/core/errors.js'
import { decodeExtHandshake } from '../../../src/wire/messages.js'
import type { AuthInfo, Extension, ExtensionContext, ExtensionFactory } from '../../../extensions/extension.js'
import { ExtensionRegistry, type RegistryContext } from '../../../extensions/registry.js'
import { rawEd25519PublicKey } from '../../../extensions/bb-auth.codec.js'

export const sha1 = (s: string): Buffer => createHash('sha1').update(s).digest()
export const sha256 = (s: string): Buffer => createHash('sha256').update(s).digest()

/** A deterministic 20-byte peer id (Azureus style prefix). */
export function peerId (label: string): Buffer {
  return Buffer.concat([Buffer.from('-BM0100-', 'latin1'), sha1(label).subarray(0, 12)])
}

/** A deterministic community key with a readable id. */
export function communityKey (label: string): { id: string, key: Buffer } {
  return { id: `c-${label}`, key: sha256(`community ${label}`) }
}

// ---------------------------------------------------------------- clock

/** Timers that fire only when the test advances time: no wall clock in any assertion. */
export class ManualClock {
  now = 0
  #timers: Array<{ at: number, fn: () => void, live: boolean }> = []

  schedule = (ms: number, fn: () => void): (() => void) => {
    const t = { at: this.now + ms, fn, live: true }
    this.#timers.push(t)
    return () => { t.live = false }
  }

  /** Move time forward, firing every live timer that falls due, in order. */
  advance (ms: number): void {
    this.now += ms
    for (;;) {
      const due = this.#timers.filter((t) => t.live && t.at <= this.now).sort((a, b) => a.at - b.at)[0]
      if (due === undefined) break
      due.live = false
      due.fn()
    }
    this.#timers = this.#timers.filter((t) => t.live)
  }

  /** Timers still armed. */
  get pending (): number { return this.#timers.filter((t) => t.live).length }
}

// ---------------------------------------------------------------- dummy extension

export interface DummyInstance {
  ctx: ExtensionContext
  received: Buffer[]
  authenticated: AuthInfo[]
  closed: number
}

export interface DummyOptions {
  name?: string
  maxMessage?: number
  requiresAuth?: boolean
  /** Answer every message with "re:" + payload (so a message passed on would be seen answered). */
  echo?: boolean
}

/**
 * A minimal bb_* extension: records what reaches it, optionally echoes. A payload starting with
 * 0xff is "malformed": it throws a ProtocolError, as a codec would.
 */
export function dummyExtension (options: DummyOptions = {}): { factory: ExtensionFactory, instances: DummyInstance[] } {
  const instances: DummyInstance[] = []
  const name = options.name ?? 'bb_dummy'
  const factory: ExtensionFactory = (ctx) => {
    const inst: DummyInstance = { ctx, received: [], authenticated: [], closed: 0 }
    instances.push(inst)
    const ext: Extension = {
      name,
      maxMessage: options.maxMessage ?? 1024,
      requiresAuth: options.requiresAuth ?? true,
      onMessage: (payload) => {
        if (payload.length > 0 && payload[0] === 0xff) throw new ProtocolError(`${name} malformed message`)
        inst.received.push(Buffer.from(payload))
        if (options.echo === true) ctx.send(Buffer.concat([Buffer.from('re:'), payload]).subarray(0, ext.maxMessage))
      },
      onAuthenticated: (info) => { inst.authenticated.push(info) },
      close: () => { inst.closed++ },
    }
    return ext
  }
  return { factory, instances }
}

/** A stand-in for bb_auth: open before authentication, marks the link authenticated when told. */
export function fakeAuth (): { factory: ExtensionFactory, pass: (info?: AuthInfo) => void } {
  let mark: ((info: AuthInfo) => void) | undefined
  return {
    factory: (ctx) => {
      mark = ctx.markAuthenticated
      return { name: 'bb_auth', maxMessage: 256, requiresAuth: false, onMessage: () => {} }
    },
    pass: (info = { community: 'c' }) => {
      if (mark === undefined) throw new Error('fakeAuth: no connection yet')
      mark(info)
    },
  }
}

/** Wrap a factory so every call of onMessage is counted (to show a message was refused before decoding). */
export function spyOnMessage (factory: ExtensionFactory): { factory: ExtensionFactory, calls: Buffer[] } {
  const calls: Buffer[] = []
  return {
    calls,
    factory: (ctx) => {
      const ext = factory(ctx)
      const inner = ext.onMessage.bind(ext)
      const spied: Extension = {
        name: ext.name,
        maxMessage: ext.maxMessage,
        requiresAuth: ext.requiresAuth,
        handshakeExtra: ext.handshakeExtra?.bind(ext),
        onRemoteHandshake: ext.onRemoteHandshake?.bind(ext),
        onAuthenticated: ext.onAuthenticated?.bind(ext),
        onMessage: (p) => { calls.push(Buffer.from(p)); inner(p) },
        close: ext.close?.bind(ext),
      }
      return spied
    },
  }
}

// ---------------------------------------------------------------- one registry, a raw remote

export interface Solo {
  registry: ExtensionRegistry
  /** What the registry sent, by the remote's id. */
  sent: Array<{ remoteId: number, payload: Buffer }>
  misbehaved: string[]
  authenticated: AuthInfo[]
  /** Deliver the remote's BEP-10 handshake, as bytes on the wire would be decoded. */
  remoteHandshake: (m: Record<string, number>) => void
  /** Deliver a message from the remote to our extension `name`. */
  receive: (name: string, payload: Uint8Array) => void
  /** Payloads sent to the remote's extension id. */
  sentTo: (remoteId: number) => Buffer[]
}

export interface SoloOptions {
  initiator?: boolean
  infohash?: Buffer
  localPeerId?: Buffer
  remotePeerId?: Buffer
}

export function solo (factories: ExtensionFactory[], options: SoloOptions = {}): Solo {
  const sent: Solo['sent'] = []
  const misbehaved: string[] = []
  const authenticated: AuthInfo[] = []
  const ctx: RegistryContext = {
    infohash: options.infohash ?? sha1('rendezvous'),
    localPeerId: options.localPeerId ?? peerId('local'),
    remote: { host: '127.0.0.1', port: 6881, peerId: options.remotePeerId ?? peerId('remote') },
    initiator: options.initiator ?? true,
    sendExtended: (remoteId, payload) => { sent.push({ remoteId, payload: Buffer.from(payload) }) },
    misbehaved: (reason) => { misbehaved.push(reason) },
    authenticated: (info) => { authenticated.push(info) },
  }
  const registry = new ExtensionRegistry(factories, ctx)
  return {
    registry,
    sent,
    misbehaved,
    authenticated,
    remoteHandshake: (m) => { registry.onRemoteHandshake(decodeExtHandshake(encode({ m, v: 'raw remote' }))) },
    receive: (name, payload) => {
      const id = registry.localId(name)
      if (id === undefined) throw new Error(`no extension ${name}`)
      registry.onExtended(id, Buffer.from(payload))
    },
    sentTo: (remoteId) => sent.filter((s) => s.remoteId === remoteId).map((s) => s.payload),
  }
}

// ---------------------------------------------------------------- two registries back to back

export type SideName = 'a' | 'b'

export interface Side {
  registry: ExtensionRegistry
  misbehaved: string[]
  authenticated: AuthInfo[]
  /** Every message this side put on the wire: extension name (at the receiver) and payload. */
  sent: Array<{ name: string, payload: Buffer }>
  peerId: Buffer
}

export interface PairOptions {
  /** Extensions of the initiator (a) and the responder (b). */
  a: ExtensionFactory[]
  b: ExtensionFactory[]
  infohash?: Buffer
  peerIdA?: Buffer
  peerIdB?: Buffer
  /**
   * The path between them (a relay): given each message in flight, return what to deliver
   * (the same buffer, an altered one, or null to drop it).
   */
  tap?: (from: SideName, name: string, payload: Buffer) => Buffer | null
  /** Whether misbehaved on either side cuts the link and closes both registries (default true). */
  dropOnMisbehave?: boolean
}

export interface Pair {
  a: Side
  b: Side
  /** Swap the BEP-10 handshakes (both at once), which starts bb_auth. */
  start: () => void
  /** Wait until nothing is in flight. */
  settle: () => Promise<void>
  /** Put a message on the wire toward `to`, as a relay would (it still passes the tap). */
  inject: (to: SideName, name: string, payload: Buffer) => void
  /** True once the link was cut. */
  readonly down: boolean
}

export function pair (options: PairOptions): Pair {
  const infohash = options.infohash ?? sha1('rendezvous')
  const ids = { a: options.peerIdA ?? peerId('a'), b: options.peerIdB ?? peerId('b') }
  const dropOnMisbehave = options.dropOnMisbehave ?? true
  let down = false
  let inFlight = 0
  const sides = {} as Record<SideName, Side>
  const other = (s: SideName): SideName => s === 'a' ? 'b' : 'a'

  const cut = (): void => {
    if (down) return
    down = true
    sides.a.registry.close()
    sides.b.registry.close()
  }

  const deliver = (to: SideName, name: string, payload: Buffer): void => {
    inFlight++
    queueMicrotask(() => {
      inFlight--
      if (down) return
      const reg = sides[to].registry
      const id = reg.localId(name)
      if (id !== undefined) reg.onExtended(id, payload)
    })
  }

  const make = (me: SideName): Side => {
    const misbehaved: string[] = []
    const authenticated: AuthInfo[] = []
    const sent: Side['sent'] = []
    const names = new Map<number, string>()
    const ctx: RegistryContext = {
      infohash,
      localPeerId: ids[me],
      remote: { host: '127.0.0.1', port: me === 'a' ? 6882 : 6881, peerId: ids[other(me)] },
      initiator: me === 'a',
      sendExtended: (remoteId, payload) => {
        if (down) return
        // The receiver's id → its extension name, from the receiver's own handshake.
        if (names.size === 0) {
          const m = sides[other(me)].registry.handshake().m as Record<string, number>
          for (const [n, i] of Object.entries(m)) names.set(i, n)
        }
        const name = names.get(remoteId) ?? `#${remoteId}`
        const copy = Buffer.from(payload)
        sent.push({ name, payload: copy })
        const out = options.tap === undefined ? copy : options.tap(me, name, copy)
        if (out !== null) deliver(other(me), name, out)
      },
      misbehaved: (reason) => {
        misbehaved.push(reason)
        if (dropOnMisbehave) queueMicrotask(cut)
      },
      authenticated: (info) => { authenticated.push(info) },
    }
    return { registry: new ExtensionRegistry(me === 'a' ? options.a : options.b, ctx), misbehaved, authenticated, sent, peerId: ids[me] }
  }
  sides.a = make('a')
  sides.b = make('b')

  const hsOf = (s: SideName): Buffer => encode({ ...sides[s].registry.handshake(), v: `pair ${s}` } as EncodableValue)
  return {
    a: sides.a,
    b: sides.b,
    start: () => {
      for (const s of ['a', 'b'] as const) {
        const bytes = hsOf(other(s))
        inFlight++
        queueMicrotask(() => { inFlight--; if (!down) sides[s].registry.onRemoteHandshake(decodeExtHandshake(bytes)) })
      }
    },
    settle: async () => {
      for (let i = 0; i < 1000 && inFlight > 0; i++) await new Promise((resolve) => setImmediate(resolve))
      await new Promise((resolve) => setImmediate(resolve))
    },
    inject: (to, name, payload) => { deliver(to, name, payload) },
    get down () { return down },
  }
}

// ---------------------------------------------------------------- publisher keys

export interface Publisher {
  publicKey: Buffer
  privateKey: KeyObject
  sign: (message: Buffer) => Buffer
}

/** An ed25519 publisher key; from a 32-byte seed when given (deterministic), else random. */
export function publisher (seed?: Buffer): Publisher {
  let privateKey: KeyObject
  if (seed === undefined) {
    privateKey = generateKeyPairSync('ed25519').privateKey
  } else {
    // PKCS#8 wrapping of a raw ed25519 seed (RFC 8410).
    privateKey = createPrivateKey({ key: Buffer.concat([Buffer.from('302e020100300506032b657004220420', 'hex'), seed]), format: 'der', type: 'pkcs8' })
  }
  const publicKey = rawEd25519PublicKey(createPublicKey(privateKey))
  return { publicKey, privateKey, sign: (m) => cryptoSign(null, m, privateKey) }
}

// ---------------------------------------------------------------- fixtures/ext

export interface AuthFixture {
  bytes: Buffer
  /** The error class decodeAuthMessage must throw, or null for a good message. */
  error: (new (...args: never[]) => BbmeshError) | null
  why: string
}

const b = (s: string): Buffer => Buffer.from(s, 'latin1')
/** A dict that also holds `__proto__` as an own key (an object literal would set the prototype instead). */
function protoDict (d: Record<string, EncodableValue>): EncodableValue {
  const out = Object.create(null) as Record<string, EncodableValue>
  out['__proto__'] = 2
  return Object.assign(out, d)
}
const bstr = (x: Buffer): Buffer => Buffer.concat([b(`${x.length}:`), x])

/** Every fixtures/ext/*.bin file, built from fixed values (see fixtures/README.md). */
export function buildAuthFixtures (): Record<string, AuthFixture> {
  const nonce = sha256('bb_auth fixture nonce')
  const proof = sha256('bb_auth fixture proof')
  const mac = sha256('bb_auth fixture mac').subarray(0, 16)
  const pk = sha256('bb_auth fixture pk')
  const sig = Buffer.concat([sha256('bb_auth fixture sig 1'), sha256('bb_auth fixture sig 2')])
  const challenge = encode({ t: 1, v: 1, n: nonce })
  return {
    'auth-challenge': { bytes: challenge, error: null, why: 'a good challenge {t: 1, v: 1, n: SHA-256("bb_auth fixture nonce")}' },
    'auth-proof': { bytes: encode({ t: 2, p: proof }), error: null, why: 'a good proof {t: 2, p: SHA-256("bb_auth fixture proof")}' },
    'auth-hello': { bytes: encode({ t: 3, mac }), error: null, why: 'a good hello without a publisher key {t: 3, mac: 16 bytes}' },
    'auth-hello-pk': { bytes: encode({ t: 3, mac, pk, sig }), error: null, why: 'a good hello with pk (32 bytes) and sig (64 bytes), the largest bb_auth message; the codec does not check the signature' },
    'auth-oversize': { bytes: encode({ t: 1, v: 1, n: nonce, x: Buffer.alloc(198, 0x78) }), error: LimitError, why: 'a challenge padded with a 198-byte `x` to 257 bytes (cap 256): refused on length alone' },
    'auth-not-dict': { bytes: encode([1, nonce]), error: SchemaError, why: 'a bencoded list instead of a dict' },
    'auth-not-bencode': { bytes: b('d1:ti1e1:vi1e1:n32:short'), error: DecodeError, why: 'a challenge whose `n` claims 32 bytes and is cut short' },
    'auth-trailing': { bytes: Buffer.concat([challenge, b('XX')]), error: DecodeError, why: 'a good challenge followed by 2 stray bytes "XX"' },
    'auth-nested': { bytes: encode({ t: 1, v: 1, n: { x: nonce } }), error: LimitError, why: 'a challenge whose `n` is a dict (nesting deeper than 1)' },
    'auth-unknown-type': { bytes: encode({ t: 9, n: nonce }), error: SchemaError, why: 'message type t = 9 (only 1, 2, 3 exist)' },
    'auth-no-type': { bytes: encode({ v: 1, n: nonce }), error: SchemaError, why: 'a challenge without `t`' },
    'auth-string-type': { bytes: encode({ t: '1', v: 1, n: nonce }), error: SchemaError, why: 'a challenge whose `t` is the string "1"' },
    'auth-bad-version': { bytes: encode({ t: 1, v: 2, n: nonce }), error: SchemaError, why: 'a challenge with v = 2 (only 1 exists)' },
    'auth-no-version': { bytes: encode({ t: 1, n: nonce }), error: SchemaError, why: 'a challenge without `v`' },
    'auth-nonce-31': { bytes: encode({ t: 1, v: 1, n: nonce.subarray(0, 31) }), error: SchemaError, why: 'a challenge whose nonce is 31 bytes' },
    'auth-nonce-33': { bytes: encode({ t: 1, v: 1, n: Buffer.concat([nonce, b('!')]) }), error: SchemaError, why: 'a challenge whose nonce is 33 bytes' },
    'auth-nonce-int': { bytes: encode({ t: 1, v: 1, n: 7 }), error: SchemaError, why: 'a challenge whose nonce is the integer 7' },
    'auth-extra-key': { bytes: encode({ t: 1, v: 1, n: nonce, x: 1 }), error: SchemaError, why: 'a challenge with an extra key `x`' },
    'auth-proto-key': { bytes: encode(protoDict({ t: 1, v: 1, n: nonce })), error: SchemaError, why: 'a challenge that also holds a `__proto__` key (value i2e)' },
    'auth-duplicate-key': { bytes: Buffer.concat([b('d1:n'), bstr(nonce), b('1:n'), bstr(nonce), b('1:ti1e1:vi1ee')]), error: DecodeError, why: 'a challenge with the key `n` twice (written by hand: encode() cannot)' },
    'auth-unsorted': { bytes: Buffer.concat([b('d1:vi1e1:ti1e1:n'), bstr(nonce), b('e')]), error: DecodeError, why: 'a challenge with its keys out of order v, t, n (not canonical; written by hand)' },
    'auth-proof-33': { bytes: encode({ t: 2, p: Buffer.concat([proof, b('!')]) }), error: SchemaError, why: 'a proof of 33 bytes' },
    'auth-proof-missing': { bytes: encode({ t: 2 }), error: SchemaError, why: 'a proof message without `p`' },
    'auth-proof-with-nonce': { bytes: encode({ t: 2, p: proof, n: nonce }), error: SchemaError, why: 'a proof that also carries a challenge nonce `n` (a key of another type)' },
    'auth-hello-pk-no-sig': { bytes: encode({ t: 3, mac, pk }), error: SchemaError, why: 'a hello with `pk` but no `sig`' },
    'auth-hello-sig-63': { bytes: encode({ t: 3, mac, pk, sig: sig.subarray(0, 63) }), error: SchemaError, why: 'a hello whose signature is 63 bytes' },
    'auth-hello-no-mac': { bytes: encode({ t: 3, pk, sig }), error: SchemaError, why: 'a hello without its session tag `mac`' },
    'auth-hello-mac-32': { bytes: encode({ t: 3, mac: sha256('bb_auth fixture mac') }), error: SchemaError, why: 'a hello whose `mac` is 32 bytes (a tag is 16)' },
  }
}
