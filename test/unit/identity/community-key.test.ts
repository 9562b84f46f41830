import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { inspect } from 'node:util'
import { Writable } from 'node:stream'
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pino } from 'pino'
import {
  CommunityKey, generateCommunityKey, formatCommunityKey, parseCommunityKey, parseCommunityKeys, communityId,
} from '../../../src/identity/community-key.js'
import { ConfigError } from '../../../src/core/errors.js'
import { loadConfig } from '../../../src/config/load.js'
import { parse } from '../../../src/cli/args.js'
import { REDACT_PATHS } from '../../../src/core/logger.js'
import { leaks } from './leaks.js'

const KEY = Buffer.from(Array.from({ length: 32 }, (_, i) => i))
const TEXT = 'bbmesh-community:000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f630dcd29'

function tmp (): string { return mkdtempSync(join(tmpdir(), 'bbmesh-community-')) }

test('text form: prefix, hex key, first 4 bytes of SHA-256(key) (known answer)', () => {
  const sum = createHash('sha256').update(KEY).digest().subarray(0, 4).toString('hex')
  assert.equal(formatCommunityKey(KEY), 'bbmesh-community:' + KEY.toString('hex') + sum)
  assert.equal(formatCommunityKey(KEY), TEXT)
})

test('public id: first 8 bytes of SHA-256("bbmesh-community-id-v1" ‖ key) (known answer)', () => {
  const want = createHash('sha256').update(Buffer.concat([Buffer.from('bbmesh-community-id-v1', 'ascii'), KEY])).digest().subarray(0, 8).toString('hex')
  assert.equal(communityId(KEY), want)
  assert.equal(want, 'd6129fbcdfe2310b')
  assert.equal(parseCommunityKey(TEXT).id, want)
})

test('generate, format and parse round-trip; two new keys differ', () => {
  const a = generateCommunityKey()
  const b = generateCommunityKey()
  assert.notEqual(a.format(), b.format())
  assert.notEqual(a.id, b.id)
  const a2 = parseCommunityKey(a.format())
  assert.ok(a2.equals(a))
  assert.ok(!a2.equals(b))
  assert.deepEqual(a2.key, a.key)
  assert.equal(a2.key.length, 32)
  assert.match(a.format(), /^bbmesh-community:[0-9a-f]{72}$/)
  assert.match(a.id, /^[0-9a-f]{16}$/)
})

test('parse trims whitespace and ignores case', () => {
  assert.deepEqual(parseCommunityKey(`  ${TEXT.toUpperCase()}\n`).key, KEY)
})

test('the key bytes are a copy: changing them does not change the key', () => {
  const ck = parseCommunityKey(TEXT)
  const k = ck.key
  k.fill(0xff)
  assert.deepEqual(ck.key, KEY)
  const src = Buffer.from(KEY)
  const ck2 = new CommunityKey(src)
  src.fill(0)
  assert.deepEqual(ck2.key, KEY)
})

test('every single-digit typo and every swap of two neighbours is caught', () => {
  const start = 'bbmesh-community:'.length
  for (let i = start; i < TEXT.length; i++) {
    for (const c of '0123456789abcdef') {
      if (c === TEXT[i]) continue
      const typo = TEXT.slice(0, i) + c + TEXT.slice(i + 1)
      assert.throws(() => parseCommunityKey(typo), (e: Error) => e instanceof ConfigError && /checksum does not match/.test(e.message) && !leaks(e.message, TEXT), `typo at ${i}`)
    }
    if (i + 1 < TEXT.length && TEXT[i] !== TEXT[i + 1]) {
      const swap = TEXT.slice(0, i) + TEXT[i + 1] + TEXT[i] + TEXT.slice(i + 2)
      assert.throws(() => parseCommunityKey(swap), ConfigError, `swap at ${i}`)
    }
  }
})

test('malformed keys are clear ConfigErrors that never echo the key', () => {
  const cases: Array<[string, RegExp]> = [
    ['', /is empty/],
    ['   ', /is empty/],
    [KEY.toString('hex'), /must start with "bbmesh-community:"/],
    ['bbc1' + TEXT.slice(17), /must start with "bbmesh-community:"/],
    [TEXT.slice(0, -1), /has 71 hex digits.*expected 72/],
    [TEXT + TEXT.slice(17), /has 144 hex digits/],
    [TEXT.slice(0, 40) + 'g' + TEXT.slice(41), /character 41 is not a hex digit/],
    [TEXT.slice(0, 40) + ' ' + TEXT.slice(41), /character 41 is not a hex digit/],
    [TEXT + ',' + TEXT, /not a hex digit/],
    [TEXT.repeat(10), /characters long/],
  ]
  for (const [text, re] of cases) {
    assert.throws(() => parseCommunityKey(text, 'community from --community'), (e: Error) => {
      assert.ok(e instanceof ConfigError, `${e.name}: ${e.message}`)
      assert.match(e.message, /^community from --community: /)
      assert.match(e.message, re)
      assert.ok(!leaks(e.message, TEXT), `leaks the key: ${e.message}`)
      assert.equal(e.cause, undefined)
      return true
    })
  }
})

