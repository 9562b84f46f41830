// libtorrent 2.0 asks a bbmesh node for BEP-51 samples and gets a correct answer; and to
// libtorrent the bbmesh node is an ordinary, harmless DHT node: it answers libtorrent's pings
// and lookups, joins libtorrent's routing tables, and serves the peers stored on it to a
// libtorrent get_peers lookup. A missing python3-libtorrent fails the file (never skips).

import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { requireLibtorrent, startLtNet, type LtNet, type LtSessionInfo } from '../helpers/libtorrent.js'
import { DhtNode } from '../../crawler/dht-node.js'
import { installResponder, type SampleSource } from '../../crawler/responder.js'
import type { KrpcQuery } from '../../crawler/krpc-schema.js'
import type { PeerAddr } from '../../src/core/compact.js'
import { LIMITS } from '../../src/core/limits.js'
import { poll } from '../helpers/cli.js'

const SESSIONS = 6
/** What this node advertises as its BEP-51 interval (not the default, so the check is not a coincidence). */
const INTERVAL = 137

/** A sample source whose content the test swaps: first 30 infohashes, then 5. */
class KnownSet implements SampleSource {
  ihs: Buffer[] = []
  count (): number { return this.ihs.length }
  random (n: number): Buffer[] {
    const a = [...this.ihs]
    for (let i = a.length - 1; i > 0; i--) {
      const j = Math.floor(Math.random() * (i + 1))
      const t = a[i]; a[i] = a[j]; a[j] = t
    }
    return a.slice(0, n)
  }

  hex (): Set<string> { return new Set(this.ihs.map((x) => x.toString('hex'))) }
}

let net: LtNet
let ses: LtSessionInfo[]
let node: DhtNode
let addr: PeerAddr
const source = new KnownSet()
/** Queries bbmesh received, with the source IP. */
const received: Array<{ q: string, host: string }> = []

before(async () => {
  requireLibtorrent()
  net = await startLtNet()
  ses = (await net.start({ sessions: SESSIONS })).sessions
  // Default guard and pacer (4 packets/s per IP): what bbmesh runs with on the real network.
  node = new DhtNode({ host: '127.0.0.1', port: 0, bootstrap: ses.map((s) => ({ host: s.host, port: s.dhtPort })) })
  await node.start({ bootstrapTimeoutMs: 10_000 })
  node.on('query', (q: KrpcQuery, from: PeerAddr) => received.push({ q: q.q, host: from.host }))
  installResponder(node, source, { interval: INTERVAL })
  addr = node.address()
})

after(async () => {
  await node?.close()
  await net?.close()
})

test('bbmesh bootstrapped from libtorrent knows the libtorrent nodes by id', async () => {
  const ids = new Map(ses.map((s) => [s.nodeId, s]))
  const known = await poll('bbmesh routing table holds the libtorrent sessions', () => {
    const k = node.closestNodes(randomBytes(20), 64).filter((n) => ids.has(n.id.toString('hex')))
    return k.length >= SESSIONS ? k : undefined
  }, 20_000)
  for (const n of known) {
    const s = ids.get(n.id.toString('hex')) as LtSessionInfo
    assert.equal(n.host, s.host)
    assert.equal(n.port, s.dhtPort)
  }
})

for (const n of [30, 5]) {
  test(`libtorrent's dht_sample_infohashes to bbmesh holding ${n} infohashes: num, samples, interval, nodes`, async () => {
    source.ihs = Array.from({ length: n }, () => randomBytes(20))
    const known = source.hex()
    const ids = new Map(ses.map((s) => [s.nodeId, s]))
    for (const asker of [0, SESSIONS - 1]) {
      const target = randomBytes(20)
      const r = await net.sampleInfohashes({ session: asker, host: addr.host, port: addr.port, target })
      assert.equal(r.numInfohashes, n, 'num is how many we hold')
      assert.equal(r.samples.length, Math.min(LIMITS.bep51SamplesOut, n))
      assert.equal(r.numSamples, r.samples.length)
      assert.equal(new Set(r.samples).size, r.samples.length, 'no sample twice')
      for (const s of r.samples) assert.ok(known.has(s), `sample ${s} is not one of ours`)
      if (n <= LIMITS.bep51SamplesOut) assert.deepEqual(new Set(r.samples), known, 'all of them when we hold fewer than 20')
      assert.equal(r.interval, INTERVAL, 'the interval we advertise')
      // nodes: libtorrent decoded them; each is a real libtorrent session, at its address.
      assert.ok(r.nodes.length > 0, 'nodes in the answer')
      assert.ok(r.nodes.length <= 8)
      for (const [id, host, port] of r.nodes) {
        const s = ids.get(id)
        assert.ok(s !== undefined, `node ${id} ${host}:${port} is no libtorrent session`)
        assert.equal(host, s.host)
        assert.equal(port, s.dhtPort)
      }
      // ...and they are the nodes bbmesh knows closest to libtorrent's target.
      assert.deepEqual(new Set(r.nodes.map(([id]) => id)), new Set(node.closestNodes(target, 8).map((x) => x.id.toString('hex'))))
    }
  })
}

test('libtorrent pings bbmesh and takes it into its routing table', async () => {
  await net.addDhtNode('all', addr.host, addr.port)
  const me = node.id.toString('hex')
  for (const s of ses) {
    const entry = await poll(`session ${s.session} lists the bbmesh node`, async () => {
      const t = await net.dhtNodes(s.session)
      return t.nodes.find(([id]) => id === me)
    }, 20_000, 200)
    assert.deepEqual(entry, [me, addr.host, addr.port], `session ${s.session} has bbmesh at its address`)
  }
  const ips = new Set(ses.map((s) => s.host))
  assert.ok(received.some((r) => ips.has(r.host) && (r.q === 'ping' || r.q === 'find_node' || r.q === 'get_peers')), 'libtorrent queried bbmesh')
  assert.equal(node.guard?.counters.replied203, 0, 'bbmesh never called a libtorrent query malformed')
  assert.equal(node.guard?.counters.replied204, 0, 'nor unknown')
})

test('a libtorrent get_peers lookup queries bbmesh and gets the peer stored on it', async () => {
  // A client that only knows bbmesh announces a peer there (get_peers for a token, then
  // announce_peer); libtorrent can learn that peer from no other node.
  const ih = randomBytes(20)
  const client = new DhtNode({ host: '127.0.0.1', port: 0, bootstrap: [] })
  await client.start()
  try {
    const gp = await client.query(addr, 'get_peers', { info_hash: ih })
    const token = gp.r.token
    assert.ok(token instanceof Uint8Array, 'bbmesh gave a token')
    await client.query(addr, 'announce_peer', { info_hash: ih, port: 51413, token, implied_port: 0 })
    const before = received.filter((r) => r.q === 'get_peers').length
    const found = await poll('libtorrent finds the peer through bbmesh', async () => {
      const r = await net.dhtGetPeers({ session: 2, infohash: ih.toString('hex'), timeoutMs: 2_000 })
      return r.peers.length > 0 ? r.peers : undefined
    }, 20_000, 200)
    assert.deepEqual(found, [['127.0.0.1', 51413]])
    const ips = new Set(ses.map((s) => s.host))
    assert.ok(received.slice(before).some((r) => r.q === 'get_peers' && ips.has(r.host)), 'the lookup reached bbmesh')
  } finally {
    await client.close()
  }
  // Still an ordinary node afterwards: libtorrent keeps it.
  const t = await net.dhtNodes(2)
  assert.ok(t.nodes.some(([id]) => id === node.id.toString('hex')))
})
