import { test } from 'node:test'
import assert from 'node:assert/strict'
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { main } from '../../../src/cli/main.js'
import type { Output } from '../../../src/cli/output.js'
import { loadPublisherKey, publisherKeyPath, readPublisherKeyInfo } from '../../../src/identity/publisher-key.js'
import { KeyError } from '../../../src/core/errors.js'
import { runCli } from '../../helpers/cli.js'

function capture (): Output & { stdout: string[], stderr: string[] } {
  const stdout: string[] = []; const stderr: string[] = []
  return { stdout, stderr, out: (l) => stdout.push(l), err: (l) => stderr.push(l), isTTY: false }
}

/** Run in-process with BBMESH_CONFIG / BBMESH_DATA_DIR unset, so the caller's environment cannot change a test. */
async function run (argv: string[], env: Record<string, string> = {}): Promise<{ code: number, stdout: string[], stderr: string[], all: string }> {
  const saved = { f: process.env.BBMESH_CONFIG, d: process.env.BBMESH_DATA_DIR }
  delete process.env.BBMESH_CONFIG; delete process.env.BBMESH_DATA_DIR
  for (const [k, v] of Object.entries(env)) process.env[k] = v
  try {
    const o = capture()
    const code = await main(argv, o)
    return { code, stdout: o.stdout, stderr: o.stderr, all: [...o.stdout, ...o.stderr].join('\n') }
  } finally {
    for (const k of Object.keys(env)) delete process.env[k]
    if (saved.f !== undefined) process.env.BBMESH_CONFIG = saved.f
    if (saved.d !== undefined) process.env.BBMESH_DATA_DIR = saved.d
  }
}

function tmp (): string { return mkdtempSync(join(tmpdir(), 'bbmesh-keygen-')) }

function seedOf (dir: string): string { return JSON.parse(readFileSync(publisherKeyPath(dir), 'utf8')).seed }

const HEX64 = /^[0-9a-f]{64}$/

/** The public key and magnet from the text output. */
function shown (lines: string[]): { publicKey: string, magnet: string } {
  const pk = lines.find((l) => l.startsWith('public key  '))?.slice(12)
  const magnet = lines.find((l) => l.startsWith('magnet      '))?.slice(12)
  assert.ok(pk !== undefined && magnet !== undefined, lines.join('\n'))
  return { publicKey: pk, magnet }
}

test('spawned: keygen, then key show; file 0600 in a 0700 directory; the private key is never printed', async (t) => {
  const root = tmp()
  t.after(() => rmSync(root, { recursive: true, force: true }))
  const dir = join(root, 'data')
  const gen = await runCli(['keygen', '--data-dir', dir])
  assert.equal(gen.code, 0, gen.stderr)
  assert.equal(gen.lines.length, 2, gen.stdout)
  const { publicKey, magnet } = shown(gen.lines)
  assert.match(publicKey, HEX64)
  assert.equal(magnet, `magnet:?xs=urn:btpk:${publicKey}`)
  assert.match(gen.stderr, /NOT encrypted/)
  assert.ok(gen.stderr.includes(publisherKeyPath(dir)))
  assert.equal(statSync(publisherKeyPath(dir)).mode & 0o777, 0o600)
  assert.equal(statSync(dir).mode & 0o777, 0o700)
  const seed = seedOf(dir)
  assert.equal(loadPublisherKey(dir).publicKeyHex, publicKey)

  const show = await runCli(['key', 'show'], { env: { BBMESH_DATA_DIR: dir } })
  assert.equal(show.code, 0, show.stderr)
  assert.deepEqual(shown(show.lines), { publicKey, magnet })
  assert.ok(show.stdout.includes('(not encrypted)'))

  const json = await runCli(['key', 'show', '--json', '--salt', 'n', '--data-dir', dir])
  assert.equal(json.code, 0, json.stderr)
  assert.deepEqual(json.json, [{
    public_key: publicKey,
    magnet: `magnet:?xs=urn:btpk:${publicKey}&s=6e`,
    salt_hex: '6e',
    dht_target: json.json[0].dht_target,
    path: publisherKeyPath(dir),
    encrypted: false,
  }])
  assert.match(String(json.json[0].dht_target), /^[0-9a-f]{40}$/)

  for (const r of [gen, show, json]) {
    for (let i = 0; i + 8 <= 64; i++) assert.ok(!(r.stdout + r.stderr).includes(seed.slice(i, i + 8)), 'the seed leaked')
  }
})

