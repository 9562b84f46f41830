// The composition root of a harvester: builds, starts and stops everything in order.
// store → DHT node (guard, pacer, BEP-51 responder) → sampler + passive harvest → triage →
// fetch scheduler → store. close() runs the same chain backwards and leaves nothing open.

import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { DhtNode } from '../../crawler/dht-node.js'
import { installResponder } from '../../crawler/responder.js'
import { Sampler } from '../../crawler/sampler.js'
import { PassiveHarvester } from '../../crawler/passive-harvester.js'
import { Triage } from '../../crawler/triage.js'
import { FetchScheduler } from '../../crawler/fetch-scheduler.js'
import { makePeerId } from '../../crawler/metadata-fetcher.js'
import type { Config } from '../config/defaults.js'
import type { LoadedConfig } from '../config/load.js'
import { loadOrCreateNodeId } from '../identity/node-id.js'
import { resolveBootstrap, unreachableError } from './bootstrap.js'
import { openHarvestStore, type HarvestStore } from './harvest-store.js'
import type { PeerAddr } from '../core/compact.js'
import { WHOLE_KEYSPACE, type Region } from '../core/infohash.js'
import { silentLogger, type Logger } from '../core/logger.js'
import { AbortedError, UsageError } from '../core/errors.js'
import { parseCommunityKeys, type CommunityKey } from '../identity/community-key.js'
import { rendezvousInfohashes } from '../coop/rendezvous.js'
import { RendezvousAnnouncer } from '../coop/rendezvous-announcer.js'
import { Membership } from '../coop/membership.js'
import { bbAuth } from '../../extensions/bb-auth.js'
import { utPex } from '../../extensions/ut-pex.js'
import { StatusFile } from './status-file.js'
import { CoopFetch, ownsFetches } from '../coop/coop-fetch.js'
import { regionsFor } from '../coop/ownership.js'
import { bbSearch, type BbSearchHandle } from '../../extensions/bb-search.js'
import type { ExtensionFactory } from '../../extensions/extension.js'
import type { SearchHit, SearchPage, SearchRequest } from '../search/types.js'
import { ApiServer, type ApiBackend } from '../http/server.js'
import type { NetworkSearchResult } from '../search/network-types.js'
import { networkSearch } from '../search/network-search.js'
import { scorer } from '../search/rank.js'
import { ed25519Verify } from '../library/pointer.js'
import { CatalogPublisher, HARVEST_REBUILD_CHECK_MS, type PublishStatus } from '../library/publisher.js'
import { workerCatalogBuilder } from '../library/catalog-builder.js'
import { PointerStore } from '../library/pointer-store.js'
import { catalogsReport } from '../library/catalog-fetch.js'

export interface HarvestStats {
  uptime_s: number
  nodes: number
  sampler_nodes: number
  samples: number
  samples_per_s: number
  infohashes_seen: number
  discovered: number
  queue: number
  fetching: number
  fetched: number
  failed: number
  fetch_rate: number
  torrents: number
  krpc_in: number
  krpc_invalid: number
  krpc_dropped_out: number
  members: number
  fetched_from_swarm: number
  fetched_from_members: number
  /** Swarm fetches made because the owning member did not deliver within the wait. */
  owner_timeouts: number
  /** Infohashes we discovered and forwarded to their owner (bb_samples), and received so. */
  samples_forwarded: number
  samples_received: number
  /** Keys pushed (bb_have) to members, relays and catch-up included. */
  pushed: number
}

export interface HarvesterOptions {
  region?: Region
  /** Resolved bootstrap peers (skips DNS); otherwise config.bootstrap is resolved. */
  bootstrapPeers?: PeerAddr[]
  /** Fail when no bootstrap node answers (default true when the list is non-empty). */
  requireBootstrap?: boolean
  bootstrapTimeoutMs?: number
  /** Where each config value came from (for error messages about community keys). */
  configSources?: LoadedConfig['sources']
  /** Longest wait for the owning member before fetching from the swarm (default 20 s). */
  ownerWaitMs?: number
  /** Our publisher key, shown signed to members in bb_auth. */
  publisher?: { publicKey: Buffer, sign: (message: Uint8Array) => Buffer }
  /** Serve the HTTP API (src/http) on config apiHost:apiPort and record it in api.json (default true). */
  api?: boolean
  /** Steer the sampler into the keyspace region the cooperative assigns us (default true). */
  steerRegions?: boolean
  /** How long a fresh member waits for the others before fetching from the swarm (default 15 s). */
  joinGraceMs?: number
  /** Publish the index as a catalog under `publisher` (harvest --publish; docs/library.md). */
  publish?: { salt?: Buffer, includeCatalogs?: boolean, rebuildCheckMs?: number }
}

