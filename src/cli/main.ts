// bbmesh CLI entry: dispatch to one command, map errors to exit codes. User errors print a
// clear message and exit 2; network/state errors exit 1; bugs print a stack and exit 70.

import { stdio, type Output } from './output.js'
import type { Command } from './command.js'
import { BbmeshError, UsageError, ConfigError } from '../core/errors.js'
import { harvestCommand } from './commands/harvest.js'
import { searchCommand } from './commands/search.js'
import { statsCommand } from './commands/stats.js'
import { importCommand } from './commands/import.js'
import { exportCommand } from './commands/export.js'
import { testnetCommand } from './commands/testnet.js'
import { demoCommand } from './commands/demo.js'
import { configCommand } from './commands/config.js'
import { membersCommand } from './commands/members.js'
import { communityCommand } from './commands/community.js'
import { serveCommand } from './commands/serve.js'
import { makeTorrentCommand } from './commands/make-torrent.js'
import { keygenCommand } from './commands/keygen.js'
import { keyCommand } from './commands/key.js'
import { publishCommand } from './commands/publish.js'
import { fetchCommand } from './commands/fetch.js'
import { catalogsCommand } from './commands/catalogs.js'

export const COMMANDS: readonly Command[] = [harvestCommand, searchCommand, serveCommand, statsCommand, importCommand, exportCommand, membersCommand, demoCommand, testnetCommand, configCommand, communityCommand, makeTorrentCommand, keygenCommand, keyCommand, publishCommand, fetchCommand, catalogsCommand]

export const VERSION = '0.1.0'

export function usage (): string {
  return [
    'bbmesh: a cooperative BitTorrent DHT harvester',
    '',
    'Usage: bbmesh <command> [options]',
    '',
    'Commands:',
    ...COMMANDS.map((c) => `  ${c.name.padEnd(10)} ${c.summary}`),
    '',
    'Run `bbmesh <command> --help` for the options of one command.',
    'Every option can also be set by environment (BBMESH_DATA_DIR, BBMESH_BOOTSTRAP, ...) or in',
    'config.json in the data directory; flags win over environment, environment over the file.',
  ].join('\n')
}

export async function main (argv: string[], out: Output = stdio): Promise<number> {
  const [name, ...rest] = argv
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    out.out(usage())
    return name === undefined ? 2 : 0
  }
  if (name === '--version' || name === '-v') { out.out(VERSION); return 0 }
  const cmd = COMMANDS.find((c) => c.name === name)
  if (cmd === undefined) {
    out.err(`bbmesh: unknown command ${JSON.stringify(name)}\n\n${usage()}`)
    return 2
  }
  if (rest.includes('--help') || rest.includes('-h')) { out.out(cmd.help()); return 0 }
  try {
    return await cmd.run(rest, out)
  } catch (err) {
    if (err instanceof UsageError || err instanceof ConfigError) {
      out.err(`bbmesh ${name}: ${err.message}\nRun \`bbmesh ${name} --help\` for usage.`)
      return 2
    }
    if (err instanceof BbmeshError) {
      out.err(`bbmesh ${name}: ${err.message}`)
      return 1
    }
    const bind = bindFailure(err)
    if (bind !== null) {
      out.err(`bbmesh ${name}: ${bind}`)
      return 1
    }
    out.err(`bbmesh ${name}: internal error: ${(err as Error).stack ?? String(err)}`)
    return 70
  }
}

/**
 * A socket that could not bind or listen (a port in use, a privileged port, an address this
 * machine does not have) is the user's setting, not a bug: say which and what to do.
 */
export function bindFailure (err: unknown): string | null {
  const e = err as NodeJS.ErrnoException & { address?: string, port?: number }
  if (typeof e !== 'object' || e === null || (e.syscall !== 'bind' && e.syscall !== 'listen')) return null
  const where = e.address !== undefined ? `${e.address}${e.port !== undefined ? `:${e.port}` : ''}` : 'the configured address'
  switch (e.code) {
    case 'EADDRINUSE': return `cannot listen on ${where}: the port is in use (another bbmesh or BitTorrent client?). Choose another with --dht-port, --peer-port, --seed-port or --api-port, or 0 for any free port.`
    case 'EACCES': return `cannot listen on ${where}: permission denied (ports below 1024 need privileges). Choose a port of 1024 or more, or 0 for any free port.`
    case 'EADDRNOTAVAIL': return `cannot listen on ${where}: this machine has no such address. Check --host (and --api-host).`
    default: return null
  }
}

