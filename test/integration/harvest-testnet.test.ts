// The whole harvester in one process against a loopback testnet: every torrent the testnet
// announces ends up in the index exactly as the seeders hold it (name, size, files, v2 pieces
// roots), a hybrid is one row under both its hashes, and the harvester's own BEP-51 responder
// hands out samples of what it indexed. Everything is closed at the end and no socket or timer
// is left behind (the test process exits on its own).

import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import { createTestnet, type Testnet, type TestnetTorrent } from '../../src/testnet/testnet.js'
import { HarvesterNode } from '../../src/node/harvester-node.js'
import { loadConfig } from '../../src/config/load.js'
import { openStore, type Store } from '../../src/store/index.js'
import { DhtNode } from '../../crawler/dht-node.js'
import { LIMITS } from '../../src/core/limits.js'
import { AbortedError } from '../../src/core/errors.js'
import type { TorrentInfo } from '../../src/torrent/types.js'
import { poll } from '../helpers/cli.js'

/** Second octet of this file's testnet addresses (127.61.x.y): no clash with other files. */
const NET = 61
const V1 = 30
const V2 = 10
const HYBRID = 10

function activeHandles (): Map<string, number> {
  const m = new Map<string, number>()
  for (const r of process.getActiveResourcesInfo()) m.set(r, (m.get(r) ?? 0) + 1)
  return m
}

/** What the index must hold for a torrent: the parsed view, hashes and file list included. */
function view (info: TorrentInfo): object {
  return {
    name: info.name,
    totalSize: info.totalSize,
    version: info.version,
    pieceLength: info.pieceLength,
    private: info.private,
    infohashV1: info.infohashV1?.toString('hex'),
    infohashV2: info.infohashV2?.toString('hex'),
    files: info.files.map((f) => ({ path: f.path, size: f.size, piecesRoot: f.piecesRoot?.toString('hex') })),
  }
}

test('a harvester indexes every torrent of a loopback testnet, exactly as seeded', { timeout: 180_000 }, async (t) => {
  const baseline = activeHandles()
  const dataDir = mkdtempSync(join(tmpdir(), 'bbmesh-it-harvest-'))
  t.after(() => rmSync(dataDir, { recursive: true, force: true }))

  let tn: Testnet | null = null
  let node: HarvesterNode | null = null
  let asker: DhtNode | null = null
  let reader: Store | null = null
  const closeAll = async (): Promise<void> => {
    reader?.close()
    await asker?.close()
    await node?.close()
    await tn?.close()
  }
  try {
    tn = await createTestnet({ nodes: 24, v1: V1, v2: V2, hybrid: HYBRID, net: NET, seed: 'it-harvest-testnet' })
    assert.equal(tn.torrents.length, V1 + V2 + HYBRID)
    const { config } = loadConfig({ dataDir, bootstrap: '', host: '127.0.0.1', dhtPort: '0', perIpRate: '50', minRevisit: '0' }, {})
    node = new HarvesterNode(config, { bootstrapPeers: tn.bootstrap })
    await node.start()
    const h = node

    // Wait (generously) until the harvester reports every torrent indexed; then check them.
    await poll('every testnet torrent indexed', () => h.stats().torrents >= tn!.torrents.length ? true : undefined, 150_000, 200)

    reader = openStore(join(dataDir, 'index.sqlite'), { readonly: true })
    const r = reader
    const s = r.stats()
    assert.equal(s.torrents, V1 + V2 + HYBRID, 'no torrent stored twice, none missing')
    assert.deepEqual(s.by_version, { v1: V1, v2: V2, hybrid: HYBRID })

    const byVersion = (v: TestnetTorrent['version']): TestnetTorrent[] => tn!.torrents.filter((x) => x.version === v)
    for (const tt of tn.torrents) {
      const label = `${tt.version} torrent ${tt.info.name}`
      for (const key of tt.keys) {
        const stored = r.getTorrent(key)
        assert.ok(stored !== null, `${label} not found by ${key.toString('hex')}`)
        assert.deepEqual(view(stored.info), view(tt.info), label)
        assert.ok(stored.rawInfo.equals(tt.rawInfo), `${label}: stored info dict differs from the seeded one`)
      }
      if (tt.info.infohashV2 !== undefined) {
        // The full 32-byte v2 hash finds it too.
        assert.equal(r.getTorrent(tt.info.infohashV2)?.info.name, tt.info.name, label)
      }
      if (tt.version !== 'v1') {
        assert.ok(tt.info.files.some((f) => f.piecesRoot !== undefined), `${label}: a v2 torrent with no pieces root checks nothing`)
      }
    }

    // A hybrid is ONE row, found by its v1 hash and by its truncated v2 hash.
    const rowsFor = r.db.raw.prepare('SELECT id FROM torrents WHERE ih_v1 = ? OR ih_v2_20 = ?').pluck()
    for (const hy of byVersion('hybrid')) {
      const v1 = hy.info.infohashV1 as Buffer
      const v2 = (hy.info.infohashV2 as Buffer).subarray(0, 20)
      const ids = new Set([...rowsFor.all(v1, v1), ...rowsFor.all(v2, v2)] as number[])
      assert.equal(ids.size, 1, `hybrid ${hy.info.name} is stored in ${ids.size} rows`)
      assert.equal(r.getTorrent(v1)?.id, r.getTorrent(v2)?.id)
      assert.equal(r.hasTorrent(v1) && r.hasTorrent(v2), true)
    }
    assert.equal(r.db.raw.prepare('SELECT count(*) FROM torrents').pluck().get(), V1 + V2 + HYBRID)

    // The harvester answers BEP-51 with samples of what it indexed. Asked by a separate node
    // that knows nobody, so the answer can only come from the harvester.
    asker = new DhtNode({ host: '127.0.0.1', port: 0, bootstrap: [] })
    await asker.start()
    const indexedKeys = new Set(tn.torrents.flatMap((x) => x.keys.map((k) => k.toString('hex'))))
    const answer = await asker.query(h.dht!.address(), 'sample_infohashes', { target: randomBytes(20) })
    const samples = answer.r.samples
    assert.ok(samples instanceof Uint8Array, 'answer without samples')
    assert.equal(samples.length % 20, 0)
    const got = Array.from({ length: samples.length / 20 }, (_, i) => Buffer.from(samples.subarray(i * 20, i * 20 + 20)))
    assert.equal(got.length, Math.min(LIMITS.bep51SamplesOut, V1 + V2 + HYBRID))
    assert.equal(new Set(got.map((x) => x.toString('hex'))).size, got.length, 'a sample repeats')
    for (const ih of got) {
      assert.ok(indexedKeys.has(ih.toString('hex')), `sample ${ih.toString('hex')} is no testnet torrent`)
      assert.ok(r.hasTorrent(ih), `sample ${ih.toString('hex')} is not indexed`)
    }
    assert.equal(answer.r.num, V1 + V2 + HYBRID)
    assert.equal(typeof answer.r.interval, 'number')
    assert.ok(answer.r.nodes instanceof Uint8Array && answer.r.nodes.length % 26 === 0)
  } finally {
    await closeAll()
  }

  // Closing is idempotent, and closing left nothing running: no socket, server or timer
  // beyond what the test runner had before the test.
  await node?.close()
  await tn?.close()
  const left = await poll('sockets and timers released', () => {
    const now = activeHandles()
    const extra = [...now].filter(([k, n]) => n > (baseline.get(k) ?? 0))
    return extra.length === 0 ? [] : undefined
  }, 10_000, 20).catch(() => [...activeHandles()].filter(([k, n]) => n > (baseline.get(k) ?? 0)))
  assert.deepEqual(left, [], 'handles left open after close()')
})

