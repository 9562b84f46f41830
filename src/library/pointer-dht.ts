// The pointer over the DHT: put (publisher) and get (fetcher) of the BEP-46 item through our
// DhtNode, and the republisher that keeps it alive while the node runs (docs/library.md
// "Pointer").
//
// put: a get first for the item the DHT holds now (verified), then seq = 1 + the highest of that
//   and the seq we put before (pointers.json), with cas = the seq found (BEP-44); the seq is
//   persisted before the put goes out, so a crash half-way never reuses it.
// get: a get traversal; answers whose signature fails or that are under another key/salt are
//   dropped; the highest seq left is checked again here (signature, value, caps) and against the
//   highest seq seen before (PointerError 'stale'), then recorded.

import { decode, encode, type BValue, type EncodableValue } from '../core/bencode.js'
import { PointerError, isExpected, errorMessage } from '../core/errors.js'
import { silentLogger, type Logger } from '../core/logger.js'
import type { DhtNode } from '../../crawler/dht-node.js'
import { ed25519Verify, nextSeq, openPointer, pointerTarget, saltBytes, signPointer, type MutableItem, type Pointer, type PointerSigner } from './pointer.js'
import type { PointerStore } from './pointer-store.js'

/** BEP-44: storing nodes may drop items after 2 hours; libtorrent republishes each hour. */
export const POINTER_REPUBLISH_MS = 60 * 60 * 1000

/** The item the DHT holds under (publicKey, salt), verified, or null. Not checked against the seen seq. */
export async function getMutableItem (node: DhtNode, publicKey: Buffer, salt?: Uint8Array | string): Promise<MutableItem | null> {
  const s = saltBytes(salt)
  const found = await node.getMutable(pointerTarget(publicKey, s), { salt: s, verify: ed25519Verify })
  if (found === null) return null
  return { k: found.k, ...(s !== undefined ? { salt: s } : {}), seq: found.seq, v: encode(found.v as EncodableValue), sig: found.sig }
}

export interface PutResult extends Pointer { target: Buffer, item: MutableItem, stored: number }

/** Publish a pointer to ih under the signer's key (and salt). */
export async function putPointer (node: DhtNode, signer: PointerSigner, ih: Uint8Array, opts: { store: PointerStore, salt?: Uint8Array | string, keepSame?: boolean }): Promise<PutResult> {
  const s = saltBytes(opts.salt)
  const publicKey = Buffer.from(signer.publicKey)
  const target = pointerTarget(publicKey, s)
  const current = await getMutableItem(node, publicKey, s)
  // keepSame: the DHT already points at ih with our latest seq (a restart, an unchanged
  // library): store that signed item again rather than spend a seq on the same value.
  if (opts.keepSame === true && current !== null && current.seq >= (opts.store.published(publicKey, s) ?? 0)) {
    let same = false
    try { same = openPointer(current, { publicKey, salt: s }).ih.equals(Buffer.from(ih)) } catch (err) { if (!isExpected(err)) throw err }
    if (same) {
      opts.store.recordPublished(publicKey, s, current.seq)
      return { ih: Buffer.from(ih), seq: current.seq, target, item: current, stored: await sendItem(node, current) }
    }
  }
  const seq = nextSeq(current?.seq, opts.store.published(publicKey, s))
  const item = signPointer(signer, ih, seq, s)
  opts.store.recordPublished(publicKey, s, seq)
  const stored = await sendItem(node, item, current?.seq)
  return { ih: Buffer.from(ih), seq, target, item, stored }
}

async function sendItem (node: DhtNode, item: MutableItem, cas?: number): Promise<number> {
  let stored: number
  try {
    stored = await node.putMutable({ k: item.k, salt: item.salt, seq: item.seq, v: decode(item.v) as BValue, sig: item.sig, ...(cas !== undefined ? { cas } : {}) })
  } catch (err) {
    throw new PointerError('put-failed', `the pointer put (seq ${item.seq}) reached no node: ${errorMessage(err)}`, { cause: err })
  }
  if (stored === 0) throw new PointerError('put-failed', `no DHT node stored the pointer (seq ${item.seq})`)
  return stored
}

/**
 * Fetch and check the pointer under (publicKey, salt): PointerError 'not-found' when no node
 * holds a valid one, 'stale' when its seq is lower than one seen before; SchemaError for a
 * value that is not a BEP-46 pointer.
 */
export async function getPointer (node: DhtNode, publicKey: Buffer, opts: { store: PointerStore, salt?: Uint8Array | string }): Promise<Pointer> {
  const s = saltBytes(opts.salt)
  const item = await getMutableItem(node, publicKey, s)
  if (item === null) throw new PointerError('not-found', `no valid pointer under key ${publicKey.toString('hex')}${s !== undefined ? ` salt ${s.toString('hex')}` : ''} on the DHT`)
  const p = openPointer(item, { publicKey, salt: s })
  opts.store.recordSeen(publicKey, s, p.seq)
  return p
}

/**
 * Keeps a published pointer alive: puts the same signed item again every `intervalMs` (default
 * one hour, inside BEP-44's two-hour expiry) until stop(). Failures are logged, not thrown.
 */
export class PointerRepublisher {
  private timer: NodeJS.Timeout | null = null
  private running: Promise<void> | null = null

  constructor (private readonly node: DhtNode, private item: MutableItem, private readonly opts: { intervalMs?: number, logger?: Logger } = {}) {}

  /** Replace the item (after a new put). */
  update (item: MutableItem): void { this.item = item }

  start (): void {
    if (this.timer !== null) return
    this.timer = setInterval(() => { void this.republishNow() }, this.opts.intervalMs ?? POINTER_REPUBLISH_MS)
    this.timer.unref()
  }

  /** One republish now; resolves with the nodes that stored it (0 on failure). */
  async republishNow (): Promise<number> {
    const log = this.opts.logger ?? silentLogger
    const run = sendItem(this.node, this.item)
    this.running = run.then(() => {}, () => {})
    try {
      const n = await run
      log.debug({ seq: this.item.seq, stored: n }, 'pointer republished')
      return n
    } catch (err) {
      if (!isExpected(err)) throw err
      log.warn({ seq: this.item.seq, err: err.message }, 'pointer republish failed')
      return 0
    }
  }

  async stop (): Promise<void> {
    if (this.timer !== null) clearInterval(this.timer)
    this.timer = null
    await this.running
  }
}
