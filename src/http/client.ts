// A small client of the HTTP API for the CLI: finds the API of the node running on a data
// directory through its api.json, asks it one GET, returns the parsed JSON. Errors are typed:
// NoNodeError when nothing serves that directory, ApiHttpError carrying the server's
// { error: { code, message } } for an HTTP error status.

import { request } from 'node:http'
import { AbortedError, BbmeshError, NetworkError, TimeoutError } from '../core/errors.js'
import { readApiAddress } from './api-file.js'

/** Largest answer we read (a page of 500 hits is well under 1 MiB). */
export const MAX_RESPONSE_BYTES = 32 * 1024 * 1024
export const DEFAULT_CLIENT_TIMEOUT_MS = 30_000

/** No bbmesh node serves the API of this data directory. */
export class NoNodeError extends BbmeshError {
  constructor (readonly dataDir: string) {
    super('ERR_NO_NODE', `no bbmesh node is running on ${dataDir}: start \`bbmesh harvest\` or \`bbmesh serve\``)
  }
}

/** The API answered with an error status; message and code are the server's. */
export class ApiHttpError extends BbmeshError {
  constructor (readonly status: number, readonly serverCode: string, message: string) {
    super('ERR_HTTP', message)
  }
}

export interface ApiGetOptions {
  /** Total deadline of the request (default 30 s). */
  timeoutMs?: number
  signal?: AbortSignal
}

/** The host to dial for an address the server bound: a wildcard means "this machine". */
function dialHost (host: string): string {
  if (host === '0.0.0.0') return '127.0.0.1'
  if (host === '::') return '::1'
  return host
}

/** GET path (e.g. `/api/search?q=ubuntu`) from the API of the node running on dataDir. */
export async function apiGet (dataDir: string, path: string, opts: ApiGetOptions = {}): Promise<unknown> {
  if (!path.startsWith('/')) throw new TypeError('apiGet: path must start with /')
  const addr = readApiAddress(dataDir)
  if (addr === null) throw new NoNodeError(dataDir)
  const host = dialHost(addr.host)
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${addr.port}`
  const timeoutMs = opts.timeoutMs ?? DEFAULT_CLIENT_TIMEOUT_MS
  return await new Promise<unknown>((resolve, reject) => {
    let settled = false
    const done = (err: Error | null, value?: unknown): void => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      opts.signal?.removeEventListener('abort', onAbort)
      if (err !== null) { req.destroy(); reject(err) } else resolve(value)
    }
    const req = request({ host, port: addr.port, path, method: 'GET', agent: false, headers: { accept: 'application/json' } }, (res) => {
      const chunks: Buffer[] = []
      let size = 0
      res.on('data', (c: Buffer) => {
        size += c.length
        if (size > MAX_RESPONSE_BYTES) { done(new NetworkError(`the API at ${url} answered more than ${MAX_RESPONSE_BYTES} bytes`)); return }
        chunks.push(c)
      })
      res.on('error', (err) => done(new NetworkError(`reading the answer of ${url}: ${err.message}`, { cause: err })))
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8')
        let body: unknown
        try { body = JSON.parse(text) } catch {
          done(new NetworkError(`the API at ${url} answered ${res.statusCode ?? '?'} with something other than JSON`))
          return
        }
        const status = res.statusCode ?? 0
        if (status >= 200 && status < 300) { done(null, body); return }
        const e = (body as { error?: { code?: unknown, message?: unknown } } | null)?.error
        const code = typeof e?.code === 'string' ? e.code : 'ERR_HTTP'
        const message = typeof e?.message === 'string' ? e.message : `HTTP ${status}`
        done(new ApiHttpError(status, code, message))
      })
    })
    req.on('error', (err: NodeJS.ErrnoException) => {
      done(err.code === 'ECONNREFUSED'
        ? new NetworkError(`the bbmesh node on ${dataDir} (pid ${addr.pid}) does not answer at ${url}: is it still starting or stopping?`, { cause: err })
        : new NetworkError(`cannot reach the bbmesh API at ${url}: ${err.message}`, { cause: err }))
    })
    const timer = setTimeout(() => done(new TimeoutError(`the bbmesh API at ${url} did not answer within ${timeoutMs} ms`)), timeoutMs)
    const onAbort = (): void => done(new AbortedError('request aborted'))
    if (opts.signal?.aborted === true) onAbort()
    else opts.signal?.addEventListener('abort', onAbort, { once: true })
    req.end()
  })
}
