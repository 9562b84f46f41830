// Network search latency: 16 cooperating members on one loopback testnet, each holding its own
// imported torrents (not gossiped), and queries from one member fanned out to the 15 others
// over bb_search. p50/p99 of the whole network search (local search, fan-out, answers, merge).

import { join } from 'node:path'
import { createTestnet } from '../src/testnet/testnet.js'
import { startHarvesters } from '../src/testnet/harvesters.js'
import { generateCommunityKey } from '../src/identity/community-key.js'
import { openStore } from '../src/store/index.js'
import { syntheticTorrent, SYNTHETIC_WORDS } from '../src/torrent/synthetic.js'

const MEMBERS = 16
const PER_MEMBER = 2000
const QUERIES = 200

function pct (sorted: number[], p: number): number { return sorted[Math.min(sorted.length - 1, Math.floor(p / 100 * sorted.length))] }

export async function run (): Promise<{ markdown: string }> {
  const tn = await createTestnet({ nodes: 16, v1: 0, v2: 0, hybrid: 0, seeders: 1, net: 84, seed: 'bench-search-network' })
  let set: Awaited<ReturnType<typeof startHarvesters>> | null = null
  try {
    set = await startHarvesters(tn, MEMBERS, {
      community: generateCommunityKey().format(),
      // One address each: a member accepts at most 4 links from one IP.
      host: (i) => `127.0.1.${i + 1}`,
      // Nothing to harvest here, and 16 members share one process (on real machines each has
      // its own): sampling and fetching are kept to a trickle, else the members sample each
      // other's BEP-51 answers (their imported torrents), try to fetch those from a swarm that
      // has no peers, and the event loop all of them share is busy with that.
      flags: { minRevisit: '600000', fetchConcurrency: '1', samplerConcurrency: '1' },
      prepare: (dir, i) => {
        const store = openStore(join(dir, 'index.sqlite'))
        try {
          for (let b = 0; b < PER_MEMBER; b += 500) {
            store.addTorrents(Array.from({ length: 500 }, (_, j) => {
              const t = syntheticTorrent(`member ${i} torrent ${b + j}`, 'v1')
              return { info: t.info, rawInfo: t.rawInfo, source: 'import', discoveredAt: 1_700_000_000_000 + b + j }
            }))
          }
        } finally { store.close() }
      },
    })
    const nodes = set.nodes
    const deadline = Date.now() + 120_000
    while (Date.now() < deadline && !nodes.every((n) => n.stats().members === MEMBERS - 1)) await new Promise((r) => setTimeout(r, 200))
    const linked = Math.min(...nodes.map((n) => n.stats().members))
    // Words of the synthetic names (three of SYNTHETIC_WORDS each), taken in turn.
    const words = SYNTHETIC_WORDS.slice(0, 8)
    const times: number[] = []
    let answered = 0
    let asked = 0
    let hits = 0
    for (let q = 0; q < QUERIES; q++) {
      const text = words[q % words.length]
      const t0 = process.hrtime.bigint()
      const r = await nodes[q % 4].networkSearch({ text, limit: 50 }, 2000)
      times.push(Number(process.hrtime.bigint() - t0) / 1e6)
      asked += r.members.length
      answered += r.members.filter((m) => m.answered).length
      hits += r.hits.length
      // Under the members' per-link rate (5 queries/s, burst 10): 4 askers in turn.
      await new Promise((resolve) => setTimeout(resolve, 60))
    }
    times.sort((a, b) => a - b)
    return {
      markdown: [
        '## Network search (bb_search)', '',
        `${MEMBERS} cooperating members in one process on one loopback testnet (linked to at least ${linked} others each), each holding ${PER_MEMBER.toLocaleString('en')} imported synthetic torrents of its own (imported records are not gossiped, so every answer must come over bb_search). ${QUERIES} one-word queries (limit 50) from 4 of the members in turn, each fanned out to all the others with a 2 s deadline; the time is the whole network search: local search, fan-out, every answer, merge and ranking. All 16 members share one process and one event loop (so the answers are computed one after another, not in parallel as on 16 machines), with their own sampling and fetching throttled (--min-revisit 600000, --fetch-concurrency 1, --sampler-concurrency 1); without that throttle, members busy fetching each other's sampled infohashes from an empty swarm put p50 near 100 ms.`, '',
        '| queries | members asked per query | answered | mean hits | p50 | p99 | max |',
        '| ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
        `| ${QUERIES} | ${(asked / QUERIES).toFixed(1)} | ${(100 * answered / Math.max(1, asked)).toFixed(1)}% | ${(hits / QUERIES).toFixed(1)} | ${pct(times, 50).toFixed(1)} ms | ${pct(times, 99).toFixed(1)} ms | ${times[times.length - 1].toFixed(1)} ms |`,
        '',
      ].join('\n'),
    }
  } finally {
    await set?.close()
    await tn.close()
  }
}
