// The whole harvester against real libtorrent 2.0 seeders: libtorrent creates a v1, a v2-only
// and a hybrid torrent of small nested folders, checks the data and seeds it, announcing it to
// a DHT of libtorrent nodes. A HarvesterNode that only knows the libtorrent DHT addresses
// finds the torrents there (BEP-51 samples, passive announces), looks up the seeders with
// get_peers and fetches the metadata over BEP-9 from libtorrent. The index must hold each
// torrent exactly as libtorrent sees it. A missing python3-libtorrent fails the file.

import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { PYTHON, requireLibtorrent, startLtNet, type LtCreatedTorrent, type LtNet, type LtSessionInfo } from '../helpers/libtorrent.js'
import { HarvesterNode } from '../../src/node/harvester-node.js'
import { FetchScheduler } from '../../crawler/fetch-scheduler.js'
import { loadConfig } from '../../src/config/load.js'
import { poll } from '../helpers/cli.js'

const SESSIONS = 8
const MODES = ['v1', 'v2', 'hybrid'] as const
type Mode = typeof MODES[number]

/** libtorrent's own view of a .torrent: real files (pad files left out) with their v2 pieces roots. */
interface LtFile { path: string, size: number, root: string | null }

const LT_FILES = `
import sys, json, libtorrent as lt
ti = lt.torrent_info(sys.stdin.buffer.read())
fs = ti.files()
out = []
for i in range(fs.num_files()):
    if fs.file_flags(i) & fs.flag_pad_file:
        continue
    p = fs.file_path(i).replace('\\\\', '/')
    if p.startswith(ti.name() + '/'):
        p = p[len(ti.name()) + 1:]
    r = fs.root(i).to_bytes().hex()
    out.append({'path': p, 'size': fs.file_size(i), 'root': None if r == '0' * 64 else r})
print(json.dumps(out))
`

function ltFiles (torrent: Buffer): LtFile[] {
  const r = spawnSync(PYTHON, ['-c', LT_FILES], { input: torrent, timeout: 15_000 })
  if (r.status !== 0) throw new Error(`libtorrent could not read the .torrent: ${r.stderr.toString()}`)
  return JSON.parse(r.stdout.toString()) as LtFile[]
}

/** A folder of several files in nested directories, sizes around and across the 16 KiB piece. */
function makeFolder (parent: string, name: string): void {
  const root = join(parent, name)
  mkdirSync(join(root, 'disc 1', 'extras'), { recursive: true })
  mkdirSync(join(root, 'notes'), { recursive: true })
  writeFileSync(join(root, 'cover.jpg'), randomBytes(40_000))
  writeFileSync(join(root, 'disc 1', '01 - intro.flac'), randomBytes(70_001))
  writeFileSync(join(root, 'disc 1', 'extras', 'liner.txt'), `liner notes of ${name}\n`.repeat(40))
  writeFileSync(join(root, 'notes', 'readme.md'), `# ${name}\n`)
  writeFileSync(join(root, 'notes', 'z-last.bin'), randomBytes(16_384))
}

let work: string
let net: LtNet
let ses: LtSessionInfo[]
const made = new Map<Mode, LtCreatedTorrent>()
const seeders = new Map<Mode, LtSessionInfo>()

before(async () => {
  requireLibtorrent()
  work = mkdtempSync(join(tmpdir(), 'bbmesh-harvest-lt-'))
  net = await startLtNet()
  ses = (await net.start({ sessions: SESSIONS })).sessions
  // libtorrent creates, checks and seeds each torrent on its own session, which announces it.
  for (const [i, mode] of MODES.entries()) {
    const parent = join(work, mode)
    const name = `bbmesh ${mode} album ${randomBytes(3).toString('hex')}`
    makeFolder(parent, name)
    const c = await net.createTorrent({ path: join(parent, name), mode })
    assert.equal(c.v1 !== null, mode !== 'v2')
    assert.equal(c.v2 !== null, mode !== 'v1')
    const s = ses[1 + i]
    const seeded = await net.seed({ session: s.session, torrent: c.torrent, savePath: parent })
    assert.equal(seeded.infohash, c.infohash)
    made.set(mode, c)
    seeders.set(mode, s)
  }
})

