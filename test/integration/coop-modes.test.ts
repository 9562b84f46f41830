// Contribution modes on the loopback testnet (docs/protocol.md, "Pooling rules"): a full
// member, a leech and a source in one cooperative. The leech receives everything and fetches
// nothing from the swarm while the owners are live, and shares nothing; the source never
// waits and pulls nothing from members; the full member ends with every torrent.

import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createTestnet } from '../../src/testnet/testnet.js'
import { startHarvesters } from '../../src/testnet/harvesters.js'
import { generateCommunityKey } from '../../src/identity/community-key.js'

const TORRENTS = { v1: 16, v2: 6, hybrid: 6 }
const N = TORRENTS.v1 + TORRENTS.v2 + TORRENTS.hybrid
const MODES = ['full', 'leech', 'source']

test('a leech receives everything and shares nothing; a source never waits and pulls nothing', { timeout: 180_000 }, async () => {
  const tn = await createTestnet({ nodes: 16, ...TORRENTS, seeders: 2, net: 76, seed: 'modes' })
  let set: Awaited<ReturnType<typeof startHarvesters>> | null = null
  try {
    // A long owner wait: the leech must get everything from the owners, never by timing out.
    set = await startHarvesters(tn, MODES.length, { community: generateCommunityKey().format(), ownerWaitMs: 120_000, contribution: (i) => MODES[i] })
    const [full, leech, source] = set.nodes
    const deadline = Date.now() + 120_000
    while (Date.now() < deadline && !(full.stats().torrents >= N && leech.stats().torrents >= N)) await new Promise((r) => setTimeout(r, 200))
    assert.equal(full.stats().torrents, N, 'the full member ends with every torrent')
    assert.equal(leech.stats().torrents, N, 'the leech ends with every torrent')
    assert.equal(leech.stats().fetched_from_swarm, 0, 'the leech fetched nothing from the swarm')
    assert.ok(leech.stats().fetched_from_members >= N, 'everything the leech has came from members')
    assert.equal(leech.coop?.counters.pushed, 0, 'the leech pushed nothing')
    assert.equal(leech.coop?.counters.samplesSent, 0, 'the leech forwarded no samples')
    assert.equal(source.stats().fetched_from_members, 0, 'the source pulled nothing')
    assert.equal(source.coop?.counters.deferred, 0, 'the source never waited for an owner')
    assert.equal(source.coop?.counters.learned, 0, 'the source queued nothing members pushed')
    assert.ok(source.stats().fetched_from_swarm > 0)
    // The others pulled from the source what it fetched (it shares).
    assert.ok((full.coop?.counters.fromMembers ?? 0) > 0)
    assert.equal(full.stats().members, 2)
  } finally {
    await set?.close()
    await tn.close()
  }
})
