// `bbmesh members`: the members the harvester running on this data directory is linked to.

import type { Command } from '../command.js'
import { parse, configHelp } from '../args.js'
import { loadConfig } from '../../config/load.js'
import { readStatus } from '../../node/status-file.js'
import { NetworkError } from '../../core/errors.js'

interface MemberRow { peer_id: string, host: string, port: number, community: string, publisher_key?: string, since: string }

export const membersCommand: Command = {
  name: 'members',
  summary: 'list the cooperative members of the running harvester',
  help: () => `Usage: bbmesh members [--json] [options]

Reads the status the harvester running on the data directory writes (status.json) and lists
its authenticated members: address, community id, publisher key, since when. Exits 1 when no
harvester runs there.

Options:
  --json          one JSON object per member
${configHelp(['dataDir'])}`,
  async run (argv, out) {
    const p = parse(argv, { json: { type: 'boolean' } }, ['dataDir', 'config'], false)
    const { config } = loadConfig(p.configFlags)
    const st = readStatus(config.dataDir)
    if (st === null) throw new NetworkError(`no harvester is running on ${config.dataDir} (start one with \`bbmesh harvest --community KEY\`)`)
    const members = (Array.isArray(st.members) ? st.members : []) as MemberRow[]
    if (p.values.json === true) { for (const m of members) out.out(JSON.stringify(m)); return 0 }
    if (members.length === 0) { out.err('no members yet'); return 0 }
    for (const m of members) out.out(`${`${m.host}:${m.port}`.padEnd(24)} community ${m.community}  since ${m.since}${m.publisher_key !== undefined ? `  publisher ${m.publisher_key}` : ''}`)
    return 0
  },
}
