// `bbmesh serve` as a user runs it: over a data directory holding imported torrents, the HTTP
// API finds them (through api.json, as the CLI client does); SIGTERM exits 0 and removes
// api.json; two serve processes on two data directories run side by side.

import { test, type TestContext } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, existsSync } from 'node:fs'
import { request } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { spawnCli, runCli, killAll, type CliProcess } from '../helpers/cli.js'
import { fixturePath } from '../helpers/krpc.js'
import { apiGet, ApiHttpError, NoNodeError } from '../../src/http/client.js'
import { API_FILE, readApiAddress } from '../../src/http/api-file.js'
import type { SearchPage } from '../../src/search/types.js'

const V1 = '8b87bf956697ac403a7681af5cc96a1fe6ccbf49'
const V2 = 'a5e9c72a07a5a3c263e8c94f3c76197715547b5ac640ed36e1ad38c46302153b'
const HYBRID_V1 = '8ca30f959863f09c9bd67cad988f7e9f48aca34f'

function tempDir (t: TestContext, label: string): string {
  const d = mkdtempSync(join(tmpdir(), `bbmesh-it-${label}-`))
  t.after(() => rmSync(d, { recursive: true, force: true }))
  return d
}

async function importInto (dir: string, ...files: string[]): Promise<void> {
  const r = await runCli(['import', ...files.map((f) => fixturePath('torrents', f)), '--data-dir', dir, '--json'])
  assert.equal(r.code, 0, r.stderr)
  assert.equal(r.json[0]?.imported, files.length, r.stdout)
}

async function serve (t: TestContext, dir: string): Promise<{ proc: CliProcess, url: string, port: number }> {
  const proc = spawnCli(['serve', '--data-dir', dir, '--json', '--log-level', 'warn'], { t })
  const o = await proc.waitForJson('the API address', (x) => typeof x.url === 'string')
  return { proc, url: o.url as string, port: o.port as number }
}

/** One GET on its own connection, status and parsed body. */
async function httpGet (url: string): Promise<{ status: number, body: any }> {
  return await new Promise((resolve, reject) => {
    const req = request(url, { agent: false }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(Buffer.concat(chunks).toString('utf8')) }))
      res.on('error', reject)
    })
    req.on('error', reject)
    req.end()
  })
}

test('bbmesh serve: the HTTP API finds imported torrents; SIGTERM exits 0 and removes api.json', { timeout: 120_000 }, async (t) => {
  t.after(killAll)
  const dir = tempDir(t, 'serve')
  await importInto(dir, 'lt-v1.torrent', 'lt-v2.torrent', 'lt-hybrid.torrent')
  const { proc, url, port } = await serve(t, dir)
  assert.equal(url, `http://127.0.0.1:${port}`)
  const addr = readApiAddress(dir)
  assert.equal(addr?.port, port)
  assert.equal(addr?.pid, proc.pid)

  const page = await apiGet(dir, `/api/search?q=${encodeURIComponent('bbmesh fixture')}`) as SearchPage
  assert.deepEqual(page.hits.map((h) => h.infohash).sort(), [V1, HYBRID_V1, V2.slice(0, 40)].sort())
  for (const h of page.hits) {
    assert.equal(h.name, 'bbmesh fixture')
    assert.equal(h.files >= 3, true)
    assert.equal(typeof h.score, 'number')
  }
  const one = await apiGet(dir, '/api/search?q=fixture&limit=1') as SearchPage
  assert.equal(one.hits.length, 1)
  assert.equal(typeof one.next, 'string')
  const rest = await apiGet(dir, `/api/search?q=fixture&limit=2&cursor=${encodeURIComponent(one.next as string)}`) as SearchPage
  assert.equal(rest.hits.length, 2)
  assert.ok(!rest.hits.some((h) => h.infohash === one.hits[0].infohash), 'the next page goes on')
  assert.deepEqual((await apiGet(dir, '/api/search?q=nothingmatchesthis') as SearchPage).hits, [])

  // Plain HTTP, as any client would.
  const lv1 = await httpGet(`${url}/api/lookup/${V1}`)
  assert.equal(lv1.status, 200)
  assert.equal(lv1.body.hits.length, 1)
  assert.equal(lv1.body.hits[0].name, 'bbmesh fixture')
  const lv2 = await httpGet(`${url}/api/lookup/${V2}`)
  assert.equal(lv2.body.hits[0].ih_v2, V2)
  assert.deepEqual((await httpGet(`${url}/api/lookup/${'0'.repeat(40)}`)).body, { hits: [] })
  const stats = await apiGet(dir, '/api/stats') as Record<string, unknown>
  assert.equal(stats.torrents, 3)
  assert.equal(stats.running, false)
  assert.deepEqual(await apiGet(dir, '/api/members'), { members: [] })
  assert.deepEqual(await apiGet(dir, '/api/catalogs'), { catalogs: [] })

  await assert.rejects(apiGet(dir, '/api/search?q=fixture&network=1'), (e: Error) => e instanceof ApiHttpError && e.status === 503 && e.serverCode === 'ERR_NO_COOPERATIVE')
  await assert.rejects(apiGet(dir, '/api/search?q=%22*%28%29'), (e: Error) => e instanceof ApiHttpError && e.status === 400)

  // A second serve on the same data directory is refused; the first keeps serving.
  const twice = await runCli(['serve', '--data-dir', dir])
  assert.equal(twice.code, 1, twice.stderr)
  assert.match(twice.stderr, new RegExp(`another bbmesh node \\(pid ${proc.pid}\\)`))
  assert.equal(readApiAddress(dir)?.pid, proc.pid)

  proc.signal('SIGTERM')
  const exit = await proc.waitExit()
  assert.deepEqual(exit, { code: 0, signal: null }, proc.describe())
  assert.equal(existsSync(join(dir, API_FILE)), false)
  await assert.rejects(apiGet(dir, '/api/stats'), NoNodeError)
})

