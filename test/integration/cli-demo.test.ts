// The README's first command: `bbmesh demo` on loopback, as a new user runs it: a cooperative
// of harvesters on a testnet ends with every torrent, shows who fetched what, searches
// across the cooperative and publishes/fetches a catalog; alone (--members 1) it still indexes everything.

import { test } from 'node:test'
import assert from 'node:assert/strict'
import { runCli } from '../helpers/cli.js'

test('bbmesh demo: 3 cooperating members each end with every torrent, pull from each other, and answer a network search', { timeout: 180_000 }, async () => {
  const r = await runCli(['demo', '--members', '3', '--torrents', '30', '--nodes', '16', '--progress', 'off'], { guardMs: 170_000 })
  assert.equal(r.code, 0, r.stderr)
  assert.match(r.stdout, /every member indexed all 30 torrents/)
  const rows = [...r.stdout.matchAll(/member (\d): (\d+) torrents, (\d+) fetched from the swarm, (\d+) pulled from members, linked to (\d+)/g)]
  assert.equal(rows.length, 3)
  for (const m of rows) {
    assert.equal(Number(m[2]), 30)
    assert.equal(Number(m[5]), 2)
  }
  assert.ok(rows.reduce((a, m) => a + Number(m[4]), 0) > 0, 'members pulled from each other')
  assert.match(r.stdout, /the seeders served \d+ metadata transfers for 30 torrents/)
  assert.match(r.stdout, /--network \(2 of 2 members answered\)/)
  // The library: member 0's index published under a fresh key, fetched by a new node by key alone.
  assert.match(r.stdout, /published catalog [0-9a-f]{40}: 30 torrents in 1 shard, .*BEP-46 pointer seq 1 on [1-9]\d* DHT nodes/)
  assert.match(r.stdout, /fetched by the public key alone: 30 torrents imported \(30 in the new index\), .* 0 refused/)
})

test('bbmesh demo --members 1 harvests alone; a bad option is exit 2', { timeout: 120_000 }, async () => {
  const r = await runCli(['demo', '--members', '1', '--torrents', '10', '--nodes', '8', '--progress', 'off'], { guardMs: 110_000 })
  assert.equal(r.code, 0, r.stderr)
  assert.match(r.stdout, /indexed all 10 torrents/)
  const bad = await runCli(['demo', '--members', '40'])
  assert.equal(bad.code, 2)
  assert.match(bad.stderr, /--members must be an integer in 1\.\.16/)
})
