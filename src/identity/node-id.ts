// The DHT node ID is persisted in the data directory so a node keeps its place in the
// keyspace (and its region) across restarts.

import { randomBytes } from 'node:crypto'
import { existsSync, readFileSync, writeFileSync, mkdirSync, renameSync } from 'node:fs'
import { join } from 'node:path'
import { ConfigError } from '../core/errors.js'

export function loadOrCreateNodeId (dataDir: string): Buffer {
  const file = join(dataDir, 'node-id')
  if (existsSync(file)) {
    const hex = readFileSync(file, 'utf8').trim()
    if (!/^[0-9a-f]{40}$/i.test(hex)) throw new ConfigError(`${file} does not hold a 40-hex-digit node id; delete it to mint a new one`)
    return Buffer.from(hex, 'hex')
  }
  mkdirSync(dataDir, { recursive: true, mode: 0o700 })
  const id = randomBytes(20)
  const tmp = file + '.tmp'
  writeFileSync(tmp, id.toString('hex') + '\n', { mode: 0o600 })
  renameSync(tmp, file)
  return id
}