// close() may come at any point of start() (the CLI closes on SIGTERM while the harvester is
// still starting). start() must then settle, with AbortedError, and leave nothing running: no
// socket, no sampler or fetcher on a closed store.
test('close() during start(): start() rejects and nothing is left running', { timeout: 60_000 }, async (t) => {
  const baseline = activeHandles()
  const dataDir = mkdtempSync(join(tmpdir(), 'bbmesh-it-close-early-'))
  t.after(() => rmSync(dataDir, { recursive: true, force: true }))
  // A live DHT node on 127.0.0.1 for the harvester to join, should it (wrongly) go on.
  const peer = new DhtNode({ host: '127.0.0.1', port: 0, bootstrap: [] })
  await peer.start()
  const port = peer.address().port
  const config = (bootstrap: string): ReturnType<typeof loadConfig>['config'] =>
    loadConfig({ dataDir, bootstrap, host: '127.0.0.1', dhtPort: '0', perIpRate: '50', minRevisit: '0' }, {}).config
  const cases: Array<{ when: string, node: HarvesterNode, ready: (h: HarvesterNode) => boolean }> = [
    // While the socket binds (the first await of the DHT node).
    { when: 'binding', node: new HarvesterNode(config(''), { bootstrapPeers: [{ host: '127.0.0.1', port: 9 }] }), ready: () => true },
    // While it waits for a bootstrap node that never answers.
    { when: 'bootstrapping', node: new HarvesterNode(config(''), { bootstrapPeers: [{ host: '127.0.0.1', port: 9 }] }), ready: (h) => h.dht?.dht !== null && h.dht?.dht !== undefined },
    // While the bootstrap names resolve (localhost: /etc/hosts, never the network).
    { when: 'resolving names', node: new HarvesterNode(config(`localhost:${port}`)), ready: () => true },
  ]
  try {
    for (const c of cases) {
      const started = c.node.start().then(() => null, (err: Error) => err)
      await poll(`harvester ${c.when}`, () => c.ready(c.node) ? true : undefined, 10_000, 1)
      await c.node.close()
      let guard: NodeJS.Timeout | undefined
      const err = await Promise.race([started, new Promise<Error>((resolve) => {
        guard = setTimeout(() => resolve(new Error('start() never settled')), 15_000)
      })]).finally(() => clearTimeout(guard))
      assert.ok(err instanceof AbortedError, `close() while ${c.when}: start() gave ${String(err)}`)
      assert.equal(c.node.sampler, null, `close() while ${c.when}: a sampler was started`)
      assert.equal(c.node.fetcher, null, `close() while ${c.when}: a fetcher was started`)
      await assert.rejects(c.node.start(), AbortedError, 'start() after close()')
    }
  } finally {
    for (const c of cases) await c.node.close()
    await peer.close()
  }
  const left = await poll('sockets and timers released', () => {
    const extra = [...activeHandles()].filter(([k, n]) => n > (baseline.get(k) ?? 0))
    return extra.length === 0 ? [] : undefined
  }, 10_000, 20).catch(() => [...activeHandles()].filter(([k, n]) => n > (baseline.get(k) ?? 0)))
  assert.deepEqual(left, [], 'handles left open after close() during start()')
})
