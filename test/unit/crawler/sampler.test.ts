import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { DhtNode } from '../../../crawler/dht-node.js'
import { Sampler } from '../../../crawler/sampler.js'
import { buildSampleAnswer, ExpiringSet } from '../../../crawler/responder.js'
import { inRegion, type Region } from '../../../src/core/infohash.js'
import { key20, until, FAST_GUARD } from '../../helpers/krpc.js'

// A loopback DHT of six nodes, each on its own 127.0.0.x and each holding five known
// infohashes behind a BEP-51 responder that records every target it is asked for.

interface Asked { node: number, target: Buffer, fromPort: number }

const NODES = 6
const PER_NODE = 5
const net: DhtNode[] = []
const held: Buffer[][] = []
const asked: Asked[] = []
const harvesters: DhtNode[] = []

function respond (node: DhtNode, index: number, source: ExpiringSet, interval: number, log: Asked[]): void {
  node.handle('sample_infohashes', (q, from) => {
    log.push({ node: index, target: Buffer.from(q.a.target as Uint8Array), fromPort: from.port })
    return buildSampleAnswer(node, source, q, { interval })
  })
}

before(async () => {
  for (let i = 0; i < NODES; i++) {
    // IDs with known first nibbles (0, 1, 2, 8, 9, a), so region tests know which nodes are in.
    const nodeId = key20(`sampler node ${i}`)
    nodeId[0] = i < 3 ? 0x10 * i : 0x80 + 0x10 * (i - 3)
    const n = new DhtNode({ host: `127.0.0.${i + 2}`, port: 0, nodeId, bootstrap: i === 0 ? [] : [net[0].address()], guard: FAST_GUARD })
    await n.start({ bootstrapTimeoutMs: 5000 })
    const set = new ExpiringSet(1000, 3600_000)
    const ihs = Array.from({ length: PER_NODE }, (_, j) => key20(`node ${i} infohash ${j}`))
    for (const ih of ihs) set.add(ih)
    respond(n, i, set, 300, asked)
    net.push(n)
    held.push(ihs)
  }
})

after(async () => {
  await Promise.all([...harvesters, ...net].map(async (n) => await n.close()))
})

async function harvester (bootstrap = true): Promise<DhtNode> {
  const h = new DhtNode({ host: '127.0.0.1', port: 0, bootstrap: bootstrap ? [net[0].address()] : [] })
  await h.start({ bootstrapTimeoutMs: 5000 })
  harvesters.push(h)
  return h
}

test('the sampler discovers every infohash of the network, and never asks itself', { timeout: 30_000 }, async () => {
  const h = await harvester()
  let selfAsked = 0
  h.on('query', (q: { q: string }) => { if (q.q === 'sample_infohashes') selfAsked++ })
  const s = new Sampler({ node: h }, { tickMs: 10, minRevisitMs: 0 })
  const found = new Set<string>()
  s.on('samples', (ihs: Buffer[]) => { for (const ih of ihs) found.add(ih.toString('hex')) })
  s.start()
  try {
    const all = new Set(held.flat().map((x) => x.toString('hex')))
    await until(() => found.size >= all.size, 20_000)
    assert.deepEqual([...found].sort(), [...all].sort())
    const myPort = h.address().port
    const askedNodes = new Set(asked.filter((a) => a.fromPort === myPort).map((a) => a.node))
    assert.equal(askedNodes.size, NODES, 'every node was asked')
    const st = s.snapshot()
    assert.equal(st.samples, found.size, 'each answer held all five, each counted once')
    assert.equal(st.errors + st.timeouts, 0)
    // Our own node comes back in the others' `nodes` answers; asking it is a wasted query.
    s.addNode({ id: h.id, ...h.address() })
    assert.equal(s.nextQueryAt(h.address().host, h.address().port), undefined)
    await new Promise((resolve) => setTimeout(resolve, 100))
    assert.equal(selfAsked, 0, 'the sampler asked its own node')
    assert.equal(st.unsupported, 0)
  } finally {
    s.close()
  }
})

