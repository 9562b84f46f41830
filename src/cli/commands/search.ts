// `bbmesh search WORDS`: the local index, one page at a time; `bbmesh search --infohash HEX`:
// the torrents a key names. Words are a small query language (src/search/query.ts), never
// FTS syntax. The flags become a SearchRequest (searchRequest) and a page is printed by
// printPage, so another source of pages (a network search) can reuse both.

import type { Command } from '../command.js'
import { parse, configHelp, type OptionSpec, type Parsed } from '../args.js'
import { loadConfig } from '../../config/load.js'
import { openForReading } from '../store-access.js'
import { formatBytes, type Output } from '../output.js'
import { UsageError } from '../../core/errors.js'
import { LIMITS } from '../../core/limits.js'
import { checkRequest, parseLookupKey, parseOrder, parseSince, parseSize } from '../../search/request.js'
import { RELEVANCE_CANDIDATES, LOOKUP_SCORE } from '../../store/search.js'
import type { SearchFilters, SearchHit, SearchPage, SearchRequest } from '../../search/types.js'
import { PREFIX_MIN_CHARS } from '../../search/query.js'
import type { NetworkSearchResult } from '../../search/network-types.js'
import { apiGet } from '../../http/client.js'

export const SEARCH_DEFAULT_LIMIT = 20

/** The flags of `bbmesh search` (config flags are added by parse). */
export const SEARCH_OPTIONS: OptionSpec = {
  order: { type: 'string' },
  'min-size': { type: 'string' },
  'max-size': { type: 'string' },
  ext: { type: 'string' },
  'min-files': { type: 'string' },
  since: { type: 'string' },
  limit: { type: 'string' },
  cursor: { type: 'string' },
  infohash: { type: 'string' },
  prefix: { type: 'boolean' },
  json: { type: 'boolean' },
  network: { type: 'boolean' },
  timeout: { type: 'string' },
}

/** Default deadline of a network search (ms), and its bounds (the HTTP API's). */
export const NETWORK_TIMEOUT_MS = 3000

/** The query string of GET /api/search for a request (docs/http.md). */
export function searchQueryString (req: SearchRequest, network?: { timeoutMs: number }): string {
  const q = new URLSearchParams({ q: req.text })
  if (req.order !== undefined) q.set('order', req.order)
  if (req.limit !== undefined) q.set('limit', String(req.limit))
  if (req.cursor !== undefined) q.set('cursor', req.cursor)
  const f = req.filters ?? {}
  if (f.minSize !== undefined) q.set('min_size', String(f.minSize))
  if (f.maxSize !== undefined) q.set('max_size', String(f.maxSize))
  if (f.ext !== undefined) q.set('ext', f.ext)
  if (f.minFiles !== undefined) q.set('min_files', String(f.minFiles))
  if (f.since !== undefined) q.set('since', String(f.since))
  if (network !== undefined) { q.set('network', '1'); q.set('timeout_ms', String(network.timeoutMs)) }
  return q.toString()
}

/** Ask the node running on dataDir to search its index and its members' (bb_search). */
async function networkSearchCommand (dataDir: string, req: SearchRequest, timeoutMs: number, json: boolean, out: Output): Promise<number> {
  if (req.cursor !== undefined) throw new UsageError('--cursor pages the local index only; a network search is one page')
  const r = await apiGet(dataDir, `/api/search?${searchQueryString(req, { timeoutMs })}`, { timeoutMs: timeoutMs + 5000 }) as NetworkSearchResult
  const answered = r.members.filter((m) => m.answered).length
  const late = r.members.filter((m) => m.timed_out)
  const failed = r.members.filter((m) => !m.answered && !m.timed_out)
  if (json) {
    for (const h of r.hits) out.out(JSON.stringify(h))
    out.err(JSON.stringify({ local: r.local, members: r.members }))
    return 0
  }
  for (const h of r.hits) out.out(hitLine(h, (req.order ?? 'relevance') === 'relevance'))
  if (r.hits.length === 0) out.err('no results')
  out.err(`${r.hits.length} hits (${r.local} from this node); ${answered} of ${r.members.length} members answered` +
    (late.length > 0 ? `; no answer within ${timeoutMs} ms from ${late.map((m) => m.peer_id.slice(0, 16)).join(', ')}` : '') +
    (failed.length > 0 ? `; refused or failed: ${failed.map((m) => `${m.peer_id.slice(0, 16)} (${m.error ?? 'error'})`).join(', ')}` : ''))
  return 0
}

