// Real libtorrent (2.0, Debian python3-libtorrent) on loopback for interop tests and benchmarks.
// startLtNet() spawns test/interop/lt/ltnet.py, one Python process that runs N libtorrent
// sessions; this wrapper speaks its JSON-lines protocol (documented at the top of ltnet.py):
// one request per call with an id and a deadline, typed results in camelCase, async events on
// `events`. close() stops the sessions and the process; a crashed test closes ltnet's stdin,
// which makes it exit too. Tests that need libtorrent call requireLibtorrent() and fail (never
// skip) when it is missing.

import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process'
import { EventEmitter } from 'node:events'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { BbmeshError, TimeoutError, AbortedError } from '../../src/core/errors.js'
import { repoRoot } from './paths.js'

export const PYTHON = '/usr/bin/python3'
const READY_TIMEOUT_MS = 20_000
const CLOSE_GRACE_MS = 5_000
/** Added to a command's own timeout_ms: ltnet answers with ERR_LT_TIMEOUT before we give up. */
const CALL_SLACK_MS = 3_000
const DEFAULT_CALL_MS = 15_000
const STDERR_TAIL_LINES = 40

/** An error ltnet reported (code ERR_LT_USAGE, ERR_LT_TIMEOUT, ERR_LT_LIBTORRENT, ERR_LT_STATE)
 * or a failure of the process itself (ERR_LT_EXITED, ERR_LT_SPAWN). */
export class LtNetError extends BbmeshError {
  readonly details: unknown
  constructor (code: string, message: string, options?: { cause?: unknown, details?: unknown }) {
    super(code, message, options)
    this.details = options?.details
  }
}

let libtorrentChecked = false

/** Throws unless Debian's python3 can import libtorrent. Call it first in every libtorrent test. */
export function requireLibtorrent (): void {
  if (libtorrentChecked) return
  const r = spawnSync(PYTHON, ['-c', 'import libtorrent'], { stdio: 'ignore', timeout: 15_000 })
  if (r.status !== 0) throw new Error('python3-libtorrent is not installed: run .ci/install-system-deps')
  libtorrentChecked = true
}


/** ltnet.py in the source tree (tsc does not copy it to dist/). */
export function ltnetScript (): string {
  return join(repoRoot(), 'test', 'interop', 'lt', 'ltnet.py')
}

// ------------------------------------------------------------------ public types

export type Endpoint = [host: string, port: number]
export type LtProfile = 'harness' | 'fast' | 'stock'
export type LtExtraEvent = 'dht_announce' | 'dht_get_peers' | 'peer_connect' | 'peer_disconnect' | 'incoming_connection'
export type LtSettings = Record<string, string | number | boolean>

export interface CallOptions { timeoutMs?: number, signal?: AbortSignal }

export interface LtStartOptions extends CallOptions {
  sessions: number
  /** harness (default): INTEROP.md loopback settings; fast: + tuned BEP-9 fetcher; stock: libtorrent defaults. */
  profile?: LtProfile
  /** Any libtorrent settings_pack names, over the profile. */
  settings?: LtSettings
  /** All sessions of this call share this address; default: session i binds 127.0.{i+1}.2. */
  bindHost?: string
  link?: 'mesh' | 'star' | 'none'
  /** Extra DHT nodes (e.g. a bbmesh node) every new session adds. */
  dhtBootstrap?: Endpoint[]
  /** Wait until each new session's routing table holds this many nodes (default min(4, contacts)). */
  minNodes?: number
  /** peer_log alerts: lets stats() count ut_metadata requests per torrent (costly). */
  peerLog?: boolean
  events?: LtExtraEvent[]
}

export interface LtSessionInfo { session: number, host: string, port: number, dhtPort: number, nodeId: string, dhtNodes: number }
export interface LtStartResult { sessions: LtSessionInfo[], ms: number }

