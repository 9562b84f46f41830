// The BEP-46 pointer over the loopback testnet: one node puts, another gets; a re-put
// increments seq; forged answers (another key, a tampered value, an older item replayed) are
// refused.

import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { tmpdir } from 'node:os'
import { randomBytes } from 'node:crypto'
import { createTestnet, type Testnet } from '../../src/testnet/testnet.js'
import { DhtNode } from '../../crawler/dht-node.js'
import type { KrpcQuery } from '../../crawler/krpc-schema.js'
import { decode, type EncodableValue } from '../../src/core/bencode.js'
import { PointerError } from '../../src/core/errors.js'
import { generatePublisherKey } from '../../src/identity/publisher-key.js'
import { ed25519Verify, encodePointerValue, pointerTarget, signPointer, type MutableItem } from '../../src/library/pointer.js'
import { PointerStore } from '../../src/library/pointer-store.js'
import { getPointer, putPointer, PointerRepublisher } from '../../src/library/pointer-dht.js'

let net: Testnet
let publisher: DhtNode
let fetcher: DhtNode
const dirs: string[] = []
const nodes: DhtNode[] = []

function tmp (): string {
  const d = mkdtempSync(join(tmpdir(), 'bbmesh-pointer-net-'))
  dirs.push(d)
  return d
}

async function node (bootstrap = net.bootstrap): Promise<DhtNode> {
  const n = new DhtNode({ host: '127.0.0.1', port: 0, bootstrap, verify: ed25519Verify, guard: { pacer: { perIpRate: 100_000, perIpBurst: 100_000, globalRate: 1_000_000, bytesRate: 1e9 }, answerRate: 100_000, answerBurst: 100_000 } })
  nodes.push(n)
  await n.start({ bootstrapTimeoutMs: 5000 })
  return n
}

before(async () => {
  net = await createTestnet({ nodes: 16, v1: 0, v2: 0, hybrid: 0, seeders: 1, net: 61 })
  publisher = await node()
  fetcher = await node()
})

after(async () => {
  await Promise.all(nodes.map(async (n) => await n.close()))
  await net?.close()
  for (const d of dirs) rmSync(d, { recursive: true, force: true })
})

test('a node puts a pointer, another gets it; a re-put increments seq; the fetcher keeps the highest seq', async () => {
  const key = generatePublisherKey()
  const pubStore = PointerStore.open(tmp())
  const fetchStore = PointerStore.open(tmp())
  const ih1 = randomBytes(20)
  const put1 = await putPointer(publisher, key, ih1, { store: pubStore, salt: 'catalog' })
  assert.equal(put1.seq, 1)
  assert.ok(put1.stored > 0)
  assert.deepEqual(put1.target, pointerTarget(key.publicKey, 'catalog'))
  assert.deepEqual(await getPointer(fetcher, key.publicKey, { store: fetchStore, salt: 'catalog' }), { ih: ih1, seq: 1 })

  const ih2 = randomBytes(20)
  const put2 = await putPointer(publisher, key, ih2, { store: pubStore, salt: 'catalog' })
  assert.equal(put2.seq, 2)
  assert.equal(pubStore.published(key.publicKey, 'catalog'), 2)
  assert.deepEqual(await getPointer(fetcher, key.publicKey, { store: fetchStore, salt: 'catalog' }), { ih: ih2, seq: 2 })
  assert.equal(fetchStore.seen(key.publicKey, 'catalog'), 2)

  // A publisher restarted with an empty seq file still goes up: the DHT's seq is read first.
  const put3 = await putPointer(publisher, key, ih1, { store: PointerStore.open(tmp()), salt: 'catalog' })
  assert.equal(put3.seq, 3)
  // The unsalted item is another item.
  await assert.rejects(getPointer(fetcher, key.publicKey, { store: fetchStore }), (e: unknown) => e instanceof PointerError && e.reason === 'not-found')

  // The republisher re-puts the same signed item.
  const rep = new PointerRepublisher(publisher, put3.item)
  rep.start()
  // The same signed item again: BEP-44 nodes that hold it refresh it (bbmesh nodes too, where
  // bittorrent-dht alone answered 302), so the republish is stored, not refused.
  assert.ok(await rep.republishNow() > 0)
  await rep.stop()
  assert.deepEqual(await getPointer(fetcher, key.publicKey, { store: fetchStore, salt: 'catalog' }), { ih: ih1, seq: 3 })
})

/** A node that answers every `get` with the item `answer` gives, and nodes close to the target. */
async function hostile (answer: () => MutableItem): Promise<DhtNode> {
  const h = await node([])
  h.handle('get', (q: KrpcQuery) => {
    const it = answer()
    return { id: h.id, token: Buffer.from('tok1'), k: it.k, seq: it.seq, sig: it.sig, v: decode(it.v) as EncodableValue }
  })
  return h
}

test('forged answers are refused: another key, a tampered value, an older item replayed after a newer one was seen', async () => {
  const key = generatePublisherKey()
  const other = generatePublisherKey()
  const ih = randomBytes(20)
  const old = signPointer(key, ih, 1)
  const ih2 = randomBytes(20)
  const newer = signPointer(key, ih2, 2)
  let answer: MutableItem = newer
  const h = await hostile(() => answer)
  const victim = await node([h.address()])
  const store = PointerStore.open(tmp())

  // Honest answer first: seq 2 seen.
  assert.deepEqual(await getPointer(victim, key.publicKey, { store }), { ih: ih2, seq: 2 })

  // Someone else's key, validly signed by them: not the item asked for.
  answer = { ...signPointer(other, randomBytes(20), 9), k: other.publicKey }
  await assert.rejects(getPointer(victim, key.publicKey, { store }), (e: unknown) => e instanceof PointerError && e.reason === 'not-found')
  // Our key, a value changed under the signature.
  answer = { ...newer, seq: 5, v: encodePointerValue(randomBytes(20)) }
  await assert.rejects(getPointer(victim, key.publicKey, { store }), (e: unknown) => e instanceof PointerError && e.reason === 'not-found')
  // The genuine older item (seq 1), replayed.
  answer = old
  await assert.rejects(getPointer(victim, key.publicKey, { store }), (e: unknown) => e instanceof PointerError && e.reason === 'stale' && /seq 1/.test(e.message) && /seq 2/.test(e.message))
  assert.equal(store.seen(key.publicKey), 2)
  // A fresh fetcher (no history) takes it: only what was seen before protects.
  assert.deepEqual(await getPointer(victim, key.publicKey, { store: PointerStore.open(tmp()) }), { ih, seq: 1 })
})
