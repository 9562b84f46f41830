// `bbmesh search` on a data directory: flags to a request, pages and cursors, lookups, errors.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { main } from '../../../src/cli/main.js'
import type { Output } from '../../../src/cli/output.js'
import { openForWriting } from '../../../src/cli/store-access.js'
import { rawInfoMulti, record, torrent } from '../store/fixtures.js'

function capture (): Output & { stdout: string[], stderr: string[] } {
  const stdout: string[] = []; const stderr: string[] = []
  return { stdout, stderr, out: (l) => stdout.push(l), err: (l) => stderr.push(l), isTTY: false }
}

const T0 = Date.UTC(2024, 0, 1)
const DAY = 86_400_000
const dir = mkdtempSync(join(tmpdir(), 'bbmesh-cli-search-'))
const hybrid = torrent('hybrid', 'ocean hybrid single')
test.before(() => {
  const st = openForWriting(dir)
  st.addTorrents([
    record(rawInfoMulti('ocean documentary', [{ path: ['ocean.mkv'], size: 2_000_000 }, { path: ['ocean.srt'], size: 100 }]), 'test', T0),
    record(rawInfoMulti('deep ocean', [{ path: ['deep.avi'], size: 500_000 }]), 'test', T0 + DAY),
    record(rawInfoMulti('ocean waves sounds', [{ path: ['waves.flac'], size: 3_000_000 }]), 'test', T0 + 2 * DAY),
    hybrid,
  ])
  st.close()
})
test.after(() => rmSync(dir, { recursive: true, force: true }))

async function run (...args: string[]): Promise<{ code: number, out: string[], err: string[] }> {
  const o = capture()
  const code = await main(['search', ...args, '--data-dir', dir], o)
  return { code, out: o.stdout, err: o.stderr }
}
const nameOf = (line: string): string => line.split(/ files {2}/)[1]

test('words, newest first, one page at a time: the cursor on stderr continues it', async () => {
  const r1 = await run('ocean', '--order', 'newest', '--limit', '2')
  assert.equal(r1.code, 0, r1.err.join('\n'))
  assert.deepEqual(r1.out.map(nameOf), ['ocean hybrid single', 'ocean waves sounds'])
  const next = /^next page: --cursor (\S+)$/.exec(r1.err.find((l) => l.startsWith('next page')) ?? '')?.[1]
  assert.ok(next !== undefined, r1.err.join('\n'))
  const r2 = await run('ocean', '--order', 'newest', '--limit', '2', '--cursor', next)
  assert.equal(r2.code, 0, r2.err.join('\n'))
  assert.deepEqual(r2.out.map(nameOf), ['deep ocean', 'ocean documentary'])
  assert.ok(!r2.err.some((l) => l.startsWith('next page')))
})

test('relevance (default) shows the score first; the closest name leads', async () => {
  const r = await run('deep', 'ocean')
  assert.equal(r.code, 0)
  assert.match(r.out[0], /^1\.000 {2}[0-9a-f]{40} /)
  assert.equal(nameOf(r.out[0]), 'deep ocean')
})

test('filters: sizes with units, extension, file count, since (date or days)', async () => {
  const names = async (...a: string[]): Promise<string[]> => {
    const r = await run('ocean', '--order', 'newest', ...a)
    assert.equal(r.code, 0, r.err.join('\n'))
    return r.out.map(nameOf)
  }
  assert.deepEqual(await names('--min-size', '1.5MB'), ['ocean waves sounds', 'ocean documentary'])
  assert.deepEqual(await names('--max-size', '0.5MB'), ['ocean hybrid single', 'deep ocean'])
  assert.deepEqual(await names('--ext', '.MKV'), ['ocean documentary'])
  assert.deepEqual(await names('--min-files', '2'), ['ocean documentary'])
  assert.deepEqual(await names('--since', '2024-01-02', '--max-size', '4MiB', '--min-size', '1k'), ['ocean waves sounds', 'deep ocean'])
  assert.deepEqual(await names('--ext', 'zip'), [])
  const days = await names('--since', '36500d', '--order', 'size')
  assert.equal(days.length, 4)
})

test('--prefix: the last word as a prefix when it has 3+ letters, else whole', async () => {
  let r = await run('ocea', '--prefix', '--order', 'newest')
  assert.equal(r.out.length, 4, r.err.join('\n'))
  r = await run('deep', 'oc', '--prefix')
  assert.equal(r.code, 0)
  assert.deepEqual(r.out, [])
  r = await run('ocea*', '--order', 'newest')
  assert.equal(r.out.length, 4)
})

