import { test } from 'node:test'
import assert from 'node:assert/strict'
import { syntheticTorrent, SYNTHETIC_WORDS } from '../../../src/torrent/synthetic.js'
import { parseTorrentFile } from '../../../src/torrent/torrent-file.js'
import { UsageError } from '../../../src/core/errors.js'

test('the same seed gives the same torrent; different seeds differ', () => {
  const a = syntheticTorrent(7, 'hybrid')
  const b = syntheticTorrent(7, 'hybrid')
  assert.deepEqual(a.torrent, b.torrent)
  assert.notDeepEqual(syntheticTorrent(8, 'hybrid').rawInfo, a.rawInfo)
  assert.notDeepEqual(syntheticTorrent('7', 'hybrid').info.infohashV2, undefined)
  assert.deepEqual(syntheticTorrent('7', 'hybrid').rawInfo, a.rawInfo, 'a number and its string are the same seed')
})

test('1-4 files of 1-8 KiB with names from the word list, in every mode', () => {
  const counts = new Set<number>()
  for (let seed = 0; seed < 40; seed++) {
    for (const mode of ['v1', 'v2', 'hybrid'] as const) {
      const t = syntheticTorrent(seed, mode)
      assert.equal(t.info.version, mode)
      counts.add(t.info.files.length)
      assert.ok(t.info.files.length >= 1 && t.info.files.length <= 4)
      for (const f of t.info.files) assert.ok(f.size >= 1024 && f.size < 8 * 1024, String(f.size))
      const words = t.info.name.split(/[ .-]/).filter((w) => SYNTHETIC_WORDS.includes(w))
      assert.equal(words.length, 3, t.info.name)
      for (const f of t.info.files) assert.ok(f.path.split(/[ .-]/).some((w) => SYNTHETIC_WORDS.includes(w)), f.path)
      assert.deepEqual(parseTorrentFile(t.torrent).info, t.info)
    }
  }
  assert.deepEqual([...counts].sort(), [1, 2, 3, 4])
})

test('options: forced file count, piece length, private', () => {
  const t = syntheticTorrent('x', 'v2', { files: 4, pieceLength: 32768, private: true })
  assert.equal(t.info.files.length, 4)
  assert.equal(t.info.pieceLength, 32768)
  assert.equal(t.info.private, true)
  assert.throws(() => syntheticTorrent('x', 'v2', { files: 5 }), UsageError)
})