export interface LtCreateTorrentOptions extends CallOptions {
  path: string
  pieceLength?: number
  mode?: 'v1' | 'v2' | 'hybrid'
  comment?: string
  creator?: string
  private?: boolean
}

export interface LtCreatedTorrent {
  /** The .torrent file. */
  torrent: Buffer
  /** v1 hex when the torrent has one, else v2 hex (64). */
  infohash: string
  v1: string | null
  v2: string | null
  name: string
  totalSize: number
  numPieces: number
  files: Array<[path: string, size: number]>
  ms: number
}

export interface LtSeedOptions extends CallOptions {
  session: number
  torrent: Buffer
  /** The directory that holds the torrent's data (its parent: name/… lives under it). */
  savePath: string
  /** libtorrent seed_mode: trust the data instead of checking it. */
  skipCheck?: boolean
}

export interface LtDownloaded { infohash: string, v1: string | null, v2: string | null, name: string, numPieces: number, piecesValid: number, hashFailures: number, bytes: number, ms: number }
export interface LtSeeded { infohash: string, v1: string | null, v2: string | null, name: string, totalSize: number, numPieces: number, ms: number }

export interface LtMagnetOptions extends CallOptions {
  session: number
  /** 40 hex (v1) or 64 hex (v2). */
  infohash: string
  /** Peers to dial at once, like x.pe in a magnet. */
  peers?: Endpoint[]
  name?: string
  /** Default true: no piece download after the metadata. */
  uploadMode?: boolean
  removeOnMetadata?: boolean
  /** Put the raw info dictionary (infoB64 → info) in the metadata. */
  includeInfo?: boolean
}

export interface LtMetadata {
  session: number
  infohash: string
  v1: string | null
  v2: string | null
  name: string
  /** Sum of the file sizes, pad files left out. */
  totalSize: number
  pieceLength: number
  numPieces: number
  /** Paths relative to the torrent root, "/"-joined; a single-file torrent has one file named after it. */
  files: Array<[path: string, size: number]>
  padFiles: number
  /** From the add to the metadata_received_alert. */
  ms: number
  info?: Buffer
}

export interface LtFetchBatchResult {
  count: number
  fetched: number
  failed: string[]
  timedOut: boolean
  wallMs: number
  fetchesPerS: number
  latencyMs: { p50: number | null, p95: number | null, max: number | null }
}

export interface LtSample {
  host: string
  port: number
  numInfohashes: number
  numSamples: number
  samples: string[]
  interval: number
  nodes: Array<[id: string, host: string, port: number]>
  ms: number
}

export interface LtPeers { peers: Endpoint[], timedOut: boolean, ms: number }

export interface LtMutableItem {
  found: boolean
  seq: number | null
  signature: string | null
  /** The bencoded value (raw bytes as stored). */
  value: Buffer | null
  /** libtorrent's own rendering of the value (its alert message). */
  valueText: string | null
  authoritative: boolean
  /** libtorrent checked the signature (it never reports an item whose signature fails). */
  verified: boolean
  /** The node a raw KRPC get read the value from, when the binding could not hand it out. */
  rawFrom: Endpoint | null
  ms: number
}

export interface LtPutResult { target: string, seq: number, signature: string, numSuccess: number, ms: number }
export interface LtImmutableItem { found: boolean, value: Buffer | null, valueText: string | null, ms: number }

export interface LtTorrentStats {
  infohash: string
  v1: string | null
  v2: string | null
  name: string
  kind: 'seed' | 'magnet'
  state: string
  hasMetadata: boolean
  /** Inbound peer connections that got past the handshake (peer_connect_alert, incoming). */
  incomingPeers: number
  outgoingPeers: number
  disconnects: number
  /** ut_metadata requests received / data messages sent: only with peerLog. */
  metadataRequestsIn: number
  metadataPiecesOut: number
  numPeers: number
  totalUpload: number
  totalPayloadUpload: number
}

