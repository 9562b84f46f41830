// Crash safety: `kill -9` a harvester in the middle of a run. The database must open, pass
// PRAGMA integrity_check and still hold every torrent counted before the kill (WAL commits
// are durable against a process crash). A restart on the same data directory returns the
// dead process's leases to the queue (and says so in its log), fetches them, and ends with
// every torrent of the testnet indexed; SIGTERM then stops it with exit 0.

import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createTestnet, type Testnet } from '../../src/testnet/testnet.js'
import { openStore, type Store } from '../../src/store/index.js'
import { spawnCli, killAll, openIndexOf, type CliProcess } from '../helpers/cli.js'

/** Second octet of this file's testnet addresses (127.63.x.y). */
const NET = 63
const V1 = 240
const V2 = 80
const HYBRID = 80
const TOTAL = V1 + V2 + HYBRID
/** Indexed torrents before the kill: enough to matter, far from all (the run is mid-way). */
const KILL_AFTER = 25

function hex20 (info: { infohashV1?: Buffer, infohashV2?: Buffer }): string {
  return (info.infohashV1 ?? (info.infohashV2 as Buffer).subarray(0, 20)).toString('hex')
}

function indexedSet (store: Store): Set<string> {
  const out = new Set<string>()
  for (let after = 0; ;) {
    const page = store.pageTorrents(after, 500)
    if (page.length === 0) return out
    for (const r of page) out.add(hex20(r.info))
    after = page[page.length - 1].id
  }
}

function leased (store: Store): string[] {
  return (store.db.raw.prepare('SELECT ih FROM fetch_queue WHERE state = 1').pluck().all() as Buffer[]).map((b) => b.toString('hex'))
}

test('kill -9 mid-harvest: the index survives intact and a restart recovers the leases and finishes', { timeout: 240_000 }, async (t) => {
  t.after(killAll)
  const dataDir = mkdtempSync(join(tmpdir(), 'bbmesh-it-kill9-'))
  t.after(() => rmSync(dataDir, { recursive: true, force: true }))
  const dbPath = join(dataDir, 'index.sqlite')

  // The testnet lives in this process (its torrent list is the answer key); the harvester is
  // a child, so it can die the hard way.
  const tn: Testnet = await createTestnet({ nodes: 24, v1: V1, v2: V2, hybrid: HYBRID, net: NET, seed: 'it-kill9' })
  t.after(async () => { await tn.close() })
  const bootstrap = tn.bootstrap.map((a) => `${a.host}:${a.port}`).join(',')
  const harvestArgs = (extra: string[]): string[] => ['harvest', '--data-dir', dataDir, '--bootstrap', bootstrap, '--host', '127.0.0.1',
    '--dht-port', '0', '--progress', 'json', '--per-ip-rate', '50', '--min-revisit', '0', ...extra]

  // Run 1: few fetches at a time, so the kill lands mid-run with fetches in flight.
  const first: CliProcess = spawnCli(harvestArgs(['--fetch-concurrency', '8']), { t })
  const watch = await openIndexOf(first, dataDir)
  let before: Set<string>
  try {
    // Kill right after a read that saw torrents indexed and fetches leased.
    before = await first.waitFor(`${KILL_AFTER} torrents indexed with fetches in flight`, () => {
      const s = watch.stats()
      return s.torrents >= KILL_AFTER && s.queue_leased > 0 ? indexedSet(watch) : undefined
    }, 120_000, 20)
    first.signal('SIGKILL')
  } finally {
    watch.close()
  }
  assert.deepEqual(await first.waitExit(30_000), { code: null, signal: 'SIGKILL' })
  assert.ok(before.size >= KILL_AFTER && before.size < TOTAL, `the kill was not mid-run (${before.size}/${TOTAL})`)

  // The file as the crash left it (WAL and shared memory of a dead writer included).
  const crashed = openStore(dbPath, { readonly: true })
  let orphaned: string[]
  try {
    assert.equal(crashed.db.raw.pragma('integrity_check', { simple: true }), 'ok')
    const after = indexedSet(crashed)
    for (const ih of before) assert.ok(after.has(ih), `torrent ${ih}, indexed before the kill, is gone`)
    assert.equal(crashed.stats().torrents, after.size, 'the counters agree with the rows')
    assert.ok(after.size < TOTAL)
    orphaned = leased(crashed)
  } finally {
    crashed.close()
  }
  assert.ok(orphaned.length > 0, 'the dead harvester left no lease behind: nothing to recover')
  t.diagnostic(`killed with ${before.size}/${TOTAL} torrents indexed and ${orphaned.length} fetches leased`)
  const keys = new Set(tn.torrents.flatMap((x) => x.keys.map((k) => k.toString('hex'))))
  for (const ih of orphaned) assert.ok(keys.has(ih), `leased ${ih} is no testnet torrent`)

  // Run 2 on the same data directory: full speed.
  const second = spawnCli(harvestArgs([]), { t })
  const recovered = await second.waitFor('the lease recovery log line', () =>
    second.logs().find((l) => typeof l.msg === 'string' && l.msg.includes('returned leases of a previous run')), 60_000)
  assert.equal(recovered.leases, orphaned.length, 'every lease of the dead process went back to the queue')

  const reader = await openIndexOf(second, dataDir)
  t.after(() => reader.close())
  await second.waitFor(`all ${TOTAL} torrents indexed`, () => reader.stats().torrents >= TOTAL ? true : undefined, 180_000, 250)

  const done = indexedSet(reader)
  assert.equal(done.size, TOTAL)
  for (const tt of tn.torrents) {
    for (const key of tt.keys) {
      const stored = reader.getTorrent(key)
      assert.ok(stored !== null, `${tt.version} torrent ${tt.info.name} missing under ${key.toString('hex')}`)
      assert.equal(stored.info.name, tt.info.name)
      assert.ok(stored.rawInfo.equals(tt.rawInfo))
    }
  }
  for (const ih of orphaned) assert.ok(done.has(ih) || reader.hasTorrent(Buffer.from(ih, 'hex')), `recovered lease ${ih} never got fetched`)

  second.signal('SIGTERM')
  assert.deepEqual(await second.waitExit(30_000), { code: 0, signal: null }, second.describe())
  assert.equal(reader.db.raw.pragma('integrity_check', { simple: true }), 'ok')
  assert.equal(reader.stats().torrents, TOTAL)
})
