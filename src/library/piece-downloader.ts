// Download a whole torrent (v1, hybrid or v2-only, one or many files) from a list of peers over the
// BitTorrent peer wire, every piece verified, into memory: for catalog shards and indexes.
//
//   const { files } = await downloadTorrent(rawInfo, { infohash, peers, maxBytes: 64 << 20 })
//
// BEP-3 handshake (a peer answering for another infohash is dropped), interested, the
// peer's bitfield / have (BEP-6 have_all, have_none and reject are understood, but fast
// extension is not advertised, so a choke cancels every pending request as in BEP-3), then
// up to `pipeline` 16 KiB requests in flight per peer. Each piece is asked of one peer only
// and checked by SHA-1 against the v1 `pieces`; a hybrid's files are also checked against
// their BEP-52 pieces roots once complete. Pad bytes (BEP-47) are never stored: blocks that
// are all pad are not requested, and pad bytes inside a requested block must be zeros.
//
// A misbehaving peer is dropped (malformed frame, block never requested or of the wrong
// length, no handshake / no block / still choked after the stall timeout, nothing we need);
// one whose piece fails its hash is banned for this download (never dialled again) and the
// piece goes back to the pool. Each candidate is dialled at most once, at most maxPeers at a
// time. With no peer left and pieces missing: DownloadError with the counts.
//
// v2-only torrents (BEP-52; piece-download-v2.ts) have no v1 piece hashes: we handshake with
// the truncated v2 infohash and the v2 reserved bit, and ask peers for the piece layer of each
// file longer than one piece by `hash request` (msg 21, at most 512 hashes each, one peer per
// request at a time). A `hashes` reply (22) whose hashes and uncles do not prove up to the
// file's pieces root bans its sender; a `hash reject` (23) sends the request to another peer
// (never back to one that rejected it). A piece is asked for only once its hash is known, and
// checked by the merkle root of its blocks; a failure bans its sender as for v1. A peer that
// owes hash replies past the stall timeout is dropped like one that owes blocks.

import { randomBytes } from 'node:crypto'
import { encodeHandshake, decodeHandshake, HANDSHAKE_LEN } from '../wire/handshake.js'
import { MSG, frame, decodeExtHandshake, decodeHashRequest, encodeHashRequest, HASH_REQUEST_BYTES } from '../wire/messages.js'
import { AbortedError, BbmeshError, DownloadError, HashMismatchError, ProtocolError, TimeoutError, UsageError } from '../core/errors.js'
import { abortReason } from '../core/deadline.js'
import type { PeerAddr } from '../core/compact.js'
import { planDownload, type PieceLayout } from './piece-download-layout.js'
import { V2DownloadLayout, type HashChunk } from './piece-download-v2.js'
import { PiecePicker, type BlockRequest } from './piece-download-picker.js'
import { AwaitedConn } from '../wire/awaited-conn.js'

/** Defaults and fixed bounds of a download (each with why). */
export const DOWNLOAD_DEFAULTS = Object.freeze({
  /** Whole download, connect to last hash check. */
  timeoutMs: 120_000,
  /** Peers connected at once. */
  maxPeers: 4,
  /** A peer that owes us blocks, keeps us choked, has not handshaken or has nothing we need for this long is dropped. */
  stallTimeoutMs: 10_000,
  /** Requests in flight per peer (16 KiB each: 512 KiB, enough to fill a loopback or LAN link). */
  pipeline: 32,
  /** Progress is reported at most this often (and once at the end). */
  progressMs: 250,
  /** Drop reasons kept for the DownloadError. */
  maxReasons: 16,
  /** v2-only: hash requests in flight per peer (each up to 512 piece hashes). */
  hashPipeline: 4,
})

/** BEP-6 fast extension messages, understood even though we do not advertise it. */
const HAVE_ALL = 0x0e
const HAVE_NONE = 0x0f
const REJECT = 0x10

export interface DownloadProgress { piecesDone: number, pieces: number, bytesDone: number, bytes: number, peers: number }

