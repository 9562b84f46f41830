// ut_pex within the rendezvous swarm over real TCP on loopback: member C knows only member A's
// address (no DHT, no rendezvous lookup at all); A tells C of B and B of C by ut_pex, and C and
// B link. Members are recorded at their listening addresses (inbound ones through BEP-10 `p`
// and a dial from the listening IP), which is what PEX passes on. A node with another key that
// dials A hears nothing.

import { test } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { Membership } from '../../src/coop/membership.js'
import { bbAuth } from '../../extensions/bb-auth.js'
import { utPex, newPexCounters, type UtPexCounters } from '../../extensions/ut-pex.js'
import { generateCommunityKey, type CommunityKey } from '../../src/identity/community-key.js'
import { rendezvousInfohashes } from '../../src/coop/rendezvous.js'
import type { PeerAddr } from '../../src/core/compact.js'

interface Node { name: string, host: string, peerId: Buffer, addr: PeerAddr, membership: Membership, pex: UtPexCounters }

async function node (name: string, host: string, key: CommunityKey): Promise<Node> {
  const pex = newPexCounters()
  const peerId = randomBytes(20)
  const targets = (now: number): ReturnType<typeof rendezvousInfohashes> => rendezvousInfohashes([key], now)
  const membership: Membership = new Membership({
    peerId,
    host,
    factories: () => [bbAuth({ keys: [key] }), utPex({ source: membership, counters: pex })],
    targets,
  })
  const addr = await membership.start()
  return { name, host, peerId, addr, membership, pex }
}

/**
 * Resolves once cond() holds, looking again whenever a member joins or is lost anywhere; gives
 * up after `ms` (a bound on the wait, so the test still closes everything it opened).
 */
async function until (nodes: Node[], what: string, cond: () => boolean, ms = 20_000): Promise<void> {
  let expired = false
  const bound = setTimeout(() => { expired = true }, ms)
  try {
    while (!cond()) {
      if (expired) throw new Error(`gave up waiting: ${what}`)
      await new Promise<void>((resolve) => {
        const offs: Array<() => void> = []
        const t = setTimeout(done, 250)
        function done (): void { clearTimeout(t); for (const off of offs) off(); resolve() }
        for (const n of nodes) offs.push(n.membership.watch(done))
      })
    }
  } finally {
    clearTimeout(bound)
  }
}

test('a member that knows one other member links with the rest through ut_pex', { timeout: 30_000 }, async () => {
  const key = generateCommunityKey()
  const nodes: Node[] = []
  try {
    const a = await node('A', '127.73.0.2', key)
    const b = await node('B', '127.73.0.3', key)
    const c = await node('C', '127.73.0.4', key)
    const outsider = await node('D', '127.73.0.5', generateCommunityKey())
    nodes.push(a, b, c, outsider)
    const rv = rendezvousInfohashes([key], Date.now())[0].infohash
    const has = (n: Node, m: Node): boolean => n.membership.members().some((x) => x.peerId.equals(m.peerId))

    b.membership.offer({ ...a.addr, infohash: rv })
    await until(nodes, 'A and B linked', () => has(a, b) && has(b, a))
    // C and the outsider are given A's address only.
    c.membership.offer({ ...a.addr, infohash: rv })
    // (The outsider uses our rendezvous infohash, as anyone who watched the DHT could: it gets as far as bb_auth.)
    outsider.membership.offer({ ...a.addr, infohash: rv })
    await until(nodes, 'C linked with A and B', () => has(c, b) && has(b, c) && has(a, c) && has(c, a))

    for (const n of [a, b, c]) assert.equal(n.membership.members().length, 2, `${n.name} links to the two others`)
    // The test offered A alone, to B and to C: the B-C link was dialled on a ut_pex offer.
    assert.ok(b.pex.offered + c.pex.offered >= 1)
    assert.ok(b.membership.counters.dialed + c.membership.counters.dialed >= 3, 'B or C dialled the other')
    assert.ok(a.pex.messagesSent >= 1 && a.pex.addedSent >= 1, 'A told of a member')
    // Every member is recorded at its listening address, whichever end dialled.
    for (const n of [a, b, c]) {
      for (const m of n.membership.members()) {
        const peer = nodes.find((x) => x.peerId.equals(m.peerId)) as Node
        assert.deepEqual({ host: m.host, port: m.port, listening: m.listening }, { host: peer.host, port: peer.addr.port, listening: true }, `${n.name}'s record of ${peer.name}`)
      }
    }
    assert.equal(outsider.membership.members().length, 0)
    assert.equal(outsider.pex.offered + outsider.pex.messagesAccepted, 0, 'a non-member hears no member address')
    assert.ok(!has(a, outsider))
  } finally {
    for (const n of nodes) await n.membership.close()
  }
})
