// Relevance of a torrent name to a parsed query: a pure, deterministic function of the two
// and nothing else. No corpus statistics (bm25's IDF, document counts): every node computes
// the same score for the same name and query, so scores from different nodes can be merged
// (bb_search), and a member cannot push its hits up by claiming a score.
//
// Both sides are folded the same way (foldTokens: canonical decomposition, marks removed,
// lower case) and cut into tokens of letters/digits. Only the positive terms count.
//
// An occurrence of a term is a run of name tokens equal to the term's tokens in order; the
// last may instead start with it when the term is a prefix (`ubun*`). Then, with m terms:
//
//   order  O = mean over the m-1 neighbouring pairs of terms (as typed) of
//              1     if some occurrence of the second starts right after one of the first,
//              0.25  if one starts later (same order, words between),
//              0     otherwise (reversed, or not found);
//              for a one-term query, 1 if it is found, else 0.
//   exact  E = mean over terms of 1 (an occurrence with whole tokens), 0.5 (only as a
//              prefix: `ubun*` in "ubuntu"), 0 (not found: a tokenizer difference).
//   cover  C = name tokens inside occurrences / name tokens (shorter names rank higher).
//   first  F = 1 / (1 + index of the first token of the earliest occurrence); 0 when none.
//
//   score = round6(0.50·O + 0.25·E + 0.20·C + 0.05·F), in [0, 1]; 1 = the name is the query.
//
// The weights make the words adjacent and in order (the query as a phrase) beat the same
// words each with others between, whatever the name lengths: that moves 0.5·O by 0.375,
// more than C and F together can (< 0.25). Among equally ordered matches, whole words score
// above prefixes, shorter names above longer ones, earlier matches above later ones. Only +, ×, / and a final
// rounding to 6 decimals: IEEE-754 gives the same double on every platform (no Math.log).
// Ties are broken by the caller (newest first).

import { foldTokens, parseQuery, type ParsedQuery, type QueryTerm } from './query.js'

export const WEIGHTS = Object.freeze({ order: 0.5, exact: 0.25, cover: 0.2, first: 0.05 })
/** Credit of a neighbouring pair found in order but with other words between. */
export const GAP_CREDIT = 0.25
/** Occurrences of one term looked at (a hostile name may repeat a word thousands of times). */
const MAX_OCCURRENCES = 64

interface Occurrence { start: number, end: number, whole: boolean }

function occurrences (t: QueryTerm, toks: readonly string[]): Occurrence[] {
  const q = t.tokens
  const out: Occurrence[] = []
  const len = q.length
  if (len === 0) return out
  for (let p = 0; p + len <= toks.length && out.length < MAX_OCCURRENCES; p++) {
    let ok = true
    for (let k = 0; k < len - 1 && ok; k++) ok = toks[p + k] === q[k]
    if (!ok) continue
    const last = toks[p + len - 1]
    const want = q[len - 1]
    if (last === want) out.push({ start: p, end: p + len - 1, whole: true })
    else if (t.prefix && last.startsWith(want)) out.push({ start: p, end: p + len - 1, whole: false })
  }
  return out
}

function round6 (x: number): number {
  return Math.round(x * 1e6) / 1e6
}

/** The relevance of name to the query, in [0, 1] (formula above). */
export function relevance (q: ParsedQuery, name: string): number {
  const terms = q.terms
  if (terms.length === 0) return 0
  const toks = foldTokens(name)
  if (toks.length === 0) return 0
  const occ = terms.map((t) => occurrences(t, toks))

  let exact = 0
  for (const o of occ) exact += o.some((x) => x.whole) ? 1 : o.length > 0 ? 0.5 : 0
  exact /= terms.length

  let order = occ[0].length > 0 ? 1 : 0
  if (terms.length > 1) {
    let sum = 0
    for (let j = 0; j + 1 < terms.length; j++) {
      let adjacent = false
      let later = false
      for (const a of occ[j]) {
        for (const b of occ[j + 1]) {
          if (b.start === a.end + 1) adjacent = true
          else if (b.start > a.end) later = true
        }
      }
      sum += adjacent ? 1 : later ? GAP_CREDIT : 0
    }
    order = sum / (terms.length - 1)
  }

  const covered = new Uint8Array(toks.length)
  let first = -1
  for (const o of occ) {
    for (const x of o) {
      for (let p = x.start; p <= x.end; p++) covered[p] = 1
      if (first < 0 || x.start < first) first = x.start
    }
  }
  let c = 0
  for (const v of covered) c += v
  const cover = c / toks.length
  const firstScore = first < 0 ? 0 : 1 / (1 + first)

  return round6(WEIGHTS.order * order + WEIGHTS.exact * exact + WEIGHTS.cover * cover + WEIGHTS.first * firstScore)
}

/** Parse text once (UsageError when it is not a query) and score names against it. */
export function scorer (text: string): (name: string) => number {
  const q = parseQuery(text)
  return (name) => relevance(q, name)
}
