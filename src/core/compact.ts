// Compact node and peer encodings (BEP-5; BEP-32 for IPv6). Pure codecs with exact lengths.

import { isIPv4, isIPv6 } from 'node:net'
import { DecodeError } from './errors.js'

export interface PeerAddr { host: string, port: number }
export interface NodeInfo { id: Buffer, host: string, port: number }

export function encodePeer (p: PeerAddr): Buffer {
  if (isIPv4(p.host)) {
    const b = Buffer.alloc(6)
    p.host.split('.').forEach((o, i) => { b[i] = Number(o) })
    b.writeUInt16BE(p.port, 4)
    return b
  }
  if (isIPv6(p.host)) {
    const b = Buffer.alloc(18)
    ipv6ToBytes(p.host).copy(b, 0)
    b.writeUInt16BE(p.port, 16)
    return b
  }
  throw new DecodeError(`not an IP address: ${p.host}`)
}

export function decodePeer (b: Uint8Array): PeerAddr {
  if (b.length === 6) {
    return { host: `${b[0]}.${b[1]}.${b[2]}.${b[3]}`, port: (b[4] << 8) | b[5] }
  }
  if (b.length === 18) {
    return { host: bytesToIpv6(b.subarray(0, 16)), port: (b[16] << 8) | b[17] }
  }
  throw new DecodeError(`compact peer must be 6 or 18 bytes, got ${b.length}`)
}

export function encodeNodes (nodes: NodeInfo[]): Buffer {
  const v4 = nodes.filter((n) => isIPv4(n.host))
  const b = Buffer.alloc(26 * v4.length)
  v4.forEach((n, i) => {
    Buffer.from(n.id).copy(b, i * 26)
    encodePeer(n).copy(b, i * 26 + 20)
  })
  return b
}

export function decodeNodes (b: Uint8Array, max = Infinity): NodeInfo[] {
  if (b.length % 26 !== 0) throw new DecodeError(`compact nodes length ${b.length} is not a multiple of 26`)
  const n = Math.min(b.length / 26, max)
  const out: NodeInfo[] = []
  for (let i = 0; i < n; i++) {
    const o = i * 26
    const p = decodePeer(b.subarray(o + 20, o + 26))
    out.push({ id: Buffer.from(b.subarray(o, o + 20)), host: p.host, port: p.port })
  }
  return out
}

export function decodeNodes6 (b: Uint8Array, max = Infinity): NodeInfo[] {
  if (b.length % 38 !== 0) throw new DecodeError(`compact nodes6 length ${b.length} is not a multiple of 38`)
  const n = Math.min(b.length / 38, max)
  const out: NodeInfo[] = []
  for (let i = 0; i < n; i++) {
    const o = i * 38
    const p = decodePeer(b.subarray(o + 20, o + 38))
    out.push({ id: Buffer.from(b.subarray(o, o + 20)), host: p.host, port: p.port })
  }
  return out
}

function ipv6ToBytes (host: string): Buffer {
  const b = Buffer.alloc(16)
  let [head, tail] = host.split('::') as [string, string | undefined]
  const h = head === '' ? [] : head.split(':')
  const t = tail === undefined ? [] : (tail === '' ? [] : tail.split(':'))
  const groups: string[] = tail === undefined ? h : [...h, ...Array(8 - h.length - t.length).fill('0'), ...t]
  groups.forEach((g, i) => b.writeUInt16BE(parseInt(g, 16), i * 2))
  return b
}

function bytesToIpv6 (b: Uint8Array): string {
  const g: string[] = []
  for (let i = 0; i < 16; i += 2) g.push(((b[i] << 8) | b[i + 1]).toString(16))
  return g.join(':').replace(/(^|:)0(:0)+(:|$)/, '::')
}

/** Loopback check for the network rule: tests and tools refuse anything else. */
export function isLoopback (host: string): boolean {
  return /^127\./.test(host) || host === '::1' || host === 'localhost'
}
