// The CLI as a user runs it: `bbmesh testnet --json` in one process, `bbmesh harvest` against
// it in another, `bbmesh stats` and `bbmesh search` reading the index from a third while the
// harvester writes, then SIGTERM and a clean exit with everything committed. And the two ways
// a bootstrap can fail (nobody answers; the name does not resolve) give a clear message.

import { test, type TestContext } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { openStore, type Store } from '../../src/store/index.js'
import { spawnCli, runCli, killAll, openIndexOf, type CliProcess } from '../helpers/cli.js'

/** Second octet of this file's testnet addresses (127.62.x.y). */
const NET = 62
const V1 = 30
const V2 = 10
const HYBRID = 10
const TOTAL = V1 + V2 + HYBRID

function tempDir (t: TestContext, label: string): string {
  const d = mkdtempSync(join(tmpdir(), `bbmesh-it-${label}-`))
  t.after(() => rmSync(d, { recursive: true, force: true }))
  return d
}

async function startTestnet (t: TestContext): Promise<{ tn: CliProcess, bootstrap: string }> {
  const tn = spawnCli(['testnet', '--json', '--net', String(NET), '--nodes', '24', '--v1', String(V1), '--v2', String(V2), '--hybrid', String(HYBRID), '--seed', 'it-cli-harvest'], { t })
  const ready = await tn.waitForJson('the testnet ready line', (o) => typeof o.bootstrap === 'string', 60_000)
  assert.equal(ready.nodes, 24)
  assert.equal(ready.torrents, TOTAL)
  const bootstrap = ready.bootstrap as string
  assert.match(bootstrap, new RegExp(`^127\\.${NET}\\.\\d+\\.\\d+:\\d+$`))
  return { tn, bootstrap }
}

/** The torrents stored in an index, as hex infohash (v1, else truncated v2: what the DHT and search show) → name. */
function indexed (store: Store): Map<string, string> {
  const out = new Map<string, string>()
  for (let after = 0; ;) {
    const page = store.pageTorrents(after, 500)
    if (page.length === 0) return out
    for (const r of page) out.set((r.info.infohashV1 ?? (r.info.infohashV2 as Buffer).subarray(0, 20)).toString('hex'), r.info.name)
    after = page[page.length - 1].id
  }
}