after(async () => {
  await net?.close()
  if (work !== undefined) rmSync(work, { recursive: true, force: true })
})

/** The 20-byte keys a torrent is announced under: v1, truncated v2. */
const keysOf = (c: LtCreatedTorrent): Buffer[] => [c.v1, c.v2].filter((x): x is string => x !== null).map((x) => Buffer.from(x, 'hex').subarray(0, 20))

test('a harvester indexes v1, v2-only and hybrid torrents seeded by libtorrent, found only through the DHT', { timeout: 90_000 }, async (t) => {
  const lt = net
  let node: HarvesterNode | null = null
  try {
    // The harvester knows the libtorrent DHT nodes and nothing else: no infohash, no peer.
    // libtorrent's DHT rate limit is lifted by the harness profile, so bbmesh may send 20
    // packets/s to each session's IP (default 4); minRevisit 0 samples a node as often as
    // that budget allows (libtorrent advertises interval 0).
    const dataDir = join(work, 'harvester')
    const { config } = loadConfig({ dataDir, bootstrap: '', host: '127.0.0.1', dhtPort: '0', perIpRate: '20', minRevisit: '0' }, {})
    node = new HarvesterNode(config, { bootstrapPeers: ses.map((s) => ({ host: s.host, port: s.dhtPort })), bootstrapTimeoutMs: 10_000 })
    const t0 = Date.now()
    await node.start()
    const h = node
    const hs = h.store as NonNullable<HarvesterNode['store']>
    const store = hs.store
    // Failed fetch attempts, for the diagnostics (the scheduler reports them to the store).
    const failures: string[] = []
    const fail = hs.fail
    hs.fail = (ih, reason) => { failures.push(`${ih.toString('hex')}: ${reason}`); fail(ih, reason) }

    await poll('every libtorrent torrent indexed', () => {
      return [...made.values()].every((c) => keysOf(c).every((k) => store.hasTorrent(k))) ? true : undefined
    }, 60_000, 100).catch((err: Error) => {
      const s = h.stats()
      const f = h.fetcher?.stats
      throw new Error(`${err.message}; stats ${JSON.stringify(s)}; fetcher ${JSON.stringify(f)}; ` +
        `queue ${JSON.stringify(store.db.raw.prepare('SELECT hex(ih) AS ih, state, attempts, last_error FROM fetch_queue').all())}`)
    })
    const fs = h.fetcher?.stats
    t.diagnostic(`indexed all ${MODES.length} in ${Date.now() - t0} ms; fetcher ${JSON.stringify(fs)}; sampler ${JSON.stringify(h.sampler?.snapshot())}; passive ${JSON.stringify(h.passive?.counters)}; failed attempts ${JSON.stringify(failures)}`)

    for (const mode of MODES) {
      const c = made.get(mode) as LtCreatedTorrent
      const label = `${mode} torrent ${c.name}`
      const files = ltFiles(c.torrent)
      // The .torrent libtorrent made agrees with its create reply (pad files left out).
      assert.deepEqual(files.map((f) => [f.path, f.size]), c.files, label)
      assert.equal(files.length, 5)
      assert.ok(files.some((f) => f.path.split('/').length === 3), 'nested directories')

      for (const key of keysOf(c)) {
        const stored = store.getTorrent(key)
        assert.ok(stored !== null, `${label}: not found by ${key.toString('hex')}`)
        const info = stored.info
        assert.equal(info.version, mode, label)
        assert.equal(info.name, c.name, label)
        assert.equal(info.totalSize, c.totalSize, label)
        assert.deepEqual(info.files.map((f) => [f.path, f.size]), c.files, `${label}: files (paths, sizes, order)`)
        if (mode === 'v1') {
          assert.ok(info.files.every((f) => f.piecesRoot === undefined), label)
        } else {
          assert.deepEqual(info.files.map((f) => f.piecesRoot?.toString('hex') ?? null), files.map((f) => f.root), `${label}: pieces roots`)
          assert.ok(files.every((f) => f.root !== null))
        }
        // The raw info dict is what libtorrent hashed.
        assert.equal(info.infohashV1?.toString('hex') ?? null, c.v1, label)
        assert.equal(info.infohashV2?.toString('hex') ?? null, c.v2, label)
        if (c.v1 !== null) assert.equal(createHash('sha1').update(stored.rawInfo).digest('hex'), c.v1, label)
        if (c.v2 !== null) assert.equal(createHash('sha256').update(stored.rawInfo).digest('hex'), c.v2, label)
      }
      if (c.v2 !== null) assert.equal(store.getTorrent(Buffer.from(c.v2, 'hex'))?.info.name, c.name, `${label}: by its full v2 hash`)
    }

    // The hybrid is ONE row, reachable by its v1 hash and by its truncated v2 hash.
    const hy = made.get('hybrid') as LtCreatedTorrent
    const v1 = Buffer.from(hy.v1 as string, 'hex')
    const v2 = Buffer.from(hy.v2 as string, 'hex').subarray(0, 20)
    const rows = store.db.raw.prepare('SELECT id FROM torrents WHERE ih_v1 = ? OR ih_v2_20 = ?').pluck().all(v1, v2) as number[]
    assert.deepEqual(rows.length, 1, `hybrid stored in ${rows.length} rows`)
    assert.equal(store.getTorrent(v1)?.id, store.getTorrent(v2)?.id)
    assert.equal(store.db.raw.prepare('SELECT count(*) FROM torrents').pluck().get(), MODES.length, 'nothing else indexed')

    // The metadata came from the libtorrent seeders over BEP-9 (incoming peer connections there).
    for (const mode of MODES) {
      const s = seeders.get(mode) as LtSessionInfo
      const c = made.get(mode) as LtCreatedTorrent
      const st = await lt.stats(s.session)
      const tor = st.torrents.find((x) => x.infohash === c.infohash)
      assert.ok(tor !== undefined && tor.kind === 'seed' && tor.state === 'seeding', `${mode}: still seeding`)
      assert.ok(tor.incomingPeers >= 1, `${mode}: the seeder served a peer`)
      assert.ok(st.numOutgoingMetadata >= 1, `${mode}: the seeder sent ut_metadata data`)
    }
    assert.deepEqual(failures, [], 'no fetch attempt failed')
  } finally {
    await node?.close()
  }
})

