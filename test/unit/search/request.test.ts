// Checking a SearchRequest, and the text forms people type (sizes, dates, extensions, keys).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { checkRequest, checkFilters, extOf, parseLookupKey, parseOrder, parseSince, parseSize, DEFAULT_SEARCH_LIMIT } from '../../../src/search/request.js'
import { UsageError } from '../../../src/core/errors.js'
import { LIMITS } from '../../../src/core/limits.js'

test('checkRequest: defaults, and each bad field is a UsageError naming it', () => {
  const r = checkRequest({ text: 'ubuntu' })
  assert.equal(r.order, 'relevance')
  assert.equal(r.limit, DEFAULT_SEARCH_LIMIT)
  assert.deepEqual(r.filters, {})
  const bad: Array<[unknown, RegExp]> = [
    [null, /object/],
    [{ text: 'x', order: 'rank' }, /order/],
    [{ text: 'x', limit: 0 }, /limit/],
    [{ text: 'x', limit: LIMITS.searchMaxLimit + 1 }, /limit/],
    [{ text: 'x', limit: 2.5 }, /limit/],
    [{ text: 'x', cursor: 5 }, /cursor/],
    [{ text: '-x' }, /only excludes/],
    [{ text: 'x', filters: 'big' }, /filters/],
  ]
  for (const [req, re] of bad) assert.throws(() => checkRequest(req), (e: unknown) => e instanceof UsageError && re.test(e.message), JSON.stringify(req))
})

test('checkFilters: ranges, extension normalised, bad values refused', () => {
  assert.deepEqual(checkFilters({ minSize: 1, maxSize: 2, ext: '.MKV', minFiles: 3, since: 4 }), { minSize: 1, maxSize: 2, ext: 'mkv', minFiles: 3, since: 4 })
  assert.deepEqual(checkFilters({ minSize: undefined }), {})
  for (const f of [{ minSize: -1 }, { maxSize: 1.5 }, { minFiles: NaN }, { since: Infinity }, { minSize: 5, maxSize: 4 },
    { ext: '' }, { ext: '.' }, { ext: 'a'.repeat(17) }, { ext: 'tar.gz' }, { ext: 'mk v' }, { ext: 5 }, { minSize: '5' }]) {
    assert.throws(() => checkFilters(f), UsageError, JSON.stringify(f))
  }
})

test('extOf: the last suffix of the last path component, lower case, letters and digits', () => {
  assert.equal(extOf('Movie.2020.1080p.MKV'), 'mkv')
  assert.equal(extOf('dir.d/file.tar.gz'), 'gz')
  assert.equal(extOf('album/01 - Song.flac'), 'flac')
  assert.equal(extOf('dir.d/README'), null)
  assert.equal(extOf('.hidden'), null)
  assert.equal(extOf('trailing.'), null)
  assert.equal(extOf('x.tar-gz'), null)
  assert.equal(extOf(`x.${'a'.repeat(17)}`), null)
  assert.equal(extOf('x.7z'), '7z')
  assert.equal(extOf('файл.ФОТО'), 'фото')
})

test('parseSize: bytes, decimal and binary units', () => {
  assert.equal(parseSize('1048576'), 1048576)
  assert.equal(parseSize('1.5GB'), 1_500_000_000)
  assert.equal(parseSize('1.5 gib'), 1.5 * 2 ** 30)
  assert.equal(parseSize('700MB'), 700_000_000)
  assert.equal(parseSize('4G'), 4 * 2 ** 30)
  assert.equal(parseSize('10k'), 10240)
  assert.equal(parseSize('.5KB'), 500)
  for (const s of ['', 'big', '-1', '1.5XB', '1e9', '1,5GB', '99999999999TB']) assert.throws(() => parseSize(s), UsageError, s)
})

test('parseSince: ISO dates (UTC) and ages in days', () => {
  const now = Date.UTC(2024, 5, 15, 12)
  assert.equal(parseSince('2024-05-01', now), Date.UTC(2024, 4, 1))
  assert.equal(parseSince('2024-05-01T12:30:00Z', now), Date.UTC(2024, 4, 1, 12, 30))
  assert.equal(parseSince('7', now), now - 7 * 86_400_000)
  assert.equal(parseSince('7d', now), now - 7 * 86_400_000)
  assert.equal(parseSince('1.5d', now), now - 1.5 * 86_400_000)
  for (const s of ['', 'yesterday', '2024-13-45', '-3', '2024/05/01', '7w']) assert.throws(() => parseSince(s, now), UsageError, s)
})

test('parseOrder', () => {
  assert.equal(parseOrder('size'), 'size')
  assert.throws(() => parseOrder('best'), UsageError)
})

test('parseLookupKey: 40 or 64 hex digits (either case), btmh multihash; others refused', () => {
  assert.equal(parseLookupKey('AB'.repeat(20)).length, 20)
  assert.equal(parseLookupKey(` ${'cd'.repeat(32)}\n`).length, 32)
  assert.deepEqual(parseLookupKey(`1220${'ef'.repeat(32)}`), Buffer.alloc(32, 0xef))
  for (const k of ['', 'ab'.repeat(19), 'ab'.repeat(21), 'ab'.repeat(32) + 'a', 'zz'.repeat(20), 'ab'.repeat(10) + ' ' + 'ab'.repeat(10), 42]) {
    assert.throws(() => parseLookupKey(k), UsageError, String(k))
  }
})