test('two serve processes on two data directories run side by side, each on its own index', { timeout: 120_000 }, async (t) => {
  t.after(killAll)
  const a = tempDir(t, 'serve-a')
  const b = tempDir(t, 'serve-b')
  await importInto(a, 'lt-v1.torrent')
  await importInto(b, 'lt-v2.torrent', 'lt-hybrid.torrent')
  const [sa, sb] = await Promise.all([serve(t, a), serve(t, b)])
  assert.notEqual(sa.port, sb.port)
  const ha = (await apiGet(a, '/api/search?q=fixture') as SearchPage).hits
  const hb = (await apiGet(b, '/api/search?q=fixture') as SearchPage).hits
  assert.deepEqual(ha.map((h) => h.infohash), [V1])
  assert.deepEqual(hb.map((h) => h.infohash).sort(), [HYBRID_V1, V2.slice(0, 40)].sort())

  // A third on a port already taken says so and exits 1.
  const c = tempDir(t, 'serve-c')
  await importInto(c, 'lt-v1.torrent')
  const busy = await runCli(['serve', '--data-dir', c, '--api-port', String(sa.port)])
  assert.equal(busy.code, 1)
  assert.match(busy.stderr, new RegExp(`cannot listen on 127\\.0\\.0\\.1:${sa.port}`))
  assert.equal(existsSync(join(c, API_FILE)), false)

  sa.proc.signal('SIGINT')
  sb.proc.signal('SIGTERM')
  assert.equal((await sa.proc.waitExit()).code, 0)
  assert.equal((await sb.proc.waitExit()).code, 0)
  assert.equal(existsSync(join(a, API_FILE)), false)
  assert.equal(existsSync(join(b, API_FILE)), false)
})

test('bbmesh serve on a data directory without an index exits 1 and says so', async (t) => {
  const d = tempDir(t, 'serve-empty')
  const r = await runCli(['serve', '--data-dir', d])
  assert.equal(r.code, 1)
  assert.match(r.stderr, /no index in/)
  assert.equal(existsSync(join(d, API_FILE)), false)
})

test('search --network with no node running on the data directory says so and exits non-zero', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'bbmesh-nonode-'))
  try {
    const r = await runCli(['search', 'ubuntu', '--network', '--data-dir', dir])
    assert.notEqual(r.code, 0)
    assert.match(r.stderr, /no bbmesh node is running on/)
  } finally { rmSync(dir, { recursive: true, force: true }) }
})
