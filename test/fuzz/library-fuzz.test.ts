// Fuzz of the library's decoders, which read what a hostile publisher or DHT node sends: the
// catalog index and shard files, single records, and BEP-46 pointer values and items. Seeded
// mutations of valid inputs (and splices of two): every outcome is a value or a BbmeshError,
// never another exception, and a decoded shard never yields a record that does not check out.

import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { BbmeshError } from '../../src/core/errors.js'
import { sha1 } from '../../src/core/infohash.js'
import { syntheticTorrent } from '../../src/torrent/synthetic.js'
import type { CreateMode } from '../../src/torrent/create.js'
import { buildCatalog } from '../../src/library/catalog.js'
import { decodeIndex, decodeRecord, decodeShard, encodeRecord, recordFromTorrent } from '../../src/library/catalog-format.js'
import { decodePointerValue, encodePointerValue, openPointer, signPointer } from '../../src/library/pointer.js'
import { generatePublisherKey } from '../../src/identity/publisher-key.js'
import { prng, mutate } from './mutate.js'

const SEED = 0x11b_5eed
let total = 0
const started = Date.now()
after(() => { console.log(`# library fuzz: ${total} inputs in ${((Date.now() - started) / 1000).toFixed(1)} s`) })

const MODES: CreateMode[] = ['v1', 'hybrid', 'v2']
const torrents = Array.from({ length: 40 }, (_, i) => syntheticTorrent(`fuzz-lib-${i}`, MODES[i % 3]))
const catalog = buildCatalog(torrents.map((t) => ({ info: t.info, rawInfo: t.rawInfo })), { bits: 1 })

/** Run f; anything thrown must be a BbmeshError (a typed refusal), with the input named on failure. */
function only (what: string, i: number, f: () => void): void {
  total++
  try { f() } catch (err) {
    assert.ok(err instanceof BbmeshError, `${what} #${i}: threw ${(err as Error)?.constructor?.name}: ${(err as Error)?.message}`)
  }
}

test('mutated catalog index files decode or are refused with a BbmeshError; what decodes is within its caps', () => {
  const rnd = prng(SEED)
  for (let i = 0; i < 4000; i++) {
    const input = mutate(catalog.indexFile, rnd, catalog.shards[0].file)
    only('index', i, () => {
      const idx = decodeIndex(input, { maxCatalogBytes: 1 << 30 })
      assert.ok(idx.shards.length <= 2 ** idx.bits)
      assert.ok(idx.bytes <= 1 << 30)
    })
  }
})

test('mutated shard files: decoded records all check out (info hashes to its key); the rest are refused and counted', () => {
  const rnd = prng(SEED + 1)
  const shard = catalog.shards[0]
  for (let i = 0; i < 3000; i++) {
    const input = mutate(shard.file, rnd, catalog.shards[1].file)
    only('shard', i, () => {
      const d = decodeShard(input, { expect: { bits: catalog.bits, prefix: shard.prefix } })
      for (const r of d.records) {
        // A record that survives must be a real torrent: its info dict hashes to its v1 key.
        if (r.ih !== null) assert.deepEqual(sha1(r.info), r.ih, `shard #${i}: a record with a wrong hash was accepted`)
        assert.ok(!r.files.some((f) => f.path.split('/').includes('..')), `shard #${i}: a '..' path was accepted`)
      }
    })
  }
})

test('mutated single records decode to a checked record or a BbmeshError', () => {
  const rnd = prng(SEED + 2)
  const recs = torrents.slice(0, 6).map((t) => encodeRecord(recordFromTorrent({ info: t.info, rawInfo: t.rawInfo })))
  for (let i = 0; i < 3000; i++) {
    const input = mutate(recs[i % recs.length], rnd, recs[(i + 1) % recs.length])
    only('record', i, () => {
      const r = decodeRecord(input)
      if (r.ih !== null) assert.deepEqual(sha1(r.info), r.ih)
    })
  }
})

test('mutated BEP-46 pointer values and items: a value decodes to 20 bytes or is refused; a changed item never verifies', () => {
  const rnd = prng(SEED + 3)
  const key = generatePublisherKey()
  const ih = sha1(Buffer.from('fuzz pointer'))
  const value = encodePointerValue(ih)
  const item = signPointer(key, ih, 7, 'slot')
  for (let i = 0; i < 3000; i++) {
    const v = mutate(value, rnd)
    only('pointer value', i, () => { assert.equal(decodePointerValue(v).length, 20) })
    const tampered = { ...item, v: mutate(item.v, rnd) }
    total++
    if (tampered.v.equals(item.v)) continue
    assert.throws(() => openPointer(tampered, { publicKey: key.publicKey, salt: 'slot' }), (err: unknown) => err instanceof BbmeshError, `item #${i} with a changed value verified`)
  }
})
