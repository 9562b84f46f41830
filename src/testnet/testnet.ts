// The loopback testnet: a DHT of many nodes on 127.0.0.0/8 and seeders serving real
// torrents (v1, v2-only and hybrid), so the crawler, the cooperative and the benchmarks run
// with no connection at all. Each DHT node binds its own loopback address (127.0.0.N) so
// per-IP limits behave as on the real network. Shared by tests, benchmarks and the CLI.

import { DhtNode } from '../../crawler/dht-node.js'
import { installResponder, ExpiringSet } from '../../crawler/responder.js'
import { MetadataSeeder } from './metadata-seeder.js'
import { syntheticTorrent } from '../torrent/synthetic.js'
import type { TorrentInfo, TorrentVersion } from '../torrent/types.js'
import type { PeerAddr } from '../core/compact.js'
import { isLoopback } from '../core/compact.js'
import { UsageError } from '../core/errors.js'
import { ed25519Verify } from '../library/pointer.js'
import { silentLogger, type Logger } from '../core/logger.js'

export interface TestnetOptions {
  /** DHT nodes (besides the seeders' own). */
  nodes?: number
  /** Torrents by kind. */
  v1?: number
  v2?: number
  hybrid?: number
  seeders?: number
  /** First loopback address octet pattern: nodes bind 127.<net>.x.y. */
  net?: number
  /** Fixed UDP port for every node (they differ by address); 0 = any. */
  port?: number
  /** BEP-51 interval the nodes advertise, seconds. */
  sampleInterval?: number
  /** Seed for the synthetic torrents (same seed, same torrents). */
  seed?: string
  /** Announce the torrents (default true). */
  announce?: boolean
  logger?: Logger
  onProgress?: (msg: string) => void
}

export interface TestnetTorrent {
  info: TorrentInfo
  rawInfo: Buffer
  version: TorrentVersion
  /** 20-byte keys the torrent is announced under: v1 and/or truncated v2. */
  keys: Buffer[]
  seeder: PeerAddr
}

export interface Testnet {
  bootstrap: PeerAddr[]
  nodes: DhtNode[]
  seeders: MetadataSeeder[]
  torrents: TestnetTorrent[]
  /**
   * More synthetic torrents on the running testnet (new names: they continue the numbering of
   * each kind), served by the seeders in turn, appended to `torrents` and returned. Unless the
   * testnet was made with announce: false, each seeder announces them straight to every node of
   * the testnet (get_peers for a token, then announce_peer; no lookup), so a harvester running
   * on the testnet hears of them only once they are announced (sampling, or others' lookups),
   * never from the seeders' lookups half-way through an announce (its fetch would find no peers
   * yet and back off for a minute).
   */
  addTorrents: (counts: { v1?: number, v2?: number, hybrid?: number }) => Promise<TestnetTorrent[]>
  close: () => Promise<void>
}

function addressFor (net: number, i: number): string {
  // 127.net.(i/250).(i%250 + 2): never 127.0.0.1, which is left to the harvester.
  return `127.${net}.${Math.floor(i / 250)}.${(i % 250) + 2}`
}

