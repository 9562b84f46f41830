// Small helpers shared by the torrent unit tests.

import { createHash } from 'node:crypto'
import { existsSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import assert from 'node:assert/strict'
import { encode } from '../../../src/core/bencode.js'
import type { EncodableValue } from '../../../src/core/bencode.js'
import { BbmeshError } from '../../../src/core/errors.js'

/** Deterministic bytes: SHA-256 counter mode over a label. */
export function bytesFrom (label: string, n: number): Buffer {
  const out = Buffer.alloc(n)
  for (let i = 0, off = 0; off < n; i++, off += 32) createHash('sha256').update(`${label}:${i}`).digest().copy(out, off)
  return out
}

/** The repository root (works from src and from dist). */
export function repoRoot (): string {
  let d = dirname(fileURLToPath(import.meta.url))
  while (!existsSync(join(d, 'fixtures', 'README.md')) || !existsSync(join(d, 'package.json'))) {
    const up = dirname(d)
    if (up === d) throw new Error('repository root not found')
    d = up
  }
  return d
}

/** encode() with a plain-object literal (keys are ASCII in tests). */
export function enc (v: EncodableValue): Buffer {
  return encode(v)
}

/** Assert fn throws exactly the typed error class, and return it for more checks. */
export function throwsTyped (fn: () => unknown, Err: new (...a: never[]) => BbmeshError, msg?: RegExp): BbmeshError {
  let caught: unknown
  try { fn() } catch (e) { caught = e }
  assert.ok(caught !== undefined, `expected ${Err.name}, nothing was thrown`)
  assert.ok(caught instanceof Err, `expected ${Err.name}, got ${String((caught as Error)?.name)}: ${String((caught as Error)?.message)}`)
  if (msg !== undefined) assert.match((caught as Error).message, msg)
  return caught
}
