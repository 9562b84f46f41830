// Argument parsing on node:util parseArgs (no dependency needed): every config key is a
// flag of every command that uses config; commands add their own flags.

import { parseArgs, type ParseArgsConfig } from 'node:util'
import { CONFIG_SPEC, type ConfigKey } from '../config/defaults.js'
import { UsageError } from '../core/errors.js'

export type OptionSpec = NonNullable<ParseArgsConfig['options']>

/** List keys whose flag may be given more than once; the values are joined with commas. */
const REPEATABLE: ReadonlySet<ConfigKey> = new Set<ConfigKey>(['community'])

export function configOptions (keys: readonly ConfigKey[]): OptionSpec {
  const o: OptionSpec = {}
  for (const k of keys) o[CONFIG_SPEC[k].flag] = REPEATABLE.has(k) ? { type: 'string', multiple: true } : { type: 'string' }
  return o
}

export interface Parsed {
  values: Record<string, string | boolean | string[] | undefined>
  positionals: string[]
  /** Config keys given as flags, camelCase, raw strings. */
  configFlags: Partial<Record<ConfigKey, unknown>>
}

export function parse (argv: string[], options: OptionSpec, configKeys: readonly ConfigKey[], allowPositionals = true): Parsed {
  let r
  try {
    r = parseArgs({ args: argv, options: { ...options, ...configOptions(configKeys), help: { type: 'boolean', short: 'h' } }, allowPositionals, strict: true })
  } catch (err) {
    throw new UsageError((err as Error).message.replace(/^TypeError \[[A-Z_]+\]: /, ''))
  }
  const configFlags: Partial<Record<ConfigKey, unknown>> = {}
  for (const k of configKeys) {
    const v = (r.values as Record<string, unknown>)[CONFIG_SPEC[k].flag]
    if (v !== undefined) configFlags[k] = Array.isArray(v) ? v.join(',') : v
  }
  return { values: r.values as Parsed['values'], positionals: r.positionals, configFlags }
}

export function configHelp (keys: readonly ConfigKey[]): string {
  return keys.map((k) => {
    const s = CONFIG_SPEC[k]
    const def = Array.isArray(s.default) ? (s.default as string[]).join(',') : String(s.default)
    return `  --${s.flag} <${s.type}>`.padEnd(32) + ` ${s.why}\n${''.padEnd(33)}(env ${s.env}; default ${def === '' ? 'none' : def})`
  }).join('\n')
}
