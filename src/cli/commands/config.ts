// `bbmesh config show`: the effective configuration and where each value came from.

import type { Command } from '../command.js'
import { parse } from '../args.js'
import { loadConfig } from '../../config/load.js'
import { CONFIG_SPEC, type ConfigKey } from '../../config/defaults.js'
import { UsageError } from '../../core/errors.js'
import { parseCommunityKeys } from '../../identity/community-key.js'

const KEYS = Object.keys(CONFIG_SPEC) as ConfigKey[]

export const configCommand: Command = {
  name: 'config',
  summary: 'show the effective configuration (config show [--json])',
  help: () => `Usage: bbmesh config show [--json] [any option]

Prints every configuration key, its effective value and its source (flag, env, file, default).
Keys are documented in docs/config.md.`,
  async run (argv, out) {
    const p = parse(argv, { json: { type: 'boolean' } }, KEYS, true)
    if (p.positionals[0] !== 'show' || p.positionals.length !== 1) throw new UsageError('expected `bbmesh config show`')
    const loaded = loadConfig(p.configFlags)
    const { sources } = loaded
    // Community keys are secrets: show their public ids, never the keys.
    const config = { ...loaded.config, community: parseCommunityKeys(loaded).map((k) => `id:${k.id}`) }
    if (p.values.json === true) {
      out.out(JSON.stringify({ config, sources }))
      return 0
    }
    for (const k of KEYS) {
      const v = config[k]
      out.out(`${CONFIG_SPEC[k].flag.padEnd(22)} ${(Array.isArray(v) ? v.join(',') : String(v)).padEnd(50)} ${sources[k]}`)
    }
    return 0
  },
}
