// bb_samples: sample pooling. A member forwards each infohash it discovers to the member that
// owns it (XOR-closest node ID), which queues it for a fetch; the owner then pushes the info
// dict's keys with bb_have and everyone pulls. Incoming infohashes are rate-limited per link
// (a token bucket); what is over the rate is dropped and counted, not queued.

import type { Extension, ExtensionFactory, ExtensionContext, RemoteInfo } from './extension.js'
import { decodeSamples, encodeSamples, BB_SAMPLES_MAX, BB_SAMPLES_MAX_MESSAGE } from './bb-samples.codec.js'
import { TokenBucket } from '../src/core/token-bucket.js'

export const BB_SAMPLES = 'bb_samples'
/** Infohashes per second one link may hand us (burst: twice that). */
export const BB_SAMPLES_RATE = 5000

export interface BbSamplesHandle {
  readonly remote: RemoteInfo
  send: (ihs: Buffer[]) => void
}

export interface BbSamplesOptions {
  onOpen?: (h: BbSamplesHandle) => void
  onClose?: (h: BbSamplesHandle) => void
  onSamples?: (ihs: Buffer[], from: BbSamplesHandle) => void
  /** Infohashes dropped over the rate. */
  onDropped?: (n: number) => void
  rate?: number
  now?: () => number
}

export function bbSamples (o: BbSamplesOptions = {}): ExtensionFactory {
  return (ctx: ExtensionContext): Extension => new BbSamples(ctx, o)
}

class BbSamples implements Extension {
  readonly name = BB_SAMPLES
  readonly maxMessage = BB_SAMPLES_MAX_MESSAGE
  readonly requiresAuth = true
  private handle: BbSamplesHandle | null = null
  private readonly bucket: TokenBucket

  constructor (private readonly ctx: ExtensionContext, private readonly o: BbSamplesOptions) {
    const rate = o.rate ?? BB_SAMPLES_RATE
    this.bucket = new TokenBucket(rate, rate * 2, o.now)
  }

  onRemoteHandshake (): void {
    if (this.handle === null && this.ctx.authenticated()) this.onAuthenticated()
  }

  onAuthenticated (): void {
    if (this.handle !== null || !this.ctx.remoteSupports()) return
    this.handle = {
      remote: this.ctx.remote,
      send: (ihs) => {
        for (let i = 0; i < ihs.length; i += BB_SAMPLES_MAX) this.ctx.send(encodeSamples(ihs.slice(i, i + BB_SAMPLES_MAX)))
      },
    }
    this.o.onOpen?.(this.handle)
  }

  onMessage (payload: Buffer): void {
    const ihs = decodeSamples(payload)
    if (this.handle === null) return
    if (!this.bucket.tryTake(ihs.length)) { this.o.onDropped?.(ihs.length); return }
    this.o.onSamples?.(ihs, this.handle)
  }

  close (): void {
    if (this.handle !== null) this.o.onClose?.(this.handle)
  }
}
