// The library from the command line (issue 5), as a user runs it on a loopback DHT:
// `bbmesh keygen`, `bbmesh publish` in one process, `bbmesh fetch <public key>` in others;
// the index grows and the publisher rebuilds, a second fetch downloads only what changed;
// `bbmesh harvest --publish` publishes from inside the harvester; bad arguments and an unknown
// key give clear errors; SIGTERM stops the publisher cleanly.

import { test, type TestContext } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createSocket } from 'node:dgram'
import { createServer } from 'node:net'
import { openStore } from '../../src/store/index.js'
import { syntheticTorrent } from '../../src/torrent/synthetic.js'
import type { CreateMode } from '../../src/torrent/create.js'
import type { TorrentRecord } from '../../src/torrent/types.js'
import { spawnCli, runCli, killAll, poll, type CliProcess } from '../helpers/cli.js'

const NET = 64
const MODES: CreateMode[] = ['v1', 'hybrid', 'v2']

function tempDir (t: TestContext, label: string): string {
  const d = mkdtempSync(join(tmpdir(), `bbmesh-it-${label}-`))
  t.after(() => rmSync(d, { recursive: true, force: true }))
  return d
}

function synth (tag: string, i: number): TorrentRecord {
  const t = syntheticTorrent(`${tag}-${i}`, MODES[i % 3])
  return { info: t.info, rawInfo: t.rawInfo, source: 'import', discoveredAt: 1_700_000_000_000 + i }
}

/** Put n synthetic torrents (from `from`) into the index of a data directory. */
function fill (dataDir: string, tag: string, n: number, from = 0): void {
  const s = openStore(join(dataDir, 'index.sqlite'))
  try { s.addTorrents(Array.from({ length: n }, (_, i) => synth(tag, from + i))) } finally { s.close() }
}

function count (dataDir: string): number {
  const s = openStore(join(dataDir, 'index.sqlite'), { readonly: true })
  try { return s.count() } finally { s.close() }
}

async function testnet (t: TestContext): Promise<string> {
  const tn = spawnCli(['testnet', '--json', '--net', String(NET), '--nodes', '16', '--v1', '0', '--v2', '0', '--hybrid', '0', '--seeders', '1'], { t })
  const ready = await tn.waitForJson('the testnet ready line', (o) => typeof o.bootstrap === 'string', 60_000)
  return ready.bootstrap as string
}

const net = (bootstrap: string): string[] => ['--bootstrap', bootstrap, '--host', '127.0.0.1', '--dht-port', '0']

async function keygen (dataDir: string): Promise<string> {
  const r = await runCli(['keygen', '--data-dir', dataDir, '--json'])
  assert.equal(r.code, 0, r.stderr)
  return r.json[0].public_key as string
}

async function fetchJson (args: string[]): Promise<Record<string, unknown>> {
  const r = await runCli(['fetch', ...args, '--json'], { guardMs: 120_000 })
  assert.equal(r.code, 0, `fetch failed: ${r.stderr}`)
  const sum = r.json.find((o) => o.type === 'summary')
  assert.ok(sum !== undefined, r.stdout)
  return sum
}

async function published (p: CliProcess, seq: number): Promise<Record<string, unknown>> {
  return await p.waitFor(`pointer seq ${seq} published`, () => p.logs().find((l) => l.msg === 'pointer published' && l.seq === seq), 60_000)
}

