import { test } from 'node:test'
import assert from 'node:assert/strict'
import { parseKrpc, KrpcInvalid, encodeError, encodeResponse, QUERY_SPECS, type KrpcMessage } from '../../../crawler/krpc-schema.js'
import { encode, decode } from '../../../src/core/bencode.js'
import { LIMITS } from '../../../src/core/limits.js'
import { b, key20, query, response, errorReply, fixtureDir, buildBadKrpc } from '../../helpers/krpc.js'

const id = key20('id')
const ih = key20('ih')
const t = b('aa')

interface Good { name: string, packet: Buffer, check: (m: KrpcMessage) => void }

function isQuery (m: KrpcMessage, q: string): void {
  assert.equal(m.y, 'q')
  if (m.y !== 'q') return
  assert.equal(m.q, q)
  assert.deepEqual(m.t, t)
  assert.deepEqual(m.id, id)
}

function isResponse (m: KrpcMessage): Extract<KrpcMessage, { y: 'r' }> {
  assert.equal(m.y, 'r')
  if (m.y !== 'r') throw new Error('unreachable')
  assert.deepEqual(m.t, t)
  assert.deepEqual(m.id, id)
  return m
}

const peer6 = Buffer.from([127, 0, 0, 1, 0x1a, 0xe1])
const peer18 = Buffer.concat([Buffer.alloc(15), Buffer.from([1, 0x1a, 0xe1])])

const GOOD: Good[] = [
  { name: 'ping', packet: query('ping', { id }), check: (m) => isQuery(m, 'ping') },
  { name: 'find_node', packet: query('find_node', { id, target: ih }), check: (m) => { isQuery(m, 'find_node'); assert.deepEqual((m as unknown as { a: { target: Uint8Array } }).a.target, ih) } },
  { name: 'get_peers', packet: query('get_peers', { id, info_hash: ih, noseed: 1, scrape: 0 }), check: (m) => isQuery(m, 'get_peers') },
  { name: 'announce_peer with port', packet: query('announce_peer', { id, info_hash: ih, port: 6881, token: b('tokn') }), check: (m) => isQuery(m, 'announce_peer') },
  { name: 'announce_peer with implied_port', packet: query('announce_peer', { id, info_hash: ih, implied_port: 1, token: b('tokn') }), check: (m) => isQuery(m, 'announce_peer') },
  { name: 'get', packet: query('get', { id, target: ih, seq: 4 }), check: (m) => isQuery(m, 'get') },
  { name: 'put immutable', packet: query('put', { id, token: b('tokn'), v: b('hello') }), check: (m) => isQuery(m, 'put') },
  { name: 'put immutable at the 1000-byte cap', packet: query('put', { id, token: b('tokn'), v: Buffer.alloc(996, 0x76) }), check: (m) => isQuery(m, 'put') },
  {
    name: 'put mutable',
    packet: query('put', { id, token: b('tokn'), v: { ih }, k: Buffer.alloc(32, 1), sig: Buffer.alloc(64, 2), seq: 7, cas: 6, salt: b('slot') }),
    check: (m) => isQuery(m, 'put'),
  },
  { name: 'sample_infohashes', packet: query('sample_infohashes', { id, target: ih }), check: (m) => isQuery(m, 'sample_infohashes') },
  { name: 'query with want and ro', packet: query('get_peers', { id, info_hash: ih, want: [b('n4')], ro: 1 }), check: (m) => isQuery(m, 'get_peers') },
  { name: 'response with only id', packet: response({ id }), check: (m) => { isResponse(m) } },
  {
    name: 'response with nodes',
    packet: response({ id, nodes: Buffer.alloc(26 * 8, 1), token: b('tokn') }),
    check: (m) => { assert.equal((isResponse(m).r.nodes as Uint8Array).length, 208) },
  },
  {
    name: 'response with values (v4 and v6 peers)',
    packet: response({ id, token: b('tokn'), values: [peer6, peer18] }),
    check: (m) => { assert.equal((isResponse(m).r.values as Uint8Array[]).length, 2) },
  },
  {
    name: 'response with samples, num and interval',
    packet: response({ id, interval: 21600, num: 1234, samples: Buffer.alloc(20 * 20, 3), nodes: Buffer.alloc(26, 4) }),
    check: (m) => {
      const r = isResponse(m).r
      assert.equal(r.interval, 21600)
      assert.equal(r.num, 1234)
      assert.equal((r.samples as Uint8Array).length, 400)
    },
  },
  {
    name: 'response to get (mutable item)',
    packet: response({ id, token: b('tokn'), v: b('x'), k: Buffer.alloc(32), sig: Buffer.alloc(64), seq: 1 }),
    check: (m) => { isResponse(m) },
  },
  { name: 'response with BEP-42 ip', packet: encode({ t, y: 'r', ip: peer6, r: { id } }), check: (m) => { isResponse(m) } },
  {
    name: 'error 201 with message',
    packet: errorReply([201, 'A Generic Error Ocurred']),
    check: (m) => {
      assert.equal(m.y, 'e')
      if (m.y === 'e') { assert.equal(m.code, 201); assert.equal(m.message, 'A Generic Error Ocurred'); assert.deepEqual(m.t, t) }
    },
  },
  { name: 'error 204 with message', packet: errorReply([204, 'Method Unknown']), check: (m) => { assert.equal(m.y === 'e' && m.code, 204) } },
  { name: 'error with code only', packet: errorReply([202]), check: (m) => { assert.equal(m.y === 'e' && m.message, '') } },
  { name: 'packet with client version v', packet: encode({ t, y: 'q', q: 'ping', a: { id }, v: b('LT20') }), check: (m) => isQuery(m, 'ping') },
]

