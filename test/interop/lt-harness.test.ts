// Tests of the libtorrent harness itself (test/helpers/libtorrent.ts + test/interop/lt/ltnet.py):
// real libtorrent 2.0 sessions on loopback form a DHT, seed, fetch metadata over BEP 9, answer
// BEP 51 and BEP 44, and leave no process behind. A missing python3-libtorrent fails the suite.

import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, mkdirSync, writeFileSync, rmSync, readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { tmpdir } from 'node:os'
import { createHash, generateKeyPairSync, randomBytes } from 'node:crypto'
import { setTimeout as delay } from 'node:timers/promises'
import { requireLibtorrent, startLtNet, LtNetError, type LtNet, type LtSessionInfo } from '../helpers/libtorrent.js'
import { TimeoutError } from '../../src/core/errors.js'

let net: LtNet
let ses: LtSessionInfo[]
let work: string

/** Children of this process whose command line runs ltnet.py. */
function ltnetChildren (): number[] {
  const out: number[] = []
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8')
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1])
      if (ppid !== process.pid) continue
      if (readFileSync(`/proc/${d}/cmdline`, 'utf8').includes('ltnet.py')) out.push(Number(d))
    } catch { /* the process ended while we looked */ }
  }
  return out
}

function alive (pid: number): boolean {
  try { process.kill(pid, 0); return true } catch { return false }
}

async function until (what: string, ms: number, check: () => Promise<boolean>): Promise<void> {
  const end = Date.now() + ms
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`${what}: not within ${ms} ms`)
    await delay(100)
  }
}

/** A small multi-file torrent's data: <dir>/<name>/{a.bin, sub/b.txt}. */
function makeData (name: string, size = 70_000): { parent: string, path: string } {
  const parent = join(work, `data-${name}`)
  const path = join(parent, name)
  mkdirSync(join(path, 'sub'), { recursive: true })
  writeFileSync(join(path, 'a.bin'), randomBytes(size))
  writeFileSync(join(path, 'sub', 'b.txt'), 'hello libtorrent\n'.repeat(20))
  return { parent, path }
}

before(async () => {
  requireLibtorrent()
  work = mkdtempSync(join(tmpdir(), 'bbmesh-lt-'))
  net = await startLtNet()
  const r = await net.start({ sessions: 8 })
  ses = r.sessions
})

after(async () => {
  await net?.close()
  if (work !== undefined) rmSync(work, { recursive: true, force: true })
})

test('requireLibtorrent passes and ltnet reports libtorrent 2.0', () => {
  requireLibtorrent()
  assert.match(net.version, /^2\.0\./)
})

test('8 sessions on their own loopback addresses fill their routing tables from each other', async () => {
  assert.equal(ses.length, 8)
  assert.equal(new Set(ses.map((s) => s.host)).size, 8, 'one address per session')
  for (const s of ses) {
    assert.match(s.host, /^127\./)
    assert.equal(s.port, s.dhtPort, 'TCP and DHT share the port')
    assert.match(s.nodeId, /^[0-9a-f]{40}$/)
    const st = await net.stats(s.session)
    assert.ok(st.dhtNodes >= 4, `session ${s.session} knows ${st.dhtNodes} nodes`)
    assert.equal(st.nodeId, s.nodeId, 'the node id is stable')
  }
  const table = await net.dhtNodes(0)
  const others = new Set(ses.slice(1).map((s) => s.nodeId))
  assert.ok(table.nodes.filter(([id]) => others.has(id)).length >= 4, 'the routing table holds the other sessions by id')
})

for (const mode of ['hybrid', 'v1', 'v2'] as const) {
  test(`a ${mode} torrent seeded on one session is fetched by magnet + x.pe peer on another`, async (t) => {
    const { parent, path } = makeData(`lt-${mode}`)
    const made = await net.createTorrent({ path, mode })
    assert.equal(made.v1 !== null, mode !== 'v2')
    assert.equal(made.v2 !== null, mode !== 'v1')
    const seeded = await net.seed({ session: 0, torrent: made.torrent, savePath: parent })
    assert.equal(seeded.infohash, made.infohash)
    const ih = mode === 'v2' ? made.v2 as string : made.v1 as string
    const md = await net.fetchMagnet({ session: 1, infohash: ih, peers: [[ses[0].host, ses[0].port]], includeInfo: true, timeoutMs: 10_000 })
    t.diagnostic(`create ${made.ms} ms, seed+check ${seeded.ms} ms, metadata ${md.ms} ms`)
    assert.equal(md.name, `lt-${mode}`)
    assert.equal(md.v1, made.v1)
    assert.equal(md.v2, made.v2)
    assert.equal(md.totalSize, 70_000 + 340)
    assert.deepEqual(md.files.sort(), [['a.bin', 70_000], ['sub/b.txt', 340]])
    assert.ok(md.info !== undefined)
    if (made.v1 !== null) assert.equal(createHash('sha1').update(md.info).digest('hex'), made.v1)
    if (made.v2 !== null) assert.equal(createHash('sha256').update(md.info).digest('hex'), made.v2)
    await net.removeTorrent(1, ih)
  })
}

