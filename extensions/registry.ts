// The BEP-10 extensions of one peer connection (STYLE habit 12). Built per connection from an
// ordered list of factories, it:
//   - assigns our extension ids firstId.. (default 1..n) in list order and builds the `m` dict
//     of our BEP-10 handshake (plus each extension's handshakeExtra);
//   - records the remote's ids from its handshake(s) (BEP-10: 0 disables, an absent name keeps
//     what an earlier handshake said);
//   - for every incoming extended message: unknown id → ignored and counted; payload over the
//     extension's cap → misbehaved, before anything decodes it; a requiresAuth extension before
//     bb_auth has passed → dropped unanswered and counted; after bb_auth, the session tag of a
//     requiresAuth extension is checked and stripped (a bad tag → misbehaved);
//   - turns a BbmeshError thrown by an extension into misbehaved(its message), and rethrows
//     anything else (a bug, never swallowed).
// The connection owns the socket: it lends a raw sendExtended(remoteId, payload) and a
// misbehaved(reason) callback. See docs/protocol.md "BEP-10 extensions of bbmesh: common rules".

import type { EncodableValue } from '../src/core/bencode.js'
import { isExpected } from '../src/core/errors.js'
import type { ExtHandshake } from '../src/wire/messages.js'
import type { AuthInfo, Extension, ExtensionContext, ExtensionFactory, RemoteInfo, SessionMac } from './extension.js'

/** What the connection supplies to the registry. */
export interface RegistryContext {
  readonly infohash: Buffer
  readonly localPeerId: Buffer
  readonly remote: RemoteInfo
  readonly initiator: boolean
  /** Send one extended message (BEP-10 id 20) with the remote's id for the extension; payload is after the id byte. */
  sendExtended: (remoteId: number, payload: Buffer) => void
  /** The remote broke a rule: the connection drops it, counts and backs off. Called at most once. */
  misbehaved: (reason: string) => void
  /** Optional: bb_auth passed (after every extension's onAuthenticated ran). */
  authenticated?: (info: AuthInfo) => void
}

export interface RegistryOptions {
  /** Our id of the first extension (default 1); ids run up from it in list order. */
  firstId?: number
}

/** Traffic of one extension on one connection (bytes are extended-message payloads after the id byte, tags included). */
export interface ExtensionCounters {
  messagesIn: number
  bytesIn: number
  messagesOut: number
  bytesOut: number
}

export interface RegistryStats {
  /** Messages to one of our ids that no extension has. */
  unknownId: number
  /** Messages of a requiresAuth extension that arrived before bb_auth passed (dropped unanswered). */
  unauthenticatedDropped: number
  /** Messages over their extension's cap. */
  oversize: number
  /** Messages whose session tag was missing or wrong. */
  badTag: number
  /** Sends not made: the remote lacks the extension, bb_auth has not passed, or the registry is closed or failed. */
  sendsDropped: number
  extensions: Record<string, ExtensionCounters>
}

/** Keys of a BEP-10 handshake that belong to the connection, not to an extension's handshakeExtra. */
const RESERVED_HANDSHAKE_KEYS = new Set(['m', 'p', 'v', 'yourip', 'ipv4', 'ipv6', 'reqq', 'metadata_size', 'upload_only'])

interface Slot {
  readonly id: number
  readonly ext: Extension
  readonly counters: ExtensionCounters
}

export class ExtensionRegistry {
  readonly #ctx: RegistryContext
  readonly #slots: Slot[] = []
  readonly #byId = new Map<number, Slot>()
  readonly #remoteIds = new Map<string, number>()
  #authInfo: AuthInfo | undefined
  #session: SessionMac | undefined
  #failed: string | undefined
  #closed = false
  readonly #stats = { unknownId: 0, unauthenticatedDropped: 0, oversize: 0, badTag: 0, sendsDropped: 0 }

