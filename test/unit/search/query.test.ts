// The query parser (src/search/query.ts): words, phrases, exclusions, prefixes, hostile text.
// It is pure; test/unit/store/search-page.test.ts runs what it builds against a real FTS5.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import { parseQuery, matchExpression, foldTokens, PREFIX_MIN_CHARS, type ParsedQuery } from '../../../src/search/query.js'
import { UsageError } from '../../../src/core/errors.js'
import { LIMITS } from '../../../src/core/limits.js'

/** A compact picture of a parse: +word, +"a b" (phrase or compound), -x, trailing * for a prefix. */
function show (q: ParsedQuery): string[] {
  const one = (sign: string) => (t: ParsedQuery['terms'][number]) =>
    `${sign}${t.words.length > 1 || t.quoted ? `"${t.words.join(' ')}"` : t.words[0]}${t.prefix ? '*' : ''}`
  return [...q.terms.map(one('+')), ...q.excluded.map(one('-'))]
}
const parsed = (text: string): string[] => show(parseQuery(text))
function usage (text: unknown, re: RegExp): void {
  assert.throws(() => parseQuery(text), (e: unknown) => e instanceof UsageError && re.test(e.message), `expected a UsageError ${re} for ${JSON.stringify(text)}`)
}

test('words are ANDed in the order typed; repeats (any case) count once', () => {
  assert.deepEqual(parsed('ubuntu desktop'), ['+ubuntu', '+desktop'])
  assert.deepEqual(parsed('  Ubuntu\tUBUNTU ubuntu  '), ['+Ubuntu'])
  assert.equal(matchExpression(parseQuery('ubuntu desktop')), '"ubuntu" AND "desktop"')
})

test('quoted phrases, and words joined by punctuation, are phrases', () => {
  assert.deepEqual(parsed('"big buck" bunny'), ['+"big buck"', '+bunny'])
  assert.deepEqual(parsed('spider-man 24.04 AC/DC'), ['+"spider man"', '+"24 04"', '+"AC DC"'])
  assert.deepEqual(parsed('"unclosed phrase'), ['+"unclosed phrase"'])
  assert.deepEqual(parsed('"one"'), ['+"one"'])
  assert.equal(matchExpression(parseQuery('"big buck" bunny')), '"big buck" AND "bunny"')
})

test('a leading - excludes a word, a phrase or a compound', () => {
  assert.deepEqual(parsed('ubuntu -desktop -"server edition" -arm-64'), ['+ubuntu', '-desktop', '-"server edition"', '-"arm 64"'])
  assert.equal(matchExpression(parseQuery('ubuntu amd64 -desktop -"a b"')), '("ubuntu" AND "amd64") NOT "desktop" NOT "a b"')
  // A dash inside a word, or alone, is a separator, not an exclusion.
  assert.deepEqual(parsed('x-ray - y'), ['+"x ray"', '+y'])
  assert.deepEqual(parsed('-.a b'), ['+a', '+b'])
})

test('only exclusions is a UsageError: nothing to look for', () => {
  usage('-desktop', /only excludes/)
  usage('-a -"b c"', /only excludes/)
})

test('a trailing * makes the last word of a compound a prefix (3+ characters)', () => {
  assert.deepEqual(parsed('ubun*'), ['+ubun*'])
  assert.deepEqual(parsed('spider-man*'), ['+"spider man"*'])
  assert.deepEqual(parsed('ubun*tu'), ['+"ubun tu"'])
  assert.equal(matchExpression(parseQuery('debian net* -ubun*')), '("debian" AND "net"*) NOT "ubun"*')
  usage('ab*', new RegExp(`at least ${PREFIX_MIN_CHARS} letters`))
  // Quoted text is literal: a star after a phrase is a separator.
  assert.deepEqual(parsed('"ubun"*'), ['+"ubun"'])
  // The old option: the last word as a prefix when long enough.
  assert.deepEqual(show(parseQuery('debian net', { prefixLast: true })), ['+debian', '+net*'])
  assert.deepEqual(show(parseQuery('debian ne', { prefixLast: true })), ['+debian', '+ne'])
})

test('FTS5 syntax is text: operators, column filters, NEAR, ^, +, parentheses', () => {
  assert.deepEqual(parsed('NEAR(ubuntu desktop, 2)'), ['+"NEAR ubuntu"', '+desktop', '+2'])
  assert.deepEqual(parsed('name:ubuntu'), ['+"name ubuntu"'])
  assert.deepEqual(parsed('{name} : debian'), ['+name', '+debian'])
  assert.deepEqual(parsed('a OR b NOT c AND d'), ['+a', '+OR', '+b', '+NOT', '+c', '+AND', '+d'])
  assert.deepEqual(parsed('^ubuntu +desktop (amd64)'), ['+ubuntu', '+desktop', '+amd64'])
  for (const text of ['"', '*', '^', '()', '" "', '+-', '{}:', '(:*)']) usage(text, /no words/)
  assert.deepEqual(parsed('NEAR('), ['+NEAR'])
})

