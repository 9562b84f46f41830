import { test, type TestContext } from 'node:test'
import assert from 'node:assert/strict'
import { SendPacer, type PacerOptions } from '../../../crawler/send-pacer.js'

// The pacer's buckets read an injected clock and its delayed sends use setTimeout, which the
// test runner's mock timers drive: the two advance together, one millisecond at a time, so
// each transmit is stamped with the exact fake time it happened at.

interface Sent { at: number, host: string, len: number }

function harness (t: TestContext, opts: PacerOptions): { pacer: SendPacer, sent: Sent[], advance: (ms: number) => void, clock: () => number, t0: number } {
  t.mock.timers.enable({ apis: ['setTimeout'] })
  const t0 = 1_000_000
  let clock = t0
  const sent: Sent[] = []
  const pacer = new SendPacer((buf, _port, host) => { sent.push({ at: clock, host, len: buf.length }) }, { ...opts, now: () => clock })
  const advance = (ms: number): void => {
    for (let i = 0; i < ms; i++) { clock++; t.mock.timers.tick(1) }
  }
  return { pacer, sent, advance, clock: () => clock, t0 }
}

const pkt = (n = 100): Buffer => Buffer.alloc(n)

/** Every prefix of `times` obeys count ≤ burst + rate·(t − t0) (t in ms, rate per second). */
function assertWithinBudget (times: number[], t0: number, rate: number, burst: number, what: string): void {
  times.forEach((at, i) => {
    const allowed = burst + rate * (at - t0) / 1000
    assert.ok(i + 1 <= allowed + 1e-9, `${what}: packet ${i + 1} at +${at - t0} ms exceeds ${allowed}`)
  })
}

test('per-IP rate: packets to one IP never exceed rate·t + burst, and the backlog drains at that rate', (t) => {
  const rate = 4; const burst = 4
  const h = harness(t, { perIpRate: rate, perIpBurst: burst, globalRate: 1e6, bytesRate: 1e9, maxDelayMs: 60_000, maxPending: 10_000 })
  // A burst of 20 at once, then one every 50 ms for 3 s (20/s offered, 4/s allowed).
  for (let i = 0; i < 20; i++) h.pacer.send(pkt(), 6881, '127.0.0.2')
  for (let s = 0; s < 60; s++) { h.advance(50); h.pacer.send(pkt(), 6881, '127.0.0.2') }
  h.advance(30_000)
  const times = h.sent.filter((x) => x.host === '127.0.0.2').map((x) => x.at)
  assertWithinBudget(times, h.t0, rate, burst, 'per-IP')
  assert.equal(times.length + h.pacer.counters.dropped, 80)
  // Not just "sends little": with a backlog, each second carries its full allowance.
  for (let sec = 1; sec <= 10; sec++) {
    const by = times.filter((at) => at <= h.t0 + sec * 1000).length
    assert.ok(by >= burst + rate * sec - 1, `only ${by} sent by ${sec} s`)
  }
  // A second IP has its own budget: its first packet leaves at once.
  h.pacer.send(pkt(), 6881, '127.0.0.3')
  assert.equal(h.sent.at(-1)?.host, '127.0.0.3')
  assert.equal(h.sent.at(-1)?.at, h.clock())
})

test('global rate: packets to many IPs together never exceed the global budget', (t) => {
  const rate = 100; const burst = 10 // the pacer's global burst is rate / 10
  const h = harness(t, { perIpRate: 1000, perIpBurst: 1000, globalRate: rate, bytesRate: 1e9, maxDelayMs: 60_000, maxPending: 10_000 })
  for (let ms = 0; ms < 2000; ms += 5) {
    for (let k = 0; k < 3; k++) h.pacer.send(pkt(), 6881, `127.0.${k}.${(ms / 5) % 250 + 1}`)
    h.advance(5)
  }
  h.advance(20_000)
  assertWithinBudget(h.sent.map((x) => x.at), h.t0, rate, burst, 'global')
  assert.equal(h.sent.length + h.pacer.counters.dropped, 1200)
  assert.ok(h.sent.length > 1000, 'the backlog was sent, not dropped')
})

