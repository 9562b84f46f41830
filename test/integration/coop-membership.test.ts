// Members of one community find each other through the rendezvous infohash on a loopback
// DHT and authenticate; a node with another key finds the rendezvous of its own community
// only, and is never a member of the first.

import { test } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { createTestnet } from '../../src/testnet/testnet.js'
import { DhtNode } from '../../crawler/dht-node.js'
import { RendezvousAnnouncer } from '../../src/coop/rendezvous-announcer.js'
import { Membership } from '../../src/coop/membership.js'
import { bbAuth } from '../../extensions/bb-auth.js'
import { generateCommunityKey, type CommunityKey } from '../../src/identity/community-key.js'
import { rendezvousInfohashes } from '../../src/coop/rendezvous.js'

interface Node { dht: DhtNode, membership: Membership, announcer: RendezvousAnnouncer }

async function member (i: number, key: CommunityKey, bootstrap: Array<{ host: string, port: number }>): Promise<Node> {
  const host = `127.72.9.${i + 2}`
  const dht = new DhtNode({ host, bootstrap, guard: { pacer: { perIpRate: 1000, perIpBurst: 1000 } } })
  await dht.start({ bootstrapTimeoutMs: 5000 })
  const targets = (now: number): ReturnType<typeof rendezvousInfohashes> => rendezvousInfohashes([key], now)
  const membership = new Membership({ peerId: randomBytes(20), host, factories: () => [bbAuth({ keys: [key] })], targets })
  const addr = await membership.start()
  const announcer = new RendezvousAnnouncer(dht, { targets, peerPort: addr.port, intervalMs: 500 })
  announcer.on('peer', (p) => membership.offer(p))
  announcer.start()
  return { dht, membership, announcer }
}

test('members find each other by rendezvous and authenticate; another community stays out', { timeout: 60_000 }, async () => {
  const tn = await createTestnet({ nodes: 12, v1: 0, v2: 0, hybrid: 0, seeders: 1, net: 72 })
  const key = generateCommunityKey()
  const other = generateCommunityKey()
  const nodes: Node[] = []
  try {
    for (let i = 0; i < 3; i++) nodes.push(await member(i, key, tn.bootstrap))
    const outsider = await member(3, other, tn.bootstrap)
    nodes.push(outsider)
    const deadline = Date.now() + 30_000
    while (Date.now() < deadline && !nodes.slice(0, 3).every((n) => n.membership.members().length === 2)) await new Promise((r) => setTimeout(r, 100))
    for (const n of nodes.slice(0, 3)) {
      const ms = n.membership.members()
      assert.equal(ms.length, 2, 'each member links to the two others')
      assert.ok(ms.every((m) => m.community === key.id))
    }
    assert.equal(outsider.membership.members().length, 0)
    // Every member pair has exactly one link (simultaneous dials resolved the same way at both ends).
    const ids = nodes.slice(0, 3).map((n) => n.membership.members().map((m) => m.peerId.toString('hex')).sort().join())
    assert.equal(new Set(ids).size, 3)
  } finally {
    for (const n of nodes) { await n.announcer.close(); await n.membership.close(); await n.dht.close() }
    await tn.close()
  }
})