export class HarvesterNode {
  store: HarvestStore | null = null
  dht: DhtNode | null = null
  sampler: Sampler | null = null
  passive: PassiveHarvester | null = null
  triage: Triage | null = null
  fetcher: FetchScheduler | null = null
  membership: Membership | null = null
  coop: CoopFetch | null = null
  announcer: RendezvousAnnouncer | null = null
  private regionTimer: NodeJS.Timeout | null = null
  private status: StatusFile | null = null
  api: ApiServer | null = null
  catalog: CatalogPublisher | null = null
  private readonly log: Logger
  private started = 0
  private closed = false
  private rateWindow: Array<{ t: number, samples: number, fetched: number }> = []

  constructor (readonly config: Readonly<Config>, private readonly opts: HarvesterOptions = {}, logger: Logger = silentLogger) {
    this.log = logger
  }

  async start (): Promise<void> {
    if (this.closed) throw new AbortedError('harvester is closed')
    const c = this.config
    // Bad community keys stop the start before anything is opened.
    const keys = parseCommunityKeys({ config: c, sources: this.opts.configSources ?? ({} as LoadedConfig['sources']) })
    mkdirSync(c.dataDir, { recursive: true, mode: 0o700 })
    const store = openHarvestStore(join(c.dataDir, 'index.sqlite'), { maxAttempts: c.maxAttempts, logger: this.log.child({ component: 'store' }) })
    this.store = store
    try {
      const nodeId = loadOrCreateNodeId(c.dataDir)
      let peers = this.opts.bootstrapPeers
      let failures: string[] = []
      if (peers === undefined) {
        const r = await resolveBootstrap(c.bootstrap)
        peers = r.peers
        failures = r.failures
        // close() may have run while the names resolved: build nothing on a closed store.
        if (this.closed) throw new AbortedError('harvester closed during start')
        if (c.bootstrap.length > 0 && peers.length === 0) throw unreachableError(c.bootstrap, failures)
      }
      const dht = new DhtNode({
        host: c.host,
        port: c.dhtPort,
        nodeId,
        bootstrap: peers,
        // Store and serve BEP-44 items (publishers' pointers), signatures checked.
        verify: ed25519Verify,
        guard: { pacer: { perIpRate: c.perIpRate, perIpBurst: Math.max(1, Math.ceil(c.perIpRate)), globalRate: c.krpcRate, bytesRate: c.krpcBytesRate } },
        logger: this.log.child({ component: 'dht' }),
      })
      this.dht = dht
      await dht.start({ bootstrapTimeoutMs: this.opts.bootstrapTimeoutMs ?? 15_000 })
      if (peers.length > 0 && dht.nodeCount() === 0 && this.opts.requireBootstrap !== false) {
        throw unreachableError(c.bootstrap.length > 0 ? c.bootstrap : peers.map((p) => `${p.host}:${p.port}`), failures)
      }
      installResponder(dht, store.sampleSource())
      const triage = new Triage({
        noteSeen: (ihs, source) => {
          store.noteSeen(ihs, source)
          // What we discovered ourselves goes on to its owner in the cooperative (bb_samples).
          if (!source.startsWith('member')) this.coop?.discovered(ihs)
        },
      }, {
        // Our rendezvous infohashes show up in samples; they name no torrent.
        ignore: keys.length === 0 ? undefined : rendezvousFilter(keys),
      })
      this.triage = triage
      this.passive = new PassiveHarvester(dht, (ih, source, hint) => triage.add(ih, source, hint))
      const sampler = new Sampler({ node: dht, logger: this.log.child({ component: 'sampler' }) }, {
        region: this.opts.region ?? WHOLE_KEYSPACE,
        concurrency: c.samplerConcurrency,
        minRevisitMs: c.minRevisit,
      })
      this.sampler = sampler
      sampler.on('samples', (ihs: Buffer[]) => triage.addMany(ihs, 'sample'))
      const fetcher = new FetchScheduler({
        queue: {
          lease: (n, leaseMs) => store.lease(n, leaseMs),
          complete: (ih, raw, _kind, source, from) => {
            const info = store.complete(ih, raw, source)
            if (info !== null) this.coop?.indexed([info.infohashV1, info.infohashV2?.subarray(0, 20)].filter((x): x is Buffer => x !== undefined), source === 'member' ? from : undefined)
          },
          held: (ih) => store.holds(ih),
          fail: (ih, reason) => store.fail(ih, reason),
          defer: (ih, until) => store.defer(ih, until),
        },
        peers: {
          hintsFor: (ih) => triage.hintsFor(ih),
          lookupPeers: async (ih, o) => await dht.lookupPeers(ih, o),
        },
        coop: {
          tryMembers: async (ih, signal) => await (this.coop?.tryMembers(ih, signal) ?? Promise.resolve(null)),
          deferUntil: (ih) => this.coop?.deferUntil(ih) ?? null,
        },
        logger: this.log.child({ component: 'fetcher' }),
      }, { concurrency: c.fetchConcurrency, taskTimeoutMs: c.fetchTimeout })
      this.fetcher = fetcher
      this.started = Date.now()
      if (keys.length > 0) await this.startCooperative(keys, dht)
      this.status = new StatusFile(c.dataDir, () => ({ stats: this.stats(), members: this.memberList(), extensions: this.extensionTraffic(), ...(this.catalog !== null ? { catalog: { ...this.catalog.status(), bytes_served: this.catalog.seederCounters.bytesServed } } : {}) }))
      this.status.start()
      if (this.opts.api !== false) {
        this.api = new ApiServer(this.apiBackend(), { host: c.apiHost, port: c.apiPort, dataDir: c.dataDir, logger: this.log.child({ component: 'api' }) })
        const at = await this.api.start()
        this.log.info({ api: `http://${at.host}:${at.port}` }, 'HTTP API listening')
      }
      if (this.opts.publish !== undefined) await this.startPublishing(dht, store)
      sampler.start()
      fetcher.start()
      this.log.info({ nodeId: nodeId.toString('hex'), dht: dht.address(), nodes: dht.nodeCount() }, 'harvester started')
    } catch (err) {
      await this.close()
      throw err
    }
  }

