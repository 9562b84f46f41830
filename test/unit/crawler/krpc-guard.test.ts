import { test } from 'node:test'
import assert from 'node:assert/strict'
import { DhtNode } from '../../../crawler/dht-node.js'
import { installResponder, ExpiringSet } from '../../../crawler/responder.js'
import type { GuardOptions } from '../../../crawler/krpc-guard.js'
import { decodeNodes } from '../../../src/core/compact.js'
import { decode, encode, isDict } from '../../../src/core/bencode.js'
import { LIMITS } from '../../../src/core/limits.js'
import { RawKrpcClient, b, key20, query, response, errorReply, fixtureDir, buildBadKrpc, asBuf, until, FAST_GUARD, type Datagram } from '../../helpers/krpc.js'

const myId = key20('raw client')

async function withNode (guard: GuardOptions, fn: (node: DhtNode, client: RawKrpcClient) => Promise<void>): Promise<void> {
  const node = new DhtNode({ host: '127.0.0.1', port: 0, bootstrap: [], guard })
  await node.start()
  const client = await RawKrpcClient.open('127.0.0.1')
  try {
    await fn(node, client)
  } finally {
    await client.close()
    await node.close()
  }
}

function decodeAll (ds: Datagram[]): Array<Record<string, unknown>> {
  return ds.map((d) => decode(d.msg) as Record<string, unknown>)
}

async function pingOk (client: RawKrpcClient, node: DhtNode, t: string): Promise<void> {
  const r = await client.ask(node.address(), 'ping', { id: myId }, b(t))
  assert.equal(asBuf(r.y).toString(), 'r')
  assert.ok(isDict(r.r))
  assert.deepEqual(asBuf(r.r.id), node.id)
}

test('survives every bad fixture, answers each as the schema says, and counts it', async () => {
  const fixtures = fixtureDir('krpc')
  const expected = buildBadKrpc()
  assert.ok(fixtures.size >= 20)
  await withNode({ pacer: FAST_GUARD.pacer }, async (node, client) => {
    const guard = node.guard
    assert.ok(guard !== null)
    let i = 0
    const wantKinds: Record<string, number> = {}
    let want203 = 0
    let want204 = 0
    for (const [name, packet] of fixtures) {
      const exp = expected[name]
      wantKinds[exp.kind] = (wantKinds[exp.kind] ?? 0) + 1
      if (exp.reply === 203) want203++
      if (exp.reply === 204) want204++
      client.send(packet, node.address())
      // The node handles datagrams in order: once this ping is answered, the bad packet was
      // handled before it, and any reply to it was sent before the pong.
      await pingOk(client, node, `p${i++}`)
      const got = decodeAll(client.drain())
      if (exp.reply === null) {
        assert.deepEqual(got, [], `${name}: no reply expected`)
      } else {
        assert.equal(got.length, 1, `${name}: one error reply expected`)
        assert.equal(asBuf(got[0].y as Uint8Array).toString(), 'e')
        assert.deepEqual(asBuf(got[0].t as Uint8Array), b('aa'), `${name}: reply carries the query's tid`)
        assert.equal((got[0].e as unknown[])[0], exp.reply, name)
      }
    }
    // A waiting period, not a timing assertion: nothing late arrives either.
    assert.deepEqual(await client.collect(150), [])
    assert.deepEqual(guard.counters.invalid, wantKinds)
    assert.equal(guard.counters.replied203, want203)
    assert.equal(guard.counters.replied204, want204)
    assert.equal(guard.counters.received, 2 * fixtures.size)
    assert.equal(guard.counters.passed, fixtures.size, 'only the pings reached bittorrent-dht')
    assert.equal(guard.counters.rateLimited, 0)
  })
})

