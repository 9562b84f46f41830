// store.searchPage() and store.lookup(): filters, orders, relevance, cursors, lookups, the
// migration that indexes extensions, and hostile input against the real FTS5.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import BetterSqlite3 from 'better-sqlite3'
import { encode } from '../../../src/core/bencode.js'
import { openStore, type Store, type SearchHit, type SearchPage, type SearchRequest } from '../../../src/store/index.js'
import { walkSql, SCAN_EDGE_SQL, LOOKUP_SCORE } from '../../../src/store/search.js'
import { parseQuery } from '../../../src/search/query.js'
import { relevance } from '../../../src/search/rank.js'
import { extOf } from '../../../src/search/request.js'
import type { SearchFilters, SearchOrder } from '../../../src/search/types.js'
import { UsageError } from '../../../src/core/errors.js'
import type { TorrentRecord } from '../../../src/torrent/types.js'
import { rawInfoMulti, record, torrent, tempStore, v2short } from './fixtures.js'

const T0 = 1_700_000_000_000
const DAY = 86_400_000

interface Fix { name: string, files: Array<[string, number]> }
// Stored in this order: ids 1..n, discovered one day apart.
const FIX: Fix[] = [
  { name: 'Big Buck Bunny 1080p', files: [['Big Buck Bunny 1080p.mkv', 4_000_000], ['subs/en.srt', 2_000]] },
  { name: 'big red buck', files: [['big red buck.avi', 700_000]] },
  { name: 'buck big', files: [['buck big.MKV', 9_000_000]] },
  { name: 'Big Buck Bunny', files: [['a.mkv', 100], ['b.mkv', 200], ['c.nfo', 300]] },
  { name: 'Ubuntu 24.04 Desktop amd64', files: [['ubuntu-24.04-desktop-amd64.iso', 6_000_000]] },
  { name: 'Debian big netinst', files: [['debian.iso', 400_000], ['README', 10]] },
  { name: 'The Big Buck Bunny remastered edition 2008', files: [['movie.mkv', 4_000_000], ['extras/making.of.mp4', 900_000]] },
  { name: 'buck', files: [['buck.flac', 4_000_000]] },
]

function rec (f: Fix, i: number): TorrentRecord {
  return record(rawInfoMulti(f.name, f.files.map(([p, size]) => ({ path: p.split('/'), size }))), 'test', T0 + i * DAY)
}

interface Meta { id: number, name: string, size: number, files: number, at: number, exts: string[] }
const META: Meta[] = FIX.map((f, i) => ({
  id: i + 1,
  name: f.name,
  size: f.files.reduce((a, [, s]) => a + s, 0),
  files: f.files.length,
  at: T0 + i * DAY,
  exts: f.files.map(([p]) => extOf(p)).filter((e): e is string => e !== null),
}))

let store: Store
const s = tempStore()
test.before(() => {
  store = openStore(s.path)
  store.addTorrents(FIX.map(rec))
})
test.after(() => { store.close(); s.cleanup() })

const names = (p: SearchPage): string[] => p.hits.map((h) => h.name)
const page = (text: string, o: Partial<SearchRequest> = {}): SearchPage => store.searchPage({ text, ...o })

/** Every page of a request, following `next`; asserts pages are disjoint. */
function allPages (st: Store, req: SearchRequest): { hits: SearchHit[], pages: number, capped: boolean } {
  const hits: SearchHit[] = []
  let cursor = req.cursor
  let pages = 0
  let capped = false
  for (;;) {
    const p = st.searchPage({ ...req, cursor })
    pages++
    capped ||= p.capped === true
    for (const h of p.hits) assert.ok(!hits.some((x) => x.infohash === h.infohash), `hit ${h.name} on two pages`)
    hits.push(...p.hits)
    if (p.next === undefined) return { hits, pages, capped }
    assert.ok(pages < 1000, 'runaway pagination')
    cursor = p.next
  }
}

