// What a user types into a search box, parsed into terms, and the FTS5 MATCH expression built
// from them. Pure: no database, no clock. The text is never FTS5 syntax: every word that
// reaches FTS5 is a run of letters, digits, combining marks or private-use characters inside
// an FTS5 string ("..."), and a run never holds a quote, so it cannot close the string.
// Operators (AND OR NOT NEAR), column filters (`name:`), `^`, `+`, parentheses and control
// characters are separators to us, never syntax.
//
// Grammar (whitespace = Unicode White_Space and control characters, NUL included):
//
//   query    := item*                       items are separated by whitespace
//   item     := ['-'] (phrase | compound)   '-' right before a word or a quote excludes it
//   phrase   := '"' any text up to the next '"' (or the end) '"'
//   compound := a run of anything but whitespace and '"', e.g. `spider-man`, `24.04`, `ubun*`
//
// The words of a phrase or compound are its runs of letters/digits (with combining marks);
// everything else in it separates them. A phrase, and a compound of several words, must match
// as adjacent words in that order (FTS5 phrase): `spider-man` finds "Spider Man" and
// "Spider-Man" but not "Man of Spider". A compound whose last word is followed by `*` matches
// that word as a prefix (at least PREFIX_MIN_CHARS characters). Items are ANDed; excluded
// items leave out the names that hold them. Repeated items count once.
//
// Caps: LIMITS.searchMaxQueryBytes (UTF-8 bytes, checked before any parsing) and
// LIMITS.searchMaxTerms words over all items. Over a cap, no word to look for, or only
// exclusions: UsageError.

import { UsageError } from '../core/errors.js'
import { LIMITS } from '../core/limits.js'

export interface QueryTerm {
  /** The words as typed (letters, digits, marks, private use: safe inside an FTS5 string). */
  words: string[]
  /** The same text folded (lower case, marks removed) and cut into tokens: what rank.ts compares. */
  tokens: string[]
  /** Typed inside double quotes. */
  quoted: boolean
  /** The last word matches as a prefix (typed with a trailing `*`). */
  prefix: boolean
}

export interface ParsedQuery {
  /** The terms every hit holds, in the order typed. Never empty. */
  terms: QueryTerm[]
  /** The terms no hit holds. */
  excluded: QueryTerm[]
}

export interface ParseOptions {
  /** Let the last positive word match as a prefix when it has PREFIX_MIN_CHARS characters (the old `{ prefix: true }`). */
  prefixLast?: boolean
}

/** Shortest word a `*` may make a prefix: without a prefix index, `a*` merges thousands of doclists. */
export const PREFIX_MIN_CHARS = 3

// A word starts with a letter, digit or private-use character (what the unicode61 tokenizer
// indexes) and may carry combining marks (é typed as e + U+0301 stays one word).
const WORD = /[\p{L}\p{N}\p{Co}][\p{L}\p{N}\p{M}\p{Co}]*/gu
const WORD_START = /^[\p{L}\p{N}\p{Co}]/u
const SPACE = /[\p{White_Space}\p{Cc}]/u
const ASCII = /^[\x20-\x7e]*$/
const TOKEN = /[\p{L}\p{N}\p{Co}]+/gu
// The same runs for printable ASCII text (most names), without Unicode property lookups.
const ASCII_TOKEN = /[a-z0-9]+/g
const MARKS = /\p{M}+/gu

/**
 * Text folded the way rank.ts compares it (close to unicode61 with remove_diacritics 2):
 * canonical decomposition, combining marks removed, lower case; then cut into runs of
 * letters, digits and private-use characters.
 */
export function foldTokens (text: string): string[] {
  if (ASCII.test(text)) return text.toLowerCase().match(ASCII_TOKEN) ?? []
  return text.normalize('NFD').replace(MARKS, '').toLowerCase().match(TOKEN) ?? []
}

function words (text: string): string[] {
  return text.match(WORD) ?? []
}

