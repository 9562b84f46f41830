// Opening the data directory's index from a CLI command: read-only for readers (they run
// beside a harvester), read-write for import.

import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { openStore, type Store } from '../store/index.js'
import { StoreError } from '../core/errors.js'

export function indexPath (dataDir: string): string {
  return join(dataDir, 'index.sqlite')
}

export function openForReading (dataDir: string): Store {
  const p = indexPath(dataDir)
  if (!existsSync(p)) throw new StoreError(`no index in ${dataDir} yet: run \`bbmesh harvest\` or \`bbmesh import\` first (or pass --data-dir)`)
  return openStore(p, { readonly: true })
}

export function openForWriting (dataDir: string): Store {
  return openStore(indexPath(dataDir))
}
