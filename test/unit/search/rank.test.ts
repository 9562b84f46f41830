// relevance() (src/search/rank.ts): a pure function of the query and the name.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import { relevance, scorer, WEIGHTS, GAP_CREDIT } from '../../../src/search/rank.js'
import { parseQuery } from '../../../src/search/query.js'
import { UsageError } from '../../../src/core/errors.js'

const score = (q: string, name: string): number => relevance(parseQuery(q), name)
/** Names in the order relevance puts them (ties keep the given order). */
const ranked = (q: string, names: string[]): string[] =>
  names.map((n, i) => ({ n, i, s: score(q, n) })).sort((a, b) => b.s - a.s || a.i - b.i).map((x) => x.n)

test('the name that is the query scores 1; the formula on a worked example', () => {
  assert.equal(score('big buck bunny', 'Big.Buck.Bunny'), 1)
  assert.equal(score('"big buck bunny"', 'big buck bunny'), 1)
  // order 1 (both pairs adjacent), exact 1, cover 3/5, first 1/(1+1).
  const want = Math.round((WEIGHTS.order * 1 + WEIGHTS.exact * 1 + WEIGHTS.cover * (3 / 5) + WEIGHTS.first * (1 / 2)) * 1e6) / 1e6
  assert.equal(score('big buck bunny', 'The Big Buck Bunny 1080p'), want)
  // Words in order with a word between: the pair earns GAP_CREDIT.
  const gap = Math.round((WEIGHTS.order * GAP_CREDIT + WEIGHTS.exact * 1 + WEIGHTS.cover * (2 / 3) + WEIGHTS.first * 1) * 1e6) / 1e6
  assert.equal(score('big buck', 'big red buck'), gap)
})

test('the exact phrase ranks above the same words scattered, whatever the lengths', () => {
  assert.deepEqual(ranked('big buck', ['big red buck', 'buck big', 'Big Buck Bunny 1080p x264 remastered edition 2008']), [
    'Big Buck Bunny 1080p x264 remastered edition 2008', 'big red buck', 'buck big'])
  assert.ok(score('big buck', 'x x x x x x x x x x x x x x x x x x x x big buck') > score('big buck', 'big x buck'))
})

test('words in the order typed rank above the same words reversed', () => {
  assert.ok(score('ubuntu desktop', 'ubuntu 24.04 desktop') > score('ubuntu desktop', 'desktop 24.04 ubuntu'))
})

test('shorter names rank higher: a larger share of their words matched', () => {
  assert.deepEqual(ranked('ubuntu', ['Ubuntu 24.04 Desktop amd64 iso', 'Ubuntu 24.04', 'ubuntu']), ['ubuntu', 'Ubuntu 24.04', 'Ubuntu 24.04 Desktop amd64 iso'])
})

test('an earlier match ranks higher', () => {
  assert.ok(score('ubuntu', 'ubuntu linux x') > score('ubuntu', 'linux x ubuntu'))
})

test('a whole word ranks above a prefix match', () => {
  assert.ok(score('ubun*', 'ubun tools') > score('ubun*', 'ubuntu tools'))
  assert.ok(score('ubun*', 'ubuntu tools') > 0)
  assert.equal(score('ubun', 'ubuntu tools'), 0, 'without *, a longer word is no match')
})

test('case and accents fold; excluded words do not count', () => {
  assert.equal(score('CAFE del mar', 'Café del Mar'), 1)
  assert.equal(score('cafe -volume', 'Café'), score('cafe', 'Café'))
})

test('a name without the words scores 0 on everything but nothing else', () => {
  assert.equal(score('ubuntu', 'debian netinst'), 0)
  assert.equal(score('ubuntu', ''), 0)
  assert.equal(score('ubuntu', '🎬 ---'), 0)
})

test('scorer parses once and refuses what is not a query', () => {
  const s = scorer('big buck')
  assert.equal(s('big buck'), 1)
  assert.throws(() => scorer('-only'), UsageError)
})

test('property: deterministic, in [0, 1], at most 6 decimals, 1 for the query itself', () => {
  const word = fc.stringMatching(/^[a-z0-9]{1,6}$/)
  fc.assert(fc.property(fc.array(word, { minLength: 1, maxLength: 5 }), fc.array(word, { maxLength: 12 }), fc.constantFrom(' ', '.', '_', '-'), (qw, nw, sep) => {
    const q = parseQuery(qw.join(' '))
    const name = nw.join(sep)
    const s = relevance(q, name)
    assert.ok(s >= 0 && s <= 1)
    assert.equal(s, relevance(q, name))
    assert.equal(Math.round(s * 1e6) / 1e6, s)
    // The distinct query words as the whole name: every term found, in order, adjacent.
    const distinct = [...new Set(qw)]
    assert.equal(relevance(parseQuery(distinct.join(' ')), distinct.join(sep)), 1)
  }), { numRuns: 500 })
})

test('a hostile name (thousands of repeats) is scored without blowing up', () => {
  const name = Array(2000).fill('big buck').join(' ')
  const s = score('big buck big buck', name)
  // Order, exact and first are full; cover counts the first 64 occurrences of each word.
  assert.ok(s >= 0.8 && s < 0.81, String(s))
})
