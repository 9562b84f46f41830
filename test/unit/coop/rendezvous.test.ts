import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import {
  rendezvousInfohash, rendezvousInfohashes, rendezvousDays, utcDay, RENDEZVOUS_LABEL, RENDEZVOUS_MARGIN_MS,
} from '../../../src/coop/rendezvous.js'
import { generateCommunityKey, parseCommunityKey } from '../../../src/identity/community-key.js'

const KEY = Buffer.from(Array.from({ length: 32 }, (_, i) => i))
const at = (iso: string): number => Date.parse(iso)

test('utcDay is the UTC calendar day, whatever the local zone', () => {
  assert.equal(utcDay(0), '1970-01-01')
  assert.equal(utcDay(at('2025-03-07T00:00:00.000Z')), '2025-03-07')
  assert.equal(utcDay(at('2025-03-07T23:59:59.999Z')), '2025-03-07')
  assert.equal(utcDay(at('2025-03-08T01:30:00+02:00')), '2025-03-07')
  assert.equal(utcDay(at('2024-02-29T12:00:00Z')), '2024-02-29')
  assert.throws(() => utcDay(NaN), RangeError)
  assert.throws(() => utcDay(Infinity), RangeError)
})

test('known answer: SHA1(key ‖ "bbmesh-rendezvous-v1" ‖ "YYYY-MM-DD"), computed here with node:crypto', () => {
  const day = '2025-03-07'
  const bytes = Buffer.concat([KEY, Buffer.from('bbmesh-rendezvous-v1', 'ascii'), Buffer.from(day, 'ascii')])
  assert.equal(bytes.length, 32 + 20 + 10)
  assert.equal(RENDEZVOUS_LABEL, 'bbmesh-rendezvous-v1')
  const want = createHash('sha1').update(bytes).digest()
  const got = rendezvousInfohash(KEY, day)
  assert.equal(got.length, 20)
  assert.deepEqual(got, want)
  // pinned, for other implementations
  assert.equal(got.toString('hex'), '62ecb5857833fb9f14a4c8fd132bce9ca5d983ce')
})

test('different keys or days give different infohashes', () => {
  const seen = new Set<string>()
  const keys = [KEY, ...Array.from({ length: 20 }, () => generateCommunityKey().key)]
  const flipped = Buffer.from(KEY); flipped[31] ^= 1
  keys.push(flipped)
  for (const k of keys) {
    for (const day of ['2025-03-06', '2025-03-07', '2025-03-08']) seen.add(rendezvousInfohash(k, day).toString('hex'))
  }
  assert.equal(seen.size, keys.length * 3)
})

test('rendezvousInfohash refuses a key of the wrong size and anything but a real YYYY-MM-DD day', () => {
  assert.throws(() => rendezvousInfohash(KEY.subarray(0, 31), '2025-03-07'), RangeError)
  assert.throws(() => rendezvousInfohash(Buffer.alloc(33), '2025-03-07'), RangeError)
  for (const d of ['2025-3-7', '2025-03-07T00:00:00Z', '2025-02-30', '2025-13-01', '07-03-2025', '', ' 2025-03-07']) {
    assert.throws(() => rendezvousInfohash(KEY, d), RangeError, d)
  }
  assert.equal(rendezvousInfohash(KEY, '2024-02-29').length, 20)
})

test('rendezvousDays: both days within an hour of midnight UTC, one day otherwise', () => {
  assert.equal(RENDEZVOUS_MARGIN_MS, 3_600_000)
  const cases: Array<[string, string[]]> = [
    ['2025-03-07T00:00:00.000Z', ['2025-03-06', '2025-03-07']],
    ['2025-03-07T00:30:00.000Z', ['2025-03-06', '2025-03-07']],
    ['2025-03-07T00:59:59.000Z', ['2025-03-06', '2025-03-07']],
    ['2025-03-07T00:59:59.999Z', ['2025-03-06', '2025-03-07']],
    ['2025-03-07T01:00:00.000Z', ['2025-03-07']],
    ['2025-03-07T12:00:00.000Z', ['2025-03-07']],
    ['2025-03-07T22:59:59.999Z', ['2025-03-07']],
    ['2025-03-07T23:00:00.000Z', ['2025-03-07', '2025-03-08']],
    ['2025-03-07T23:59:59.000Z', ['2025-03-07', '2025-03-08']],
    ['2025-03-07T23:59:59.999Z', ['2025-03-07', '2025-03-08']],
    // across months, years and a leap day
    ['2024-12-31T23:30:00.000Z', ['2024-12-31', '2025-01-01']],
    ['2025-01-01T00:10:00.000Z', ['2024-12-31', '2025-01-01']],
    ['2024-03-01T00:10:00.000Z', ['2024-02-29', '2024-03-01']],
    ['2024-02-28T23:10:00.000Z', ['2024-02-28', '2024-02-29']],
    ['1970-01-01T00:00:00.000Z', ['1969-12-31', '1970-01-01']],
  ]
  for (const [iso, days] of cases) assert.deepEqual(rendezvousDays(at(iso)), days, iso)
})

test('rendezvousDays: the margin is a parameter', () => {
  const now = at('2025-03-07T00:04:59.999Z')
  assert.deepEqual(rendezvousDays(now, 5 * 60_000), ['2025-03-06', '2025-03-07'])
  assert.deepEqual(rendezvousDays(at('2025-03-07T00:05:00.000Z'), 5 * 60_000), ['2025-03-07'])
  assert.deepEqual(rendezvousDays(at('2025-03-07T00:00:00.000Z'), 0), ['2025-03-07'])
  assert.deepEqual(rendezvousDays(at('2025-03-07T23:59:59.999Z'), 0), ['2025-03-07'])
  // the largest margin (12 h) splits the day: never three days at once
  assert.deepEqual(rendezvousDays(at('2025-03-07T11:59:59.999Z'), 12 * 3_600_000), ['2025-03-06', '2025-03-07'])
  assert.deepEqual(rendezvousDays(at('2025-03-07T12:00:00.000Z'), 12 * 3_600_000), ['2025-03-07', '2025-03-08'])
  for (const m of [-1, NaN, Infinity, 12 * 3_600_000 + 1]) assert.throws(() => rendezvousDays(0, m), RangeError, String(m))
})

test('rendezvousInfohashes: one point per key and day, labelled with the public id only', () => {
  const a = parseCommunityKey(generateCommunityKey().format())
  const b = generateCommunityKey()
  const now = at('2025-03-07T23:30:00Z')
  const points = rendezvousInfohashes([a, b], now)
  assert.deepEqual(points.map((p) => [p.communityId, p.day]), [
    [a.id, '2025-03-07'], [a.id, '2025-03-08'], [b.id, '2025-03-07'], [b.id, '2025-03-08'],
  ])
  for (const p of points) {
    const k = p.communityId === a.id ? a : b
    assert.deepEqual(p.infohash, rendezvousInfohash(k.key, p.day))
  }
  assert.equal(new Set(points.map((p) => p.infohash.toString('hex'))).size, 4)
  const shown = JSON.stringify(points.map((p) => ({ ...p, infohash: p.infohash.toString('hex') })))
  for (const k of [a, b]) assert.ok(!shown.includes(k.key.toString('hex').slice(0, 16)))
  assert.deepEqual(rendezvousInfohashes([a], at('2025-03-07T12:00:00Z')).map((p) => p.day), ['2025-03-07'])
  assert.deepEqual(rendezvousInfohashes([], now), [])
})
