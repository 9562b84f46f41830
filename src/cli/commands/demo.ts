// `bbmesh demo`: the whole system against a loopback testnet in one process, for a new user
// without a connection: starts the testnet and a small cooperative of harvesters (one fresh
// community key), harvests until every member has every torrent, shows who fetched what from
// the swarm and from members, a search across the cooperative, publishes the first member's
// index as a catalog and fetches it from a new node by the public key, and exits 0.

import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Command } from '../command.js'
import { parse } from '../args.js'
import { loadConfig } from '../../config/load.js'
import { createTestnet } from '../../testnet/testnet.js'
import { HarvesterNode } from '../../node/harvester-node.js'
import { Progress } from '../progress.js'
import { statusLine } from './harvest.js'
import { waitForStop } from '../signals.js'
import { UsageError } from '../../core/errors.js'
import { createLogger } from '../../core/logger.js'
import { formatBytes } from '../output.js'
import { generateCommunityKey } from '../../identity/community-key.js'
import { runLibraryDemo } from '../../testnet/library-demo.js'

const HELP = `Usage: bbmesh demo [options]

Runs a loopback DHT (testnet) with seeders of v1, v2-only and hybrid torrents, and harvesters
against it that cooperate under one fresh community key, in one process. Nothing leaves
127.0.0.0/8. Shows live progress (of the first member) until every member has every torrent,
then what each fetched from the swarm and from members, what the seeders served, a search
across the cooperative (bb_search), and the library: the first member publishes its index as a
catalog under a fresh publisher key, and a new node fetches it by the public key alone.

Options:
  --members <n>     harvesters (default 3; 1 harvests alone)
  --nodes <n>       DHT nodes of the testnet (default 32)
  --torrents <n>    torrents, split 60% v1, 20% v2-only, 20% hybrid (default 100)
  --timeout <s>     give up after this many seconds (default 180)
  --data-dir <dir>  keep the first member's index here (default: temporary directories,
                    removed at the end)
  --progress <m>    auto | tty | json | off (default auto)
  -h, --help`

