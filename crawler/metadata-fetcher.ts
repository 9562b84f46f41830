// The BEP-9 fetch, one straight-line function under one total deadline that ends with the
// hash check: connect, BEP-3 handshake, BEP-10 handshake, request every ut_metadata piece,
// check each piece's index and length, assemble, and verify the raw bytes against the
// infohash (SHA-1 for v1, truncated SHA-256 for v2). Written here rather than on the
// ut_metadata package: that one crashes on an out-of-range piece, finds the trailer by a text
// search, has no deadline and knows SHA-1 only.

import { randomBytes } from 'node:crypto'
import { AwaitedConn } from '../src/wire/awaited-conn.js'
import { encodeHandshake, decodeHandshake, HANDSHAKE_LEN } from '../src/wire/handshake.js'
import { MSG, extendedFrame, decodeExtHandshake, decodeMetadataMessage } from '../src/wire/messages.js'
import { LIMITS } from '../src/core/limits.js'
import { ProtocolError, LimitError } from '../src/core/errors.js'
import { throwIfAborted } from '../src/core/deadline.js'
import type { PeerAddr } from '../src/core/compact.js'
import { verifyInfohash } from '../src/torrent/info-verify.js'

/** Our id for ut_metadata in the `m` dict we send; the remote tags its data messages with it. */
const OUR_UT_METADATA = 2

export interface FetchOptions {
  peerId?: Buffer
  signal?: AbortSignal
  /** Total deadline for connect + handshakes + transfer + check. */
  timeoutMs?: number
  maxSize?: number
  /** BEP-10 `v` we send. */
  client?: string
}

export interface FetchResult {
  raw: Buffer
  kind: 'v1' | 'v2'
  client?: string
}

export function makePeerId (): Buffer {
  return Buffer.concat([Buffer.from('-BM0100-', 'latin1'), randomBytes(12)])
}

export async function fetchMetadata (infohash: Buffer, peer: PeerAddr, opts: FetchOptions = {}): Promise<FetchResult> {
  const deadline = AbortSignal.timeout(opts.timeoutMs ?? 10_000)
  const signal = opts.signal === undefined ? deadline : AbortSignal.any([opts.signal, deadline])
  const maxSize = Math.min(opts.maxSize ?? LIMITS.metadataMaxSize, LIMITS.metadataMaxSize)
  // An already-aborted signal never fires 'abort' again, and AbortSignal.any() of it hides
  // the deadline too: without this check the fetch would wait on the peer forever.
  throwIfAborted(signal)
  const conn = new AwaitedConn(peer, signal, 'metadata fetch')
  try {
    await conn.connected()
    conn.write(encodeHandshake(infohash, opts.peerId ?? makePeerId(), { dht: true }))
    conn.write(extendedFrame(0, { m: { ut_metadata: OUR_UT_METADATA }, v: opts.client ?? 'bbmesh 0.1', reqq: 250 }))

    const hs = decodeHandshake(await conn.raw(HANDSHAKE_LEN))
    if (!hs.infohash.equals(infohash)) throw new ProtocolError('peer answered for another infohash')
    if (!hs.extended) throw new ProtocolError('peer does not support the extension protocol (BEP-10)')

    // Wait for the peer's extended handshake; other messages (bitfield, have...) are skipped.
    let theirs: number | undefined
    let size: number | undefined
    let client: string | undefined
    for (;;) {
      const f = await conn.frame()
      if (f.length === 0 || f[0] !== MSG.extended || f.length < 2 || f[1] !== 0) continue
      const ext = decodeExtHandshake(f.subarray(2))
      theirs = ext.m.get('ut_metadata')
      size = ext.metadataSize
      client = ext.client
      break
    }
    if (theirs === undefined) throw new ProtocolError('peer does not offer ut_metadata (BEP-9)')
    if (size === undefined || size <= 0) throw new ProtocolError('peer gave no metadata_size')
    if (size > maxSize) throw new LimitError(`metadata_size ${size} exceeds cap ${maxSize}`)

    const pieceLen = LIMITS.metadataPiece
    const pieces = Math.ceil(size / pieceLen)
    for (let i = 0; i < pieces; i++) conn.write(extendedFrame(theirs, { msg_type: 0, piece: i }))

    const buf = Buffer.alloc(size)
    const got = new Uint8Array(pieces)
    let remaining = pieces
    while (remaining > 0) {
      const f = await conn.frame()
      if (f.length < 2 || f[0] !== MSG.extended || f[1] !== OUR_UT_METADATA) continue
      const m = decodeMetadataMessage(f.subarray(2))
      if (m.msgType === 2) throw new ProtocolError(`peer rejected metadata piece ${m.piece}`)
      if (m.msgType !== 1) continue
      if (m.piece >= pieces) throw new ProtocolError(`metadata piece index ${m.piece} out of range 0..${pieces - 1}`)
      if (m.totalSize !== undefined && m.totalSize !== size) throw new ProtocolError('metadata total_size differs from metadata_size')
      const expect = m.piece === pieces - 1 ? size - m.piece * pieceLen : pieceLen
      const data = m.data as Buffer
      if (data.length !== expect) throw new ProtocolError(`metadata piece ${m.piece} is ${data.length} bytes, expected ${expect}`)
      if (got[m.piece] === 1) continue
      data.copy(buf, m.piece * pieceLen)
      got[m.piece] = 1
      remaining--
    }
    const kind = verifyInfohash(buf, infohash)
    return { raw: buf, kind, client }
  } finally {
    await conn.destroy()
  }
}
