// `bbmesh stats`: counts of the local index, read-only (works beside a running harvester).

import type { Command } from '../command.js'
import { parse, configHelp } from '../args.js'
import { loadConfig } from '../../config/load.js'
import { openForReading } from '../store-access.js'
import { formatBytes } from '../output.js'
import { readStatus } from '../../node/status-file.js'
import type { Store, StoreStats } from '../../store/index.js'

/**
 * What `bbmesh stats --json` prints (and GET /api/stats of `bbmesh serve` answers): the index's
 * counts, and the live counters of a harvester running on the data directory, if one runs.
 */
export function statsReport (store: Store, dataDir: string): StoreStats & { running: boolean, members: number, fetched_from_swarm: number, fetched_from_members: number, owner_timeouts: number, samples_forwarded: number, samples_received: number, pushed: number, extensions: unknown, catalog: CatalogStatus | null } {
  const s = store.stats()
  const st = readStatus(dataDir)
  const live = st === null ? null : st.stats as Record<string, number>
  const coop = live === null
    ? { members: 0, fetched_from_swarm: 0, fetched_from_members: 0, owner_timeouts: 0, samples_forwarded: 0, samples_received: 0, pushed: 0, extensions: {} }
    : {
        members: live.members,
        fetched_from_swarm: live.fetched_from_swarm,
        fetched_from_members: live.fetched_from_members,
        owner_timeouts: live.owner_timeouts ?? 0,
        samples_forwarded: live.samples_forwarded ?? 0,
        samples_received: live.samples_received ?? 0,
        pushed: live.pushed ?? 0,
        extensions: st?.extensions ?? {},
      }
  return { ...s, running: st !== null, ...coop, catalog: catalogOf(st?.catalog) }
}

/** What a harvester publishing its index (harvest --publish) reports of its catalog. */
export interface CatalogStatus { infohash?: string, public_key: string, records: number, shards: number, bytes: number, seq?: number, stored: number, bytes_served: number, last_error?: string }

function catalogOf (v: unknown): CatalogStatus | null {
  if (typeof v !== 'object' || v === null) return null
  const c = v as Record<string, unknown>
  if (typeof c.public_key !== 'string' || typeof c.records !== 'number') return null
  const num = (x: unknown): number => typeof x === 'number' ? x : 0
  return {
    ...(typeof c.infohash === 'string' ? { infohash: c.infohash } : {}),
    public_key: c.public_key, records: c.records, shards: num(c.shards), bytes: num(c.bytes),
    ...(typeof c.seq === 'number' ? { seq: c.seq } : {}),
    stored: num(c.stored), bytes_served: num(c.bytes_served),
    ...(typeof c.last_error === 'string' ? { last_error: c.last_error } : {}),
  }
}

export const statsCommand: Command = {
  name: 'stats',
  summary: 'counts of the local index (torrents, infohashes seen, queue)',
  help: () => `Usage: bbmesh stats [--json] [options]

Options:
  --json          one JSON object: torrents, infohashes_seen, queue, queue_leased, queue_failed,
                  by_version {v1, v2, hybrid}, db_bytes, running, and from a running
                  harvester: members, fetched_from_swarm, fetched_from_members, owner_timeouts,
                  samples_forwarded, samples_received, pushed, extensions
                  {name: {bytes_in, bytes_out, messages_in, messages_out}}, and catalog
                  (harvest --publish: infohash, public_key, records, shards, bytes, seq,
                  stored, bytes_served, last_error) or null
${configHelp(['dataDir'])}`,
  async run (argv, out) {
    const p = parse(argv, { json: { type: 'boolean' } }, ['dataDir', 'config'], false)
    const { config } = loadConfig(p.configFlags)
    const store = openForReading(config.dataDir)
    try {
      const s = statsReport(store, config.dataDir)
      if (p.values.json === true) { out.out(JSON.stringify(s)); return 0 }
      out.out([
        `torrents          ${s.torrents} (v1 ${s.by_version.v1}, v2 ${s.by_version.v2}, hybrid ${s.by_version.hybrid})`,
        `infohashes seen   ${s.infohashes_seen}`,
        `fetch queue       ${s.queue} (${s.queue_leased} being fetched, ${s.queue_failed} given up)`,
        `database          ${formatBytes(s.db_bytes)}`,
        ...(!s.running ? ['harvester         not running'] : [`members           ${s.members} (fetched from swarm ${s.fetched_from_swarm}, from members ${s.fetched_from_members})`]),
        ...(s.catalog === null ? [] : [`publishing        catalog ${s.catalog.infohash ?? '(building)'}: ${s.catalog.records} torrents, ${s.catalog.shards} shards, ${formatBytes(s.catalog.bytes)}, pointer seq ${s.catalog.seq ?? '-'} on ${s.catalog.stored} nodes, served ${formatBytes(s.catalog.bytes_served)}${s.catalog.last_error !== undefined ? `; last error: ${s.catalog.last_error}` : ''}`]),
      ].join('\n'))
      return 0
    } finally {
      store.close()
    }
  },
}
