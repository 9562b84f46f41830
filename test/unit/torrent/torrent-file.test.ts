import { test } from 'node:test'
import fc from 'fast-check'
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { parseTorrentFile, encodeTorrentFile } from '../../../src/torrent/torrent-file.js'
import { createTorrentFromMemory } from '../../../src/torrent/create.js'
import { decode, encode } from '../../../src/core/bencode.js'
import type { BDict } from '../../../src/core/bencode.js'
import { BbmeshError, DecodeError, HashMismatchError, LimitError, SchemaError } from '../../../src/core/errors.js'
import { LIMITS } from '../../../src/core/limits.js'
import { bytesFrom, throwsTyped } from './helpers.js'

const PL = 16384
const t = createTorrentFromMemory({ name: 'tf', files: [{ path: ['big'], data: bytesFrom('big', 5 * PL) }, { path: ['small'], data: Buffer.from('s') }] }, { mode: 'hybrid', pieceLength: PL })
const bigRoot = t.info.files[0].piecesRoot as Buffer

/** Rebuild the created .torrent with changed outer keys (info kept raw). */
function withOuter (over: Record<string, unknown>): Buffer {
  const top = decode(t.torrent) as BDict
  const d: Record<string, unknown> = { ...top, ...over }
  return encode(d as never)
}

test('the info span is taken raw: a non-canonical info dict keeps its bytes and hash', () => {
  // Keys out of order inside info: any re-encoding would sort them and change the hash.
  const rawInfo = Buffer.from(`d6:pieces20:${'\0'.repeat(20)}4:name1:x12:piece lengthi16384e6:lengthi3ee`, 'latin1')
  const file = encodeTorrentFile(rawInfo, { announce: ['http://tracker/announce'] })
  const p = parseTorrentFile(file)
  assert.deepEqual(p.rawInfo, rawInfo)
  assert.deepEqual(p.info.infohashV1, createHash('sha1').update(rawInfo).digest())
  assert.deepEqual(p.announce, ['http://tracker/announce'])
  assert.equal(p.pieceLayers, undefined)
})

test('encodeTorrentFile: sorted outer keys, info spliced raw, creation date only when asked', () => {
  const plain = encodeTorrentFile(t.rawInfo)
  assert.equal(plain.toString('latin1', 0, 7), 'd4:info')
  assert.ok(plain.includes(t.rawInfo))
  const full = encodeTorrentFile(t.rawInfo, { pieceLayers: t.pieceLayers, announce: ['a', 'b'], creationDate: 1700000000 })
  const top = decode(full) as BDict
  assert.deepEqual(Object.keys(top), ['announce', 'announce-list', 'creation date', 'info', 'piece layers'])
  assert.equal(top['creation date'], 1700000000)
  assert.deepEqual(parseTorrentFile(full).rawInfo, t.rawInfo)
  assert.deepEqual(parseTorrentFile(full).pieceLayers, t.pieceLayers)
  throwsTyped(() => encodeTorrentFile(Buffer.from('d1:ai1ee')), SchemaError) // not an info dict
  throwsTyped(() => encodeTorrentFile(t.rawInfo, { pieceLayers: new Map([['zz', Buffer.alloc(32)]]) }), SchemaError)
})

test('piece layers are checked against their pieces roots', () => {
  const p = parseTorrentFile(t.torrent)
  assert.equal(p.pieceLayers?.get(bigRoot.toString('hex'))?.length, 5 * 32)
  const key = bigRoot.toString('latin1')
  const good = t.pieceLayers.get(bigRoot.toString('hex')) as Buffer
  const flipped = Buffer.from(good)
  flipped[0] ^= 1
  throwsTyped(() => parseTorrentFile(withOuter({ 'piece layers': { [key]: flipped } })), HashMismatchError)
  throwsTyped(() => parseTorrentFile(withOuter({ 'piece layers': { [key]: good.subarray(32) } })), SchemaError, /expected/)
  throwsTyped(() => parseTorrentFile(withOuter({ 'piece layers': { abc: good } })), SchemaError, /32/)
  throwsTyped(() => parseTorrentFile(withOuter({ 'piece layers': { [key]: 5 } })), SchemaError)
  throwsTyped(() => parseTorrentFile(withOuter({ 'piece layers': [1] })), SchemaError)
  // Layers for roots the torrent does not have are dropped; a torrent with no layers still parses.
  const other = Buffer.alloc(32, 7).toString('latin1')
  assert.equal(parseTorrentFile(withOuter({ 'piece layers': { [key]: good, [other]: Buffer.alloc(64) } })).pieceLayers?.size, 1)
  assert.equal(parseTorrentFile(encodeTorrentFile(t.rawInfo)).pieceLayers, undefined)
})

test('malformed .torrent files are typed errors', () => {
  throwsTyped(() => parseTorrentFile(Buffer.from('le')), SchemaError, /not a dict/)
  throwsTyped(() => parseTorrentFile(Buffer.from('d8:announce1:xe')), SchemaError, /missing `info`/)
  throwsTyped(() => parseTorrentFile(Buffer.from('d4:infoi1ee')), SchemaError, /not a dict/)
  throwsTyped(() => parseTorrentFile(Buffer.concat([t.torrent, Buffer.from('x')])), DecodeError, /trailing/)
  throwsTyped(() => parseTorrentFile(t.torrent.subarray(0, t.torrent.length - 1)), DecodeError)
  throwsTyped(() => parseTorrentFile(Buffer.from('garbage')), DecodeError)
  throwsTyped(() => parseTorrentFile(Buffer.alloc(LIMITS.torrentFileMax + 1)), LimitError)
  // A broken info dict inside an otherwise fine file.
  throwsTyped(() => parseTorrentFile(Buffer.from(`d4:infod4:name2:..12:piece lengthi16384e6:pieces20:${'\0'.repeat(20)}6:lengthi1eee`, 'latin1')), SchemaError)
})

test('announce and announce-list are flattened and deduplicated; junk entries skipped', () => {
  const p = parseTorrentFile(withOuter({ announce: 'udp://a', 'announce-list': [['udp://a', 'udp://b'], [5], 'x', ['udp://c']] }))
  assert.deepEqual(p.announce, ['udp://a', 'udp://b', 'udp://c'])
})

test('never throws anything but a typed error, whatever the bytes (fuzz)', () => {
  const seed = encodeTorrentFile(t.rawInfo, { pieceLayers: t.pieceLayers, announce: ['udp://a'] })
  fc.assert(fc.property(
    fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 }), fc.boolean()), { minLength: 1, maxLength: 4 }),
    (edits) => {
      let b = Buffer.from(seed)
      for (const [pos, byte, replace] of edits) {
        const p = pos % b.length
        b = replace ? Buffer.concat([b.subarray(0, p), Buffer.from([byte]), b.subarray(p + 1)]) : Buffer.concat([b.subarray(0, p), b.subarray(p + 1)])
      }
      try {
        parseTorrentFile(b)
      } catch (e) {
        if (!(e instanceof BbmeshError)) throw e
        assert.ok(['DecodeError', 'SchemaError', 'LimitError', 'HashMismatchError'].includes(e.name), e.name)
      }
    }), { numRuns: 2000, seed: 47 })
})

test('more trackers than the cap are dropped, not fatal', () => {
  const many = Array.from({ length: 300 }, (_, i) => [`udp://t${i}`])
  assert.equal(parseTorrentFile(withOuter({ 'announce-list': many })).announce.length, 256)
})
