// Path safety for file names inside torrents. A torrent names files that a client will
// create on disk, so a component like '..' or 'a/b' is a path-traversal attempt, not a
// name. Shared by the parser (remote input) and the creator (caller input).

import { SchemaError, LimitError } from '../core/errors.js'
import { LIMITS } from '../core/limits.js'

const utf8 = new TextEncoder()

/** Throw SchemaError unless `c` is a safe single path component (or torrent name). */
export function checkComponent (c: string, where: string): void {
  if (c.length === 0) throw new SchemaError(`${where}: empty path component`)
  if (c === '.' || c === '..') throw new SchemaError(`${where}: path component '${c}' is not allowed`)
  if (c.includes('/')) throw new SchemaError(`${where}: path component contains '/'`)
  if (c.includes('\\')) throw new SchemaError(`${where}: path component contains '\\'`)
  if (c.includes('\0')) throw new SchemaError(`${where}: path component contains NUL`)
}

/** Check every component, the depth and the byte length of a file path; returns it joined with '/'. */
export function checkPath (components: readonly string[], where: string): string {
  if (components.length === 0) throw new SchemaError(`${where}: empty path`)
  if (components.length > LIMITS.torrentMaxPathDepth) {
    throw new LimitError(`${where}: path has ${components.length} components, cap ${LIMITS.torrentMaxPathDepth}`)
  }
  for (const c of components) checkComponent(c, where)
  const joined = components.join('/')
  checkNameBytes(joined, where)
  return joined
}

/** Throw LimitError when a name or joined path is longer than LIMITS.torrentMaxNameBytes in UTF-8. */
export function checkNameBytes (s: string, where: string): void {
  // Cheap bound first: UTF-8 needs at most 3 bytes per UTF-16 unit.
  if (s.length * 3 <= LIMITS.torrentMaxNameBytes) return
  const n = utf8.encode(s).length
  if (n > LIMITS.torrentMaxNameBytes) throw new LimitError(`${where}: ${n} bytes, cap ${LIMITS.torrentMaxNameBytes}`)
}
