// The asking side of a request/response extension (bb_meta, bb_search): request ids that wrap
// at 2^32, one deadline timer and an optional abort signal per request, a cap on requests in
// flight, and close() failing whatever is still waiting. Each request keeps the extension's
// own state (`S`) next to its promise.

import { AbortedError, LimitError, TimeoutError } from '../src/core/errors.js'

interface Entry<T, S> {
  state: S
  resolve: (v: T) => void
  reject: (e: Error) => void
  timer: NodeJS.Timeout
  detach: () => void
}

export class PendingRequests<T, S> {
  private readonly map = new Map<number, Entry<T, S>>()
  private nextId = 1
  private closed = false

  /** `what` names the extension in error messages; at most `max` requests in flight. */
  constructor (private readonly what: string, private readonly max: number) {}

  get size (): number { return this.map.size }

  /**
   * Start a request: `send(id)` puts it on the wire. Resolves with what finish() is given;
   * rejects with TimeoutError at the deadline, AbortedError on abort or close.
   */
  async open (state: S, send: (id: number) => void, opts: { timeoutMs: number, signal?: AbortSignal }): Promise<T> {
    if (this.closed) throw new AbortedError(`${this.what} link closed`)
    if (this.map.size >= this.max) throw new LimitError(`${this.what}: too many requests in flight on this link`)
    if (opts.signal?.aborted === true) throw new AbortedError(`${this.what} request aborted`)
    const id = this.nextId++
    if (this.nextId > 0xffffffff) this.nextId = 1
    return await new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => this.finish(id, new TimeoutError(`${this.what}: no answer before the deadline`)), opts.timeoutMs)
      const onAbort = (): void => this.finish(id, new AbortedError(`${this.what} request aborted`))
      opts.signal?.addEventListener('abort', onAbort, { once: true })
      this.map.set(id, { state, resolve, reject, timer, detach: () => opts.signal?.removeEventListener('abort', onAbort) })
      send(id)
    })
  }

  /** The state of a request still waiting, or undefined (an unsolicited or late answer). */
  state (id: number): S | undefined { return this.map.get(id)?.state }

  /** End a request with an error, or with its value. */
  finish (id: number, err: Error | null, value?: T): void {
    const e = this.map.get(id)
    if (e === undefined) return
    this.map.delete(id)
    clearTimeout(e.timer)
    e.detach()
    if (err !== null) e.reject(err); else e.resolve(value as T)
  }

  /** Fail every waiting request; later open() calls fail at once. */
  close (): void {
    if (this.closed) return
    this.closed = true
    for (const id of [...this.map.keys()]) this.finish(id, new AbortedError(`${this.what} link closed`))
  }
}