test('spawned: --force replaces a key; without it keygen refuses (exit 1) and leaves the file alone', async (t) => {
  const dir = tmp()
  t.after(() => rmSync(dir, { recursive: true, force: true }))
  const first = await runCli(['keygen', '--data-dir', dir])
  assert.equal(first.code, 0, first.stderr)
  const before = readFileSync(publisherKeyPath(dir))
  const again = await runCli(['keygen', '--data-dir', dir])
  assert.equal(again.code, 1)
  assert.equal(again.stdout, '')
  assert.match(again.stderr, /^bbmesh keygen: .*already holds a publisher key; it is not replaced without --force/m)
  assert.deepEqual(readFileSync(publisherKeyPath(dir)), before)
  const forced = await runCli(['keygen', '--force', '--data-dir', dir])
  assert.equal(forced.code, 0, forced.stderr)
  const a = shown(first.lines).publicKey
  const b = shown(forced.lines).publicKey
  assert.notEqual(a, b)
  assert.ok(forced.stderr.includes(`It replaces the publisher key ${a}`), forced.stderr)
  assert.equal(readPublisherKeyInfo(dir).publicKeyHex, b)
  assert.equal(statSync(publisherKeyPath(dir)).mode & 0o777, 0o600)
})

test('spawned: a passphrase from an environment variable seals the key; key show needs none', async (t) => {
  const dir = tmp()
  t.after(() => rmSync(dir, { recursive: true, force: true }))
  const pass = 'tr0ub4dor & 3, not on argv'
  const gen = await runCli(['keygen', '--passphrase-env', 'BB_TEST_PASSPHRASE', '--json'], { env: { BB_TEST_PASSPHRASE: pass, BBMESH_DATA_DIR: dir } })
  assert.equal(gen.code, 0, gen.stderr)
  assert.equal(gen.json.length, 1)
  const { public_key: publicKey, encrypted, magnet } = gen.json[0]
  assert.match(String(publicKey), HEX64)
  assert.equal(encrypted, true)
  assert.equal(magnet, `magnet:?xs=urn:btpk:${String(publicKey)}`)
  assert.match(gen.stderr, /sealed with your passphrase: scrypt N=2\^17 r=8 p=1, AES-256-GCM/)
  assert.ok(!(gen.stdout + gen.stderr).includes(pass))
  const file = JSON.parse(readFileSync(publisherKeyPath(dir), 'utf8'))
  assert.equal(file.seed, undefined)
  assert.equal(file.encrypted.kdf, 'scrypt')

  const show = await runCli(['key', 'show', '--data-dir', dir])
  assert.equal(show.code, 0, show.stderr)
  assert.equal(shown(show.lines).publicKey, publicKey)
  assert.ok(show.stdout.includes('(encrypted with a passphrase)'))

  assert.equal(loadPublisherKey(dir, { passphrase: pass }).publicKeyHex, publicKey)
  assert.throws(() => loadPublisherKey(dir, { passphrase: pass + ' ' }), (e: Error) => e instanceof KeyError && e.reason === 'passphrase-wrong')
  assert.throws(() => loadPublisherKey(dir), (e: Error) => e instanceof KeyError && e.reason === 'passphrase-required')
})

test('--passphrase-file: its first line is the passphrase (LF or CRLF end not included)', async (t) => {
  const dir = tmp()
  t.after(() => rmSync(dir, { recursive: true, force: true }))
  const pf = join(dir, 'pass.txt')
  writeFileSync(pf, 'line one\r\nline two\n', { mode: 0o600 })
  const data = join(dir, 'data')
  const r = await run(['keygen', '--data-dir', data, '--passphrase-file', pf])
  assert.equal(r.code, 0, r.all)
  assert.ok(!r.all.includes('line one'))
  assert.equal(loadPublisherKey(data, { passphrase: 'line one' }).publicKeyHex, shown(r.stdout).publicKey)
  writeFileSync(pf, 'no newline')
  const r2 = await run(['keygen', '--data-dir', data, '--passphrase-file', pf, '--force'])
  assert.equal(r2.code, 0, r2.all)
  assert.equal(loadPublisherKey(data, { passphrase: 'no newline' }).publicKeyHex, shown(r2.stdout).publicKey)
})

