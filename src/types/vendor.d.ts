// Minimal types for the untyped dependencies, covering only what bbmesh uses.

declare module 'bittorrent-dht' {
  import { EventEmitter } from 'node:events'
  interface KNode { id: Buffer, host: string, port: number }
  interface KBucket { count (): number, closest (id: Uint8Array, n?: number): KNode[], toArray (): KNode[], add (n: KNode): void }
  interface KRpc extends EventEmitter {
    id: Buffer
    nodes: KBucket
    query (node: { host: string, port: number, id?: Buffer }, message: { q: string, a: Record<string, unknown> }, cb: (err: Error | null, reply?: { r: Record<string, unknown> }, node?: unknown) => void): void
    destroy (cb?: () => void): void
  }
  export default class DHT extends EventEmitter {
    constructor (opts?: Record<string, unknown>)
    nodeId: Buffer
    nodes: KBucket
    _rpc: KRpc
    _peers: { get (key: string, n?: number): Buffer[], add (key: string, val: Buffer): void }
    listening: boolean
    destroyed: boolean
    lookup (infoHash: Buffer, cb?: (err: Error | null, n?: number) => void): () => void
    announce (infoHash: Buffer, port: number, cb?: (err: Error | null) => void): void
    addNode (node: { host: string, port: number, id?: Buffer }): void
    get (key: Buffer, opts: Record<string, unknown>, cb: (err: Error | null, res: unknown) => void): void
    put (opts: Record<string, unknown>, cb: (err: Error | null, hash: Buffer, n: number) => void): void
    address (): { address: string, port: number }
    destroy (cb?: () => void): void
    toJSON (): { nodes: Array<{ host: string, port: number }> }
    _generateToken (host: string, secret?: Buffer): Buffer
    _validateToken (host: string, token: Buffer): boolean
    _values: { get (key: string): { v: unknown, k?: Buffer, salt?: Buffer, sig?: Buffer, seq?: number, id: Buffer } | undefined, set (key: string, val: unknown): void }
    _onput (query: { a?: Record<string, unknown> }, peer: { address?: string, host?: string, port: number }): void
  }
}