  private async startPublishing (dht: DhtNode, store: HarvestStore): Promise<void> {
    const signer = this.opts.publisher
    if (signer === undefined) throw new UsageError('publishing needs the publisher key (bbmesh keygen)')
    const p = this.opts.publish ?? {}
    const c = this.config
    this.catalog = new CatalogPublisher({
      dht,
      library: store.store,
      signer,
      pointers: PointerStore.open(c.dataDir),
      stateDir: join(c.dataDir, 'published'),
      ...(p.salt !== undefined ? { salt: p.salt } : {}),
      seeder: { host: c.host, port: c.seedPort },
      includeCatalogs: p.includeCatalogs === true,
      rebuildCheckMs: p.rebuildCheckMs ?? HARVEST_REBUILD_CHECK_MS,
      // The build reads the store in a worker thread: the DHT, the links and the API keep running.
      builder: workerCatalogBuilder(join(c.dataDir, 'index.sqlite')),
      logger: this.log.child({ component: 'publisher' }),
    })
    const st = await this.catalog.start()
    this.log.info({ infohash: st.infohash, records: st.records, seeder: st.seeder, seq: st.seq }, 'publishing the catalog')
  }

  /** The catalog publisher's state (harvest --publish), or null. */
  publishStatus (): PublishStatus | null { return this.catalog?.status() ?? null }