export const demoCommand: Command = {
  name: 'demo',
  summary: 'watch the whole system work on a loopback testnet (no connection needed)',
  help: () => HELP,
  async run (argv, out) {
    const p = parse(argv, { nodes: { type: 'string' }, torrents: { type: 'string' }, timeout: { type: 'string' }, members: { type: 'string' } }, ['dataDir', 'progress', 'logLevel', 'perIpRate'], false)
    const members = Number(p.values.members ?? 3)
    if (!Number.isInteger(members) || members < 1 || members > 16) throw new UsageError('--members must be an integer in 1..16')
    const nodes = Number(p.values.nodes ?? 32)
    const torrents = Number(p.values.torrents ?? 100)
    const timeout = Number(p.values.timeout ?? 180)
    if (!Number.isInteger(nodes) || nodes < 2 || nodes > 2000) throw new UsageError('--nodes must be an integer in 2..2000')
    if (!Number.isInteger(torrents) || torrents < 1 || torrents > 100_000) throw new UsageError('--torrents must be an integer in 1..100000')
    if (!(timeout > 0)) throw new UsageError('--timeout must be a positive number of seconds')
    const tmps: string[] = []
    const temp = (): string => { const d = mkdtempSync(join(tmpdir(), 'bbmesh-demo-')); tmps.push(d); return d }
    const logLevel = (p.configFlags.logLevel as string | undefined) ?? 'warn'
    const community = members > 1 ? generateCommunityKey().format() : undefined
    const configs = Array.from({ length: members }, (_, i) => loadConfig({
      ...p.configFlags,
      dataDir: i === 0 ? (p.configFlags.dataDir ?? temp()) : temp(),
      logLevel,
      bootstrap: '',
      // One loopback address each: a member accepts at most 4 links from one address.
      host: `127.0.0.${i + 1}`,
      dhtPort: '0',
      peerPort: '0',
      minRevisit: '0',
      // The testnet's nodes are bbmesh nodes without libtorrent's 5 packets/s per-IP limit,
      // and a small DHT concentrates lookups on few addresses.
      perIpRate: p.configFlags.perIpRate ?? '50',
      ...(community !== undefined ? { community } : {}),
    }, {}).config)
    const log = createLogger({ level: configs[0].logLevel })
    const stop = waitForStop()
    out.err(`demo: starting a loopback testnet of ${nodes} DHT nodes and ${torrents} torrents`)
    const v2 = Math.round(torrents * 0.2)
    const hybrid = Math.round(torrents * 0.2)
    const tn = await createTestnet({ nodes, v1: torrents - v2 - hybrid, v2, hybrid, net: 43, logger: log.child({ component: 'testnet' }), onProgress: (m) => out.err(m) })
    const harvesters = configs.map((c, i) => new HarvesterNode(c, { bootstrapPeers: tn.bootstrap }, log.child({ member: i })))
    let code = 0
    try {
      for (const h of harvesters) await h.start()
      const first = harvesters[0]
      out.err(`demo: ${members === 1 ? 'one harvester' : `${members} harvesters cooperating under one fresh community key`}; the first on ${first.dht?.address().host}:${first.dht?.address().port}, data in ${configs[0].dataDir}`)
      const progress = new Progress(out, () => first.stats(), statusLine, { mode: configs[0].progress, jsonIntervalMs: 2000 })
      progress.start()
      const started = Date.now()
      const done = new Promise<string>((resolve) => {
        const t = setInterval(() => {
          if (harvesters.every((h) => h.stats().torrents >= tn.torrents.length)) { clearInterval(t); resolve('complete') } else if (Date.now() - started > timeout * 1000) { clearInterval(t); resolve('timeout') }
        }, 250)
        void stop.promise.then(() => { clearInterval(t); resolve('stopped') })
      })
      const why = await done
      progress.stop()
      const secs = ((Date.now() - started) / 1000).toFixed(1)
      if (why === 'complete') {
        const s = first.stats()
        out.out(`\ndemo: ${members === 1 ? 'indexed' : 'every member indexed'} all ${s.torrents} torrents in ${secs} s`)
        harvesters.forEach((h, i) => {
          const m = h.stats()
          out.out(`  member ${i}: ${m.torrents} torrents, ${m.fetched_from_swarm} fetched from the swarm, ${m.fetched_from_members} pulled from members, linked to ${m.members}`)
        })
        const served = tn.seeders.reduce((a, x) => a + x.counters.metadataServed, 0)
        out.out(`  the seeders served ${served} metadata transfers for ${tn.torrents.length} torrents (${(served / tn.torrents.length).toFixed(2)} per torrent${members > 1 ? `; ${members} harvesters alone would have needed about ${members}` : ''})`)
        const word = tn.torrents[0].info.name.split(/[^\p{L}\p{N}]+/u).find((w) => w.length > 2) ?? tn.torrents[0].info.name
        if (members > 1) {
          const r = await first.networkSearch({ text: word, limit: 5 }, 3000)
          out.out(`\nbbmesh search ${word} --network (${r.members.filter((m) => m.answered).length} of ${r.members.length} members answered):`)
          for (const h of r.hits) out.out(`  ${h.infohash}  ${formatBytes(h.size).padStart(10)}  ${String(h.files).padStart(3)} files  ${h.name}`)
        } else {
          out.out(`\nbbmesh search ${word}:`)
          for (const h of first.searchLocal({ text: word, limit: 5 }).hits) out.out(`  ${h.infohash}  ${formatBytes(h.size).padStart(10)}  ${String(h.files).padStart(3)} files  ${h.name}`)
        }
        // The library: the first member publishes its index; a new node fetches it by key.
        if (first.dht !== null && first.store !== null) {
          const lib = await runLibraryDemo({ dht: first.dht, library: first.store.store, seedHost: configs[0].host, fetchHost: `127.0.0.${members + 1}`, bootstrap: tn.bootstrap, publisherDir: temp(), fetcherDir: temp() })
          const st = lib.published
          const f = lib.fetched
          out.out(`\nbbmesh publish (member 0, a fresh publisher key) → bbmesh fetch ${lib.publicKey.slice(0, 16)}... (a new node):`)
          out.out(`  published catalog ${st.infohash ?? '?'}: ${st.records} torrents in ${st.shards} shard${st.shards === 1 ? '' : 's'}, ${formatBytes(st.bytes)}, BEP-46 pointer seq ${st.seq ?? '?'} on ${st.stored} DHT nodes`)
          out.out(`  fetched by the public key alone: ${f.imported} torrents imported (${lib.fetcherTorrents} in the new index), ${formatBytes(f.bytes_downloaded)} downloaded, every piece and record verified, ${f.refused} refused`)
        }
        out.out(`\nPublish your own index with \`bbmesh keygen\` and \`bbmesh publish\`; fetch someone's with \`bbmesh fetch <public key>\`.`)
        out.out(`\nHarvest the real DHT with \`bbmesh harvest\` (join a cooperative with --community KEY from \`bbmesh community new\`), or keep this testnet running with \`bbmesh testnet\`.`)
      } else if (why === 'timeout') {
        out.err(`demo: timed out after ${timeout} s with ${harvesters.map((h) => h.stats().torrents).join('/')} of ${tn.torrents.length} torrents indexed`)
        code = 1
      }
    } finally {
      stop.dispose()
      for (const h of harvesters) await h.close()
      await tn.close()
      for (const d of tmps) rmSync(d, { recursive: true, force: true })
    }
    return code
  },
}
