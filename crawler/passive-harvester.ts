// Passive harvest: every well-formed get_peers and announce_peer that reaches our node names
// an infohash someone wants; an announce also names a peer that has it (a fetch hint).
//
// Not every get_peers names a torrent: libtorrent refreshes a routing-table bucket that is not
// full with a get_peers for a random target inside that bucket, i.e. sharing the bucket's
// prefix with the sender's own node ID (node::send_single_refresh; its self-refresh does the
// same with its own ID). Deep buckets, the ones that are not full, share 16 bits or more; a
// real infohash does that with 1 chance in 65536. Those are left out (counted), so the fetcher
// does not look for peers of torrents that do not exist. Shallow refreshes cannot be told from
// torrents; they fail with "no peers" and are given up as before.

import type { DhtNode } from './dht-node.js'
import type { KrpcQuery } from './krpc-schema.js'
import type { PeerAddr } from '../src/core/compact.js'

export type Discovery = (ih: Buffer, source: 'get_peers' | 'announce', hint?: PeerAddr) => void

/** A get_peers target sharing at least this many leading bits with the asker's ID is taken for a bucket refresh. */
export const REFRESH_PREFIX_BITS = 16

/** Leading bits two IDs share. */
export function sharedPrefixBits (a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length)
  for (let i = 0; i < n; i++) {
    const d = a[i] ^ b[i]
    if (d !== 0) return i * 8 + Math.clz32(d) - 24
  }
  return n * 8
}

export class PassiveHarvester {
  readonly counters = { getPeers: 0, announces: 0, refreshes: 0 }
  private readonly onQuery = (q: KrpcQuery, from: PeerAddr): void => {
    if (q.q === 'get_peers') {
      this.counters.getPeers++
      const ih = Buffer.from(q.a.info_hash as Uint8Array)
      if (sharedPrefixBits(ih, q.a.id as Uint8Array) >= REFRESH_PREFIX_BITS) { this.counters.refreshes++; return }
      this.discover(ih, 'get_peers')
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
