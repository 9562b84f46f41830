// The only place that prints to the user. Commands write results to stdout, messages to
// stderr; logs go through pino on stderr.

export interface Output {
  out: (line: string) => void
  err: (line: string) => void
  isTTY: boolean
}

export const stdio: Output = {
  out: (line) => { process.stdout.write(line + '\n') },
  err: (line) => { process.stderr.write(line + '\n') },
  isTTY: process.stdout.isTTY === true,
}

export function formatBytes (n: number): string {
  const u = ['B', 'KiB', 'MiB', 'GiB', 'TiB']
  let i = 0
  let v = n
  while (v >= 1024 && i < u.length - 1) { v /= 1024; i++ }
  return `${i === 0 ? v : v.toFixed(1)} ${u[i]}`
}
