// bbmesh's BEP-51 sampler against a DHT of real libtorrent 2.0 nodes: libtorrent announces
// 120 random infohashes (magnets), the sampler (on a bbmesh DhtNode bootstrapped from the
// libtorrent nodes) discovers every one of them, uses all 20 samples of a full answer, and
// never asks a node again before its interval (libtorrent advertises 0, so the sampler's
// minRevisitMs floor applies). A missing python3-libtorrent fails the file (never skips).

import { test } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { requireLibtorrent, startLtNet, type LtNet, type LtSessionInfo } from '../helpers/libtorrent.js'
import { DhtNode, type DhtQueryResult } from '../../crawler/dht-node.js'
import { Sampler } from '../../crawler/sampler.js'
import { WHOLE_KEYSPACE } from '../../src/core/infohash.js'
import type { PeerAddr } from '../../src/core/compact.js'
import { poll } from '../helpers/cli.js'

const SESSIONS = 10
const INFOHASHES = 120
/** The sampler's floor between two queries to one node (libtorrent says interval 0). */
const MIN_REVISIT_MS = 700

interface Asked { at: number, interval: number | null, samples: Buffer | null, num: number | null }

test('the sampler discovers every infohash a libtorrent DHT holds, honouring intervals', { timeout: 120_000 }, async (t) => {
  requireLibtorrent()
  let net: LtNet | null = null
  let node: DhtNode | null = null
  let sampler: Sampler | null = null
  try {
    net = await startLtNet()
    const lt = net
    // Harness profile: sample interval 0, libtorrent's per-IP DHT rate limit lifted (we keep
    // bbmesh's own pacing at its real-network default anyway, see below).
    const ses: LtSessionInfo[] = (await lt.start({ sessions: SESSIONS })).sessions

    // 120 random infohashes, added as magnets over the sessions: libtorrent announces each one
    // to the nodes closest to it, which store it (what sample_infohashes samples).
    const announced = new Map<string, number>()
    for (let i = 0; i < INFOHASHES; i++) {
      const ih = randomBytes(20).toString('hex')
      const session = i % SESSIONS
      announced.set(ih, session)
      await lt.addMagnet({ session, infohash: ih })
    }
    const t0 = Date.now()
    // Ground truth from libtorrent alone: every infohash is stored on some node, so a
    // get_peers lookup from another session finds the announcing session as a peer.
    const pending = new Set(announced.keys())
    await poll('every infohash stored in the libtorrent DHT', async () => {
      await Promise.all([...pending].map(async (ih) => {
        const from = ((announced.get(ih) as number) + 1) % SESSIONS
        const who = ses[announced.get(ih) as number]
        const r = await lt.dhtGetPeers({ session: from, infohash: ih, timeoutMs: 3_000 })
        if (r.peers.some(([h, p]) => h === who.host && p === who.port)) pending.delete(ih)
      }))
      return pending.size === 0 ? true : undefined
    }, 40_000, 200)
    // ...and libtorrent's own sample_infohashes sees them in the nodes' storage.
    let stored = 0
    for (const s of ses) {
      const other = (s.session + 1) % SESSIONS
      const st = await lt.stats(s.session)
      const r = await lt.sampleInfohashes({ session: other, host: s.host, port: s.dhtPort })
      assert.equal(r.interval, 0, 'harness profile: libtorrent advertises interval 0')
      assert.equal(r.numInfohashes, st.dhtTorrents, `session ${s.session}: num is what it stores`)
      for (const x of r.samples) assert.ok(announced.has(x), `session ${s.session} samples ${x}, which nobody announced`)
      stored += r.numInfohashes
    }
    t.diagnostic(`${INFOHASHES} infohashes stored in ${Date.now() - t0} ms, ${stored} copies over ${SESSIONS} nodes`)
    assert.ok(stored >= INFOHASHES)

    // The bbmesh node. Pacing stays at bbmesh's default (4 packets/s per IP, burst 4): every
    // libtorrent session has its own 127.0.N.2 address, so that is 4/s per session, what the
    // real network tolerates (libtorrent's stock dht_block_ratelimit is 5/s).
    node = new DhtNode({ host: '127.0.0.1', port: 0, bootstrap: ses.map((s) => ({ host: s.host, port: s.dhtPort })) })
    await node.start({ bootstrapTimeoutMs: 10_000 })
    const n = node
    // Record every sample_infohashes the sampler sends and what came back.
    const asked = new Map<string, Asked[]>()
    const query = n.query.bind(n)
    n.query = async (to: PeerAddr, q: string, a: Record<string, unknown>): Promise<DhtQueryResult> => {
      if (q !== 'sample_infohashes') return await query(to, q, a)
      const rec: Asked = { at: Date.now(), interval: null, samples: null, num: null }
      const key = `${to.host}:${to.port}`
      const list = asked.get(key) ?? []
      list.push(rec)
      asked.set(key, list)
      const res = await query(to, q, a)
      rec.interval = typeof res.r.interval === 'number' ? res.r.interval : null
      rec.num = typeof res.r.num === 'number' ? res.r.num : null
      rec.samples = res.r.samples instanceof Uint8Array ? Buffer.from(res.r.samples) : null
      return res
    }

    sampler = new Sampler({ node: n }, { region: WHOLE_KEYSPACE, minRevisitMs: MIN_REVISIT_MS })
    const discovered = new Set<string>()
    let events = 0
    let full = 0
    const mismatches: string[] = []
    sampler.on('samples', (ihs: Buffer[], from: { id: Buffer, host: string, port: number }, num: number) => {
      // (No assert in here: a throw would land inside the sampler. Collect, assert later.)
      events++
      for (const ih of ihs) discovered.add(ih.toString('hex'))
      const last = asked.get(`${from.host}:${from.port}`)?.at(-1)
      // Every sample of the answer was emitted, in order, and num passed through.
      if (last?.samples == null || !Buffer.concat(ihs).equals(last.samples)) mismatches.push(`${from.host}:${from.port}: emitted samples differ from the answer`)
      if (num !== last?.num) mismatches.push(`${from.host}:${from.port}: num ${num} != ${last?.num}`)
      if (ihs.length === 20 && last?.samples?.length === 400) full++
    })
    const t1 = Date.now()
    sampler.start()
    const missing = await poll('every announced infohash discovered by sampling', () => {
      const m = [...announced.keys()].filter((ih) => !discovered.has(ih))
      return m.length === 0 ? m : undefined
    }, 60_000, 100).catch(() => [...announced.keys()].filter((ih) => !discovered.has(ih)))
    const st = sampler.snapshot()
    sampler.close()
    t.diagnostic(`discovered all in ${Date.now() - t1} ms: ${st.queries} queries, ${st.answers} answers, ${events} sample events, ${full} full answers, ${discovered.size} distinct`)

    assert.deepEqual(missing, [], 'every announced infohash discovered')
    for (const ih of discovered) assert.ok(announced.has(ih), `discovered ${ih}, which nobody announced`)
    assert.deepEqual(mismatches, [])
    assert.ok(full >= 1, 'at least one answer carried 20 samples, all 20 emitted')
    assert.equal(st.timeouts, 0)
    assert.equal(st.errors, 0)

    // Intervals: every node was asked again only after max(its interval, minRevisitMs).
    const lt127 = new Set(ses.map((s) => `${s.host}:${s.dhtPort}`))
    let revisits = 0
    for (const [key, list] of asked) {
      assert.ok(lt127.has(key), `sampled ${key}, which is no libtorrent session`)
      for (let i = 1; i < list.length; i++) {
        const prev = list[i - 1]
        assert.equal(prev.interval, 0, `${key} advertised interval ${prev.interval}`)
        const floor = Math.max((prev.interval ?? 0) * 1000, MIN_REVISIT_MS)
        const gap = list[i].at - prev.at
        assert.ok(gap >= floor, `${key} asked again after ${gap} ms < ${floor} ms`)
        revisits++
      }
    }
    assert.ok(revisits > 0, 'nodes were sampled more than once')
    assert.equal(n.guard?.pacer.counters.dropped, 0, 'no packet dropped by the pacer')
  } finally {
    sampler?.close()
    await node?.close()
    await net?.close()
  }
})
