// Structured logs (pino) to stderr, one child per component; secrets redacted by path.
// Only cli/ prints to the user; everything else logs.

import { pino, destination, type Logger as PinoLogger } from 'pino'

export type Logger = PinoLogger

export const REDACT_PATHS = ['community', 'communityKey', 'communityKeys', 'secret', 'privateKey', 'seed', 'passphrase', '*.community', '*.communityKey', '*.secret', '*.privateKey', '*.seed', '*.passphrase']

export function createLogger (opts: { level?: string, name?: string } = {}): Logger {
  return pino({
    name: opts.name ?? 'bbmesh',
    level: opts.level ?? process.env.BBMESH_LOG_LEVEL ?? 'info',
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    base: undefined,
  }, destination({ fd: 2, sync: false }))
}

/** A logger that drops everything: the default for library code and tests. */
export const silentLogger: Logger = pino({ level: 'silent' })
