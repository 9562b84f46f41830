// Issue 3's acceptance test, against real libtorrent 2.0: the swarm (libtorrent seeders) sees
// about one metadata fetch per torrent when harvesters cooperate, and one per harvester when
// they do not. libtorrent creates and seeds 200 small torrents (v1, v2-only, hybrid), each on
// one of 8 sessions, and announces them to its own DHT. Five HarvesterNodes that know only
// the libtorrent DHT endpoints harvest them, first sharing one community key (run A), then
// without one (run B, fresh data directories, same libtorrent net). The seeders count every
// ut_metadata data message they send (peer_log), per torrent: with info dicts under 16 KiB
// one data message is one fetch. libtorrent's count is the authority; bbmesh's own
// fetched_from_swarm must not exceed it. A missing python3-libtorrent fails the file.

import { test, type TestContext } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { requireLibtorrent, startLtNet, type LtNet, type LtSessionInfo } from '../helpers/libtorrent.js'
import { HarvesterNode } from '../../src/node/harvester-node.js'
import { loadConfig } from '../../src/config/load.js'
import { generateCommunityKey } from '../../src/identity/community-key.js'
import { closestMember } from '../../src/coop/ownership.js'
import { rendezvousInfohash, utcDay } from '../../src/coop/rendezvous.js'

const SESSIONS = 8
const MEMBERS = 5
const MIX = { v1: 140, v2: 30, hybrid: 30 } as const
type Mode = keyof typeof MIX
const N = MIX.v1 + MIX.v2 + MIX.hybrid
/** Longest wait for every member to hold every torrent, per run. */
const RUN_DEADLINE_MS = 120_000
/** Longest wait, after that, for the members' fetchers to go idle (a hybrid's other key may be in flight). */
const IDLE_DEADLINE_MS = 30_000
const OWNER_WAIT_MS = 20_000

interface Seeded { key: string, v1: string | null, v2: string | null, mode: Mode, session: number, name: string }
/** ut_metadata traffic of one seeded torrent, as its libtorrent session counted it. */
interface Served { pieces: number, requests: number }
interface Snapshot { torrents: Map<string, Served>, outgoingMetadata: number }

/** A swarm or member fetch as a member's store saw it complete. */
interface Completion { member: number, key: string, source: string, t: number }

interface RunResult {
  label: string
  /** Seeder-side data messages per torrent key during the run. */
  served: Map<string, number>
  swarmFetches: number
  perTorrent: number
  /** Sessions' own ut_metadata-sent counters (libtorrent session stats) during the run. */
  sessionMetadataOut: number
  bbSwarm: number
  bbMembers: number
  torrents: number[]
  completions: Completion[]
  ids: Buffer[]
  allHaveMs: number | null
  linkedMs: Array<number | null>
  wallMs: number
  diag: string[]
}

const sleep = async (ms: number): Promise<void> => await new Promise((resolve) => setTimeout(resolve, ms))

/** Small content: half single files, half folders of 2-3 files, 1..7 KiB each. */
function makeContent (parent: string, name: string, i: number): string {
  mkdirSync(parent, { recursive: true })
  if (i % 2 === 0) {
    const file = `${name}.bin`
    writeFileSync(join(parent, file), randomBytes(1024 + (i * 997) % 6000))
    return file
  }
  const root = join(parent, name)
  mkdirSync(join(root, 'extras'), { recursive: true })
  writeFileSync(join(root, 'readme.txt'), `${name}\n`.repeat(1 + i % 40))
  writeFileSync(join(root, 'extras', 'data.bin'), randomBytes(2048 + (i * 131) % 4096))
  if (i % 4 === 3) writeFileSync(join(root, 'cover.jpg'), randomBytes(3000 + i % 1000))
  return name
}

/** The 20-byte keys a torrent is announced and indexed under (v1, truncated v2), hex. */
const keysOf = (s: Seeded): string[] => [s.v1, s.v2 === null ? null : s.v2.slice(0, 40)].filter((x): x is string => x !== null)

