import { test } from 'node:test'
import assert from 'node:assert/strict'
import { Triage } from '../../../crawler/triage.js'

test('triage drops recent duplicates and ignored infohashes, and hands the rest on in batches', () => {
  const seen: Array<[number, string]> = []
  const skip = Buffer.alloc(20, 7)
  const t = new Triage({ noteSeen: (ihs, source) => seen.push([ihs.length, source]) }, { ignore: (ih) => ih.equals(skip), flushMs: 60_000 })
  const a = Buffer.alloc(20, 1)
  t.add(a, 'sample'); t.add(a, 'sample'); t.add(skip, 'sample')
  t.add(Buffer.alloc(20, 2), 'get_peers', { host: '127.0.0.1', port: 6881 })
  t.flush()
  assert.deepEqual(seen.sort(), [[1, 'get_peers'], [1, 'sample']])
  assert.equal(t.counters.duplicates, 1)
  assert.deepEqual(t.hintsFor(Buffer.alloc(20, 2)), [{ host: '127.0.0.1', port: 6881 }])
  t.close()
})
