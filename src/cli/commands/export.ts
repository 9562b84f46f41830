// `bbmesh export`: the index as JSON lines (one torrent a line, with its raw info dict), for
// moving an index between tools or machines.

import { createWriteStream } from 'node:fs'
import type { Writable } from 'node:stream'
import type { Command } from '../command.js'
import { parse, configHelp } from '../args.js'
import { loadConfig } from '../../config/load.js'
import { openForReading } from '../store-access.js'

export const exportCommand: Command = {
  name: 'export',
  summary: 'write the index as JSON lines (to stdout or -o FILE)',
  help: () => `Usage: bbmesh export [-o FILE] [options]

One JSON object per line: infohash, ih_v2, name, size, files [{path, size, pieces_root}],
source, discovered_at, info (base64 of the raw info dict, so an importer can verify it).

Options:
  -o, --output <file>   write here instead of stdout
${configHelp(['dataDir'])}`,
  async run (argv, out) {
    const p = parse(argv, { output: { type: 'string', short: 'o' } }, ['dataDir', 'config'], false)
    const { config } = loadConfig(p.configFlags)
    const store = openForReading(config.dataDir)
    try {
      const file = p.values.output as string | undefined
      const sink: Writable = file === undefined ? process.stdout : createWriteStream(file, { mode: 0o644 })
      const r = await store.exportJsonl(sink)
      if (file !== undefined) await new Promise<void>((resolve, reject) => sink.end((err?: Error | null) => { if (err != null) reject(err); else resolve() }))
      out.err(`exported ${r.exported} torrents`)
      return 0
    } finally {
      store.close()
    }
  },
}