export interface LtStats {
  nodeId: string | null
  dhtNodes: number
  dhtNodeCache: number
  /** Info hashes this node stores peers for (what it can sample). */
  dhtTorrents: number
  dhtPeers: number
  dhtImmutableData: number
  dhtMutableData: number
  dhtIn: { messages: number, dropped: number, ping: number, findNode: number, getPeers: number, announcePeer: number, get: number, put: number, sampleInfohashes: number }
  incomingConnections: number
  numIncomingMetadata: number
  numOutgoingMetadata: number
  numPeersConnected: number
  alertsDropped: number
  counters: Record<string, number>
  torrents: LtTorrentStats[]
}

export interface LtNetEvents {
  metadata: [LtMetadata]
  torrent_error: [{ session: number, infohash: string | null, kind: string, message: string }]
  dht_announce: [{ session: number, ip: string, port: number, infohash: string }]
  dht_get_peers: [{ session: number, infohash: string }]
  peer_connect: [{ session: number, infohash: string | null, incoming: boolean, ip: string, port: number }]
  peer_disconnect: [{ session: number, infohash: string | null, ip: string, port: number, reason: string }]
  incoming_connection: [{ session: number, ip: string, port: number }]
  /** The process ended (after close() or on its own). */
  exit: [{ code: number | null, signal: string | null }]
}

export interface LtNetOptions {
  python?: string
  script?: string
  readyTimeoutMs?: number
  /** How long close() waits for a clean exit before SIGKILL. */
  closeGraceMs?: number
  /** Copy ltnet's stderr to ours (also on with BBMESH_LT_DEBUG=1). */
  debug?: boolean
}

// ------------------------------------------------------------------ wire helpers

type Obj = Record<string, any> // eslint-disable-line @typescript-eslint/no-explicit-any

const hexOf = (v: Buffer | string): string => typeof v === 'string' ? v.toLowerCase() : v.toString('hex')
const bufOrNull = (hex: string | null | undefined): Buffer | null => typeof hex === 'string' ? Buffer.from(hex, 'hex') : null

function metadataFrom (r: Obj): LtMetadata {
  const m: LtMetadata = {
    session: r.session, infohash: r.infohash, v1: r.v1, v2: r.v2, name: r.name, totalSize: r.total_size,
    pieceLength: r.piece_length, numPieces: r.num_pieces, files: r.files, padFiles: r.pad_files, ms: r.ms,
  }
  if (typeof r.info_b64 === 'string') m.info = Buffer.from(r.info_b64, 'base64')
  return m
}

function pick<T extends Obj> (o: T, keys: Array<[string, unknown]>): Obj {
  const out: Obj = { ...o }
  for (const [k, v] of keys) if (v !== undefined) out[k] = v
  return out
}

interface PendingCall { resolve: (v: Obj) => void, reject: (e: Error) => void, cleanup: () => void, cmd: string }

const live = new Set<ChildProcessWithoutNullStreams>()
let exitHookInstalled = false
function installExitHook (): void {
  if (exitHookInstalled) return
  exitHookInstalled = true
  // Last resort when a test process ends without close(): no ltnet may outlive it.
  process.on('exit', () => { for (const c of live) c.kill('SIGKILL') })
}

// ------------------------------------------------------------------ the handle

export class LtNet {
  readonly events = new EventEmitter<LtNetEvents>()
  readonly pid: number
  /** libtorrent's version as the binding reports it. */
  readonly version: string
  private readonly child: ChildProcessWithoutNullStreams
  private readonly pending = new Map<number, PendingCall>()
  private readonly stderrTail: string[]
  private readonly graceMs: number
  private nextId = 1
  private exited = false
  private closing: Promise<void> | null = null
  private readonly exitPromise: Promise<void>