async function snapshot (net: LtNet, ses: LtSessionInfo[]): Promise<Snapshot> {
  const torrents = new Map<string, Served>()
  let outgoingMetadata = 0
  for (const s of ses) {
    const st = await net.stats(s.session, { timeoutMs: 10_000 })
    outgoingMetadata += st.numOutgoingMetadata
    for (const t of st.torrents) if (t.kind === 'seed') torrents.set(t.infohash, { pieces: t.metadataPiecesOut, requests: t.metadataRequestsIn })
  }
  return { torrents, outgoingMetadata }
}

async function seedAll (net: LtNet, ses: LtSessionInfo[], work: string): Promise<Seeded[]> {
  const plan: Array<{ mode: Mode, i: number }> = []
  for (const mode of Object.keys(MIX) as Mode[]) for (let k = 0; k < MIX[mode]; k++) plan.push({ mode, i: plan.length })
  // Interleave the kinds over the sessions: torrent i lives on session i % SESSIONS only.
  const made = await Promise.all(plan.map(async ({ mode, i }) => {
    const parent = join(work, 'data', `t${i}`)
    const name = `bbmesh coop ${mode} ${i} ${randomBytes(3).toString('hex')}`
    const path = join(parent, makeContent(parent, name, i))
    const c = await net.createTorrent({ path, mode, timeoutMs: 60_000 })
    return { c, parent, mode, session: ses[i % ses.length].session }
  }))
  return await Promise.all(made.map(async ({ c, parent, mode, session }) => {
    const s = await net.seed({ session, torrent: c.torrent, savePath: parent, timeoutMs: 60_000 })
    assert.equal(s.infohash, c.infohash)
    assert.equal(c.v1 !== null, mode !== 'v2', `${mode}: v1 hash`)
    assert.equal(c.v2 !== null, mode !== 'v1', `${mode}: v2 hash`)
    return { key: c.infohash, v1: c.v1, v2: c.v2, mode, session, name: c.name }
  }))
}

/** What a leftover fetch-queue key is: a seeded torrent's key, a rendezvous infohash of the community, or something else. */
function labeller (seeded: Seeded[], communityKey: Buffer, ses: LtSessionInfo[]): (ihHex: string) => string {
  const labels = new Map<string, string>()
  for (const s of ses) labels.set(s.nodeId, `node id of libtorrent session ${s.session}`)
  for (const s of seeded) for (const k of keysOf(s)) labels.set(k, `${s.mode} ${k === s.v1 ? 'v1' : 'v2'} key`)
  for (let d = -2; d <= 2; d++) labels.set(rendezvousInfohash(communityKey, utcDay(Date.now() + d * 86_400_000)).toString('hex'), `rendezvous (day ${d})`)
  return (ih) => {
    const h = ih.toLowerCase()
    return labels.get(h) ?? (seeded.some((s) => s.v2?.includes(h) === true) ? 'a slice of a v2 hash' : 'not ours')
  }
}

