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
import { PASSPHRASE_OPTIONS, PASSPHRASE_HELP, readPassphrase, publisherKeyForPublishing } from '../passphrase.js'
import { saltFlag } from './key.js'
import { intFlag } from './publish.js'
import { HARVEST_REBUILD_CHECK_MS } from '../../library/publisher.js'
import { UsageError } from '../../core/errors.js'

export const HARVEST_KEYS: readonly ConfigKey[] = ['dataDir', 'bootstrap', 'host', 'dhtPort', 'peerPort', 'krpcRate', 'krpcBytesRate', 'perIpRate', 'samplerConcurrency', 'fetchConcurrency', 'fetchTimeout', 'maxAttempts', 'minRevisit', 'community', 'contribution', 'apiHost', 'apiPort', 'seedPort', 'progress', 'logLevel', 'config']

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

With --publish, the harvester also publishes its index as a catalog under that publisher key,
as \`bbmesh publish\` does (seeded on --seed-port, rebuilt as the index grows), so others can
\`bbmesh fetch\` it by the public key.

Options:
  --publish                      publish the index as a catalog under the publisher key
                                 (minted on the first publish if \`bbmesh keygen\` was not run)
  --salt S                       with --publish: the BEP-44 salt to publish under (UTF-8, 1..64 bytes)
  --include-catalogs             with --publish: include records imported from other catalogs
  --rebuild-check MS             with --publish: how often to look for index changes (default ${HARVEST_REBUILD_CHECK_MS}:
                                 new torrents land in shards at random, so each rebuild changes most
                                 shards for fetchers)
${PASSPHRASE_HELP}
${configHelp(HARVEST_KEYS)}
  -h, --help`,
  async run (argv, out) {
    const p = parse(argv, { ...PASSPHRASE_OPTIONS, publish: { type: 'boolean' }, salt: { type: 'string' }, 'include-catalogs': { type: 'boolean' }, 'rebuild-check': { type: 'string' } }, HARVEST_KEYS, false)
    const publish = p.values.publish === true
    if (!publish && (p.values.salt !== undefined || p.values['include-catalogs'] !== undefined || p.values['rebuild-check'] !== undefined)) {
      throw new UsageError('--salt, --include-catalogs and --rebuild-check go with --publish')
    }
    const salt = saltFlag(p.values.salt)
    const rebuildCheckMs = intFlag('rebuild-check', p.values['rebuild-check'], 100, 86_400_000)
    const { config, sources } = loadConfig(p.configFlags)
    const log = createLogger({ level: config.logLevel })
    // The publisher key: needed to publish; shown to members when there is one.
    let publisher: PublisherKey | undefined
    if (publish) {
      publisher = publisherKeyForPublishing(config.dataDir, readPassphrase(p.values), log, (l) => out.err(l))
    } else if (config.community.length > 0) {
      try {
        publisher = loadPublisherKey(config.dataDir, { passphrase: readPassphrase(p.values), logger: log })
      } catch (err) {
        if (!(err instanceof KeyError) || err.reason !== 'missing') throw err
      }
    }
    const stop = waitForStop()
    const node = new HarvesterNode(config, {
      configSources: sources,
      ...(publisher !== undefined ? { publisher } : {}),
      ...(publish ? { publish: { ...(salt !== undefined ? { salt } : {}), includeCatalogs: p.values['include-catalogs'] === true, ...(rebuildCheckMs !== undefined ? { rebuildCheckMs } : {}) } } : {}),
    }, log)
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
