// Live progress for long work: one rewritten status line on a TTY, JSON lines otherwise.

import type { Output } from './output.js'

export interface ProgressOptions {
  mode: 'auto' | 'tty' | 'json' | 'off'
  intervalMs?: number
  /** JSON lines are written at most this often. */
  jsonIntervalMs?: number
  /** Where the live line is drawn (default stdout; JSON lines always go to out.out). */
  ttyStream?: { write: (s: string) => unknown }
}

export class Progress<T extends object> {
  private timer: NodeJS.Timeout | null = null
  private lastJson = 0
  private readonly tty: boolean
  private drawn = false

  constructor (private readonly out: Output, private readonly sample: () => T, private readonly line: (s: T) => string, private readonly opts: ProgressOptions) {
    this.tty = opts.mode === 'tty' || (opts.mode === 'auto' && out.isTTY)
  }

  private ttyOut (): { write: (s: string) => unknown } {
    return this.opts.ttyStream ?? process.stdout
  }

  start (): void {
    if (this.opts.mode === 'off' || this.timer !== null) return
    this.timer = setInterval(() => this.render(false), this.opts.intervalMs ?? 1000)
  }

  render (final: boolean): void {
    const s = this.sample()
    if (this.tty) {
      this.ttyOut().write(`\r\x1b[K${this.line(s)}${final ? '\n' : ''}`)
      this.drawn = !final
    } else {
      const now = Date.now()
      if (!final && now - this.lastJson < (this.opts.jsonIntervalMs ?? 5000)) return
      this.lastJson = now
      this.out.out(JSON.stringify({ type: final ? 'final' : 'progress', time: new Date(now).toISOString(), ...s }))
    }
  }

  stop (): void {
    if (this.timer !== null) clearInterval(this.timer)
    this.timer = null
    if (this.opts.mode !== 'off') this.render(true)
    else if (this.drawn) this.ttyOut().write('\n')
  }
}