test('--order size lists the largest first', async () => {
  const r = await run('ocean', '--order', 'size')
  assert.deepEqual(r.out.map(nameOf), ['ocean waves sounds', 'ocean documentary', 'deep ocean', 'ocean hybrid single'])
})

test('--json: one hit per line on stdout, the next cursor as JSON on stderr', async () => {
  const r = await run('ocean', '--json', '--limit', '3', '--order', 'newest')
  assert.equal(r.code, 0)
  assert.equal(r.out.length, 3)
  for (const l of r.out) {
    const h = JSON.parse(l) as Record<string, unknown>
    assert.match(h.infohash as string, /^[0-9a-f]{40}$/)
    assert.equal(typeof h.score, 'number')
    assert.equal(typeof h.discovered_at, 'number')
  }
  const tail = JSON.parse(r.err[r.err.length - 1]) as { next?: string }
  assert.equal(typeof tail.next, 'string')
})

test('--infohash: a v1 key, a truncated v2 key and a full v2 key find the hybrid', async () => {
  const v1 = (hybrid.info.infohashV1 as Buffer).toString('hex')
  const v2 = (hybrid.info.infohashV2 as Buffer).toString('hex')
  for (const key of [v1, v1.toUpperCase(), v2.slice(0, 40), v2]) {
    const o = capture()
    assert.equal(await main(['search', '--infohash', key, '--data-dir', dir], o), 0, o.stderr.join('\n'))
    assert.equal(o.stdout.length, 1)
    assert.ok(o.stdout[0].includes(v1) && o.stdout[0].endsWith('ocean hybrid single'))
  }
  const o = capture()
  assert.equal(await main(['search', '--infohash', '00'.repeat(20), '--data-dir', dir], o), 0)
  assert.deepEqual(o.stdout, [])
  assert.match(o.stderr.join('\n'), /not in the index/)
})

test('bad input is a usage error (exit 2) naming the problem', async () => {
  const cases: Array<[string[], RegExp]> = [
    [[], /at least one word/],
    [['ocean', '--order', 'best'], /order must be one of/],
    [['ocean', '--min-size', 'big'], /not a size/],
    [['ocean', '--min-size', '2MB', '--max-size', '1MB'], /minSize .* above maxSize/],
    [['ocean', '--ext', 'tar.gz'], /ext must be/],
    [['ocean', '--min-files', '-1'], /--min-files/],
    [['ocean', '--since', 'yesterday'], /not a date/],
    [['ocean', '--limit', '0'], /--limit/],
    [['ocean', '--cursor', 'bogus'], /bad cursor/],
    [['ocean', '--infohash', '00'.repeat(20)], /words or --infohash/],
    [['--infohash', 'xyz'], /40 hex digits/],
    [['a'.repeat(600)], /longer than/],
  ]
  for (const [args, re] of cases) {
    const r = await run(...args)
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.err.join('\n')}`)
    assert.match(r.err.join('\n'), re, args.join(' '))
  }
})

test('an excluded word goes after -- (else the shell-style - is a flag); only exclusions is refused', async () => {
  let o = capture()
  assert.equal(await main(['search', '--order', 'newest', '--data-dir', dir, '--', 'ocean', '-deep', '-waves'], o), 0, o.stderr.join('\n'))
  assert.deepEqual(o.stdout.map(nameOf), ['ocean hybrid single', 'ocean documentary'])
  o = capture()
  assert.equal(await main(['search', '--data-dir', dir, '--', '-ocean'], o), 2)
  assert.match(o.stderr.join('\n'), /only excludes/)
})

test('a bad request is refused before the data directory is opened', async () => {
  const o = capture()
  assert.equal(await main(['search', 'x', '--min-size', '2', '--max-size', '1', '--data-dir', '/nonexistent-bbmesh-dir'], o), 2)
  assert.equal(await main(['search', 'x', '--order', 'best', '--data-dir', '/nonexistent-bbmesh-dir'], o), 2)
  assert.equal(await main(['search', '--infohash', 'zz', '--data-dir', '/nonexistent-bbmesh-dir'], o), 2)
})

test('--help documents the query language, the filters, the cursor and --infohash', async () => {
  const o = capture()
  assert.equal(await main(['search', '--help'], o), 0)
  const h = o.stdout.join('\n')
  for (const s of ['"big buck"', '-word', 'ubun*', '--order', '--min-size', '--max-size', '--ext', '--min-files', '--since', '--cursor', '--infohash', '--json']) {
    assert.ok(h.includes(s), `help lacks ${s}`)
  }
})
