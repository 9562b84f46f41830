// A DHT node for the one-job commands (publish, fetch): the configured address and bootstrap
// list, BEP-44 storage with signature checks, and the same outgoing rate limits as the
// harvester. Fails clearly when no bootstrap node answers. A fresh random node id: the data
// directory's id belongs to the harvester, which may run beside this command.

import { DhtNode } from '../../crawler/dht-node.js'
import type { Config } from '../config/defaults.js'
import type { Logger } from '../core/logger.js'
import { ed25519Verify } from '../library/pointer.js'
import { resolveBootstrap, unreachableError } from './bootstrap.js'

export async function startCommandDht (c: Readonly<Config>, log: Logger, opts: { bootstrapTimeoutMs?: number } = {}): Promise<DhtNode> {
  const r = await resolveBootstrap(c.bootstrap)
  if (c.bootstrap.length > 0 && r.peers.length === 0) throw unreachableError(c.bootstrap, r.failures)
  const dht = new DhtNode({
    host: c.host,
    port: c.dhtPort,
    bootstrap: r.peers,
    verify: ed25519Verify,
    guard: { pacer: { perIpRate: c.perIpRate, perIpBurst: Math.max(1, Math.ceil(c.perIpRate)), globalRate: c.krpcRate, bytesRate: c.krpcBytesRate } },
    logger: log.child({ component: 'dht' }),
  })
  try {
    await dht.start({ bootstrapTimeoutMs: opts.bootstrapTimeoutMs ?? 15_000 })
    if (r.peers.length > 0 && dht.nodeCount() === 0) throw unreachableError(c.bootstrap, r.failures)
  } catch (err) {
    await dht.close()
    throw err
  }
  return dht
}