export async function createTestnet (opts: TestnetOptions = {}): Promise<Testnet> {
  const log = opts.logger ?? silentLogger
  const net = opts.net ?? 42
  if (net < 1 || net > 254) throw new UsageError('testnet net octet must be 1..254')
  const nNodes = opts.nodes ?? 32
  const progress = opts.onProgress ?? (() => {})
  const nodes: DhtNode[] = []
  const seeders: MetadataSeeder[] = []
  const seederNodes: DhtNode[] = []
  const close = async (): Promise<void> => {
    await Promise.all([...nodes, ...seederNodes].map(async (n) => await n.close()))
    await Promise.all(seeders.map(async (s) => await s.close()))
  }
  try {
    // Nodes of our own DHT trust each other: no pacing between them.
    const fast = { pacer: { perIpRate: 100_000, perIpBurst: 100_000, globalRate: 1_000_000, bytesRate: 1e9 }, answerRate: 100_000, answerBurst: 100_000 }
    for (let i = 0; i < nNodes; i++) {
      const host = addressFor(net, i)
      if (!isLoopback(host)) throw new UsageError('testnet only binds loopback')
      // verify: the nodes store BEP-44 mutable items (the pointer, docs/library.md), like mainline nodes.
      const n = new DhtNode({ host, port: opts.port ?? 0, bootstrap: i === 0 ? [] : [nodes[0].address()], guard: fast, logger: log, verify: ed25519Verify })
      await n.start({ bootstrapTimeoutMs: 5000 })
      const held = new ExpiringSet(100_000, 6 * 3600 * 1000)
      n.on('announce', (ih: Buffer) => held.add(ih))
      installResponder(n, held, { interval: opts.sampleInterval ?? 5 })
      nodes.push(n)
    }
    // Let the first nodes learn of the later ones too.
    for (const n of nodes.slice(0, 8)) for (const m of nodes) if (m !== n) n.addNode(m.address())
    progress(`testnet: ${nodes.length} DHT nodes up`)

    const torrents: TestnetTorrent[] = []
    const nSeeders = Math.max(1, opts.seeders ?? 4)
    for (let i = 0; i < nSeeders; i++) {
      const host = addressFor(net, nNodes + i)
      const s = new MetadataSeeder({ host })
      await s.start()
      seeders.push(s)
      const dn = new DhtNode({ host, bootstrap: [nodes[0].address()], guard: fast, logger: log })
      await dn.start({ bootstrapTimeoutMs: 5000 })
      seederNodes.push(dn)
    }
    const made: Record<TorrentVersion, number> = { v1: 0, v2: 0, hybrid: 0 }
    let k = 0
    /** Announce key from seeder si to every testnet node directly, so no other node hears of it first. */
    const announceDirect = async (si: number, key: Buffer): Promise<void> => {
      const dn = seederNodes[si]
      const port = seeders[si].address().port
      await Promise.all(nodes.map(async (n) => {
        try {
          const { r } = await dn.query(n.address(), 'get_peers', { info_hash: key })
          const token = r.token
          if (!(token instanceof Uint8Array)) throw new Error('no token')
          await dn.query(n.address(), 'announce_peer', { info_hash: key, port, token })
        } catch (err) {
          log.warn({ err: (err as Error).message }, 'testnet announce failed')
        }
      }))
    }
    const addTorrents = async (counts: { v1?: number, v2?: number, hybrid?: number }, direct = true): Promise<TestnetTorrent[]> => {
      const added: TestnetTorrent[] = []
      const kinds: Array<[TorrentVersion, number]> = [['v1', counts.v1 ?? 0], ['v2', counts.v2 ?? 0], ['hybrid', counts.hybrid ?? 0]]
      for (const [version, count] of kinds) {
        for (let i = 0; i < count; i++) {
          const t = syntheticTorrent(`${opts.seed ?? 'bbmesh-testnet'}-${version}-${made[version]++}`, version)
          const keys: Buffer[] = []
          if (t.info.infohashV1 !== undefined) keys.push(t.info.infohashV1)
          if (t.info.infohashV2 !== undefined) keys.push(t.info.infohashV2.subarray(0, 20))
          const s = seeders[k % seeders.length]
          s.add(keys, t.rawInfo)
          added.push({ info: t.info, rawInfo: t.rawInfo, version, keys, seeder: s.address() })
          k++
        }
      }
      torrents.push(...added)
      progress(`testnet: ${torrents.length} torrents on ${seeders.length} seeders`)
      if (opts.announce !== false) {
        let done = 0
        await Promise.all(seeders.map(async (s, si) => {
          const dn = seederNodes[si]
          for (const t of added) {
            if (t.seeder.port !== s.address().port || t.seeder.host !== s.address().host) continue
            for (const key of t.keys) {
              if (direct) await announceDirect(si, key)
              else await dn.announce(key, s.address().port).catch((err: Error) => log.warn({ err: err.message }, 'testnet announce failed'))
            }
            done++
            if (done % 50 === 0) progress(`testnet: announced ${done}/${added.length}`)
          }
        }))
        progress(`testnet: announced ${added.length} torrents`)
      }
      return added
    }
    // The first torrents go out by ordinary BEP-5 announces (lookup, then announce_peer).
    await addTorrents({ v1: opts.v1 ?? 20, v2: opts.v2 ?? 10, hybrid: opts.hybrid ?? 10 }, false)
    return { bootstrap: [nodes[0].address()], nodes, seeders, torrents, addTorrents: async (counts) => await addTorrents(counts, true), close }
  } catch (err) {
    await close()
    throw err
  }
}
