// libtorrent 2.0 reads the BEP-46 pointer a bbmesh node put (signature verified by libtorrent,
// same seq, same value), and bbmesh reads and verifies a mutable item libtorrent put. A missing
// python3-libtorrent fails the file (never skips).

import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { tmpdir } from 'node:os'
import { randomBytes } from 'node:crypto'
import { requireLibtorrent, startLtNet, type LtNet, type LtSessionInfo } from '../helpers/libtorrent.js'
import { DhtNode } from '../../crawler/dht-node.js'
import { encode } from '../../src/core/bencode.js'
import { SchemaError } from '../../src/core/errors.js'
import { PublisherKey } from '../../src/identity/publisher-key.js'
import { ed25519Verify, encodePointerValue } from '../../src/library/pointer.js'
import { PointerStore } from '../../src/library/pointer-store.js'
import { getMutableItem, getPointer, putPointer } from '../../src/library/pointer-dht.js'
import { poll } from '../helpers/cli.js'

const SESSIONS = 6
let net: LtNet
let ses: LtSessionInfo[]
let node: DhtNode
let dir: string

before(async () => {
  requireLibtorrent()
  dir = mkdtempSync(join(tmpdir(), 'bbmesh-pointer-lt-'))
  net = await startLtNet()
  ses = (await net.start({ sessions: SESSIONS })).sessions
  node = new DhtNode({ host: '127.0.0.1', port: 0, bootstrap: ses.map((s) => ({ host: s.host, port: s.dhtPort })), verify: ed25519Verify })
  await node.start({ bootstrapTimeoutMs: 10_000 })
  const ids = new Set(ses.map((s) => s.nodeId))
  await poll('bbmesh knows the libtorrent sessions', () => node.closestNodes(randomBytes(20), 64).filter((n) => ids.has(n.id.toString('hex'))).length >= SESSIONS ? true : undefined, 20_000)
})

after(async () => {
  await node?.close()
  await net?.close()
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true })
})

for (const salt of [undefined, 'catalog']) {
  test(`libtorrent reads the pointer a bbmesh node put (${salt === undefined ? 'no salt' : 'salt'}): verified, same seq, same value; a re-put is seen with seq + 1`, async () => {
    const key = PublisherKey.fromSeed(randomBytes(32))
    const store = PointerStore.open(join(dir, `pub-${salt ?? 'none'}`))
    const ih = randomBytes(20)
    const put = await putPointer(node, key, ih, { store, salt })
    assert.equal(put.seq, 1)
    assert.ok(put.stored >= 1, `stored on ${put.stored} nodes`)
    for (const session of [0, SESSIONS - 1]) {
      const got = await net.dhtGetMutable({ session, publicKey: key.publicKey, salt: salt ?? '', raw: true, timeoutMs: 10_000 })
      assert.equal(got.found, true)
      assert.equal(got.verified, true)
      assert.equal(got.seq, 1)
      assert.deepEqual(got.value, encodePointerValue(ih))
      assert.equal(got.signature, put.item.sig.toString('hex'))
    }
    const ih2 = randomBytes(20)
    const put2 = await putPointer(node, key, ih2, { store, salt })
    assert.equal(put2.seq, 2)
    const got2 = await poll('libtorrent sees seq 2', async () => {
      const g = await net.dhtGetMutable({ session: 1, publicKey: key.publicKey, salt: salt ?? '', raw: true, timeoutMs: 10_000 })
      return g.seq === 2 ? g : undefined
    }, 30_000, 200)
    assert.equal(got2.verified, true)
    assert.deepEqual(got2.value, encodePointerValue(ih2))
  })
}

test('bbmesh reads and verifies a mutable item libtorrent put (libtorrent signs; its value is a string, so not a BEP-46 pointer: SchemaError)', async () => {
  const seed = randomBytes(32)
  const key = PublisherKey.fromSeed(seed)
  const put = await net.dhtPutMutable({ session: 2, seed, publicKey: key.publicKey, value: 'hello from libtorrent', salt: 'lt', timeoutMs: 10_000 })
  assert.ok(put.numSuccess >= 1)
  const item = await poll('bbmesh finds the libtorrent item', async () => (await getMutableItem(node, key.publicKey, 'lt')) ?? undefined, 30_000, 200)
  assert.equal(item.seq, put.seq)
  assert.equal(item.sig.toString('hex'), put.signature)
  assert.deepEqual(item.v, encode('hello from libtorrent'))
  const store = PointerStore.open(join(dir, 'fetch-lt'))
  await assert.rejects(getPointer(node, key.publicKey, { store, salt: 'lt' }), SchemaError)
  assert.equal(store.seen(key.publicKey, 'lt'), undefined)
})