test('bytes rate: bytes sent never exceed bytesRate·t + burst', (t) => {
  const rate = 20_000; const burst = 2000 // bytes burst is max(1500, rate / 10)
  const h = harness(t, { perIpRate: 1e6, perIpBurst: 1e6, globalRate: 1e6, bytesRate: rate, maxDelayMs: 60_000, maxPending: 10_000 })
  for (let i = 0; i < 100; i++) h.pacer.send(pkt(500), 6881, '127.0.0.2')
  h.advance(10_000)
  let total = 0
  for (const s of h.sent) {
    total += s.len
    // A packet leaves once the bucket would be back to ≥ 0 after it: total ≤ burst + rate·t.
    assert.ok(total <= burst + rate * (s.at - h.t0) / 1000 + 1e-9, `${total} bytes by +${s.at - h.t0} ms`)
  }
  assert.equal(h.sent.length, 100)
})

test('a packet that would wait longer than maxDelayMs is dropped, one at the limit waits', (t) => {
  const h = harness(t, { perIpRate: 2, perIpBurst: 1, maxDelayMs: 500 })
  h.pacer.send(pkt(), 1, '127.0.0.2') // leaves now
  h.pacer.send(pkt(), 1, '127.0.0.2') // waits exactly 500 ms: kept
  h.pacer.send(pkt(), 1, '127.0.0.2') // would wait 1000 ms: dropped
  assert.equal(h.sent.length, 1)
  assert.deepEqual(h.pacer.counters, { sent: 1, delayed: 1, dropped: 1, bytes: 100 })
  assert.equal(h.pacer.pending, 1)
  h.advance(499)
  assert.equal(h.sent.length, 1)
  h.advance(1)
  assert.equal(h.sent.length, 2)
  assert.equal(h.sent[1].at, h.t0 + 500)
  h.advance(10_000)
  assert.equal(h.sent.length, 2, 'the dropped packet never leaves')
  assert.equal(h.pacer.pending, 0)
})

test('the wait list is bounded by maxPending', (t) => {
  const h = harness(t, { perIpRate: 1, perIpBurst: 1, maxDelayMs: 1e9, maxPending: 3 })
  for (let i = 0; i < 10; i++) h.pacer.send(pkt(), 1, '127.0.0.2')
  assert.equal(h.pacer.pending, 3)
  assert.deepEqual(h.pacer.counters, { sent: 1, delayed: 3, dropped: 6, bytes: 100 })
  h.advance(5000)
  assert.equal(h.sent.length, 4)
})

test('waitFor reports the wait without spending budget', (t) => {
  const h = harness(t, { perIpRate: 1, perIpBurst: 1 })
  assert.equal(h.pacer.waitFor('127.0.0.2'), 0)
  assert.equal(h.pacer.waitFor('127.0.0.2'), 0)
  h.pacer.send(pkt(), 1, '127.0.0.2')
  assert.equal(h.pacer.waitFor('127.0.0.2'), 1000)
  h.advance(400)
  assert.equal(h.pacer.waitFor('127.0.0.2'), 600)
  assert.equal(h.pacer.waitFor('127.0.0.3'), 0)
})

test('close() clears every pending timer and nothing is sent after it', (t) => {
  const h = harness(t, { perIpRate: 1, perIpBurst: 1, maxDelayMs: 1e9, maxPending: 100 })
  for (let i = 0; i < 20; i++) h.pacer.send(pkt(), 1, '127.0.0.2')
  assert.equal(h.pacer.pending, 19)
  h.advance(2000)
  const before = h.sent.length
  assert.equal(before, 3)
  h.pacer.close()
  assert.equal(h.pacer.pending, 0)
  h.advance(60_000)
  h.pacer.send(pkt(), 1, '127.0.0.9')
  assert.equal(h.sent.length, before)
  h.pacer.close() // idempotent
})

test('the per-IP table is bounded (LRU)', (t) => {
  const h = harness(t, { maxIps: 16, globalRate: 1e6 })
  for (let i = 0; i < 200; i++) h.pacer.send(pkt(), 1, `127.1.${i >> 8}.${i & 255}`)
  assert.ok(h.pacer.perIp.size <= 16)
  assert.equal(h.sent.length, 200)
})
