// Where the HTTP API of the node running on a data directory listens: `api.json` in that
// directory ({host, port, pid, started}), written atomically (temp file + rename, mode 0600)
// when the API starts and removed when it closes. Clients (the CLI) find the API there, the
// way `bbmesh members` finds status.json (src/node/status-file.ts): a missing, stale (dead
// pid), corrupt or oversized file reads as "no node running".

import { writeFileSync, renameSync, rmSync, readFileSync, statSync, mkdirSync } from 'node:fs'
import { randomBytes } from 'node:crypto'
import { join } from 'node:path'

export const API_FILE = 'api.json'
/** The real file is under 200 bytes; anything past this is not ours and is not read. */
export const API_FILE_MAX = 64 * 1024

export interface ApiFileContent {
  host: string
  port: number
  pid: number
  /** ISO 8601 time the API started. */
  started: string
}

export class ApiFile {
  readonly path: string
  private written: ApiFileContent | null = null

  constructor (readonly dataDir: string) {
    this.path = join(dataDir, API_FILE)
  }

  /** Record the address (replacing any file there). */
  write (addr: { host: string, port: number }): ApiFileContent {
    mkdirSync(this.dataDir, { recursive: true, mode: 0o700 })
    const content: ApiFileContent = { host: addr.host, port: addr.port, pid: process.pid, started: new Date().toISOString() }
    const tmp = `${this.path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`
    try {
      writeFileSync(tmp, JSON.stringify(content) + '\n', { mode: 0o600, flag: 'wx' })
      renameSync(tmp, this.path)
    } catch (err) {
      rmSync(tmp, { force: true })
      throw err
    }
    this.written = content
    return content
  }

  /** Remove the file if it is still the one we wrote (another node may have replaced it). Idempotent. */
  remove (): void {
    const w = this.written
    if (w === null) return
    this.written = null
    const now = readApiFile(this.path)
    if (now !== null && now.pid === w.pid && now.port === w.port && now.started === w.started) rmSync(this.path, { force: true })
  }
}

function alive (pid: number): boolean {
  try { process.kill(pid, 0); return true } catch (err) { return (err as NodeJS.ErrnoException).code === 'EPERM' }
}

function readApiFile (path: string): ApiFileContent | null {
  let v: unknown
  try {
    const st = statSync(path)
    if (!st.isFile() || st.size > API_FILE_MAX) return null
    v = JSON.parse(readFileSync(path, 'utf8'))
  } catch { return null }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return null
  const o = v as Record<string, unknown>
  if (typeof o.host !== 'string' || o.host === '' || o.host.length > 255) return null
  if (typeof o.port !== 'number' || !Number.isInteger(o.port) || o.port < 1 || o.port > 65535) return null
  if (typeof o.pid !== 'number' || !Number.isInteger(o.pid) || o.pid < 1) return null
  return { host: o.host, port: o.port, pid: o.pid, started: typeof o.started === 'string' ? o.started.slice(0, 64) : '' }
}

/** The API address of the node running on dataDir, or null when none runs there (or the file is unusable). */
export function readApiAddress (dataDir: string): ApiFileContent | null {
  const c = readApiFile(join(dataDir, API_FILE))
  return c !== null && alive(c.pid) ? c : null
}
