// The shapes every search path shares: the local store, bb_search between members, the
// HTTP API and the CLI. A request is data (words typed by a user, filters, an order), never
// FTS5 syntax; a hit carries what a result list needs.

export type SearchOrder = 'relevance' | 'newest' | 'size'

export interface SearchFilters {
  /** Total size bounds in bytes (inclusive). */
  minSize?: number
  maxSize?: number
  /** A file extension without the dot ("mkv"): some file of the torrent ends with it. */
  ext?: string
  /** At least this many files. */
  minFiles?: number
  /** Discovered (stored) at or after this time, unix ms. */
  since?: number
}

export interface SearchRequest {
  /** What the user typed: words, "quoted phrases", -excluded words. */
  text: string
  filters?: SearchFilters
  /** Default 'relevance'. */
  order?: SearchOrder
  /** Hits per page (default 50, at most LIMITS.searchMaxLimit). */
  limit?: number
  /** Opaque cursor from the previous page's `next`. */
  cursor?: string
}

export interface SearchHit {
  /** Hex of the v1 infohash, else of the v2 hash truncated to 20 bytes (what the DHT carries). */
  infohash: string
  /** Hex of the full 32-byte v2 infohash (v2 and hybrid). */
  ih_v2?: string
  name: string
  /** Total size in bytes. */
  size: number
  files: number
  /** Unix ms the node stored it. */
  discovered_at: number
  /** Relevance to the query (higher is better), the same pure function on every node (src/search/rank.ts). */
  score: number
}

export interface SearchPage {
  hits: SearchHit[]
  /** Cursor of the next page, absent on the last one. */
  next?: string
  /**
   * Set when the order ranked only the newest matches and more exist (orders 'relevance' and
   * 'size' rank a bounded number of them: docs/store.md); order 'newest' reaches every match.
   */
  capped?: true
}