function str (p: Parsed, k: string): string | undefined {
  const v = p.values[k]
  return typeof v === 'string' ? v : undefined
}

function wholeNumber (text: string, flag: string, min: number, max: number): number {
  const n = /^\s*\d+\s*$/.test(text) ? Number(text) : NaN
  if (!Number.isSafeInteger(n) || n < min || n > max) throw new UsageError(`${flag} must be an integer in ${min}..${max}`)
  return n
}

/** The request the flags and words describe; UsageError for a bad flag value. */
export function searchRequest (p: Parsed, now: number): SearchRequest {
  if (p.positionals.length === 0) throw new UsageError('give at least one word to search for (or --infohash HEX)')
  let text = p.positionals.join(' ')
  // --prefix: the last word as a prefix, as if typed with a `*` (when it is long enough).
  const last = /[\p{L}\p{N}\p{M}]+$/u.exec(text)?.[0]
  if (p.values.prefix === true && last !== undefined && [...last].length >= PREFIX_MIN_CHARS) text += '*'
  const filters: SearchFilters = {}
  const v = (k: string): string | undefined => str(p, k)
  if (v('min-size') !== undefined) filters.minSize = parseSize(v('min-size') as string)
  if (v('max-size') !== undefined) filters.maxSize = parseSize(v('max-size') as string)
  if (v('ext') !== undefined) filters.ext = v('ext')
  if (v('min-files') !== undefined) filters.minFiles = wholeNumber(v('min-files') as string, '--min-files', 0, LIMITS.torrentMaxFiles)
  if (v('since') !== undefined) filters.since = parseSince(v('since') as string, now)
  const req: SearchRequest = {
    text,
    order: v('order') === undefined ? 'relevance' : parseOrder(v('order') as string),
    limit: v('limit') === undefined ? SEARCH_DEFAULT_LIMIT : wholeNumber(v('limit') as string, '--limit', 1, LIMITS.searchMaxLimit),
  }
  if (Object.keys(filters).length > 0) req.filters = filters
  if (v('cursor') !== undefined) req.cursor = v('cursor')
  return req
}

function hitLine (h: SearchHit, withScore: boolean): string {
  const score = withScore ? `${h.score.toFixed(3)}  ` : ''
  return `${score}${h.infohash}  ${formatBytes(h.size).padStart(10)}  ${String(h.files).padStart(5)} files  ${h.name}`
}

/**
 * Print a page: hits on stdout (one JSON object per line with --json), then on stderr what
 * continues it: the next page's cursor (a JSON line `{"next": ...}` with --json) and whether
 * the order ranked only the newest matches.
 */
export function printPage (out: Output, page: SearchPage, req: SearchRequest, json: boolean): void {
  const order = req.order ?? 'relevance'
  if (json) {
    for (const h of page.hits) out.out(JSON.stringify(h))
    if (page.next !== undefined || page.capped === true) out.err(JSON.stringify({ next: page.next, capped: page.capped }))
    return
  }
  for (const h of page.hits) out.out(hitLine(h, order === 'relevance'))
  const limit = req.limit ?? SEARCH_DEFAULT_LIMIT
  if (page.hits.length === 0 && page.next === undefined) out.err(req.cursor === undefined ? 'no results' : 'no more results')
  if (page.capped === true) out.err(`(${order} order ranks the newest ${RELEVANCE_CANDIDATES} matches; --order newest lists every match)`)
  if (page.next !== undefined) {
    if (page.hits.length < limit) out.err('(the filters kept few of the matches this page looked at; more may follow)')
    out.err(`next page: --cursor ${page.next}`)
  }
}