for (const g of GOOD) {
  test(`accepts ${g.name}`, () => {
    g.check(parseKrpc(g.packet))
  })
}

test('the good table covers every method of the schema', () => {
  const covered = new Set(GOOD.map((g) => /^(\w+)/.exec(g.name)?.[1]))
  for (const m of Object.keys(QUERY_SPECS)) assert.ok(covered.has(m), `no good packet for ${m}`)
})

function expectInvalid (packet: Uint8Array, kind: string, reply: 203 | 204 | null): KrpcInvalid {
  let caught: unknown
  try {
    parseKrpc(packet)
  } catch (err) {
    caught = err
  }
  assert.ok(caught instanceof KrpcInvalid, `expected KrpcInvalid, got ${String(caught)}`)
  assert.equal(caught.kind, kind, caught.message)
  assert.equal(caught.code, 'ERR_KRPC_INVALID')
  if (reply === null) {
    assert.equal(caught.reply, null)
  } else {
    assert.ok(caught.reply !== null)
    assert.equal(caught.reply.code, reply)
    assert.deepEqual(caught.reply.t, t, 'the reply carries the query\'s transaction id')
  }
  return caught
}

// ---- one test per bad-input class, from the recorded fixtures ----

const fixtures = fixtureDir('krpc')
const expected = buildBadKrpc()

test('every bad fixture has an expectation and every expectation a fixture', () => {
  assert.deepEqual([...fixtures.keys()].sort(), Object.keys(expected).sort())
})

for (const [name, exp] of Object.entries(expected)) {
  test(`rejects fixture ${name}: ${exp.why}`, () => {
    const packet = fixtures.get(name)
    assert.ok(packet !== undefined, `fixtures/krpc/${name}.bin is missing`)
    expectInvalid(packet, exp.kind, exp.reply)
  })
}

// ---- classes the fixtures do not spell out, built here ----

