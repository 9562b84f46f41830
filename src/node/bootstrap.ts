// Bootstrap list: parse HOST:PORT entries and resolve names up front, so an offline machine
// gets a clear message naming each router that could not be reached, instead of a DHT that
// silently stays empty.

import { lookup } from 'node:dns/promises'
import { isIP } from 'node:net'
import type { PeerAddr } from '../core/compact.js'
import { ConfigError, NetworkError } from '../core/errors.js'

export function parseHostPort (s: string): { host: string, port: number } {
  const m = /^\[?([^\]]+?)\]?:(\d{1,5})$/.exec(s.trim())
  if (m === null) throw new ConfigError(`bootstrap entry ${JSON.stringify(s)} is not HOST:PORT`)
  const port = Number(m[2])
  if (port < 1 || port > 65535) throw new ConfigError(`bootstrap entry ${s}: port out of range`)
  return { host: m[1], port }
}

export async function resolveBootstrap (entries: string[], timeoutMs = 5000): Promise<{ peers: PeerAddr[], failures: string[] }> {
  const peers: PeerAddr[] = []
  const failures: string[] = []
  await Promise.all(entries.map(async (e) => {
    const { host, port } = parseHostPort(e)
    if (isIP(host) === 4) { peers.push({ host, port }); return }
    if (isIP(host) === 6) { failures.push(`${e}: IPv6 bootstrap is not supported yet`); return }
    try {
      const r = await Promise.race([
        lookup(host, { family: 4 }),
        new Promise<never>((_resolve, reject) => setTimeout(() => reject(new Error('DNS timed out')), timeoutMs).unref()),
      ])
      peers.push({ host: r.address, port })
    } catch (err) {
      failures.push(`${e}: ${(err as Error).message}`)
    }
  }))
  return { peers, failures }
}

export function unreachableError (entries: string[], failures: string[]): NetworkError {
  return new NetworkError(
    `none of the bootstrap nodes could be reached (${entries.join(', ')})` +
    (failures.length > 0 ? `:\n  ${failures.join('\n  ')}` : '') +
    '\nThis machine may be offline. Pass --bootstrap HOST:PORT of a reachable DHT node, or try `bbmesh demo` for a loopback network.')
}
