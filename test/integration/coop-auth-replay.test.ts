// A recorded bb_auth exchange is useless on another connection. Two real members authenticate
// through a recording TCP proxy on loopback; then a raw client replays, on fresh TCP
// connections, exactly the bytes one of them sent (its BitTorrent handshake with its peer id,
// its BEP-10 handshake, its challenge, proof and hello): all at once, and paced the way the
// original went (each message only after the member's own message that preceded it). The
// only thing a replayer can adjust, the timing, is all that changes. Both roles are tried:
// the initiator's bytes toward the responder, and the responder's bytes toward the initiator
// when it dials the replayer. Each time the member sends nothing but its own challenge (never
// a proof, a hello or any other bb_* message), drops the connection as misbehaving ("bb_auth
// failed": every proof covers the verifier's fresh nonce), emits no 'member', and its genuine
// link stays up. The proxy, the raw peers and every socket are closed by the test.

import { test } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { createServer, connect, type Server, type Socket } from 'node:net'
import { pino } from 'pino'
import { Membership, type Member } from '../../src/coop/membership.js'
import { bbAuth } from '../../extensions/bb-auth.js'
import { bbHave } from '../../extensions/bb-have.js'
import { utPex } from '../../extensions/ut-pex.js'
import { decodeAuthMessage } from '../../extensions/bb-auth.codec.js'
import { generateCommunityKey, type CommunityKey } from '../../src/identity/community-key.js'
import { rendezvousInfohashes } from '../../src/coop/rendezvous.js'
import { HANDSHAKE_LEN } from '../../src/wire/handshake.js'
import { MSG, decodeExtHandshake } from '../../src/wire/messages.js'
import type { PeerAddr } from '../../src/core/compact.js'

// ---------------------------------------------------------------- the byte stream of one direction

interface Frame {
  /** The frame as it was on the wire: length prefix included. */
  raw: Buffer
  /** For a bb_auth message: its type. */
  auth?: 'challenge' | 'proof' | 'hello'
  /** For any other extended message (id > 0): the extension id it was sent to. */
  ext?: number
  /** For the BEP-10 handshake: the `m` dict. */
  m?: Map<string, number>
}

/** The 68-byte handshake and the whole frames of a stream (an incomplete last frame is left out). */
function split (stream: Buffer, bbAuthId?: number): { handshake: Buffer | null, frames: Frame[] } {
  if (stream.length < HANDSHAKE_LEN) return { handshake: null, frames: [] }
  const frames: Frame[] = []
  let off = HANDSHAKE_LEN
  while (off + 4 <= stream.length) {
    const len = stream.readUInt32BE(off)
    if (off + 4 + len > stream.length) break
    const raw = stream.subarray(off, off + 4 + len)
    const f: Frame = { raw }
    if (len >= 2 && raw[4] === MSG.extended) {
      const payload = raw.subarray(6)
      if (raw[5] === 0) f.m = decodeExtHandshake(payload).m
      else if (raw[5] === bbAuthId) f.auth = decodeAuthMessage(payload).type
      else f.ext = raw[5]
    }
    frames.push(f)
    off += 4 + len
  }
  return { handshake: stream.subarray(0, HANDSHAKE_LEN), frames }
}

/** The id a side gave bb_auth in its BEP-10 handshake (the id the other side sends bb_auth to). */
function bbAuthIdOf (stream: Buffer): number {
  const m = split(stream).frames.find((f) => f.m !== undefined)?.m
  const id = m?.get('bb_auth')
  if (id === undefined) throw new Error('no bb_auth in the handshake')
  return id
}

/** What a side sent up to and including its bb_auth hello: handshake, BEP-10 handshake, challenge, proof, hello. */
function authPart (stream: Buffer, bbAuthId: number): { handshake: Buffer, frames: Frame[] } {
  const { handshake, frames } = split(stream, bbAuthId)
  const end = frames.findIndex((f) => f.auth === 'hello')
  if (handshake === null || end < 0) throw new Error('no complete bb_auth exchange in the recording')
  return { handshake, frames: frames.slice(0, end + 1) }
}

