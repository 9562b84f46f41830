// `bbmesh publish [--salt S]`: publish the local index as a catalog under the publisher key,
// and keep it published (seed, re-announce, republish the pointer, rebuild when the library
// changed) until SIGINT/SIGTERM. The work is src/library/publisher.ts.

import type { Command } from '../command.js'
import { parse, configHelp } from '../args.js'
import { loadConfig } from '../../config/load.js'
import type { ConfigKey } from '../../config/defaults.js'
import { createLogger } from '../../core/logger.js'
import { UsageError } from '../../core/errors.js'
import { btpkMagnet } from '../../identity/publisher-key.js'
import { PASSPHRASE_OPTIONS, PASSPHRASE_HELP, readPassphrase, publisherKeyForPublishing } from '../passphrase.js'
import { saltFlag } from './key.js'
import { indexPath, openForWriting } from '../store-access.js'
import { startCommandDht } from '../../node/command-dht.js'
import { CatalogPublisher, REBUILD_CHECK_MS, type PublishStatus } from '../../library/publisher.js'
import { PointerStore } from '../../library/pointer-store.js'
import { workerCatalogBuilder } from '../../library/catalog-builder.js'
import { Progress } from '../progress.js'
import { waitForStop } from '../signals.js'
import { formatBytes } from '../output.js'
import { join } from 'node:path'

export const PUBLISH_KEYS: readonly ConfigKey[] = ['dataDir', 'bootstrap', 'host', 'dhtPort', 'peerPort', 'krpcRate', 'krpcBytesRate', 'perIpRate', 'progress', 'logLevel', 'config']

/** A positive integer flag (ms, bytes/s). */
export function intFlag (name: string, v: unknown, min: number, max: number): number | undefined {
  if (v === undefined) return undefined
  const n = Number(v)
  if (typeof v !== 'string' || !/^\d+$/.test(v) || !Number.isSafeInteger(n) || n < min || n > max) throw new UsageError(`--${name} must be an integer from ${min} to ${max}`)
  return n
}

export function publishLine (s: PublishStatus & { served?: number, connections?: number }): string {
  const ih = s.infohash === undefined ? 'building' : s.infohash.slice(0, 12)
  return `catalog ${ih} | records ${s.records} | shards ${s.shards} | ${formatBytes(s.bytes)} | seq ${s.seq ?? '-'} | stored on ${s.stored} nodes | served ${formatBytes(s.served ?? 0)}${s.last_error !== undefined ? ` | error: ${s.last_error}` : ''}`
}

export const PUBLISH_OPTIONS = {
  salt: { type: 'string' },
  'include-catalogs': { type: 'boolean' },
  'rebuild-check': { type: 'string' },
  'upload-rate': { type: 'string' },
} as const

export const publishCommand: Command = {
  name: 'publish',
  summary: 'publish the local index as a catalog torrent under your publisher key (BEP-46), until stopped',
  help: () => `Usage: bbmesh publish [--salt S] [options]

Builds the catalog of the local index (deterministic hybrid torrents: shards of about 512
torrents and an index torrent, docs/library.md), seeds it on --peer-port, announces it on the
DHT and puts a BEP-46 pointer to it signed by the publisher key of the data directory
(\`bbmesh keygen\`; without one, a key is minted on this first publish and its public key
printed). Then keeps it published until SIGINT/SIGTERM: the pointer is put again
every hour, the torrents are announced every 15 minutes, and the catalog is rebuilt when the
index changed (checked every --rebuild-check ms). Records fetched from other publishers'
catalogs are left out unless --include-catalogs. Anyone can then fetch it with
\`bbmesh fetch <public key>\` (or the magnet \`bbmesh key show\` prints).

Runs beside \`bbmesh harvest\` on the same data directory (give each its own --dht-port and
--peer-port), or use \`bbmesh harvest --publish\` to do both in one process.

Options:
  --salt S                       publish under this salt (UTF-8, 1..64 bytes; BEP-44), so one
                                 key can hold several catalogs
  --include-catalogs             publish records imported from other catalogs too
  --rebuild-check MS             how often to look for changes in the index (default ${REBUILD_CHECK_MS})
  --upload-rate BYTES            seeding upload limit in bytes/s (default 64 MiB/s)
${PASSPHRASE_HELP}
${configHelp(PUBLISH_KEYS)}
  -h, --help`,
  async run (argv, out) {
    const p = parse(argv, { ...PASSPHRASE_OPTIONS, ...PUBLISH_OPTIONS }, PUBLISH_KEYS, false)
    const salt = saltFlag(p.values.salt)
    const rebuildCheckMs = intFlag('rebuild-check', p.values['rebuild-check'], 100, 86_400_000)
    const uploadRate = intFlag('upload-rate', p.values['upload-rate'], 1024, 1e12)
    const { config } = loadConfig(p.configFlags)
    const log = createLogger({ level: config.logLevel })
    const key = publisherKeyForPublishing(config.dataDir, readPassphrase(p.values), log, (l) => out.err(l))
    const store = openForWriting(config.dataDir)
    const stop = waitForStop()
    let publisher: CatalogPublisher | null = null
    let dht: Awaited<ReturnType<typeof startCommandDht>> | null = null
    try {
      // A stop during the start is honoured right after it (both are bounded: bootstrap
      // 15 s, one catalog build).
      dht = await startCommandDht(config, log)
      publisher = new CatalogPublisher({
        dht,
        library: store,
        signer: key,
        pointers: PointerStore.open(config.dataDir),
        stateDir: join(config.dataDir, 'published'),
        ...(salt !== undefined ? { salt } : {}),
        seeder: { host: config.host, port: config.peerPort, ...(uploadRate !== undefined ? { uploadRate } : {}) },
        includeCatalogs: p.values['include-catalogs'] === true,
        ...(rebuildCheckMs !== undefined ? { rebuildCheckMs } : {}),
        // Built in a worker thread from the same file, so the DHT node keeps answering meanwhile.
        builder: workerCatalogBuilder(indexPath(config.dataDir)),
        logger: log.child({ component: 'publisher' }),
      })
      const pub = publisher
      const st = await pub.start()
      out.err(`publishing ${btpkMagnet(key.publicKey, salt)}`)
      out.err(`catalog ${st.infohash ?? '?'}: ${st.records} torrents in ${st.shards} shards, ${formatBytes(st.bytes)}, seeded on ${st.seeder?.host ?? '?'}:${st.seeder?.port ?? '?'}${st.seq !== undefined ? `, pointer seq ${st.seq} stored on ${st.stored} nodes` : `; pointer not put yet (${st.last_error ?? '?'}), retrying`}`)
      const progress = new Progress(out, () => ({ ...pub.status(), served: pub.seederCounters.bytesServed }), publishLine, { mode: config.progress })
      progress.start()
      const sig = await stop.promise
      log.info({ signal: sig }, 'stopping')
      progress.stop()
      return 0
    } finally {
      stop.dispose()
      await publisher?.close()
      await dht?.close()
      store.close()
      log.flush()
    }
  },
}
