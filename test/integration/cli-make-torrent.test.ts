// `bbmesh make-torrent` as a user runs it: torrents for a few folders, read back with the
// project's own parser and compared with the library's createTorrent(); refusals with their
// exit codes (2 for usage and input errors, 1 for the others); SIGINT while hashing leaves
// nothing behind.

import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { mkdtempSync, mkdirSync, writeFileSync, rmSync, readFileSync, readdirSync, existsSync, symlinkSync, truncateSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { runCli, spawnCli } from '../helpers/cli.js'
import { parseTorrentFile } from '../../src/torrent/torrent-file.js'
import { createTorrent } from '../../src/torrent/create.js'
import { decode, getBytes, isDict } from '../../src/core/bencode.js'

const KB = 1024
let tmp = ''

function content (label: string, n: number): Buffer {
  const out = Buffer.alloc(n)
  for (let i = 0, off = 0; off < n; i++, off += 32) createHash('sha256').update(`${label}:${i}`).digest().copy(out, off)
  return out
}

/** Write files (path → size) under a new folder `name` and return its path. */
function folder (name: string, files: Record<string, number>): string {
  const root = join(tmp, name)
  mkdirSync(root, { recursive: true })
  for (const [p, size] of Object.entries(files)) {
    const full = join(root, ...p.split('/'))
    mkdirSync(dirname(full), { recursive: true })
    writeFileSync(full, content(`${name}/${p}`, size))
  }
  return root
}

function out (name: string): string {
  return join(tmp, 'out', name)
}

/** Nothing but the expected files in the output folder: no temp file left behind. */
function assertNoTemp (): void {
  const stray = readdirSync(join(tmp, 'out')).filter((f) => f.endsWith('.tmp'))
  assert.deepEqual(stray, [])
}

before(() => {
  tmp = mkdtempSync(join(tmpdir(), 'bbmesh-cli-make-torrent-'))
  mkdirSync(join(tmp, 'out'))
})

after(() => {
  if (tmp !== '') rmSync(tmp, { recursive: true, force: true })
})

test('hybrid by default: hashes, fields and files as the library makes them, magnet with both hashes', async () => {
  const dir = folder('many', { 'a.txt': 10, 'b.bin': 40_000, 'empty': 0, 'sub/c.bin': 16 * KB, 'sub/deeper/d.txt': 3 })
  const o = out('many.torrent')
  const r = await runCli(['make-torrent', dir, '-o', o, '--json', '--comment', 'made by a test'])
  assert.equal(r.code, 0, r.stderr)
  const res = r.json[0]
  const t = parseTorrentFile(readFileSync(o))
  assert.equal(t.info.version, 'hybrid')
  assert.equal(res.mode, 'hybrid')
  assert.equal(res.v1, t.info.infohashV1?.toString('hex'))
  assert.equal(res.v2, t.info.infohashV2?.toString('hex'))
  assert.match(res.v1 as string, /^[0-9a-f]{40}$/)
  assert.match(res.v2 as string, /^[0-9a-f]{64}$/)
  assert.equal(res.name, 'many')
  assert.equal(res.size, 10 + 40_000 + 16 * KB + 3)
  assert.equal(res.files, 5)
  assert.equal(res.pieceLength, 16 * KB) // libtorrent's automatic choice for a small folder
  assert.equal(res.output, o)
  assert.equal(res.magnet, `magnet:?xt=urn:btih:${res.v1 as string}&xt=urn:btmh:1220${res.v2 as string}&dn=many`)
  assert.deepEqual(t.info.files.map((f) => [f.path, f.size]), [['a.txt', 10], ['b.bin', 40_000], ['empty', 0], ['sub/c.bin', 16 * KB], ['sub/deeper/d.txt', 3]])
  // The info dict is the library's, byte for byte; the comment sits outside it.
  const lib = await createTorrent(dir, { mode: 'hybrid' })
  assert.deepEqual(t.rawInfo, lib.rawInfo)
  assert.deepEqual(t.pieceLayers, lib.pieceLayers)
  const top = decode(readFileSync(o))
  assert.ok(isDict(top))
  assert.equal(Buffer.from(getBytes(top, 'comment') ?? []).toString(), 'made by a test')
  assertNoTemp()
})

test('--v2-only and --v1-only, single file, --piece-length with a suffix, --name, --private', async () => {
  const file = join(folder('single', { 'solo.bin': 100_000 }), 'solo.bin')
  const v2 = out('solo-v2.torrent')
  const r2 = await runCli(['make-torrent', file, '--v2-only', '--piece-length', '32K', '-o', v2, '--json'])
  assert.equal(r2.code, 0, r2.stderr)
  const t2 = parseTorrentFile(readFileSync(v2))
  assert.equal(t2.info.version, 'v2')
  assert.equal(t2.info.pieceLength, 32 * KB)
  assert.equal(r2.json[0].v1, null)
  assert.equal(r2.json[0].v2, t2.info.infohashV2?.toString('hex'))
  assert.equal(r2.json[0].magnet, `magnet:?xt=urn:btmh:1220${r2.json[0].v2 as string}&dn=solo.bin`)
  assert.deepEqual(t2.info.files.map((f) => [f.path, f.size]), [['solo.bin', 100_000]])
  assert.equal(t2.pieceLayers?.size, 1) // one file longer than a piece: one layer
  assert.deepEqual(t2.rawInfo, (await createTorrent(file, { mode: 'v2', pieceLength: 32 * KB })).rawInfo)

  const v1 = out('solo-v1.torrent')
  const r1 = await runCli(['make-torrent', file, '--v1-only', '--piece-length', '65536', '--name', 'renamed file', '--private', '-o', v1, '--json'])
  assert.equal(r1.code, 0, r1.stderr)
  const t1 = parseTorrentFile(readFileSync(v1))
  assert.equal(t1.info.version, 'v1')
  assert.equal(t1.info.name, 'renamed file')
  assert.equal(t1.info.private, true)
  assert.equal(t1.info.pieceLength, 64 * KB)
  assert.equal(r1.json[0].v2, null)
  assert.equal(r1.json[0].v1, t1.info.infohashV1?.toString('hex'))
  assert.equal(r1.json[0].magnet, `magnet:?xt=urn:btih:${r1.json[0].v1 as string}&dn=renamed%20file`)
  assert.deepEqual(t1.rawInfo, (await createTorrent(file, { mode: 'v1', pieceLength: 64 * KB, name: 'renamed file', private: true })).rawInfo)
})

test('plain output names the hashes and the magnet; --progress json reports on stderr', async () => {
  const dir = folder('plain', { 'x.bin': 50_000, 'y/z.bin': 20_000 })
  const o = out('plain.torrent')
  const r = await runCli(['make-torrent', dir, '--hybrid', '-o', o, '--progress', 'json'])
  assert.equal(r.code, 0, r.stderr)
  const t = parseTorrentFile(readFileSync(o))
  const v1 = t.info.infohashV1?.toString('hex') as string
  const v2 = t.info.infohashV2?.toString('hex') as string
  assert.ok(r.lines.some((l) => l.startsWith('v1 infohash') && l.endsWith(v1)), r.stdout)
  assert.ok(r.lines.some((l) => l.startsWith('v2 infohash') && l.endsWith(v2)), r.stdout)
  assert.ok(r.lines.some((l) => l.includes(`magnet:?xt=urn:btih:${v1}&xt=urn:btmh:1220${v2}&dn=plain`)), r.stdout)
  // Progress never goes to stdout; the last JSON line on stderr is the final count.
  assert.equal(r.lines.some((l) => l.includes('"hashed"')), false)
  const progress = r.stderr.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as { type: string, hashed: number, total: number })
  assert.ok(progress.length >= 1, r.stderr)
  const last = progress[progress.length - 1]
  assert.deepEqual([last.type, last.hashed, last.total], ['final', 70_000, 70_000])
})

