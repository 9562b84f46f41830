import { test } from 'node:test'
import assert from 'node:assert/strict'
import { PendingRequests } from '../../../extensions/pending-requests.js'
import { AbortedError, LimitError, TimeoutError } from '../../../src/core/errors.js'

test('a request resolves with its answer, keeps its state until then, and a late answer finds nothing', async () => {
  const p = new PendingRequests<string, { tag: string }>('x', 4)
  let sent = -1
  const r = p.open({ tag: 'mine' }, (id) => { sent = id }, { timeoutMs: 60_000 })
  assert.equal(p.state(sent)?.tag, 'mine')
  p.finish(sent, null, 'answer')
  assert.equal(await r, 'answer')
  assert.equal(p.state(sent), undefined)
  p.finish(sent, null, 'late') // no throw, nothing waiting
  assert.equal(p.size, 0)
})

test('deadline, abort, cap and close each end requests with a typed error', async () => {
  const p = new PendingRequests<string, null>('x', 2)
  await assert.rejects(p.open(null, () => {}, { timeoutMs: 10 }), TimeoutError)
  const ac = new AbortController()
  const a = p.open(null, () => {}, { timeoutMs: 60_000, signal: ac.signal })
  ac.abort()
  await assert.rejects(a, AbortedError)
  const aborted = new AbortController(); aborted.abort()
  await assert.rejects(p.open(null, () => {}, { timeoutMs: 60_000, signal: aborted.signal }), AbortedError)
  const b = p.open(null, () => {}, { timeoutMs: 60_000 })
  const c = p.open(null, () => {}, { timeoutMs: 60_000 })
  await assert.rejects(p.open(null, () => {}, { timeoutMs: 60_000 }), LimitError)
  p.close()
  await assert.rejects(b, AbortedError)
  await assert.rejects(c, AbortedError)
  await assert.rejects(p.open(null, () => {}, { timeoutMs: 60_000 }), AbortedError)
  assert.equal(p.size, 0)
})
