// Spawned-CLI test tools: run `node bin/bbmesh.js ...` as a child process the way a user
// would, collect its stdout lines (JSON lines parsed) and stderr, send it signals, and wait
// for its exit under a generous deadline. Every child is killed when its test ends, so a
// failing assertion never leaves a harvester or a testnet running behind the suite.

import { spawn, type ChildProcess } from 'node:child_process'
import { join } from 'node:path'
import { existsSync } from 'node:fs'
import type { TestContext } from 'node:test'
import { repoRoot } from './krpc.js'
import { openStore, type Store } from '../../src/store/index.js'
import { StoreError } from '../../src/core/errors.js'

export const BIN = join(repoRoot(), 'bin', 'bbmesh.js')

export interface Exit { code: number | null, signal: NodeJS.Signals | null }

export interface SpawnOptions {
  /** Extra environment (BBMESH_* of the test process are never passed on). */
  env?: Record<string, string>
  /** Kill the child when this test ends (pass the test's context). */
  t?: TestContext
}

/** The environment of a child: ours without BBMESH_* (a stray setting must not change a test). */
function childEnv (extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {}
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('BBMESH_')) env[k] = v
  return { ...env, ...extra }
}

const live = new Set<CliProcess>()
// Last resort: a test process that dies (uncaught error, runner timeout) takes its children along.
process.once('exit', () => { for (const p of live) p.child.kill('SIGKILL') })

/** One running `bbmesh` child. */
export class CliProcess {
  readonly child: ChildProcess
  /** Complete stdout lines so far. */
  readonly lines: string[] = []
  stderr = ''
  private partial = ''
  private exitInfo: Exit | null = null
  private readonly exited: Promise<Exit>
  private readonly waiters = new Set<() => void>()

  constructor (readonly args: string[], opts: SpawnOptions = {}) {
    this.child = spawn(process.execPath, [BIN, ...args], { env: childEnv(opts.env ?? {}), stdio: ['ignore', 'pipe', 'pipe'] })
    live.add(this)
    this.child.stdout?.setEncoding('utf8')
    this.child.stderr?.setEncoding('utf8')
    this.child.stdout?.on('data', (chunk: string) => {
      const parts = (this.partial + chunk).split('\n')
      this.partial = parts.pop() ?? ''
      this.lines.push(...parts)
      this.wake()
    })
    this.child.stderr?.on('data', (chunk: string) => { this.stderr += chunk; this.wake() })
    this.exited = new Promise<Exit>((resolve) => {
      // 'close', not 'exit': stdout and stderr are drained by then.
      this.child.on('close', (code, signal) => {
        if (this.partial !== '') { this.lines.push(this.partial); this.partial = '' }
        this.exitInfo = { code, signal }
        live.delete(this)
        this.wake()
        resolve(this.exitInfo)
      })
    })
    opts.t?.after(async () => { await this.kill() })
  }

  get pid (): number | undefined { return this.child.pid }
  get exit (): Exit | null { return this.exitInfo }

  /** stdout lines that parse as JSON objects, in order. */
  json (): Array<Record<string, unknown>> {
    const out: Array<Record<string, unknown>> = []
    for (const l of this.lines) {
      if (!l.startsWith('{')) continue
      try {
        const v: unknown = JSON.parse(l)
        if (typeof v === 'object' && v !== null && !Array.isArray(v)) out.push(v as Record<string, unknown>)
      } catch { /* not a JSON line */ }
    }
    return out
  }

  /** stderr lines that parse as JSON objects: the structured (pino) logs. */
  logs (): Array<Record<string, unknown>> {
    const out: Array<Record<string, unknown>> = []
    for (const l of this.stderr.split('\n')) {
      if (!l.startsWith('{')) continue
      try { out.push(JSON.parse(l) as Record<string, unknown>) } catch { /* a plain message */ }
    }
    return out
  }

  private wake (): void {
    for (const w of [...this.waiters]) w()
  }

