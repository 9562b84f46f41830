// The running node's status in its data directory (status.json: pid, time, stats, members),
// rewritten atomically every few seconds, so `bbmesh members` and other readers can see a
// running harvester without a socket. Removed on a clean stop; a stale file (dead pid) is
// recognised by readers.

import { writeFileSync, renameSync, rmSync, readFileSync, existsSync, statSync } from 'node:fs'
import { join } from 'node:path'

export const STATUS_FILE = 'status.json'

export interface StatusSnapshot { pid: number, updated: string, [k: string]: unknown }

export class StatusFile {
  private timer: NodeJS.Timeout | null = null
  private readonly path: string

  constructor (dataDir: string, private readonly snapshot: () => Record<string, unknown>, private readonly everyMs = 2000) {
    this.path = join(dataDir, STATUS_FILE)
  }

  start (): void {
    this.write()
    this.timer = setInterval(() => this.write(), this.everyMs)
    this.timer.unref()
  }

  write (): void {
    const tmp = `${this.path}.${process.pid}.tmp`
    writeFileSync(tmp, JSON.stringify({ pid: process.pid, updated: new Date().toISOString(), ...this.snapshot() }) + '\n', { mode: 0o600 })
    renameSync(tmp, this.path)
  }

  close (): void {
    if (this.timer !== null) clearInterval(this.timer)
    this.timer = null
    rmSync(this.path, { force: true })
  }
}

function alive (pid: number): boolean {
  try { process.kill(pid, 0); return true } catch (err) { return (err as NodeJS.ErrnoException).code === 'EPERM' }
}

/** The status of the node running on dataDir, or null if none runs there. */
export function readStatus (dataDir: string): StatusSnapshot | null {
  const p = join(dataDir, STATUS_FILE)
  if (!existsSync(p)) return null
  let s: unknown
  try {
    // Our own file, but a corrupt or planted one must not cost memory: members are capped at 64.
    if (statSync(p).size > 4 * 1024 * 1024) return null
    s = JSON.parse(readFileSync(p, 'utf8'))
  } catch { return null }
  if (typeof s !== 'object' || s === null || typeof (s as StatusSnapshot).pid !== 'number') return null
  return alive((s as StatusSnapshot).pid) ? s as StatusSnapshot : null
}
