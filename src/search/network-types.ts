// The answer of a search across the cooperative (bb_search), as the HTTP API returns it for
// `network=1`. The search itself lives in src/search/network-search.ts; this file only holds
// the shape, so src/http/ can serve it without knowing the cooperative.

import type { SearchHit } from './types.js'

export interface NetworkMemberReport {
  /** The member's peer id (hex), as `bbmesh members` shows it. */
  peer_id: string
  /** The member answered within the deadline. */
  answered: boolean
  /** The deadline passed before it answered. */
  timed_out: boolean
  /** Hits it returned (before merging). */
  hits: number
  /** Milliseconds from the ask to its answer (or to the deadline). */
  ms: number
  /** Why it gave no answer, when it refused or failed (short text, safe to show). */
  error?: string
}

export interface NetworkSearchResult {
  /** Merged, deduplicated hits: ours and the members', ranked. */
  hits: SearchHit[]
  members: NetworkMemberReport[]
  /** How many of the hits came from the local index. */
  local: number
}
