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

export class MemberLink extends EventEmitter<MemberLinkEvents> {
  readonly registry: ExtensionRegistry
  private authInfo: AuthInfo | null = null
  private closed = false

  constructor (readonly conn: PeerConnection, factories: readonly ExtensionFactory[], localPeerId: Buffer, client = 'bbmesh 0.1') {
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
    conn.sendExtHandshake({ ...this.registry.handshake(), v: client })
  }

  get authenticated (): AuthInfo | null { return this.authInfo }

  close (reason = 'closed'): void { this.conn.close(reason) }
}
