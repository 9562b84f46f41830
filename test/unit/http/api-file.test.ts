// api.json: written atomically with mode 0600 while the API listens, removed on close, and
// read as "no node" when missing, stale, corrupt or oversized; the CLI client on top of it.

import { test, type TestContext } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, mkdirSync, rmSync, writeFileSync, readFileSync, existsSync, statSync, readdirSync } from 'node:fs'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ApiServer } from '../../../src/http/server.js'
import { API_FILE, ApiFile, readApiAddress } from '../../../src/http/api-file.js'
import { apiGet, ApiHttpError, NoNodeError } from '../../../src/http/client.js'
import { NetworkError, TimeoutError } from '../../../src/core/errors.js'
import { fakeBackend, HIT } from './helpers.js'

function tempDir (t: TestContext): string {
  const d = mkdtempSync(join(tmpdir(), 'bbmesh-api-'))
  t.after(() => rmSync(d, { recursive: true, force: true }))
  return d
}

/** A pid that is not running: far above any pid_max. */
const DEAD_PID = 2 ** 22 + 12345

test('api.json: written on start (mode 0600, no temp file left), read back, removed on close', async (t) => {
  const dir = tempDir(t)
  const server = new ApiServer(fakeBackend().backend, { dataDir: dir })
  t.after(async () => { await server.close() })
  const { host, port } = await server.start()
  const path = join(dir, API_FILE)
  assert.equal(statSync(path).mode & 0o777, 0o600)
  assert.deepEqual(readdirSync(dir), [API_FILE])
  const onDisk = JSON.parse(readFileSync(path, 'utf8'))
  assert.deepEqual(Object.keys(onDisk).sort(), ['host', 'pid', 'port', 'started'])
  assert.equal(onDisk.host, '127.0.0.1')
  assert.equal(host, '127.0.0.1')
  assert.ok(!Number.isNaN(Date.parse(onDisk.started)))
  assert.deepEqual(readApiAddress(dir), { host, port, pid: process.pid, started: onDisk.started })
  await server.close()
  assert.equal(existsSync(path), false)
  assert.equal(readApiAddress(dir), null)
})

test('a missing, stale, corrupt, oversized or ill-typed api.json reads as no node', (t) => {
  const dir = tempDir(t)
  const path = join(dir, API_FILE)
  assert.equal(readApiAddress(dir), null)
  assert.equal(readApiAddress(join(dir, 'nonexistent')), null)
  const good = { host: '127.0.0.1', port: 4000, pid: process.pid, started: '2024-01-01T00:00:00.000Z' }
  writeFileSync(path, JSON.stringify(good))
  assert.deepEqual(readApiAddress(dir), good)
  const bad: unknown[] = [
    { ...good, pid: DEAD_PID },
    { ...good, port: 0 }, { ...good, port: 70000 }, { ...good, port: '4000' }, { ...good, port: 1.5 },
    { ...good, host: '' }, { ...good, host: 5 }, { ...good, pid: -1 }, { ...good, pid: 'me' },
    [good], null, 42,
  ]
  for (const b of bad) {
    writeFileSync(path, JSON.stringify(b))
    assert.equal(readApiAddress(dir), null, JSON.stringify(b))
  }
  writeFileSync(path, '{ "host": "127.0.0.1", "po')
  assert.equal(readApiAddress(dir), null)
  writeFileSync(path, JSON.stringify({ ...good, pad: 'x'.repeat(70 * 1024) }))
  assert.equal(readApiAddress(dir), null)
  rmSync(path)
  // A directory named api.json is not the file.
  mkdirSync(path)
  assert.equal(readApiAddress(dir), null)
})