test('the stock crash: a __proto__-smuggled put with a valid token gets 203 and the node lives', async () => {
  await withNode({ pacer: FAST_GUARD.pacer }, async (node, client) => {
    const got = await client.ask(node.address(), 'get', { id: myId, target: key20('item') }, b('g1'))
    assert.ok(isDict(got.r))
    const token = asBuf(got.r.token)
    // bittorrent-dht reads a.k through the prototype, takes the put for mutable and hashes the
    // integer 5: a TypeError out of the socket handler, i.e. a dead process, without the guard.
    const smuggled = Buffer.concat([
      b('d1:ad2:id20:'), myId, b(`5:token${token.length}:`), token,
      b('1:v5:hello9:__proto__d1:ki5e4:salti7eee1:q3:put1:t2:s11:y1:qe'),
    ])
    client.send(smuggled, node.address())
    const r = await client.reply(b('s1'))
    assert.equal(asBuf(r.y).toString(), 'e')
    assert.equal((r.e as unknown[])[0], 203)
    await pingOk(client, node, 'after')
    assert.equal(node.guard?.counters.invalid['proto-key'], 1)
  })
})

test('integers where bytes belong never reach bittorrent-dht: 203 each, then ping still works', async () => {
  await withNode({ pacer: FAST_GUARD.pacer }, async (node, client) => {
    const cases: Array<[string, Record<string, unknown>]> = [
      ['get_peers', { id: myId, info_hash: 7 }],
      ['find_node', { id: myId, target: 7 }],
      ['get', { id: myId, target: 7 }],
      ['announce_peer', { id: myId, info_hash: key20('x'), port: 1, token: 7 }],
      ['put', { id: myId, token: 7, v: b('x') }],
      ['ping', { id: 7 }],
    ]
    let n = 0
    for (const [q, a] of cases) {
      const t = b(`i${n++}`)
      client.send(query(q, a as never, t), node.address())
      const r = await client.reply(t)
      assert.equal((r.e as unknown[])[0], 203, q)
    }
    await pingOk(client, node, 'ok')
    assert.equal(node.guard?.counters.passed, 1)
    assert.equal(node.guard?.counters.replied203, cases.length)
  })
})

test('malformed query gets 203 and unknown method 204, each with the same tid', async () => {
  await withNode({ pacer: FAST_GUARD.pacer }, async (node, client) => {
    client.send(query('find_node', { id: myId }, b('tid-203')), node.address())
    const r1 = await client.reply(b('tid-203'))
    assert.deepEqual(r1.e, [203, b('Protocol Error')])
    client.send(query('vote', { id: myId, target: key20('t') }, b('tid-204')), node.address())
    const r2 = await client.reply(b('tid-204'))
    assert.deepEqual(r2.e, [204, b('Method Unknown')])
  })
})

test('a node without a responder answers sample_infohashes with 204 instead of silence', async () => {
  await withNode({ pacer: FAST_GUARD.pacer }, async (node, client) => {
    client.send(query('sample_infohashes', { id: myId, target: key20('t') }, b('s204')), node.address())
    const r = await client.reply(b('s204'))
    assert.equal((r.e as unknown[])[0], 204)
    assert.equal(node.guard?.counters.passed, 0)
  })
})

test('non-dicts, broken responses and broken errors get no reply at all', async () => {
  await withNode({ pacer: FAST_GUARD.pacer }, async (node, client) => {
    const silent = [
      b('i42e'), b('l1:ae'), b('4:spam'), b('garbage'), b(''), Buffer.from([0xff, 0x00]),
      response({ id: 5 }), response({ id: myId, nodes: Buffer.alloc(25) }), encode({ t: 'aa', y: 'r', r: 'x' }),
      errorReply([b('x')]), encode({ t: 'aa', y: 'e', e: 5 }),
      encode({ t: 'aa', y: 'z' }), encode({ y: 'q', q: 'ping', a: { id: myId } }),
    ]
    for (const p of silent) client.send(p, node.address())
    await pingOk(client, node, 'last')
    // Waiting period: nothing but the pong ever arrives.
    assert.deepEqual(await client.collect(200), [])
    const c = node.guard?.counters
    assert.ok(c !== undefined)
    // The empty datagram may or may not be delivered as a message; everything else is counted.
    const invalid = Object.values(c.invalid).reduce((x, y) => x + y, 0)
    assert.ok(invalid >= silent.length - 1, `counted ${invalid} invalid`)
    assert.equal(c.replied203 + c.replied204, 0)
  })
})