test('a CommunityKey shows only its id: inspect, JSON, String, template', () => {
  const ck = parseCommunityKey(TEXT)
  const shown = [
    inspect(ck), inspect({ nested: { ck } }, { depth: 10, showHidden: true }), JSON.stringify(ck), JSON.stringify({ keys: [ck] }),
    String(ck), `${ck}`, Object.keys(ck).join(','), JSON.stringify({ ...ck }),
  ]
  for (const s of shown) {
    assert.ok(!leaks(s, TEXT), `leaks: ${s}`)
    assert.ok(s.includes(ck.id) || s === 'id' || s === JSON.stringify({ id: ck.id }), `no id in ${s}`)
  }
  assert.deepEqual(JSON.parse(JSON.stringify(ck)), { id: 'd6129fbcdfe2310b' })
})

test('logs redact config.community and show a CommunityKey as its id', () => {
  const lines: string[] = []
  const sink = new Writable({ write (chunk: Buffer, _enc, cb) { lines.push(chunk.toString()); cb() } })
  const log = pino({ redact: { paths: REDACT_PATHS, censor: '[redacted]' }, base: undefined }, sink)
  const ck = parseCommunityKey(TEXT)
  log.info({ community: [TEXT] }, 'top')
  log.info({ config: { community: [TEXT], dhtPort: 1 } }, 'nested')
  log.info({ key: ck }, 'object')
  const all = lines.join('')
  assert.equal(lines.length, 3)
  assert.ok(!leaks(all, TEXT), all)
  assert.ok(all.includes(ck.id))
  assert.ok(all.includes('"dhtPort":1'))
})

test('--community is repeatable, each one key or a comma-separated list', () => {
  const a = generateCommunityKey().format()
  const b = generateCommunityKey().format()
  const c = generateCommunityKey().format()
  const dir = tmp()
  try {
    const p = parse(['--community', a, '--community', `${b}, ${c}`, '--data-dir', dir], {}, ['community', 'dataDir'])
    const loaded = loadConfig(p.configFlags, {})
    assert.deepEqual(loaded.config.community, [a, b, c])
    assert.equal(loaded.sources.community, 'flag')
    assert.deepEqual(parseCommunityKeys(loaded).map((k) => k.format()), [a, b, c])
    // the other list flags keep their meaning
    const q = parse(['--bootstrap', '127.0.0.1:1,127.0.0.1:2'], {}, ['bootstrap'])
    assert.equal(q.configFlags.bootstrap, '127.0.0.1:1,127.0.0.1:2')
  } finally { rmSync(dir, { recursive: true, force: true }) }
})

test('parseCommunityKeys: none by default, duplicates dropped', () => {
  const dir = tmp()
  try {
    assert.deepEqual(parseCommunityKeys(loadConfig({ dataDir: dir }, {})), [])
    const keys = parseCommunityKeys(loadConfig({ dataDir: dir }, { BBMESH_COMMUNITY: `${TEXT},${TEXT.toUpperCase()}` }))
    assert.equal(keys.length, 1)
    assert.equal(keys[0].id, 'd6129fbcdfe2310b')
  } finally { rmSync(dir, { recursive: true, force: true }) }
})

test('a bad configured key is refused naming its source (flag, env, file) but not the key', () => {
  const dir = tmp()
  const typo = TEXT.slice(0, 30) + (TEXT[30] === '0' ? '1' : '0') + TEXT.slice(31)
  const good = generateCommunityKey().format()
  const check = (loaded: ReturnType<typeof loadConfig>, source: RegExp): void => {
    assert.throws(() => parseCommunityKeys(loaded), (e: Error) => {
      assert.ok(e instanceof ConfigError, `${e.name}: ${e.message}`)
      assert.match(e.message, source)
      assert.match(e.message, /checksum does not match/)
      assert.ok(!leaks(e.message, TEXT), e.message)
      assert.ok(!leaks(e.message, good), e.message)
      return true
    })
  }
  try {
    check(loadConfig({ dataDir: dir, community: typo }, {}), /^community from --community: /)
    check(loadConfig({ dataDir: dir, community: `${good},${typo}` }, {}), /^community from --community, key 2 of 2: /)
    check(loadConfig({ dataDir: dir }, { BBMESH_COMMUNITY: typo }), /^community from BBMESH_COMMUNITY: /)
    const file = join(dir, 'config.json')
    writeFileSync(file, JSON.stringify({ community: [good, typo] }))
    const fromFile = loadConfig({ dataDir: dir }, {})
    assert.equal(fromFile.sources.community, 'file')
    check(fromFile, new RegExp(`^community from ${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}, key 2 of 2: `))
    const other = join(dir, 'other.json')
    writeFileSync(other, JSON.stringify({ community: [typo] }))
    check(loadConfig({ dataDir: dir }, { BBMESH_CONFIG: other }), /^community from .*other\.json: /)
    // a list of non-strings in the file is refused by loadConfig itself
    writeFileSync(file, JSON.stringify({ community: [1] }))
    assert.throws(() => loadConfig({ dataDir: dir }, {}), (e: Error) => e instanceof ConfigError && /^community from /.test(e.message))
  } finally { rmSync(dir, { recursive: true, force: true }) }
})