test('start refuses a data directory another live node serves; a stale api.json is replaced', async (t) => {
  const dir = tempDir(t)
  const path = join(dir, API_FILE)
  // The test runner that started us is alive: its pid stands for "another node".
  writeFileSync(path, JSON.stringify({ host: '127.0.0.1', port: 4001, pid: process.ppid, started: 'x' }))
  const s1 = new ApiServer(fakeBackend().backend, { dataDir: dir })
  await assert.rejects(s1.start(), (e: Error) => e instanceof NetworkError && e.message.includes(`pid ${process.ppid}`) && e.message.includes(':4001'))
  await s1.close()
  assert.equal(JSON.parse(readFileSync(path, 'utf8')).pid, process.ppid, 'left alone')
  writeFileSync(path, JSON.stringify({ host: '127.0.0.1', port: 4001, pid: DEAD_PID, started: 'x' }))
  const s2 = new ApiServer(fakeBackend().backend, { dataDir: dir })
  t.after(async () => { await s2.close() })
  const { port } = await s2.start()
  assert.equal(readApiAddress(dir)?.port, port)
})

test('close removes api.json only while it is still ours', (t) => {
  const dir = tempDir(t)
  const f = new ApiFile(dir)
  f.write({ host: '127.0.0.1', port: 5000 })
  const replaced = { host: '127.0.0.1', port: 5001, pid: process.pid, started: 'later' }
  writeFileSync(join(dir, API_FILE), JSON.stringify(replaced))
  f.remove()
  assert.deepEqual(readApiAddress(dir), replaced)
  f.remove()
})

test('apiGet: JSON from the node on the data directory; typed errors otherwise', async (t) => {
  const dir = tempDir(t)
  let hang = false
  const { backend } = fakeBackend({ stats: async () => hang ? await new Promise(() => {}) : { torrents: 3 } })
  const server = new ApiServer(backend, { dataDir: dir })
  t.after(async () => { await server.close() })
  await server.start()
  assert.deepEqual(await apiGet(dir, '/api/stats'), { torrents: 3 })
  assert.deepEqual(await apiGet(dir, `/api/search?q=${encodeURIComponent('bbmesh fixture')}`), { hits: [HIT], next: 'page2' })
  await assert.rejects(apiGet(dir, '/api/search?q=x&limit=0'), (e: Error) => e instanceof ApiHttpError && e.status === 400 && e.serverCode === 'ERR_USAGE' && /^limit:/.test(e.message))
  await assert.rejects(apiGet(dir, '/api/nope'), (e: Error) => e instanceof ApiHttpError && e.status === 404)
  await assert.rejects(apiGet(dir, '/api/search?q=x&network=1'), (e: Error) => e instanceof ApiHttpError && e.status === 503 && /cooperative/.test(e.message))
  hang = true
  await assert.rejects(apiGet(dir, '/api/stats', { timeoutMs: 200 }), TimeoutError)
  await server.close()
  const empty = tempDir(t)
  await assert.rejects(apiGet(empty, '/api/stats'), (e: Error) => e instanceof NoNodeError && e.message === `no bbmesh node is running on ${empty}: start \`bbmesh harvest\` or \`bbmesh serve\``)
  await assert.rejects(apiGet(dir, '/api/stats'), NoNodeError)
})

test('apiGet: an api.json of a live process that does not listen is a NetworkError, not a hang', async (t) => {
  const dir = tempDir(t)
  // A port nothing listens on: bind one, note it, free it.
  const probe = createServer()
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve))
  const port = (probe.address() as AddressInfo).port
  await new Promise((resolve) => probe.close(resolve))
  writeFileSync(join(dir, API_FILE), JSON.stringify({ host: '0.0.0.0', port, pid: process.pid, started: 'x' }))
  await assert.rejects(apiGet(dir, '/api/stats', { timeoutMs: 10_000 }), (e: Error) => e instanceof NetworkError && e.message.includes(`http://127.0.0.1:${port}`))
})

test('when api.json cannot be written, start fails and frees the port', async (t) => {
  const dir = tempDir(t)
  const notADir = join(dir, 'file')
  writeFileSync(notADir, '')
  const server = new ApiServer(fakeBackend().backend, { dataDir: notADir })
  await assert.rejects(server.start(), (e: Error) => e instanceof NetworkError && e.message.includes('cannot record the API address'))
  await server.close()
  await server.close()
})
