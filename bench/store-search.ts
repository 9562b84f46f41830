// Store search latency: p50/p99 of store.searchPage() (the whole path: query parsing, FTS5
// MATCH, filters, relevance scoring of the candidates, cursor, hex mapping) for each class of
// query, in each order, with each filter, at 1M torrents and at 100k (the growth between the
// two is what the projection to 30M in BENCHMARKS.md rests on). Also: the relevance
// candidate bound K at 500/1000/2000, a page deep in a common word, lookup(), and the other
// reads that must stay cheap at that size.
//
// The databases are built with store.addTorrents() from synthetic torrents whose names are
// drawn from a Zipf vocabulary (the most common word is in ~40% of names). With
// BBMESH_BENCH_CACHE=<dir> they are kept there and reused by later runs.
//
//   node dist/bench/store-search.js      (BBMESH_BENCH_SEARCH_N to change the large size)

import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readSync, rmSync, renameSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { openStore, SCHEMA_VERSION, type Store, type SearchRequest } from '../src/store/index.js'
import { RELEVANCE_CANDIDATES, FILTER_SCAN } from '../src/store/search.js'
import type { SearchFilters, SearchOrder } from '../src/search/types.js'
import { Synth, Zipf, word, prng, percentile, VOCABULARY } from './store-synth.js'

const QUERIES = 500
const BUILD_BATCH = 5000
const SMALL_N = 100_000

/**
 * Read the database file once, so it sits in the OS page cache as it would for a node that
 * has been running (what a fresh file copy or a dropped cache would leave cold).
 */
function warmFile (path: string): void {
  const fd = openSync(path, 'r')
  const buf = Buffer.alloc(8 * 2 ** 20)
  try {
    while (readSync(fd, buf, 0, buf.length, null) > 0) { /* read and drop */ }
  } finally { closeSync(fd) }
}

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

function time (fn: (i: number) => number, reps: number): Lat {
  const ts: number[] = []
  let rows = 0
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now()
    rows += fn(i)
    ts.push(performance.now() - t0)
  }
  ts.sort((a, b) => a - b)
  return { p50: percentile(ts, 50), p99: percentile(ts, 99), max: ts[ts.length - 1], rows: rows / reps }
}

/** The filter classes; discovered_at is 1.7e12 + the row's index, so `since` picks the newest share. */
function filterCases (n: number): Array<[string, SearchFilters]> {
  return [
    ['minSize 4 MiB', { minSize: 4 * 2 ** 20 }],
    ['maxSize 64 KiB', { maxSize: 64 * 2 ** 10 }],
    ['ext bin', { ext: 'bin' }],
    ['ext mkv', { ext: 'mkv' }],
    ['minFiles 10', { minFiles: 10 }],
    ['since (newest 10%)', { since: 1_700_000_000_000 + Math.floor(n * 0.9) }],
    ['all five at once', { minSize: 2 ** 20, maxSize: 2 ** 30, ext: 'bin', minFiles: 2, since: 1_700_000_000_000 + Math.floor(n * 0.5) }],
  ]
}

/** Share of all torrents a filter keeps (one scan of the narrow index). */
function keepShare (store: Store, f: SearchFilters): number {
  const where: string[] = []
  if (f.minSize !== undefined) where.push(`t.total_size >= ${f.minSize}`)
  if (f.maxSize !== undefined) where.push(`t.total_size <= ${f.maxSize}`)
  if (f.minFiles !== undefined) where.push(`t.file_count >= ${f.minFiles}`)
  if (f.since !== undefined) where.push(`t.discovered_at >= ${f.since}`)
  if (f.ext !== undefined) where.push(`EXISTS (SELECT 1 FROM torrent_exts AS e WHERE e.ext = '${f.ext}' AND e.torrent_id = t.id)`)
  const kept = store.db.raw.prepare(`SELECT count(*) FROM torrents AS t INDEXED BY torrents_search WHERE ${where.join(' AND ')}`).pluck().get() as number
  return kept / store.count()
}

interface Case { label: string, text: () => string, order: SearchOrder, filters?: SearchFilters, limit?: number }

