// Hostile search input through the older search(text, opts): each class either finds
// ordinary words or is a UsageError; no SQLite error ever leaves search(). The same parser
// serves searchPage (test/unit/search/query.test.ts, test/unit/store/search-page.test.ts).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { openStore, type Store } from '../../../src/store/index.js'
import { matchExpression, parseQuery } from '../../../src/search/query.js'
import { UsageError } from '../../../src/core/errors.js'
import { LIMITS } from '../../../src/core/limits.js'
import { torrent, tempStore } from './fixtures.js'

let store: Store
const s = tempStore()
test.before(() => {
  store = openStore(s.path)
  store.addTorrents(['ubuntu desktop amd64', 'near and far', 'not or and', 'name column test', 'debian netinst'].map((n) => torrent('v1', n)))
})
test.after(() => { store.close(); s.cleanup() })

const names = (q: string): string[] => store.search(q).map((h) => h.name).sort()
function usage (q: unknown, re: RegExp): void {
  assert.throws(() => store.search(q as string), (e: unknown) => e instanceof UsageError && re.test(e.message))
}

const cases: Array<[string, string, string[]]> = [
  ['FTS operators are plain words', 'NEAR AND', ['near and far']],
  ['OR is a word, not a disjunction', 'ubuntu OR debian', []],
  ['NOT is a word, not a negation', 'not and', ['not or and']],
  ['NEAR() group syntax', 'NEAR(ubuntu desktop, 2)', []],
  ['a trailing star is a prefix (3+ letters)', 'ubun*', ['ubuntu desktop amd64']],
  ['a star inside a word separates', 'ubun*tu', []],
  ['caret initial-token syntax', '^ubuntu', ['ubuntu desktop amd64']],
  ['double quotes', '"ubuntu" "desktop', ['ubuntu desktop amd64']],
  ['unbalanced quote alone', 'ubuntu"', ['ubuntu desktop amd64']],
  ['single quotes', "'ubuntu'", ['ubuntu desktop amd64']],
  ['parentheses', '(ubuntu) (amd64', ['ubuntu desktop amd64']],
  ['column filter name:', 'name:ubuntu', []],
  ['column filter {name}:', '{name} : debian', []],
  ['column filter on a real word', 'name: column', ['name column test']],
  ['plus is text, a leading minus excludes', '+ubuntu -desktop', []],
  ['minus inside a word separates', 'ubuntu-desktop', ['ubuntu desktop amd64']],
  ['control bytes and NUL', 'ubuntu\u0000\u0001\u001f\u007fdesktop', ['ubuntu desktop amd64']],
  ['lone surrogates', 'ubuntu \ud800 \udfff', ['ubuntu desktop amd64']],
  ['SQL injection text', "ubuntu'); DROP TABLE torrents; --", []],
  ['a word the tokenizer splits', 'amd64\u0903x', []],
]
for (const [what, q, want] of cases) {
  test(`hostile: ${what}`, () => {
    assert.deepEqual(names(q), want)
  })
}

test('hostile: empty and punctuation-only queries are a UsageError', () => {
  usage('', /no words/)
  usage('   \t\n', /no words/)
  usage('"" () * ^ : - + AND'.replace('AND', '""'), /no words/)
  usage('-ubuntu', /only excludes/)
  usage('\u0000\u0001', /no words/)
  usage('\u0301\u0301', /no words/)
})

test('hostile: a 10 KB string is a UsageError, before any work', () => {
  usage('a'.repeat(10 * 1024), /bytes is longer than/)
  usage('é'.repeat(LIMITS.searchMaxQueryBytes / 2 + 1), /bytes/)
})

test('hostile: too many terms is a UsageError; repeats count once', () => {
  usage(Array.from({ length: LIMITS.searchMaxTerms + 1 }, (_, i) => `w${i}`).join(' '), /at most/)
  assert.deepEqual(names(Array(LIMITS.searchMaxTerms + 5).fill('ubuntu').join(' ')), ['ubuntu desktop amd64'])
})

test('hostile: not a string, bad limit or offset are UsageErrors', () => {
  usage(undefined, /must be text/)
  usage({ toString: () => 'ubuntu' }, /must be text/)
  for (const limit of [0, -1, 1.5, NaN, LIMITS.searchMaxLimit + 1, Infinity]) {
    assert.throws(() => store.search('ubuntu', { limit }), UsageError)
  }
  for (const offset of [-1, 0.5, 1e9]) assert.throws(() => store.search('ubuntu', { offset }), UsageError)
})

test('the MATCH expression is only quoted words, AND and NOT', () => {
  const m = (q: string, prefixLast = false): string => matchExpression(parseQuery(q, { prefixLast }))
  assert.equal(m('NEAR("a" b)* name:c'), '"NEAR" AND "a" AND "b" AND "name c"')
  assert.equal(m('ubun', true), '"ubun"*')
  assert.equal(m('ub', true), '"ub"')
  assert.equal(m('a -b'), '("a") NOT "b"')
})

test('random bytes never raise anything but a UsageError', () => {
  let seed = 7
  const rnd = (): number => { seed = (seed * 1103515245 + 12345) % 2147483648; return seed / 2147483648 }
  const alphabet = ['"', "'", '*', '^', ':', '(', ')', '{', '}', '-', '+', 'NEAR', 'AND', 'OR', 'NOT', ' ', 'ubuntu', 'é', '\u0000', '日本', '\ud800', 'name', ',', '\\']
  for (let i = 0; i < 2000; i++) {
    let q = ''
    const n = Math.floor(rnd() * 12)
    for (let j = 0; j < n; j++) q += alphabet[Math.floor(rnd() * alphabet.length)]
    try {
      store.search(q, { prefix: rnd() < 0.5 })
    } catch (e) {
      assert.ok(e instanceof UsageError, `query ${JSON.stringify(q)} threw ${String(e)}`)
    }
  }
})
