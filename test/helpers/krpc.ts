// KRPC test tools: recorded fixtures, packet builders, and a raw dgram client that speaks to
// a node on loopback the way a hostile or a plain remote would (no k-rpc in between).

import { createSocket, type Socket } from 'node:dgram'
import { readFileSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { createHash } from 'node:crypto'
import { decode, encode, isDict, type BDict, type BValue, type EncodableValue } from '../../src/core/bencode.js'
import { isLoopback, type PeerAddr } from '../../src/core/compact.js'
import { repoRoot } from './paths.js'
export { repoRoot }


export function fixturePath (...parts: string[]): string {
  return join(repoRoot(), 'fixtures', ...parts)
}

export function readFixture (...parts: string[]): Buffer {
  return readFileSync(fixturePath(...parts))
}

/** Every *.bin fixture of a directory, by file name without the extension. */
export function fixtureDir (dir: string): Map<string, Buffer> {
  const out = new Map<string, Buffer>()
  for (const f of readdirSync(fixturePath(dir)).sort()) {
    if (f.endsWith('.bin')) out.set(f.slice(0, -4), readFixture(dir, f))
  }
  return out
}

/** A deterministic 20-byte key from a label. */
export function key20 (label: string): Buffer {
  return createHash('sha1').update(label).digest()
}

export const b = (s: string): Buffer => Buffer.from(s, 'latin1')

export function query (q: string, a: Record<string, EncodableValue>, t: Uint8Array = b('aa')): Buffer {
  return encode({ t, y: 'q', q, a })
}

export function response (r: Record<string, EncodableValue>, t: Uint8Array = b('aa')): Buffer {
  return encode({ t, y: 'r', r })
}

export function errorReply (e: EncodableValue[], t: Uint8Array = b('aa')): Buffer {
  return encode({ t, y: 'e', e })
}

/** Decode a datagram a node sent (test side: plain decode, the node is trusted here). */
export function decodeReply (buf: Buffer): BDict {
  const v = decode(buf)
  if (!isDict(v)) throw new Error('reply is not a dict')
  return v
}

export function asBuf (v: BValue | undefined): Buffer {
  if (!(v instanceof Uint8Array)) throw new Error('expected bytes')
  return Buffer.from(v)
}

export interface Datagram { msg: Buffer, from: PeerAddr }

/** A raw UDP client on loopback: send bytes, await replies, or collect what arrives in a window. */
export class RawKrpcClient {
  private readonly sock: Socket
  private readonly inbox: Datagram[] = []
  private waiter: (() => void) | null = null

  private constructor (sock: Socket) {
    this.sock = sock
    sock.on('message', (msg, r) => {
      this.inbox.push({ msg, from: { host: r.address, port: r.port } })
      const w = this.waiter
      this.waiter = null
      w?.()
    })
  }

  static async open (host = '127.0.0.1'): Promise<RawKrpcClient> {
    if (!isLoopback(host)) throw new Error('tests bind loopback only')
    const sock = createSocket('udp4')
    await new Promise<void>((resolve, reject) => {
      sock.once('error', reject)
      sock.bind(0, host, () => { sock.off('error', reject); resolve() })
    })
    return new RawKrpcClient(sock)
  }

  address (): PeerAddr {
    const a = this.sock.address()
    return { host: a.address, port: a.port }
  }

  send (buf: Uint8Array, to: PeerAddr): void {
    if (!isLoopback(to.host)) throw new Error('tests dial loopback only')
    this.sock.send(buf, to.port, to.host)
  }

  /** Send and resolve once all bytes are handed to the kernel (keeps floods from overrunning buffers). */
  async sendAsync (buf: Uint8Array, to: PeerAddr): Promise<void> {
    if (!isLoopback(to.host)) throw new Error('tests dial loopback only')
    await new Promise<void>((resolve, reject) => this.sock.send(buf, to.port, to.host, (err) => { if (err !== null && err !== undefined) reject(err); else resolve() }))
  }

  /** The next datagram (optionally the next one matching), failing after a generous guard time. */
  async next (match: (d: Datagram) => boolean = () => true, guardMs = 5000): Promise<Datagram> {
    const deadline = Date.now() + guardMs
    for (;;) {
      const i = this.inbox.findIndex(match)
      if (i >= 0) return this.inbox.splice(i, 1)[0]
      const left = deadline - Date.now()
      if (left <= 0) throw new Error('no datagram arrived')
      await new Promise<void>((resolve) => {
        const t = setTimeout(() => { this.waiter = null; resolve() }, left)
        this.waiter = () => { clearTimeout(t); resolve() }
      })
    }
  }

  /** The next reply whose transaction id is t, decoded. */
  async reply (t: Uint8Array, guardMs = 5000): Promise<BDict> {
    const tid = Buffer.from(t)
    const d = await this.next((x) => {
      try {
        const v = decode(x.msg)
        return isDict(v) && v.t instanceof Uint8Array && tid.equals(v.t)
      } catch { return false }
    }, guardMs)
    return decodeReply(d.msg)
  }

  /** Send a query and await its reply. */
  async ask (to: PeerAddr, q: string, a: Record<string, EncodableValue>, t: Uint8Array = b(`t${Math.floor(Math.random() * 1e6)}`)): Promise<BDict> {
    this.send(query(q, a, t), to)
    return await this.reply(t)
  }

  /** Everything that arrives during a waiting period (for "no reply" checks). */
  async collect (ms: number): Promise<Datagram[]> {
    await new Promise((resolve) => setTimeout(resolve, ms))
    return this.inbox.splice(0)
  }

  drain (): Datagram[] { return this.inbox.splice(0) }

  async close (): Promise<void> {
    await new Promise<void>((resolve) => this.sock.close(() => resolve()))
  }
}

/** Poll a condition until it holds; rejects after a generous guard time (a hang guard, not an assertion on speed). */
export async function until (cond: () => boolean, guardMs = 10_000, stepMs = 5): Promise<void> {
  const deadline = Date.now() + guardMs
  while (!cond()) {
    if (Date.now() > deadline) throw new Error('condition not reached')
    await new Promise((resolve) => setTimeout(resolve, stepMs))
  }
}

/** Guard options for nodes of a test DHT that trust each other (no pacing between them). */
export const FAST_GUARD = Object.freeze({
  pacer: { perIpRate: 100_000, perIpBurst: 100_000, globalRate: 1_000_000, bytesRate: 1e9 },
  answerRate: 100_000,
  answerBurst: 100_000,
})

/**
 * The bad KRPC packets of fixtures/krpc/, one per class, as they were made (the .bin files are
 * the record; this documents them and regenerates them). Each entry: the packet and what the
 * schema must say about it — the KrpcInvalid kind and the error code to reply (or null).
 */
export interface BadKrpc { packet: Buffer, kind: string, reply: 203 | 204 | null, why: string }

export function buildBadKrpc (): Record<string, BadKrpc> {
  const id = key20('id')
  const ih = key20('ih')
  const t = b('aa')
  const q = (m: string, a: Record<string, EncodableValue>, tt: Uint8Array = t): Buffer => encode({ t: tt, y: 'q', q: m, a })
  const r = (rr: Record<string, EncodableValue>): Buffer => encode({ t, y: 'r', r: rr })
  let want = 'i1e'
  for (let i = 0; i < 9; i++) want = `l${want}e`
  return {
    'not-dict': { packet: encode([1, 2]), kind: 'not-dict', reply: null, why: 'a bencoded list [1, 2] instead of a dict' },
    'no-tid': { packet: encode({ y: 'q', q: 'ping', a: { id } }), kind: 'tid', reply: null, why: 'a ping without `t`' },
    'tid-too-long': { packet: q('ping', { id }, Buffer.alloc(33, 0x74)), kind: 'tid', reply: null, why: 'a ping whose `t` is 33 bytes (cap 32)' },
    'unknown-y': { packet: encode({ t, y: 'x', q: 'ping', a: { id } }), kind: 'type', reply: null, why: 'a ping with `y` = "x"' },
    'int-info-hash': { packet: q('get_peers', { id, info_hash: 1 }), kind: 'args', reply: 203, why: 'get_peers with `a.info_hash` = i1e (the integer that crashes bittorrent-dht)' },
    'int-target': { packet: q('find_node', { id, target: 1 }), kind: 'args', reply: 203, why: 'find_node with `a.target` = i1e' },
    'int-token': { packet: q('announce_peer', { id, info_hash: ih, port: 6881, token: 1 }), kind: 'args', reply: 203, why: 'announce_peer with `a.token` = i1e' },
    'int-r-id': { packet: r({ id: 1 }), kind: 'response', reply: null, why: 'a response with `r.id` = i1e' },
    'id-19': { packet: q('ping', { id: id.subarray(0, 19) }), kind: 'args', reply: 203, why: 'a ping whose `a.id` is 19 bytes' },
    'id-21': { packet: q('ping', { id: Buffer.concat([id, b('x')]) }), kind: 'args', reply: 203, why: 'a ping whose `a.id` is 21 bytes' },
    'nodes-25': { packet: r({ id, nodes: Buffer.alloc(25, 1) }), kind: 'response', reply: null, why: 'a response whose `r.nodes` is 25 bytes (not a multiple of 26)' },
    'values-5-byte-peer': { packet: r({ id, token: b('tokn'), values: [Buffer.from([127, 0, 0, 1, 0x1a])] }), kind: 'response', reply: null, why: 'a get_peers response whose `r.values` holds a 5-byte peer' },
    'samples-39': { packet: r({ id, interval: 60, num: 2, samples: Buffer.alloc(39, 2) }), kind: 'response', reply: null, why: 'a sample_infohashes response whose `r.samples` is 39 bytes' },
    oversize: { packet: q('ping', { id, pad: Buffer.alloc(8192 - 60, 0x70) }), kind: 'oversize', reply: null, why: 'a ping padded to 8198 bytes (cap 8192)' },
    'too-deep': { packet: Buffer.concat([b('d1:ad2:id20:'), id, b(`4:want${want}e1:q4:ping1:t2:aa1:y1:qe`)]), kind: 'bencode', reply: null, why: 'a ping whose `a.want` nests 9 lists deep (11 levels in all, cap 8)' },
    'lying-length': { packet: Buffer.concat([b('d1:ad2:id999:'), id, b('e1:q4:ping1:t2:aa1:y1:qe')]), kind: 'bencode', reply: null, why: 'a ping whose `a.id` string claims 999 bytes, 44 are left' },
    'unknown-method': { packet: q('frobnicate', { id }), kind: 'unknown-method', reply: 204, why: 'a well-formed query for method "frobnicate"' },
    'malformed-known': { packet: q('find_node', { id }), kind: 'args', reply: 203, why: 'find_node without `a.target`' },
    'put-v-too-big': { packet: q('put', { id, token: b('tokn'), v: Buffer.alloc(997, 0x76) }), kind: 'args', reply: 203, why: 'an immutable put whose `v` encodes to 1001 bytes (BEP-44 cap 1000)' },
    'put-mutable-no-sig': { packet: q('put', { id, token: b('tokn'), v: b('hello'), k: Buffer.alloc(32, 3), seq: 1 }), kind: 'args', reply: 203, why: 'a mutable put with `k` and `seq` but no `sig`' },
    'proto-smuggle': {
      packet: Buffer.concat([b('d1:ad2:id20:'), id, b('5:token4:tokn1:v5:hello9:__proto__d1:ki5eee1:q3:put1:t2:aa1:y1:qe')]),
      kind: 'proto-key',
      reply: 203,
      why: 'a put whose `a` holds a `__proto__` dict {k: 5}: bencode 2 in k-rpc-socket makes it the prototype of `a`, bittorrent-dht then reads a.k = 5 and throws',
    },
  }
}