/** The fixture rows the filters keep, among those whose name has every word (lower-case, whole words). */
function expected (words: string[], f: SearchFilters): Meta[] {
  return META.filter((m) => {
    const toks = m.name.toLowerCase().split(/[^\p{L}\p{N}]+/u)
    return words.every((w) => toks.includes(w)) &&
      (f.minSize === undefined || m.size >= f.minSize) && (f.maxSize === undefined || m.size <= f.maxSize) &&
      (f.minFiles === undefined || m.files >= f.minFiles) && (f.since === undefined || m.at >= f.since) &&
      (f.ext === undefined || m.exts.includes(f.ext))
  })
}

test('relevance (the default order): the phrase first, shorter names and earlier matches next, scattered words last', () => {
  assert.deepEqual(names(page('big buck')), [
    'Big Buck Bunny', // phrase, 3 words
    'Big Buck Bunny 1080p', // phrase, 4 words
    'The Big Buck Bunny remastered edition 2008', // phrase, later and longer
    'big red buck', // in order, a word between
    'buck big', // reversed
  ])
  const q = parseQuery('big buck')
  for (const h of page('big buck').hits) assert.equal(h.score, relevance(q, h.name))
})

test('every hit carries its relevance, whatever the order', () => {
  const q = parseQuery('buck')
  for (const order of ['newest', 'size', 'relevance'] as SearchOrder[]) {
    const p = page('buck', { order })
    assert.equal(p.hits.length, 6)
    for (const h of p.hits) {
      assert.equal(h.score, relevance(q, h.name))
      assert.ok(h.score > 0 && h.score <= 1)
    }
  }
  assert.equal(page('buck').hits[0].name, 'buck', 'the name that is the query comes first')
  assert.equal(page('buck').hits[0].score, 1)
})

test('orders: newest is stored order descending, size is largest first (ties newest first)', () => {
  const want = expected(['buck'], {})
  assert.deepEqual(names(page('buck', { order: 'newest' })), [...want].sort((a, b) => b.id - a.id).map((m) => m.name))
  assert.deepEqual(page('buck', { order: 'size' }).hits.map((h) => [h.name, h.size]),
    [...want].sort((a, b) => b.size - a.size || b.id - a.id).map((m) => [m.name, m.size]))
  const sizes = page('buck', { order: 'size' }).hits.map((h) => h.size)
  assert.ok(sizes.includes(4_002_000) && sizes.filter((x) => x === 4_000_000).length === 1)
})

test('each filter, alone and together, in every order', () => {
  const filters: SearchFilters[] = [
    { minSize: 1_000_000 }, { maxSize: 1_000_000 }, { minSize: 600, maxSize: 4_002_000 }, { ext: 'mkv' }, { ext: '.MKV' },
    { ext: 'srt' }, { ext: 'mp4' }, { ext: 'avi' }, { ext: 'iso' }, { minFiles: 2 }, { minFiles: 3 }, { since: T0 + 3 * DAY },
    { since: T0 + 100 * DAY }, { ext: 'mkv', minFiles: 2, since: T0 + DAY }, { ext: 'mkv', minSize: 5_000_000 }, { ext: 'zip' },
  ]
  for (const words of [['big'], ['buck'], ['big', 'buck'], ['bunny']]) {
    for (const f of filters) {
      const norm = f.ext === undefined ? f : { ...f, ext: f.ext.replace(/^\./, '').toLowerCase() }
      const want = expected(words, norm).map((m) => m.name).sort()
      for (const order of ['newest', 'size', 'relevance'] as SearchOrder[]) {
        const got = allPages(store, { text: words.join(' '), filters: f, order, limit: 2 }).hits.map((h) => h.name).sort()
        assert.deepEqual(got, want, `${words.join(' ')} ${JSON.stringify(f)} ${order}`)
      }
    }
  }
})

