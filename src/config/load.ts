// Config loading: flags > BBMESH_* environment > config file > defaults, each value checked
// against the spec table; the result is frozen.

import { existsSync, readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { CONFIG_SPEC, type Config, type ConfigKey, type KeySpec } from './defaults.js'
import { ConfigError } from '../core/errors.js'

export type Source = 'flag' | 'env' | 'file' | 'default'

function coerce (key: string, spec: KeySpec, raw: unknown, from: string): unknown {
  const bad = (what: string): never => { throw new ConfigError(`${key} from ${from}: ${what}`) }
  switch (spec.type) {
    case 'string': {
      if (typeof raw !== 'string') bad('expected a string')
      const s = raw as string
      if (spec.choices !== undefined && !spec.choices.includes(s)) bad(`expected one of ${spec.choices.join(', ')}`)
      return s
    }
    case 'int': case 'number': {
      const n = typeof raw === 'number' ? raw : typeof raw === 'string' && raw.trim() !== '' ? Number(raw) : NaN
      if (!Number.isFinite(n)) bad(`expected a number, got ${JSON.stringify(raw)}`)
      if (spec.type === 'int' && !Number.isInteger(n)) bad('expected an integer')
      if (spec.min !== undefined && n < spec.min) bad(`must be at least ${spec.min}`)
      if (spec.max !== undefined && n > spec.max) bad(`must be at most ${spec.max}`)
      return n
    }
    case 'bool':
      if (typeof raw === 'boolean') return raw
      if (raw === 'true' || raw === '1') return true
      if (raw === 'false' || raw === '0') return false
      return bad('expected true or false')
    case 'list':
      if (Array.isArray(raw) && raw.every((x) => typeof x === 'string')) return raw
      if (typeof raw === 'string') return raw.split(',').map((s) => s.trim()).filter((s) => s !== '')
      return bad('expected a comma-separated list')
  }
}

export interface LoadedConfig { config: Readonly<Config>, sources: Record<ConfigKey, Source> }

/** flags: camelCase keys (already parsed from argv); env: process.env. */
export function loadConfig (flags: Partial<Record<ConfigKey, unknown>>, env: NodeJS.ProcessEnv = process.env): LoadedConfig {
  const keys = Object.keys(CONFIG_SPEC) as ConfigKey[]
  const out: Record<string, unknown> = {}
  const sources = {} as Record<ConfigKey, Source>
  // The data dir and config file path are needed first to find the file.
  const early = (key: ConfigKey): string | undefined => {
    const s = CONFIG_SPEC[key]
    if (flags[key] !== undefined) return String(flags[key])
    if (env[s.env] !== undefined && env[s.env] !== '') return env[s.env]
    return undefined
  }
  const dataDir = early('dataDir') ?? (CONFIG_SPEC.dataDir.default as string)
  const explicitFile = early('config')
  const file = explicitFile ?? join(dataDir, 'config.json')
  let fileValues: Record<string, unknown> = {}
  if (explicitFile !== undefined || existsSync(file)) {
    try {
      if (statSync(file).size > 1024 * 1024) throw new ConfigError(`config file ${file} is larger than 1 MiB`)
      const parsed: unknown = JSON.parse(readFileSync(file, 'utf8'))
      if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new ConfigError(`config file ${file} is not a JSON object`)
      fileValues = parsed as Record<string, unknown>
    } catch (err) {
      if (err instanceof ConfigError) throw err
      throw new ConfigError(`cannot read config file ${file}: ${(err as Error).message}`, { cause: err })
    }
    for (const k of Object.keys(fileValues)) {
      if (!Object.prototype.hasOwnProperty.call(CONFIG_SPEC, k)) throw new ConfigError(`config file ${file}: unknown key ${JSON.stringify(k)}`)
    }
  }
  for (const key of keys) {
    const spec: KeySpec = CONFIG_SPEC[key]
    if (flags[key] !== undefined) { out[key] = coerce(key, spec, flags[key], `--${spec.flag}`); sources[key] = 'flag' } else if (env[spec.env] !== undefined && env[spec.env] !== '') { out[key] = coerce(key, spec, env[spec.env], spec.env); sources[key] = 'env' } else if (Object.prototype.hasOwnProperty.call(fileValues, key)) { out[key] = coerce(key, spec, fileValues[key], file); sources[key] = 'file' } else { out[key] = Array.isArray(spec.default) ? [...spec.default] : spec.default; sources[key] = 'default' }
  }
  return { config: Object.freeze(out as unknown as Config), sources }
}
