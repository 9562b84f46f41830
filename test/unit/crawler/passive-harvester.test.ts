// PassiveHarvester: what incoming get_peers and announce_peer give the triage, and the
// routing-table refreshes (a get_peers target inside the asker's own bucket) it leaves out.

import { test } from 'node:test'
import assert from 'node:assert/strict'
import { EventEmitter } from 'node:events'
import type { DhtNode } from '../../../crawler/dht-node.js'
import { PassiveHarvester, REFRESH_PREFIX_BITS, sharedPrefixBits } from '../../../crawler/passive-harvester.js'
import { key20 } from '../../helpers/krpc.js'

/** A target sharing exactly `bits` leading bits with id (libtorrent's refresh target for bucket bits-1). */
function withPrefix (id: Buffer, bits: number, seed: string): Buffer {
  const t = key20(seed)
  for (let i = 0; i < bits; i++) {
    const byte = i >> 3
    const mask = 0x80 >> (i & 7)
    t[byte] = (t[byte] & ~mask) | (id[byte] & mask)
  }
  // Bit `bits` differs, so exactly `bits` are shared.
  if (bits < 160) { const byte = bits >> 3; const mask = 0x80 >> (bits & 7); t[byte] = (t[byte] & ~mask) | (~id[byte] & mask) }
  return t
}

function harness (): { node: EventEmitter, found: Array<{ ih: string, source: string, hint?: string }>, h: PassiveHarvester } {
  const node = new EventEmitter()
  const found: Array<{ ih: string, source: string, hint?: string }> = []
  const h = new PassiveHarvester(node as unknown as DhtNode, (ih, source, hint) => found.push({ ih: ih.toString('hex'), source, ...(hint !== undefined ? { hint: `${hint.host}:${hint.port}` } : {}) }))
  return { node, found, h }
}

test('sharedPrefixBits counts leading equal bits', () => {
  const a = Buffer.alloc(20)
  assert.equal(sharedPrefixBits(a, Buffer.alloc(20)), 160)
  const b = Buffer.alloc(20); b[0] = 0x80
  assert.equal(sharedPrefixBits(a, b), 0)
  const c = Buffer.alloc(20); c[2] = 0x01
  assert.equal(sharedPrefixBits(a, c), 23)
  for (const bits of [0, 1, 7, 8, 15, 16, 40, 159]) assert.equal(sharedPrefixBits(key20('x'), withPrefix(key20('x'), bits, `t${bits}`)), bits)
})

test('get_peers and announce_peer name infohashes (an announce with its peer as a hint); bucket-refresh targets are left out and counted', () => {
  const { node, found, h } = harness()
  const asker = key20('asker')
  const from = { host: '127.0.0.9', port: 6881 }
  const real = key20('a torrent')
  node.emit('query', { q: 'get_peers', a: { id: asker, info_hash: real } }, from)
  node.emit('query', { q: 'announce_peer', a: { id: asker, info_hash: key20('announced'), port: 51413, token: Buffer.from('t') } }, from)
  node.emit('query', { q: 'announce_peer', a: { id: asker, info_hash: key20('implied'), port: 1, implied_port: 1, token: Buffer.from('t') } }, from)
  // libtorrent's refreshes: a deep bucket, and its own ID (self-refresh).
  node.emit('query', { q: 'get_peers', a: { id: asker, info_hash: withPrefix(asker, 22, 'refresh') } }, from)
  node.emit('query', { q: 'get_peers', a: { id: asker, info_hash: withPrefix(asker, REFRESH_PREFIX_BITS, 'edge') } }, from)
  node.emit('query', { q: 'get_peers', a: { id: asker, info_hash: Buffer.from(asker) } }, from)
  // Just under the line: kept (a shallow refresh cannot be told from a torrent).
  const shallow = withPrefix(asker, REFRESH_PREFIX_BITS - 1, 'shallow')
  node.emit('query', { q: 'get_peers', a: { id: asker, info_hash: shallow } }, from)
  assert.deepEqual(found, [
    { ih: real.toString('hex'), source: 'get_peers' },
    { ih: key20('announced').toString('hex'), source: 'announce', hint: '127.0.0.9:51413' },
    { ih: key20('implied').toString('hex'), source: 'announce', hint: '127.0.0.9:6881' },
    { ih: shallow.toString('hex'), source: 'get_peers' },
  ])
  assert.deepEqual(h.counters, { getPeers: 5, announces: 2, refreshes: 3 })
  h.close()
  node.emit('query', { q: 'get_peers', a: { id: asker, info_hash: key20('after close') } }, from)
  assert.equal(found.length, 4)
})
