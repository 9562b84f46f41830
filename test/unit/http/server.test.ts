// The HTTP API against a fake backend: every route, every error status, the limits (rate,
// URL size, connections, network searches in flight), hostile query strings, and close().

import { test } from 'node:test'
import assert from 'node:assert/strict'
import { Agent, request, createServer } from 'node:http'
import { connect, type Socket } from 'node:net'
import fc from 'fast-check'
import { ApiServer, clientKey, errorResponse, parseSearchQuery } from '../../../src/http/server.js'
import { StoreError, TimeoutError, UsageError } from '../../../src/core/errors.js'
import type { NetworkSearchResult } from '../../../src/search/network-types.js'
import { HIT, fakeBackend, startServer, get, raw, rawStatus, rawJson } from './helpers.js'

const V2 = 'a5e9c72a07a5a3c263e8c94f3c76197715547b5ac640ed36e1ad38c46302153b'

test('GET /api/search: the query reaches the backend as a SearchRequest; the page comes back', async (t) => {
  const { backend, calls } = fakeBackend()
  const { port } = await startServer(t, backend)
  const r = await get(port, '/api/search?q=ubuntu+24.04&order=size&min_size=10&max_size=2000&ext=.mkv&min_files=2&since=1700000000000&limit=5&cursor=abc')
  assert.equal(r.status, 200)
  assert.match(String(r.headers['content-type']), /^application\/json/)
  assert.equal(r.headers['access-control-allow-origin'], undefined, 'no CORS by default')
  assert.deepEqual(r.json, { hits: [HIT], next: 'page2' })
  assert.deepEqual(calls.search, [{
    text: 'ubuntu 24.04',
    order: 'size',
    filters: { minSize: 10, maxSize: 2000, ext: 'mkv', minFiles: 2, since: 1_700_000_000_000 },
    limit: 5,
    cursor: 'abc',
  }])
  // Only q: no filters, no defaults invented here (the backend has its own).
  await get(port, '/api/search?q=x')
  assert.deepEqual(calls.search[1], { text: 'x' })
  // Empty optional fields (an HTML form) count as absent; since takes an ISO date.
  await get(port, '/api/search?q=x&order=&min_size=&ext=&network=0&since=2024-05-01')
  assert.deepEqual(calls.search[2], { text: 'x', filters: { since: Date.parse('2024-05-01') } })
})

test('GET /api/search?network=1: 503 without a cooperative; the backend\'s result with one', async (t) => {
  const { backend, calls } = fakeBackend()
  const a = await startServer(t, backend)
  const r = await get(a.port, '/api/search?q=x&network=1')
  assert.equal(r.status, 503)
  assert.equal(r.json.error.code, 'ERR_NO_COOPERATIVE')
  assert.equal(calls.search.length, 0)

  const result: NetworkSearchResult = {
    hits: [HIT],
    members: [{ peer_id: 'ab'.repeat(20), answered: true, timed_out: false, hits: 1, ms: 12 }, { peer_id: 'cd'.repeat(20), answered: false, timed_out: true, hits: 0, ms: 3000 }],
    local: 0,
  }
  const f = fakeBackend({ networkSearch: async (req, timeoutMs) => { f.calls.network.push({ req, timeoutMs }); return result } })
  const b = await startServer(t, f.backend)
  const n = await get(b.port, '/api/search?q=debian&network=1&timeout_ms=1500&limit=10')
  assert.equal(n.status, 200)
  assert.deepEqual(n.json, result)
  assert.deepEqual(f.calls.network, [{ req: { text: 'debian', limit: 10 }, timeoutMs: 1500 }])
  await get(b.port, '/api/search?q=debian&network=true')
  assert.equal(f.calls.network[1].timeoutMs, 3000, 'default deadline')
})

