// `bbmesh fetch PUBKEY [--salt S]`: fetch a publisher's catalog by its public key (or BEP-46
// magnet) over the DHT and the peer wire, verify it, and import its records into the local
// index. One shot: exits 0 with a summary. The work is src/library/catalog-fetch.ts.

import type { Command } from '../command.js'
import type { Output } from '../output.js'
import { parse, configHelp } from '../args.js'
import { loadConfig } from '../../config/load.js'
import type { ConfigKey } from '../../config/defaults.js'
import { createLogger } from '../../core/logger.js'
import { AbortedError, BbmeshError, UsageError } from '../../core/errors.js'
import { LIMITS } from '../../core/limits.js'
import type { PeerAddr } from '../../core/compact.js'
import { parseHostPort } from '../../node/bootstrap.js'
import { startCommandDht } from '../../node/command-dht.js'
import { openForWriting } from '../store-access.js'
import { saltFlag } from './key.js'
import { intFlag } from './publish.js'
import { fetchCatalog, listFetchedCatalogs, type CatalogFetchProgress, type CatalogFetchSummary } from '../../library/catalog-fetch.js'
import { PointerStore } from '../../library/pointer-store.js'
import { downloadTorrent } from '../../library/piece-downloader.js'
import { fetchMetadata } from '../../../crawler/metadata-fetcher.js'
import { Progress } from '../progress.js'
import { waitForStop } from '../signals.js'
import { formatBytes } from '../output.js'
import { EXIT_INTERRUPTED } from './make-torrent.js'

export const FETCH_KEYS: readonly ConfigKey[] = ['dataDir', 'bootstrap', 'host', 'dhtPort', 'peerPort', 'krpcRate', 'krpcBytesRate', 'perIpRate', 'progress', 'logLevel', 'config']

/** The publisher: 64 hex digits, or a BEP-46 magnet (magnet:?xs=urn:btpk:<hex>[&s=<salt hex>]). */
export function parsePublisher (arg: string): { publicKey: Buffer, salt?: Buffer } {
  const a = arg.trim()
  if (/^[0-9a-fA-F]{64}$/.test(a)) return { publicKey: Buffer.from(a, 'hex') }
  if (a.startsWith('magnet:?')) {
    const q = new URLSearchParams(a.slice('magnet:?'.length))
    const xs = q.getAll('xs').find((x) => x.toLowerCase().startsWith('urn:btpk:'))
    const hex = xs?.slice('urn:btpk:'.length) ?? ''
    if (!/^[0-9a-fA-F]{64}$/.test(hex)) throw new UsageError('the magnet has no xs=urn:btpk:<64 hex digits> (a BEP-46 magnet, as `bbmesh key show` prints)')
    const s = q.get('s')
    if (s === null) return { publicKey: Buffer.from(hex, 'hex') }
    if (!/^([0-9a-fA-F]{2}){1,64}$/.test(s)) throw new UsageError(`the magnet's salt s= must be 1..${LIMITS.bep44MaxSalt} bytes in hex`)
    return { publicKey: Buffer.from(hex, 'hex'), salt: Buffer.from(s, 'hex') }
  }
  throw new UsageError('PUBKEY must be the publisher\'s public key (64 hex digits) or its BEP-46 magnet (magnet:?xs=urn:btpk:...)')
}

export function fetchLine (p: CatalogFetchProgress): string {
  if (p.stage !== 'shards') return `catalog: ${p.stage}...`
  return `catalog: shards ${p.shardsDone}/${p.shards} | ${formatBytes(p.bytesDone)} of ${formatBytes(p.bytes)} | imported ${p.imported}`
}