/** Parse what a user typed. Throws UsageError for non-text, text over the caps, or nothing to look for. */
export function parseQuery (text: unknown, opts: ParseOptions = {}): ParsedQuery {
  if (typeof text !== 'string') throw new UsageError('search: the query must be text')
  const bytes = Buffer.byteLength(text, 'utf8')
  if (bytes > LIMITS.searchMaxQueryBytes) {
    throw new UsageError(`search: query of ${bytes} bytes is longer than ${LIMITS.searchMaxQueryBytes}`)
  }
  const terms: QueryTerm[] = []
  const excluded: QueryTerm[] = []
  const seen = new Set<string>()
  let count = 0
  const add = (ws: string[], quoted: boolean, prefix: boolean, exclude: boolean): void => {
    if (ws.length === 0) return
    const t: QueryTerm = { words: ws, tokens: foldTokens(ws.join(' ')), quoted, prefix }
    const key = `${exclude ? '-' : '+'}${prefix ? '*' : ''}${t.tokens.join(' ')}|${ws.join(' ').toLowerCase()}`
    if (seen.has(key)) return
    seen.add(key)
    count += ws.length
    if (count > LIMITS.searchMaxTerms) throw new UsageError(`search: too many words, at most ${LIMITS.searchMaxTerms}`)
    ;(exclude ? excluded : terms).push(t)
  }

  const n = text.length
  let i = 0
  while (i < n) {
    if (SPACE.test(text[i])) { i++; continue }
    let exclude = false
    if (text[i] === '-' && i + 1 < n && (text[i + 1] === '"' || WORD_START.test(text.slice(i + 1, i + 3)))) {
      exclude = true
      i++
    }
    if (text[i] === '"') {
      let j = text.indexOf('"', i + 1)
      if (j < 0) j = n
      add(words(text.slice(i + 1, j)), true, false, exclude)
      i = j + 1
      continue
    }
    let j = i
    while (j < n && text[j] !== '"' && !SPACE.test(text[j])) j++
    const run = text.slice(i, j)
    const ws = words(run)
    // A prefix: the run ends with `*` right after its last word (`ubun*`, `spider-ma*`).
    const prefix = ws.length > 0 && /[\p{L}\p{N}\p{M}\p{Co}]\*+$/u.test(run)
    if (prefix) {
      const last = ws[ws.length - 1]
      if ([...last].length < PREFIX_MIN_CHARS) {
        throw new UsageError(`search: a prefix needs at least ${PREFIX_MIN_CHARS} letters (${last}*)`)
      }
    }
    add(ws, false, prefix, exclude)
    i = j
  }
  if (opts.prefixLast === true && terms.length > 0) {
    const t = terms[terms.length - 1]
    if (!t.quoted && [...t.words[t.words.length - 1]].length >= PREFIX_MIN_CHARS) t.prefix = true
  }
  if (terms.length === 0) {
    throw new UsageError(excluded.length > 0
      ? 'search: the query only excludes words; give at least one word to look for'
      : 'search: the query has no words (letters or digits) to look for')
  }
  return { terms, excluded }
}

function ftsString (t: QueryTerm): string {
  // Each word is letters/digits/marks/private use only (WORD), so it holds no `"`.
  return `"${t.words.join(' ')}"${t.prefix ? '*' : ''}`
}

/** The FTS5 MATCH expression: the terms ANDed, then each exclusion NOTed. Only FTS5 strings, AND, NOT and one pair of parentheses. */
export function matchExpression (q: ParsedQuery): string {
  const pos = q.terms.map(ftsString).join(' AND ')
  if (q.excluded.length === 0) return pos
  return `(${pos})${q.excluded.map((t) => ` NOT ${ftsString(t)}`).join('')}`
}

/** A canonical text of the query (same for the same terms), for binding a cursor to its query. */
export function canonicalQuery (q: ParsedQuery): string {
  return matchExpression(q).toLowerCase()
}
