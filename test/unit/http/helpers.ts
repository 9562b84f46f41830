// Test tools for the HTTP API: a recording fake backend, a server started per test (closed
// when the test ends), and loopback requests (one connection each, or raw bytes on a socket).

import type { TestContext } from 'node:test'
import { request, type IncomingHttpHeaders } from 'node:http'
import { connect } from 'node:net'
import { ApiServer, type ApiBackend, type ApiServerOptions } from '../../../src/http/server.js'
import type { SearchHit, SearchRequest } from '../../../src/search/types.js'

export const HIT: SearchHit = {
  infohash: '8b87bf956697ac403a7681af5cc96a1fe6ccbf49',
  name: 'bbmesh fixture',
  size: 41000,
  files: 3,
  discovered_at: 1_700_000_000_000,
  score: 1.5,
}

export interface Calls {
  search: SearchRequest[]
  lookup: string[]
  network: Array<{ req: SearchRequest, timeoutMs: number }>
}

export function fakeBackend (over: Partial<ApiBackend> = {}): { backend: ApiBackend, calls: Calls } {
  const calls: Calls = { search: [], lookup: [], network: [] }
  const backend: ApiBackend = {
    search: (req) => { calls.search.push(req); return { hits: [HIT], next: 'page2' } },
    lookup: (hex) => { calls.lookup.push(hex); return hex === HIT.infohash ? [HIT] : [] },
    stats: () => ({ torrents: 1, running: false }),
    members: () => ({ members: [{ peer_id: 'aa', host: '127.0.0.1', port: 1 }] }),
    catalogs: () => ({ catalogs: [{ public_key: 'bb'.repeat(32), records: 3 }] }),
    ...over,
  }
  return { backend, calls }
}

export async function startServer (t: TestContext, backend: ApiBackend, opts: ApiServerOptions = {}): Promise<{ server: ApiServer, port: number }> {
  const server = new ApiServer(backend, opts)
  t.after(async () => { await server.close() })
  const { port } = await server.start()
  return { server, port }
}

export interface Reply { status: number, headers: IncomingHttpHeaders, text: string, json: any }

/** One request on its own connection (no keep-alive agent), to 127.0.0.1. */
export async function get (port: number, path: string, opts: { method?: string, headers?: Record<string, string>, body?: string } = {}): Promise<Reply> {
  return await new Promise<Reply>((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method: opts.method ?? 'GET', agent: false, headers: opts.headers }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('error', reject)
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8')
        let json: unknown
        try { json = JSON.parse(text) } catch { json = undefined }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json })
      })
    })
    req.on('error', reject)
    if (opts.body !== undefined) req.write(opts.body)
    req.end()
  })
}

/** Raw bytes to the server; everything it sends back until it closes the connection. */
export async function raw (port: number, bytes: Buffer | string): Promise<string> {
  return await new Promise<string>((resolve, reject) => {
    const s = connect(port, '127.0.0.1')
    const chunks: Buffer[] = []
    // Hang guard (not a timing assertion): a request the server is still waiting on ends here.
    s.setTimeout(10_000, () => s.destroy())
    s.on('connect', () => { s.write(bytes) })
    s.on('data', (c: Buffer) => chunks.push(c))
    s.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'ECONNRESET' || err.code === 'EPIPE') return
      reject(err)
    })
    s.on('close', () => resolve(Buffer.concat(chunks).toString('latin1')))
  })
}

/** The status code of a raw HTTP answer ("HTTP/1.1 400 ..."), 0 when there was none. */
export function rawStatus (reply: string): number {
  const m = /^HTTP\/1\.[01] (\d{3}) /.exec(reply)
  return m === null ? 0 : Number(m[1])
}

/** The JSON body of a raw answer. */
export function rawJson (reply: string): any {
  const i = reply.indexOf('\r\n\r\n')
  return JSON.parse(reply.slice(i + 4))
}
