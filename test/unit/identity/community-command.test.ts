import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { main } from '../../../src/cli/main.js'
import type { Output } from '../../../src/cli/output.js'
import { parseCommunityKey, generateCommunityKey } from '../../../src/identity/community-key.js'
import { runCli } from '../../helpers/cli.js'
import { leaks } from './leaks.js'

function capture (): Output & { stdout: string[], stderr: string[] } {
  const stdout: string[] = []; const stderr: string[] = []
  return { stdout, stderr, out: (l) => stdout.push(l), err: (l) => stderr.push(l), isTTY: false }
}

/** Run with BBMESH_COMMUNITY / BBMESH_CONFIG unset, so the caller's environment cannot change a test. */
async function run (argv: string[]): Promise<{ code: number, stdout: string[], stderr: string[] }> {
  const saved = { c: process.env.BBMESH_COMMUNITY, f: process.env.BBMESH_CONFIG }
  delete process.env.BBMESH_COMMUNITY; delete process.env.BBMESH_CONFIG
  try {
    const o = capture()
    const code = await main(argv, o)
    return { code, stdout: o.stdout, stderr: o.stderr }
  } finally {
    if (saved.c !== undefined) process.env.BBMESH_COMMUNITY = saved.c
    if (saved.f !== undefined) process.env.BBMESH_CONFIG = saved.f
  }
}

test('community new prints one parseable key on stdout, a hint on stderr, a new key each time', async () => {
  const a = await run(['community', 'new'])
  const b = await run(['community', 'new'])
  for (const r of [a, b]) {
    assert.equal(r.code, 0)
    assert.equal(r.stdout.length, 1)
    const ck = parseCommunityKey(r.stdout[0])
    assert.equal(ck.format(), r.stdout[0])
    const hint = r.stderr.join('\n')
    for (const w of ['--community', 'BBMESH_COMMUNITY', 'config.json', ck.id]) assert.ok(hint.includes(w), `hint lacks ${w}: ${hint}`)
    assert.ok(!leaks(hint, r.stdout[0]), 'the hint shows the key')
  }
  assert.notEqual(a.stdout[0], b.stdout[0])
})

test('community new takes no arguments', async () => {
  const r = await run(['community', 'new', 'extra'])
  assert.equal(r.code, 2)
  assert.equal(r.stdout.length, 0)
})

test('community id KEY prints the public id, the same as parsing gives', async () => {
  const ck = generateCommunityKey()
  const r = await run(['community', 'id', ck.format()])
  assert.equal(r.code, 0)
  assert.deepEqual(r.stdout, [ck.id])
  assert.deepEqual(r.stdout, [parseCommunityKey(ck.format()).id])
})

test('a mistyped key is a clear error (exit 2) that does not show the key', async () => {
  const text = generateCommunityKey().format()
  const i = 40
  const typo = text.slice(0, i) + (text[i] === 'a' ? 'b' : 'a') + text.slice(i + 1)
  for (const bad of [typo, text.slice(0, -2), text.replace('bbmesh-community:', 'bbmesh-comunity:')]) {
    const r = await run(['community', 'id', bad])
    assert.equal(r.code, 2)
    assert.equal(r.stdout.length, 0)
    const msg = r.stderr.join('\n')
    assert.match(msg, /^bbmesh community: KEY: /)
    assert.ok(!leaks(msg, text), msg)
  }
  const r = await run(['community', 'id', typo])
  assert.match(r.stderr.join('\n'), /checksum does not match/)
})

test('a key in the place of the subcommand is refused without being echoed', async () => {
  const text = generateCommunityKey().format()
  for (const argv of [['community', text], ['community'], ['community', 'id', text, text]]) {
    const r = await run(argv)
    assert.equal(r.code, 2, argv.join(' '))
    assert.ok(!leaks(r.stderr.join('\n'), text), r.stderr.join('\n'))
  }
})

test('community id without KEY lists the ids of the configured keys (flags, file) or says there are none', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'bbmesh-community-'))
  try {
    const a = generateCommunityKey(); const b = generateCommunityKey()
    let r = await run(['community', 'id', '--data-dir', dir, '--community', a.format(), '--community', `${b.format()},${a.format()}`])
    assert.equal(r.code, 0)
    assert.deepEqual(r.stdout, [a.id, b.id])

    writeFileSync(join(dir, 'config.json'), JSON.stringify({ community: [b.format()] }))
    r = await run(['community', 'id', '--data-dir', dir])
    assert.deepEqual(r.stdout, [b.id])

    const typo = b.format().slice(0, -1) + (b.format().endsWith('0') ? '1' : '0')
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ community: [typo] }))
    r = await run(['community', 'id', '--data-dir', dir])
    assert.equal(r.code, 2)
    const msg = r.stderr.join('\n')
    assert.ok(msg.includes(`community from ${join(dir, 'config.json')}`), msg)
    assert.ok(!leaks(msg, b.format()), msg)

    rmSync(join(dir, 'config.json'))
    r = await run(['community', 'id', '--data-dir', dir])
    assert.equal(r.code, 2)
    assert.match(r.stderr.join('\n'), /no community key/)
  } finally { rmSync(dir, { recursive: true, force: true }) }
})

test('spawned: community new writes only the key line to stdout', async () => {
  const r = await runCli(['community', 'new'])
  assert.equal(r.code, 0)
  assert.equal(r.lines.length, 1)
  const ck = parseCommunityKey(r.lines[0])
  assert.ok(r.stderr.includes(ck.id))
  assert.ok(!leaks(r.stderr, r.lines[0]))
  const id = await runCli(['community', 'id'], { env: { BBMESH_COMMUNITY: r.lines[0], BBMESH_DATA_DIR: tmpdir() + '/bbmesh-nonexistent-dir' } })
  assert.equal(id.code, 0)
  assert.deepEqual(id.lines, [ck.id])
})
