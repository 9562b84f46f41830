// bb_bloom: after bb_auth each member sends the Bloom filter of every infohash it holds
// metadata for (in chunks, codec in bb-bloom.codec.ts), so a member that joins late knows
// what the others already have; later additions travel as bb_have pushes. A filter that
// breaks the caps or arrives out of order is a protocol violation.

import type { Extension, ExtensionFactory, ExtensionContext, RemoteInfo } from './extension.js'
import { decodeBloomMessage, fullFilterMessages, BB_BLOOM_MAX_MESSAGE } from './bb-bloom.codec.js'
import { InfohashBloom } from '../src/coop/infohash-bloom.js'
import { SchemaError } from '../src/core/errors.js'

export const BB_BLOOM = 'bb_bloom'

export interface BbBloomOptions {
  /** Our filter as it is now (null: we hold nothing, or share nothing in this mode). */
  local: () => InfohashBloom | null
  /** A member's whole filter arrived (replacing any earlier one). */
  onFilter?: (remote: RemoteInfo, filter: InfohashBloom) => void
  /** The member's link closed. */
  onClose?: (remote: RemoteInfo) => void
}

export function bbBloom (o: BbBloomOptions): ExtensionFactory {
  return (ctx: ExtensionContext): Extension => new BbBloom(ctx, o)
}

class BbBloom implements Extension {
  readonly name = BB_BLOOM
  readonly maxMessage = BB_BLOOM_MAX_MESSAGE
  readonly requiresAuth = true
  private generation = 0
  private incoming: { g: number, m: number, k: number, n: number, bits: Uint8Array, got: number } | null = null
  private sent = false

  constructor (private readonly ctx: ExtensionContext, private readonly o: BbBloomOptions) {}

  onAuthenticated (): void { this.sendFull() }
  onRemoteHandshake (): void { if (this.ctx.authenticated()) this.sendFull() }

  private sendFull (): void {
    if (this.sent || !this.ctx.remoteSupports()) return
    this.sent = true
    // Holding nothing (or sharing nothing) still sends a filter, the smallest one, empty: the
    // other side then knows all it holds is news to us and pushes it (catch-up).
    const local = this.o.local()
    const f = local === null || local.count === 0 ? new InfohashBloom(1024, 1) : local
    this.generation++
    for (const msg of fullFilterMessages(this.generation, f.m, f.k, f.count, f.bits)) this.ctx.send(msg)
  }

  onMessage (payload: Buffer): void {
    const m = decodeBloomMessage(payload)
    if (m.t === 'a') {
      // Deltas travel as bb_have; accept and ignore them here (room for other senders).
      return
    }
    if (m.o === 0) this.incoming = { g: m.g, m: m.m, k: m.k, n: m.n, bits: new Uint8Array(m.m / 8), got: 0 }
    const inc = this.incoming
    if (inc === null || inc.g !== m.g || inc.m !== m.m || inc.k !== m.k) throw new SchemaError('bb_bloom: chunk of a filter that was not started')
    if (m.o !== inc.got) throw new SchemaError('bb_bloom: chunks out of order')
    inc.bits.set(m.b, m.o)
    inc.got += m.b.length
    if (inc.got === inc.bits.length) {
      const f = new InfohashBloom(inc.m, inc.k, inc.bits)
      f.count = inc.n
      this.incoming = null
      this.o.onFilter?.(this.ctx.remote, f)
    }
  }

  close (): void {
    this.incoming = null
    this.o.onClose?.(this.ctx.remote)
  }
}
