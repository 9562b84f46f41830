// Piece data for the seeder read on demand from files (a catalog's shard files on disk), so a
// seeded catalog costs file handles and a small cache, not its size in RAM.
//
// - Reads are positional (FileHandle.read at an offset), one whole piece at a time, kept in an
//   LRU bounded in bytes (pieceCacheBytes): a peer asks for a piece's 16 KiB blocks in a row.
// - Every piece read from disk is checked before it is cached or served: the handle's fstat
//   must still show the registered size and a link (a file truncated, grown or deleted under
//   us is refused), and for v1/hybrid torrents the piece must hash to its SHA-1 in the info
//   dict. A check that fails is a StoreError / HashMismatchError: the connection is closed,
//   wrong bytes are never sent. (v2-only torrents have no piece hashes in the info dict: the
//   size check only; their hashes requests still compare the tree's root with the info dict.)
// - Files are opened on first use, at most maxOpenFiles at once (the least recently used idle
//   one is closed to make room; a reader waits when every handle is busy), closed after
//   idleMs unused, on unregister() and on close().

import { open, type FileHandle } from 'node:fs/promises'
import { createHash } from 'node:crypto'
import { AbortedError, HashMismatchError, StoreError, UsageError } from '../core/errors.js'

export interface SeedFileOptions {
  /** Files open at once over all torrents (default 32). */
  maxOpenFiles?: number
  /** Bytes of whole pieces kept after a read (default 8 MiB). */
  pieceCacheBytes?: number
  /** Close a file unused for this long (default 30 s). */
  idleMs?: number
}

interface Entry {
  id: number
  path: string
  size: number
  pieceLength: number
  /** SHA-1 piece hashes (v1, hybrid), 20 bytes each; null for v2-only. */
  hashes: Buffer | null
  handle: Promise<FileHandle> | null
  busy: number
  lastUsed: number
  gone: boolean
}

export class SeedFileReader {
  private readonly entries = new Map<number, Entry>()
  private readonly cache = new Map<string, Buffer>()
  private readonly loading = new Map<string, Promise<Buffer>>()
  private cached = 0
  private open = 0
  private waiters: Array<() => void> = []
  private sweep: NodeJS.Timeout | null = null
  private closed = false
  private readonly maxOpen: number
  private readonly budget: number
  private readonly idleMs: number

  constructor (opts: SeedFileOptions = {}) {
    this.maxOpen = opts.maxOpenFiles ?? 32
    this.budget = opts.pieceCacheBytes ?? 8 * 1024 * 1024
    this.idleMs = opts.idleMs ?? 30_000
    if (!(Number.isInteger(this.maxOpen) && this.maxOpen >= 1)) throw new UsageError('seed: maxOpenFiles must be >= 1')
    if (!(this.budget >= 0)) throw new UsageError('seed: pieceCacheBytes must be >= 0')
    if (!(this.idleMs > 0)) throw new UsageError('seed: idleMs must be > 0')
  }

  /** Files open now. */
  get openFiles (): number { return this.open }
  /** Bytes of pieces cached now. */
  get cachedBytes (): number { return this.cached }

  register (id: number, path: string, size: number, pieceLength: number, hashes: Buffer | null): void {
    if (this.closed) throw new AbortedError('seed: file reader closed')
    this.entries.set(id, { id, path, size, pieceLength, hashes, handle: null, busy: 0, lastUsed: 0, gone: false })
  }

  /** Forget a torrent: its cached pieces go now, its file is closed once no read uses it. */
  unregister (id: number): void {
    const e = this.entries.get(id)
    if (e === undefined) return
    this.entries.delete(id)
    e.gone = true
    for (const [k, b] of this.cache) if (k.startsWith(`${id}:`)) { this.cache.delete(k); this.cached -= b.length }
    if (e.busy === 0) void this.closeHandle(e)
  }

  /** Piece p (its `length` bytes from p × pieceLength), checked, from the cache or the file. */
  async piece (id: number, p: number, length: number): Promise<Buffer> {
    const key = `${id}:${p}`
    const hit = this.cache.get(key)
    if (hit !== undefined) { this.cache.delete(key); this.cache.set(key, hit); return hit }
    const inflight = this.loading.get(key)
    if (inflight !== undefined) return await inflight
    const e = this.entry(id)
    const load = (async () => {
      const data = await this.read(e, p * e.pieceLength, length)
      if (e.hashes !== null) {
        const want = e.hashes.subarray(p * 20, p * 20 + 20)
        if (want.length !== 20 || !createHash('sha1').update(data).digest().equals(want)) {
          throw new HashMismatchError(`seed: piece ${p} of ${e.path} does not match its hash (the file changed)`)
        }
      }
      if (!e.gone && data.length <= this.budget) {
        this.cache.set(key, data)
        this.cached += data.length
        for (const [k, b] of this.cache) {
          if (this.cached <= this.budget) break
          this.cache.delete(k)
          this.cached -= b.length
        }
      }
      return data
    })()
    this.loading.set(key, load)
    try { return await load } finally { this.loading.delete(key) }
  }