async function runHarvesters (net: LtNet, ses: LtSessionInfo[], seeded: Seeded[], o: { label: string, community: string | null, hostBase: number, work: string, labelOf: (ihHex: string) => string }): Promise<RunResult> {
  const before = await snapshot(net, ses)
  const t0 = Date.now()
  const dirs: string[] = []
  const nodes: HarvesterNode[] = []
  const completions: Completion[] = []
  const diag: string[] = []
  const linkedMs: Array<number | null> = new Array(MEMBERS).fill(null)
  let allHaveMs: number | null = null
  try {
    const started = await Promise.allSettled(Array.from({ length: MEMBERS }, async (_, i) => {
      const dir = mkdtempSync(join(o.work, `${o.label}-m${i}-`))
      dirs.push(dir)
      const flags: Record<string, string> = {
        dataDir: dir, bootstrap: '', host: `127.0.0.${o.hostBase + i}`, dhtPort: '0', peerPort: '0', perIpRate: '50', minRevisit: '0', logLevel: 'silent',
      }
      if (o.community !== null) flags.community = o.community
      const { config, sources } = loadConfig(flags, {})
      const node = new HarvesterNode(config, {
        bootstrapPeers: ses.map((s) => ({ host: s.host, port: s.dhtPort })), configSources: sources, ownerWaitMs: OWNER_WAIT_MS, bootstrapTimeoutMs: 10_000,
      })
      nodes[i] = node
      await node.start()
      // Every completion with its source ('dht': from the swarm, 'member': over bb_meta).
      const hs = node.store as NonNullable<HarvesterNode['store']>
      const complete = hs.complete
      hs.complete = (ih, raw, source) => {
        completions.push({ member: i, key: ih.toString('hex'), source, t: Date.now() - t0 })
        return complete(ih, raw, source)
      }
    }))
    for (const r of started) if (r.status === 'rejected') throw r.reason
    const ready = nodes.filter((n): n is HarvesterNode => n !== undefined)
    diag.push(`started ${ready.length} members in ${Date.now() - t0} ms`)

    const deadline = t0 + RUN_DEADLINE_MS
    for (;;) {
      const st = ready.map((n) => n.stats())
      st.forEach((s, i) => { if (linkedMs[i] === null && s.members >= MEMBERS - 1) linkedMs[i] = Date.now() - t0 })
      if (st.every((s) => s.torrents >= N)) { allHaveMs = Date.now() - t0; break }
      if (Date.now() > deadline) break
      await sleep(250)
    }
    // A hybrid's other key may still be in flight: let the fetchers finish before counting.
    const idleBy = Date.now() + IDLE_DEADLINE_MS
    while (Date.now() < idleBy && ready.some((n) => n.stats().fetching > 0)) await sleep(100)
    await sleep(300)

    const st = ready.map((n) => n.stats())
    for (const [i, n] of ready.entries()) {
      // What is left in the fetch queue once every torrent is in (none of it should be a seeded torrent).
      const left = (n.store?.store.db.raw.prepare('SELECT hex(ih) AS ih, state, attempts, last_error AS err FROM fetch_queue').all() ?? []) as Array<{ ih: string, state: number, attempts: number, err: string | null }>
      const ids = ready.map((m) => m.dht?.id.toString('hex'))
      const queueLeft = left.map((q) => {
        const member = ids.indexOf(q.ih.toLowerCase())
        return { what: member >= 0 ? `node id of m${member}` : o.labelOf(q.ih), ih: q.ih.slice(0, 12).toLowerCase(), state: q.state, attempts: q.attempts, err: q.err }
      })
      diag.push(`m${i} ${JSON.stringify({ torrents: st[i].torrents, members: st[i].members, fetching: st[i].fetching, fetcher: n.fetcher?.stats, coop: n.coop?.counters, linkedMs: linkedMs[i], queueLeft })}`)
    }
    const after = await snapshot(net, ses)
    const served = new Map<string, number>()
    let swarmFetches = 0
    for (const s of seeded) {
      const d = (after.torrents.get(s.key)?.pieces ?? 0) - (before.torrents.get(s.key)?.pieces ?? 0)
      served.set(s.key, d)
      swarmFetches += d
    }
    return {
      label: o.label,
      served,
      swarmFetches,
      perTorrent: swarmFetches / N,
      sessionMetadataOut: after.outgoingMetadata - before.outgoingMetadata,
      bbSwarm: st.reduce((a, s) => a + s.fetched_from_swarm, 0),
      bbMembers: st.reduce((a, s) => a + s.fetched_from_members, 0),
      torrents: st.map((s) => s.torrents),
      completions,
      ids: ready.map((n) => Buffer.from((n.dht as NonNullable<HarvesterNode['dht']>).id)),
      allHaveMs,
      linkedMs,
      wallMs: Date.now() - t0,
      diag,
    }
  } finally {
    for (const n of nodes) await n?.close()
    for (const d of dirs) rmSync(d, { recursive: true, force: true })
  }
}

