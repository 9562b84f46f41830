// `bbmesh serve`: the HTTP API (docs/http.md) over the data directory's index, read-only, until
// SIGINT/SIGTERM, for a data directory no harvester runs on (a harvester serves the API
// itself). It joins no cooperative: network searches answer 503.

import { catalogsReport } from '../../library/catalog-fetch.js'
import type { Command } from '../command.js'
import { parse, configHelp } from '../args.js'
import { loadConfig } from '../../config/load.js'
import type { ConfigKey } from '../../config/defaults.js'
import { openForReading } from '../store-access.js'
import { waitForStop } from '../signals.js'
import { createLogger } from '../../core/logger.js'
import { ApiServer, type ApiBackend } from '../../http/server.js'
import { API_FILE } from '../../http/api-file.js'
import { readStatus } from '../../node/status-file.js'
import type { Store } from '../../store/index.js'
import { statsReport } from './stats.js'

export const SERVE_KEYS: readonly ConfigKey[] = ['dataDir', 'apiHost', 'apiPort', 'logLevel', 'config']

/**
 * The API backend of `bbmesh serve`: the local index (read-only), the stats of `bbmesh stats
 * --json`, and the members of a harvester running on the same data directory (status.json).
 * No networkSearch: the API answers 503 to network=1 until a cooperative is wired in here.
 */
export function serveBackend (store: Store, dataDir: string): ApiBackend {
  return {
    search: (req) => store.searchPage(req),
    lookup: (hex) => store.lookup(hex),
    stats: () => statsReport(store, dataDir),
    members: () => {
      const st = readStatus(dataDir)
      return { members: st !== null && Array.isArray(st.members) ? st.members : [] }
    },
    catalogs: () => catalogsReport(dataDir),
  }
}

export function apiUrl (a: { host: string, port: number }): string {
  return `http://${a.host.includes(':') ? `[${a.host}]` : a.host}:${a.port}`
}

export const serveCommand: Command = {
  name: 'serve',
  summary: 'serve the HTTP search API (JSON) over the local index',
  help: () => `Usage: bbmesh serve [options]

Serves the HTTP API (docs/http.md) over the data directory's index until SIGINT/SIGTERM:
GET /api/search?q=WORDS, /api/lookup/HEX, /api/stats, /api/members, JSON only. Reads the
index read-only. A running \`bbmesh harvest\` serves the same API itself (with network
search when it has a community); serve refuses a data directory where one runs. Listens on
loopback by default, on a free port unless --api-port is given; prints the address and
records it in ${API_FILE} in the data directory (removed on exit) for other tools. It joins
no cooperative: a network search (network=1) answers 503.

Options:
  --json          print the address as one JSON object: {"url", "host", "port"}
${configHelp(SERVE_KEYS)}
  -h, --help`,
  async run (argv, out) {
    const p = parse(argv, { json: { type: 'boolean' } }, SERVE_KEYS, false)
    const { config } = loadConfig(p.configFlags)
    const log = createLogger({ level: config.logLevel })
    const store = openForReading(config.dataDir)
    const stop = waitForStop()
    const server = new ApiServer(serveBackend(store, config.dataDir), {
      host: config.apiHost,
      port: config.apiPort,
      dataDir: config.dataDir,
      logger: log.child({ component: 'http' }),
    })
    try {
      const addr = await server.start()
      const url = apiUrl(addr)
      out.out(p.values.json === true
        ? JSON.stringify({ url, host: addr.host, port: addr.port })
        : `bbmesh API listening on ${url} (index ${config.dataDir}); stop with Ctrl-C`)
      const sig = await stop.promise
      log.info({ signal: sig }, 'stopping')
    } finally {
      stop.dispose()
      await server.close()
      store.close()
      log.flush()
    }
    return 0
  },
}
