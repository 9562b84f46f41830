import { test } from 'node:test'
import assert from 'node:assert/strict'
import { openStore, type Store } from '../../../src/store/index.js'
import { torrent, tempStore, v2short } from './fixtures.js'

let store: Store
const s = tempStore()
const NAMES = [
  'Ubuntu 24.04 Desktop amd64',
  'Debian 12 netinst amd64',
  'Ubuntu 22.04 Server arm64',
  'Café del Mar - Volume 1',
  'Œuvres complètes de Molière',
  'Пушкин Евгений Онегин',
  '東京物語 1953',
  'Big.Buck.Bunny.1080p.mkv',
  'the_matrix-1999',
]
test.before(() => {
  store = openStore(s.path)
  store.addTorrents(NAMES.map((n) => torrent('v1', n)))
})
test.after(() => { store.close(); s.cleanup() })

const names = (q: string, o = {}): string[] => store.search(q, o).map((h) => h.name)

test('one word, any case', () => {
  assert.deepEqual(names('ubuntu'), ['Ubuntu 22.04 Server arm64', 'Ubuntu 24.04 Desktop amd64'])
  assert.deepEqual(names('UBUNTU').length, 2)
  assert.deepEqual(names('netinst'), ['Debian 12 netinst amd64'])
  assert.deepEqual(names('nothing-here'), [])
})

test('several words are ANDed, in any order', () => {
  assert.deepEqual(names('amd64 ubuntu'), ['Ubuntu 24.04 Desktop amd64'])
  assert.deepEqual(names('amd64'), ['Debian 12 netinst amd64', 'Ubuntu 24.04 Desktop amd64'])
  assert.deepEqual(names('ubuntu debian'), [])
})

test('newest first, with limit and offset', () => {
  const all = names('amd64 OR arm64 ubuntu') // OR is a word: no hits
  assert.deepEqual(all, [])
  assert.deepEqual(names('ubuntu', { limit: 1 }), ['Ubuntu 22.04 Server arm64'])
  assert.deepEqual(names('ubuntu', { limit: 1, offset: 1 }), ['Ubuntu 24.04 Desktop amd64'])
  assert.deepEqual(names('ubuntu', { offset: 2 }), [])
})

test('punctuation in names and queries separates words', () => {
  assert.deepEqual(names('big buck bunny'), ['Big.Buck.Bunny.1080p.mkv'])
  assert.deepEqual(names('Big.Buck'), ['Big.Buck.Bunny.1080p.mkv'])
  assert.deepEqual(names('matrix 1999'), ['the_matrix-1999'])
  assert.deepEqual(names('24.04'), ['Ubuntu 24.04 Desktop amd64'])
})

test('unicode: diacritics fold both ways, other scripts match whole words', () => {
  assert.deepEqual(names('cafe'), ['Café del Mar - Volume 1'])
  assert.deepEqual(names('CAFÉ'), ['Café del Mar - Volume 1'])
  assert.deepEqual(names('cafe\u0301'), ['Café del Mar - Volume 1'], 'e + combining acute')
  assert.deepEqual(names('moliere completes'), ['Œuvres complètes de Molière'])
  assert.deepEqual(names('пушкин онегин'), ['Пушкин Евгений Онегин'])
  assert.deepEqual(names('ПУШКИН'), ['Пушкин Евгений Онегин'])
  assert.deepEqual(names('東京物語'), ['東京物語 1953'])
})

test('prefix matching of the last word, when asked', () => {
  assert.deepEqual(names('netin'), [])
  assert.deepEqual(names('netin', { prefix: true }), ['Debian 12 netinst amd64'])
  assert.deepEqual(names('debian net', { prefix: true }), ['Debian 12 netinst amd64'])
})

test('hits carry hex infohashes: v1, else truncated v2 plus the full v2', (t) => {
  const s2 = tempStore()
  const st = openStore(s2.path)
  t.after(() => { st.close(); s2.cleanup() })
  const v1 = torrent('v1', 'zeta one'); const v2 = torrent('v2', 'zeta two', 123); const hy = torrent('hybrid', 'zeta three')
  st.addTorrents([v1, v2, hy])
  const hits = st.search('zeta')
  assert.deepEqual(hits.map((h) => h.name), ['zeta three', 'zeta two', 'zeta one'])
  assert.equal(hits[2].infohash, (v1.info.infohashV1 as Buffer).toString('hex'))
  assert.equal(hits[2].ih_v2, undefined)
  assert.equal(hits[1].infohash, v2short(v2).toString('hex'))
  assert.equal(hits[1].ih_v2, (v2.info.infohashV2 as Buffer).toString('hex'))
  assert.equal(hits[1].size, 123)
  assert.equal(hits[1].files, 1)
  assert.equal(hits[1].discovered_at, v2.discoveredAt)
  assert.equal(hits[0].infohash, (hy.info.infohashV1 as Buffer).toString('hex'))
  assert.equal(hits[0].ih_v2, (hy.info.infohashV2 as Buffer).toString('hex'))
})

test('query plans: FTS5 consumes the ORDER BY and lookups use indexes', () => {
  const plan = (sql: string, params: unknown): string =>
    (store.db.raw.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(params) as Array<{ detail: string }>).map((r) => r.detail).join('; ')
  const search = plan(`SELECT t.name FROM torrents_fts JOIN torrents AS t ON t.id = torrents_fts.rowid
    WHERE torrents_fts MATCH @q ORDER BY torrents_fts.rowid DESC LIMIT 50`, { q: '"x"' })
  assert.doesNotMatch(search, /TEMP B-TREE/)
  assert.match(search, /INTEGER PRIMARY KEY/)
  const has = plan('SELECT EXISTS (SELECT 1 FROM torrents WHERE ih_v1 = @ih) OR EXISTS (SELECT 1 FROM torrents WHERE ih_v2_20 = @ih)', { ih: Buffer.alloc(20) })
  assert.match(has, /INDEX torrents_ih_v1/)
  assert.match(has, /INDEX torrents_ih_v2_20/)
  const lease = plan('SELECT ih FROM fetch_queue WHERE state = 0 AND next_attempt_at <= @now ORDER BY next_attempt_at LIMIT 5', { now: 1 })
  assert.match(lease, /fetch_queue_due/)
  assert.doesNotMatch(lease, /TEMP B-TREE/)
  const expired = plan('SELECT ih FROM fetch_queue WHERE state = 1 AND lease_until <= @now LIMIT 5', { now: 1 })
  assert.match(expired, /fetch_queue_due \(state=\?\)/)
})