export interface DownloadOptions {
  /** The infohash to handshake with (v1 SHA-1, or the truncated v2 of a hybrid or v2-only torrent). */
  infohash: Buffer
  /** Candidates, tried in order, at most maxPeers connected at once, each at most once. */
  peers: PeerAddr[]
  /** Total size cap (file bytes): a torrent larger than this is refused (LimitError) before any connection. */
  maxBytes: number
  /** Total deadline (default 120 s): TimeoutError. */
  timeoutMs?: number
  signal?: AbortSignal
  /** Default 4. */
  maxPeers?: number
  peerId?: Buffer
  onProgress?: (p: DownloadProgress) => void
  /** Per-peer stall timeout (default 10 s). */
  stallTimeoutMs?: number
  /** Requests in flight per peer (default 32; lowered to a peer's BEP-10 `reqq`). */
  pipeline?: number
}

/** A downloaded file; path relative to the torrent root (a single-file torrent: [name]). */
export interface DownloadedFile { path: string[], data: Buffer }

export interface DownloadResult {
  files: DownloadedFile[]
  pieces: number
  /** File bytes (pads excluded). */
  bytes: number
  /** Peers that sent at least one piece that passed its hash check. */
  peersUsed: number
  /** Pieces that failed their hash check (each banned its sender). */
  piecesFailed: number
  peersBanned: number
}

/** Download and verify a whole torrent from `opts.peers`. See the top of this file. */
export async function downloadTorrent (rawInfo: Buffer, opts: DownloadOptions): Promise<DownloadResult> {
  const layout = planDownload(rawInfo, opts.infohash, opts.maxBytes)
  checkOptions(opts)
  if (opts.signal?.aborted === true) throw abortReason(opts.signal)
  const d = new Download(layout, opts)
  try {
    return await d.run()
  } finally {
    await d.close()
  }
}

function checkOptions (o: DownloadOptions): void {
  if (!Array.isArray(o.peers)) throw new UsageError('download: peers must be an array')
  for (const p of o.peers) {
    if (typeof p?.host !== 'string' || !Number.isInteger(p.port) || p.port < 1 || p.port > 65535) throw new UsageError('download: each peer needs a host and a port 1-65535')
  }
  const positive = (v: number | undefined, what: string): void => {
    if (v !== undefined && !(Number.isFinite(v) && v > 0)) throw new UsageError(`download: ${what} must be > 0`)
  }
  positive(o.timeoutMs, 'timeoutMs')
  positive(o.stallTimeoutMs, 'stallTimeoutMs')
  if (o.maxPeers !== undefined && !(Number.isInteger(o.maxPeers) && o.maxPeers >= 1)) throw new UsageError('download: maxPeers must be an integer >= 1')
  if (o.pipeline !== undefined && !(Number.isInteger(o.pipeline) && o.pipeline >= 1 && o.pipeline <= 1024)) throw new UsageError('download: pipeline must be an integer from 1 to 1024')
  if (o.peerId !== undefined && (!Buffer.isBuffer(o.peerId) || o.peerId.length !== 20)) throw new UsageError('download: peerId must be 20 bytes')
}

class Peer {
  readonly key: string
  readonly has: Uint8Array
  readonly startedAt = Date.now()
  ready = false
  choked = true
  depth: number
  /** When it started owing us something (0: it owes nothing). */
  waitingSince = 0
  lastBlock = 0
  /** Since when it has none of the missing pieces (0: it has some). */
  uselessSince = 0
  piecesVerified = 0
  /** v2-only: piece-layer requests sent to it and not answered yet. */
  readonly hashOwed = new Set<HashChunk>()

  constructor (readonly addr: PeerAddr, readonly conn: AwaitedConn, numPieces: number, pipeline: number) {
    this.key = `${addr.host}:${addr.port}`
    this.has = new Uint8Array(numPieces)
    this.depth = pipeline
  }
}

class Download {
  private readonly ctl = new AbortController()
  private readonly picker: PiecePicker<Peer>
  private readonly peers = new Set<Peer>()
  private readonly tasks = new Set<Promise<void>>()
  private readonly tried = new Set<string>()
  private readonly banned = new Set<string>()
  private readonly reasons: string[] = []
  private readonly peerId: Buffer
  private readonly stallMs: number
  private readonly pipeline: number
  /** v2-only torrents: the piece layers to fetch; null for v1 and hybrid. */
  private readonly v2: V2DownloadLayout | null
  private nextCandidate = 0
  private piecesFailed = 0
  private bytesDone = 0
  private peersUsed = 0
  private settled = false
  private dirty = false
  private lastReport = 0
  private tick: NodeJS.Timeout | null = null
  private deadline: NodeJS.Timeout | null = null
  private resolve: () => void = () => {}
  private reject: (err: unknown) => void = () => {}