  /**
   * Wait until probe() returns something other than undefined, re-checking on every output
   * chunk and every pollMs; rejects after guardMs (a hang guard, not a speed assertion) or
   * when the child exits first, with its output in the message.
   */
  async waitFor<T> (what: string, probe: () => T | undefined, guardMs = 60_000, pollMs = 100): Promise<T> {
    const deadline = Date.now() + guardMs
    for (;;) {
      const v = probe()
      if (v !== undefined) return v
      if (this.exitInfo !== null) throw new Error(`bbmesh ${this.args[0]} exited (${JSON.stringify(this.exitInfo)}) before ${what}\n${this.describe()}`)
      const left = deadline - Date.now()
      if (left <= 0) throw new Error(`waited ${guardMs} ms for ${what}\n${this.describe()}`)
      await new Promise<void>((resolve) => {
        const done = (): void => { clearTimeout(timer); this.waiters.delete(done); resolve() }
        const timer = setTimeout(done, Math.min(left, pollMs))
        this.waiters.add(done)
      })
    }
  }

  /** The first JSON line of stdout that matches. */
  async waitForJson (what: string, match: (o: Record<string, unknown>) => boolean = () => true, guardMs = 60_000): Promise<Record<string, unknown>> {
    return await this.waitFor(what, () => this.json().find(match), guardMs)
  }

  signal (sig: NodeJS.Signals): void {
    if (this.exitInfo === null) this.child.kill(sig)
  }

  /** Wait for the child to exit; rejects (and kills it) after guardMs. */
  async waitExit (guardMs = 30_000): Promise<Exit> {
    let timer: NodeJS.Timeout | undefined
    const guard = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => {
        const msg = `bbmesh ${this.args[0]} did not exit within ${guardMs} ms\n${this.describe()}`
        void this.kill().finally(() => reject(new Error(msg)))
      }, guardMs)
    })
    try {
      return await Promise.race([this.exited, guard])
    } finally {
      clearTimeout(timer)
    }
  }

  /** SIGKILL (when still running) and wait until it is gone. Idempotent. */
  async kill (): Promise<Exit> {
    if (this.exitInfo === null) this.child.kill('SIGKILL')
    return await this.exited
  }

  /** The command line and the tail of its output, for failure messages. */
  describe (): string {
    const tail = (s: string): string => s.length > 4000 ? `...${s.slice(-4000)}` : s
    return `$ bbmesh ${this.args.join(' ')}\n--- stdout\n${tail(this.lines.join('\n'))}\n--- stderr\n${tail(this.stderr)}`
  }
}

/** Start `bbmesh args...` in the background. */
export function spawnCli (args: string[], opts: SpawnOptions = {}): CliProcess {
  return new CliProcess(args, opts)
}

export interface RunResult extends Exit { stdout: string, stderr: string, lines: string[], json: Array<Record<string, unknown>> }

/** Run `bbmesh args...` to its end (killed after guardMs) and return its exit and output. */
export async function runCli (args: string[], opts: SpawnOptions & { guardMs?: number } = {}): Promise<RunResult> {
  const p = new CliProcess(args, opts)
  try {
    const e = await p.waitExit(opts.guardMs ?? 30_000)
    return { ...e, stdout: p.lines.join('\n'), stderr: p.stderr, lines: p.lines, json: p.json() }
  } finally {
    await p.kill()
  }
}

/** Kill every child still running (for an after() hook of a whole file). */
export async function killAll (): Promise<void> {
  await Promise.all([...live].map(async (p) => await p.kill()))
}

/** Poll a condition (sync or async) until it yields a value; rejects after guardMs. A hang guard, not a timing assertion. */
export async function poll<T> (what: string, probe: () => T | undefined | Promise<T | undefined>, guardMs = 60_000, stepMs = 100): Promise<T> {
  const deadline = Date.now() + guardMs
  for (;;) {
    const v = await probe()
    if (v !== undefined) return v
    if (Date.now() > deadline) throw new Error(`waited ${guardMs} ms for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, stepMs))
  }
}

/**
 * Open the index a `bbmesh` child writes, read-only, once it can be: the file appears a moment
 * before the writer has created the schema in it. Rejects if the child exits first.
 */
export async function openIndexOf (proc: CliProcess, dataDir: string, guardMs = 60_000): Promise<Store> {
  const path = join(dataDir, 'index.sqlite')
  return await proc.waitFor(`a readable index in ${dataDir}`, () => {
    if (!existsSync(path)) return undefined
    try {
      return openStore(path, { readonly: true })
    } catch (err) {
      if (err instanceof StoreError) return undefined
      throw err
    }
  }, guardMs)
}