  constructor (factories: readonly ExtensionFactory[], ctx: RegistryContext, options: RegistryOptions = {}) {
    this.#ctx = ctx
    const firstId = options.firstId ?? 1
    if (!Number.isInteger(firstId) || firstId < 1 || firstId + factories.length - 1 > 255) {
      throw new RangeError(`extension ids ${firstId}..${firstId + factories.length - 1} do not fit 1..255`)
    }
    const names = new Set<string>()
    factories.forEach((factory, i) => {
      const id = firstId + i
      const counters: ExtensionCounters = { messagesIn: 0, bytesIn: 0, messagesOut: 0, bytesOut: 0 }
      // The extension's name is known only once the factory returns; send() reads it then.
      let slot: Slot | undefined
      const ext = factory(this.#contextFor(() => slot))
      if (typeof ext.name !== 'string' || !/^[\x21-\x7e]{1,255}$/.test(ext.name)) throw new RangeError(`extension ${i}: bad name`)
      if (names.has(ext.name)) throw new RangeError(`extension ${ext.name} listed twice`)
      if (!(Number.isSafeInteger(ext.maxMessage) && ext.maxMessage > 0)) throw new RangeError(`extension ${ext.name}: maxMessage must be a positive integer`)
      names.add(ext.name)
      slot = { id, ext, counters }
      this.#slots.push(slot)
      this.#byId.set(id, slot)
    })
  }

  /** The `m` dict and the extensions' extra keys, to merge into our BEP-10 handshake. */
  handshake (): Record<string, EncodableValue> {
    const m: Record<string, EncodableValue> = {}
    for (const s of this.#slots) m[s.ext.name] = s.id
    const out: Record<string, EncodableValue> = { m }
    for (const s of this.#slots) {
      const extra = s.ext.handshakeExtra?.() ?? {}
      for (const k of Object.keys(extra)) {
        if (RESERVED_HANDSHAKE_KEYS.has(k) || Object.prototype.hasOwnProperty.call(out, k)) {
          throw new RangeError(`extension ${s.ext.name}: handshake key ${k} is reserved or taken`)
        }
        out[k] = extra[k]
      }
    }
    return out
  }

  /** The remote's BEP-10 handshake (the first or a later one). */
  onRemoteHandshake (hs: ExtHandshake): void {
    if (this.#closed || this.#failed !== undefined) return
    const raw = hs.raw.m
    const rawM = raw !== null && typeof raw === 'object' && !Array.isArray(raw) && !(raw instanceof Uint8Array) ? raw : undefined
    for (const s of this.#slots) {
      const name = s.ext.name
      const id = hs.m.get(name)
      if (id !== undefined) this.#remoteIds.set(name, id)
      // BEP-10: "Setting an extension number to zero signals that the extension is not
      // supported/disabled"; a name absent from a later handshake keeps its id.
      else if (rawM !== undefined && Object.prototype.hasOwnProperty.call(rawM, name) && rawM[name] === 0) this.#remoteIds.delete(name)
    }
    for (const s of this.#slots) {
      if (s.ext.onRemoteHandshake === undefined) continue
      if (!this.#guard(s, () => s.ext.onRemoteHandshake?.(hs))) return
    }
  }

  /** One incoming extended message to our id ourId (payload after the id byte). */
  onExtended (ourId: number, payload: Buffer): void {
    if (this.#closed || this.#failed !== undefined) return
    const s = this.#byId.get(ourId)
    if (s === undefined) { this.#stats.unknownId++; return }
    const { ext, counters } = s
    counters.messagesIn++
    counters.bytesIn += payload.length
    const tagged = ext.requiresAuth && this.#session !== undefined
    const cap = ext.maxMessage + (tagged ? (this.#session as SessionMac).tagBytes : 0)
    if (payload.length > cap) {
      this.#stats.oversize++
      this.#fail(`${ext.name} message of ${payload.length} bytes exceeds cap ${cap}`)
      return
    }
    if (ext.requiresAuth && this.#authInfo === undefined) { this.#stats.unauthenticatedDropped++; return }
    let body = payload
    if (tagged) {
      const session = this.#session as SessionMac
      const n = session.tagBytes
      if (payload.length < n || !session.verify(ext.name, payload.subarray(0, payload.length - n), payload.subarray(payload.length - n))) {
        this.#stats.badTag++
        this.#fail(`${ext.name} message has a bad session tag`)
        return
      }
      body = payload.subarray(0, payload.length - n)
    }
    this.#guard(s, () => ext.onMessage(body))
  }

  /** bb_auth passed: flips once, then every extension's onAuthenticated runs in list order. */
  markAuthenticated (info: AuthInfo): void {
    if (this.#closed || this.#failed !== undefined || this.#authInfo !== undefined) return
    this.#authInfo = info
    this.#session = info.session
    for (const s of this.#slots) {
      if (s.ext.onAuthenticated === undefined) continue
      if (!this.#guard(s, () => s.ext.onAuthenticated?.(info))) return
    }
    this.#ctx.authenticated?.(info)
  }

  get authenticated (): boolean { return this.#authInfo !== undefined }
  /** What bb_auth established (the community, the remote's publisher key), once it passed. */
  get authInfo (): AuthInfo | undefined { return this.#authInfo }
  /** The reason given to misbehaved, if it was called. */
  get failure (): string | undefined { return this.#failed }
  get closed (): boolean { return this.#closed }

  /** Whether the remote announced extension `name` (its id is non-zero). */
  remoteSupports (name: string): boolean { return this.#remoteIds.has(name) }

  /** Our id of extension `name`. */
  localId (name: string): number | undefined { return this.#slots.find((s) => s.ext.name === name)?.id }

  stats (): RegistryStats {
    const extensions: Record<string, ExtensionCounters> = {}
    for (const s of this.#slots) extensions[s.ext.name] = { ...s.counters }
    return { ...this.#stats, extensions }
  }

  /** The connection closed: every extension's close runs once; nothing is sent or dispatched after. */
  close (): void {
    if (this.#closed) return
    this.#closed = true
    for (const s of this.#slots) {
      try {
        s.ext.close?.()
      } catch (err) {
        if (!isExpected(err)) throw err
      }
    }
  }

  #contextFor (slot: () => Slot | undefined): ExtensionContext {
    const ctx = this.#ctx
    return {
      infohash: ctx.infohash,
      localPeerId: ctx.localPeerId,
      remote: ctx.remote,
      initiator: ctx.initiator,
      send: (payload) => { const s = slot(); if (s !== undefined) this.#send(s, payload) },
      remoteSupports: () => { const s = slot(); return s !== undefined && this.#remoteIds.has(s.ext.name) },
      authenticated: () => this.#authInfo !== undefined,
      markAuthenticated: (info) => {
        const s = slot()
        // Only an extension that is itself open before authentication (bb_auth) may vouch for the remote.
        if (s === undefined || s.ext.requiresAuth) throw new Error(`extension ${s?.ext.name ?? '?'} may not mark a connection authenticated`)
        this.markAuthenticated(info)
      },
      misbehaved: (reason) => this.#fail(reason),
    }
  }

  #send (s: Slot, payload: Uint8Array): void {
    const { ext, counters } = s
    if (payload.length > ext.maxMessage) throw new RangeError(`${ext.name}: sending ${payload.length} bytes, over its own cap ${ext.maxMessage}`)
    const remoteId = this.#remoteIds.get(ext.name)
    if (this.#closed || this.#failed !== undefined || remoteId === undefined || (ext.requiresAuth && this.#authInfo === undefined)) {
      this.#stats.sendsDropped++
      return
    }
    let wire = Buffer.from(payload.buffer, payload.byteOffset, payload.length)
    if (ext.requiresAuth && this.#session !== undefined) wire = Buffer.concat([wire, this.#session.mac(ext.name, wire)])
    counters.messagesOut++
    counters.bytesOut += wire.length
    this.#ctx.sendExtended(remoteId, wire)
  }

  /** Run an extension callback: a BbmeshError is the remote's fault (misbehaved); anything else is a bug. */
  #guard (s: Slot, fn: () => void): boolean {
    try {
      fn()
      return this.#failed === undefined
    } catch (err) {
      if (!isExpected(err)) throw err
      this.#fail(err.message.startsWith(s.ext.name) ? err.message : `${s.ext.name}: ${err.message}`)
      return false
    }
  }

  #fail (reason: string): void {
    if (this.#closed || this.#failed !== undefined) return
    this.#failed = reason
    this.#ctx.misbehaved(reason)
  }
}