  constructor (private readonly layout: PieceLayout, private readonly opts: DownloadOptions) {
    const v2 = layout instanceof V2DownloadLayout ? layout : null
    this.v2 = v2
    this.picker = new PiecePicker(layout.numPieces, (p) => layout.blocks(p), v2 === null ? undefined : (p) => v2.ready(p))
    this.peerId = opts.peerId ?? Buffer.concat([Buffer.from('-BM0100-', 'latin1'), randomBytes(12)])
    this.stallMs = opts.stallTimeoutMs ?? DOWNLOAD_DEFAULTS.stallTimeoutMs
    this.pipeline = opts.pipeline ?? DOWNLOAD_DEFAULTS.pipeline
  }

  async run (): Promise<DownloadResult> {
    const settledPromise = new Promise<void>((resolve, reject) => { this.resolve = resolve; this.reject = reject })
    const timeoutMs = this.opts.timeoutMs ?? DOWNLOAD_DEFAULTS.timeoutMs
    this.deadline = setTimeout(() => this.fail(new TimeoutError(`download deadline of ${timeoutMs} ms passed: ${this.summary()}`)), timeoutMs)
    this.opts.signal?.addEventListener('abort', this.onAbort, { once: true })
    this.padOnlyPieces()
    if (this.picker.missing === 0) this.finish()
    else {
      this.tick = setInterval(() => this.onTick(), Math.min(DOWNLOAD_DEFAULTS.progressMs, this.stallMs))
      this.refill()
    }
    await settledPromise
    return {
      files: this.layout.paths.map((path, i) => ({ path, data: this.layout.files[i] })),
      pieces: this.layout.numPieces,
      bytes: this.layout.totalSize,
      peersUsed: this.peersUsed,
      piecesFailed: this.piecesFailed,
      peersBanned: this.banned.size,
    }
  }

  /** Stop every peer, clear every timer, wait for every socket to close. */
  async close (): Promise<void> {
    this.settled = true
    if (this.deadline !== null) clearTimeout(this.deadline)
    if (this.tick !== null) clearInterval(this.tick)
    this.opts.signal?.removeEventListener('abort', this.onAbort)
    if (!this.ctl.signal.aborted) this.ctl.abort(new AbortedError('download closed'))
    await Promise.allSettled([...this.tasks])
  }

  private readonly onAbort = (): void => {
    this.fail(abortReason(this.opts.signal as AbortSignal))
  }

  /** Pieces made only of pad bytes have nothing to ask for: their hash is checked over zeros. */
  private padOnlyPieces (): void {
    for (let p = 0; p < this.layout.numPieces; p++) {
      if (this.layout.blocks(p).some((b) => b !== null)) continue
      if (!this.layout.verifyPiece(p)) throw new HashMismatchError(`piece ${p} holds only pad bytes but its hash is not that of zeros`)
      this.picker.markDone(p)
      this.layout.pieceVerified(p)
    }
  }

  private finish (): void {
    if (this.settled) return
    try { this.report() } catch (err) { this.fail(err); return }
    this.settled = true
    this.ctl.abort(new AbortedError('download finished'))
    this.resolve()
  }

  private fail (err: unknown): void {
    if (this.settled) return
    this.settled = true
    this.ctl.abort(err)
    try { this.report() } catch (cbErr) { err = cbErr } // a throwing callback is a bug: surface it
    this.reject(err)
  }

  private summary (): string {
    const n = this.banned.size
    return `${this.picker.missing} of ${this.layout.numPieces} pieces missing, ${this.piecesFailed} failed their hash check, ` +
      `${n} peer${n === 1 ? '' : 's'} banned, ${this.tried.size} of ${this.opts.peers.length} candidates tried`
  }

