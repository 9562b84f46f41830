// bbmesh's torrent creator and parser against real libtorrent 2.0 (python3-libtorrent):
// for the same folder and piece length, createTorrent() must produce the very info dict
// libtorrent's create_torrent produces (so the same v1 and v2 infohashes), parseInfo() must
// read libtorrent's torrents the way lt.torrent_info does, and libtorrent must load ours.
// Without python3-libtorrent these tests FAIL: an interop suite that skips proves nothing.

import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { mkdtempSync, mkdirSync, writeFileSync, rmSync, chmodSync, existsSync, symlinkSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { basename, dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { createTorrent } from '../../src/torrent/create.js'
import type { CreateMode, CreatedTorrent } from '../../src/torrent/create.js'
import { parseTorrentFile } from '../../src/torrent/torrent-file.js'

const PYTHON = process.env.BBMESH_PYTHON ?? '/usr/bin/python3'

function repoRoot (): string {
  let d = dirname(fileURLToPath(import.meta.url))
  while (!existsSync(join(d, 'test', 'interop', 'lt', 'make_torrent.py'))) {
    const up = dirname(d)
    if (up === d) throw new Error('cannot find test/interop/lt/make_torrent.py above the test file')
    d = up
  }
  return d
}
const SCRIPT = join(repoRoot(), 'test', 'interop', 'lt', 'make_torrent.py')

interface LtFile { path: string, size: number, pad: boolean, executable: boolean }
interface LtResult { ok: boolean, error?: string, v1: string | null, v2: string | null, name: string, piece_length: number, total_size: number, files: LtFile[], torrent?: string }

/** Run one batch of requests through libtorrent; any failure to do so fails the test, loudly. */
function libtorrent (requests: object[]): LtResult[] {
  const r = spawnSync(PYTHON, [SCRIPT], { input: JSON.stringify(requests), encoding: 'utf8', maxBuffer: 256 * 1024 * 1024, timeout: 300_000 })
  if (r.error !== undefined) assert.fail(`cannot run ${PYTHON} (set BBMESH_PYTHON to a python3 with libtorrent): ${r.error.message}`)
  if (r.status === 3) assert.fail(`python3-libtorrent is not importable by ${PYTHON}; install it (apt install python3-libtorrent): ${r.stdout.trim()}`)
  if (r.status !== 0) assert.fail(`make_torrent.py exited ${String(r.status)}: ${r.stderr}`)
  const out = JSON.parse(r.stdout) as LtResult[]
  for (const x of out) if (!x.ok) assert.fail(`libtorrent refused a request: ${x.error ?? '?'}`)
  return out
}

interface CaseFile { path: string, size: number, exec?: boolean }
interface Case { name: string, single?: boolean, files: CaseFile[], pieceLengths: number[] }

const KB = 1024
const CASES: Case[] = [
  { name: 'one file', single: true, files: [{ path: 'solo.bin', size: 50_000 }], pieceLengths: [16 * KB, 64 * KB, 0] },
  { name: 'one file in a folder', files: [{ path: 'x', size: 5 }], pieceLengths: [16 * KB] },
  {
    name: 'many files',
    files: [
      { path: 'a.txt', size: 1 }, { path: 'b.txt', size: 100 }, { path: 'c.bin', size: 16 * KB - 1 },
      { path: 'd.bin', size: 16 * KB + 1 }, { path: 'e.bin', size: 70_000 }, { path: 'f.txt', size: 3 },
      { path: 'sub/g.bin', size: 250_000 }, { path: 'sub/h.txt', size: 999 }, { path: 'zz.log', size: 20 },
    ],
    pieceLengths: [16 * KB, 64 * KB, 0],
  },
  {
    name: 'empty files among others',
    files: [{ path: '0-empty', size: 0 }, { path: 'middle/empty', size: 0 }, { path: 'm.bin', size: 30_000 }, { path: 'n.bin', size: 1 }, { path: 'zz-empty', size: 0 }],
    pieceLengths: [16 * KB, 32 * KB],
  },
  {
    name: 'files of exactly piece size',
    files: [{ path: 'p1', size: 16 * KB }, { path: 'p2', size: 32 * KB }, { path: 'p4', size: 64 * KB }, { path: 'q/p1b', size: 16 * KB }],
    pieceLengths: [16 * KB, 64 * KB],
  },
  {
    name: 'nested folders',
    files: [
      { path: 'a/b/c/d/deep.txt', size: 10 }, { path: 'a/x.bin', size: 17_000 }, { path: 'a-b/y.txt', size: 5 },
      { path: 'A/z.txt', size: 7 }, { path: 'é/ü.txt', size: 12 }, { path: 'a/b/sibling', size: 40_000 },
    ],
    pieceLengths: [16 * KB, 64 * KB],
  },
  {
    name: 'executable files',
    files: [{ path: 'run.sh', size: 20, exec: true }, { path: 'data/plain', size: 30 }, { path: 'data/tool', size: 100_000, exec: true }],
    pieceLengths: [16 * KB],
  },
]
const MODES: CreateMode[] = ['v1', 'v2', 'hybrid']

function content (label: string, n: number): Buffer {
  const out = Buffer.alloc(n)
  for (let i = 0, off = 0; off < n; i++, off += 32) createHash('sha256').update(`${label}:${i}`).digest().copy(out, off)
  return out
}

let tmp = ''
const inputs = new Map<string, string>()

before(() => {
  tmp = mkdtempSync(join(tmpdir(), 'bbmesh-lt-torrent-'))
  CASES.forEach((c, i) => {
    const dir = join(tmp, `case${i}`)
    for (const f of c.files) {
      const p = join(dir, ...f.path.split('/'))
      mkdirSync(dirname(p), { recursive: true })
      writeFileSync(p, content(`${c.name}/${f.path}`, f.size))
      chmodSync(p, f.exec === true ? 0o755 : 0o644)
    }
    inputs.set(c.name, c.single === true ? join(dir, c.files[0].path) : dir)
  })
})

after(() => {
  if (tmp !== '') rmSync(tmp, { recursive: true, force: true })
})

test('python3-libtorrent is available', () => {
  const r = spawnSync(PYTHON, ['-c', 'import libtorrent; print(libtorrent.__version__)'], { encoding: 'utf8' })
  assert.equal(r.status, 0, `python3-libtorrent is not importable by ${PYTHON} (install python3-libtorrent or set BBMESH_PYTHON): ${r.stderr ?? r.error?.message}`)
  assert.match(r.stdout, /^2\./)
})

/** libtorrent's file list as bbmesh reports it: no pads, paths relative to the root. */
function ltFiles (r: LtResult): Array<[string, number]> {
  const prefix = `${r.name}/`
  return r.files.filter((f) => !f.pad).map((f) => [f.path.startsWith(prefix) ? f.path.slice(prefix.length) : f.path, f.size])
}

for (const c of CASES) {
  test(`same infohashes as libtorrent: ${c.name}`, async () => {
    const input = inputs.get(c.name) as string
    const runs = MODES.flatMap((mode) => c.pieceLengths.map((pl) => ({ mode, pl })))
    const theirs = libtorrent(runs.map(({ mode, pl }) => ({ op: 'create', path: input, mode, piece_length: pl })))
    const ours: CreatedTorrent[] = []
    for (const { mode, pl } of runs) {
      // libtorrent's add_files + v1_only keeps the OS listing order; 'input' asks for the same.
      ours.push(await createTorrent(input, { mode, pieceLength: pl === 0 ? undefined : pl, fileOrder: mode === 'v1' ? 'input' : 'canonical' }))
    }
    const single = c.single === true

    runs.forEach(({ mode, pl }, i) => {
      const what = `${mode}, piece length ${pl === 0 ? 'auto' : pl}`
      const lt = theirs[i]
      const me = ours[i]
      // The key requirement: identical infohashes...
      assert.equal(me.info.infohashV1?.toString('hex') ?? null, lt.v1, `v1 infohash, ${what}`)
      assert.equal(me.info.infohashV2?.toString('hex') ?? null, lt.v2, `v2 infohash, ${what}`)
      assert.equal(lt.v1 !== null, mode !== 'v2', `libtorrent made a v1 hash, ${what}`)
      assert.equal(lt.v2 !== null, mode !== 'v1', `libtorrent made a v2 hash, ${what}`)
      // ...because the info dicts are byte-identical.
      const parsed = parseTorrentFile(Buffer.from(lt.torrent as string, 'base64'))
      assert.deepEqual(parsed.rawInfo, me.rawInfo, `info bytes, ${what}`)
      assert.equal(me.info.pieceLength, lt.piece_length, `piece length, ${what}`)

      // parseInfo of libtorrent's torrent reports what lt.torrent_info reports.
      assert.equal(parsed.info.version, mode)
      if (mode === 'v2' && !single && c.files.length === 1 && !c.files[0].path.includes('/')) {
        // Known libtorrent quirk: a v2-only file tree holding one file at its root reads back
        // as a single-file torrent named after that file, though libtorrent wrote `name` as
        // the folder. bbmesh keeps `name` (BEP-52: the display name); the file path agrees.
        assert.equal(lt.name, c.files[0].path)
        assert.equal(parsed.info.name, basename(input))
      } else {
        assert.equal(parsed.info.name, lt.name)
      }
      assert.equal(parsed.info.pieceLength, lt.piece_length)
      assert.deepEqual(parsed.info.files.map((f) => [f.path, f.size]), ltFiles(lt), `files, ${what}`)
      assert.equal(parsed.info.totalSize, ltFiles(lt).reduce((s, f) => s + f[1], 0))
      assert.equal(parsed.info.totalSize, c.files.reduce((s, f) => s + f.size, 0))
      assert.deepEqual(parsed.pieceLayers ?? new Map(), me.pieceLayers, `piece layers, ${what}`)
    })

    // libtorrent loads our .torrent files (checking their piece layers) and sees the same torrent.
    const loaded = libtorrent(ours.map((t) => ({ op: 'inspect', torrent: t.torrent.toString('base64') })))
    loaded.forEach((lt, i) => {
      assert.equal(lt.v1, theirs[i].v1)
      assert.equal(lt.v2, theirs[i].v2)
      assert.deepEqual(lt.files, theirs[i].files)
    })
  })
}

test('executable bit and symlinks are seen the way libtorrent sees them', async () => {
  // A symlink's own mode has the execute bit, so libtorrent marks a linked file 'x'.
  const dir = join(tmp, 'links')
  mkdirSync(join(dir, 'real'), { recursive: true })
  writeFileSync(join(dir, 'plain'), 'abc')
  chmodSync(join(dir, 'plain'), 0o644)
  writeFileSync(join(dir, 'real', 'q'), 'q')
  symlinkSync('plain', join(dir, 'lnk'))
  symlinkSync('real', join(dir, 'dirlink'))
  symlinkSync('nowhere', join(dir, 'broken'))
  const lt = libtorrent(MODES.map((mode) => ({ op: 'create', path: dir, mode, piece_length: 16 * KB })))
  for (const [i, mode] of MODES.entries()) {
    const me = await createTorrent(dir, { mode, pieceLength: 16 * KB, fileOrder: mode === 'v1' ? 'input' : 'canonical' })
    assert.equal(me.info.infohashV1?.toString('hex') ?? null, lt[i].v1, mode)
    assert.equal(me.info.infohashV2?.toString('hex') ?? null, lt[i].v2, mode)
    assert.deepEqual(lt[i].files.filter((f) => !f.pad).map((f) => f.path).sort(), ['links/dirlink/q', 'links/lnk', 'links/plain', 'links/real/q'])
  }
})
