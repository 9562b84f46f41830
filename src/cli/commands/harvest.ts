// `bbmesh harvest`: the headless harvester, until SIGINT/SIGTERM.

import type { Command } from '../command.js'
import { parse, configHelp } from '../args.js'
import { loadConfig } from '../../config/load.js'
import type { ConfigKey } from '../../config/defaults.js'
import { HarvesterNode, type HarvestStats } from '../../node/harvester-node.js'
import { Progress } from '../progress.js'
import { waitForStop } from '../signals.js'
import { createLogger } from '../../core/logger.js'
import { KeyError } from '../../core/errors.js'
import { loadPublisherKey, type PublisherKey } from '../../identity/publisher-key.js'
import { PASSPHRASE_OPTIONS, PASSPHRASE_HELP, readPassphrase } from '../passphrase.js'

export const HARVEST_KEYS: readonly ConfigKey[] = ['dataDir', 'bootstrap', 'host', 'dhtPort', 'peerPort', 'krpcRate', 'krpcBytesRate', 'perIpRate', 'samplerConcurrency', 'fetchConcurrency', 'fetchTimeout', 'maxAttempts', 'minRevisit', 'community', 'contribution', 'apiHost', 'apiPort', 'progress', 'logLevel', 'config']

export function statusLine (s: HarvestStats): string {
  return `nodes ${s.nodes} | sampled ${s.sampler_nodes} | samples ${s.samples} (${s.samples_per_s}/s) | seen ${s.infohashes_seen} | queue ${s.queue} | fetching ${s.fetching} | fetched ${s.fetched} (${s.fetch_rate}/s) | failed ${s.failed} | indexed ${s.torrents}${s.members > 0 ? ` | members ${s.members}` : ''}`
}

export const harvestCommand: Command = {
  name: 'harvest',
  summary: 'crawl the DHT (BEP-51 + passive) and fetch metadata (BEP-9) into the local index',
  help: () => `Usage: bbmesh harvest [options]

Runs a DHT node that samples the keyspace with BEP-51, harvests infohashes from incoming
get_peers/announce_peer, fetches their metadata over BEP-9 and indexes it in SQLite. Runs
until SIGINT/SIGTERM, then exits 0 with everything fetched so far committed. A restart
resumes the fetch queue. Progress: a live line on a terminal, JSON lines otherwise.
Serves the HTTP API (docs/http.md) on --api-host/--api-port. With --community, the publisher
key of the data directory (bbmesh keygen), if there is one, is shown to the members signed
(bb_auth); an encrypted key needs its passphrase.

Options:
${PASSPHRASE_HELP}
${configHelp(HARVEST_KEYS)}
  -h, --help`,
  async run (argv, out) {
    const p = parse(argv, { ...PASSPHRASE_OPTIONS }, HARVEST_KEYS, false)
    const { config, sources } = loadConfig(p.configFlags)
    const log = createLogger({ level: config.logLevel })
    // The publisher key, when the data directory has one (a missing key is no error here).
    let publisher: PublisherKey | undefined
    if (config.community.length > 0) {
      try {
        publisher = loadPublisherKey(config.dataDir, { passphrase: readPassphrase(p.values), logger: log })
      } catch (err) {
        if (!(err instanceof KeyError) || err.reason !== 'missing') throw err
      }
    }
    const stop = waitForStop()
    const node = new HarvesterNode(config, { configSources: sources, ...(publisher !== undefined ? { publisher } : {}) }, log)
    try {
      await Promise.race([node.start(), stop.promise.then(() => { throw new Error('stopped during start') })])
    } catch (err) {
      stop.dispose()
      await node.close()
      if ((err as Error).message === 'stopped during start') return 0
      throw err
    }
    const progress = new Progress(out, () => node.stats(), statusLine, { mode: config.progress })
    progress.start()
    const sig = await stop.promise
    stop.dispose()
    log.info({ signal: sig }, 'stopping')
    progress.stop()
    await node.close()
    log.flush()
    return 0
  },
}
