import { test } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { pair, communityKey } from './helpers.js'
import { bbAuth } from '../../../extensions/bb-auth.js'
import { bbMeta, NotHeldError, type BbMetaHandle, type MetaSource } from '../../../extensions/bb-meta.js'
import { syntheticTorrent } from '../../../src/torrent/synthetic.js'
import { HashMismatchError } from '../../../src/core/errors.js'

const K = communityKey('meta')

function setup (source: MetaSource, keyB = K) {
  const handles: BbMetaHandle[] = []
  const p = pair({
    a: [bbAuth({ keys: [K] }), bbMeta({ onOpen: (h) => handles.push(h) })],
    b: [bbAuth({ keys: [keyB] }), bbMeta({ source })],
  })
  return { p, handles }
}

test('a member pulls a verified info dict (several pieces) from another', async () => {
  const t = syntheticTorrent('bb-meta-ext', 'hybrid')
  const v1 = t.info.infohashV1 as Buffer
  const v2 = (t.info.infohashV2 as Buffer).subarray(0, 20)
  const { p, handles } = setup({ rawInfo: (ih) => ih.equals(v1) || ih.equals(v2) ? t.rawInfo : null })
  p.start(); await p.settle()
  assert.equal(handles.length, 1)
  const got = handles[0].fetch(v1)
  await p.settle()
  assert.deepEqual(await got, { raw: t.rawInfo, kind: 'v1' })
  const got2 = handles[0].fetch(v2)
  await p.settle()
  assert.equal((await got2).kind, 'v2')
})

test('a dict larger than one piece arrives whole', async () => {
  // Not a real torrent: checks the piece logic with a dict whose SHA-1 we name.
  const raw = Buffer.concat([Buffer.from('d4:name'), Buffer.from('40000:'), randomBytes(40_000), Buffer.from('e')])
  const { createHash } = await import('node:crypto')
  const ih = createHash('sha1').update(raw).digest()
  const { p, handles } = setup({ rawInfo: (h) => h.equals(ih) ? raw : null })
  p.start(); await p.settle()
  const got = handles[0].fetch(ih)
  await p.settle()
  assert.deepEqual((await got).raw, raw)
})

test('an infohash the member does not hold gives NotHeldError', async () => {
  const { p, handles } = setup({ rawInfo: () => null })
  p.start(); await p.settle()
  // Catch at once: the rejection arrives while settle() runs.
  const got = handles[0].fetch(randomBytes(20)).then(() => null, (e: unknown) => e)
  await p.settle()
  assert.ok(await got instanceof NotHeldError)
})

test('a relayed dict that does not hash to its infohash is rejected and the sender penalised', async () => {
  const t = syntheticTorrent('bb-meta-liar', 'v1')
  const other = syntheticTorrent('bb-meta-other', 'v1')
  const { p, handles } = setup({ rawInfo: () => other.rawInfo })
  p.start(); await p.settle()
  const got = handles[0].fetch(t.info.infohashV1 as Buffer).then(() => null, (e: unknown) => e)
  await p.settle()
  assert.ok(await got instanceof HashMismatchError)
  assert.ok(p.a.misbehaved.some((r) => /does not hash/.test(r)))
})

test('no handle (so no request) toward a node that failed bb_auth', async () => {
  const { p, handles } = setup({ rawInfo: () => null }, communityKey('other'))
  p.start(); await p.settle()
  assert.equal(handles.length, 0)
})