test('cursor pagination: pages are disjoint, complete and in order, for every order and page size', () => {
  for (const order of ['newest', 'size', 'relevance'] as SearchOrder[]) {
    const full = page('big', { order, limit: 100 })
    assert.equal(full.next, undefined)
    for (const limit of [1, 2, 3, 5]) {
      const { hits, pages } = allPages(store, { text: 'big', order, limit })
      assert.deepEqual(hits.map((h) => h.infohash), full.hits.map((h) => h.infohash), `${order} limit ${limit}`)
      assert.equal(pages, Math.max(1, Math.ceil(full.hits.length / limit)))
    }
  }
})

test('a cursor that was edited, or belongs to another query, filters or order, is a UsageError', () => {
  const p = page('big', { limit: 2 })
  const next = p.next as string
  assert.ok(next !== undefined && /^[A-Za-z0-9_-]+$/.test(next))
  const bad = (req: Partial<SearchRequest>, cursor: string, re: RegExp): void => {
    assert.throws(() => store.searchPage({ text: 'big', limit: 2, ...req, cursor }), (e: unknown) => e instanceof UsageError && re.test(e.message), cursor)
  }
  // Every single-character edit is refused.
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'
  for (let i = 0; i < next.length; i++) {
    const c = alphabet[(alphabet.indexOf(next[i]) + 17) % alphabet.length]
    bad({}, next.slice(0, i) + c + next.slice(i + 1), /bad cursor/)
  }
  bad({ text: 'buck' }, next, /another query/)
  bad({ filters: { minFiles: 1 } }, next, /another query or filters/)
  bad({ order: 'newest' }, next, /another order/)
  bad({}, '', /bad cursor/)
  bad({}, 'x'.repeat(300), /bad cursor/)
  bad({}, 'not a cursor!', /bad cursor/)
  bad({}, Buffer.from('[1,"r","x",1,2,3]').toString('base64url'), /bad cursor/)
  bad({}, Buffer.from('{"o":"r"}').toString('base64url'), /bad cursor/)
  // The same cursor with the same request works, and a limit change is allowed.
  assert.ok(store.searchPage({ text: 'big', limit: 2, cursor: next }).hits.length > 0)
  assert.ok(store.searchPage({ text: 'big', limit: 3, cursor: next }).hits.length > 0)
})

test('relevance ranks the newest K matches: exact below K, capped above, pages stay within them', (t) => {
  const s2 = tempStore()
  const st = openStore(s2.path, { search: { candidates: 3 } })
  t.after(() => { st.close(); s2.cleanup() })
  st.addTorrents(FIX.map(rec))
  const bunny = st.searchPage({ text: 'bunny' }) // 3 matches: exactly K
  assert.equal(bunny.capped, undefined)
  assert.equal(bunny.hits.length, 3)
  const r = allPages(st, { text: 'buck', limit: 2 }) // 6 matches
  assert.equal(r.capped, true)
  const newest3 = expected(['buck'], {}).sort((a, b) => b.id - a.id).slice(0, 3).map((m) => m.name).sort()
  assert.deepEqual(r.hits.map((h) => h.name).sort(), newest3)
  assert.deepEqual(allPages(st, { text: 'buck', order: 'size' }).hits.map((h) => h.name).sort(), newest3)
  // Newest reaches every match.
  assert.equal(allPages(st, { text: 'buck', order: 'newest', limit: 2 }).hits.length, 6)
})