export function printSummary (out: Output, s: CatalogFetchSummary, json: boolean): void {
  if (json) { out.out(JSON.stringify({ type: 'summary', ...s })); return }
  out.out(`catalog ${s.infohash} (pointer seq ${s.seq}) of ${s.public_key}${s.salt_hex !== undefined ? ` salt ${s.salt_hex}` : ''}`)
  if (s.up_to_date) {
    out.out(`  up to date: ${s.records} torrents in ${s.shards} shards, nothing to download`)
    return
  }
  out.out(`  ${s.records} torrents in ${s.shards} shards: downloaded ${s.shards_fetched} (${formatBytes(s.bytes_downloaded)} with the index), kept ${s.shards_kept}${s.shards_resumed > 0 ? `, resumed ${s.shards_resumed}` : ''}${s.shards_dropped > 0 ? `, ${s.shards_dropped} no longer listed` : ''}`)
  out.out(`  imported ${s.imported} new torrents, ${s.duplicates} already in the index, ${s.refused} refused${s.refused > 0 ? ` (${Object.entries(s.refused_by_code).map(([c, n]) => `${c} ${n}`).join(', ')})` : ''}`)
  for (const e of s.refused_examples.slice(0, 5)) out.out(`    refused: shard ${e.shard} record ${e.record}: ${e.error}`)
  if (s.pieces_failed > 0) out.out(`  ${s.pieces_failed} pieces failed their hash check (${s.peers_banned} peers dropped); every piece kept was verified`)
  out.out(`  from ${s.peers} peers in ${(s.ms / 1000).toFixed(1)} s (checking records ${(s.ms_check / 1000).toFixed(1)} s, writing them ${(s.ms_import / 1000).toFixed(1)} s)`)
}

