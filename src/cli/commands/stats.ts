// `bbmesh stats`: counts of the local index, read-only (works beside a running harvester).

import type { Command } from '../command.js'
import { parse, configHelp } from '../args.js'
import { loadConfig } from '../../config/load.js'
import { openForReading } from '../store-access.js'
import { formatBytes } from '../output.js'

export const statsCommand: Command = {
  name: 'stats',
  summary: 'counts of the local index (torrents, infohashes seen, queue)',
  help: () => `Usage: bbmesh stats [--json] [options]

Options:
  --json          one JSON object: torrents, infohashes_seen, queue, queue_leased, queue_failed,
                  by_version {v1, v2, hybrid}, db_bytes
${configHelp(['dataDir'])}`,
  async run (argv, out) {
    const p = parse(argv, { json: { type: 'boolean' } }, ['dataDir', 'config'], false)
    const { config } = loadConfig(p.configFlags)
    const store = openForReading(config.dataDir)
    try {
      const s = store.stats()
      if (p.values.json === true) { out.out(JSON.stringify(s)); return 0 }
      out.out([
        `torrents          ${s.torrents} (v1 ${s.by_version.v1}, v2 ${s.by_version.v2}, hybrid ${s.by_version.hybrid})`,
        `infohashes seen   ${s.infohashes_seen}`,
        `fetch queue       ${s.queue} (${s.queue_leased} being fetched, ${s.queue_failed} given up)`,
        `database          ${formatBytes(s.db_bytes)}`,
      ].join('\n'))
      return 0
    } finally {
      store.close()
    }
  },
}