test('every sample of a 20-sample answer is emitted, and interval N is honoured (fake clock)', { timeout: 30_000 }, async () => {
  const r = new DhtNode({ host: '127.0.0.20', port: 0, bootstrap: [], guard: FAST_GUARD })
  await r.start()
  harvesters.push(r)
  const set = new ExpiringSet(1000, 3600_000)
  const ihs = Array.from({ length: 25 }, (_, j) => key20(`big node infohash ${j}`))
  for (const ih of ihs) set.add(ih)
  const log: Asked[] = []
  const interval = 120
  respond(r, 99, set, interval, log)

  const h = await harvester(false)
  const T0 = 5_000_000
  let fake = T0
  const s = new Sampler({ node: h, now: () => fake }, { tickMs: 5, minRevisitMs: 0 })
  const answers: Array<{ ihs: Buffer[], num: number }> = []
  s.on('samples', (got: Buffer[], from: { port: number }, num: number) => { if (from.port === r.address().port) answers.push({ ihs: got, num }) })
  s.start()
  try {
    s.addNode(r.address())
    await until(() => answers.length === 1)
    const first = answers[0]
    assert.equal(first.ihs.length, 20, 'all 20 samples of the answer')
    assert.equal(first.num, 25)
    const known = new Set(ihs.map((x) => x.toString('hex')))
    const distinct = new Set(first.ihs.map((x) => x.toString('hex')))
    assert.equal(distinct.size, 20)
    for (const x of distinct) assert.ok(known.has(x))
    assert.equal(s.nextQueryAt(r.address().host, r.address().port), T0 + interval * 1000)

    // While the fake clock stands still the node is not asked again (a waiting period of
    // many ticks, not a timing assertion), nor one millisecond before its interval ends.
    await new Promise((resolve) => setTimeout(resolve, 100))
    assert.equal(log.length, 1)
    fake = T0 + interval * 1000 - 1
    await new Promise((resolve) => setTimeout(resolve, 100))
    assert.equal(log.length, 1)
    fake = T0 + interval * 1000
    await until(() => log.length === 2)
    await until(() => answers.length === 2)
    assert.equal(s.nextQueryAt(r.address().host, r.address().port), T0 + 2 * interval * 1000)
    assert.equal(answers[1].ihs.length, 20)
  } finally {
    s.close()
  }
})

test('an interval above 6 h is capped, and minRevisitMs is a floor for interval 0', { timeout: 30_000 }, async () => {
  const mk = async (host: string, interval: number): Promise<DhtNode> => {
    const n = new DhtNode({ host, port: 0, bootstrap: [], guard: FAST_GUARD })
    await n.start()
    harvesters.push(n)
    const set = new ExpiringSet(10, 3600_000)
    set.add(key20(host))
    respond(n, 98, set, interval, [])
    return n
  }
  const long = await mk('127.0.0.21', 100_000)
  const zero = await mk('127.0.0.22', 0)
  const h = await harvester(false)
  const T0 = 7_000_000
  const s = new Sampler({ node: h, now: () => T0 }, { tickMs: 5, minRevisitMs: 45_000 })
  let n = 0
  s.on('samples', () => { n++ })
  s.start()
  try {
    s.addNode(long.address())
    s.addNode(zero.address())
    await until(() => n === 2)
    assert.equal(s.nextQueryAt(long.address().host, long.address().port), T0 + 21_600_000)
    assert.equal(s.nextQueryAt(zero.address().host, zero.address().port), T0 + 45_000)
  } finally {
    s.close()
  }
})

test('a node answering 204 leaves the pool and stays out when offered again', { timeout: 30_000 }, async () => {
  // A plain DHT node: no responder, so its guard answers sample_infohashes with 204.
  const plain = new DhtNode({ host: '127.0.0.23', port: 0, bootstrap: [], guard: FAST_GUARD })
  await plain.start()
  harvesters.push(plain)
  let queried = 0
  plain.on('query', (q: { q: string }) => { if (q.q === 'sample_infohashes') queried++ })
  const h = await harvester(false)
  const s = new Sampler({ node: h }, { tickMs: 5, minRevisitMs: 0 })
  s.start()
  try {
    const p = plain.address()
    s.addNode(p)
    assert.ok(s.nextQueryAt(p.host, p.port) !== undefined)
    await until(() => s.snapshot().unsupported === 1)
    assert.equal(s.nextQueryAt(p.host, p.port), undefined)
    assert.equal(s.snapshot().nodesKnown, 0)
    // Other nodes list it in their `nodes` answers all the time: it must not come back.
    s.addNode({ ...p, id: plain.id })
    s.addNode(p)
    assert.equal(s.nextQueryAt(p.host, p.port), undefined)
    await new Promise((resolve) => setTimeout(resolve, 100))
    assert.equal(queried, 1)
    assert.equal(s.snapshot().errors + s.snapshot().timeouts, 0)
  } finally {
    s.close()
  }
})

/** Indexes of the network's nodes whose ID lies in one of the regions. */
function nodesIn (...regions: Region[]): number[] {
  return net.map((n, i) => regions.some((r) => inRegion(n.id, r)) ? i : -1).filter((i) => i >= 0)
}