// ---------------------------------------------------------------- raw TCP peers

/** A raw socket that keeps everything it receives, and can wait for a condition on it. */
class RawPeer {
  private got = Buffer.alloc(0)
  private waiters = new Set<() => void>()
  closed = false

  constructor (readonly sock: Socket) {
    sock.on('data', (c: Buffer) => { this.got = Buffer.concat([this.got, c]); this.poke() })
    sock.on('close', () => { this.closed = true; this.poke() })
    sock.on('error', () => {})
  }

  private poke (): void { for (const w of [...this.waiters]) w() }

  /** What the member sent us, split with its bb_auth id being the one we (the replayed side) gave. */
  received (bbAuthId: number): { handshake: Buffer | null, frames: Frame[] } { return split(this.got, bbAuthId) }

  /** Resolves when cond() holds; false if the connection closed first (or the bound ran out). */
  async until (cond: () => boolean, ms = 15_000): Promise<boolean> {
    return await new Promise((resolve) => {
      const check = (): void => {
        if (cond()) finish(true)
        else if (this.closed) finish(false)
      }
      const bound = setTimeout(() => finish(false), ms)
      const finish = (v: boolean): void => { clearTimeout(bound); this.waiters.delete(check); resolve(v) }
      this.waiters.add(check)
      check()
    })
  }

  write (b: Buffer): void { if (!this.closed) this.sock.write(b) }

  destroy (): void { this.sock.destroy() }
}

async function listen (server: Server, host: string): Promise<PeerAddr> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, host, () => { server.off('error', reject); resolve() })
  })
  const a = server.address()
  if (a === null || typeof a === 'string') throw new Error('no address')
  return { host, port: a.port }
}

async function closeServer (server: Server, sockets: Set<Socket>): Promise<void> {
  for (const s of sockets) s.destroy()
  await new Promise<void>((resolve) => server.close(() => resolve()))
}

/** A TCP proxy on `host` to `target` that records both directions of its first connection. */
async function recordingProxy (host: string, target: PeerAddr): Promise<{ addr: PeerAddr, up: Buffer[], down: Buffer[], close: () => Promise<void> }> {
  const up: Buffer[] = []
  const down: Buffer[] = []
  const sockets = new Set<Socket>()
  let first = true
  const server = createServer((client) => {
    const record = first
    first = false
    const upstream = connect({ host: target.host, port: target.port, localAddress: host })
    for (const s of [client, upstream]) { sockets.add(s); s.on('close', () => sockets.delete(s)); s.on('error', () => {}) }
    client.on('data', (c: Buffer) => { if (record) up.push(Buffer.from(c)); upstream.write(c) })
    upstream.on('data', (c: Buffer) => { if (record) down.push(Buffer.from(c)); client.write(c) })
    client.on('close', () => upstream.destroy())
    upstream.on('close', () => client.destroy())
  })
  const addr = await listen(server, host)
  return { addr, up, down, close: async () => await closeServer(server, sockets) }
}

// ---------------------------------------------------------------- members

interface Node { peerId: Buffer, addr: PeerAddr, membership: Membership, dropped: string[], joined: Member[] }

async function member (host: string, key: CommunityKey): Promise<Node> {
  const peerId = randomBytes(20)
  const dropped: string[] = []
  // The reasons Membership logs for dropped links (the only place they surface).
  const logger = pino({ level: 'info' }, {
    write: (line: string) => {
      const o = JSON.parse(line) as { msg?: string, reason?: string }
      if (o.msg === 'member link dropped' && o.reason !== undefined) dropped.push(o.reason)
    },
  })
  const targets = (now: number): ReturnType<typeof rendezvousInfohashes> => rendezvousInfohashes([key], now)
  const membership: Membership = new Membership({
    peerId,
    host,
    // bb_auth plus a gated extension and ut_pex, so an authenticated link would show traffic.
    factories: () => [bbAuth({ keys: [key] }), bbHave({ nodeId: randomBytes(20) }), utPex({ source: membership })],
    targets,
    logger,
  })
  const addr = await membership.start()
  const joined: Member[] = []
  membership.on('member', (m) => joined.push(m))
  return { peerId, addr, membership, dropped, joined }
}