test('bbmesh harvest against bbmesh testnet: progress, stats and search beside it, SIGTERM keeps everything', { timeout: 180_000 }, async (t) => {
  t.after(killAll)
  const dataDir = tempDir(t, 'cli-harvest')
  const dbPath = join(dataDir, 'index.sqlite')
  const { tn, bootstrap } = await startTestnet(t)

  const harvest = spawnCli(['harvest', '--data-dir', dataDir, '--bootstrap', bootstrap, '--host', '127.0.0.1', '--dht-port', '0',
    '--progress', 'json', '--per-ip-rate', '50', '--min-revisit', '0'], { t })

  // JSON progress lines on stdout, each with the counters.
  const first = await harvest.waitForJson('a JSON progress line', (o) => o.type === 'progress', 60_000)
  for (const k of ['torrents', 'infohashes_seen', 'queue', 'fetched', 'nodes', 'samples']) assert.equal(typeof first[k], 'number', `progress without ${k}`)
  assert.ok((first.nodes as number) > 0, 'the harvester joined the testnet')

  // Let it index a good part while the other commands read beside it.
  const reader = await openIndexOf(harvest, dataDir)
  t.after(() => reader.close())
  await harvest.waitFor('some torrents indexed', () => reader.stats().torrents >= 5 ? true : undefined, 120_000)

  // `bbmesh stats --json` from another process while the harvester writes.
  const st = await runCli(['stats', '--data-dir', dataDir, '--json'], { t })
  assert.equal(st.code, 0, st.stderr)
  assert.equal(st.json.length, 1, `stats --json printed ${st.lines.length} lines:\n${st.stdout}`)
  const stats = st.json[0]
  for (const k of ['torrents', 'infohashes_seen', 'queue']) assert.equal(typeof stats[k], 'number', `stats without ${k}: ${st.stdout}`)
  assert.ok((stats.torrents as number) >= 5 && (stats.torrents as number) <= TOTAL)
  assert.ok((stats.infohashes_seen as number) >= (stats.torrents as number))

  // `bbmesh search WORD --json`: a word of a stored name finds that torrent.
  const [ih, name] = [...indexed(reader)][0]
  const word = name.split(/[^\p{L}\p{N}]+/u).find((w) => w.length > 2) ?? name
  const se = await runCli(['search', word, '--data-dir', dataDir, '--json', '--limit', '100'], { t })
  assert.equal(se.code, 0, se.stderr)
  assert.ok(se.json.length > 0 && se.json.length === se.lines.filter((l) => l.trim() !== '').length, `search --json is not one object per line:\n${se.stdout}`)
  for (const hit of se.json) {
    assert.equal(typeof hit.infohash, 'string')
    assert.match(hit.infohash as string, /^[0-9a-f]{40}$/)
    assert.equal(typeof hit.name, 'string')
    assert.ok((hit.name as string).toLowerCase().includes(word.toLowerCase()), `hit ${String(hit.name)} lacks ${word}`)
    assert.equal(typeof hit.size, 'number')
    assert.ok(typeof hit.files === 'number' || Array.isArray(hit.files), 'hit without files')
  }
  const mine = se.json.find((h) => h.infohash === ih)
  assert.ok(mine !== undefined, `search ${word} did not find ${ih} (${name})`)
  const stored = reader.getTorrent(Buffer.from(ih, 'hex'))
  assert.ok(stored !== null)
  assert.equal(mine.name, stored.info.name)
  assert.equal(mine.size, stored.info.totalSize)
  assert.equal(Array.isArray(mine.files) ? mine.files.length : mine.files, stored.info.files.length)

  // SIGTERM: exit 0, and what was indexed before the signal is still there after it.
  const before = indexed(reader)
  const counted = reader.stats().torrents
  assert.equal(before.size, counted)
  harvest.signal('SIGTERM')
  const exit = await harvest.waitExit(30_000)
  assert.deepEqual(exit, { code: 0, signal: null }, harvest.describe())
  const final = harvest.json().filter((o) => o.type === 'final')
  assert.equal(final.length, 1, 'one final progress line on the way out')
  assert.ok((final[0].torrents as number) >= counted)

  const after = openStore(dbPath, { readonly: true })
  t.after(() => after.close())
  assert.equal(after.db.raw.pragma('integrity_check', { simple: true }), 'ok')
  const kept = indexed(after)
  for (const [h, n] of before) assert.equal(kept.get(h), n, `${n} (${h}) indexed before SIGTERM is gone`)
  assert.ok(after.stats().torrents >= counted)

  tn.signal('SIGINT')
  assert.deepEqual(await tn.waitExit(30_000), { code: 0, signal: null }, tn.describe())
})

test('bbmesh harvest exits non-zero, saying so, when no bootstrap node answers', { timeout: 60_000 }, async (t) => {
  const dataDir = tempDir(t, 'cli-noboot')
  // Port 9 (discard) on loopback: nothing listens, every query goes unanswered.
  const r = await runCli(['harvest', '--data-dir', dataDir, '--bootstrap', '127.0.0.1:9', '--host', '127.0.0.1', '--dht-port', '0', '--progress', 'json'], { t, guardMs: 45_000 })
  assert.notEqual(r.code, 0, r.stderr)
  assert.equal(r.signal, null)
  assert.match(r.stderr, /none of the bootstrap nodes could be reached \(127\.0\.0\.1:9\)/)
  assert.equal(r.json.filter((o) => o.type === 'progress').length, 0, 'a harvester that never started printed progress')
})

test('bbmesh harvest exits non-zero, saying so, when the bootstrap name does not resolve', { timeout: 60_000 }, async (t) => {
  const dataDir = tempDir(t, 'cli-nodns')
  const r = await runCli(['harvest', '--data-dir', dataDir, '--bootstrap', 'nonexistent.invalid:6881', '--host', '127.0.0.1', '--dht-port', '0', '--progress', 'json'], { t, guardMs: 45_000 })
  assert.notEqual(r.code, 0, r.stderr)
  assert.equal(r.signal, null)
  assert.match(r.stderr, /none of the bootstrap nodes could be reached \(nonexistent\.invalid:6881\)/)
  assert.match(r.stderr, /nonexistent\.invalid:6881: /, 'the failing entry is named with its reason')
  assert.equal(r.json.filter((o) => o.type === 'progress').length, 0)
})