  /** Dial candidates until maxPeers are connected; with none connected and none left, give up. */
  private refill (): void {
    const max = this.opts.maxPeers ?? DOWNLOAD_DEFAULTS.maxPeers
    while (!this.settled && this.peers.size < max && this.nextCandidate < this.opts.peers.length) {
      const addr = this.opts.peers[this.nextCandidate++]
      const key = `${addr.host}:${addr.port}`
      if (this.tried.has(key)) continue // banned or already dropped: never dialled twice
      this.tried.add(key)
      this.startPeer(addr)
    }
    if (!this.settled && this.peers.size === 0 && this.picker.missing > 0) {
      const why = this.reasons.length > 0 ? ` (${this.reasons.slice(0, 4).join('; ')}${this.reasons.length > 4 ? '; …' : ''})` : ''
      this.fail(new DownloadError(`download of ${this.layout.info.name} failed, no peer left: ${this.summary()}${why}`, {
        piecesMissing: this.picker.missing,
        pieces: this.layout.numPieces,
        piecesFailed: this.piecesFailed,
        peersBanned: this.banned.size,
        peersTried: this.tried.size,
        reasons: [...this.reasons],
      }))
    }
  }

  private startPeer (addr: PeerAddr): void {
    const peer = new Peer(addr, new AwaitedConn(addr, this.ctl.signal, 'download'), this.layout.numPieces, this.pipeline)
    this.peers.add(peer)
    const task: Promise<void> = this.runPeer(peer).finally(() => this.tasks.delete(task))
    this.tasks.add(task)
  }

  private async runPeer (peer: Peer): Promise<void> {
    try {
      await this.session(peer)
    } catch (err) {
      if (!(err instanceof BbmeshError)) { this.fail(err); return } // a bug, not the peer
      if (this.reasons.length < DOWNLOAD_DEFAULTS.maxReasons && !this.settled) {
        this.reasons.push(`${peer.key}: ${this.banned.has(peer.key) ? 'banned: ' : ''}${err.message}`)
      }
    } finally {
      this.peers.delete(peer)
      this.picker.release(peer)
      for (const c of peer.hashOwed) c.askedOf = null // back to the pool for another peer
      peer.hashOwed.clear()
      if (!this.settled) { this.kick(); this.refill() }
      await peer.conn.destroy()
    }
  }

  private async session (peer: Peer): Promise<void> {
    const conn = peer.conn
    await conn.connected()
    conn.write(encodeHandshake(this.opts.infohash, this.peerId, { v2: this.v2 !== null }))
    const hs = decodeHandshake(await conn.raw(HANDSHAKE_LEN))
    if (!hs.infohash.equals(this.opts.infohash)) throw new ProtocolError('answered the handshake for another infohash')
    peer.ready = true
    this.askHashes(peer)
    conn.write(frame(MSG.interested))
    for (;;) {
      const f = await conn.frame()
      if (f.length > 0) this.onMessage(peer, f)
    }
  }

  /** One message from a peer; throws (a BbmeshError) to drop the peer. */
  private onMessage (peer: Peer, f: Buffer): void {
    const n = this.layout.numPieces
    switch (f[0]) {
      case MSG.choke:
        peer.choked = true
        this.picker.choked(peer)
        return
      case MSG.unchoke:
        peer.choked = false
        this.fill(peer)
        return
      case MSG.have: {
        if (f.length !== 5) throw new ProtocolError('have message of the wrong length')
        const i = f.readUInt32BE(1)
        if (i >= n) throw new ProtocolError(`have for piece ${i} of ${n}`)
        peer.has[i] = 1
        this.fill(peer)
        return
      }
      case MSG.bitfield: {
        if (f.length - 1 !== Math.ceil(n / 8)) throw new ProtocolError(`bitfield of ${f.length - 1} bytes for ${n} pieces`)
        for (let i = 0; i < n; i++) if ((f[1 + (i >> 3)] & (0x80 >> (i & 7))) !== 0) peer.has[i] = 1
        this.fill(peer)
        return
      }
      case HAVE_ALL:
        peer.has.fill(1)
        this.fill(peer)
        return
      case HAVE_NONE:
        return
      case REJECT: {
        if (f.length !== 13) throw new ProtocolError('reject message of the wrong length')
        this.picker.rejected(peer, f.readUInt32BE(1), f.readUInt32BE(5), f.readUInt32BE(9))
        return
      }
      case MSG.piece:
        this.onBlock(peer, f)
        return
      case MSG.hashes:
        if (this.v2 !== null) this.onHashes(peer, f, this.v2) // v1, hybrid: never asked for, ignored
        return
      case MSG.hashReject:
        if (this.v2 !== null) this.onHashReject(peer, f)
        return
      case MSG.extended:
        // Only its BEP-10 handshake matters: a smaller `reqq` lowers our pipeline to it.
        if (f.length >= 2 && f[1] === 0) {
          const reqq = decodeExtHandshake(f.subarray(2)).reqq
          if (reqq !== undefined && reqq >= 1) peer.depth = Math.min(this.pipeline, reqq)
        }
        return
      default:
        // interested, not interested, request, cancel (we serve nothing), port, suggest,
        // allowed fast, hash requests, unknown ids: ignored (BEP-3).
    }
  }