test('a filtered page looks at a bounded number of matches: short pages with a cursor, complete in the end', (t) => {
  const s2 = tempStore()
  const st = openStore(s2.path, { search: { filterScan: 2, candidates: 2 } })
  t.after(() => { st.close(); s2.cleanup() })
  st.addTorrents(FIX.map(rec))
  // 'buck' matches ids 1,2,3,4,7,8; ext mkv keeps 1,3,4,7.
  const p1 = st.searchPage({ text: 'buck', order: 'newest', filters: { ext: 'mkv' }, limit: 10 })
  assert.deepEqual(names(p1), ['The Big Buck Bunny remastered edition 2008'], 'ids 8 and 7 were looked at')
  assert.ok(p1.next !== undefined)
  const all = allPages(st, { text: 'buck', order: 'newest', filters: { ext: 'mkv' }, limit: 10 })
  assert.deepEqual(all.hits.map((h) => h.name), ['The Big Buck Bunny remastered edition 2008', 'Big Buck Bunny', 'buck big', 'Big Buck Bunny 1080p'])
  // Relevance with filters ranks what passes among the newest filterScan matches.
  const rel = st.searchPage({ text: 'buck', filters: { ext: 'mkv' } })
  assert.deepEqual(names(rel), ['The Big Buck Bunny remastered edition 2008'])
  assert.equal(rel.capped, true)
  // None of the matches looked at passes: an empty page that still says more exist.
  const none = st.searchPage({ text: 'buck', filters: { ext: 'avi' } })
  assert.deepEqual(none, { hits: [], capped: true })
  assert.deepEqual(names(st.searchPage({ text: 'buck', order: 'newest', filters: { ext: 'avi' } })), [])
  assert.deepEqual(allPages(st, { text: 'buck', order: 'newest', filters: { ext: 'avi' } }).hits.map((h) => h.name), ['big red buck'])
})

test('pages stay consistent while the index grows: new torrents wait for a new search', (t) => {
  const s2 = tempStore()
  const st = openStore(s2.path)
  t.after(() => { st.close(); s2.cleanup() })
  st.addTorrents(FIX.map(rec))
  for (const order of ['newest', 'size', 'relevance'] as SearchOrder[]) {
    const p1 = st.searchPage({ text: 'buck', order, limit: 3 })
    st.addTorrents([record(rawInfoMulti(`buck ${order} late`, [{ path: ['x.mkv'], size: 99_000_000 }]), 'test', T0 + 50 * DAY)])
    const rest = allPages(st, { text: 'buck', order, limit: 3, cursor: p1.next })
    const seen = [...p1.hits, ...rest.hits].map((h) => h.name)
    assert.equal(new Set(seen).size, seen.length, `${order}: a hit twice`)
    assert.ok(!seen.includes(`buck ${order} late`), `${order}: a torrent stored after the first page appeared`)
  }
})

test('deep pages of a common word: every match once, in order (row ids bound as integers)', (t) => {
  const s2 = tempStore()
  const st = openStore(s2.path)
  t.after(() => { st.close(); s2.cleanup() })
  const recs: TorrentRecord[] = []
  for (let i = 0; i < 400; i++) recs.push(torrent('v1', `common ${i % 3 === 0 ? 'third' : 'other'} ${i}`))
  st.addTorrents(recs)
  const newest = allPages(st, { text: 'common', order: 'newest', limit: 7 }).hits.map((h) => h.name)
  assert.deepEqual(newest, recs.map((r) => r.info.name).reverse())
  const thirds = allPages(st, { text: 'common third', order: 'newest', limit: 9, filters: { maxSize: 1000 } }).hits.length
  assert.equal(thirds, 134)
  const rel = allPages(st, { text: 'common', limit: 50 })
  assert.equal(rel.hits.length, 400)
  assert.equal(rel.capped, false)
})

test('exclusions, phrases and prefixes reach FTS5 as meant', () => {
  assert.deepEqual(names(page('buck -bunny', { order: 'newest' })), ['buck', 'buck big', 'big red buck'])
  assert.deepEqual(names(page('big -"buck bunny" -red', { order: 'newest' })), ['Debian big netinst', 'buck big'])
  assert.deepEqual(names(page('"big buck"', { order: 'newest' })), ['The Big Buck Bunny remastered edition 2008', 'Big Buck Bunny', 'Big Buck Bunny 1080p'])
  assert.deepEqual(names(page('bun*', { order: 'newest' })), ['The Big Buck Bunny remastered edition 2008', 'Big Buck Bunny', 'Big Buck Bunny 1080p'])
  assert.deepEqual(names(page('24.04', { order: 'newest' })), ['Ubuntu 24.04 Desktop amd64'])
  assert.deepEqual(names(page('04.24', { order: 'newest' })), [])
  assert.throws(() => page('-buck'), UsageError)
})