/** The query classes, the same for every database size (filters scaled to its id range). */
function cases (n: number, rnd: () => number): Case[] {
  const pick = (lo: number, hi: number): string => word(lo + Math.floor(rnd() * (hi - lo)))
  const common = (): string => pick(0, 5)
  const mid = (): string => pick(100, 1000)
  const rare = (): string => pick(10_000, VOCABULARY)
  // Prefixes of 3 letters of mid words (each common 2-syllable word is itself 2-4 letters).
  const prefix = (): string => `${pick(20, 400).slice(0, 3)}*`
  const out: Case[] = []
  for (const order of ['newest', 'relevance'] as SearchOrder[]) {
    out.push(
      { label: 'rare word (Zipf ranks 10k-50k)', text: rare, order },
      { label: 'mid word (ranks 100-1000)', text: mid, order },
      { label: 'common word (ranks 1-5)', text: common, order },
      { label: 'two common words (ranks 1-10)', text: () => `${pick(0, 10)} ${pick(0, 10)}`, order },
      { label: 'common + rare word', text: () => `${common()} ${rare()}`, order },
      { label: 'two mid words (ranks 50-500)', text: () => `${pick(50, 500)} ${pick(50, 500)}`, order },
      { label: 'phrase of two common words', text: () => `"${pick(0, 10)} ${pick(0, 10)}"`, order },
      { label: 'common word, excluding a common word', text: () => `${pick(0, 3)} -${pick(3, 6)}`, order },
      { label: 'prefix: 3 letters + * (mid words)', text: prefix, order },
      { label: 'absent word', text: () => `zz${Math.floor(rnd() * 1e9)}`, order },
      // The worst case of an inverted index: common words that (almost) never occur together
      // as asked. A tag ("1080p", in ~4% of names) ends a name, so "tag word" is not found
      // next to each other: FTS5 checks every name holding both before it can say so.
      { label: 'phrase that never occurs ("1080p" + a common word)', text: () => `"${['1080p', '720p', 'x264'][Math.floor(rnd() * 3)]} ${common()}"`, order },
    )
  }
  out.push(
    { label: 'common word', text: common, order: 'size' },
    { label: 'mid word', text: mid, order: 'size' },
    { label: 'common word, limit 500', text: common, order: 'newest', limit: 500 },
    { label: 'common word, limit 500', text: common, order: 'relevance', limit: 500 },
  )
  for (const order of ['newest', 'relevance'] as SearchOrder[]) {
    for (const [what, f] of filterCases(n)) {
      out.push({ label: `common word, ${what}`, text: common, order, filters: f })
      out.push({ label: `mid word, ${what}`, text: mid, order, filters: f })
    }
  }
  return out
}

function runCases (store: Store, n: number): Map<string, Lat> {
  const rnd = prng(99)
  // Warm the page cache the way a long-running reader would have it.
  for (let i = 0; i < 300; i++) store.searchPage({ text: word(Math.floor(rnd() * 2000)), order: i % 2 === 0 ? 'newest' : 'relevance' })
  const out = new Map<string, Lat>()
  for (const c of cases(n, rnd)) {
    const req = (): SearchRequest => ({ text: c.text(), order: c.order, filters: c.filters, limit: c.limit ?? 50 })
    out.set(`${c.order}|${c.label}`, time(() => store.searchPage(req()).hits.length, QUERIES))
  }
  return out
}

function dbInfo (store: Store): { mib: number, fts: number, search: number, exts: number } {
  const bytes = (name: string): number => {
    try {
      return (store.db.raw.prepare('SELECT sum(pgsize) FROM dbstat WHERE name = ?').pluck().get(name) as number | null) ?? 0
    } catch { return NaN }
  }
  const ftsBytes = bytes('torrents_fts_data') + bytes('torrents_fts_idx')
  return { mib: store.stats().db_bytes / 2 ** 20, fts: ftsBytes / 2 ** 20, search: bytes('torrents_search') / 2 ** 20, exts: bytes('torrent_exts') / 2 ** 20 }
}

const f2 = (x: number): string => x.toFixed(2)