test('refusals: bad piece length, existing output, missing or empty input, conflicting modes, symlink loop', async () => {
  const dir = folder('refuse', { 'f.bin': 1000 })
  const o = out('refuse.torrent')
  for (const pl of ['1000', '8192', '49152', '2G', 'abc', '16Q', '-16384']) {
    const r = await runCli(['make-torrent', dir, '-o', o, `--piece-length=${pl}`])
    assert.equal(r.code, 2, `piece length ${pl}: ${r.stderr}`)
    assert.match(r.stderr, /piece-length/)
  }
  assert.equal(existsSync(o), false)

  const first = await runCli(['make-torrent', dir, '-o', o])
  assert.equal(first.code, 0, first.stderr)
  const original = readFileSync(o)
  const again = await runCli(['make-torrent', dir, '--v2-only', '-o', o])
  assert.equal(again.code, 2)
  assert.match(again.stderr, /already exists; pass --force/)
  assert.deepEqual(readFileSync(o), original, 'the existing file is left alone')
  const forced = await runCli(['make-torrent', dir, '--v2-only', '-o', o, '--force'])
  assert.equal(forced.code, 0, forced.stderr)
  assert.equal(parseTorrentFile(readFileSync(o)).info.version, 'v2')

  const missing = await runCli(['make-torrent', join(tmp, 'no-such-folder'), '-o', out('missing.torrent')])
  assert.equal(missing.code, 2)
  assert.match(missing.stderr, /cannot read/)

  mkdirSync(join(tmp, 'empty-dir', 'sub'), { recursive: true })
  const empty = await runCli(['make-torrent', join(tmp, 'empty-dir'), '-o', out('empty.torrent')])
  assert.equal(empty.code, 2)
  assert.match(empty.stderr, /holds no files/)

  const zero = folder('zero', { 'a': 0, 'b': 0 })
  const allEmpty = await runCli(['make-torrent', zero, '-o', out('zero.torrent')])
  assert.equal(allEmpty.code, 2)
  assert.match(allEmpty.stderr, /all files are empty/)

  const both = await runCli(['make-torrent', dir, '--v2-only', '--v1-only', '-o', out('both.torrent')])
  assert.equal(both.code, 2)
  assert.match(both.stderr, /exclude each other/)
  const noOut = await runCli(['make-torrent', dir])
  assert.equal(noOut.code, 2)
  assert.match(noOut.stderr, /-o FILE/)
  const noPath = await runCli(['make-torrent', '-o', out('x.torrent')])
  assert.equal(noPath.code, 2)
  for (const bad of ['', '..', 'a/b']) {
    const r = await runCli(['make-torrent', dir, `--name=${bad}`, '-o', out('named.torrent')])
    assert.equal(r.code, 2, `--name ${bad}: ${r.stderr}`)
    assert.match(r.stderr, /--name/)
  }
  const toDir = await runCli(['make-torrent', dir, '-o', join(tmp, 'out')])
  assert.equal(toDir.code, 2)
  assert.match(toDir.stderr, /is a folder/)
  const noParent = await runCli(['make-torrent', dir, '-o', join(tmp, 'nowhere', 'x.torrent')])
  assert.equal(noParent.code, 2)
  assert.match(noParent.stderr, /does not exist/)

  const loop = folder('loop', { 'a/f.bin': 10 })
  symlinkSync('..', join(loop, 'a', 'up'))
  const looped = await runCli(['make-torrent', loop, '-o', out('loop.torrent')])
  assert.equal(looped.code, 2)
  assert.match(looped.stderr, /symlink loop/)

  // A name no torrent may carry (a backslash reads as a path separator elsewhere): typed, exit 1.
  const unsafe = folder('unsafe', { 'ok.bin': 10, 'a\\b': 10 })
  const refused = await runCli(['make-torrent', unsafe, '-o', out('unsafe.torrent')])
  assert.equal(refused.code, 1, refused.stderr)
  assert.match(refused.stderr, /path component contains/)
  for (const f of ['missing', 'empty', 'zero', 'both', 'loop', 'unsafe']) assert.equal(existsSync(out(`${f}.torrent`)), false, f)
  assertNoTemp()
})

test('SIGINT while hashing: stops, writes nothing, exits 130', async (t) => {
  // A sparse file: many GiB to hash, no disk used.
  const dir = join(tmp, 'big')
  mkdirSync(dir)
  writeFileSync(join(dir, 'huge.bin'), '')
  truncateSync(join(dir, 'huge.bin'), 64 * 1024 ** 3)
  const o = out('big.torrent')
  const p = spawnCli(['make-torrent', dir, '-o', o, '--progress', 'json'], { t })
  await p.waitFor('a progress line with bytes hashed', () => {
    for (const l of p.stderr.split('\n')) {
      if (!l.startsWith('{') || !l.endsWith('}')) continue // a line still being written
      const s = JSON.parse(l) as { type: string, hashed: number }
      if (s.type === 'progress' && s.hashed > 0) return s
    }
    return undefined
  }, 120_000, 50)
  p.signal('SIGINT')
  const exit = await p.waitExit(60_000)
  assert.equal(exit.code, 130, p.describe())
  assert.match(p.stderr, /interrupted; nothing written/)
  assert.equal(existsSync(o), false)
  assertNoTemp()
})