test('GET /api/lookup/:hex: 40 or 64 hex digits, lower-cased; anything else 400', async (t) => {
  const { backend, calls } = fakeBackend()
  const { port } = await startServer(t, backend)
  let r = await get(port, `/api/lookup/${HIT.infohash.toUpperCase()}`)
  assert.equal(r.status, 200)
  assert.deepEqual(r.json, { hits: [HIT] })
  r = await get(port, `/api/lookup/${V2}`)
  assert.deepEqual(r.json, { hits: [] })
  assert.deepEqual(calls.lookup, [HIT.infohash, V2])
  for (const bad of ['abc', HIT.infohash + '0', 'z'.repeat(40), '%20'.repeat(40), '']) {
    r = await get(port, `/api/lookup/${bad}`)
    assert.equal(r.status, 400, bad)
    assert.equal(r.json.error.code, 'ERR_USAGE')
  }
  assert.equal((await get(port, `/api/lookup/${HIT.infohash}/x`)).status, 404)
  assert.equal((await get(port, `/api/lookup/${HIT.infohash}?x=1`)).status, 400)
  assert.equal(calls.lookup.length, 2)
})

test('GET /api/stats, /api/members and /api/catalogs answer what the backend returns', async (t) => {
  const { backend } = fakeBackend({ stats: async () => ({ torrents: 7 }) })
  const { port } = await startServer(t, backend)
  assert.deepEqual((await get(port, '/api/stats')).json, { torrents: 7 })
  assert.deepEqual((await get(port, '/api/members')).json, { members: [{ peer_id: 'aa', host: '127.0.0.1', port: 1 }] })
  assert.deepEqual((await get(port, '/api/catalogs')).json, { catalogs: [{ public_key: 'bb'.repeat(32), records: 3 }] })
  assert.equal((await get(port, '/api/stats?verbose=1')).status, 400)
  assert.equal((await get(port, '/api/catalogs?x=1')).status, 400)
})

test('unknown routes 404, other methods 405 (Allow: GET), bodies 413', async (t) => {
  const { backend, calls } = fakeBackend()
  const { port } = await startServer(t, backend)
  for (const p of ['/', '/api', '/api/', '/api/search/', '/api/Search?q=x', '/api/searchx?q=x', '/../etc/passwd', '/api/lookup']) {
    const r = await get(port, p)
    assert.equal(r.status, 404, p)
    assert.equal(r.json.error.code, 'ERR_NOT_FOUND')
  }
  for (const m of ['POST', 'PUT', 'DELETE', 'OPTIONS', 'HEAD', 'PATCH']) {
    const r = await get(port, '/api/search?q=x', { method: m, body: m === 'POST' ? 'q=x' : undefined })
    assert.equal(r.status, 405, m)
    assert.equal(r.headers.allow, 'GET')
    if (m !== 'HEAD') assert.equal(r.json.error.code, 'ERR_METHOD')
  }
  const b = await get(port, '/api/search?q=x', { headers: { 'content-length': '3' }, body: 'abc' })
  assert.equal(b.status, 413)
  assert.equal(b.json.error.code, 'ERR_BODY')
  assert.equal(calls.search.length, 0)
})

test('bad parameters are 400s naming the parameter; the backend never sees them', async (t) => {
  const { backend, calls } = fakeBackend()
  const { port } = await startServer(t, backend)
  const cases: Array<[string, RegExp]> = [
    ['', /^q:/],
    ['q=x&bogus=1', /unknown parameter "bogus"/],
    ['q=x&q=y', /^q: given more than once/],
    ['q=x&limit=0', /^limit:/],
    ['q=x&limit=501', /^limit:/],
    ['q=x&limit=1.5', /^limit:/],
    ['q=x&limit=-1', /^limit:/],
    ['q=x&limit=1e3', /^limit:/],
    ['q=x&order=rank', /^order:/],
    ['q=x&min_size=-1', /^min_size:/],
    ['q=x&min_size=99999999999999999', /^min_size:/],
    ['q=x&min_size=10&max_size=5', /^min_size: larger than max_size/],
    ['q=x&min_files=abc', /^min_files:/],
    ['q=x&ext=' + 'a'.repeat(33), /^ext:/],
    ['q=x&ext=.', /^ext:/],
    ['q=x&since=yesterday', /^since:/],
    ['q=x&network=maybe', /^network:/],
    ['q=x&network=1&timeout_ms=5', /^timeout_ms:/],
    ['q=x&timeout_ms=20001', /^timeout_ms:/],
    ['q=x&cursor=' + 'c'.repeat(1025), /^cursor:/],
  ]
  for (const [qs, re] of cases) {
    const r = await get(port, `/api/search?${qs}`)
    assert.equal(r.status, 400, qs)
    assert.equal(r.json.error.code, 'ERR_USAGE', qs)
    assert.match(r.json.error.message, re, qs)
  }
  assert.equal(calls.search.length, 0)
})