test("a hybrid's v1 and truncated v2 hashes fetched at once from one libtorrent seeder both succeed", { timeout: 60_000 }, async () => {
  // Two fetch tasks for ONE libtorrent torrent on the same seeder, at the same moment.
  // libtorrent drops a second connection from a peer id it already has on that torrent, so
  // the scheduler must not reuse one peer id for every connection.
  const hy = made.get('hybrid') as LtCreatedTorrent
  const seeder = seeders.get('hybrid') as LtSessionInfo
  for (let round = 0; round < 3; round++) {
    let leased = false
    const done = new Map<string, { raw: Buffer, kind: 'v1' | 'v2' }>()
    const failed: string[] = []
    const fs = new FetchScheduler({
      queue: {
        lease: (n) => { if (leased || n < 2) return []; leased = true; return keysOf(hy) },
        complete: (ih, raw, kind) => { done.set(ih.toString('hex'), { raw, kind }) },
        fail: (ih, reason) => { failed.push(`${ih.toString('hex')}: ${reason}`) },
      },
      peers: { hintsFor: () => [{ host: seeder.host, port: seeder.port }], lookupPeers: async () => [] },
    }, { taskTimeoutMs: 20_000, fetchTimeoutMs: 10_000 })
    try {
      fs.start()
      await poll('both fetch tasks ended', () => done.size + failed.length >= 2 ? true : undefined, 30_000, 20)
    } finally {
      await fs.close()
    }
    assert.deepEqual(failed, [], `round ${round}`)
    const v1 = done.get(hy.v1 as string)
    const v2 = done.get((hy.v2 as string).slice(0, 40))
    assert.equal(v1?.kind, 'v1')
    assert.equal(v2?.kind, 'v2')
    assert.ok(v1 !== undefined && v2 !== undefined && v1.raw.equals(v2.raw), 'one info dict under both hashes')
    assert.equal(createHash('sha256').update(v2.raw).digest('hex'), hy.v2)
  }
})
