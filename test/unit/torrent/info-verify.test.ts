import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { verifyInfohash, infohashesOf } from '../../../src/torrent/info-verify.js'
import { createTorrentFromMemory } from '../../../src/torrent/create.js'
import { HashMismatchError, SchemaError } from '../../../src/core/errors.js'
import { throwsTyped } from './helpers.js'

const t = createTorrentFromMemory({ name: 'h', files: [{ path: ['a'], data: Buffer.from('abc') }, { path: ['b'], data: Buffer.from('d') }] }, { mode: 'hybrid' })

test('a hybrid info dict verifies under its v1 and its truncated v2 infohash', () => {
  assert.equal(verifyInfohash(t.rawInfo, t.info.infohashV1 as Buffer), 'v1')
  assert.equal(verifyInfohash(t.rawInfo, (t.info.infohashV2 as Buffer).subarray(0, 20)), 'v2')
})

test('infohashesOf gives SHA-1, SHA-256 and its 20-byte prefix of the raw bytes', () => {
  const h = infohashesOf(t.rawInfo)
  assert.deepEqual(h.v1, createHash('sha1').update(t.rawInfo).digest())
  assert.deepEqual(h.v2, createHash('sha256').update(t.rawInfo).digest())
  assert.deepEqual(h.v2short, h.v2.subarray(0, 20))
  assert.deepEqual(h.v1, t.info.infohashV1)
  assert.deepEqual(h.v2, t.info.infohashV2)
})

test('one changed byte or a wrong hash is a HashMismatchError', () => {
  const tampered = Buffer.from(t.rawInfo)
  tampered[tampered.length - 2] ^= 1
  throwsTyped(() => verifyInfohash(tampered, t.info.infohashV1 as Buffer), HashMismatchError)
  throwsTyped(() => verifyInfohash(t.rawInfo, Buffer.alloc(20)), HashMismatchError, /does not hash/)
})

test('an infohash that is not 20 bytes is a SchemaError (a full 32-byte v2 hash included)', () => {
  throwsTyped(() => verifyInfohash(t.rawInfo, t.info.infohashV2 as Buffer), SchemaError)
  throwsTyped(() => verifyInfohash(t.rawInfo, Buffer.alloc(19)), SchemaError)
})
