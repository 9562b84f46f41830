// The HTTP API: JSON over node:http (no framework: four GET routes do not need one), bound
// to loopback by default. It knows neither the store nor the cooperative: an ApiBackend
// answers, this file parses and bounds requests, rate-limits clients and maps errors to
// statuses. Routes, parameters, errors and limits: docs/http.md.
//
// What a client can cost us is bounded before the backend runs: the request head (Node's
// maxHeaderSize, then our cap on the target), the time to send it (headers/request timeouts),
// open connections (in all and per address), requests per address (token buckets, network
// searches cost more), network searches in flight, and the deadline of each one.

import { createServer, STATUS_CODES, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { isIP, type Socket, type AddressInfo } from 'node:net'
import type { SearchHit, SearchOrder, SearchPage, SearchRequest } from '../search/types.js'
import type { NetworkSearchResult } from '../search/network-types.js'
import { LIMITS } from '../core/limits.js'
import { KeyedBuckets } from '../core/token-bucket.js'
import { silentLogger, type Logger } from '../core/logger.js'
import {
  AbortedError, BbmeshError, DecodeError, LimitError, NetworkError, SchemaError, StoreError, TimeoutError, UsageError,
} from '../core/errors.js'
import { ApiFile, readApiAddress } from './api-file.js'

/** What the API serves, with no knowledge of where it comes from. Results must be JSON-serialisable. */
export interface ApiBackend {
  /** One page of the local index. Bad input: throw UsageError (400). */
  search: (req: SearchRequest) => SearchPage | Promise<SearchPage>
  /** Hits for a hex key: a v1 infohash (40), a v2 infohash or a file's pieces root (64). */
  lookup: (hex: string) => SearchHit[] | Promise<SearchHit[]>
  /** Search across the cooperative; absent when the node has none (network=1 answers 503). */
  networkSearch?: (req: SearchRequest, timeoutMs: number) => Promise<NetworkSearchResult>
  stats: () => unknown
  members: () => unknown
  /** The publishers' catalogs fetched into this index (bbmesh catalogs --json). */
  catalogs: () => unknown
}

export interface ApiLimits {
  maxUrl: number
  maxHeader: number
  maxConnections: number
  maxConnectionsPerIp: number
  rate: number
  burst: number
  networkCost: number
  maxClients: number
  maxNetworkInFlight: number
  networkTimeoutMs: number
  networkTimeoutMaxMs: number
  headersTimeoutMs: number
  requestTimeoutMs: number
  keepAliveTimeoutMs: number
}

export const API_LIMITS: Readonly<ApiLimits> = Object.freeze({
  maxUrl: LIMITS.httpMaxUrl,
  maxHeader: LIMITS.httpMaxHeader,
  maxConnections: LIMITS.httpMaxConnections,
  maxConnectionsPerIp: LIMITS.httpMaxConnectionsPerIp,
  rate: LIMITS.httpRate,
  burst: LIMITS.httpBurst,
  networkCost: LIMITS.httpNetworkCost,
  maxClients: LIMITS.httpMaxClients,
  maxNetworkInFlight: LIMITS.httpMaxNetworkInFlight,
  networkTimeoutMs: LIMITS.httpNetworkTimeoutMs,
  networkTimeoutMaxMs: LIMITS.httpNetworkTimeoutMaxMs,
  headersTimeoutMs: LIMITS.httpHeadersTimeoutMs,
  requestTimeoutMs: LIMITS.httpRequestTimeoutMs,
  keepAliveTimeoutMs: LIMITS.httpKeepAliveTimeoutMs,
})

/** Least timeout_ms a client may ask for a network search. */
export const MIN_NETWORK_TIMEOUT_MS = 100
/** Longest `cursor` and `ext` we pass on (the backend checks what they mean). */
export const MAX_CURSOR_CHARS = 1024
export const MAX_EXT_CHARS = 32

export interface ApiServerOptions {
  /** Bind address (default 127.0.0.1). */
  host?: string
  /** Port (default 0: a free one). */
  port?: number
  /** When set, `api.json` in this directory records where the API listens, from start to close. */
  dataDir?: string
  logger?: Logger
  limits?: Partial<ApiLimits>
  /** Clock of the rate limiter (tests). */
  now?: () => number
}

export interface ApiAddress { host: string, port: number }

/** An error with its HTTP status; `code` and `message` go to the client. */
export class HttpError extends BbmeshError {
  constructor (readonly status: number, code: string, message: string, readonly headers: Record<string, string> = {}) {
    super(code, message)
  }
}

const SEARCH_PARAMS = new Set(['q', 'order', 'min_size', 'max_size', 'ext', 'min_files', 'since', 'limit', 'cursor', 'network', 'timeout_ms'])
const NO_PARAMS = new Set<string>()
const ORDERS: readonly SearchOrder[] = ['relevance', 'newest', 'size']
const HEX_KEY = /^(?:[0-9a-fA-F]{40}|[0-9a-fA-F]{64})$/
const MAX_MESSAGE = 500

export interface ParsedSearch {
  req: SearchRequest
  network: boolean
  timeoutMs: number
}

function badParam (name: string, what: string): HttpError {
  return new HttpError(400, 'ERR_USAGE', `${name}: ${what}`)
}

/** The parameters of a query string, each at most once, only known names. */
function params (query: string, allowed: ReadonlySet<string>): Map<string, string> {
  const out = new Map<string, string>()
  for (const [k, v] of new URLSearchParams(query)) {
    if (!allowed.has(k)) throw new HttpError(400, 'ERR_USAGE', `unknown parameter ${JSON.stringify(k.slice(0, 64))}`)
    if (out.has(k)) throw badParam(k, 'given more than once')
    out.set(k, v)
  }
  return out
}

function intParam (p: Map<string, string>, name: string, min: number, max: number): number | undefined {
  const v = p.get(name)
  if (v === undefined || v === '') return undefined
  if (!/^[0-9]{1,16}$/.test(v)) throw badParam(name, `expected an integer from ${min} to ${max}`)
  const n = Number(v)
  if (!Number.isSafeInteger(n) || n < min || n > max) throw badParam(name, `expected an integer from ${min} to ${max}`)
  return n
}

/** The query string of /api/search as a SearchRequest; bad values are 400s naming the parameter. */
export function parseSearchQuery (query: string, limits: Pick<ApiLimits, 'networkTimeoutMs' | 'networkTimeoutMaxMs'> = API_LIMITS): ParsedSearch {
  const p = params(query, SEARCH_PARAMS)
  const text = p.get('q')
  if (text === undefined) throw badParam('q', 'the words to search for are required')
  const req: SearchRequest = { text }
  const order = p.get('order')
  if (order !== undefined && order !== '') {
    if (!(ORDERS as readonly string[]).includes(order)) throw badParam('order', `expected one of ${ORDERS.join(', ')}`)
    req.order = order as SearchOrder
  }
  const filters: NonNullable<SearchRequest['filters']> = {}
  const minSize = intParam(p, 'min_size', 0, Number.MAX_SAFE_INTEGER)
  const maxSize = intParam(p, 'max_size', 0, Number.MAX_SAFE_INTEGER)
  if (minSize !== undefined) filters.minSize = minSize
  if (maxSize !== undefined) filters.maxSize = maxSize
  if (minSize !== undefined && maxSize !== undefined && minSize > maxSize) throw badParam('min_size', 'larger than max_size')
  const minFiles = intParam(p, 'min_files', 0, LIMITS.torrentMaxFiles)
  if (minFiles !== undefined) filters.minFiles = minFiles
  const ext = p.get('ext')
  if (ext !== undefined && ext !== '') {
    const e = ext.startsWith('.') ? ext.slice(1) : ext
    if (e === '' || e.length > MAX_EXT_CHARS) throw badParam('ext', `expected a file extension of 1 to ${MAX_EXT_CHARS} characters`)
    filters.ext = e
  }
  const since = p.get('since')
  if (since !== undefined && since !== '') {
    // Unix ms, or an ISO 8601 date/time ("2024-05-01", "2024-05-01T12:00:00Z").
    const t = /^[0-9]{1,16}$/.test(since) ? Number(since) : /^\d{4}-\d{2}-\d{2}([T ][0-9:.]+(Z|[+-]\d{2}:?\d{2})?)?$/.test(since) ? Date.parse(since) : NaN
    if (!Number.isSafeInteger(t) || t < 0) throw badParam('since', 'expected unix milliseconds or an ISO 8601 date')
    filters.since = t
  }
  if (Object.keys(filters).length > 0) req.filters = filters
  const limit = intParam(p, 'limit', 1, LIMITS.searchMaxLimit)
  if (limit !== undefined) req.limit = limit
  const cursor = p.get('cursor')
  if (cursor !== undefined && cursor !== '') {
    if (cursor.length > MAX_CURSOR_CHARS) throw badParam('cursor', `longer than ${MAX_CURSOR_CHARS} characters`)
    req.cursor = cursor
  }
  const net = p.get('network')
  let network = false
  if (net !== undefined && net !== '') {
    if (net === '1' || net === 'true') network = true
    else if (net !== '0' && net !== 'false') throw badParam('network', 'expected 1 or 0')
  }
  const timeoutMs = intParam(p, 'timeout_ms', MIN_NETWORK_TIMEOUT_MS, limits.networkTimeoutMaxMs) ?? limits.networkTimeoutMs
  return { req, network, timeoutMs }
}

/** The rate-limit key of a remote address: IPv4 as is (mapped ones unwrapped), IPv6 by its /64. */
export function clientKey (addr: string | undefined): string {
  if (addr === undefined || addr === '') return 'unknown'
  if (addr.toLowerCase().startsWith('::ffff:') && isIP(addr.slice(7)) === 4) return addr.slice(7)
  const bare = addr.split('%')[0]
  if (isIP(bare) !== 6) return addr
  const [head, tail] = bare.split('::') as [string, string | undefined]
  const groups = (s: string): string[] => s === '' ? [] : s.split(':').flatMap((g) => g.includes('.') ? ['0', '0'] : [g])
  const h = groups(head)
  const t = tail === undefined ? [] : groups(tail)
  const all = tail === undefined ? h : [...h, ...new Array<string>(Math.max(0, 8 - h.length - t.length)).fill('0'), ...t]
  return all.slice(0, 4).map((g) => parseInt(g, 16).toString(16)).join(':') + '::/64'
}

function isLoopbackHost (h: string): boolean {
  return h === 'localhost' || h === '::1' || (isIP(h) === 4 && h.startsWith('127.'))
}

/** The host name of a Host header, without port or brackets. */
function hostOf (header: string): string {
  const h = header.toLowerCase()
  if (h.startsWith('[')) {
    const end = h.indexOf(']')
    return end < 0 ? h : h.slice(1, end)
  }
  const i = h.indexOf(':')
  return i < 0 ? h : h.slice(0, i)
}

/** The status and body of any error; nothing but our own messages reaches the client. */
export function errorResponse (err: unknown): { status: number, code: string, message: string, headers: Record<string, string> } {
  const cut = (m: string): string => m.length > MAX_MESSAGE ? `${m.slice(0, MAX_MESSAGE)}...` : m
  if (err instanceof HttpError) return { status: err.status, code: err.code, message: cut(err.message), headers: err.headers }
  if (err instanceof BbmeshError) {
    const status = err instanceof UsageError || err instanceof SchemaError || err instanceof DecodeError || err instanceof LimitError
      ? 400
      : err instanceof TimeoutError ? 504
        : err instanceof StoreError || err instanceof AbortedError ? 503
          : err instanceof NetworkError ? 502
            : 500
    return { status, code: err.code, message: cut(err.message), headers: {} }
  }
  return { status: 500, code: 'ERR_INTERNAL', message: 'internal error', headers: {} }
}

interface Route {
  run: (query: string, res: ServerResponse, client: string) => Promise<void>
}

export class ApiServer {
  private readonly server: Server
  private readonly limits: ApiLimits
  private readonly host: string
  private readonly port: number
  private readonly log: Logger
  private readonly buckets: KeyedBuckets
  private readonly sockets = new Set<Socket>()
  private readonly perIp = new Map<string, number>()
  private networkInFlight = 0
  private addr: ApiAddress | null = null
  private apiFile: ApiFile | null = null
  private starting: Promise<ApiAddress> | null = null
  private closing: Promise<void> | null = null

  constructor (private readonly backend: ApiBackend, private readonly opts: ApiServerOptions = {}) {
    this.limits = { ...API_LIMITS, ...opts.limits }
    this.host = opts.host ?? '127.0.0.1'
    this.port = opts.port ?? 0
    this.log = opts.logger ?? silentLogger
    this.buckets = new KeyedBuckets(this.limits.rate, this.limits.burst, this.limits.maxClients, opts.now)
    const l = this.limits
    this.server = createServer({
      maxHeaderSize: l.maxHeader,
      headersTimeout: l.headersTimeoutMs,
      requestTimeout: l.requestTimeoutMs,
      keepAliveTimeout: l.keepAliveTimeoutMs,
      connectionsCheckingInterval: Math.min(1000, l.headersTimeoutMs),
      requireHostHeader: true,
    }, (req, res) => { void this.handle(req, res) })
    this.server.maxConnections = l.maxConnections
    this.server.maxHeadersCount = 64
    this.server.maxRequestsPerSocket = 1000
    // Idle sockets (no request in progress, past keep-alive) are ended by Node; this bounds a
    // socket that stalls mid-response (a client that stops reading).
    this.server.setTimeout(l.requestTimeoutMs + l.networkTimeoutMaxMs, (s) => s.destroy())
    this.server.on('connection', (s: Socket) => this.onConnection(s))
    this.server.on('clientError', (err: NodeJS.ErrnoException, s: Socket) => this.onClientError(err, s))
  }

  /** Where it listens, once started. */
  get address (): ApiAddress | null { return this.addr }

  /** Listen; with dataDir, record the address in api.json (refused if another live node serves that directory). */
  async start (): Promise<ApiAddress> {
    if (this.closing !== null) throw new AbortedError('API server is closed')
    this.starting ??= this.doStart()
    return await this.starting
  }

  private async doStart (): Promise<ApiAddress> {
    const dir = this.opts.dataDir
    if (dir !== undefined) {
      const other = readApiAddress(dir)
      if (other !== null && other.pid !== process.pid) {
        throw new NetworkError(`another bbmesh node (pid ${other.pid}) serves the API of ${dir} at http://${other.host}:${other.port}`)
      }
    }
    await new Promise<void>((resolve, reject) => {
      const onError = (err: Error): void => {
        reject(new NetworkError(`cannot listen on ${this.host}:${this.port}: ${err.message}`, { cause: err }))
      }
      this.server.once('error', onError)
      this.server.listen({ host: this.host, port: this.port, exclusive: true }, () => {
        this.server.off('error', onError)
        resolve()
      })
    })
    this.server.on('error', (err) => this.log.error({ err }, 'http: server error'))
    const a = this.server.address() as AddressInfo
    this.addr = { host: a.address, port: a.port }
    if (this.closing !== null) throw new AbortedError('API server closed during start')
    if (dir !== undefined) {
      try {
        this.apiFile = new ApiFile(dir)
        this.apiFile.write(this.addr)
      } catch (err) {
        // Not close(): it awaits this very start.
        this.apiFile = null
        await new Promise<void>((resolve) => { this.server.close(() => resolve()); this.server.closeAllConnections() })
        throw new NetworkError(`cannot record the API address in ${dir}: ${(err as Error).message}`, { cause: err })
      }
    }
    this.log.info({ host: this.addr.host, port: this.addr.port }, 'http: API listening')
    return this.addr
  }

  /** Stop listening, close every connection (keep-alive ones too), remove api.json. Idempotent. */
  async close (): Promise<void> {
    this.closing ??= (async () => {
      this.apiFile?.remove()
      this.apiFile = null
      await this.starting?.catch(() => {})
      if (this.server.listening) {
        await new Promise<void>((resolve) => {
          this.server.close(() => resolve())
          this.server.closeAllConnections()
          for (const s of this.sockets) s.destroy()
        })
      }
      for (const s of this.sockets) s.destroy()
    })()
    await this.closing
  }

  private onConnection (s: Socket): void {
    const key = clientKey(s.remoteAddress)
    const n = (this.perIp.get(key) ?? 0) + 1
    if (n > this.limits.maxConnectionsPerIp || this.closing !== null) { s.destroy(); return }
    this.perIp.set(key, n)
    this.sockets.add(s)
    s.once('close', () => {
      this.sockets.delete(s)
      const m = (this.perIp.get(key) ?? 1) - 1
      if (m <= 0) this.perIp.delete(key)
      else this.perIp.set(key, m)
    })
  }

  /** A request Node could not parse (bad target, head too large, too slow): a JSON error, then close. */
  private onClientError (err: NodeJS.ErrnoException, s: Socket): void {
    const busy = (s as Socket & { _httpMessage?: { headersSent?: boolean } | null })._httpMessage
    if (err.code === 'ECONNRESET' || !s.writable || busy?.headersSent === true) { s.destroy(); return }
    const [status, code, message] = err.code === 'HPE_HEADER_OVERFLOW'
      ? [431, 'ERR_HEADER_TOO_LARGE', `request head larger than ${this.limits.maxHeader} bytes`]
      : err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? [408, 'ERR_REQUEST_TIMEOUT', 'request not received in time']
        : [400, 'ERR_BAD_REQUEST', `malformed HTTP request${err.code?.startsWith('HPE_') === true ? ` (${err.code.slice(4).toLowerCase().replace(/_/g, ' ')})` : ''}`]
    const body = JSON.stringify({ error: { code, message } })
    s.end(`HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\ncontent-type: application/json; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(body)}\r\ncache-control: no-store\r\nconnection: close\r\n\r\n${body}`)
    s.destroySoon()
  }

  private send (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
    if (res.headersSent || res.destroyed) return
    let text: string
    try {
      text = JSON.stringify(body)
    } catch (err) {
      // A backend result that does not serialise (a bigint, a cycle) is a bug of ours.
      this.log.error({ err }, 'http: response is not JSON-serialisable')
      status = 500; headers = {}
      text = JSON.stringify({ error: { code: 'ERR_INTERNAL', message: 'internal error' } })
    }
    res.writeHead(status, {
      'content-type': 'application/json; charset=utf-8',
      'content-length': String(Buffer.byteLength(text)),
      'cache-control': 'no-store',
      'x-content-type-options': 'nosniff',
      ...headers,
    })
    res.end(text)
  }

  private fail (res: ServerResponse, err: unknown): void {
    const e = errorResponse(err)
    if (e.status >= 500) {
      if (err instanceof BbmeshError) this.log.warn({ code: e.code, msg: e.message }, 'http: backend error')
      else this.log.error({ err }, 'http: internal error')
    }
    this.send(res, e.status, { error: { code: e.code, message: e.message } }, e.headers)
  }

  private async handle (req: IncomingMessage, res: ServerResponse): Promise<void> {
    try {
      const client = clientKey(req.socket.remoteAddress)
      if (!this.buckets.tryTake(client)) throw this.tooMany(client, 1)
      const target = req.url ?? ''
      if (target.length > this.limits.maxUrl) {
        res.shouldKeepAlive = false
        throw new HttpError(414, 'ERR_URI_TOO_LONG', `request target of ${target.length} bytes is longer than ${this.limits.maxUrl}`)
      }
      if (!target.startsWith('/')) throw new HttpError(400, 'ERR_BAD_REQUEST', 'the request target must be a path')
      // A page on another site must not reach a loopback API through a name it resolves to
      // 127.0.0.1 (DNS rebinding): when we listen on loopback, the Host must name loopback.
      if (isLoopbackHost(this.host) || (this.addr !== null && isLoopbackHost(this.addr.host))) {
        const h = hostOf(req.headers.host ?? '')
        if (!isLoopbackHost(h)) throw new HttpError(403, 'ERR_HOST', 'this API answers only requests to a loopback host name (127.0.0.1, localhost, [::1])')
      }
      const q = target.indexOf('?')
      const path = q < 0 ? target : target.slice(0, q)
      const query = q < 0 ? '' : target.slice(q + 1)
      const route = this.route(path)
      if (route === null) throw new HttpError(404, 'ERR_NOT_FOUND', 'no such route (see docs/http.md)')
      if (req.method !== 'GET') {
        res.shouldKeepAlive = false
        throw new HttpError(405, 'ERR_METHOD', `${String(req.method).slice(0, 16)} not allowed: this API is read-only, use GET`, { allow: 'GET' })
      }
      const len = req.headers['content-length']
      if ((len !== undefined && len !== '0') || req.headers['transfer-encoding'] !== undefined) {
        res.shouldKeepAlive = false
        throw new HttpError(413, 'ERR_BODY', 'GET requests carry no body')
      }
      await route.run(query, res, client)
    } catch (err) {
      this.fail(res, err)
    }
  }

  private tooMany (client: string, n: number): HttpError {
    const wait = this.buckets.waitFor(client, n)
    return new HttpError(429, 'ERR_RATE_LIMIT', 'too many requests from this address; slow down', {
      'retry-after': String(Number.isFinite(wait) ? Math.max(1, Math.ceil(wait / 1000)) : 60),
    })
  }

  private route (path: string): Route | null {
    const b = this.backend
    switch (path) {
      case '/api/search': return { run: async (query, res, client) => await this.search(query, res, client) }
      case '/api/stats': return { run: async (query, res) => { params(query, NO_PARAMS); this.send(res, 200, await b.stats()) } }
      case '/api/members': return { run: async (query, res) => { params(query, NO_PARAMS); this.send(res, 200, await b.members()) } }
      case '/api/catalogs': return { run: async (query, res) => { params(query, NO_PARAMS); this.send(res, 200, await b.catalogs()) } }
    }
    const m = /^\/api\/lookup\/([^/]*)$/.exec(path)
    if (m === null) return null
    return {
      run: async (query, res) => {
        params(query, NO_PARAMS)
        const hex = m[1]
        if (!HEX_KEY.test(hex)) throw new HttpError(400, 'ERR_USAGE', 'lookup: expected 40 hex digits (a v1 infohash) or 64 (a v2 infohash or a pieces root)')
        this.send(res, 200, { hits: await b.lookup(hex.toLowerCase()) })
      },
    }
  }

  private async search (query: string, res: ServerResponse, client: string): Promise<void> {
    const s = parseSearchQuery(query, this.limits)
    if (!s.network) {
      this.send(res, 200, await this.backend.search(s.req))
      return
    }
    const net = this.backend.networkSearch
    if (net === undefined) throw new HttpError(503, 'ERR_NO_COOPERATIVE', 'network search needs a node in a cooperative (this one has none); search without network=1')
    // A network search asks every member: it costs more of the client's budget.
    if (this.limits.networkCost > 1 && !this.buckets.tryTake(client, this.limits.networkCost - 1)) throw this.tooMany(client, this.limits.networkCost - 1)
    if (this.networkInFlight >= this.limits.maxNetworkInFlight) {
      throw new HttpError(503, 'ERR_BUSY', `${this.networkInFlight} network searches already in flight; retry shortly`, { 'retry-after': '1' })
    }
    this.networkInFlight++
    const work = (async () => await net.call(this.backend, s.req, s.timeoutMs))()
    // The in-flight count follows the backend's own work, not our answer to the client.
    void work.then(() => {}, () => {}).finally(() => { this.networkInFlight-- })
    // The backend keeps its deadline; this is the guard against one that does not.
    let timer: NodeJS.Timeout | undefined
    const guard = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => reject(new TimeoutError(`network search did not end within ${s.timeoutMs} ms`)), s.timeoutMs + 1000)
    })
    try {
      this.send(res, 200, await Promise.race([work, guard]))
    } finally {
      clearTimeout(timer)
    }
  }
}
