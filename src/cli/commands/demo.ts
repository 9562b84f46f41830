// `bbmesh demo`: the whole harvester against a loopback testnet in one process, for a new
// user without a connection: starts the testnet, harvests it until every torrent is indexed,
// shows a search, and exits 0.

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

const HELP = `Usage: bbmesh demo [options]

Runs a loopback DHT (testnet) with seeders of v1, v2-only and hybrid torrents, and a
harvester against it, in one process. Nothing leaves 127.0.0.0/8. Shows live progress until
every torrent is indexed, then a search of the index.

Options:
  --nodes <n>       DHT nodes of the testnet (default 32)
  --torrents <n>    torrents, split 60% v1, 20% v2-only, 20% hybrid (default 100)
  --timeout <s>     give up after this many seconds (default 180)
  --data-dir <dir>  keep the index here (default: a temporary directory, removed at the end)
  --progress <m>    auto | tty | json | off (default auto)
  -h, --help`

export const demoCommand: Command = {
  name: 'demo',
  summary: 'watch the whole system work on a loopback testnet (no connection needed)',
  help: () => HELP,
  async run (argv, out) {
    const p = parse(argv, { nodes: { type: 'string' }, torrents: { type: 'string' }, timeout: { type: 'string' } }, ['dataDir', 'progress', 'logLevel', 'perIpRate'], false)
    const nodes = Number(p.values.nodes ?? 32)
    const torrents = Number(p.values.torrents ?? 100)
    const timeout = Number(p.values.timeout ?? 180)
    if (!Number.isInteger(nodes) || nodes < 2 || nodes > 2000) throw new UsageError('--nodes must be an integer in 2..2000')
    if (!Number.isInteger(torrents) || torrents < 1 || torrents > 100_000) throw new UsageError('--torrents must be an integer in 1..100000')
    if (!(timeout > 0)) throw new UsageError('--timeout must be a positive number of seconds')
    const tmp = p.configFlags.dataDir === undefined ? mkdtempSync(join(tmpdir(), 'bbmesh-demo-')) : null
    const logLevel = (p.configFlags.logLevel as string | undefined) ?? 'warn'
    const { config } = loadConfig({
      ...p.configFlags,
      dataDir: p.configFlags.dataDir ?? tmp,
      logLevel,
      bootstrap: '',
      host: '127.0.0.1',
      dhtPort: '0',
      minRevisit: '0',
      // The testnet's nodes are bbmesh nodes without libtorrent's 5 packets/s per-IP limit,
      // and a small DHT concentrates lookups on few addresses.
      perIpRate: p.configFlags.perIpRate ?? '50',
    }, {})
    const log = createLogger({ level: config.logLevel })
    const stop = waitForStop()
    out.err(`demo: starting a loopback testnet of ${nodes} DHT nodes and ${torrents} torrents`)
    const v2 = Math.round(torrents * 0.2)
    const hybrid = Math.round(torrents * 0.2)
    const tn = await createTestnet({ nodes, v1: torrents - v2 - hybrid, v2, hybrid, net: 43, logger: log.child({ component: 'testnet' }), onProgress: (m) => out.err(m) })
    const node = new HarvesterNode(config, { bootstrapPeers: tn.bootstrap }, log)
    let code = 0
    try {
      await node.start()
      out.err(`demo: harvester on ${node.dht?.address().host}:${node.dht?.address().port}, data in ${config.dataDir}`)
      const progress = new Progress(out, () => node.stats(), statusLine, { mode: config.progress, jsonIntervalMs: 2000 })
      progress.start()
      const started = Date.now()
      const done = new Promise<string>((resolve) => {
        const t = setInterval(() => {
          const s = node.stats()
          if (s.torrents >= tn.torrents.length) { clearInterval(t); resolve('complete') } else if (Date.now() - started > timeout * 1000) { clearInterval(t); resolve('timeout') }
        }, 250)
        void stop.promise.then(() => { clearInterval(t); resolve('stopped') })
      })
      const why = await done
      progress.stop()
      const s = node.stats()
      const secs = ((Date.now() - started) / 1000).toFixed(1)
      if (why === 'complete') {
        out.out(`\ndemo: indexed all ${s.torrents} torrents in ${secs} s (${s.samples} samples, ${s.infohashes_seen} infohashes seen, ${s.failed} failed fetches)`)
        const word = tn.torrents[0].info.name.split(/[^\p{L}\p{N}]+/u).find((w) => w.length > 2) ?? tn.torrents[0].info.name
        const hits = node.store?.search(word, 5) ?? []
        out.out(`\nbbmesh search ${word}:`)
        for (const h of hits) out.out(`  ${h.infohash}  ${formatBytes(h.size).padStart(10)}  ${String(h.files).padStart(3)} files  ${h.name}`)
        out.out(`\nHarvest the real DHT with \`bbmesh harvest\`, or keep this testnet running with \`bbmesh testnet\`.`)
      } else if (why === 'timeout') {
        out.err(`demo: timed out after ${timeout} s with ${s.torrents}/${tn.torrents.length} torrents indexed`)
        code = 1
      }
    } finally {
      stop.dispose()
      await node.close()
      await tn.close()
      if (tmp !== null) rmSync(tmp, { recursive: true, force: true })
    }
    return code
  },
}
