// N in-process harvesters on a testnet, each with its own temporary data directory, as the
// cooperative's tests and benchmarks run them.

import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { HarvesterNode } from '../node/harvester-node.js'
import { loadConfig } from '../config/load.js'
import type { Testnet } from './testnet.js'

export interface HarvesterSet {
  nodes: HarvesterNode[]
  close: () => Promise<void>
}

export async function startHarvesters (tn: Testnet, count: number, opts: { community?: string, ownerWaitMs?: number, steerRegions?: boolean, contribution?: (i: number) => string, prepare?: (dataDir: string, i: number) => void, host?: (i: number) => string, flags?: Record<string, string> } = {}): Promise<HarvesterSet> {
  const dirs: string[] = []
  const nodes: HarvesterNode[] = []
  const close = async (): Promise<void> => {
    for (const n of nodes) await n.close()
    for (const d of dirs) rmSync(d, { recursive: true, force: true })
  }
  try {
    for (let i = 0; i < count; i++) {
      const dir = mkdtempSync(join(tmpdir(), 'bbmesh-harvester-'))
      dirs.push(dir)
      // E.g. records imported before the node starts (tests of bb_search).
      opts.prepare?.(dir, i)
      const flags: Record<string, string> = { dataDir: dir, bootstrap: '', host: opts.host?.(i) ?? '127.0.0.1', dhtPort: '0', peerPort: '0', perIpRate: '50', minRevisit: '0', logLevel: 'silent' }
      Object.assign(flags, opts.flags)
      if (opts.community !== undefined) flags.community = opts.community
      if (opts.contribution !== undefined) flags.contribution = opts.contribution(i)
      const { config, sources } = loadConfig(flags, {})
      const node = new HarvesterNode(config, { bootstrapPeers: tn.bootstrap, configSources: sources, ownerWaitMs: opts.ownerWaitMs, steerRegions: opts.steerRegions })
      await node.start()
      nodes.push(node)
    }
    return { nodes, close }
  } catch (err) {
    await close()
    throw err
  }
}