test('backend errors map to statuses; a bug answers 500 without its message or stack', async (t) => {
  let err: unknown = new UsageError('search: the query has no words (letters or digits) to look for')
  const { backend } = fakeBackend({ search: () => { throw err }, networkSearch: async () => { throw err } })
  const { port } = await startServer(t, backend)
  let r = await get(port, '/api/search?q=...')
  assert.equal(r.status, 400)
  assert.deepEqual(r.json, { error: { code: 'ERR_USAGE', message: 'search: the query has no words (letters or digits) to look for' } })
  err = new StoreError('searching: database is locked')
  r = await get(port, '/api/search?q=x')
  assert.equal(r.status, 503)
  assert.equal(r.json.error.code, 'ERR_STORE')
  err = new TimeoutError('deadline')
  r = await get(port, '/api/search?q=x&network=1')
  assert.equal(r.status, 504)
  err = new TypeError('Cannot read properties of undefined (reading \'secret-internal\')')
  r = await get(port, '/api/search?q=x')
  assert.equal(r.status, 500)
  assert.deepEqual(r.json, { error: { code: 'ERR_INTERNAL', message: 'internal error' } })
  assert.ok(!r.text.includes('secret-internal') && !r.text.includes('at '), r.text)
  assert.deepEqual(errorResponse('a string').status, 500)
})

test('a result that is not JSON (bigint, cycle) is a 500, not a crash', async (t) => {
  const cyc: Record<string, unknown> = {}
  cyc.self = cyc
  const { backend } = fakeBackend({ stats: () => ({ n: 1n }), members: () => cyc })
  const { port } = await startServer(t, backend)
  assert.equal((await get(port, '/api/stats')).status, 500)
  assert.equal((await get(port, '/api/members')).status, 500)
  assert.equal((await get(port, '/api/search?q=x')).status, 200, 'still serving')
})

test('a network search past its deadline is cut (504); in-flight ones are capped (503)', async (t) => {
  const release: Array<() => void> = []
  const { backend } = fakeBackend({
    // Never settles on its own: the server's guard must answer.
    networkSearch: async () => await new Promise<NetworkSearchResult>((resolve) => { release.push(() => resolve({ hits: [], members: [], local: 0 })) }),
  })
  const { port } = await startServer(t, backend, { limits: { maxNetworkInFlight: 1 } })
  const first = get(port, '/api/search?q=x&network=1&timeout_ms=100')
  while (release.length === 0) await new Promise((resolve) => setImmediate(resolve))
  const busy = await get(port, '/api/search?q=y&network=1')
  assert.equal(busy.status, 503)
  assert.equal(busy.json.error.code, 'ERR_BUSY')
  assert.equal(busy.headers['retry-after'], '1')
  const cut = await first
  assert.equal(cut.status, 504)
  assert.equal(cut.json.error.code, 'ERR_TIMEOUT')
  // The slot is held until the backend's own work ends, not just our answer.
  assert.equal((await get(port, '/api/search?q=z&network=1')).status, 503)
  release.shift()?.()
  let ok
  for (;;) {
    const r = await get(port, '/api/search?q=z&network=1&timeout_ms=100')
    if (r.status !== 503) { ok = r; break }
    await new Promise((resolve) => setImmediate(resolve))
  }
  assert.equal(ok.status, 504)
  for (const f of release) f()
})

