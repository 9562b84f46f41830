// Abort and deadline helpers: every async operation takes a signal and has a total deadline.

import { AbortedError, TimeoutError } from './errors.js'

/** A signal that aborts when the parent does or after ms, whichever is first. */
export function deadlineSignal (ms: number, parent?: AbortSignal): AbortSignal {
  const t = AbortSignal.timeout(ms)
  return parent === undefined ? t : AbortSignal.any([parent, t])
}

export function throwIfAborted (signal: AbortSignal | undefined): void {
  if (signal?.aborted === true) throw abortReason(signal)
}

export function abortReason (signal: AbortSignal): Error {
  const r: unknown = signal.reason
  if (r instanceof Error && r.name === 'TimeoutError') return new TimeoutError('deadline passed', { cause: r })
  // AbortController.abort() with no reason gives a DOMException: callers that rethrow every
  // non-BbmeshError as a bug would crash on a plain cancel.
  if (r instanceof Error && r.name === 'AbortError') return new AbortedError('aborted', { cause: r })
  if (r instanceof Error) return r
  return new AbortedError()
}

/** Sleep that ends early (rejecting) when the signal aborts; the timer never outlives it. */
export function sleep (ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted === true) { reject(abortReason(signal)); return }
    const onAbort = (): void => { clearTimeout(t); reject(abortReason(signal as AbortSignal)) }
    const t = setTimeout(() => { signal?.removeEventListener('abort', onAbort); resolve() }, ms)
    signal?.addEventListener('abort', onAbort, { once: true })
  })
}