  /** Use startLtNet(). */
  constructor (child: ChildProcessWithoutNullStreams, ready: Obj, stderrTail: string[], graceMs: number, exitPromise: Promise<void>) {
    this.child = child
    this.pid = ready.pid
    this.version = ready.libtorrent
    this.stderrTail = stderrTail
    this.graceMs = graceMs
    this.exitPromise = exitPromise
  }

  /** @internal: a line from stdout. */
  onMessage (msg: Obj): void {
    if (typeof msg.event === 'string') {
      if (this.closing !== null) return
      if (msg.event === 'metadata') this.events.emit('metadata', metadataFrom(msg))
      else if (msg.event !== 'ready') this.events.emit(msg.event as keyof LtNetEvents, msg as never)
      return
    }
    const p = this.pending.get(msg.id)
    if (p === undefined) return
    this.pending.delete(msg.id)
    p.cleanup()
    if (msg.ok === true) p.resolve(msg.result as Obj)
    else p.reject(new LtNetError(String(msg.error?.code ?? 'ERR_LT_UNKNOWN'), `${p.cmd}: ${String(msg.error?.message)}`, { details: msg.error?.details }))
  }

  /** @internal: the process ended. */
  onExit (code: number | null, signal: string | null): void {
    this.exited = true
    live.delete(this.child)
    const why = new LtNetError('ERR_LT_EXITED', `ltnet exited (code ${code}, signal ${signal})${this.tail()}`)
    for (const [id, p] of this.pending) { this.pending.delete(id); p.cleanup(); p.reject(why) }
    if (this.closing === null) this.events.emit('exit', { code, signal })
  }

  private tail (): string {
    return this.stderrTail.length > 0 ? `; stderr:\n${this.stderrTail.join('\n')}` : ''
  }

  get closed (): boolean { return this.closing !== null || this.exited }