test('rate limit per client address: 429 with Retry-After past the burst, tokens come back with time', async (t) => {
  let clock = 1_000_000
  const { backend } = fakeBackend({ networkSearch: async () => ({ hits: [], members: [], local: 0 }) })
  const { port } = await startServer(t, backend, { now: () => clock, limits: { rate: 1, burst: 5, networkCost: 5 } })
  for (let i = 0; i < 5; i++) assert.equal((await get(port, '/api/stats')).status, 200)
  const r = await get(port, '/api/stats')
  assert.equal(r.status, 429)
  assert.equal(r.json.error.code, 'ERR_RATE_LIMIT')
  assert.equal(r.headers['retry-after'], '1')
  // Refused requests cost too, and so do unknown routes.
  assert.equal((await get(port, '/nope')).status, 429)
  clock += 1000
  assert.equal((await get(port, '/nope')).status, 404)
  assert.equal((await get(port, '/api/stats')).status, 429)
  // A network search costs networkCost tokens.
  clock += 5000
  assert.equal((await get(port, '/api/search?q=x&network=1')).status, 200)
  assert.equal((await get(port, '/api/search?q=x')).status, 429)
  clock += 4000
  const n = await get(port, '/api/search?q=x&network=1')
  assert.equal(n.status, 429, 'four tokens are not enough for a network search')
  assert.equal(n.headers['retry-after'], '1')
})

test('client keys: IPv4 as is, mapped IPv4 unwrapped, IPv6 by /64', () => {
  assert.equal(clientKey('127.0.0.1'), '127.0.0.1')
  assert.equal(clientKey('::ffff:10.1.2.3'), '10.1.2.3')
  assert.equal(clientKey('2001:db8:1:2:3:4:5:6'), '2001:db8:1:2::/64')
  assert.equal(clientKey('2001:db8:1:2::9'), '2001:db8:1:2::/64')
  assert.equal(clientKey('2001:0db8:0001:0002:ffff::1'), '2001:db8:1:2::/64')
  assert.equal(clientKey('::1'), '0:0:0:0::/64')
  assert.equal(clientKey('fe80::1%eth0'), 'fe80:0:0:0::/64')
  assert.equal(clientKey(undefined), 'unknown')
})

test('oversized requests: a long target 414, a huge head 431; the server keeps serving', async (t) => {
  const { backend, calls } = fakeBackend()
  const { port } = await startServer(t, backend)
  const r = await get(port, `/api/search?q=${'a'.repeat(10 * 1024)}`)
  assert.equal(r.status, 414)
  assert.equal(r.json.error.code, 'ERR_URI_TOO_LONG')
  const h = await raw(port, `GET /api/search?q=${'b'.repeat(40 * 1024)} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`)
  assert.equal(rawStatus(h), 431, h.slice(0, 200))
  assert.equal(rawJson(h).error.code, 'ERR_HEADER_TOO_LARGE')
  const hh = await raw(port, `GET /api/stats HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Pad: ${'p'.repeat(40 * 1024)}\r\n\r\n`)
  assert.equal(rawStatus(hh), 431)
  assert.equal(calls.search.length, 0)
  assert.equal((await get(port, '/api/search?q=fine')).status, 200)
})

test('hostile query text reaches the backend exactly, as text (control bytes, bad escapes, lone surrogates)', async (t) => {
  const { backend, calls } = fakeBackend()
  const { port } = await startServer(t, backend)
  const texts = [
    '\u0000\u0001\u001b[31mred\u007f',
    'a\r\nSet-Cookie: x=1',
    '"quoted" -not OR NEAR(a b) name:x *',
    '日本語 ümlaut e\u0301',
    '\u202e\ufeff\u200b',
    '{"__proto__": {"x": 1}}',
    'x'.repeat(1300),
  ]
  for (const text of texts) {
    const r = await get(port, `/api/search?q=${encodeURIComponent(text)}`)
    assert.equal(r.status, 200)
    assert.equal(calls.search.at(-1)?.text, text)
  }
  // Malformed escapes stay literal; a lone surrogate's bytes decode to U+FFFD.
  await get(port, '/api/search?q=%zz%4')
  assert.equal(calls.search.at(-1)?.text, '%zz%4')
  await get(port, '/api/search?q=%ED%A0%80%FF')
  assert.equal(calls.search.at(-1)?.text, '\ufffd\ufffd\ufffd\ufffd')
  // A parameter name full of junk is refused, quoted.
  const r = await get(port, `/api/search?q=x&${encodeURIComponent('\u0000\u001b<script>')}=1`)
  assert.equal(r.status, 400)
  assert.ok(r.json.error.message.includes('\\u0000\\u001b<script>'))
})