  private async startCooperative (keys: CommunityKey[], dht: DhtNode): Promise<void> {
    const c = this.config
    const targets = (now: number): ReturnType<typeof rendezvousInfohashes> => rendezvousInfohashes(keys, now)
    const mode = c.contribution
    const coop = new CoopFetch({
      nodeId: dht.id,
      mode,
      // A leech serves nothing: every bb_meta request gets "none".
      source: { rawInfo: (ih) => mode === 'leech' ? null : this.store?.rawInfo(ih) ?? null },
      // What we harvested; imported and catalog records are found by bb_search, not gossip.
      held: () => this.store?.sharedInfohashes() ?? [],
      onLearn: (ihs, source) => this.triage?.addMany(ihs, source),
      ownerWaitMs: this.opts.ownerWaitMs,
      joinGraceMs: this.opts.joinGraceMs,
      logger: this.log.child({ component: 'coop' }),
    })
    this.coop = coop
    const membership: Membership = new Membership({
      peerId: makePeerId(),
      host: c.host,
      port: c.peerPort,
      factories: () => [bbAuth({ keys, ...(this.opts.publisher !== undefined ? { publisher: this.opts.publisher } : {}), communityOf: (ih) => targets(Date.now()).find((t) => t.infohash.equals(ih))?.communityId }), ...coop.factories(), this.searchExtension(mode), utPex({ source: membership })],
      targets,
      logger: this.log.child({ component: 'membership' }),
    })
    this.membership = membership
    const addr = await membership.start()
    // Keyspace regions follow the members known: each member that owns fetches samples the
    // nodes near its own ID (where the infohashes it owns are stored); what it finds that
    // another member owns goes there by bb_samples.
    if (this.opts.steerRegions !== false && ownsFetches(mode)) {
      this.regionTimer = setInterval(() => this.steerRegions(), 1000)
      this.regionTimer.unref()
    }
    membership.on('member', (m) => this.log.info({ member: `${m.host}:${m.port}`, community: m.community }, 'member joined'))
    membership.on('memberLost', (m, reason) => { this.log.info({ member: `${m.host}:${m.port}`, reason }, 'member lost'); this.announcer?.kick() })
    // Look often for the first two minutes and whenever we have no member (with no member, the
    // rendezvous is the only way in; once linked, ut_pex brings the others), then every 10 min.
    const since = Date.now()
    const announcer = new RendezvousAnnouncer(dht, { targets, peerPort: addr.port, eager: () => membership.members().length === 0 || Date.now() - since < 120_000 }, this.log.child({ component: 'rendezvous' }))
    this.announcer = announcer
    announcer.on('peer', (p) => membership.offer(p))
    announcer.start()
    this.log.info({ communities: keys.map((k) => k.id), peerPort: addr.port }, 'cooperative started')
  }

  private readonly searchHandles = new Set<BbSearchHandle>()

  /** bb_search on a member link: we answer from our index (a leech answers nothing). */
  private searchExtension (mode: string): ExtensionFactory {
    return bbSearch({
      ...(mode === 'leech' ? {} : { search: (req: SearchRequest) => this.searchLocal({ ...req, cursor: undefined }).hits }),
      onOpen: (h) => this.searchHandles.add(h),
      onClose: (h) => this.searchHandles.delete(h),
    })
  }

  /** A search of our own index. */
  searchLocal (req: SearchRequest): SearchPage {
    if (this.store === null) throw new AbortedError('harvester is not running')
    return this.store.searchPage(req)
  }

  /** What the HTTP API serves from this node. */
  private apiBackend (): ApiBackend {
    return {
      search: (req) => this.searchLocal(req),
      lookup: (hex) => this.lookupLocal(hex),
      ...(this.membership !== null ? { networkSearch: async (req: SearchRequest, timeoutMs: number) => await this.networkSearch(req, timeoutMs) } : {}),
      stats: () => this.stats(),
      members: () => ({ members: this.memberList() }),
      catalogs: () => catalogsReport(this.config.dataDir),
    }
  }

  /** Torrents by a v1 or v2 infohash or a file's pieces root (hex). */
  lookupLocal (hex: string): SearchHit[] {
    if (this.store === null) throw new AbortedError('harvester is not running')
    return this.store.lookup(hex)
  }

  /** A search of our index and every member's (bb_search), merged; members that do not answer within timeoutMs are reported. */
  async networkSearch (req: SearchRequest, timeoutMs: number): Promise<NetworkSearchResult> {
    const score = scorer(req.text)
    return await networkSearch({ local: (r) => this.searchLocal(r).hits, members: () => [...this.searchHandles], score }, req, timeoutMs)
  }

  private regionKey = ''

  private steerRegions (): void {
    const coop = this.coop
    const dht = this.dht
    if (coop === null || dht === null || this.sampler === null) return
    const regions = regionsFor(dht.id, coop.knownOwners())
    const key = regions.map((r) => `${r.prefix.toString('hex')}/${r.bits}`).join(',')
    if (key === this.regionKey) return
    this.regionKey = key
    this.sampler.setRegions(regions)
    this.log.info({ regions: regions.length, bits: regions[0].bits, members: coop.knownOwners().length }, 'sampling region changed')
  }