/** Per kind: torrents, seeder data messages, torrents served more than once / never. */
function byKind (r: RunResult, seeded: Seeded[]): string {
  return (Object.keys(MIX) as Mode[]).map((mode) => {
    const of = seeded.filter((s) => s.mode === mode)
    const n = of.reduce((a, s) => a + (r.served.get(s.key) ?? 0), 0)
    const over = of.filter((s) => (r.served.get(s.key) ?? 0) > 1).length
    const zero = of.filter((s) => (r.served.get(s.key) ?? 0) === 0).length
    return `${mode} ${of.length} torrents ${n} served (${(n / of.length).toFixed(2)}/torrent, ${over} more than once, ${zero} never)`
  }).join('; ')
}

/** One line per torrent the seeders served more than once: who fetched it from the swarm, under which key, and who owns each key. */
function overServed (r: RunResult, seeded: Seeded[]): string[] {
  const lines: string[] = []
  for (const s of seeded) {
    const n = r.served.get(s.key) ?? 0
    if (n <= 1) continue
    const keys = keysOf(s)
    const owners = keys.map((k) => `${k === s.v1 ? 'v1' : 'v2'} key owner m${closestMember(Buffer.from(k, 'hex'), r.ids)}`)
    const events = r.completions.filter((c) => keys.includes(c.key)).sort((a, b) => a.t - b.t)
      .map((c) => `m${c.member} ${c.source === 'dht' ? 'SWARM' : c.source} ${c.key === s.v1 ? 'v1' : 'v2'}-key +${(c.t / 1000).toFixed(1)}s`)
    lines.push(`#   ${s.mode} ${s.key.slice(0, 12)} (session ${s.session}) served ${n}x; ${owners.join(', ')}; ${events.join(', ')}`)
  }
  return lines
}

/** The over-served torrents in short: one member fetching both keys of a hybrid, or two members; how late the extra fetches came. */
function overServedSummary (r: RunResult, seeded: Seeded[]): string {
  let same = 0; let several = 0; let ownersDiffer = 0
  const lags: number[] = []
  for (const s of seeded) {
    if ((r.served.get(s.key) ?? 0) <= 1) continue
    const keys = keysOf(s)
    const swarm = r.completions.filter((c) => c.source === 'dht' && keys.includes(c.key)).sort((a, b) => a.t - b.t)
    if (new Set(swarm.map((c) => c.member)).size > 1) several++; else same++
    if (new Set(keys.map((k) => closestMember(Buffer.from(k, 'hex'), r.ids))).size > 1) ownersDiffer++
    for (const c of swarm.slice(1)) lags.push(c.t - swarm[0].t)
  }
  lags.sort((a, b) => a - b)
  const q = (p: number): string => lags.length === 0 ? '-' : `${(lags[Math.min(lags.length - 1, Math.floor(p * lags.length))] / 1000).toFixed(1)} s`
  return `${same + several} torrents: ${same} fetched more than once by one member, ${several} by several; ${ownersDiffer} have keys owned by different members; ` +
    `extra swarm fetches completed after the first one by median ${q(0.5)}, max ${q(1)}`
}

/** Torrents whose bbmesh-side swarm fetches (completions from the swarm, both keys) differ from what the seeder served. */
function disagreements (r: RunResult, seeded: Seeded[]): string[] {
  const out: string[] = []
  for (const s of seeded) {
    const keys = keysOf(s)
    const bb = r.completions.filter((c) => c.source === 'dht' && keys.includes(c.key)).length
    const lt = r.served.get(s.key) ?? 0
    if (bb !== lt) out.push(`${s.mode} ${s.key.slice(0, 12)}: libtorrent ${lt}, bbmesh ${bb}`)
  }
  return out
}