  /** Send one command; resolves with its raw (snake_case) result. */
  async call (cmd: string, args: Obj = {}, opts: CallOptions = {}): Promise<Obj> {
    if (this.closed) throw new LtNetError('ERR_LT_EXITED', `${cmd}: ltnet is closed`)
    opts.signal?.throwIfAborted()
    const id = this.nextId++
    const own = typeof args.timeout_ms === 'number' ? args.timeout_ms : undefined
    const deadline = opts.timeoutMs ?? (own !== undefined ? own + CALL_SLACK_MS : DEFAULT_CALL_MS)
    return await new Promise<Obj>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id)
        cleanup()
        reject(new TimeoutError(`ltnet ${cmd}: no reply within ${deadline} ms`))
      }, deadline)
      const onAbort = (): void => {
        this.pending.delete(id)
        cleanup()
        reject(new AbortedError(`ltnet ${cmd} aborted`, { cause: opts.signal?.reason }))
      }
      const cleanup = (): void => { clearTimeout(timer); opts.signal?.removeEventListener('abort', onAbort) }
      opts.signal?.addEventListener('abort', onAbort, { once: true })
      this.pending.set(id, { resolve, reject, cleanup, cmd })
      this.child.stdin.write(JSON.stringify({ ...args, id, cmd }) + '\n')
    })
  }

  async start (o: LtStartOptions): Promise<LtStartResult> {
    const r = await this.call('start', pick({ sessions: o.sessions }, [
      ['profile', o.profile], ['settings', o.settings], ['bind_host', o.bindHost], ['link', o.link],
      ['dht_bootstrap', o.dhtBootstrap], ['min_nodes', o.minNodes], ['peer_log', o.peerLog],
      ['events', o.events], ['timeout_ms', o.timeoutMs ?? 10_000]]), { signal: o.signal })
    return {
      ms: r.ms,
      sessions: (r.sessions as Obj[]).map((s) => ({ session: s.session, host: s.host, port: s.port, dhtPort: s.dht_port, nodeId: s.node_id, dhtNodes: s.dht_nodes })),
    }
  }

  async addDhtNode (session: number | 'all', host: string, port: number, opts: CallOptions = {}): Promise<void> {
    await this.call('add_dht_node', { session, host, port }, opts)
  }

  async applySettings (session: number | 'all', settings: LtSettings, opts: CallOptions = {}): Promise<void> {
    await this.call('settings', { session, settings }, opts)
  }

  async createTorrent (o: LtCreateTorrentOptions): Promise<LtCreatedTorrent> {
    const r = await this.call('create_torrent', pick({ path: o.path }, [
      ['piece_length', o.pieceLength], ['mode', o.mode], ['comment', o.comment], ['creator', o.creator],
      ['private', o.private]]), { timeoutMs: o.timeoutMs ?? 60_000, signal: o.signal })
    return {
      torrent: Buffer.from(r.torrent_b64, 'base64'), infohash: r.infohash, v1: r.v1, v2: r.v2, name: r.name,
      totalSize: r.total_size, numPieces: r.num_pieces, files: r.files, ms: r.ms,
    }
  }

  async seed (o: LtSeedOptions): Promise<LtSeeded> {
    const r = await this.call('seed', pick({ session: o.session, torrent_b64: o.torrent.toString('base64'), save_path: o.savePath }, [
      ['skip_check', o.skipCheck], ['timeout_ms', o.timeoutMs ?? 30_000]]), { signal: o.signal })
    return { infohash: r.infohash, v1: r.v1, v2: r.v2, name: r.name, totalSize: r.total_size, numPieces: r.num_pieces, ms: r.ms }
  }

  private magnetArgs (o: LtMagnetOptions): Obj {
    return pick({ session: o.session, infohash: o.infohash.toLowerCase() }, [
      ['peers', o.peers], ['name', o.name], ['upload_mode', o.uploadMode], ['remove_on_metadata', o.removeOnMetadata],
      ['include_info', o.includeInfo], ['timeout_ms', o.timeoutMs ?? 30_000]])
  }

  /** Add a torrent by infohash only: libtorrent announces it and fetches the metadata (event "metadata"). */
  async addMagnet (o: LtMagnetOptions): Promise<{ infohash: string }> {
    const r = await this.call('add_magnet', this.magnetArgs(o), { signal: o.signal })
    return { infohash: r.infohash }
  }

  /** addMagnet that resolves with the metadata (ERR_LT_TIMEOUT when none came). */
  async fetchMagnet (o: LtMagnetOptions): Promise<LtMetadata> {
    const r = await this.call('add_magnet', { ...this.magnetArgs(o), wait_metadata: true }, { signal: o.signal })
    return metadataFrom({ ...r, session: o.session })
  }

  /** Download a torrent (from its .torrent, or a magnet given infohash) from the given peers into savePath. */
  async download (o: { session: number, torrent?: Buffer, infohash?: string, savePath: string, peers: Endpoint[] } & CallOptions): Promise<LtDownloaded> {
    const r = await this.call('download', pick({ session: o.session, save_path: o.savePath, peers: o.peers }, [
      ['torrent_b64', o.torrent?.toString('base64')], ['infohash', o.infohash?.toLowerCase()],
      ['timeout_ms', o.timeoutMs ?? 60_000]]), { signal: o.signal })
    return { infohash: r.infohash, v1: r.v1, v2: r.v2, name: r.name, numPieces: r.num_pieces, piecesValid: r.pieces_valid, hashFailures: r.hash_failures, bytes: r.bytes, ms: r.ms }
  }

  async removeTorrent (session: number, infohash: string, opts: CallOptions = {}): Promise<void> {
    await this.call('remove_torrent', { session, infohash: infohash.toLowerCase() }, opts)
  }

  /** The libtorrent BEP-9 baseline: fetch all at once, fetches/s from first add to last metadata. */
  async fetchMetadata (o: { session: number, items: Array<{ infohash: string, peers?: Endpoint[] }> } & CallOptions): Promise<LtFetchBatchResult> {
    const r = await this.call('fetch_metadata', {
      session: o.session,
      items: o.items.map((i) => pick({ infohash: i.infohash.toLowerCase() }, [['peers', i.peers]])),
      timeout_ms: o.timeoutMs ?? 60_000,
    }, { signal: o.signal })
    return { count: r.count, fetched: r.fetched, failed: r.failed, timedOut: r.timed_out, wallMs: r.wall_ms, fetchesPerS: r.fetches_per_s, latencyMs: r.latency_ms }
  }

  /** BEP 51 from a libtorrent session to host:port (ERR_LT_TIMEOUT when it does not answer). */
  async sampleInfohashes (o: { session: number, host: string, port: number, target?: Buffer | string } & CallOptions): Promise<LtSample> {
    const r = await this.call('sample_infohashes', pick({ session: o.session, host: o.host, port: o.port }, [
      ['target', o.target === undefined ? undefined : hexOf(o.target)], ['timeout_ms', o.timeoutMs ?? 5_000]]), { signal: o.signal })
    return { host: r.host, port: r.port, numInfohashes: r.num_infohashes, numSamples: r.num_samples, samples: r.samples, interval: r.interval, nodes: r.nodes, ms: r.ms }
  }

  /** A DHT get_peers lookup; resolves with what it found by the timeout (timedOut) or once minPeers are known. */
  async dhtGetPeers (o: { session: number, infohash: string, minPeers?: number } & CallOptions): Promise<LtPeers> {
    const r = await this.call('dht_get_peers', pick({ session: o.session, infohash: o.infohash.toLowerCase() }, [
      ['min_peers', o.minPeers], ['timeout_ms', o.timeoutMs ?? 5_000]]), { signal: o.signal })
    return { peers: r.peers, timedOut: r.timed_out, ms: r.ms }
  }

  private static salt (salt: Buffer | string | undefined): Obj {
    if (salt === undefined) return {}
    return typeof salt === 'string' ? { salt } : { salt_hex: salt.toString('hex') }
  }

  /** BEP 44 mutable get through libtorrent (which verifies the signature). */
  async dhtGetMutable (o: { session: number, publicKey: Buffer | string, salt?: Buffer | string, raw?: boolean, rawNodes?: Endpoint[] } & CallOptions): Promise<LtMutableItem> {
    const r = await this.call('dht_get_mutable', pick({ session: o.session, public_key: hexOf(o.publicKey), ...LtNet.salt(o.salt) }, [
      ['raw', o.raw], ['raw_nodes', o.rawNodes], ['timeout_ms', o.timeoutMs ?? 5_000]]), { signal: o.signal })
    return {
      found: r.found, seq: r.seq, signature: r.signature, value: bufOrNull(r.value_hex), valueText: r.value_text,
      authoritative: r.authoritative, verified: r.verified, rawFrom: r.raw_from, ms: r.ms,
    }
  }

  /** BEP 44 mutable put from libtorrent. The value is stored as a bencoded string (the binding's limit). */
  async dhtPutMutable (o: { session: number, seed: Buffer, publicKey: Buffer, value: Buffer | string, salt?: Buffer | string } & CallOptions): Promise<LtPutResult> {
    const value = typeof o.value === 'string' ? { value: o.value } : { value_hex: o.value.toString('hex') }
    const r = await this.call('dht_put_mutable', {
      session: o.session, seed: o.seed.toString('hex'), public_key: o.publicKey.toString('hex'), ...value, ...LtNet.salt(o.salt),
      timeout_ms: o.timeoutMs ?? 5_000,
    }, { signal: o.signal })
    return { target: r.target, seq: r.seq, signature: r.signature, numSuccess: r.num_success, ms: r.ms }
  }

  /** BEP 44 immutable put: value is a bencoded Buffer, or a string stored as a bencoded string. */
  async dhtPutImmutable (o: { session: number, value: Buffer | string } & CallOptions): Promise<LtPutResult> {
    const value = typeof o.value === 'string' ? { value: o.value } : { value_hex: o.value.toString('hex') }
    const r = await this.call('dht_put_immutable', { session: o.session, ...value, timeout_ms: o.timeoutMs ?? 5_000 }, { signal: o.signal })
    return { target: r.target, seq: r.seq, signature: r.signature, numSuccess: r.num_success, ms: r.ms }
  }

  async dhtGetImmutable (o: { session: number, target: Buffer | string } & CallOptions): Promise<LtImmutableItem> {
    const r = await this.call('dht_get_immutable', { session: o.session, target: hexOf(o.target), timeout_ms: o.timeoutMs ?? 5_000 }, { signal: o.signal })
    return { found: r.found, value: bufOrNull(r.value_hex), valueText: r.value_text, ms: r.ms }
  }

  /** The session's routing table. */
  async dhtNodes (session: number, opts: CallOptions = {}): Promise<{ nodeId: string, nodes: Array<[id: string, host: string, port: number]> }> {
    const r = await this.call('dht_nodes', { session, timeout_ms: opts.timeoutMs ?? 3_000 }, { signal: opts.signal })
    return { nodeId: r.node_id, nodes: r.nodes }
  }

  async stats (session: number, opts: CallOptions & { counters?: string[] } = {}): Promise<LtStats> {
    const r = await this.call('stats', pick({ session, timeout_ms: opts.timeoutMs ?? 3_000 }, [['counters', opts.counters]]), { signal: opts.signal })
    const d = r.dht_in as Obj
    return {
      nodeId: r.node_id, dhtNodes: r.dht_nodes, dhtNodeCache: r.dht_node_cache, dhtTorrents: r.dht_torrents, dhtPeers: r.dht_peers,
      dhtImmutableData: r.dht_immutable_data, dhtMutableData: r.dht_mutable_data,
      dhtIn: { messages: d.messages, dropped: d.dropped, ping: d.ping, findNode: d.find_node, getPeers: d.get_peers, announcePeer: d.announce_peer, get: d.get, put: d.put, sampleInfohashes: d.sample_infohashes },
      incomingConnections: r.incoming_connections, numIncomingMetadata: r.num_incoming_metadata, numOutgoingMetadata: r.num_outgoing_metadata,
      numPeersConnected: r.num_peers_connected, alertsDropped: r.alerts_dropped, counters: r.counters,
      torrents: (r.torrents as Obj[]).map((t) => ({
        infohash: t.infohash, v1: t.v1, v2: t.v2, name: t.name, kind: t.kind, state: t.state, hasMetadata: t.has_metadata,
        incomingPeers: t.incoming_peers, outgoingPeers: t.outgoing_peers, disconnects: t.disconnects,
        metadataRequestsIn: t.metadata_requests_in, metadataPiecesOut: t.metadata_pieces_out, numPeers: t.num_peers,
        totalUpload: t.total_upload, totalPayloadUpload: t.total_payload_upload,
      })),
    }
  }

  /** Resolves with the first event `name` that `pred` accepts, within the deadline. */
  async waitFor<K extends keyof LtNetEvents> (name: K, pred: (...args: LtNetEvents[K]) => boolean, opts: CallOptions = {}): Promise<LtNetEvents[K][0]> {
    const ms = opts.timeoutMs ?? DEFAULT_CALL_MS
    return await new Promise((resolve, reject) => {
      const listener = (...args: LtNetEvents[K]): void => { if (pred(...args)) { done(); resolve(args[0]) } }
      const timer = setTimeout(() => { done(); reject(new TimeoutError(`ltnet: no ${String(name)} event within ${ms} ms`)) }, ms)
      const onAbort = (): void => { done(); reject(new AbortedError()) }
      const done = (): void => {
        clearTimeout(timer)
        this.events.off(name, listener as never)
        opts.signal?.removeEventListener('abort', onAbort)
      }
      this.events.on(name, listener as never)
      opts.signal?.addEventListener('abort', onAbort, { once: true })
    })
  }

  /** Stop every session, wait for the process (SIGKILL after the grace period). Idempotent. */
  async close (): Promise<void> {
    if (this.closing !== null) return await this.closing
    this.closing = (async () => {
      const abort = new AbortedError('ltnet closed')
      for (const [id, p] of this.pending) { this.pending.delete(id); p.cleanup(); p.reject(abort) }
      if (!this.exited) {
        try { this.child.stdin.write(JSON.stringify({ id: 0, cmd: 'stop' }) + '\n') } catch { /* already gone */ }
        this.child.stdin.end()
        let timer: NodeJS.Timeout | undefined
        const graceOver = new Promise<boolean>((resolve) => { timer = setTimeout(() => resolve(false), this.graceMs) })
        const exited = await Promise.race([this.exitPromise.then(() => true), graceOver])
        clearTimeout(timer)
        if (!exited) {
          this.child.kill('SIGKILL')
          await this.exitPromise
        }
      }
      this.events.removeAllListeners()
    })()
    return await this.closing
  }
}