/** Run a sampler steered into the regions until it has asked every node inside them. */
async function steer (...regions: Region[]): Promise<Asked[]> {
  const h = await harvester()
  const s = new Sampler({ node: h }, { tickMs: 10, minRevisitMs: 0, regions })
  const myPort = h.address().port
  const mine = (): Asked[] => asked.filter((a) => a.fromPort === myPort)
  const inside = nodesIn(...regions)
  assert.ok(inside.length > 0)
  s.start()
  try {
    await until(() => inside.every((i) => mine().some((a) => a.node === i)), 20_000)
    // Time for any query to an outside node to show up.
    await new Promise((resolve) => setTimeout(resolve, 200))
    assert.ok(s.snapshot().nodesInRegion <= s.snapshot().nodesKnown)
    return mine()
  } finally {
    s.close()
  }
}

test('region steering: with a 1-bit region every target lies inside it, and only nodes inside it are asked', { timeout: 60_000 }, async () => {
  const upper: Region = { prefix: Buffer.concat([Buffer.from([0x80]), Buffer.alloc(19)]), bits: 1 }
  const lower: Region = { prefix: Buffer.alloc(20), bits: 1 }
  const up = await steer(upper)
  for (const a of up) assert.ok(inRegion(a.target, upper) && (a.target[0] & 0x80) === 0x80, `target ${a.target.toString('hex')} outside 1/1`)
  assert.deepEqual([...new Set(up.map((a) => a.node))].sort(), [3, 4, 5], 'only the nodes in 1/1 were asked')
  const low = await steer(lower)
  for (const a of low) assert.ok(inRegion(a.target, lower) && (a.target[0] & 0x80) === 0, `target ${a.target.toString('hex')} outside 0/1`)
  assert.deepEqual([...new Set(low.map((a) => a.node))].sort(), [0, 1, 2], 'only the nodes in 0/1 were asked')
})

test('setRegion steers the targets of a running sampler and which nodes it asks', { timeout: 30_000 }, async () => {
  const h = await harvester()
  const s = new Sampler({ node: h }, { tickMs: 10, minRevisitMs: 0 })
  const myPort = h.address().port
  const mine = (): Asked[] => asked.filter((a) => a.fromPort === myPort)
  s.start()
  try {
    // Whole keyspace first: every node is asked.
    await until(() => new Set(mine().map((a) => a.node)).size === NODES, 20_000)
    const region: Region = { prefix: Buffer.concat([Buffer.from([0x90]), Buffer.alloc(19)]), bits: 4 }
    s.setRegion(region)
    assert.deepEqual(s.getRegions(), [region])
    const before = mine().length
    // Queries already sent under the whole keyspace may still land after the switch (a busy
    // machine delays them): at most as many as were in flight then.
    const stale = s.snapshot().inflight
    const inside = (a: Asked): boolean => (a.target[0] & 0xf0) === 0x90 && a.node === 4
    await until(() => s.snapshot().outOfRegion > 0, 20_000)
    // Every node was asked once already and advertises interval 300 s, so nothing new need
    // be asked here; what must not happen is a query outside 9/4 that was not in flight.
    const outside = mine().slice(before).filter((a) => !inside(a))
    assert.ok(outside.length <= stale, `${outside.length} queries outside 9/4 after the switch, ${stale} were in flight`)
    // Node 4, and any other test's harvester node whose random ID happens to start with 9.
    assert.ok(s.snapshot().nodesInRegion >= 1)
  } finally {
    s.close()
  }
})

test('close() stops the sampler: no query after it, idempotent', { timeout: 30_000 }, async () => {
  const h = await harvester()
  const s = new Sampler({ node: h }, { tickMs: 5, minRevisitMs: 0 })
  const myPort = h.address().port
  s.start()
  await until(() => asked.some((a) => a.fromPort === myPort))
  s.close()
  s.close()
  // Queries already on the wire may still land; after that, nothing new is started.
  await new Promise((resolve) => setTimeout(resolve, 100))
  const m = asked.filter((a) => a.fromPort === myPort).length
  await new Promise((resolve) => setTimeout(resolve, 100))
  assert.equal(asked.filter((a) => a.fromPort === myPort).length, m)
})

test('setRegions keeps every target inside one of the regions, and asks only their nodes', { timeout: 30_000 }, async () => {
  const a: Region = { prefix: Buffer.alloc(20, 0x00), bits: 4 }
  const b: Region = { prefix: Buffer.concat([Buffer.from([0xa0]), Buffer.alloc(19)]), bits: 4 }
  const mine = await steer(a, b)
  for (const x of mine) assert.ok(inRegion(x.target, a) || inRegion(x.target, b), `target ${x.target.toString('hex')} outside both`)
  assert.deepEqual([...new Set(mine.map((x) => x.node))].sort(), [0, 5])
})
