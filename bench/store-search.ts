// Store search latency at 1M torrents: p50/p99 of store.search() (the whole path: word
// split, FTS5 MATCH newest-first, row lookups, hex mapping) for rare words, common words and
// two-word queries, plus the other reads that must stay cheap at that size (stats, samples,
// hasTorrent) and what a COUNT(*) would cost instead of the counters.
//
// The 1M-row database is built with store.addTorrents() from synthetic torrents whose names
// are drawn from a Zipf vocabulary (the most common word is in ~40% of names). With
// BBMESH_BENCH_CACHE=<dir> it is kept there and reused by later runs.
//
//   node dist/bench/store-search.js      (BBMESH_BENCH_SEARCH_N to change the size)

import { existsSync, mkdirSync, mkdtempSync, rmSync, renameSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { openStore, SCHEMA_VERSION, type Store } from '../src/store/index.js'
import { Synth, Zipf, word, prng, percentile, VOCABULARY } from './store-synth.js'

const QUERIES = 500
const BUILD_BATCH = 5000

function removeDb (path: string): void {
  for (const s of ['', '-wal', '-shm']) rmSync(path + s, { force: true })
}

/** Open the cached database if it is complete, else build it; returns build seconds (0 when reused). */
function ensureDb (path: string, n: number): number {
  if (existsSync(path)) {
    try {
      const s = openStore(path, { readonly: true })
      const ok = s.count() === n
      s.close()
      if (ok) return 0
    } catch { /* stale or broken cache: rebuild */ }
    removeDb(path)
  }
  // Build under a temporary name and rename at the end, so an interrupted build is never reused.
  const tmp = `${path}.building`
  removeDb(tmp)
  const t0 = performance.now()
  const store = openStore(tmp)
  const synth = new Synth(7)
  for (let i = 0; i < n; i += BUILD_BATCH) store.addTorrents(synth.records(Math.min(BUILD_BATCH, n - i)))
  store.db.raw.pragma('wal_checkpoint(TRUNCATE)')
  store.close()
  renameSync(tmp, path)
  removeDb(`${tmp}`)
  return (performance.now() - t0) / 1000
}

interface Lat { p50: number, p99: number, max: number, rows: number }

function time (fn: () => number, reps: number): Lat {
  const ts: number[] = []
  let rows = 0
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now()
    rows += fn()
    ts.push(performance.now() - t0)
  }
  ts.sort((a, b) => a - b)
  return { p50: percentile(ts, 50), p99: percentile(ts, 99), max: ts[ts.length - 1], rows: rows / reps }
}

export async function run (): Promise<{ markdown: string }> {
  const n = Number(process.env.BBMESH_BENCH_SEARCH_N ?? 1_000_000)
  const cache = process.env.BBMESH_BENCH_CACHE
  const dir = cache ?? mkdtempSync(join(tmpdir(), 'bbmesh-bench-search-'))
  mkdirSync(dir, { recursive: true })
  const path = join(dir, `store-search-${n}-s${SCHEMA_VERSION}.db`)
  try {
    const buildS = ensureDb(path, n)
    // Read-only, like `bbmesh search` beside a running harvester.
    const store: Store = openStore(path, { readonly: true })
    try {
      const rnd = prng(99)
      const pick = (lo: number, hi: number): string => word(lo + Math.floor(rnd() * (hi - lo)))
      const zipf = new Zipf()
      const pct = (i: number): string => `${(100 * (1 - (1 - zipf.share(i)) ** 5.5)).toFixed(0)}%`
      const sets: Array<[string, () => string]> = [
        [`common word (Zipf ranks 1-5; rank 1 in ~${pct(0)} of names)`, () => pick(0, 5)],
        ['mid word (ranks 100-1000)', () => pick(100, 1000)],
        [`rare word (ranks 10k-${VOCABULARY / 1000}k)`, () => pick(10_000, VOCABULARY)],
        ['absent word', () => `zz${Math.floor(rnd() * 1e9)}`],
        ['two common words (ranks 1-10)', () => `${pick(0, 10)} ${pick(0, 10)}`],
        ['common + rare word', () => `${pick(0, 3)} ${pick(10_000, VOCABULARY)}`],
        ['two mid words (ranks 50-500)', () => `${pick(50, 500)} ${pick(50, 500)}`],
        ['common word, limit 500', () => pick(0, 5)],
        ['common word, offset 1000', () => pick(0, 5)],
      ]
      // Warm the page cache the way a long-running reader would have it.
      for (let i = 0; i < 200; i++) store.search(pick(0, 2000))
      const rows: string[] = []
      for (const [label, q] of sets) {
        const opts = label.includes('limit 500') ? { limit: 500 } : label.includes('offset') ? { offset: 1000 } : {}
        const l = time(() => store.search(q(), opts).length, QUERIES)
        rows.push(`| ${label} | ${l.p50.toFixed(2)} | ${l.p99.toFixed(2)} | ${l.max.toFixed(2)} | ${l.rows.toFixed(1)} |`)
      }
      const pre = time(() => store.search(pick(0, 5).slice(0, 3), { prefix: true }).length, 100)
      const pre5 = time(() => store.search(pick(1000, 5000).slice(0, 5), { prefix: true }).length, 100)
      const stats = time(() => { store.stats(); return 1 }, 200)
      const samples = time(() => store.randomInfohashes(20).length, 200)
      const some = store.randomInfohashes(200)
      let k = 0
      const has = time(() => (store.hasTorrent(some[k++ % some.length]) ? 1 : 0), 2000)
      const count = time(() => store.db.prepare('SELECT count(*) FROM torrents').pluck().get() as number, 5)
      const st = store.stats()
      const markdown = [
        '## Store search',
        '',
        `${st.torrents.toLocaleString('en')} synthetic torrents (names of 3-8 words from a ${VOCABULARY.toLocaleString('en')}-word Zipf vocabulary), database ${(st.db_bytes / 2 ** 20).toFixed(0)} MiB, ` +
          (buildS > 0 ? `built in ${buildS.toFixed(0)} s with store.addTorrents() (${Math.round(n / buildS / 100) / 10}k rows/s).` : 'reused from BBMESH_BENCH_CACHE.'),
        `store.search() on a read-only store, ${QUERIES} queries per row, limit 50 unless noted, newest first; times in ms.`,
        '',
        '| query | p50 | p99 | max | rows |',
        '| --- | ---: | ---: | ---: | ---: |',
        ...rows,
        `| prefix of 3 letters of a common word (opt-in) | ${pre.p50.toFixed(2)} | ${pre.p99.toFixed(2)} | ${pre.max.toFixed(2)} | ${pre.rows.toFixed(1)} |`,
        `| prefix of 5 letters of a mid word (opt-in) | ${pre5.p50.toFixed(2)} | ${pre5.p99.toFixed(2)} | ${pre5.max.toFixed(2)} | ${pre5.rows.toFixed(1)} |`,
        '',
        `Other reads at this size (p50 / p99 ms): stats() ${stats.p50.toFixed(3)} / ${stats.p99.toFixed(3)}; randomInfohashes(20) ${samples.p50.toFixed(3)} / ${samples.p99.toFixed(3)}; ` +
          `hasTorrent() ${has.p50.toFixed(4)} / ${has.p99.toFixed(4)}; for comparison SELECT count(*) FROM torrents ${count.p50.toFixed(1)} ms.`,
        '',
      ].join('\n')
      return { markdown }
    } finally {
      store.close()
    }
  } finally {
    if (cache === undefined) rmSync(dir, { recursive: true, force: true })
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  run().then((r) => console.log(r.markdown), (e) => { console.error(e); process.exitCode = 1 })
}
