// Two harvesters with one --community key, each with its own data directory, find each other
// on a testnet through the rendezvous infohash; `bbmesh members` shows the link from a third
// process; a harvester with a mistyped key refuses to start, without echoing the key.

import { test, type TestContext } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { spawnCli, runCli, killAll, poll } from '../helpers/cli.js'
import { generateCommunityKey } from '../../src/identity/community-key.js'

function tempDir (t: TestContext, label: string): string {
  const d = mkdtempSync(join(tmpdir(), `bbmesh-it-${label}-`))
  t.after(() => rmSync(d, { recursive: true, force: true }))
  return d
}

test('harvest --community: members find each other; bbmesh members lists them', { timeout: 120_000 }, async (t) => {
  t.after(killAll)
  const key = generateCommunityKey()
  const tn = spawnCli(['testnet', '--json', '--net', '73', '--nodes', '16', '--v1', '5', '--v2', '0', '--hybrid', '0'], { t })
  const ready = await tn.waitForJson('testnet ready', (o) => typeof o.bootstrap === 'string', 60_000)
  const dirs = [tempDir(t, 'm1'), tempDir(t, 'm2')]
  // The second member has a publisher key: the first sees it, signed, through bb_auth.
  const kg = await runCli(['keygen', '--data-dir', dirs[1], '--json'])
  assert.equal(kg.code, 0, kg.stderr)
  const publisherHex = (kg.json[0] as { public_key?: string, publicKey?: string }).public_key ?? (kg.json[0] as { publicKey?: string }).publicKey
  assert.match(publisherHex ?? '', /^[0-9a-f]{64}$/)
  for (const d of dirs) {
    spawnCli(['harvest', '--data-dir', d, '--bootstrap', ready.bootstrap as string, '--host', '127.0.0.1', '--dht-port', '0', '--peer-port', '0',
      '--progress', 'json', '--per-ip-rate', '50', '--community', key.format()], { t })
  }
  for (const d of dirs) {
    const rows = await poll('a member in `bbmesh members`', async () => {
      const r = await runCli(['members', '--data-dir', d, '--json'])
      return r.code === 0 && r.json.length === 1 ? r.json : undefined
    }, 60_000, 500)
    assert.equal(rows[0].community, key.id)
    assert.equal(rows[0].host, '127.0.0.1')
    if (d === dirs[0]) assert.equal(rows[0].publisher_key, publisherHex, 'the member\'s publisher key, from bb_auth')
    else assert.equal(rows[0].publisher_key, undefined)
  }
  const stats = await poll('live coop counters in stats --json', async () => {
    const r = await runCli(['stats', '--data-dir', dirs[0], '--json'])
    const o = r.json[0] as Record<string, unknown> | undefined
    return o !== undefined && o.members === 1 ? o : undefined
  }, 30_000, 500)
  assert.equal(stats.running, true)
  for (const k of ['fetched_from_swarm', 'fetched_from_members', 'torrents', 'infohashes_seen', 'queue']) assert.equal(typeof stats[k], 'number', k)
  const ext = stats.extensions as Record<string, { bytes_in: number, bytes_out: number }>
  assert.ok(ext.bb_auth.bytes_in > 0 && ext.bb_auth.bytes_out > 0, 'bb_auth traffic counted')
  const text = await runCli(['members', '--data-dir', dirs[0]])
  assert.match(text.stdout, new RegExp(`community ${key.id}`))
  assert.ok(!text.stdout.includes(key.format().slice(20, 60)), 'the key is never printed')
})

test('bbmesh members without a running harvester exits 1; a mistyped key stops harvest (exit 2)', async (t) => {
  const d = tempDir(t, 'm3')
  const r = await runCli(['members', '--data-dir', d])
  assert.equal(r.code, 1)
  assert.match(r.stderr, /no harvester is running/)
  const key = generateCommunityKey().format()
  const c = key.at(-3) as string
  const typo = key.slice(0, -3) + (c === '0' ? '1' : '0') + key.slice(-2)
  assert.notEqual(typo, key)
  const h = await runCli(['harvest', '--data-dir', d, '--bootstrap', '127.0.0.1:9', '--community', typo])
  assert.equal(h.code, 2)
  assert.match(h.stderr, /community from --community/)
  assert.ok(!h.stderr.includes(typo.slice(20)), 'the key is not echoed')
})