test('integer where bytes belong: r.id, a.id, target, info_hash, token in every method', () => {
  expectInvalid(query('ping', { id: 5 }), 'args', 203)
  expectInvalid(query('get', { id, target: 5 }), 'args', 203)
  expectInvalid(query('sample_infohashes', { id, target: 5 }), 'args', 203)
  expectInvalid(query('announce_peer', { id, info_hash: 5, port: 1, token: b('x') }), 'args', 203)
  expectInvalid(query('put', { id, token: 5, v: b('x') }), 'args', 203)
  expectInvalid(response({ id, token: 5 }), 'response', null)
  expectInvalid(response({ id, nodes: 5 }), 'response', null)
  expectInvalid(response({ id, values: 5 }), 'response', null)
  expectInvalid(response({ id, values: [5] }), 'response', null)
  expectInvalid(response({ id, samples: 5 }), 'response', null)
  expectInvalid(response({ id, interval: b('60') }), 'response', null)
})

test('wrong lengths of ids and keys', () => {
  expectInvalid(query('find_node', { id, target: Buffer.alloc(19) }), 'args', 203)
  expectInvalid(query('get_peers', { id, info_hash: Buffer.alloc(21) }), 'args', 203)
  expectInvalid(query('put', { id, token: b('t'), v: b('x'), k: Buffer.alloc(31), sig: Buffer.alloc(64), seq: 1 }), 'args', 203)
  expectInvalid(response({ id: Buffer.alloc(21) }), 'response', null)
  expectInvalid(response({ id: Buffer.alloc(19) }), 'response', null)
})

test('nodes, values and samples must be whole units', () => {
  expectInvalid(response({ id, nodes: Buffer.alloc(27) }), 'response', null)
  expectInvalid(response({ id, nodes6: Buffer.alloc(26) }), 'response', null)
  expectInvalid(response({ id, values: [Buffer.alloc(7)] }), 'response', null)
  expectInvalid(response({ id, samples: Buffer.alloc(21) }), 'response', null)
  expectInvalid(response({ id, samples: Buffer.alloc(20 * (LIMITS.bep51MaxSamplesIn + 1)) }), 'response', null)
  assert.equal(parseKrpc(response({ id, samples: Buffer.alloc(0) })).y, 'r')
})

test('size caps: a packet one byte over the cap is refused, at the cap it decodes', () => {
  const padded = (n: number): Buffer => query('ping', { id, pad: Buffer.alloc(n) })
  let n = 0
  while (padded(n).length < LIMITS.krpcMaxPacket) n++
  const at = padded(n)
  assert.equal(at.length, LIMITS.krpcMaxPacket)
  assert.equal(parseKrpc(at).y, 'q')
  const over = padded(n + 1)
  assert.equal(over.length, LIMITS.krpcMaxPacket + 1)
  expectInvalid(over, 'oversize', null)
})

test('too many items is refused before any schema work', () => {
  const want = Array.from({ length: LIMITS.krpcMaxItems }, () => 0)
  expectInvalid(query('ping', { id, want }), 'bencode', null)
})

test('transaction id: empty, non-bytes and at the cap', () => {
  expectInvalid(query('ping', { id }, Buffer.alloc(0)), 'tid', null)
  expectInvalid(encode({ t: 7, y: 'q', q: 'ping', a: { id } }), 'tid', null)
  const long = Buffer.alloc(LIMITS.krpcMaxTid, 1)
  assert.deepEqual(parseKrpc(query('ping', { id }, long)).t, long)
})

test('unknown method with a bad id is malformed (203), not unknown (204)', () => {
  expectInvalid(query('frobnicate', { id: Buffer.alloc(3) }), 'args', 203)
  expectInvalid(query('frobnicate', { id }), 'unknown-method', 204)
  // Names that exist on Object.prototype are unknown methods too, not lookups into it.
  expectInvalid(query('constructor', { id }), 'unknown-method', 204)
  expectInvalid(query('__proto__', { id }), 'unknown-method', 204)
})

test('query without an argument dict, or with a non-bytes method name, is 203', () => {
  expectInvalid(encode({ t, y: 'q', q: 'ping' }), 'args', 203)
  expectInvalid(encode({ t, y: 'q', q: 'ping', a: [1] }), 'args', 203)
  expectInvalid(encode({ t, y: 'q', q: 5, a: { id } }), 'method', 203)
})