test('bbmesh publish, then bbmesh fetch by public key: every record imported; a grown index is rebuilt and re-fetched in part; SIGTERM exits 0', { timeout: 240_000 }, async (t) => {
  t.after(killAll)
  const bootstrap = await testnet(t)
  const pubDir = tempDir(t, 'publish')
  fill(pubDir, 'cli-pub', 3000)
  const key = await keygen(pubDir)

  const pub = spawnCli(['publish', '--data-dir', pubDir, ...net(bootstrap), '--peer-port', '0', '--rebuild-check', '500', '--progress', 'json'], { t })
  const first = await published(pub, 1)
  await pub.waitFor('the publishing banner', () => pub.stderr.includes(`publishing magnet:?xs=urn:btpk:${key}`) ? true : undefined)

  const fetchDir = tempDir(t, 'fetch')
  const s1 = await fetchJson([key, '--data-dir', fetchDir, ...net(bootstrap)])
  assert.equal(s1.infohash, first.infohash)
  assert.equal(s1.imported, 3000)
  assert.equal(s1.refused, 0)
  assert.equal(count(fetchDir), 3000)

  // The text summary, and a fetch with nothing new.
  const again = await runCli(['fetch', key, '--data-dir', fetchDir, ...net(bootstrap)], { guardMs: 60_000 })
  assert.equal(again.code, 0, again.stderr)
  assert.match(again.stdout, /up to date: 3000 torrents/)

  // The index grows; the publisher sees it, rebuilds and puts seq 2; a re-fetch downloads part.
  fill(pubDir, 'cli-pub', 1, 3000)
  const second = await published(pub, 2)
  assert.notEqual(second.infohash, first.infohash)
  // `fetch --all`: every catalog fetched before (here the one), again.
  const s2 = await fetchJson(['--all', '--data-dir', fetchDir, ...net(bootstrap)])
  assert.equal(s2.public_key, key)
  assert.equal(s2.seq, 2)
  assert.equal(s2.imported, 1)
  assert.equal(s2.shards_fetched, 1)
  assert.ok((s2.shards_kept as number) >= 3, JSON.stringify(s2))
  assert.equal(count(fetchDir), 3001)
  // `bbmesh catalogs` lists it, as of the last fetch.
  const cats = await runCli(['catalogs', '--data-dir', fetchDir, '--json'])
  assert.equal(cats.code, 0, cats.stderr)
  const list = cats.json[0].catalogs as Array<Record<string, unknown>>
  assert.equal(list.length, 1)
  assert.equal(list[0].public_key, key)
  assert.equal(list[0].infohash, second.infohash)
  assert.equal(list[0].seq, 2)
  assert.equal(list[0].records, 3001)
  assert.equal(list[0].magnet, `magnet:?xs=urn:btpk:${key}`)

  pub.signal('SIGTERM')
  const exit = await pub.waitExit()
  assert.equal(exit.code, 0, pub.stderr)
})

test('bbmesh harvest --publish publishes the index from inside the harvester; fetch by BEP-46 magnet imports it', { timeout: 240_000 }, async (t) => {
  t.after(killAll)
  const bootstrap = await testnet(t)
  const dir = tempDir(t, 'harvest-publish')
  fill(dir, 'cli-harvest-pub', 200)
  const key = await keygen(dir)
  const magnet = (await runCli(['key', 'show', '--data-dir', dir, '--salt', 'main', '--json'])).json[0].magnet as string
  const h = spawnCli(['harvest', '--publish', '--salt', 'main', '--data-dir', dir, ...net(bootstrap), '--progress', 'off'], { t })
  await published(h, 1)
  const fetchDir = tempDir(t, 'fetch-magnet')
  const sum = await fetchJson([magnet, '--data-dir', fetchDir, ...net(bootstrap)])
  assert.equal(sum.public_key, key)
  assert.equal(sum.salt_hex, Buffer.from('main').toString('hex'))
  assert.equal(sum.imported, 200)
  // `bbmesh stats` beside it shows what the harvester publishes.
  // (status.json is rewritten every 2 s: wait for the one written after the fetch.)
  const cat = await poll('stats showing the served catalog', async () => {
    const st = await runCli(['stats', '--data-dir', dir, '--json'])
    assert.equal(st.code, 0, st.stderr)
    const c = st.json[0].catalog as Record<string, unknown> | null
    return c !== null && (c.bytes_served as number) > 0 ? c : undefined
  }, 30_000, 500)
  assert.equal(cat.public_key, key)
  assert.equal(cat.infohash, sum.infohash)
  assert.equal(cat.records, 200)
  assert.equal(cat.seq, 1)
  assert.ok((cat.bytes_served as number) > 0, 'the fetch was served by the harvester')
  const text = await runCli(['stats', '--data-dir', dir])
  assert.match(text.stdout, /publishing +catalog [0-9a-f]{40}: 200 torrents, 1 shards/)
  h.signal('SIGTERM')
  assert.equal((await h.waitExit()).code, 0, h.stderr)
})