test('lookup: v1, hybrid (v1, truncated v2, full v2), v2, pieces root in several torrents', (t) => {
  const s2 = tempStore()
  const st = openStore(s2.path)
  t.after(() => { st.close(); s2.cleanup() })
  const v1 = torrent('v1', 'look v1'); const hy = torrent('hybrid', 'look hybrid'); const v2 = torrent('v2', 'look v2')
  const root = Buffer.alloc(32, 7)
  const shared = (name: string): TorrentRecord => record(encode({ name, 'piece length': 16384, 'meta version': 2, 'file tree': { 'shared.bin': { '': { length: 1000, 'pieces root': root } } } }))
  const a = shared('shared a'); const b = shared('shared b')
  st.addTorrents([v1, hy, v2, a, b])
  const hex = (x: Uint8Array | undefined): string => Buffer.from(x as Uint8Array).toString('hex')
  const one = (key: string): string[] => st.lookup(key).map((h) => h.name)
  assert.deepEqual(one(hex(v1.info.infohashV1)), ['look v1'])
  assert.deepEqual(one(hex(v1.info.infohashV1).toUpperCase()), ['look v1'])
  assert.deepEqual(one(hex(hy.info.infohashV1)), ['look hybrid'])
  assert.deepEqual(one(hex(v2short(hy))), ['look hybrid'])
  assert.deepEqual(one(hex(hy.info.infohashV2)), ['look hybrid'])
  assert.deepEqual(one(hex(v2.info.infohashV2)), ['look v2'])
  assert.deepEqual(one(hex(v2short(v2))), ['look v2'])
  assert.deepEqual(one(`1220${hex(v2.info.infohashV2)}`), ['look v2'])
  const byRoot = st.lookup(root.toString('hex'))
  assert.deepEqual(byRoot.map((h) => [h.name, h.score]), [['shared b', LOOKUP_SCORE.piecesRoot], ['shared a', LOOKUP_SCORE.piecesRoot]])
  // A v2 infohash is looked up as a pieces root too; here it names only its torrent.
  const own = st.lookup(hex(a.info.infohashV2))
  assert.deepEqual(own.map((h) => [h.name, h.score]), [['shared a', LOOKUP_SCORE.infohash]])
  const hit = st.lookup(hex(hy.info.infohashV1))[0]
  assert.equal(hit.infohash, hex(hy.info.infohashV1))
  assert.equal(hit.ih_v2, hex(hy.info.infohashV2))
  assert.equal(hit.score, LOOKUP_SCORE.infohash)
  assert.deepEqual(st.lookup('00'.repeat(20)), [])
  assert.deepEqual(st.lookup('00'.repeat(32)), [])
  for (const k of ['', 'ab', 'zz'.repeat(20), '0'.repeat(41), '0'.repeat(63), 'g'.repeat(64)]) {
    assert.throws(() => st.lookup(k), UsageError, k)
  }
})

test('query plans: FTS5 consumes the ORDER BY; joins seek torrent_exts and the narrow torrents_search index', () => {
  const plan = (sql: string, params: Record<string, unknown>): string =>
    (store.db.raw.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(params) as Array<{ detail: string }>).map((r) => r.detail).join('; ')
  const base = { q: '"x"', top: 10, n: 5 }
  const cases: Array<[SearchFilters, string, Record<string, unknown>]> = [
    [{}, '', {}],
    [{ ext: 'mkv' }, '', { ext: 'mkv', lo: 1 }],
    [{ minSize: 1 }, ' AND t.total_size >= @minSize', { minSize: 1, lo: 1 }],
  ]
  for (const [f, sql, params] of cases) {
    for (const inclusive of [false, true]) {
      const p = plan(walkSql('t.id, t.name', f, sql, inclusive, 'lo' in params), { ...base, ...params })
      assert.doesNotMatch(p, /TEMP B-TREE/, p)
      assert.match(p, /^SCAN torrents_fts VIRTUAL TABLE/, p)
      assert.match(p, /COVERING INDEX torrents_search \(id=\?\)/, p)
      if (f.ext !== undefined) assert.match(p, /SEARCH e USING PRIMARY KEY \(ext=\? AND torrent_id=\?\)/, p)
    }
  }
  assert.doesNotMatch(plan(SCAN_EDGE_SQL(false), { q: '"x"', top: 1, skip: 1 }), /TEMP B-TREE/)
  const roots = (store.db.raw.prepare('EXPLAIN QUERY PLAN SELECT DISTINCT torrent_id FROM files WHERE pieces_root = ? ORDER BY torrent_id DESC LIMIT 5')
    .all(Buffer.alloc(32)) as Array<{ detail: string }>).map((r) => r.detail).join('; ')
  assert.match(roots, /files_pieces_root/)
})

