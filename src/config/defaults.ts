// Every configuration key, its default, its type, and why the default is what it is. The
// CLI, the environment (BBMESH_<KEY>) and the config file all go through this table, and
// docs/config.md is checked against it by a test.

import { homedir } from 'node:os'
import { join } from 'node:path'

export type KeyType = 'string' | 'int' | 'number' | 'bool' | 'list'

export interface KeySpec {
  type: KeyType
  default: unknown
  /** The flag, kebab-case. */
  flag: string
  env: string
  min?: number
  max?: number
  choices?: readonly string[]
  why: string
}

export const PUBLIC_BOOTSTRAP = Object.freeze([
  'router.bittorrent.com:6881',
  'dht.transmissionbt.com:6881',
  'router.utorrent.com:6881',
  'dht.libtorrent.org:25401',
])

function defaultDataDir (): string {
  const xdg = process.env.XDG_DATA_HOME
  return join(xdg !== undefined && xdg !== '' ? xdg : join(homedir(), '.local', 'share'), 'bbmesh')
}

const k = (flag: string, type: KeyType, def: unknown, why: string, extra: Partial<KeySpec> = {}): KeySpec =>
  ({ flag, type, default: def, env: 'BBMESH_' + flag.toUpperCase().replace(/-/g, '_'), why, ...extra })

export const CONFIG_SPEC = Object.freeze({
  dataDir: k('data-dir', 'string', defaultDataDir(), 'XDG data home: the index, node id and keys live together and survive restarts.'),
  bootstrap: k('bootstrap', 'list', [...PUBLIC_BOOTSTRAP], 'The public routers every mainline client uses; pass your own (HOST:PORT,...) offline or in tests.'),
  host: k('host', 'string', '0.0.0.0', 'Bind address of the DHT and peer sockets.'),
  dhtPort: k('dht-port', 'int', 6881, 'The customary DHT port; a stable port keeps our place in other nodes\' routing tables.', { min: 0, max: 65535 }),
  peerPort: k('peer-port', 'int', 6881, 'TCP port of the peer wire (member links and catalog seeding); harvest alone only dials out.', { min: 0, max: 65535 }),
  krpcRate: k('krpc-rate', 'int', 300, 'Outgoing KRPC packets/s in all: enough to sample thousands of nodes a minute without hurting a home router.', { min: 1, max: 1_000_000 }),
  krpcBytesRate: k('krpc-bytes-rate', 'int', 200_000, 'Outgoing KRPC bytes/s in all (about 1.6 Mbit/s).', { min: 1000, max: 1e10 }),
  perIpRate: k('per-ip-rate', 'number', 4, 'Packets/s to one IP: libtorrent blocks an IP for 5 minutes above 5/s.', { min: 0.1, max: 1_000_000 }),
  samplerConcurrency: k('sampler-concurrency', 'int', 32, 'sample_infohashes queries in flight.', { min: 1, max: 4096 }),
  fetchConcurrency: k('fetch-concurrency', 'int', 64, 'Infohashes whose metadata is fetched at once.', { min: 1, max: 4096 }),
  fetchTimeout: k('fetch-timeout', 'int', 30_000, 'Total deadline (ms) of one infohash\'s lookup and fetch.', { min: 1000, max: 600_000 }),
  maxAttempts: k('max-attempts', 'int', 3, 'Fetch attempts before an infohash is given up.', { min: 1, max: 100 }),
  minRevisit: k('min-revisit', 'int', 60_000, 'Least ms between two samples of one node when it advertises interval 0.', { min: 0, max: 86_400_000 }),
  progress: k('progress', 'string', 'auto', 'auto: a live line on a TTY, JSON lines otherwise.', { choices: ['auto', 'tty', 'json', 'off'] }),
  logLevel: k('log-level', 'string', 'info', 'Log level of the structured logs on stderr.', { choices: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] }),
  community: k('community', 'list', [], 'Community keys (secret) of the cooperatives to join, each bbmesh-community:<72 hex> from `bbmesh community new`; none: harvest alone. Prefer env or file: flags show in ps.'),
  contribution: k('contribution', 'string', 'full', 'Contribution mode in the cooperative: full (fetch, share and receive), consumer (receive and relay, share nothing of its own), source (share, receive nothing), leech (receive only).', { choices: ['full', 'consumer', 'source', 'leech'] }),
  apiHost: k('api-host', 'string', '127.0.0.1', 'Bind address of the HTTP API (`bbmesh serve`): loopback keeps the index and the search API to this machine.'),
  apiPort: k('api-port', 'int', 0, 'TCP port of the HTTP API; 0 picks a free one (recorded in api.json in the data directory), so several nodes run side by side.', { min: 0, max: 65535 }),
  seedPort: k('seed-port', 'int', 0, 'TCP port `harvest --publish` seeds the catalog on; 0 picks a free one (fetchers find it through the DHT announce). `bbmesh publish` seeds on --peer-port.', { min: 0, max: 65535 }),
  config: k('config', 'string', '', 'Config file (JSON); default: config.json in the data directory if present.'),
} satisfies Record<string, KeySpec>)

export type ConfigKey = keyof typeof CONFIG_SPEC

export interface Config {
  dataDir: string
  bootstrap: string[]
  host: string
  dhtPort: number
  peerPort: number
  krpcRate: number
  krpcBytesRate: number
  perIpRate: number
  samplerConcurrency: number
  fetchConcurrency: number
  fetchTimeout: number
  maxAttempts: number
  minRevisit: number
  progress: 'auto' | 'tty' | 'json' | 'off'
  logLevel: string
  /** Community keys in text form (secret); parse with identity/community-key parseCommunityKeys. */
  community: string[]
  contribution: 'full' | 'consumer' | 'source' | 'leech'
  apiHost: string
  apiPort: number
  seedPort: number
  config: string
}