const linked = (a: Node, b: Node): boolean => a.membership.members().some((m) => m.peerId.equals(b.peerId))

/** What the member sent on a replayed connection: only its challenge, nothing else of any extension. */
function assertOnlyChallenge (got: { handshake: Buffer | null, frames: Frame[] }, who: string): void {
  assert.ok(got.handshake !== null, `${who} answered the BitTorrent handshake`)
  const auth = got.frames.filter((f) => f.auth !== undefined).map((f) => f.auth)
  assert.deepEqual(auth, ['challenge'], `${who} sent its challenge and no proof or hello`)
  assert.deepEqual(got.frames.filter((f) => f.ext !== undefined).map((f) => f.ext), [], `${who} sent no other extended message`)
}

test('a recorded bb_auth exchange replayed on a new TCP connection authenticates nobody', { timeout: 60_000 }, async () => {
  const key = generateCommunityKey()
  const rv = rendezvousInfohashes([key], Date.now())[0].infohash
  const nodes: Node[] = []
  const servers: Array<() => Promise<void>> = []
  const raws: RawPeer[] = []
  try {
    const responder = await member('127.78.0.2', key)
    const initiator = await member('127.78.0.3', key)
    nodes.push(responder, initiator)

    // 1. The genuine exchange, through the recording proxy on 127.78.0.4.
    const proxy = await recordingProxy('127.78.0.4', responder.addr)
    servers.push(proxy.close)
    initiator.membership.offer({ ...proxy.addr, infohash: rv })
    await new Promise<void>((resolve) => {
      const offs: Array<() => void> = []
      const check = (): void => { if (linked(responder, initiator) && linked(initiator, responder)) { for (const off of offs) off(); resolve() } }
      for (const n of nodes) offs.push(n.membership.watch(check))
      check()
    })
    const up = Buffer.concat(proxy.up) // initiator → responder
    const down = Buffer.concat(proxy.down) // responder → initiator
    const iAuth = authPart(up, bbAuthIdOf(down))
    const rAuth = authPart(down, bbAuthIdOf(up))
    assert.deepEqual(iAuth.frames.filter((f) => f.auth !== undefined).map((f) => f.auth), ['challenge', 'proof', 'hello'])
    assert.deepEqual(rAuth.frames.filter((f) => f.auth !== undefined).map((f) => f.auth), ['challenge', 'proof', 'hello'])
    const genuine = [responder.membership.members()[0].link, initiator.membership.members()[0].link]
    const joinedBefore = nodes.map((n) => n.joined.length)
    const misbehavedBefore = nodes.map((n) => n.membership.counters.misbehaved)
    // The id the member will send bb_auth to on a replayed connection: the one in the replayed BEP-10 handshake.
    const iAuthIdAtReplayer = bbAuthIdOf(up)
    const rAuthIdAtReplayer = bbAuthIdOf(down)
    const frameOf = (part: { frames: Frame[] }, t: 'challenge' | 'proof' | 'hello'): Buffer => (part.frames.find((f) => f.auth === t) as Frame).raw
    const beforeChallenge = (part: { frames: Frame[] }): Buffer[] => part.frames.slice(0, part.frames.findIndex((f) => f.auth === 'challenge')).map((f) => f.raw)

    // 2. The initiator's bytes, byte for byte, all at once, to the responder (from the proxy's address).
    {
      const raw = new RawPeer(connect({ host: responder.addr.host, port: responder.addr.port, localAddress: '127.78.0.4' }))
      raws.push(raw)
      raw.write(Buffer.concat([iAuth.handshake, ...iAuth.frames.map((f) => f.raw)]))
      await raw.until(() => false)
      assert.ok(raw.closed, 'the responder dropped the replayed connection')
      assertOnlyChallenge(raw.received(iAuthIdAtReplayer), 'the responder')
    }

    // 3. The same bytes paced as in the original: the proof only after the responder's challenge.
    {
      const raw = new RawPeer(connect({ host: responder.addr.host, port: responder.addr.port, localAddress: '127.78.0.4' }))
      raws.push(raw)
      raw.write(Buffer.concat([iAuth.handshake, ...beforeChallenge(iAuth), frameOf(iAuth, 'challenge')]))
      const challenged = await raw.until(() => raw.received(iAuthIdAtReplayer).frames.some((f) => f.auth === 'challenge'))
      assert.ok(challenged, 'the responder challenged the replayer')
      raw.write(frameOf(iAuth, 'proof'))
      await raw.until(() => false)
      assert.ok(raw.closed, 'the responder dropped the replayed proof')
      assertOnlyChallenge(raw.received(iAuthIdAtReplayer), 'the responder')
    }

    // 4. The responder's bytes, paced, to the initiator when it dials the replayer (on 127.78.0.5).
    {
      const sockets = new Set<Socket>()
      let accepted!: (r: RawPeer) => void
      const conn = new Promise<RawPeer>((resolve) => { accepted = resolve })
      const server = createServer((s) => { sockets.add(s); s.on('close', () => sockets.delete(s)); const r = new RawPeer(s); raws.push(r); accepted(r) })
      const addr = await listen(server, '127.78.0.5')
      servers.push(async () => await closeServer(server, sockets))
      initiator.membership.offer({ ...addr, infohash: rv })
      const raw = await conn
      assert.ok(await raw.until(() => raw.received(rAuthIdAtReplayer).handshake !== null), 'the initiator sent its handshake')
      raw.write(Buffer.concat([rAuth.handshake, ...beforeChallenge(rAuth), frameOf(rAuth, 'challenge')]))
      // The initiator proves first (to whoever challenged it); its proof covers the replayer's
      // stale nonce and this connection, so it is worth nothing anywhere else.
      const proved = await raw.until(() => raw.received(rAuthIdAtReplayer).frames.some((f) => f.auth === 'proof'))
      assert.ok(proved, 'the initiator sent its proof')
      raw.write(Buffer.concat([frameOf(rAuth, 'proof'), frameOf(rAuth, 'hello')]))
      await raw.until(() => false)
      assert.ok(raw.closed, 'the initiator dropped the replayed proof')
      const got = raw.received(rAuthIdAtReplayer)
      assert.deepEqual(got.frames.filter((f) => f.auth !== undefined).map((f) => f.auth), ['challenge', 'proof'], 'no hello from the initiator')
      assert.deepEqual(got.frames.filter((f) => f.ext !== undefined).map((f) => f.ext), [], 'no other extended message')
    }

    // Nobody was authenticated; each replay cost the replayer a misbehaving link; the genuine link stands.
    assert.deepEqual(nodes.map((n) => n.joined.length), joinedBefore, "no 'member' event")
    assert.equal(responder.membership.counters.misbehaved, misbehavedBefore[0] + 2)
    assert.equal(initiator.membership.counters.misbehaved, misbehavedBefore[1] + 1)
    // Every proof covers the verifier's fresh nonce: the recorded one fits no key.
    assert.deepEqual({ responder: responder.dropped, initiator: initiator.dropped }, { responder: ['bb_auth failed', 'bb_auth failed'], initiator: ['bb_auth failed'] })
    assert.deepEqual([responder.membership.members().map((m) => m.link), initiator.membership.members().map((m) => m.link)], [[genuine[0]], [genuine[1]]])
  } finally {
    for (const r of raws) r.destroy()
    for (const n of nodes) await n.membership.close()
    for (const close of servers) await close()
  }
})