test('the seeder counts the peer connections and metadata messages it served', async () => {
  const { parent, path } = makeData('lt-count', 20_000)
  const made = await net.createTorrent({ path, mode: 'v1' })
  await net.seed({ session: 2, torrent: made.torrent, savePath: parent })
  const before = await net.stats(2)
  for (const fetcher of [3, 4, 5]) {
    await net.fetchMagnet({ session: fetcher, infohash: made.infohash, peers: [[ses[2].host, ses[2].port]], removeOnMetadata: true, timeoutMs: 10_000 })
  }
  await until('three incoming peers counted', 5_000, async () => {
    const st = await net.stats(2)
    return st.torrents.find((x) => x.infohash === made.infohash)?.incomingPeers === 3
  })
  const after = await net.stats(2)
  const tor = after.torrents.find((x) => x.infohash === made.infohash)
  assert.ok(tor !== undefined)
  assert.equal(tor.kind, 'seed')
  assert.equal(tor.state, 'seeding')
  assert.equal(tor.incomingPeers, 3)
  assert.ok(after.numOutgoingMetadata - before.numOutgoingMetadata >= 3, 'ut_metadata data messages sent')
  assert.ok(after.incomingConnections - before.incomingConnections >= 3)
})

test('dht_get_peers finds the seeder; an unknown infohash times out empty', async () => {
  const { parent, path } = makeData('lt-peers', 10_000)
  const made = await net.createTorrent({ path, mode: 'v1' })
  await net.seed({ session: 6, torrent: made.torrent, savePath: parent })
  let found: Array<[string, number]> = []
  await until('the seeder is announced', 10_000, async () => {
    const r = await net.dhtGetPeers({ session: 7, infohash: made.infohash, timeoutMs: 1_000 })
    found = r.peers
    return r.peers.some(([h, p]) => h === ses[6].host && p === ses[6].port)
  })
  assert.ok(found.length >= 1)
  const none = await net.dhtGetPeers({ session: 7, infohash: randomBytes(20).toString('hex'), timeoutMs: 500 })
  assert.deepEqual(none.peers, [])
  assert.equal(none.timedOut, true)
})

test('sample_infohashes from one session to another holding >= 20 infohashes returns samples', async (t) => {
  const announced = new Set<string>()
  for (let i = 0; i < 24; i++) {
    const ih = randomBytes(20).toString('hex')
    announced.add(ih)
    await net.addMagnet({ session: 1 + (i % 7), infohash: ih })
  }
  const t0 = Date.now()
  await until('session 0 stores 20 of the announced infohashes', 20_000, async () => (await net.stats(0)).dhtTorrents >= 20)
  t.diagnostic(`24 magnets over 7 sessions announced to session 0 in ${Date.now() - t0} ms`)
  const r = await net.sampleInfohashes({ session: 1, host: ses[0].host, port: ses[0].dhtPort })
  t.diagnostic(`sample_infohashes answered in ${r.ms} ms`)
  assert.ok(r.numInfohashes >= 20, `num ${r.numInfohashes}`)
  assert.equal(r.samples.length, Math.min(20, r.numInfohashes))
  assert.equal(r.numSamples, r.samples.length)
  assert.equal(r.interval, 0)
  for (const s of r.samples) assert.match(s, /^[0-9a-f]{40}$/)
  assert.ok(r.samples.filter((s) => announced.has(s)).length >= 10, 'most samples are what we announced')
  const ids = new Set(ses.map((s) => s.nodeId))
  assert.ok(r.nodes.length > 0 && r.nodes.every(([id]) => ids.has(id)), 'nodes are harness sessions')
})

test('sample_infohashes to a silent endpoint fails with ERR_LT_TIMEOUT', async () => {
  await assert.rejects(net.sampleInfohashes({ session: 0, host: '127.0.0.1', port: 9, timeoutMs: 300 }),
    (e: unknown) => e instanceof LtNetError && e.code === 'ERR_LT_TIMEOUT')
})

