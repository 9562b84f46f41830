// `bbmesh catalogs [--json]`: the publishers' catalogs fetched into this data directory, from
// the state each completed fetch left (src/library/catalog-fetch.ts). Reads files only.

import type { Command } from '../command.js'
import { parse, configHelp } from '../args.js'
import { loadConfig } from '../../config/load.js'
import { catalogsReport } from '../../library/catalog-fetch.js'

export const catalogsCommand: Command = {
  name: 'catalogs',
  summary: 'the publishers\' catalogs fetched into the local index (bbmesh fetch)',
  help: () => `Usage: bbmesh catalogs [--json] [options]

Lists the catalogs fetched into this data directory: the publisher's key (and salt), its
BEP-46 magnet, the catalog infohash and pointer seq of the last completed fetch, its size in
torrents and shards, and when. \`bbmesh fetch --all\` fetches every one again.

Options:
  --json                         one JSON object: { catalogs: [{ public_key, salt_hex, magnet,
                                 infohash, seq, records, shards, fetched_at }] }
${configHelp(['dataDir'])}
  -h, --help`,
  async run (argv, out) {
    const p = parse(argv, { json: { type: 'boolean' } }, ['dataDir', 'config'], false)
    const { config } = loadConfig(p.configFlags)
    const list = catalogsReport(config.dataDir).catalogs
    if (p.values.json === true) { out.out(JSON.stringify({ catalogs: list })); return 0 }
    if (list.length === 0) { out.out('no catalog fetched yet (bbmesh fetch <public key>)'); return 0 }
    for (const c of list) {
      out.out(`${c.public_key}${c.salt_hex !== undefined ? ` salt ${c.salt_hex}` : ''}`)
      out.out(`  ${c.magnet}`)
      out.out(`  catalog ${c.infohash} (seq ${c.seq}): ${c.records} torrents in ${c.shards} shards, fetched ${c.fetched_at}`)
    }
    return 0
  },
}
