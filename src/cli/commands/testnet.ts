// `bbmesh testnet`: run a loopback DHT with seeders in the foreground, for a harvester (or
// libtorrent) to be pointed at with --bootstrap.

import type { Command } from '../command.js'
import { parse } from '../args.js'
import { createTestnet } from '../../testnet/testnet.js'
import { waitForStop } from '../signals.js'
import { UsageError } from '../../core/errors.js'
import { createLogger } from '../../core/logger.js'

const HELP = `Usage: bbmesh testnet [options]

Starts a mainline DHT of many nodes on loopback addresses (127.N.x.y) and seeders serving
real v1, v2-only and hybrid torrents over BEP-9, then waits until SIGINT/SIGTERM. Point a
harvester at it:  bbmesh harvest --bootstrap <printed address> --data-dir /tmp/bb

Options:
  --nodes <n>        DHT nodes (default 32)
  --v1 <n>           v1 torrents (default 100)
  --v2 <n>           v2-only torrents (default 50)
  --hybrid <n>       hybrid torrents (default 50)
  --seeders <n>      seeders the torrents are spread over (default 4)
  --net <n>          second octet of the loopback addresses used (default 42)
  --port <n>         UDP port of every DHT node (default: any free port)
  --interval <s>     BEP-51 interval the nodes advertise (default 5)
  --seed <text>      seed of the synthetic torrents (default bbmesh-testnet)
  --json             print the bootstrap address as one JSON line
  -h, --help         this help`

function int (v: unknown, name: string, def: number, min = 0, max = 1_000_000): number {
  if (v === undefined) return def
  const n = Number(v)
  if (!Number.isInteger(n) || n < min || n > max) throw new UsageError(`--${name} must be an integer in ${min}..${max}`)
  return n
}

export const testnetCommand: Command = {
  name: 'testnet',
  summary: 'run a loopback DHT with seeders, to harvest without a connection',
  help: () => HELP,
  async run (argv, out) {
    const opts = ['nodes', 'v1', 'v2', 'hybrid', 'seeders', 'net', 'port', 'interval', 'seed']
    const p = parse(argv, { ...Object.fromEntries(opts.map((o) => [o, { type: 'string' as const }])), json: { type: 'boolean' } }, [], false)
    const v = p.values
    const stop = waitForStop()
    const tn = await createTestnet({
      nodes: int(v.nodes, 'nodes', 32, 1, 5000),
      v1: int(v.v1, 'v1', 100),
      v2: int(v.v2, 'v2', 50),
      hybrid: int(v.hybrid, 'hybrid', 50),
      seeders: int(v.seeders, 'seeders', 4, 1, 1000),
      net: int(v.net, 'net', 42, 1, 254),
      port: int(v.port, 'port', 0, 0, 65535),
      sampleInterval: int(v.interval, 'interval', 5, 0, 21600),
      seed: typeof v.seed === 'string' ? v.seed : undefined,
      logger: createLogger({ name: 'testnet' }),
      onProgress: (m) => out.err(m),
    })
    const b = tn.bootstrap.map((a) => `${a.host}:${a.port}`).join(',')
    if (v.json === true) out.out(JSON.stringify({ bootstrap: b, nodes: tn.nodes.length, torrents: tn.torrents.length }))
    else out.out(`testnet ready: ${tn.nodes.length} DHT nodes, ${tn.torrents.length} torrents\nbootstrap: ${b}\nharvest it: bbmesh harvest --bootstrap ${b} --data-dir /tmp/bbmesh-demo`)
    const sig = await stop.promise
    stop.dispose()
    out.err(`testnet: ${sig}, closing`)
    await tn.close()
    return 0
  },
}
