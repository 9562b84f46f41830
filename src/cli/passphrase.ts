// Where a command gets the passphrase of the publisher key: a file (--passphrase-file FILE, its
// first line) or an environment variable (--passphrase-env VAR, its name given, never its
// value). Never from argv: a flag's value shows in `ps` and in shell history. Messages name the
// file or the variable, never the passphrase. And the key a publishing command uses.

import { closeSync, fstatSync, openSync, readSync } from 'node:fs'
import type { OptionSpec, Parsed } from './args.js'
import { UsageError } from '../core/errors.js'
import type { Logger } from '../core/logger.js'
import { btpkMagnet, loadOrCreatePublisherKey, publisherKeyPath, type PublisherKey } from '../identity/publisher-key.js'
import { LIMITS } from '../core/limits.js'

export const PASSPHRASE_OPTIONS: OptionSpec = {
  'passphrase-file': { type: 'string' },
  'passphrase-env': { type: 'string' },
}

export const PASSPHRASE_HELP = `  --passphrase-file FILE         the passphrase is the first line of FILE (the line end is
                                 not part of it; keep FILE mode 0600)
  --passphrase-env VAR           the passphrase is the value of the environment variable VAR
                                 (the name of the variable, not the passphrase itself)`

/** The passphrase the flags point to, or undefined when neither is given. UsageError for bad flags, an unreadable file, an empty passphrase. */
export function readPassphrase (values: Parsed['values'], env: NodeJS.ProcessEnv = process.env): string | undefined {
  const file = values['passphrase-file']
  const name = values['passphrase-env']
  if (file !== undefined && name !== undefined) throw new UsageError('give --passphrase-file or --passphrase-env, not both')
  let pass: string
  if (typeof file === 'string') {
    pass = firstLine(readSmallFile(file))
    if (pass === '') throw new UsageError(`--passphrase-file ${file}: the first line is empty`)
  } else if (typeof name === 'string') {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) throw new UsageError('--passphrase-env takes the name of an environment variable (letters, digits, _), not a passphrase')
    const v = env[name]
    if (v === undefined || v === '') throw new UsageError(`--passphrase-env ${name}: the environment variable ${name} is not set or empty`)
    pass = v
  } else {
    return undefined
  }
  if (Buffer.byteLength(pass.normalize('NFC'), 'utf8') > LIMITS.passphraseMax) throw new UsageError(`the passphrase is longer than ${LIMITS.passphraseMax} bytes`)
  return pass
}

function firstLine (text: string): string {
  const nl = text.indexOf('\n')
  const line = nl < 0 ? text : text.slice(0, nl)
  return line.endsWith('\r') ? line.slice(0, -1) : line
}

function readSmallFile (path: string): string {
  let fd: number
  try { fd = openSync(path, 'r') } catch (err) {
    throw new UsageError(`--passphrase-file ${path}: cannot read it (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`)
  }
  try {
    const st = fstatSync(fd)
    if (!st.isFile()) throw new UsageError(`--passphrase-file ${path}: not a regular file`)
    const max = LIMITS.passphraseFileMax
    if (st.size > max) throw new UsageError(`--passphrase-file ${path}: larger than ${max} bytes, not a passphrase file`)
    const buf = Buffer.alloc(max + 1)
    let n = 0
    for (;;) {
      const got = readSync(fd, buf, n, buf.length - n, null)
      if (got === 0 || (n += got) === buf.length) break
    }
    if (n > max) throw new UsageError(`--passphrase-file ${path}: larger than ${max} bytes, not a passphrase file`)
    const text = buf.subarray(0, n).toString('utf8')
    buf.fill(0)
    return text
  } finally { closeSync(fd) }
}

/**
 * The publisher key to publish with: the data directory's, or one minted on this first publish
 * (loadOrCreatePublisherKey), whose public key and magnet are then said on stderr.
 */
export function publisherKeyForPublishing (dataDir: string, passphrase: string | undefined, log: Logger, say: (line: string) => void): PublisherKey {
  const { key, minted } = loadOrCreatePublisherKey(dataDir, { passphrase, logger: log })
  if (minted) {
    say([
      `bbmesh: no publisher key in ${dataDir}: minted one, as \`bbmesh keygen\` does, in ${publisherKeyPath(dataDir)} (mode 0600, ${passphrase !== undefined ? 'sealed with your passphrase' : 'NOT encrypted; --passphrase-file or --passphrase-env seals a new key'}).`,
      `public key  ${key.publicKeyHex}`,
      `magnet      ${btpkMagnet(key.publicKey)}`,
      'Share the public key or the magnet; back the file up: a lost key cannot be recovered.',
    ].join('\n'))
  }
  return key
}