test('control characters and NUL separate words; lone surrogates are dropped', () => {
  assert.deepEqual(parsed('ubuntu\u0000desktop\u0001\u001f\u007fx'), ['+ubuntu', '+desktop', '+x'])
  assert.deepEqual(parsed('ubuntu \ud800 \udfff desk\ud800top'), ['+ubuntu', '+"desk top"'])
  usage('\u0000\u0001', /no words/)
  usage('\ud800', /no words/)
})

test('unicode: diacritics, combining marks, emoji, RTL text and RTL marks', () => {
  assert.deepEqual(parsed('café cafe\u0301'), ['+café', '+cafe\u0301'])
  assert.deepEqual(parseQuery('Café').terms[0].tokens, ['cafe'])
  assert.deepEqual(parseQuery('cafe\u0301').terms[0].tokens, ['cafe'])
  assert.deepEqual(parsed('🎬 movie 👨‍👩‍👧'), ['+movie'])
  usage('🎬🍿', /no words/)
  assert.deepEqual(parsed('שלום עולם'), ['+שלום', '+עולם'])
  assert.deepEqual(parsed('\u202Eevil\u202C name'), ['+evil', '+name'])
  assert.deepEqual(parsed('東京物語 1953'), ['+東京物語', '+1953'])
})

test('caps: bytes before parsing, words over all items', () => {
  usage('a'.repeat(10 * 1024), /bytes is longer than/)
  usage('é'.repeat(LIMITS.searchMaxQueryBytes / 2 + 1), /bytes/)
  assert.doesNotThrow(() => parseQuery('a'.repeat(LIMITS.searchMaxQueryBytes)))
  const words = (n: number): string => Array.from({ length: n }, (_, i) => `w${i}`).join(' ')
  assert.equal(parseQuery(words(LIMITS.searchMaxTerms)).terms.length, LIMITS.searchMaxTerms)
  usage(words(LIMITS.searchMaxTerms + 1), /at most/)
  // Phrase words and excluded words count too.
  usage(`"${words(LIMITS.searchMaxTerms)}" x`, /at most/)
  usage(`x -"${words(LIMITS.searchMaxTerms)}"`, /at most/)
  assert.deepEqual(parsed(Array(LIMITS.searchMaxTerms + 5).fill('ubuntu').join(' ')), ['+ubuntu'])
})

test('not a string is a UsageError', () => {
  for (const v of [undefined, null, 42, { toString: () => 'x' }, ['x']]) usage(v, /must be text/)
})

test('foldTokens: case, marks, separators', () => {
  assert.deepEqual(foldTokens('Big.Buck_Bunny-1080p'), ['big', 'buck', 'bunny', '1080p'])
  assert.deepEqual(foldTokens('Œuvres complètes de Molière'), ['œuvres', 'completes', 'de', 'moliere'])
  assert.deepEqual(foldTokens('İstanbul'), ['istanbul'])
  assert.deepEqual(foldTokens(''), [])
})

// The MATCH expression is made only of FTS5 strings of word characters, AND, NOT, one pair
// of parentheses and * after a closing quote: nothing a user typed is syntax.
const SAFE = /^(\(?"[\p{L}\p{N}\p{M}\p{Co} ]+"\*?( AND "[\p{L}\p{N}\p{M}\p{Co} ]+"\*?)*\)?)( NOT "[\p{L}\p{N}\p{M}\p{Co} ]+"\*?)*$/u

test('property: any text parses to a safe MATCH expression or is a UsageError', () => {
  const alphabet = fc.constantFrom('"', "'", '*', '^', ':', '(', ')', '{', '}', '-', '+', ' ', '\t', 'NEAR', 'AND', 'OR', 'NOT',
    'name', 'ubuntu', 'é', 'e\u0301', '\u0000', '\u001f', '日本', '\ud800', '\udc00', '🎬', '\u202e', ',', '\\', '.', '/', 'ab')
  const texts = fc.oneof(
    fc.string({ unit: 'binary', maxLength: 80 }),
    fc.string({ unit: alphabet, maxLength: 30 }),
  )
  fc.assert(fc.property(texts, fc.boolean(), (text, prefixLast) => {
    let q: ParsedQuery
    try {
      q = parseQuery(text, { prefixLast })
    } catch (e) {
      assert.ok(e instanceof UsageError, `${JSON.stringify(text)} threw ${String(e)}`)
      return
    }
    assert.ok(q.terms.length > 0)
    const m = matchExpression(q)
    assert.match(m, SAFE, `unsafe MATCH ${JSON.stringify(m)} for ${JSON.stringify(text)}`)
    assert.ok(!m.includes('\u0000'))
  }), { numRuns: 3000 })
})
