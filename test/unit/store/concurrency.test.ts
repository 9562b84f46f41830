// Readers beside the writer: `bbmesh stats/search/export` open the store read-only while the
// harvester writes. WAL gives them the last committed state without waiting for the writer.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { dirname, join } from 'node:path'
import { openStore } from '../../../src/store/index.js'
import { torrent, tempStore, ih } from './fixtures.js'

const storeIndex = join(dirname(fileURLToPath(import.meta.url)), '../../../src/store/index.js')

test('a read-only open works while the writer holds an open write transaction', (t) => {
  const s = tempStore(); t.after(s.cleanup)
  const writer = openStore(s.path)
  t.after(() => writer.close())
  writer.addTorrents([torrent('v1', 'committed ubuntu')])
  writer.noteSeen([ih(1)], 'sample', 1)

  // The writer is mid-transaction: rows written, not committed.
  writer.db.raw.exec('BEGIN IMMEDIATE')
  try {
    writer.addTorrents([torrent('v1', 'uncommitted ubuntu')])
    writer.noteSeen([ih(2), ih(3)], 'sample', 2)

    // Same process, second connection.
    const reader = openStore(s.path, { readonly: true, busyTimeoutMs: 100 })
    try {
      assert.equal(reader.stats().torrents, 1)
      assert.equal(reader.stats().infohashes_seen, 1)
      assert.deepEqual(reader.search('ubuntu').map((h) => h.name), ['committed ubuntu'])
      assert.equal(reader.recoveredLeases, 0)
    } finally { reader.close() }

    // Another process, as the CLI would be.
    const script = `
      import { openStore } from ${JSON.stringify(pathToFileURL(storeIndex).href)}
      const s = openStore(${JSON.stringify(s.path)}, { readonly: true, busyTimeoutMs: 100 })
      console.log(JSON.stringify({ stats: s.stats(), hits: s.search('ubuntu').map((h) => h.name) }))
      s.close()`
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 30_000 })
    assert.equal(r.status, 0, r.stderr)
    const out = JSON.parse(r.stdout)
    assert.equal(out.stats.torrents, 1)
    assert.deepEqual(out.hits, ['committed ubuntu'])
  } finally {
    writer.db.raw.exec('COMMIT')
  }
  const reader = openStore(s.path, { readonly: true })
  t.after(() => reader.close())
  assert.equal(reader.stats().torrents, 2)
  assert.equal(reader.stats().infohashes_seen, 3)
})

test('a reader opens a store whose writer closed cleanly (no -wal/-shm left)', (t) => {
  const s = tempStore(); t.after(s.cleanup)
  const w = openStore(s.path)
  w.addTorrents([torrent('v1', 'alone')])
  w.close()
  const r = openStore(s.path, { readonly: true })
  t.after(() => r.close())
  assert.equal(r.stats().torrents, 1)
  assert.equal(r.search('alone').length, 1)
})