  /** Bytes and messages by extension, summed over the current member links. */
  extensionTraffic (): Record<string, { bytes_in: number, bytes_out: number, messages_in: number, messages_out: number }> {
    const out: Record<string, { bytes_in: number, bytes_out: number, messages_in: number, messages_out: number }> = {}
    for (const m of this.membership?.members() ?? []) {
      for (const [name, c] of Object.entries(m.link.registry.stats().extensions)) {
        const t = out[name] ?? (out[name] = { bytes_in: 0, bytes_out: 0, messages_in: 0, messages_out: 0 })
        t.bytes_in += c.bytesIn; t.bytes_out += c.bytesOut; t.messages_in += c.messagesIn; t.messages_out += c.messagesOut
      }
    }
    return out
  }

  /** The current members, safe to show (no secrets). */
  memberList (): Array<{ peer_id: string, host: string, port: number, community: string, publisher_key?: string, since: string }> {
    return (this.membership?.members() ?? []).map((m) => ({
      peer_id: m.peerId.toString('hex'),
      host: m.host,
      port: m.port,
      community: m.community,
      ...(m.publisherKey !== undefined ? { publisher_key: m.publisherKey.toString('hex') } : {}),
      since: new Date(m.since).toISOString(),
    }))
  }

  stats (): HarvestStats {
    const s = this.store?.stats()
    const sam = this.sampler?.snapshot()
    const f = this.fetcher?.stats
    const g = this.dht?.guard?.counters
    const now = Date.now()
    const samples = sam?.samples ?? 0
    const fetched = f?.fetched ?? 0
    this.rateWindow.push({ t: now, samples, fetched })
    while (this.rateWindow.length > 2 && now - this.rateWindow[0].t > 10_000) this.rateWindow.shift()
    const first = this.rateWindow[0]
    const dt = Math.max(1, now - first.t) / 1000
    return {
      uptime_s: Math.round((now - (this.started || now)) / 1000),
      nodes: this.dht?.nodeCount() ?? 0,
      sampler_nodes: sam?.nodesKnown ?? 0,
      samples,
      samples_per_s: Math.round((samples - first.samples) / dt),
      infohashes_seen: s?.infohashes_seen ?? 0,
      discovered: this.triage?.counters.discovered ?? 0,
      queue: s?.queue ?? 0,
      fetching: f?.active ?? 0,
      fetched,
      failed: f?.failed ?? 0,
      fetch_rate: Math.round((fetched - first.fetched) / dt * 10) / 10,
      torrents: s?.torrents ?? 0,
      krpc_in: g?.received ?? 0,
      krpc_invalid: g === undefined ? 0 : Object.values(g.invalid).reduce((a, b) => a + b, 0),
      krpc_dropped_out: this.dht?.guard?.pacer.counters.dropped ?? 0,
      members: this.membership?.members().length ?? 0,
      fetched_from_swarm: fetched,
      fetched_from_members: f?.fromMembers ?? 0,
      owner_timeouts: this.coop?.counters.ownerTimeouts ?? 0,
      samples_forwarded: this.coop?.counters.samplesSent ?? 0,
      samples_received: this.coop?.counters.samplesReceived ?? 0,
      pushed: this.coop?.counters.pushed ?? 0,
    }
  }

  /** Stop in reverse order; everything fetched so far is committed. Idempotent. */
  async close (): Promise<void> {
    if (this.closed) return
    this.closed = true
    await this.api?.close()
    await this.catalog?.close()
    this.status?.close()
    if (this.regionTimer !== null) clearInterval(this.regionTimer)
    await this.announcer?.close()
    await this.membership?.close()
    this.coop?.close()
    this.sampler?.close()
    this.passive?.close()
    await this.fetcher?.close()
    this.triage?.close()
    await this.dht?.close()
    this.store?.close()
    this.log.info('harvester stopped')
  }
}

/** A test for "is this one of our rendezvous infohashes", recomputed at most once a minute (it runs per discovery). */
function rendezvousFilter (keys: CommunityKey[]): (ih: Buffer) => boolean {
  let at = 0
  let set = new Set<string>()
  return (ih) => {
    const now = Date.now()
    if (now - at > 60_000) {
      at = now
      set = new Set(rendezvousInfohashes(keys, now).map((t) => t.infohash.toString('hex')))
    }
    return set.has(ih.toString('hex'))
  }
}
