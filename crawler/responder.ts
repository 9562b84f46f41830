// BEP-51 responder: answers sample_infohashes from a sample source (the store's indexed
// torrents for a harvester, announced infohashes for a plain testnet node), with `num`,
// `interval` and the `nodes` closest to the target, like libtorrent does.

import type { KrpcQuery } from './krpc-schema.js'
import type { DhtNode } from './dht-node.js'
import type { EncodableValue } from '../src/core/bencode.js'
import { LIMITS } from '../src/core/limits.js'

export interface SampleSource {
  /** How many infohashes we hold. */
  count (): number
  /** Up to n random 20-byte infohashes. */
  random (n: number): Buffer[]
}

export interface ResponderOptions {
  interval?: number
  samples?: number
}

export function buildSampleAnswer (node: { id: Buffer, encodeClosest: (t: Uint8Array, k?: number) => Buffer }, source: SampleSource, q: KrpcQuery, opts: ResponderOptions = {}): Record<string, EncodableValue> {
  const want = Math.min(opts.samples ?? LIMITS.bep51SamplesOut, LIMITS.bep51SamplesOut)
  const samples = source.random(want).filter((s) => s.length === 20).slice(0, want)
  return {
    id: node.id,
    interval: opts.interval ?? LIMITS.bep51Interval,
    num: source.count(),
    samples: Buffer.concat(samples),
    nodes: node.encodeClosest(q.a.target as Uint8Array, 8),
  }
}

export function installResponder (node: DhtNode, source: SampleSource, opts: ResponderOptions = {}): void {
  node.handle('sample_infohashes', (q) => buildSampleAnswer(node, source, q, opts))
}

/**
 * A bounded set of infohashes that expire: what a plain DHT node "holds" (infohashes peers
 * announced to it). Used as the sample source of testnet nodes and for passive harvest.
 */
export class ExpiringSet implements SampleSource {
  private readonly map = new Map<string, { ih: Buffer, at: number }>()
  constructor (readonly max: number, readonly ttlMs: number, private readonly now: () => number = Date.now) {}

  add (ih: Buffer): void {
    const k = ih.toString('hex')
    this.map.delete(k)
    this.map.set(k, { ih, at: this.now() })
    while (this.map.size > this.max) this.map.delete(this.map.keys().next().value as string)
  }

  private prune (): void {
    const limit = this.now() - this.ttlMs
    for (const [k, v] of this.map) {
      if (v.at >= limit) break
      this.map.delete(k)
    }
  }

  count (): number { this.prune(); return this.map.size }

  random (n: number): Buffer[] {
    this.prune()
    const all = [...this.map.values()]
    for (let i = all.length - 1; i > 0 && all.length - i <= n; i--) {
      const j = Math.floor(Math.random() * (i + 1))
      const t = all[i]; all[i] = all[j]; all[j] = t
    }
    return all.slice(Math.max(0, all.length - n)).map((e) => e.ih)
  }
}
