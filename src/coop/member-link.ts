// One link to a (would-be) member: a PeerConnection on a rendezvous infohash with the
// extension registry on top. It sends our BEP-10 handshake from the registry, feeds the
// remote's extended messages to it in stream order, and reports authentication, misbehaviour
// and close. Toward a peer that is not a member (libtorrent, or bbmesh with another key) the
// link stays an ordinary, silent BitTorrent connection: the registry answers no bb_* for it.

import { EventEmitter } from 'node:events'
import type { PeerConnection } from '../wire/peer-connection.js'
import { ExtensionRegistry } from '../../extensions/registry.js'
import type { AuthInfo, ExtensionFactory } from '../../extensions/extension.js'

export interface MemberLinkEvents {
  authenticated: [AuthInfo]
  misbehaved: [string]
  close: [string]
}

export interface MemberLinkOptions {
  /** BEP-10 `v` (default 'bbmesh 0.1'). */
  client?: string
  /** Our listening TCP port, sent as BEP-10 `p`. */
  listenPort?: number
}

export class MemberLink extends EventEmitter<MemberLinkEvents> {
  readonly registry: ExtensionRegistry
  private authInfo: AuthInfo | null = null
  private closed = false

  constructor (readonly conn: PeerConnection, factories: readonly ExtensionFactory[], localPeerId: Buffer, opts: MemberLinkOptions = {}) {
    super()
    this.registry = new ExtensionRegistry(factories, {
      infohash: conn.infohash,
      localPeerId,
      remote: { host: conn.remote.host, port: conn.remote.port, peerId: conn.remote.peerId },
      initiator: conn.initiator,
      sendExtended: (remoteId, payload) => { if (!conn.isClosed) conn.sendExtended(remoteId, payload) },
      misbehaved: (reason) => {
        this.emit('misbehaved', reason)
        conn.close(`misbehaved: ${reason}`)
      },
      authenticated: (info) => { this.authInfo = info; this.emit('authenticated', info) },
    })
    conn.on('extHandshake', (hs) => this.registry.onRemoteHandshake(hs))
    conn.on('extended', (id, payload) => this.registry.onExtended(id, payload))
    conn.on('close', (reason) => {
      if (this.closed) return
      this.closed = true
      this.registry.close()
      this.emit('close', reason)
      this.removeAllListeners()
    })
    // BEP-10 `p`: our listening port. On an inbound link the remote sees only our source port;
    // with `p` it records (and PEX spreads) an address it can dial.
    const p = opts.listenPort
    conn.sendExtHandshake({ ...this.registry.handshake(), v: opts.client ?? 'bbmesh 0.1', ...(p !== undefined && p > 0 && p < 65536 ? { p } : {}) })
  }

  get authenticated (): AuthInfo | null { return this.authInfo }

  close (reason = 'closed'): void { this.conn.close(reason) }
}
