import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { StatusFile, readStatus, STATUS_FILE } from '../../../src/node/status-file.js'

test('status.json: written atomically, read back while the writer lives, removed on close', () => {
  const dir = mkdtempSync(join(tmpdir(), 'bbmesh-status-'))
  try {
    const f = new StatusFile(dir, () => ({ members: [{ host: '127.0.0.1' }] }), 60_000)
    f.start()
    const s = readStatus(dir)
    assert.equal(s?.pid, process.pid)
    assert.deepEqual(s?.members, [{ host: '127.0.0.1' }])
    f.close()
    assert.equal(readStatus(dir), null)
  } finally { rmSync(dir, { recursive: true, force: true }) }
})

test('a corrupt, stale or oversized status file reads as "no node running"', () => {
  const dir = mkdtempSync(join(tmpdir(), 'bbmesh-status-'))
  try {
    writeFileSync(join(dir, STATUS_FILE), '{ not json')
    assert.equal(readStatus(dir), null)
    writeFileSync(join(dir, STATUS_FILE), JSON.stringify({ pid: 2 ** 22 + 12345, updated: 'x' }))
    assert.equal(readStatus(dir), null)
    writeFileSync(join(dir, STATUS_FILE), JSON.stringify({ pid: process.pid, pad: 'x'.repeat(5 * 1024 * 1024) }))
    assert.equal(readStatus(dir), null)
  } finally { rmSync(dir, { recursive: true, force: true }) }
})