export async function run (): Promise<{ markdown: string }> {
  const n = Number(process.env.BBMESH_BENCH_SEARCH_N ?? 1_000_000)
  const cache = process.env.BBMESH_BENCH_CACHE
  const dir = cache ?? mkdtempSync(join(tmpdir(), 'bbmesh-bench-search-'))
  mkdirSync(dir, { recursive: true })
  const path = join(dir, `store-search-${n}-s${SCHEMA_VERSION}.db`)
  const smallPath = join(dir, `store-search-${SMALL_N}-s${SCHEMA_VERSION}.db`)
  try {
    const buildS = ensureDb(path, n)
    const smallBuildS = ensureDb(smallPath, SMALL_N)
    // Read-only, like `bbmesh search` beside a running harvester.
    warmFile(smallPath)
    const small = openStore(smallPath, { readonly: true })
    let smallLat: Map<string, Lat>
    let smallInfo
    try {
      smallLat = runCases(small, SMALL_N)
      smallInfo = dbInfo(small)
    } finally { small.close() }
    warmFile(path)
    const store: Store = openStore(path, { readonly: true })
    try {
      const big = runCases(store, n)
      const info = dbInfo(store)
      const zipf = new Zipf()
      const pct = (i: number): string => `${(100 * (1 - (1 - zipf.share(i)) ** 5.5)).toFixed(0)}%`

      // K: the relevance candidate bound, measured with stores opened at 500/1000/2000.
      const kRows: string[] = []
      for (const k of [500, 1000, 2000]) {
        const s = k === RELEVANCE_CANDIDATES ? store : openStore(path, { readonly: true, search: { candidates: k } })
        try {
          const rnd = prng(5)
          const c = time(() => s.searchPage({ text: word(Math.floor(rnd() * 5)) }).hits.length, QUERIES)
          const m = time(() => s.searchPage({ text: word(100 + Math.floor(rnd() * 900)) }).hits.length, QUERIES)
          const t = time(() => s.searchPage({ text: `${word(Math.floor(rnd() * 10))} ${word(Math.floor(rnd() * 10))}` }).hits.length, QUERIES)
          kRows.push(`| ${k}${k === RELEVANCE_CANDIDATES ? ' (default)' : ''} | ${f2(c.p50)} / ${f2(c.p99)} | ${f2(m.p50)} / ${f2(m.p99)} | ${f2(t.p50)} / ${f2(t.p99)} |`)
        } finally { if (s !== store) s.close() }
      }

      // A page deep in a common word: the cursor after 20 pages of 50 (newest), then the same page again and again.
      const deepReq: SearchRequest = { text: word(0), order: 'newest' }
      let cursor: string | undefined
      for (let i = 0; i < 20; i++) cursor = store.searchPage({ ...deepReq, cursor }).next
      const deep = time(() => store.searchPage({ ...deepReq, cursor }).hits.length, QUERIES)
      // The deepest: below the last but 50 of its ~400k matches, reached through a cursor built by paging with limit 500.
      let far: string | undefined
      let pages = 0
      for (;;) {
        const p = store.searchPage({ ...deepReq, limit: 500, cursor: far })
        if (p.next === undefined) break
        far = p.next
        pages++
      }
      const farLat = time(() => store.searchPage({ ...deepReq, limit: 500, cursor: far }).hits.length, 100)

      const some = store.randomInfohashes(200)
      let j = 0
      const look = time(() => store.lookup(some[j++ % some.length].toString('hex')).length, 2000)
      const stats = time(() => { store.stats(); return 1 }, 200)
      const samples = time(() => store.randomInfohashes(20).length, 200)
      const count = time(() => store.db.prepare('SELECT count(*) FROM torrents').pluck().get() as number, 5)
      const st = store.stats()

      const N = n >= 1e6 ? `${n / 1e6}M` : `${n / 1e3}k`
      const rows: string[] = []
      const worst: Lat[] = []
      const growth: number[] = []
      for (const [key, l] of big) {
        const [order, label] = key.split('|')
        const s = smallLat.get(key) as Lat
        worst.push(l)
        if (s.p50 > 0.05) growth.push(l.p50 / s.p50)
        rows.push(`| ${order} | ${label} | ${f2(s.p50)} / ${f2(s.p99)} | ${f2(l.p50)} | ${f2(l.p99)} | ${f2(l.max)} | ${l.rows.toFixed(1)} |`)
      }
      growth.sort((a, b) => a - b)
      // Growth with size alone: the classes whose work is already at its bound at 100k (a
      // common word fills every page, its candidates and its filter scans at both sizes), so
      // 100k -> 1M changes only the index size, not the work per page.
      const saturated: number[] = []
      for (const [key, l] of big) {
        const label = key.split('|')[1]
        if (!/^(common word|two common words|phrase of two common)/.test(label)) continue
        saturated.push(l.p50 / (smallLat.get(key) as Lat).p50)
      }
      saturated.sort((a, b) => a - b)
      const decades = Math.log10(30e6 / n)
      const never = big.get('newest|phrase that never occurs ("1080p" + a common word)')
      const maxP99 = Math.max(...worst.map((l) => l.p99))
      const over = [...big].filter(([, l]) => l.p99 >= 10).map(([k]) => k.replace('|', ': '))
      const markdown = [
        '## Store search',
        '',
        `${st.torrents.toLocaleString('en')} synthetic torrents (names of 3-8 words from a ${VOCABULARY.toLocaleString('en')}-word Zipf vocabulary; the most common word is in ~${pct(0)} of names), database ${info.mib.toFixed(0)} MiB ` +
          `(FTS5 ${info.fts.toFixed(0)} MiB, torrents_search index ${info.search.toFixed(0)} MiB, torrent_exts ${info.exts.toFixed(0)} MiB), ` +
          (buildS > 0 ? `built in ${buildS.toFixed(0)} s with store.addTorrents() (${Math.round(n / buildS / 100) / 10}k rows/s).` : 'reused from BBMESH_BENCH_CACHE.'),
        `The ${SMALL_N.toLocaleString('en')}-torrent database (same generator) is ${smallInfo.mib.toFixed(0)} MiB` +
          (smallBuildS > 0 ? `, built in ${smallBuildS.toFixed(0)} s (${Math.round(SMALL_N / smallBuildS / 100) / 10}k rows/s).` : ', reused from BBMESH_BENCH_CACHE.'),
        `Each database file is read once before timing (in the OS page cache, as for a node that has been running). ` +
          `store.searchPage() on read-only stores, ${QUERIES} queries per row (words drawn at random per query), limit 50 unless noted; times in ms. ` +
          `Relevance and size rank the newest ${RELEVANCE_CANDIDATES} matches; a filtered page looks at ${FILTER_SCAN} matches at most.`,
        '',
        `| order | query | 100k p50 / p99 | ${N} p50 | ${N} p99 | ${N} max | hits |`,
        '| --- | --- | ---: | ---: | ---: | ---: | ---: |',
        ...rows,
        '',
        `Worst p99 at ${N}: ${f2(maxP99)} ms${over.length > 0 ? ` (p99 at or over 10 ms: ${over.join('; ')})` : ' (every class under 10 ms)'}. ` +
          `p50 growth from 100k to ${N} over the classes above 0.05 ms: median ×${f2(percentile(growth, 50))}, max ×${f2(growth[growth.length - 1])}.`,
        '',
        `Growth with the index alone, from 100k to ${N}, over the ${saturated.length} classes whose work per page is already at its bound at 100k (common words): ` +
          `p50 ×${f2(percentile(saturated, 50))} median (×${f2(saturated[0])} to ×${f2(saturated[saturated.length - 1])}); over ${f2(decades)} more decades to 30M that is ` +
          `×${f2(Math.max(1, percentile(saturated, 50)) ** decades)} (median) to ×${f2(Math.max(1, saturated[saturated.length - 1]) ** decades)} (largest).`,
        '',
        `Hot set of search at ${N} (FTS5 + torrents_search + torrent_exts): ${(info.fts + info.search + info.exts).toFixed(0)} MiB, so ~${((info.fts + info.search + info.exts) * 30e6 / n / 1024).toFixed(1)} GiB at 30M; ` +
          `the wide rows (info dicts) are not read by search. A phrase or AND of common words that never occur together is the one class whose work grows with the index ` +
          `(FTS5 checks every name holding both): ${never === undefined ? '?' : `${f2(never.p50)} ms p50 at ${N}, ~${(never.p50 * 30e6 / n).toFixed(0)} ms at 30M if linear`}.`,
        '',
        `Share of the ${st.torrents.toLocaleString('en')} torrents each filter keeps: ${filterCases(n).map(([w, f]) => `${w} ${(100 * keepShare(store, f)).toFixed(1)}%`).join(', ')}.`,
        '',
        `Relevance candidate bound K (p50 / p99 ms at ${N}, default order relevance):`,
        '',
        '| K | common word | mid word | two common words |',
        '| ---: | ---: | ---: | ---: |',
        ...kRows,
        '',
        `Deep pages, newest, common word (~${pct(0)} of names): page 21 (cursor after 1,000 hits) p50 ${f2(deep.p50)} / p99 ${f2(deep.p99)} ms; ` +
          `the last page of 500 (cursor after ${(pages * 500).toLocaleString('en')} hits) p50 ${f2(farLat.p50)} / p99 ${f2(farLat.p99)} ms.`,
        '',
        `Other reads at ${N} (p50 / p99 ms): lookup(40-hex infohash) ${look.p50.toFixed(3)} / ${look.p99.toFixed(3)}; stats() ${stats.p50.toFixed(3)} / ${stats.p99.toFixed(3)}; ` +
          `randomInfohashes(20) ${samples.p50.toFixed(3)} / ${samples.p99.toFixed(3)}; for comparison SELECT count(*) FROM torrents ${count.p50.toFixed(1)} ms.`,
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
