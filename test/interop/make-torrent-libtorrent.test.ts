// `bbmesh make-torrent` against real libtorrent 2.0 (python3-libtorrent): for the same
// folder and piece length, the v1 and v2 infohashes the CLI prints (and writes) must equal
// those of libtorrent's create_torrent, in v2-only and hybrid mode (and v1 for completeness),
// so swarms of both tools merge. libtorrent must also load the .torrent bbmesh wrote, see
// the same files, and seed it from the data (its hash check passes against our hashes).
// Without python3-libtorrent these tests FAIL: requireLibtorrent() throws, nothing skips.

import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { mkdtempSync, mkdirSync, writeFileSync, rmSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { runCli } from '../helpers/cli.js'
import { PYTHON, requireLibtorrent, startLtNet, type LtNet } from '../helpers/libtorrent.js'
import { repoRoot } from '../helpers/paths.js'
import { parseTorrentFile } from '../../src/torrent/torrent-file.js'

const SCRIPT = join(repoRoot(), 'test', 'interop', 'lt', 'make_torrent.py')
const KB = 1024

interface LtFile { path: string, size: number, pad: boolean, executable: boolean }
interface LtResult { ok: boolean, error?: string, v1: string | null, v2: string | null, name: string, piece_length: number, total_size: number, files: LtFile[] }

/** One batch of requests through make_torrent.py (libtorrent); any failure fails the test. */
function libtorrent (requests: object[]): LtResult[] {
  const r = spawnSync(PYTHON, [SCRIPT], { input: JSON.stringify(requests), encoding: 'utf8', maxBuffer: 256 * 1024 * 1024, timeout: 300_000 })
  if (r.error !== undefined) assert.fail(`cannot run ${PYTHON}: ${r.error.message}`)
  if (r.status !== 0) assert.fail(`make_torrent.py exited ${String(r.status)}: ${r.stdout} ${r.stderr}`)
  const out = JSON.parse(r.stdout) as LtResult[]
  for (const x of out) if (!x.ok) assert.fail(`libtorrent refused a request: ${x.error ?? '?'}`)
  return out
}

type Mode = 'v2' | 'hybrid' | 'v1'
const MODES: Mode[] = ['v2', 'hybrid', 'v1']
const MODE_FLAG: Record<Mode, string> = { v2: '--v2-only', hybrid: '--hybrid', v1: '--v1-only' }

interface Case { name: string, single?: boolean, files: Record<string, number>, pieceLengths: number[] }

// 0 = no --piece-length: both tools choose (libtorrent's automatic size).
const CASES: Case[] = [
  { name: 'one file', single: true, files: { 'solo.bin': 150_000 }, pieceLengths: [16 * KB, 64 * KB, 0] },
  {
    name: 'many files',
    files: {
      'a.txt': 1, 'b.txt': 100, 'c.bin': 16 * KB - 1, 'd.bin': 16 * KB + 1, 'e.bin': 70_000, 'f.txt': 3,
      'g.bin': 250_000, 'h.txt': 999, 'i.log': 20, 'j.dat': 33_333, 'k.dat': 5, 'zz.bin': 12_345,
    },
    pieceLengths: [16 * KB, 32 * KB, 0],
  },
  {
    name: 'an empty file among others',
    files: { 'aa.bin': 30_000, 'empty.txt': 0, 'n.bin': 1, 'q.bin': 40_000 },
    pieceLengths: [16 * KB, 32 * KB, 0],
  },
  {
    // 16 KiB is one piece at 16 KiB and 32 KiB two; 32 and 64 KiB are one and two at 32 KiB.
    name: 'files of exactly one and two piece lengths',
    files: { 'one16': 16 * KB, 'two16': 32 * KB, 'two32': 64 * KB, 'odd.bin': 1000 },
    pieceLengths: [16 * KB, 32 * KB],
  },
  {
    name: 'nested folders 3 deep',
    files: { 'a/b/c/deep.bin': 20_000, 'a/b/c/deep2.txt': 7, 'a/b/mid.bin': 17_000, 'a/top.txt': 5, 'a-b/x.txt': 9, 'root.bin': 40_000 },
    pieceLengths: [16 * KB, 64 * KB, 0],
  },
]

function content (label: string, n: number): Buffer {
  const out = Buffer.alloc(n)
  for (let i = 0, off = 0; off < n; i++, off += 32) createHash('sha256').update(`${label}:${i}`).digest().copy(out, off)
  return out
}

let tmp = ''
let net: LtNet | null = null
let caseNo = 0

/** The case's files on disk; returns the path to give both tools and the folder holding it. */
function materialise (c: Case): { input: string, parent: string } {
  if (tmp === '') tmp = mkdtempSync(join(tmpdir(), 'bbmesh-lt-make-torrent-'))
  const parent = join(tmp, `case${caseNo++}`)
  const root = join(parent, c.single === true ? '' : c.name.replace(/ /g, '-'))
  for (const [p, size] of Object.entries(c.files)) {
    const full = join(root, ...p.split('/'))
    mkdirSync(dirname(full), { recursive: true })
    writeFileSync(full, content(`${c.name}/${p}`, size))
  }
  const input = c.single === true ? join(parent, Object.keys(c.files)[0]) : root
  return { input, parent }
}

async function ltnet (): Promise<LtNet> {
  if (net === null) {
    net = await startLtNet()
    await net.start({ sessions: 1, link: 'none' })
  }
  return net
}

after(async () => {
  await net?.close()
  if (tmp !== '') rmSync(tmp, { recursive: true, force: true })
})

test('python3-libtorrent 2.x is available (required: these tests fail without it)', () => {
  requireLibtorrent()
  const r = spawnSync(PYTHON, ['-c', 'import libtorrent; print(libtorrent.__version__)'], { encoding: 'utf8' })
  assert.equal(r.status, 0, r.stderr)
  assert.match(r.stdout, /^2\./)
})

for (const c of CASES) {
  test(`make-torrent hashes equal libtorrent's: ${c.name}`, async () => {
    requireLibtorrent()
    const { input, parent } = materialise(c)
    const runs = MODES.flatMap((mode) => c.pieceLengths.map((pl) => ({ mode, pl })))
    const theirs = libtorrent(runs.map(({ mode, pl }) => ({ op: 'create', path: input, mode, piece_length: pl })))

    const written: Buffer[] = []
    for (const [i, { mode, pl }] of runs.entries()) {
      const what = `${mode}, piece length ${pl === 0 ? 'auto' : pl}`
      const o = join(tmp, `case-${caseNo}-${i}.torrent`)
      const args = ['make-torrent', input, MODE_FLAG[mode], '-o', o, '--json', ...(pl === 0 ? [] : ['--piece-length', String(pl)])]
      const r = await runCli(args, { guardMs: 120_000 })
      assert.equal(r.code, 0, `${what}: ${r.stderr}`)
      const printed = r.json[0]
      const lt = theirs[i]
      // The requirement: the CLI's infohashes are libtorrent's...
      assert.equal(printed.v1, lt.v1, `v1 infohash, ${what}`)
      assert.equal(printed.v2, lt.v2, `v2 infohash, ${what}`)
      assert.equal(lt.v1 !== null, mode !== 'v2', `libtorrent made a v1 hash, ${what}`)
      assert.equal(lt.v2 !== null, mode !== 'v1', `libtorrent made a v2 hash, ${what}`)
      assert.equal(printed.pieceLength, lt.piece_length, `piece length, ${what}`)
      assert.equal(printed.size, lt.total_size - lt.files.filter((f) => f.pad).reduce((s, f) => s + f.size, 0), `size, ${what}`)
      // ...and so are those of the file it wrote (read back with our own parser).
      const file = readFileSync(o)
      const parsed = parseTorrentFile(file)
      assert.equal(parsed.info.infohashV1?.toString('hex') ?? null, lt.v1, `written v1, ${what}`)
      assert.equal(parsed.info.infohashV2?.toString('hex') ?? null, lt.v2, `written v2, ${what}`)
      written.push(file)
    }

    // libtorrent loads what bbmesh wrote (lt.torrent_info checks piece layers) and sees the
    // same torrent, file by file (pad files included), as the one it made itself.
    const loaded = libtorrent(written.map((t) => ({ op: 'inspect', torrent: t.toString('base64') })))
    loaded.forEach((lt, i) => {
      const what = `${runs[i].mode}, piece length ${runs[i].pl === 0 ? 'auto' : runs[i].pl}`
      assert.equal(lt.v1, theirs[i].v1, what)
      assert.equal(lt.v2, theirs[i].v2, what)
      assert.equal(lt.name, theirs[i].name, what)
      assert.equal(lt.piece_length, theirs[i].piece_length, what)
      assert.deepEqual(lt.files, theirs[i].files, `files, ${what}`)
    })

    // And libtorrent seeds each of them from the data: its full check of every piece against
    // bbmesh's v1 piece hashes and v2 merkle trees passes (a wrong hash leaves it incomplete).
    // (The automatic piece length of a small folder is 16 KiB: the same torrent as an explicit one.)
    const n = await ltnet()
    const seen = new Set<string>()
    for (const [i, torrent] of written.entries()) {
      const key = `${theirs[i].v1 ?? ''}/${theirs[i].v2 ?? ''}`
      if (seen.has(key)) continue
      seen.add(key)
      const seeded = await n.seed({ session: 0, torrent, savePath: parent, timeoutMs: 60_000 })
      assert.equal(seeded.v1, theirs[i].v1)
      assert.equal(seeded.v2, theirs[i].v2)
    }
  })
}