test('bbmesh fetch: bad arguments exit 2 with a clear message; a key nobody published exits 1 saying no pointer was found', { timeout: 120_000 }, async (t) => {
  t.after(killAll)
  const dir = tempDir(t, 'fetch-bad')
  for (const [args, re] of [
    [['nothex'], /public key \(64 hex digits\) or its BEP-46 magnet/],
    [[], /expected one PUBKEY/],
    [['magnet:?xt=urn:btih:' + '0'.repeat(40)], /xs=urn:btpk/],
    [['a'.repeat(64), '--peer', 'nohost'], /--peer "nohost" is not HOST:PORT/],
    [['a'.repeat(64), '--timeout', '5'], /--timeout must be an integer/],
    [['a'.repeat(64), '--all'], /--all fetches every catalog fetched before/],
  ] as Array<[string[], RegExp]>) {
    const r = await runCli(['fetch', ...args, '--data-dir', dir])
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`)
    assert.match(r.stderr, re)
  }
  const bootstrap = await testnet(t)
  // Port 6881 held (as by a harvester): fetch without --dht-port takes another one.
  const held = createSocket('udp4')
  await new Promise<void>((resolve) => held.bind(6881, '127.0.0.1', resolve))
  t.after(() => held.close())
  const r = await runCli(['fetch', 'ab'.repeat(32), '--data-dir', dir, '--bootstrap', bootstrap, '--host', '127.0.0.1'], { guardMs: 60_000 })
  assert.equal(r.code, 1, r.stderr)
  assert.match(r.stderr, /no valid pointer under key abab/)
  // A peer port in use: a clear message and exit 1, not a stack trace.
  const tcp = createServer()
  await new Promise<void>((resolve) => tcp.listen(0, '127.0.0.1', resolve))
  t.after(() => tcp.close())
  const busy = (tcp.address() as { port: number }).port
  const pubDir = tempDir(t, 'busy')
  fill(pubDir, 'cli-busy', 3)
  const p = await runCli(['publish', '--data-dir', pubDir, ...net(bootstrap), '--peer-port', String(busy)], { guardMs: 60_000 })
  assert.equal(p.code, 1, p.stderr)
  assert.match(p.stderr, new RegExp(`cannot listen on 127\\.0\\.0\\.1:${busy}: the port is in use`))
  assert.doesNotMatch(p.stderr, /internal error|at .*\.js:\d+/)
})

test('bbmesh publish with no publisher key mints one on this first publish (DESIGN.md), says its public key, and publishes under it', { timeout: 120_000 }, async (t) => {
  t.after(killAll)
  const bootstrap = await testnet(t)
  const dir = tempDir(t, 'nokey')
  fill(dir, 'cli-nokey', 20)
  const p = spawnCli(['publish', '--data-dir', dir, ...net(bootstrap), '--peer-port', '0', '--progress', 'off'], { t })
  const put = await published(p, 1)
  const minted = /no publisher key in .*: minted one[\s\S]*public key {2}([0-9a-f]{64})/.exec(p.stderr)
  assert.ok(minted !== null, p.stderr)
  const shown = await runCli(['key', 'show', '--data-dir', dir, '--json'])
  assert.equal(shown.json[0].public_key, minted[1], 'the key on disk is the one announced')
  const sum = await fetchJson([minted[1], '--data-dir', tempDir(t, 'nokey-fetch'), ...net(bootstrap)])
  assert.equal(sum.infohash, put.infohash)
  assert.equal(sum.imported, 20)
  p.signal('SIGTERM')
  assert.equal((await p.waitExit()).code, 0, p.stderr)
})

test('bbmesh fetch stopped by SIGINT exits 130 and keeps what it imported; run again, it resumes without the shards it had', { timeout: 240_000 }, async (t) => {
  t.after(killAll)
  const bootstrap = await testnet(t)
  const pubDir = tempDir(t, 'publish-slow')
  fill(pubDir, 'cli-resume', 3000)
  const key = await keygen(pubDir)
  // A slow seeder (300 KB/s for a catalog of about 1.5 MB), so the fetch is stopped mid-way.
  const pub = spawnCli(['publish', '--data-dir', pubDir, ...net(bootstrap), '--peer-port', '0', '--upload-rate', '300000', '--progress', 'off'], { t })
  await published(pub, 1)
  const fetchDir = tempDir(t, 'fetch-resume')
  const f = spawnCli(['fetch', key, '--data-dir', fetchDir, ...net(bootstrap), '--progress', 'off'], { t })
  // Wait until at least one shard is imported (the fetch logs it in its pending file).
  const imported = (): number => { try { return count(fetchDir) } catch { return 0 } } // no index file yet: 0
  await f.waitFor('a shard imported', () => imported() > 0 ? true : undefined, 60_000, 50)
  f.signal('SIGINT')
  const exit = await f.waitExit()
  assert.equal(exit.code, 130, f.stderr)
  assert.match(f.stderr, /interrupted; run it again to resume/)
  const part = count(fetchDir)
  assert.ok(part > 0 && part < 3000, `partly imported: ${part}`)
  const s = await fetchJson([key, '--data-dir', fetchDir, ...net(bootstrap)])
  assert.ok((s.shards_resumed as number) >= 1, JSON.stringify(s))
  assert.equal((s.shards_resumed as number) + (s.shards_fetched as number), s.shards)
  assert.equal(s.imported, 3000 - part)
  assert.equal(count(fetchDir), 3000)
})