test('migration 2 indexes the extensions of torrents stored before it', (t) => {
  const s2 = tempStore()
  t.after(s2.cleanup)
  let st = openStore(s2.path)
  st.addTorrents(FIX.map(rec))
  st.close()
  // Back to schema v1, as a store written by an older release (migrations 2 and 3 run again).
  const raw = new BetterSqlite3(s2.path)
  raw.exec('DROP INDEX torrents_search; DROP INDEX torrents_harvested; DROP TABLE torrent_exts; PRAGMA user_version = 1')
  raw.close()
  st = openStore(s2.path)
  t.after(() => st.close())
  const rows = st.db.raw.prepare('SELECT ext, torrent_id FROM torrent_exts ORDER BY torrent_id, ext').all()
  const want = META.flatMap((m) => [...new Set(m.exts)].sort().map((ext) => ({ ext, torrent_id: m.id })))
  assert.deepEqual(rows, want)
  assert.deepEqual(names(st.searchPage({ text: 'buck', order: 'newest', filters: { ext: 'mkv' } })), expected(['buck'], { ext: 'mkv' }).reverse().map((m) => m.name))
})

test('the older search(text, opts) still works beside searchPage, with scores', () => {
  const hits = store.search('big buck', { limit: 2, offset: 1 })
  assert.equal(hits.length, 2)
  for (const h of hits) assert.equal(typeof h.score, 'number')
  assert.deepEqual(store.search('bunn', { prefix: true }).map((h) => h.name), names(page('bunn*', { order: 'newest' })))
})

test('property: any text, filters and order give a page or a UsageError, never a database error', () => {
  const text = fc.oneof(
    fc.string({ unit: 'binary', maxLength: 60 }),
    fc.string({ unit: fc.constantFrom('"', '*', '^', ':', '(', ')', '-', ' ', 'NEAR', 'AND', 'NOT', 'OR', 'name', 'big', 'buck', 'bun', '\u0000', '\ud800', 'é', '🎬', ','), maxLength: 20 }),
  )
  const filters = fc.record({
    minSize: fc.option(fc.oneof(fc.nat(), fc.integer(), fc.double()), { nil: undefined }),
    maxSize: fc.option(fc.nat(), { nil: undefined }),
    ext: fc.option(fc.oneof(fc.constantFrom('mkv', '.srt', 'MKV'), fc.string({ maxLength: 20 })), { nil: undefined }),
    minFiles: fc.option(fc.nat(5), { nil: undefined }),
    since: fc.option(fc.nat(), { nil: undefined }),
  }, { requiredKeys: [] })
  const order = fc.constantFrom<SearchOrder>('newest', 'size', 'relevance')
  const cursor = fc.option(fc.oneof(fc.string({ maxLength: 40 }), fc.base64String({ maxLength: 40 })), { nil: undefined })
  fc.assert(fc.property(text, filters, order, fc.integer({ min: -1, max: 600 }), cursor, (q, f, o, limit, c) => {
    try {
      const p = store.searchPage({ text: q, filters: f, order: o, limit, cursor: c })
      assert.ok(Array.isArray(p.hits))
    } catch (e) {
      assert.ok(e instanceof UsageError, `${JSON.stringify({ q, f, o, limit, c })} threw ${String(e)}`)
    }
  }), { numRuns: 1500 })
})