  /** Bytes [offset, offset + length) of a torrent's file, uncached (the merkle tree build streams through it). */
  async range (id: number, offset: number, length: number): Promise<Buffer> {
    return await this.read(this.entry(id), offset, length)
  }

  private entry (id: number): Entry {
    if (this.closed) throw new AbortedError('seed: file reader closed')
    const e = this.entries.get(id)
    if (e === undefined) throw new StoreError(`seed: torrent ${id} is no longer served`)
    return e
  }

  private async read (e: Entry, offset: number, length: number): Promise<Buffer> {
    if (offset < 0 || length < 0 || offset + length > e.size) throw new UsageError(`seed: read ${offset}+${length} past ${e.size} bytes`)
    const fh = await this.acquire(e)
    try {
      // The file must still be the one registered: same size, still linked.
      const st = await fh.stat()
      if (st.size !== e.size || st.nlink === 0) throw new StoreError(`seed: ${e.path} changed under the seeder (${st.nlink === 0 ? 'removed' : `${st.size} bytes, expected ${e.size}`})`)
      const buf = Buffer.allocUnsafe(length)
      let got = 0
      while (got < length) {
        const { bytesRead } = await fh.read(buf, got, length - got, offset + got)
        if (bytesRead === 0) throw new StoreError(`seed: ${e.path} ended at ${offset + got}, expected ${e.size} bytes`)
        got += bytesRead
      }
      return buf
    } catch (err) {
      if (err instanceof StoreError || err instanceof UsageError) throw err
      throw new StoreError(`seed: cannot read ${e.path}: ${(err as Error).message}`, { cause: err })
    } finally {
      this.release(e)
    }
  }

  private async acquire (e: Entry): Promise<FileHandle> {
    e.busy++
    try {
      if (e.handle === null) {
        while (this.open >= this.maxOpen) {
          if (this.closed) throw new AbortedError('seed: file reader closed')
          const victim = this.idlest()
          if (victim !== undefined) { await this.closeHandle(victim); continue }
          await new Promise<void>((resolve) => this.waiters.push(resolve))
        }
        if (this.closed) throw new AbortedError('seed: file reader closed')
        if (e.handle === null) {
          this.open++
          e.handle = open(e.path, 'r')
          e.handle.catch(() => {}) // seen by every awaiter below; this one only keeps it handled
          this.armSweep()
        }
      }
      try {
        return await e.handle
      } catch (err) {
        // Missing or unreadable: forget the failed open so a later read tries again.
        if (e.handle !== null) { e.handle = null; this.open--; this.wake() }
        throw new StoreError(`seed: cannot open ${e.path}: ${(err as Error).message}`, { cause: err })
      }
    } catch (err) {
      this.release(e)
      throw err
    }
  }

  private release (e: Entry): void {
    e.busy--
    e.lastUsed = Date.now()
    if (e.busy > 0) return
    if (e.gone || this.closed) void this.closeHandle(e)
    else this.wake()
  }

  private wake (): void {
    const w = this.waiters.shift()
    w?.()
  }

  /** The least recently used open file no read is using. */
  private idlest (): Entry | undefined {
    let best: Entry | undefined
    for (const e of this.entries.values()) if (e.handle !== null && e.busy === 0 && (best === undefined || e.lastUsed < best.lastUsed)) best = e
    return best
  }

  private async closeHandle (e: Entry): Promise<void> {
    const h = e.handle
    if (h === null) return
    e.handle = null
    this.open--
    try { await (await h).close() } catch {} // a failed open was counted already; nothing to close
    this.wake()
    if (this.open === 0 && this.sweep !== null) { clearInterval(this.sweep); this.sweep = null }
  }

  private armSweep (): void {
    if (this.sweep !== null) return
    this.sweep = setInterval(() => {
      const now = Date.now()
      for (const e of this.entries.values()) if (e.handle !== null && e.busy === 0 && now - e.lastUsed >= this.idleMs) void this.closeHandle(e)
    }, Math.max(10, this.idleMs / 2))
    this.sweep.unref()
  }

  /** Close every file and drop the cache; reads after this fail with AbortedError. Idempotent. */
  async close (): Promise<void> {
    this.closed = true
    if (this.sweep !== null) { clearInterval(this.sweep); this.sweep = null }
    for (const w of this.waiters.splice(0)) w()
    this.cache.clear()
    this.cached = 0
    const all = [...this.entries.values()]
    this.entries.clear()
    for (const e of all) e.gone = true
    await Promise.all(all.filter((e) => e.busy === 0).map(async (e) => await this.closeHandle(e)))
  }
}
