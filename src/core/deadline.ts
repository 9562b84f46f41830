// Abort helpers: turn an aborted signal into a typed error (a deadline into TimeoutError).

import { AbortedError, TimeoutError } from './errors.js'

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