  private onBlock (peer: Peer, f: Buffer): void {
    if (f.length < 9) throw new ProtocolError('piece message shorter than its header')
    const piece = f.readUInt32BE(1)
    const begin = f.readUInt32BE(5)
    const data = f.subarray(9)
    const verdict = this.picker.receive(peer, piece, begin, data.length)
    if (verdict === 'unrequested') throw new ProtocolError(`sent a block never requested (piece ${piece}, offset ${begin}, ${data.length} bytes)`)
    if (verdict === 'wrong-length') throw new ProtocolError(`sent a block of the wrong length (piece ${piece}, offset ${begin}, ${data.length} bytes)`)
    if (verdict === 'duplicate') return
    peer.lastBlock = Date.now()
    if (!this.layout.write(piece, begin, data)) this.badPiece(peer, piece, `piece ${piece} has non-zero bytes in a pad file`)
    if (this.picker.isComplete(piece)) {
      if (!this.layout.verifyPiece(piece)) this.badPiece(peer, piece, `piece ${piece} failed its ${this.layout.check} check`)
      this.picker.settle(piece, true)
      if (peer.piecesVerified++ === 0) this.peersUsed++
      this.bytesDone += this.layout.dataBytes(piece)
      this.dirty = true
      try {
        this.layout.pieceVerified(piece)
      } catch (err) {
        this.fail(err) // a hybrid whose v1 and v2 hashes disagree: no peer can fix it
        return
      }
      if (this.picker.missing === 0) { this.finish(); return }
    }
    this.fill(peer)
  }

  /** The chunk of our requests to `peer` that a hashes / hash reject header names, if any. */
  private owedChunk (peer: Peer, header: Buffer): HashChunk | undefined {
    const r = decodeHashRequest(header)
    for (const c of peer.hashOwed) {
      if (c.root.equals(r.root) && c.base === r.base && c.index === r.index && c.length === r.length && c.proofLayers === r.proofLayers) return c
    }
    return undefined
  }

  /** BEP-52 `hashes`: a reply to one of our piece-layer requests, proven up to the file's root or the sender is banned. */
  private onHashes (peer: Peer, f: Buffer, v2: V2DownloadLayout): void {
    if (f.length < 1 + HASH_REQUEST_BYTES) throw new ProtocolError('hashes message shorter than its header')
    const c = this.owedChunk(peer, f.subarray(1, 1 + HASH_REQUEST_BYTES))
    if (c === undefined) throw new ProtocolError('sent hashes never requested')
    peer.hashOwed.delete(c)
    c.askedOf = null
    if (!v2.acceptHashes(c, f.subarray(1 + HASH_REQUEST_BYTES))) {
      this.banned.add(peer.key)
      throw new HashMismatchError(`hashes for ${v2.path(c.file)} (pieces ${c.index}..${c.index + c.length - 1}) do not prove up to its pieces root`)
    }
    peer.lastBlock = Date.now()
    this.kick() // pieces whose hash is now known can be asked for
  }

  /** BEP-52 `hash reject`: that peer will not give these hashes; another may. */
  private onHashReject (peer: Peer, f: Buffer): void {
    if (f.length !== 1 + HASH_REQUEST_BYTES) throw new ProtocolError('hash reject message of the wrong length')
    const c = this.owedChunk(peer, f.subarray(1))
    if (c === undefined) return // not ours (or already answered): nothing to undo
    peer.hashOwed.delete(c)
    c.askedOf = null
    c.rejectedBy.add(peer.key)
    peer.lastBlock = Date.now()
    this.kick()
  }