test('usage errors exit 2 and never echo what might be a passphrase; nothing is written', async (t) => {
  const dir = tmp()
  t.after(() => rmSync(dir, { recursive: true, force: true }))
  const data = join(dir, 'data')
  const secret = 'hunter2-secret-words'
  const empty = join(dir, 'empty.txt')
  writeFileSync(empty, '\nsecond line')
  const big = join(dir, 'big.txt')
  writeFileSync(big, Buffer.alloc(64 * 1024 + 1, 0x61))
  const cases: Array<[string[], RegExp, Record<string, string>?]> = [
    [['keygen', secret], /takes no arguments/],
    [['keygen', `--passphrase=${secret}`], /Unknown option '--passphrase'/],
    [['keygen', '--passphrase', secret], /Unknown option '--passphrase'/],
    [['keygen', '--passphrase-env', 'BB_TEST_UNSET_VARIABLE'], /BB_TEST_UNSET_VARIABLE is not set or empty/],
    [['keygen', '--passphrase-env', 'BB_TEST_EMPTY'], /BB_TEST_EMPTY is not set or empty/, { BB_TEST_EMPTY: '' }],
    [['keygen', '--passphrase-env', secret.replace(/-/g, ' ')], /the name of an environment variable/],
    [['keygen', '--passphrase-file', join(dir, 'missing.txt')], /cannot read it \(ENOENT\)/],
    [['keygen', '--passphrase-file', empty], /the first line is empty/],
    [['keygen', '--passphrase-file', big], /larger than 65536 bytes/],
    [['keygen', '--passphrase-file', empty, '--passphrase-env', 'HOME'], /not both/],
    [['keygen', '--passphrase-env', 'BB_TEST_LONG'], /longer than 1024 bytes/, { BB_TEST_LONG: 'x'.repeat(1025) }],
    [['key'], /expected `bbmesh key show/],
    [['key', secret], /expected `bbmesh key show/],
    [['key', 'show', secret], /takes no arguments/],
    [['key', 'show', '--salt', ''], /--salt is empty/],
    [['key', 'show', '--salt', 'x'.repeat(65)], /--salt is 65 bytes; a BEP-44 salt is at most 64/],
    [['key', 'show', '--bogus'], /--bogus/],
  ]
  for (const [argv, pattern, env] of cases) {
    const r = await run([...argv, '--data-dir', data], env)
    assert.equal(r.code, 2, `${argv.join(' ')}: ${r.all}`)
    assert.equal(r.stdout.length, 0)
    assert.match(r.all, pattern)
    assert.match(r.all, /Run `bbmesh (keygen|key) --help` for usage/)
    assert.ok(!r.all.includes(secret) && !r.all.includes(secret.replace(/-/g, ' ')), `echoed: ${r.all}`)
    assert.throws(() => statSync(data), /ENOENT/, 'nothing was written')
  }
})

test('key errors exit 1: no key, a key readable by others, a damaged key', async (t) => {
  const dir = tmp()
  t.after(() => rmSync(dir, { recursive: true, force: true }))
  let r = await run(['key', 'show', '--data-dir', dir])
  assert.equal(r.code, 1)
  assert.match(r.all, /^bbmesh key: no publisher key at .*make one with `bbmesh keygen`/)
  r = await run(['keygen', '--data-dir', dir])
  assert.equal(r.code, 0)
  const seed = seedOf(dir)
  const path = publisherKeyPath(dir)
  chmodSync(path, 0o644)
  r = await run(['key', 'show', '--data-dir', dir])
  assert.equal(r.code, 1)
  assert.ok(r.all.includes(`permissions 0644 for ${path} are too open`), r.all)
  assert.ok(r.all.includes(`chmod 600 ${path}`), r.all)
  // keygen --force replaces even an unusable key, and says nothing of the old one it could not read.
  r = await run(['keygen', '--force', '--data-dir', dir])
  assert.equal(r.code, 0, r.all)
  assert.ok(!r.all.includes('It replaces'), r.all)
  writeFileSync(path, readFileSync(path).subarray(0, 100))
  r = await run(['key', 'show', '--json', '--data-dir', dir])
  assert.equal(r.code, 1)
  assert.match(r.all, /not a valid publisher key file: it does not parse/)
  assert.ok(!r.all.includes(seed.slice(0, 8)))
})

test('keygen and key show find the data directory in a config file too', async (t) => {
  const dir = tmp()
  t.after(() => rmSync(dir, { recursive: true, force: true }))
  const data = join(dir, 'from-config')
  const cfg = join(dir, 'config.json')
  writeFileSync(cfg, JSON.stringify({ dataDir: data }))
  const gen = await run(['keygen', '--config', cfg])
  assert.equal(gen.code, 0, gen.all)
  const show = await run(['key', 'show', '--json'], { BBMESH_CONFIG: cfg })
  assert.equal(show.code, 0, show.all)
  const o = JSON.parse(show.stdout[0])
  assert.equal(o.public_key, shown(gen.stdout).publicKey)
  assert.equal(o.path, publisherKeyPath(data))
})