export const searchCommand: Command = {
  name: 'search',
  summary: 'search the local index by words, or look up an infohash',
  help: () => `Usage: bbmesh search WORDS... [options]
       bbmesh search --infohash HEX

Finds torrents in the local index whose name has every word. The words:
  ubuntu desktop     both words, anywhere in the name (case and accents fold: cafe = Café)
  '"big buck"'       these words next to each other, in this order (so are spider-man, 24.04)
  -- -word -"a b"    leave out names that have them (after --, so the shell's - is not a flag)
  ubun*              a word that starts with ubun (at least 3 letters)
Anything else (AND OR NOT NEAR, name:, ^, parentheses) is just text between words.

Options:
  --order <o>          relevance (default), newest, or size (largest first). Relevance and size
                       rank the newest ${RELEVANCE_CANDIDATES} matches; newest reaches every match.
  --min-size <size>    total size at least: bytes, or 700MB, 1.5GB (powers of 1000), 4GiB (1024)
  --max-size <size>    total size at most
  --ext <ext>          some file of the torrent has this extension (mkv, .flac)
  --min-files <n>      at least n files
  --since <when>       stored at or after a date (2024-05-01, UTC midnight; or ISO date-time) or
                       within the last days (7, 7d)
  --limit <n>          results per page (1..${LIMITS.searchMaxLimit}, default ${SEARCH_DEFAULT_LIMIT})
  --cursor <c>         the next page: the cursor printed after a page (same words and options)
  --infohash <hex>     the torrents of a v1 infohash (40 hex digits, or a v2 one truncated to 40)
                       or of a v2 infohash (64); 64 digits also find torrents holding a file
                       with that pieces root (BEP-52). No words with it.
  --prefix             let the last word match as a prefix (like a trailing *)
  --json               one JSON object per hit and line: infohash, ih_v2, name, size, files,
                       discovered_at, score; the next cursor as {"next": ...} on stderr
  --network            search this node's index and every member's (bb_search), through the
                       node running on the data directory (bbmesh harvest --community ...);
                       exits 1 if none runs. With --json, stderr gets {"local", "members":
                       [{peer_id, answered, timed_out, hits, ms, error?}]}.
  --timeout <ms>       deadline of a network search (100..20000, default ${NETWORK_TIMEOUT_MS}); members that
                       do not answer in time are reported

Hits go to stdout; "next page: --cursor ..." goes to stderr. Scores are 0..1 (docs/store.md).
${configHelp(['dataDir'])}`,
  async run (argv, out) {
    const p = parse(argv, SEARCH_OPTIONS, ['dataDir', 'config'], true)
    const json = p.values.json === true
    const hex = str(p, 'infohash')
    // Check the request before touching the data directory: a bad flag is exit 2 either way.
    let req: SearchRequest | undefined
    if (hex !== undefined) {
      if (p.positionals.length > 0) throw new UsageError('give words or --infohash, not both')
      parseLookupKey(hex)
    } else {
      req = searchRequest(p, Date.now())
      checkRequest(req)
    }
    const { config } = loadConfig(p.configFlags)
    if (p.values.network === true) {
      if (req === undefined) throw new UsageError('--network searches by words, not --infohash')
      const t = str(p, 'timeout')
      const timeoutMs = t === undefined ? NETWORK_TIMEOUT_MS : wholeNumber(t, '--timeout', 100, 20_000)
      return await networkSearchCommand(config.dataDir, req, timeoutMs, json, out)
    }
    if (str(p, 'timeout') !== undefined) throw new UsageError('--timeout goes with --network')
    const store = openForReading(config.dataDir)
    try {
      if (req === undefined) {
        const hits = store.lookup(hex as string)
        if (json) {
          for (const h of hits) out.out(JSON.stringify(h))
        } else if (hits.length === 0) {
          out.err('not in the index')
        } else {
          for (const h of hits) out.out(hitLine(h, false) + (h.score === LOOKUP_SCORE.piecesRoot ? '  (holds the file)' : ''))
        }
        return 0
      }
      printPage(out, store.searchPage(req), req, json)
      return 0
    } finally {
      store.close()
    }
  },
}
