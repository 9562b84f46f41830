// bb_have: pushes the infohashes a member has just indexed, so the others pull them by
// bb_meta instead of fetching from the swarm, and the sender's view of the membership (the
// node IDs of its linked members), so ownership is agreed before every pair has linked. Its
// BEP-10 handshake extras: `bb_node`, the member's DHT node ID (20 bytes), which fetch
// ownership and keyspace regions use; `bb_mode`, its contribution mode (only "full" and
// "source" members own fetches).

import type { Extension, ExtensionFactory, ExtensionContext, RemoteInfo } from './extension.js'
import { decodeHave, encodeHave, BB_HAVE_MAX, BB_HAVE_MAX_MESSAGE, BB_HAVE_MAX_VIEW } from './bb-have.codec.js'
import type { ExtHandshake } from '../src/wire/messages.js'

export const BB_HAVE = 'bb_have'

export const CONTRIBUTION_MODES = ['full', 'consumer', 'source', 'leech'] as const
export type ContributionMode = typeof CONTRIBUTION_MODES[number]

export interface BbHaveHandle {
  readonly remote: RemoteInfo
  /** The member's DHT node id, from its handshake (null if it sent none). */
  readonly nodeId: Buffer | null
  /** The member's contribution mode from its handshake ("full" when it sent none or an unknown one). */
  readonly mode: ContributionMode
  push: (ihs: Buffer[]) => void
  /** Send our current view of the membership (node IDs, at most 64). */
  sendView: (ids: Buffer[]) => void
}

export interface BbHaveOptions {
  nodeId: Buffer
  mode?: ContributionMode
  onOpen?: (h: BbHaveHandle) => void
  onClose?: (h: BbHaveHandle) => void
  onHave?: (ihs: Buffer[], from: BbHaveHandle) => void
  onView?: (ids: Buffer[], from: BbHaveHandle) => void
}

export function bbHave (o: BbHaveOptions): ExtensionFactory {
  return (ctx: ExtensionContext): Extension => new BbHave(ctx, o)
}

class BbHave implements Extension {
  readonly name = BB_HAVE
  readonly maxMessage = BB_HAVE_MAX_MESSAGE
  readonly requiresAuth = true
  private nodeId: Buffer | null = null
  private mode: ContributionMode = 'full'
  private handle: BbHaveHandle | null = null

  constructor (private readonly ctx: ExtensionContext, private readonly o: BbHaveOptions) {}

  handshakeExtra (): Record<string, Buffer | string> { return { bb_node: this.o.nodeId, bb_mode: this.o.mode ?? 'full' } }

  onRemoteHandshake (hs: ExtHandshake): void {
    const v = hs.raw.bb_node
    if (v instanceof Uint8Array && v.length === 20) this.nodeId = Buffer.from(v)
    const m = hs.raw.bb_mode
    if (m instanceof Uint8Array) {
      const s = Buffer.from(m).toString('latin1')
      if ((CONTRIBUTION_MODES as readonly string[]).includes(s)) this.mode = s as ContributionMode
    }
    if (this.handle === null && this.ctx.authenticated()) this.onAuthenticated()
  }

  onAuthenticated (): void {
    if (this.handle !== null || !this.ctx.remoteSupports()) return
    const self = this
    this.handle = {
      remote: this.ctx.remote,
      get nodeId () { return self.nodeId },
      get mode () { return self.mode },
      push: (ihs) => {
        for (let i = 0; i < ihs.length; i += BB_HAVE_MAX) this.ctx.send(encodeHave(ihs.slice(i, i + BB_HAVE_MAX)))
      },
      sendView: (ids) => { this.ctx.send(encodeHave([], ids.slice(0, BB_HAVE_MAX_VIEW))) },
    }
    this.o.onOpen?.(this.handle)
  }

  onMessage (payload: Buffer): void {
    const m = decodeHave(payload)
    if (this.handle === null) return
    if (m.ihs.length > 0) this.o.onHave?.(m.ihs, this.handle)
    if (m.view !== null) this.o.onView?.(m.view, this.handle)
  }

  close (): void {
    if (this.handle !== null) this.o.onClose?.(this.handle)
  }
}
