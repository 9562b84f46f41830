import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import { parseKrpc, KrpcInvalid, QUERY_SPECS } from '../../crawler/krpc-schema.js'
import { DhtNode } from '../../crawler/dht-node.js'
import { encode, isDict, type EncodableValue } from '../../src/core/bencode.js'
import { RawKrpcClient, b, key20, query, response, errorReply, fixtureDir, asBuf, FAST_GUARD } from '../helpers/krpc.js'
import { prng, mutate, heapUsed } from './mutate.js'

// Fixed seeds: the same packets on every run. A failure names the round and the index.
const SEED = 0x5eed_b00b
let total = 0
const started = Date.now()
after(() => { console.log(`# krpc fuzz: ${total} packets in ${((Date.now() - started) / 1000).toFixed(1)} s`) })

const id = key20('fuzz id')
const ih = key20('fuzz ih')

function goodPackets (token: Uint8Array = b('tokn')): Buffer[] {
  return [
    query('ping', { id }),
    query('find_node', { id, target: ih }),
    query('get_peers', { id, info_hash: ih, noseed: 1 }),
    query('announce_peer', { id, info_hash: ih, port: 6881, token }),
    query('announce_peer', { id, info_hash: ih, implied_port: 1, token, name: 'x' }),
    query('get', { id, target: ih, seq: 3 }),
    query('put', { id, token, v: b('hello') }),
    query('put', { id, token, v: { ih }, k: Buffer.alloc(32, 1), sig: Buffer.alloc(64, 2), seq: 7, cas: 6, salt: b('slot') }),
    query('sample_infohashes', { id, target: ih }),
    query('vote', { id, target: ih }),
    response({ id, nodes: Buffer.alloc(26 * 4, 1), token: b('tokn') }),
    response({ id, token: b('tokn'), values: [Buffer.from([127, 0, 0, 1, 0x1a, 0xe1])] }),
    response({ id, interval: 300, num: 40, samples: Buffer.alloc(200, 3), nodes: Buffer.alloc(26, 4) }),
    response({ id, v: b('x'), k: Buffer.alloc(32), sig: Buffer.alloc(64), seq: 1 }),
    errorReply([201, 'A Generic Error']),
    errorReply([204, 'Method Unknown']),
  ]
}

function checked (p: Uint8Array): void {
  total++
  try {
    parseKrpc(p)
  } catch (err) {
    if (!(err instanceof KrpcInvalid)) throw err
  }
}

// ---- a bencode-ish generator biased toward KRPC shapes ----

const KEYS = ['t', 'y', 'q', 'a', 'r', 'e', 'v', 'id', 'target', 'info_hash', 'token', 'port', 'implied_port', 'nodes', 'nodes6', 'values',
  'samples', 'num', 'interval', 'k', 'sig', 'seq', 'salt', 'cas', 'want', 'ro', 'noseed', 'scrape', 'name', 'seed', 'ip', 'p', '__proto__', 'constructor']
const METHODS = [...Object.keys(QUERY_SPECS), 'vote', '__proto__', 'toString', '']

const bytesArb = fc.oneof(
  fc.uint8Array({ maxLength: 24 }),
  fc.constantFrom(0, 4, 6, 18, 19, 20, 21, 26, 32, 38, 39, 40, 52, 64).chain((n) => fc.uint8Array({ minLength: n, maxLength: n })),
)
const intArb = fc.oneof(fc.integer({ min: -2, max: 70000 }), fc.maxSafeInteger(), fc.constantFrom(0, 1, -1, 65535, 65536, 2 ** 31, 2 ** 40 + 1))

function dictOf (entries: Array<[string, EncodableValue]>): Record<string, EncodableValue> {
  const d: Record<string, EncodableValue> = Object.create(null)
  for (const [k, v] of entries) d[k] = v
  return d
}

const { value: valueArb } = fc.letrec<{ value: EncodableValue }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', maxDepth: 4 },
    intArb,
    bytesArb,
    fc.array(tie('value'), { maxLength: 5 }),
    fc.array(fc.tuple(fc.oneof(fc.constantFrom(...KEYS), fc.string({ maxLength: 5 })), tie('value')), { maxLength: 6 }).map(dictOf),
  ),
}))