test('raw control and non-ASCII bytes in the request target are refused with a JSON 400', async (t) => {
  const { backend, calls } = fakeBackend()
  const { port } = await startServer(t, backend)
  for (const bad of ['\u0001', '\u0000', '\u007f', '\u001b[2J', ' x', '\u00e9']) {
    const reply = await raw(port, Buffer.concat([Buffer.from('GET /api/search?q='), Buffer.from(bad, 'latin1'), Buffer.from(' HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n')]))
    assert.equal(rawStatus(reply), 400, `${JSON.stringify(bad)}: ${reply.slice(0, 100)}`)
    assert.equal(rawJson(reply).error.code, 'ERR_BAD_REQUEST')
  }
  assert.equal(calls.search.length, 0)
  assert.equal(rawStatus(await raw(port, 'GARBAGE\r\n\r\n')), 400)
  assert.equal(rawStatus(await raw(port, 'GET http://evil.example/api/stats HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n')), 400)
})

test('property: any query text reaches the backend unchanged or is refused with 400/414, never a crash', async (t) => {
  const { backend, calls } = fakeBackend()
  const { port } = await startServer(t, backend, { limits: { rate: 1e6, burst: 1e6 } })
  // Every UTF-8 byte outside [A-Za-z0-9] percent-encoded (lone surrogates become U+FFFD).
  const enc = (text: string): string => [...Buffer.from(text, 'utf8')].map((b) => /[A-Za-z0-9]/.test(String.fromCharCode(b)) ? String.fromCharCode(b) : `%${b.toString(16).padStart(2, '0')}`).join('')
  await fc.assert(fc.asyncProperty(fc.string({ unit: 'binary', maxLength: 1500 }), async (text) => {
    const before = calls.search.length
    const r = await get(port, `/api/search?q=${enc(text)}`)
    if (r.status === 200) {
      assert.equal(calls.search.length, before + 1)
      assert.equal(calls.search.at(-1)?.text, Buffer.from(text, 'utf8').toString('utf8'))
    } else {
      assert.ok(r.status === 400 || r.status === 414 || r.status === 431, String(r.status))
      assert.equal(typeof r.json.error.message, 'string')
    }
  }), { numRuns: 150 })
  // Random bytes as the whole target: an HTTP answer (or a closed socket), and still serving.
  await fc.assert(fc.asyncProperty(fc.uint8Array({ minLength: 1, maxLength: 300 }), async (bytes) => {
    const reply = await raw(port, Buffer.concat([Buffer.from('GET /api/'), Buffer.from(bytes), Buffer.from(' HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n')]))
    const s = rawStatus(reply)
    assert.ok(s === 0 || (s >= 200 && s < 600), reply.slice(0, 80))
    assert.ok(s !== 500, reply.slice(0, 200))
  }), { numRuns: 100 })
  assert.equal((await get(port, '/api/stats')).status, 200)
})

test('DNS rebinding: on loopback, a Host header naming another host is refused (403)', async (t) => {
  const { backend } = fakeBackend()
  const { port } = await startServer(t, backend)
  const evil = await get(port, '/api/stats', { headers: { host: `evil.example:${port}` } })
  assert.equal(evil.status, 403)
  assert.equal(evil.json.error.code, 'ERR_HOST')
  assert.equal((await get(port, '/api/stats', { headers: { host: '127.0.0.1.evil.example' } })).status, 403)
  for (const host of [`localhost:${port}`, `127.0.0.1:${port}`, `[::1]:${port}`, 'LOCALHOST', '127.0.0.2']) {
    assert.equal((await get(port, '/api/stats', { headers: { host } })).status, 200, host)
  }
})