test('announce_peer needs a port unless implied_port is 1', () => {
  expectInvalid(query('announce_peer', { id, info_hash: ih, token: b('t') }), 'args', 203)
  expectInvalid(query('announce_peer', { id, info_hash: ih, token: b('t'), implied_port: 0 }), 'args', 203)
  expectInvalid(query('announce_peer', { id, info_hash: ih, token: b('t'), port: 70000 }), 'args', 203)
})

test('put: v over 1000 bytes, a mutable item missing sig, k or seq', () => {
  expectInvalid(query('put', { id, token: b('t'), v: Buffer.alloc(997) }), 'args', 203)
  expectInvalid(query('put', { id, token: b('t'), v: [Buffer.alloc(600), Buffer.alloc(600)] }), 'args', 203)
  const k = Buffer.alloc(32); const sig = Buffer.alloc(64)
  expectInvalid(query('put', { id, token: b('t'), v: b('x'), k, seq: 1 }), 'args', 203)
  expectInvalid(query('put', { id, token: b('t'), v: b('x'), sig, seq: 1 }), 'args', 203)
  expectInvalid(query('put', { id, token: b('t'), v: b('x'), k, sig }), 'args', 203)
  expectInvalid(query('put', { id, token: b('t') }), 'args', 203)
  expectInvalid(query('put', { id, token: b('t'), v: b('x'), salt: Buffer.alloc(65) }), 'args', 203)
})

test('a __proto__ key anywhere is refused (k-rpc-socket would make it a prototype)', () => {
  const proto = (inner: string): Buffer => Buffer.concat([b('d1:ad2:id20:'), id, b(inner), b('e1:q4:ping1:t2:aa1:y1:qe')])
  expectInvalid(proto('9:__proto__d1:ki5ee'), 'proto-key', 203)
  expectInvalid(proto('4:wantld9:__proto__i1eee'), 'proto-key', 203)
  const resp = Buffer.concat([b('d1:rd2:id20:'), id, b('9:__proto__d5:nodesi5eee1:t2:aa1:y1:re')])
  expectInvalid(resp, 'proto-key', null)
  const top = Buffer.concat([b('d9:__proto__d1:y1:qe1:ad2:id20:'), id, b('e1:q4:ping1:t2:aa1:y1:qe')])
  expectInvalid(top, 'proto-key', 203)
})

test('errors: not a list, empty, non-integer code, long message, too long', () => {
  expectInvalid(encode({ t, y: 'e', e: 5 }), 'error', null)
  expectInvalid(errorReply([]), 'error', null)
  expectInvalid(errorReply([b('201'), 'x']), 'error', null)
  expectInvalid(errorReply([201, 5]), 'error', null)
  expectInvalid(errorReply([201, Buffer.alloc(513)]), 'error', null)
  expectInvalid(errorReply([201, 'x', 'y']), 'error', null)
})

test('a response without an r dict, or with an r list, is dropped', () => {
  expectInvalid(encode({ t, y: 'r' }), 'response', null)
  expectInvalid(encode({ t, y: 'r', r: [id] }), 'response', null)
})

test('a long client version is refused with 203 for queries only', () => {
  expectInvalid(encode({ t, y: 'q', q: 'ping', a: { id }, v: Buffer.alloc(17) }), 'version', 203)
  expectInvalid(encode({ t, y: 'r', r: { id }, v: Buffer.alloc(17) }), 'version', null)
})

test('encodeError and encodeResponse round-trip through the parser', () => {
  const e = parseKrpc(encodeError(b('xyz'), 203, 'Protocol Error'))
  assert.deepEqual(e, { y: 'e', t: b('xyz'), code: 203, message: 'Protocol Error' })
  const r = parseKrpc(encodeResponse(b('xyz'), { id, samples: Buffer.alloc(40), num: 2, interval: 60 }))
  assert.equal(r.y, 'r')
  assert.deepEqual(r.t, b('xyz'))
  assert.deepEqual(decode(encodeResponse(t, { id })), decode(response({ id })))
})