/** Argument and answer dicts: the right keys, mostly plausible values, sometimes anything. */
const fieldsArb = fc.array(fc.tuple(fc.constantFrom(...KEYS), fc.oneof({ weight: 3, arbitrary: bytesArb }, { weight: 2, arbitrary: intArb }, { weight: 1, arbitrary: valueArb })), { maxLength: 8 })
  .map((es) => dictOf([['id', id], ...es]))

const msgArb = fc.record({
  t: fc.oneof({ weight: 4, arbitrary: fc.uint8Array({ minLength: 1, maxLength: 4 }) }, { weight: 1, arbitrary: valueArb }),
  y: fc.oneof({ weight: 5, arbitrary: fc.constantFrom('q', 'r', 'e') }, { weight: 1, arbitrary: valueArb }),
  q: fc.oneof({ weight: 5, arbitrary: fc.constantFrom(...METHODS) }, { weight: 1, arbitrary: valueArb }),
  a: fc.oneof({ weight: 5, arbitrary: fieldsArb }, { weight: 1, arbitrary: valueArb }),
  r: fc.oneof({ weight: 5, arbitrary: fieldsArb }, { weight: 1, arbitrary: valueArb }),
  e: fc.oneof(fc.tuple(intArb, fc.string({ maxLength: 20 })).map((x) => [...x] as EncodableValue), valueArb),
  v: fc.uint8Array({ maxLength: 20 }),
}, { requiredKeys: ['t'] }).map((m) => dictOf(Object.entries(m) as Array<[string, EncodableValue]>))

test('parseKrpc: generated bencode-ish KRPC messages only ever throw KrpcInvalid', () => {
  fc.assert(fc.property(msgArb, (m) => { checked(encode(m)) }), { seed: SEED, numRuns: 40_000 })
  fc.assert(fc.property(valueArb, (v) => { checked(encode(v)) }), { seed: SEED + 1, numRuns: 10_000 })
  fc.assert(fc.property(fc.uint8Array({ maxLength: 200 }), (u) => { checked(u) }), { seed: SEED + 2, numRuns: 5_000 })
})

function mutationRound (seed: number, n: number, corpus: Buffer[]): number {
  const rnd = prng(seed)
  let accepted = 0
  for (let i = 0; i < n; i++) {
    const p = mutate(corpus[Math.floor(rnd() * corpus.length)], rnd, corpus[Math.floor(rnd() * corpus.length)])
    try {
      total++
      parseKrpc(p)
      accepted++
    } catch (err) {
      if (!(err instanceof KrpcInvalid)) throw new Error(`round ${seed} packet ${i} threw ${String(err)}`, { cause: err })
    }
  }
  return accepted
}

test('parseKrpc: byte mutations of the good and bad fixtures only ever throw KrpcInvalid; no heap growth', () => {
  const corpus = [...goodPackets(), ...fixtureDir('krpc').values()]
  const accepted = mutationRound(SEED, 30_000, corpus)
  // The mutator must still produce packets that pass, or the fuzz only tests the decoder.
  assert.ok(accepted > 1000, `only ${accepted} mutated packets were valid`)
  const before = heapUsed()
  const again = mutationRound(SEED, 30_000, corpus)
  const grown = heapUsed() - before
  assert.equal(again, accepted, 'same seed, same packets')
  assert.ok(grown < 8 * 1024 * 1024, `heap grew ${grown} bytes over a second identical round`)
})

