// The pointer seq file: per (public key, salt) the highest seq this node put (publisher side)
// and the highest seq it accepted from the DHT (fetcher side), so a restart neither reuses a
// seq nor takes back an older pointer. `pointers.json` in the data directory, written
// atomically (temp file in the same directory, fsync, rename, fsync of the directory):
//
//   { "format": "bbmesh-pointer-seq", "version": 1,
//     "published": { "<64 hex key>/<hex salt, empty for none>": <seq> },
//     "seen":      { "<64 hex key>/<hex salt>": <seq> } }
//
// Unknown fields, wrong types, a file past LIMITS.pointerStoreFileMax: PointerError
// 'store-corrupt' naming the file (never silently reset: that would let an old pointer back in).

import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, statSync, writeSync } from 'node:fs'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import { PointerError } from '../core/errors.js'
import { LIMITS } from '../core/limits.js'
import { checkSeq, saltBytes } from './pointer.js'

export const POINTER_STORE_FILE = 'pointers.json'
const FORMAT = 'bbmesh-pointer-seq'
const VERSION = 1
const KEY_RE = /^[0-9a-f]{64}\/(?:[0-9a-f]{2}){0,64}$/

type Side = 'published' | 'seen'

export function pointerStoreKey (publicKey: Uint8Array, salt?: Uint8Array | string): string {
  return `${Buffer.from(publicKey).toString('hex')}/${saltBytes(salt)?.toString('hex') ?? ''}`
}

export class PointerStore {
  private readonly data: Record<Side, Map<string, number>> = { published: new Map(), seen: new Map() }

  private constructor (readonly path: string) {}

  /** Read `pointers.json` in dataDir (none yet: empty). PointerError 'store-corrupt' / 'store-io'. */
  static open (dataDir: string): PointerStore {
    const store = new PointerStore(join(dataDir, POINTER_STORE_FILE))
    store.load()
    return store
  }

  private load (): void {
    const path = this.path
    let text: string
    try {
      const st = statSync(path)
      if (!st.isFile()) throw new PointerError('store-corrupt', `${path} is not a regular file`)
      if (st.size > LIMITS.pointerStoreFileMax) throw new PointerError('store-corrupt', `${path} is ${st.size} bytes, more than a pointer seq file can be (${LIMITS.pointerStoreFileMax})`)
      text = readFileSync(path, 'utf8')
    } catch (err) {
      if (err instanceof PointerError) throw err
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return
      throw new PointerError('store-io', `cannot read the pointer seq file ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { cause: err })
    }
    const corrupt = (why: string): never => { throw new PointerError('store-corrupt', `the pointer seq file ${path} is damaged (${why}); move it away only if you accept that an older pointer may be taken again`) }
    let o: unknown
    try { o = JSON.parse(text) } catch { return corrupt('not JSON') }
    if (typeof o !== 'object' || o === null || Array.isArray(o)) return corrupt('not an object')
    const top = o as Record<string, unknown>
    for (const k of Object.keys(top)) if (!['format', 'version', 'published', 'seen'].includes(k)) return corrupt(`unknown field "${k.slice(0, 32)}"`)
    if (top.format !== FORMAT) return corrupt('wrong format')
    if (top.version !== VERSION) return corrupt(`version ${String(top.version).slice(0, 16)} is not ${VERSION}`)
    for (const side of ['published', 'seen'] as const) {
      const m = top[side]
      if (typeof m !== 'object' || m === null || Array.isArray(m)) return corrupt(`"${side}" is not an object`)
      for (const [k, v] of Object.entries(m as Record<string, unknown>)) {
        if (!KEY_RE.test(k)) return corrupt(`bad key in "${side}"`)
        try { checkSeq(v) } catch { return corrupt(`bad seq in "${side}"`) }
        this.data[side].set(k, v as number)
      }
    }
  }

  /** The highest seq we put under (key, salt), if any. */
  published (publicKey: Uint8Array, salt?: Uint8Array | string): number | undefined {
    return this.data.published.get(pointerStoreKey(publicKey, salt))
  }

  /** The highest seq we accepted under (key, salt), if any. */
  seen (publicKey: Uint8Array, salt?: Uint8Array | string): number | undefined {
    return this.data.seen.get(pointerStoreKey(publicKey, salt))
  }

  /** PointerError 'stale' when seq is lower than one accepted before (the same seq again is fine). */
  checkSeen (publicKey: Uint8Array, salt: Uint8Array | string | undefined, seq: number): void {
    const seen = this.seen(publicKey, salt)
    if (seen !== undefined && seq < seen) {
      throw new PointerError('stale', `refusing pointer seq ${seq} for ${pointerStoreKey(publicKey, salt)}: seq ${seen} was seen before (an older item replayed, or a rolled-back publisher)`)
    }
  }

  /** Record seq as put (publisher side) and save. */
  recordPublished (publicKey: Uint8Array, salt: Uint8Array | string | undefined, seq: number): void {
    this.record('published', publicKey, salt, seq)
  }

  /** Check and record seq as accepted (fetcher side) and save. */
  recordSeen (publicKey: Uint8Array, salt: Uint8Array | string | undefined, seq: number): void {
    this.checkSeen(publicKey, salt, seq)
    this.record('seen', publicKey, salt, seq)
  }

  private record (side: Side, publicKey: Uint8Array, salt: Uint8Array | string | undefined, seq: number): void {
    checkSeq(seq)
    const k = pointerStoreKey(publicKey, salt)
    const prev = this.data[side].get(k)
    if (prev !== undefined && prev >= seq) return
    this.data[side].set(k, seq)
    try {
      this.save()
    } catch (err) {
      if (prev === undefined) this.data[side].delete(k)
      else this.data[side].set(k, prev)
      throw err
    }
  }

  private save (): void {
    const dir = join(this.path, '..')
    const body = {
      format: FORMAT,
      version: VERSION,
      published: Object.fromEntries([...this.data.published].sort()),
      seen: Object.fromEntries([...this.data.seen].sort()),
    }
    const tmp = `${this.path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`
    try {
      mkdirSync(dir, { recursive: true, mode: 0o700 })
      const fd = openSync(tmp, 'wx', 0o600)
      try {
        writeSync(fd, JSON.stringify(body, null, 2) + '\n')
        fsyncSync(fd)
      } finally { closeSync(fd) }
      renameSync(tmp, this.path)
    } catch (err) {
      throw new PointerError('store-io', `cannot write the pointer seq file ${this.path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { cause: err })
    } finally {
      rmSync(tmp, { force: true })
    }
    let fd: number | undefined
    try { fd = openSync(dir, 'r'); fsyncSync(fd) } catch { /* not supported here */ } finally { if (fd !== undefined) closeSync(fd) }
  }
}