/** Spawn ltnet.py and wait for it to accept commands. Throws when libtorrent is missing. */
export async function startLtNet (opts: LtNetOptions = {}): Promise<LtNet> {
  requireLibtorrent()
  installExitHook()
  const debug = opts.debug ?? process.env.BBMESH_LT_DEBUG === '1'
  const child = spawn(opts.python ?? PYTHON, ['-u', opts.script ?? ltnetScript()], {
    stdio: ['pipe', 'pipe', 'pipe'],
    env: { ...process.env, PYTHONDONTWRITEBYTECODE: '1' },
  })
  live.add(child)
  const tail: string[] = []
  createInterface({ input: child.stderr }).on('line', (line) => {
    tail.push(line)
    if (tail.length > STDERR_TAIL_LINES) tail.shift()
    if (debug) process.stderr.write(`[ltnet ${child.pid ?? '?'}] ${line}\n`)
  })
  child.stdin.on('error', () => { /* EPIPE after exit: reported by 'exit' */ })
  let net: LtNet | null = null
  const exitPromise = new Promise<void>((resolve) => {
    child.on('exit', (code, signal) => {
      live.delete(child)
      net?.onExit(code, signal)
      resolve()
    })
  })
  return await new Promise<LtNet>((resolve, reject) => {
    const readyMs = opts.readyTimeoutMs ?? READY_TIMEOUT_MS
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new LtNetError('ERR_LT_SPAWN', `ltnet not ready within ${readyMs} ms${tail.length > 0 ? `; stderr:\n${tail.join('\n')}` : ''}`))
    }, readyMs)
    child.on('error', (err) => { clearTimeout(timer); live.delete(child); reject(new LtNetError('ERR_LT_SPAWN', `cannot run ${opts.python ?? PYTHON}`, { cause: err })) })
    void exitPromise.then(() => {
      if (net === null) {
        clearTimeout(timer)
        reject(new LtNetError('ERR_LT_SPAWN', `ltnet exited before it was ready (code ${child.exitCode})${tail.length > 0 ? `; stderr:\n${tail.join('\n')}` : ''}`))
      }
    })
    createInterface({ input: child.stdout }).on('line', (line) => {
      let msg: Obj
      try { msg = JSON.parse(line) as Obj } catch { tail.push(`(not JSON on stdout) ${line}`); return }
      if (net === null) {
        if (msg.event === 'ready') {
          clearTimeout(timer)
          net = new LtNet(child, msg, tail, opts.closeGraceMs ?? CLOSE_GRACE_MS, exitPromise)
          resolve(net)
        }
        return
      }
      net.onMessage(msg)
    })
  })
}
