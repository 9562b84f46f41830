// Clean stop on SIGINT/SIGTERM: the first signal resolves the wait so the command can close
// everything in order; a second one exits at once (exit code 130).

export function waitForStop (signal?: AbortSignal): { promise: Promise<string>, dispose: () => void } {
  let resolve!: (s: string) => void
  const promise = new Promise<string>((r) => { resolve = r })
  let count = 0
  const on = (sig: NodeJS.Signals): void => {
    count++
    if (count > 1) process.exit(130)
    resolve(sig)
  }
  process.on('SIGINT', on)
  process.on('SIGTERM', on)
  const onAbort = (): void => resolve('abort')
  signal?.addEventListener('abort', onAbort, { once: true })
  return {
    promise,
    dispose: () => { process.off('SIGINT', on); process.off('SIGTERM', on); signal?.removeEventListener('abort', onAbort) },
  }
}