test('BEP 44: libtorrent puts and gets a mutable item (verified), raw bytes via KRPC', async () => {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519')
  const pub = Buffer.from(publicKey.export({ format: 'jwk' }).x as string, 'base64url')
  const seed = Buffer.from(privateKey.export({ format: 'jwk' }).d as string, 'base64url')
  const put = await net.dhtPutMutable({ session: 0, seed, publicKey: pub, value: 'bbmesh', salt: 'catalog' })
  assert.ok(put.numSuccess >= 4)
  assert.equal(put.seq, 1)
  assert.equal(put.target, createHash('sha1').update(Buffer.concat([pub, Buffer.from('catalog')])).digest('hex'))
  const got = await net.dhtGetMutable({ session: 5, publicKey: pub, salt: 'catalog' })
  assert.equal(got.found, true)
  assert.equal(got.verified, true)
  assert.equal(got.seq, 1)
  assert.equal(got.signature, put.signature)
  assert.deepEqual(got.value, Buffer.from('6:bbmesh'))
  const raw = await net.dhtGetMutable({ session: 6, publicKey: pub, salt: 'catalog', raw: true })
  assert.deepEqual(raw.value, Buffer.from('6:bbmesh'))
  assert.ok(raw.rawFrom !== null)
  const miss = await net.dhtGetMutable({ session: 5, publicKey: pub, salt: 'other' })
  assert.equal(miss.found, false)
})

test('BEP 44: immutable put and get', async () => {
  const value = Buffer.from('d1:ai1e1:b3:xyze')
  const put = await net.dhtPutImmutable({ session: 3, value })
  assert.equal(put.target, createHash('sha1').update(value).digest('hex'))
  assert.ok(put.numSuccess >= 4)
  const got = await net.dhtGetImmutable({ session: 4, target: put.target })
  assert.equal(got.found, true)
  assert.match(got.valueText ?? '', /xyz/)
  const str = await net.dhtPutImmutable({ session: 3, value: 'plain' })
  assert.deepEqual((await net.dhtGetImmutable({ session: 7, target: str.target })).value, Buffer.from('5:plain'))
})

test('bad arguments are ERR_LT_USAGE; the process keeps serving', async () => {
  await assert.rejects(net.call('nope'), (e: unknown) => e instanceof LtNetError && e.code === 'ERR_LT_USAGE')
  await assert.rejects(net.addMagnet({ session: 99, infohash: 'ab'.repeat(20) }), (e: unknown) => e instanceof LtNetError && e.code === 'ERR_LT_USAGE')
  // A non-loopback address is refused by the harness before any packet (RFC 5737 documentation range).
  await assert.rejects(net.addDhtNode(0, '192.0.2.1', 6881), (e: unknown) => e instanceof LtNetError && /127\.0\.0\.0\/8/.test(e.message))
  await assert.rejects(net.start({ sessions: 1, settings: { no_such_setting: 1 } }), (e: unknown) => e instanceof LtNetError && e.code === 'ERR_LT_USAGE')
  assert.equal((await net.call('ping')).sessions, 8)
})

test('a call past its deadline rejects with TimeoutError', async () => {
  await assert.rejects(net.call('dht_get_peers', { session: 0, infohash: 'cd'.repeat(20), timeout_ms: 2_000 }, { timeoutMs: 50 }),
    (e: unknown) => e instanceof TimeoutError)
})

test('close() stops every session and leaves no process behind; closing stdin does too', async () => {
  const other = await startLtNet()
  await other.start({ sessions: 2 })
  assert.ok(alive(other.pid))
  const t0 = Date.now()
  await other.close()
  await other.close()
  assert.ok(Date.now() - t0 < 5_000)
  assert.equal(alive(other.pid), false)
  await assert.rejects(other.stats(0), (e: unknown) => e instanceof LtNetError && e.code === 'ERR_LT_EXITED')

  const orphan = await startLtNet()
  await orphan.start({ sessions: 1 })
  const exited = new Promise((resolve) => orphan.events.once('exit', resolve))
  ;(orphan as unknown as { child: { stdin: { end: () => void } } }).child.stdin.end() // what a crashed parent does
  await exited
  assert.equal(alive(orphan.pid), false)
  await orphan.close()
  assert.deepEqual(ltnetChildren().filter((p) => p !== net.pid), [])
})
