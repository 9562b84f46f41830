// The guard in front of the DHT socket. It stands where k-rpc-socket expects a dgram socket:
// every datagram is size-capped, decoded with the bounded decoder and checked against the
// KRPC schema before the stock libraries see it. Malformed queries get 203, unknown methods
// 204, anything else broken is dropped and counted. Methods bbmesh answers itself (BEP-51)
// are handled here and never reach bittorrent-dht, which does not know them. Every outgoing
// packet goes through the pacer.

import { EventEmitter } from 'node:events'
import type { Socket, RemoteInfo } from 'node:dgram'
import { parseKrpc, KrpcInvalid, encodeError, encodeResponse, type KrpcQuery, type KrpcMessage } from './krpc-schema.js'
import { SendPacer, type PacerOptions } from './send-pacer.js'
import { KeyedBuckets } from '../src/core/token-bucket.js'
import type { EncodableValue } from '../src/core/bencode.js'
import { silentLogger, type Logger } from '../src/core/logger.js'

/** The methods bittorrent-dht answers itself; any other method needs a handler here. */
const STOCK_METHODS: ReadonlySet<string> = new Set(['ping', 'find_node', 'get_peers', 'announce_peer', 'get', 'put'])

export type QueryHandler = (q: KrpcQuery, from: RemoteInfo) => Record<string, EncodableValue> | null

export interface GuardOptions {
  pacer?: PacerOptions
  /** Queries answered per second per source IP; above it packets are dropped. */
  answerRate?: number
  answerBurst?: number
}

export interface GuardCounters {
  received: number
  bytesIn: number
  passed: number
  invalid: Record<string, number>
  replied203: number
  replied204: number
  rateLimited: number
  intercepted: number
}

export class KrpcGuard extends EventEmitter {
  readonly pacer: SendPacer
  private readonly handlers = new Map<string, QueryHandler>()
  private readonly answerBuckets: KeyedBuckets
  private closed = false
  readonly counters: GuardCounters = { received: 0, bytesIn: 0, passed: 0, invalid: {}, replied203: 0, replied204: 0, rateLimited: 0, intercepted: 0 }
  private readonly log: Logger

  constructor (private readonly socket: Socket, opts: GuardOptions = {}, logger: Logger = silentLogger) {
    super()
    this.log = logger
    this.pacer = new SendPacer((buf, port, host) => this.rawSend(buf, port, host), opts.pacer)
    this.answerBuckets = new KeyedBuckets(opts.answerRate ?? 50, opts.answerBurst ?? 100, 65536)
    socket.on('message', (buf, rinfo) => this.onMessage(buf, rinfo))
    socket.on('error', (err) => this.emit('error', err))
    socket.on('close', () => this.emit('close'))
  }

  /** Answer `method` here instead of passing it on (return null to stay silent). */
  handle (method: string, handler: QueryHandler): void {
    this.handlers.set(method, handler)
  }

  private onMessage (buf: Buffer, rinfo: RemoteInfo): void {
    if (this.closed || rinfo.port === 0) return
    this.counters.received++
    this.counters.bytesIn += buf.length
    let msg: KrpcMessage
    try {
      msg = parseKrpc(buf)
    } catch (err) {
      if (!(err instanceof KrpcInvalid)) throw err
      this.counters.invalid[err.kind] = (this.counters.invalid[err.kind] ?? 0) + 1
      if (err.reply !== null && this.answerBuckets.tryTake(rinfo.address)) {
        if (err.reply.code === 203) this.counters.replied203++
        else this.counters.replied204++
        this.sendRaw(encodeError(err.reply.t, err.reply.code, err.reply.code === 203 ? 'Protocol Error' : 'Method Unknown'), rinfo.port, rinfo.address)
      }
      if (this.log.isLevelEnabled('debug')) this.log.debug({ from: `${rinfo.address}:${rinfo.port}`, kind: err.kind, reason: err.message }, 'invalid KRPC packet')
      return
    }
    if (msg.y === 'q') {
      if (!this.answerBuckets.tryTake(rinfo.address)) { this.counters.rateLimited++; return }
      this.emit('query', msg, rinfo)
      const h = this.handlers.get(msg.q)
      if (h !== undefined) {
        this.counters.intercepted++
        const r = h(msg, rinfo)
        if (r !== null) this.sendRaw(encodeResponse(msg.t, r), rinfo.port, rinfo.address)
        return
      }
      if (!STOCK_METHODS.has(msg.q)) {
        // A method of our table nobody here answers (BEP-51 before a responder is installed):
        // bittorrent-dht would drop it silently and the asker would wait for its timeout.
        this.counters.replied204++
        this.sendRaw(encodeError(msg.t, 204, 'Method Unknown'), rinfo.port, rinfo.address)
        return
      }
    }
    this.counters.passed++
    this.emit('message', buf, rinfo)
  }

  // ---- the dgram surface k-rpc-socket uses ----

  send (buf: Buffer, offset: number, length: number, port: number, host: string, cb?: (err: Error | null) => void): void {
    const b = offset === 0 && length === buf.length ? buf : buf.subarray(offset, offset + length)
    this.sendRaw(b, port, host)
    if (cb !== undefined) queueMicrotask(() => cb(null))
  }

  sendRaw (buf: Buffer, port: number, host: string): void {
    if (this.closed) return
    this.pacer.send(buf, port, host)
  }

  private rawSend (buf: Buffer, port: number, host: string): void {
    if (this.closed) return
    this.socket.send(buf, port, host, (err) => { if (err !== null && err !== undefined) this.emit('warning', err) })
  }

  address (): ReturnType<Socket['address']> {
    return this.socket.address()
  }

  bind (): void {
    // The owner binds the real socket before handing the guard to k-rpc.
  }

  close (): void {
    if (this.closed) return
    this.closed = true
    this.pacer.close()
    try { this.socket.close() } catch { this.emit('close') }
  }

  get isClosed (): boolean { return this.closed }
}