export const fetchCommand: Command = {
  name: 'fetch',
  summary: 'fetch a publisher\'s catalog by public key (BEP-46) and import it into the local index',
  help: () => `Usage: bbmesh fetch PUBKEY [--salt S] [options]
       bbmesh fetch --all [options]

PUBKEY is the publisher's public key (64 hex digits, \`bbmesh key show\` on their side) or
its BEP-46 magnet (magnet:?xs=urn:btpk:<key>[&s=<salt hex>]). Gets the pointer from the DHT
(its signature and seq are checked; a seq lower than one seen before is refused), finds
peers of the catalog torrents, downloads the index and every shard that changed since the
last fetch, verifies every piece (SHA-1, and the v2 merkle roots), and imports the records
with the publisher as their source (catalog:<key>). A record that does not check out (info
dict not hashing to its infohash, unsafe file path, lying sizes) is refused and counted; the
others are imported. A fetch stopped half-way resumes where it was. Prints a summary; exits
0 when the catalog was fetched, 1 when it could not be (no pointer, no peer, bad data), 130
when interrupted.

With --all, every catalog fetched into this data directory before (\`bbmesh catalogs\` lists
them) is fetched again, one after the other: each downloads only what changed. A catalog that
fails is reported and the others go on; the exit is 1 if any failed.

Options:
  --all                          fetch again every catalog fetched before
  --salt S                       the BEP-44 salt the catalog is published under (UTF-8)
  --peer HOST:PORT               also try this peer (repeatable), besides those the DHT gives
  --timeout MS                   deadline for each catalog torrent (default 120000)
  --max-bytes N                  refuse a catalog larger than this (default and ceiling ${LIMITS.catalogMaxBytes})
  --json                         the summary as one JSON object
${configHelp(FETCH_KEYS)}
  (fetch only dials out: --peer-port is accepted so one config serves every command; without
  --dht-port it takes any free UDP port, not 6881, so it runs beside a harvester)
  -h, --help`,
  async run (argv, out) {
    const p = parse(argv, { salt: { type: 'string' }, peer: { type: 'string', multiple: true }, timeout: { type: 'string' }, 'max-bytes': { type: 'string' }, json: { type: 'boolean' }, all: { type: 'boolean' } }, FETCH_KEYS, true)
    const all = p.values.all === true
    if (all && (p.positionals.length > 0 || p.values.salt !== undefined)) throw new UsageError('--all fetches every catalog fetched before: it takes no PUBKEY and no --salt')
    if (!all && p.positionals.length !== 1) throw new UsageError('expected one PUBKEY (the publisher\'s public key or BEP-46 magnet), or --all')
    const peers: PeerAddr[] = ((p.values.peer as string[] | undefined) ?? []).map((s) => {
      try { return parseHostPort(s) } catch { throw new UsageError(`--peer ${JSON.stringify(s)} is not HOST:PORT`) }
    })
    const timeoutMs = intFlag('timeout', p.values.timeout, 1000, 3_600_000)
    const maxBytes = intFlag('max-bytes', p.values['max-bytes'], 1, LIMITS.catalogMaxBytes)
    const json = p.values.json === true
    const loaded = loadConfig(p.configFlags)
    // A one-shot command: unless a DHT port was chosen, take any free one, so a fetch runs
    // beside a harvester that holds the customary 6881.
    const config = loaded.sources.dhtPort === 'default' ? { ...loaded.config, dhtPort: 0 } : loaded.config
    // What to fetch: the one named, or every catalog this data directory fetched before.
    const targets: Array<{ publicKey: Buffer, salt?: Buffer }> = []
    if (all) {
      for (const c of listFetchedCatalogs(config.dataDir)) targets.push({ publicKey: Buffer.from(c.public_key, 'hex'), ...(c.salt_hex !== undefined ? { salt: Buffer.from(c.salt_hex, 'hex') } : {}) })
      if (targets.length === 0) { out.err('bbmesh fetch --all: no catalog fetched into this data directory yet'); return 0 }
    } else {
      const who = parsePublisher(p.positionals[0])
      const flagSalt = saltFlag(p.values.salt)
      if (flagSalt !== undefined && who.salt !== undefined && !flagSalt.equals(who.salt)) throw new UsageError('--salt differs from the salt in the magnet')
      const salt = flagSalt ?? who.salt
      targets.push({ publicKey: who.publicKey, ...(salt !== undefined ? { salt } : {}) })
    }
    const log = createLogger({ level: config.logLevel })
    const store = openForWriting(config.dataDir)
    const ac = new AbortController()
    const stop = waitForStop(undefined)
    void stop.promise.then(() => ac.abort(new AbortedError('interrupted')))
    let dht: Awaited<ReturnType<typeof startCommandDht>> | null = null
    let last: CatalogFetchProgress = { stage: 'pointer', shardsDone: 0, shards: 0, bytesDone: 0, bytes: 0, imported: 0 }
    // The summary is the output: the live line goes to stderr on a terminal, and nothing
    // (the logs say where it is) when piped, unless --progress asks for it.
    const mode = json ? 'off' : config.progress === 'auto' ? (process.stderr.isTTY ? 'tty' : 'off') : config.progress
    let failed = 0
    try {
      dht = await startCommandDht(config, log)
      for (const t of targets) {
        const progress = new Progress(out, () => last, fetchLine, { mode, ttyStream: process.stderr })
        progress.start()
        try {
          const sum = await fetchCatalog({
            dht,
            store,
            pointers: PointerStore.open(config.dataDir),
            dataDir: config.dataDir,
            publicKey: t.publicKey,
            ...(t.salt !== undefined ? { salt: t.salt } : {}),
            peers,
            download: downloadTorrent,
            fetchMetadata,
            ...(timeoutMs !== undefined ? { torrentTimeoutMs: timeoutMs } : {}),
            ...(maxBytes !== undefined ? { maxBytes } : {}),
            signal: ac.signal,
            onProgress: (q) => { last = q },
            logger: log.child({ component: 'fetch' }),
          })
          progress.stop()
          printSummary(out, sum, json)
        } catch (err) {
          progress.stop()
          if (ac.signal.aborted) { out.err('bbmesh fetch: interrupted; run it again to resume'); return EXIT_INTERRUPTED }
          // One catalog alone: its error is the command's. With --all: say it, go on with the others.
          if (!all || !(err instanceof BbmeshError)) throw err
          failed++
          out.err(`bbmesh fetch: ${t.publicKey.toString('hex')}${t.salt !== undefined ? ` salt ${t.salt.toString('hex')}` : ''}: ${err.message}`)
          if (json) out.out(JSON.stringify({ type: 'error', public_key: t.publicKey.toString('hex'), ...(t.salt !== undefined ? { salt_hex: t.salt.toString('hex') } : {}), code: err.code, error: err.message }))
        }
      }
      return failed === 0 ? 0 : 1
    } finally {
      stop.dispose()
      await dht?.close()
      store.close()
      log.flush()
    }
  },
}
