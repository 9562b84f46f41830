// A member that stops and starts again rejoins its cooperative and catches up: three
// harvesters on the loopback testnet link and index every torrent; one closes; the testnet
// gets new torrents, which the two others index; the stopped one restarts on the same data
// directory, ports and config, links with both again (and they with it), and ends with every
// torrent, the new ones pulled from the members.

import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createTestnet } from '../../src/testnet/testnet.js'
import { startHarvesters } from '../../src/testnet/harvesters.js'
import { HarvesterNode } from '../../src/node/harvester-node.js'
import { loadConfig } from '../../src/config/load.js'
import { generateCommunityKey } from '../../src/identity/community-key.js'

const FIRST = { v1: 6, v2: 2, hybrid: 2 }
const LATER = { v1: 4, v2: 1, hybrid: 1 }
const N0 = FIRST.v1 + FIRST.v2 + FIRST.hybrid
const N1 = N0 + LATER.v1 + LATER.v2 + LATER.hybrid

/** Resolves once cond() holds, looking every 100 ms; gives up after `ms` (so the test still closes what it opened). */
async function waitFor (what: string, cond: () => boolean, ms = 40_000): Promise<void> {
  const until = Date.now() + ms
  while (!cond()) {
    if (Date.now() > until) throw new Error(`gave up waiting: ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
}

test('a member that restarts on its data directory rejoins and catches up from the members', { timeout: 90_000 }, async () => {
  const community = generateCommunityKey().format()
  const tn = await createTestnet({ nodes: 16, ...FIRST, seeders: 2, net: 77, seed: 'rejoin' })
  let set: Awaited<ReturnType<typeof startHarvesters>> | null = null
  let restarted: HarvesterNode | null = null
  try {
    set = await startHarvesters(tn, 3, { community, ownerWaitMs: 10_000 })
    const [a, b, victim] = set.nodes
    await waitFor('three members linked, every torrent indexed', () => set?.nodes.every((n) => n.stats().members === 2 && n.stats().torrents >= N0) === true)

    const dataDir = victim.config.dataDir
    const dhtPort = victim.dht?.address().port
    const peerPort = victim.membership?.address()?.port
    assert.ok(dhtPort !== undefined && peerPort !== undefined)
    assert.equal(victim.stats().torrents, N0)
    await victim.close()
    await waitFor('the others lost it', () => a.stats().members === 1 && b.stats().members === 1)

    // New torrents while it is away; the two left index them.
    await tn.addTorrents(LATER)
    assert.equal(tn.torrents.length, N1)
    await waitFor('the two others indexed the new torrents', () => a.stats().torrents === N1 && b.stats().torrents === N1)

    // Same data directory, same ports, same config.
    const { config, sources } = loadConfig({ dataDir, bootstrap: '', host: '127.0.0.1', dhtPort: String(dhtPort), peerPort: String(peerPort), perIpRate: '50', minRevisit: '0', logLevel: 'silent', community }, {})
    const node = new HarvesterNode(config, { bootstrapPeers: tn.bootstrap, configSources: sources, ownerWaitMs: 10_000 })
    restarted = node
    await node.start()
    assert.equal(node.stats().torrents, N0, 'it kept what it had indexed')
    assert.equal(node.dht?.address().port, dhtPort)
    assert.equal(node.membership?.address()?.port, peerPort)

    await waitFor('it rejoined and caught up', () => node.stats().members === 2 && a.stats().members === 2 && b.stats().members === 2 && node.stats().torrents === N1)
    const s = node.stats()
    console.log(`# after restart (${N1 - N0} torrents to catch up): ${s.fetched_from_members} pulled from members, ${s.fetched_from_swarm} fetched from the swarm`)
    assert.equal(s.torrents, N1, 'it ends with every torrent')
    assert.ok(s.fetched_from_members > 0, 'some of them from members')
    for (const n of [a, b, node]) assert.equal(n.stats().members, 2)
  } finally {
    await restarted?.close()
    await set?.close()
    await tn.close()
  }
})
