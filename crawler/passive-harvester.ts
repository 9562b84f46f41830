// Passive harvest: every well-formed get_peers and announce_peer that reaches our node names
// an infohash someone wants; an announce also names a peer that has it (a fetch hint).

import type { DhtNode } from './dht-node.js'
import type { KrpcQuery } from './krpc-schema.js'
import type { PeerAddr } from '../src/core/compact.js'

export type Discovery = (ih: Buffer, source: 'get_peers' | 'announce', hint?: PeerAddr) => void

export class PassiveHarvester {
  readonly counters = { getPeers: 0, announces: 0 }
  private readonly onQuery = (q: KrpcQuery, from: PeerAddr): void => {
    if (q.q === 'get_peers') {
      this.counters.getPeers++
      this.discover(Buffer.from(q.a.info_hash as Uint8Array), 'get_peers')
    } else if (q.q === 'announce_peer') {
      this.counters.announces++
      const port = q.a.implied_port === 1 ? from.port : (q.a.port as number)
      this.discover(Buffer.from(q.a.info_hash as Uint8Array), 'announce', port > 0 ? { host: from.host, port } : undefined)
    }
  }

  constructor (private readonly node: DhtNode, private readonly discover: Discovery) {
    node.on('query', this.onQuery)
  }

  close (): void {
    this.node.off('query', this.onQuery)
  }
}
