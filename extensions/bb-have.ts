// bb_have: pushes the infohashes a member has just indexed, so the others pull them by
// bb_meta instead of fetching from the swarm. Its BEP-10 handshake extra `bb_node` carries
// the member's DHT node ID (20 bytes), which fetch ownership and keyspace regions use.

import type { Extension, ExtensionFactory, ExtensionContext, RemoteInfo } from './extension.js'
import { decodeHave, encodeHave, BB_HAVE_MAX, BB_HAVE_MAX_MESSAGE } from './bb-have.codec.js'
import type { ExtHandshake } from '../src/wire/messages.js'

export const BB_HAVE = 'bb_have'

export interface BbHaveHandle {
  readonly remote: RemoteInfo
  /** The member's DHT node id, from its handshake (null if it sent none). */
  readonly nodeId: Buffer | null
  push: (ihs: Buffer[]) => void
}

export interface BbHaveOptions {
  nodeId: Buffer
  onOpen?: (h: BbHaveHandle) => void
  onClose?: (h: BbHaveHandle) => void
  onHave?: (ihs: Buffer[], from: BbHaveHandle) => void
}

export function bbHave (o: BbHaveOptions): ExtensionFactory {
  return (ctx: ExtensionContext): Extension => new BbHave(ctx, o)
}

class BbHave implements Extension {
  readonly name = BB_HAVE
  readonly maxMessage = BB_HAVE_MAX_MESSAGE
  readonly requiresAuth = true
  private nodeId: Buffer | null = null
  private handle: BbHaveHandle | null = null

  constructor (private readonly ctx: ExtensionContext, private readonly o: BbHaveOptions) {}

  handshakeExtra (): Record<string, Buffer> { return { bb_node: this.o.nodeId } }

  onRemoteHandshake (hs: ExtHandshake): void {
    const v = hs.raw.bb_node
    if (v instanceof Uint8Array && v.length === 20) this.nodeId = Buffer.from(v)
    if (this.handle === null && this.ctx.authenticated()) this.onAuthenticated()
  }

  onAuthenticated (): void {
    if (this.handle !== null || !this.ctx.remoteSupports()) return
    const self = this
    this.handle = {
      remote: this.ctx.remote,
      get nodeId () { return self.nodeId },
      push: (ihs) => {
        for (let i = 0; i < ihs.length; i += BB_HAVE_MAX) this.ctx.send(encodeHave(ihs.slice(i, i + BB_HAVE_MAX)))
      },
    }
    this.o.onOpen?.(this.handle)
  }

  onMessage (payload: Buffer): void {
    const ihs = decodeHave(payload)
    if (this.handle !== null) this.o.onHave?.(ihs, this.handle)
  }

  close (): void {
    if (this.handle !== null) this.o.onClose?.(this.handle)
  }
}