  /** v2-only: ask the peer for piece-layer chunks nobody is asked for and it has not rejected. */
  private askHashes (peer: Peer): void {
    if (this.v2 === null || !peer.ready || this.settled) return
    const out: Buffer[] = []
    for (const c of this.v2.chunks) {
      if (peer.hashOwed.size >= DOWNLOAD_DEFAULTS.hashPipeline) break
      if (c.done || c.askedOf !== null || c.rejectedBy.has(peer.key)) continue
      c.askedOf = peer
      peer.hashOwed.add(c)
      out.push(frame(MSG.hashRequest, encodeHashRequest(c)))
    }
    if (out.length > 0) peer.conn.write(out.length === 1 ? out[0] : Buffer.concat(out))
  }

  /** v2-only: piece-layer chunks still missing that this peer has not rejected. */
  private hashWork (peer: Peer): boolean {
    return this.v2 !== null && this.v2.chunks.some((c) => !c.done && !c.rejectedBy.has(peer.key))
  }

  /** Bad data: count the piece, ban its sender (this download never dials it again), drop it. */
  private badPiece (peer: Peer, piece: number, why: string): never {
    this.piecesFailed++
    this.picker.settle(piece, false)
    this.banned.add(peer.key)
    throw new HashMismatchError(why)
  }

  /** Ask the peer for blocks until its pipeline is full or there is nothing it can give. */
  private fill (peer: Peer): void {
    if (!peer.ready || peer.choked || this.settled) return
    const out: Buffer[] = []
    while (this.picker.outstanding(peer) < peer.depth) {
      const r = this.picker.next(peer, peer.has)
      if (r === null) break
      out.push(requestFrame(r))
    }
    if (out.length > 0) peer.conn.write(out.length === 1 ? out[0] : Buffer.concat(out))
  }

  /** Pieces (or hash requests) went back to the pool, or became askable: let every peer pick them up. */
  private kick (): void {
    for (const p of this.peers) { this.askHashes(p); this.fill(p) }
  }

  private onTick (): void {
    const now = Date.now()
    for (const p of this.peers) this.checkStall(p, now)
    if (this.dirty && now - this.lastReport >= DOWNLOAD_DEFAULTS.progressMs) {
      try { this.report() } catch (err) { this.fail(err) }
    }
  }

  private checkStall (p: Peer, now: number): void {
    const ms = this.stallMs
    if (!p.ready) {
      if (now - p.startedAt > ms) p.conn.fail(new TimeoutError(`no handshake within ${ms} ms`))
      return
    }
    const wants = this.picker.wants(p.has) || this.hashWork(p)
    const owed = this.picker.outstanding(p)
    const hashOwed = p.hashOwed.size
    if (owed > 0 || hashOwed > 0 || (p.choked && wants)) {
      if (p.waitingSince === 0) p.waitingSince = now
      if (now - Math.max(p.waitingSince, p.lastBlock) > ms) {
        p.conn.fail(new TimeoutError(owed > 0
          ? `stalled: no block for ${ms} ms with ${owed} requests pending`
          : hashOwed > 0 ? `stalled: no hashes for ${ms} ms with ${hashOwed} hash requests pending` : `kept us choked for ${ms} ms`))
        return
      }
    } else {
      p.waitingSince = 0
    }
    if (wants) p.uselessSince = 0
    else if (p.uselessSince === 0) p.uselessSince = now
    else if (now - p.uselessSince > ms) p.conn.fail(new TimeoutError(`had none of the missing pieces for ${ms} ms`))
  }

  private report (): void {
    this.dirty = false
    this.lastReport = Date.now()
    if (this.opts.onProgress === undefined) return
    let ready = 0
    for (const p of this.peers) if (p.ready) ready++
    this.opts.onProgress({
      piecesDone: this.layout.numPieces - this.picker.missing,
      pieces: this.layout.numPieces,
      bytesDone: this.bytesDone,
      bytes: this.layout.totalSize,
      peers: ready,
    })
  }
}

function requestFrame (r: BlockRequest): Buffer {
  const b = Buffer.allocUnsafe(12)
  b.writeUInt32BE(r.piece, 0)
  b.writeUInt32BE(r.begin, 4)
  b.writeUInt32BE(r.length, 8)
  return frame(MSG.request, b)
}
