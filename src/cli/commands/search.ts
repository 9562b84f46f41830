// `bbmesh search WORDS`: the local index. Words are words, never FTS syntax.

import type { Command } from '../command.js'
import { parse, configHelp } from '../args.js'
import { loadConfig } from '../../config/load.js'
import { openForReading } from '../store-access.js'
import { formatBytes } from '../output.js'
import { UsageError } from '../../core/errors.js'
import { LIMITS } from '../../core/limits.js'

export const searchCommand: Command = {
  name: 'search',
  summary: 'search the local index by words',
  help: () => `Usage: bbmesh search WORDS... [options]

Finds torrents whose name has every word (letters and digits; punctuation separates words,
and operators such as AND, NOT, *, quotes are just text). Newest first.

Options:
  --limit <n>     results (1..${LIMITS.searchMaxLimit}, default 20)
  --prefix        let the last word match as a prefix (at least 3 characters)
  --json          one JSON object per line: infohash, ih_v2, name, size, files, discovered_at
${configHelp(['dataDir'])}`,
  async run (argv, out) {
    const p = parse(argv, { limit: { type: 'string' }, json: { type: 'boolean' }, prefix: { type: 'boolean' } }, ['dataDir', 'config'], true)
    if (p.positionals.length === 0) throw new UsageError('give at least one word to search for')
    const limit = p.values.limit === undefined ? 20 : Number(p.values.limit)
    if (!Number.isInteger(limit) || limit < 1 || limit > LIMITS.searchMaxLimit) throw new UsageError(`--limit must be an integer in 1..${LIMITS.searchMaxLimit}`)
    const { config } = loadConfig(p.configFlags)
    const store = openForReading(config.dataDir)
    try {
      const hits = store.search(p.positionals.join(' '), { limit, prefix: p.values.prefix === true })
      if (p.values.json === true) {
        for (const h of hits) out.out(JSON.stringify(h))
      } else if (hits.length === 0) {
        out.err('no results')
      } else {
        for (const h of hits) out.out(`${h.infohash}  ${formatBytes(h.size).padStart(10)}  ${String(h.files).padStart(5)} files  ${h.name}`)
      }
      return 0
    } finally {
      store.close()
    }
  },
}