test('connections are capped per address; over the cap a socket is closed unanswered', async (t) => {
  const { backend } = fakeBackend()
  const { port } = await startServer(t, backend, { limits: { maxConnectionsPerIp: 2 } })
  const open: Socket[] = []
  t.after(() => { for (const s of open) s.destroy() })
  for (let i = 0; i < 2; i++) {
    const s = connect(port, '127.0.0.1')
    open.push(s)
    await new Promise((resolve) => s.once('connect', resolve))
  }
  const third = await raw(port, 'GET /api/stats HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n')
  assert.equal(third, '')
  for (const s of open) s.destroy()
  // Once they are gone, new ones are served again.
  let r
  for (;;) {
    r = await raw(port, 'GET /api/stats HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n')
    if (r !== '') break
    await new Promise((resolve) => setImmediate(resolve))
  }
  assert.equal(rawStatus(r), 200)
})

test('close(): frees the port, ends keep-alive and idle connections, is idempotent', async (t) => {
  const { backend } = fakeBackend()
  const server = new ApiServer(backend)
  const { port } = await server.start()
  const agent = new Agent({ keepAlive: true })
  t.after(() => agent.destroy())
  const sock = await new Promise<Socket>((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/api/stats', agent }, (res) => {
      res.resume()
      res.on('end', () => resolve(req.socket as Socket))
    })
    req.on('error', reject)
    req.end()
  })
  const idle = connect(port, '127.0.0.1')
  await new Promise((resolve) => idle.once('connect', resolve))
  const closed = Promise.all([sock, idle].map(async (s) => await new Promise((resolve) => { if (s.destroyed) resolve(null); else s.once('close', resolve) })))
  idle.on('error', () => {})
  await server.close()
  await closed
  await server.close()
  // The port is free again: a new server binds it.
  const other = createServer()
  await new Promise<void>((resolve, reject) => { other.once('error', reject); other.listen(port, '127.0.0.1', resolve) })
  await new Promise((resolve) => other.close(resolve))
  await assert.rejects(server.start(), /closed/)
})

test('start() on a busy port is a NetworkError naming the address', async (t) => {
  const { backend } = fakeBackend()
  const { port } = await startServer(t, backend)
  const second = new ApiServer(backend, { port })
  await assert.rejects(second.start(), (e: Error) => e.name === 'NetworkError' && e.message.includes(`127.0.0.1:${port}`))
  await second.close()
})

test('parseSearchQuery: defaults and the network deadline bounds', () => {
  assert.deepEqual(parseSearchQuery('q=a'), { req: { text: 'a' }, network: false, timeoutMs: 3000 })
  assert.equal(parseSearchQuery('q=a&network=1&timeout_ms=100').timeoutMs, 100)
  assert.equal(parseSearchQuery('q=a&network=1&timeout_ms=20000').timeoutMs, 20000)
  assert.throws(() => parseSearchQuery('q=a&timeout_ms=99'), /timeout_ms/)
  assert.equal(parseSearchQuery('q=a&since=2024-05-01T12:00:00Z').req.filters?.since, Date.parse('2024-05-01T12:00:00Z'))
  assert.equal(parseSearchQuery('q=a&ext=tar.gz').req.filters?.ext, 'tar.gz')
})

test('a client that never finishes its request head gets a 408 and is disconnected', async (t) => {
  const { backend, calls } = fakeBackend()
  const { port } = await startServer(t, backend, { limits: { headersTimeoutMs: 200, requestTimeoutMs: 400 } })
  // Half a request head, then silence: the server must end it (raw() resolves on close).
  const reply = await raw(port, 'GET /api/search?q=slow HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ')
  assert.equal(rawStatus(reply), 408, reply)
  assert.equal(rawJson(reply).error.code, 'ERR_REQUEST_TIMEOUT')
  assert.equal(calls.search.length, 0)
})
