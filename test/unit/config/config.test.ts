import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, writeFileSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { loadConfig } from '../../../src/config/load.js'
import { CONFIG_SPEC } from '../../../src/config/defaults.js'
import { ConfigError } from '../../../src/core/errors.js'

test('flags win over env, env over file, file over defaults', () => {
  const dir = mkdtempSync(join(tmpdir(), 'bbmesh-cfg-'))
  try {
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ dhtPort: 7000, krpcRate: 10, fetchConcurrency: 5 }))
    const { config, sources } = loadConfig({ dataDir: dir, dhtPort: '9000' }, { BBMESH_KRPC_RATE: '20' })
    assert.equal(config.dhtPort, 9000); assert.equal(sources.dhtPort, 'flag')
    assert.equal(config.krpcRate, 20); assert.equal(sources.krpcRate, 'env')
    assert.equal(config.fetchConcurrency, 5); assert.equal(sources.fetchConcurrency, 'file')
    assert.equal(sources.perIpRate, 'default')
    assert.ok(Object.isFrozen(config))
  } finally { rmSync(dir, { recursive: true, force: true }) }
})

test('bad values name the key and the source', () => {
  assert.throws(() => loadConfig({ dhtPort: '70000' }, {}), (e: Error) => e instanceof ConfigError && /dhtPort from --dht-port/.test(e.message))
  assert.throws(() => loadConfig({}, { BBMESH_PROGRESS: 'loud' }), (e: Error) => e instanceof ConfigError && /BBMESH_PROGRESS/.test(e.message))
  assert.throws(() => loadConfig({ krpcRate: 'many' }, {}), ConfigError)
})

test('a config file with an unknown key or bad JSON is refused clearly', () => {
  const dir = mkdtempSync(join(tmpdir(), 'bbmesh-cfg-'))
  try {
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ dhtPrt: 1 }))
    assert.throws(() => loadConfig({ dataDir: dir }, {}), /unknown key "dhtPrt"/)
    writeFileSync(join(dir, 'config.json'), '{ not json')
    assert.throws(() => loadConfig({ dataDir: dir }, {}), /cannot read config file/)
  } finally { rmSync(dir, { recursive: true, force: true }) }
})

test('lists split on commas', () => {
  const { config } = loadConfig({ bootstrap: '127.0.0.1:1, 127.0.0.2:2' }, {})
  assert.deepEqual(config.bootstrap, ['127.0.0.1:1', '127.0.0.2:2'])
})

test('docs/config.md documents every key, flag and environment variable', () => {
  const doc = readFileSync(new URL('../../../../docs/config.md', import.meta.url), 'utf8')
  for (const [k, s] of Object.entries(CONFIG_SPEC)) {
    assert.ok(doc.includes(`\`--${s.flag}\``), `flag --${s.flag} missing`)
    assert.ok(doc.includes(`\`${s.env}\``), `env ${s.env} missing`)
    assert.ok(doc.includes(`\`${k}\``), `key ${k} missing`)
  }
})
