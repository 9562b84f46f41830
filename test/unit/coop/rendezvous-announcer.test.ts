import { test } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { createTestnet } from '../../../src/testnet/testnet.js'
import { DhtNode } from '../../../crawler/dht-node.js'
import { RendezvousAnnouncer, type RendezvousPeer } from '../../../src/coop/rendezvous-announcer.js'

test('members announced on one rendezvous infohash find each other through the DHT', async () => {
  const tn = await createTestnet({ nodes: 12, v1: 0, v2: 0, hybrid: 0, seeders: 1, net: 71 })
  const ih = randomBytes(20)
  const fast = { pacer: { perIpRate: 1000, perIpBurst: 1000 } }
  const nodes = [new DhtNode({ host: '127.71.9.2', bootstrap: tn.bootstrap, guard: fast }), new DhtNode({ host: '127.71.9.3', bootstrap: tn.bootstrap, guard: fast })]
  const announcers: RendezvousAnnouncer[] = []
  try {
    for (const n of nodes) await n.start({ bootstrapTimeoutMs: 5000 })
    const seen: RendezvousPeer[][] = [[], []]
    nodes.forEach((n, i) => {
      const a = new RendezvousAnnouncer(n, { targets: () => [{ communityId: 'c1', day: '2026-11-21', infohash: ih }], peerPort: 40000 + i, intervalMs: 60_000 })
      a.on('peer', (p) => seen[i].push(p))
      announcers.push(a)
    })
    // A announces first, so B's lookup finds it; then A looks again and finds B.
    announcers[0].start()
    await new Promise<void>((resolve) => announcers[0].once('round', () => resolve()))
    announcers[1].start()
    await new Promise<void>((resolve) => announcers[1].once('round', () => resolve()))
    announcers[0].kick()
    await new Promise<void>((resolve) => announcers[0].once('round', () => resolve()))
    assert.ok(seen[1].some((p) => p.port === 40000 && p.host === '127.71.9.2'), 'B found A')
    assert.ok(seen[0].some((p) => p.port === 40001 && p.host === '127.71.9.3'), 'A found B')
    assert.ok(seen[0].every((p) => p.communityId === 'c1' && p.infohash.equals(ih)))
    assert.equal(announcers[0].counters.announceFailures, 0)
  } finally {
    for (const a of announcers) await a.close()
    for (const n of nodes) await n.close()
    await tn.close()
  }
})