test(`${MEMBERS} cooperating harvesters cost libtorrent seeders about one metadata fetch per torrent, independent ones one each`, { timeout: 300_000 }, async (t: TestContext) => {
  requireLibtorrent()
  const tStart = Date.now()
  const work = mkdtempSync(join(tmpdir(), 'bbmesh-coop-lt-'))
  let net: LtNet | null = null
  try {
    net = await startLtNet()
    const ses = (await net.start({ sessions: SESSIONS, peerLog: true })).sessions
    const seeded = await seedAll(net, ses, work)
    assert.equal(new Set(seeded.map((s) => s.key)).size, N, 'distinct torrents')
    t.diagnostic(`libtorrent ${net.version}: ${N} torrents (${MIX.v1} v1, ${MIX.v2} v2, ${MIX.hybrid} hybrid) created and seeding on ${SESSIONS} sessions in ${Date.now() - tStart} ms`)

    const key = generateCommunityKey()
    const labelOf = labeller(seeded, key.key, ses)
    const coop = await runHarvesters(net, ses, seeded, { label: 'coop', community: key.format(), hostBase: 11, work, labelOf })
    for (const l of coop.diag) t.diagnostic(`coop ${l}`)
    t.diagnostic(`coop: all members had all torrents at ${coop.allHaveMs} ms; members linked at ${JSON.stringify(coop.linkedMs)}; libtorrent data messages ${coop.swarmFetches} (session counter ${coop.sessionMetadataOut}), bbmesh swarm ${coop.bbSwarm}, members ${coop.bbMembers}`)
    console.log(`# cooperating by kind: ${byKind(coop, seeded)}`)
    if (coop.perTorrent > 1.0) {
      console.log(`# torrents the libtorrent seeders served more than once while cooperating (owner = XOR-closest member, SWARM = fetched from the seeder):`)
      for (const l of overServed(coop, seeded)) console.log(l)
      console.log(`# served more than once while cooperating: ${overServedSummary(coop, seeded)}`)
    }
    const coopDis = disagreements(coop, seeded)
    if (coopDis.length > 0) console.log(`# cooperating, libtorrent vs bbmesh per torrent differ for ${coopDis.length}: ${coopDis.slice(0, 30).join('; ')}`)

    const solo = await runHarvesters(net, ses, seeded, { label: 'solo', community: null, hostBase: 21, work, labelOf })
    for (const l of solo.diag) t.diagnostic(`solo ${l}`)
    t.diagnostic(`independent: all members had all torrents at ${solo.allHaveMs} ms; libtorrent data messages ${solo.swarmFetches} (session counter ${solo.sessionMetadataOut}), bbmesh swarm ${solo.bbSwarm}`)
    console.log(`# independent by kind: ${byKind(solo, seeded)}`)
    const soloDis = disagreements(solo, seeded)
    if (soloDis.length > 0) console.log(`# independent, libtorrent vs bbmesh per torrent differ for ${soloDis.length}: ${soloDis.slice(0, 30).join('; ')}`)

    console.log(`# libtorrent seeders, ${N} torrents, ${MEMBERS} harvesters: swarm fetches per torrent cooperating ${coop.perTorrent.toFixed(2)} (${coop.bbMembers} from members), independent ${solo.perTorrent.toFixed(2)}; bbmesh-side swarm fetches ${coop.bbSwarm} / ${solo.bbSwarm}; file ${((Date.now() - tStart) / 1000).toFixed(1)} s`)

    for (const r of [coop, solo]) {
      r.torrents.forEach((n, i) => assert.equal(n, N, `${r.label}: member ${i} ends with every torrent`))
      assert.ok(r.swarmFetches >= r.bbSwarm, `${r.label}: libtorrent served ${r.swarmFetches} metadata fetches, fewer than the ${r.bbSwarm} bbmesh says it made`)
    }
    assert.ok(coop.bbMembers > 0, 'members fetched from each other')
    assert.ok(solo.perTorrent >= 4.5, `independent: ${solo.perTorrent} swarm fetches per torrent`)
    assert.ok(coop.perTorrent <= 1.1, `cooperating: ${coop.perTorrent} swarm fetches per torrent (independent ${solo.perTorrent})`)
  } finally {
    await net?.close()
    rmSync(work, { recursive: true, force: true })
  }
})