test('a live DhtNode behind the guard survives thousands of hostile packets and still answers ping', { timeout: 120_000 }, async () => {
  const node = new DhtNode({ host: '127.0.0.1', port: 0, bootstrap: [], guard: FAST_GUARD })
  await node.start()
  const client = await RawKrpcClient.open('127.0.0.1')
  let sent = 0
  let syncs = 0
  try {
    const to = node.address()
    // With a real token, announce_peer and put reach bittorrent-dht's deepest handlers.
    const got = await client.ask(to, 'get', { id, target: ih }, b('tok'))
    assert.ok(isDict(got.r))
    const token = asBuf(got.r.token)
    const corpus = [...goodPackets(token), ...fixtureDir('krpc').values()]
    // Generated queries for the stock methods with the real token and stray keys (__proto__ included).
    // Valid arguments for a stock method, plus a few stray or optional keys with odd values.
    const base: Array<[string, Array<[string, EncodableValue]>]> = [
      ['ping', []],
      ['find_node', [['target', ih]]],
      ['get_peers', [['info_hash', ih]]],
      ['announce_peer', [['info_hash', ih], ['port', 6881], ['token', token]]],
      ['announce_peer', [['info_hash', ih], ['implied_port', 1], ['token', token]]],
      ['get', [['target', ih]]],
      ['put', [['token', token], ['v', b('hello')]]],
      ['put', [['token', token], ['v', b('mutable')], ['k', Buffer.alloc(32, 5)], ['sig', Buffer.alloc(64, 6)], ['seq', 1]]],
    ]
    const extraArb = fc.tuple(
      fc.constantFrom('name', 'seed', 'noseed', 'scrape', 'want', 'ro', 'seq', 'cas', 'salt', 'port', 'implied_port', 'x', 'zz', '__proto__'),
      fc.oneof(
        fc.constantFrom<EncodableValue>(0, 1, 2, -1, 70000, b(''), b('tokn')),
        fc.uint8Array({ maxLength: 8 }),
        valueArb,
        // Small dicts of argument names: as a __proto__ value they are what bencode 2 smuggles.
        fc.array(fc.tuple(fc.constantFrom('k', 'sig', 'salt', 'seq', 'cas', 'v', 'port', 'implied_port', 'token', 'info_hash', 'target', 'id'), fc.oneof(intArb, bytesArb)), { maxLength: 3 }).map(dictOf),
      ),
    )
    const stockArb = fc.tuple(fc.nat(base.length - 1), fc.array(extraArb, { maxLength: 3 }), fc.uint8Array({ minLength: 1, maxLength: 4 }))
      .map(([m, extras, t]) => encode({ t, y: 'q', q: base[m][0], a: dictOf([['id', id], ...base[m][1], ...extras]) }))

    const sync = async (): Promise<void> => {
      const t = b(`sync${syncs++}`)
      const r = await client.ask(to, 'ping', { id: key20('syncer') }, t)
      assert.ok(isDict(r.r))
      assert.deepEqual(asBuf(r.r.id), node.id)
      client.drain()
    }

    const round = async (seed: number, n: number): Promise<void> => {
      const rnd = prng(seed)
      const generated = fc.sample(stockArb, { seed, numRuns: Math.ceil(n / 2) })
      for (let i = 0; i < n; i++) {
        const p = i % 2 === 0 ? generated[i / 2] : mutate(corpus[Math.floor(rnd() * corpus.length)], rnd, corpus[Math.floor(rnd() * corpus.length)])
        if (p.length === 0) continue
        checked(p)
        await client.sendAsync(p, to)
        sent++
        if (i % 250 === 249) await sync()
      }
      await sync()
    }

    await round(SEED + 10, 2500)
    const before = heapUsed()
    await round(SEED + 10, 2500)
    const grown = heapUsed() - before
    assert.ok(grown < 16 * 1024 * 1024, `heap grew ${grown} bytes over a second identical round`)

    const g = node.guard
    assert.ok(g !== null)
    // Every datagram was seen (syncs are answered in order), and the state stayed bounded.
    assert.equal(g.counters.received, sent + syncs + 1)
    assert.ok(Object.keys(g.counters.invalid).length <= 16)
    assert.ok(g.counters.passed > 1000, `many packets reached bittorrent-dht: ${JSON.stringify(g.counters)}`)
    assert.ok(g.pacer.perIp.size <= 65536)
    assert.ok(g.pacer.pending <= g.pacer.maxPending)
    assert.ok(node.nodeCount() <= 160 * 20)
    await sync()
  } finally {
    await client.close()
    await node.close()
  }
  console.log(`# krpc fuzz: ${sent} of them through a live guard socket`)
})