test('the answer rate limit drops a flood from one IP and spares another', async () => {
  await withNode({ pacer: FAST_GUARD.pacer, answerRate: 10, answerBurst: 20 }, async (node, client) => {
    const flood = 200
    for (let i = 0; i < flood; i++) await client.sendAsync(query('ping', { id: myId }, b(`f${i}`)), node.address())
    const other = await RawKrpcClient.open('127.0.0.2')
    try {
      // Sent after the flood: once it is answered, every flood packet was handled.
      await pingOk(other, node, 'other')
    } finally {
      await other.close()
    }
    const c = node.guard?.counters
    assert.ok(c !== undefined)
    assert.equal(c.received, flood + 1)
    assert.ok(c.rateLimited > 0, 'the flood was limited')
    assert.ok(c.passed >= 20, 'the burst was honoured')
    assert.equal(c.passed + c.rateLimited, flood + 1)
    // Exactly the pings that passed are answered to the flooder.
    const answered = c.passed - 1
    const got: Datagram[] = []
    await until(() => { got.push(...client.drain()); return got.length >= answered })
    assert.equal(got.length, answered)
  })
})

test('responder: sample_infohashes is answered with interval, num, samples and nodes', async () => {
  await withNode({ pacer: FAST_GUARD.pacer }, async (node, client) => {
    const held = new ExpiringSet(1000, 3600_000)
    const ihs = Array.from({ length: 30 }, (_, i) => key20(`held ${i}`))
    for (const ih of ihs) held.add(ih)
    installResponder(node, held, { interval: 120 })
    const neighbour = { id: key20('neighbour'), host: '127.0.0.9', port: 6881 }
    node.addNode(neighbour)
    const r = await client.ask(node.address(), 'sample_infohashes', { id: myId, target: key20('target') })
    assert.equal(asBuf(r.y).toString(), 'r')
    assert.ok(isDict(r.r))
    assert.deepEqual(asBuf(r.r.id), node.id)
    assert.equal(r.r.interval, 120)
    assert.equal(r.r.num, 30)
    const samples = asBuf(r.r.samples)
    assert.equal(samples.length % 20, 0)
    assert.equal(samples.length, 20 * LIMITS.bep51SamplesOut)
    const known = new Set(ihs.map((x) => x.toString('hex')))
    const seen = new Set<string>()
    for (let i = 0; i < samples.length; i += 20) {
      const s = samples.subarray(i, i + 20).toString('hex')
      assert.ok(known.has(s), 'a sample we hold')
      seen.add(s)
    }
    assert.equal(seen.size, samples.length / 20, 'no sample twice')
    const nodes = decodeNodes(asBuf(r.r.nodes))
    assert.ok(nodes.some((n) => n.id.equals(neighbour.id) && n.host === neighbour.host && n.port === neighbour.port))
    assert.equal(node.guard?.counters.intercepted, 1)
    assert.equal(node.guard?.counters.passed, 0, 'bittorrent-dht never saw it')

    // A node holding fewer than 20 answers with all it has.
    const few = new ExpiringSet(1000, 3600_000)
    for (const ih of ihs.slice(0, 7)) few.add(ih)
    installResponder(node, few, { interval: 60 })
    const r2 = await client.ask(node.address(), 'sample_infohashes', { id: myId, target: key20('target') })
    assert.ok(isDict(r2.r))
    assert.equal(asBuf(r2.r.samples).length, 7 * 20)
    assert.equal(r2.r.num, 7)
    assert.equal(r2.r.interval, 60)
  })
})
