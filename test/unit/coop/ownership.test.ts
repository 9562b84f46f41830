import { test } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { closestMember, isOwner, regionsFor } from '../../../src/coop/ownership.js'
import { inRegion, xor } from '../../../src/core/infohash.js'

test('exactly one member owns each infohash, the XOR-closest', () => {
  const ids = Array.from({ length: 5 }, () => randomBytes(20))
  for (let n = 0; n < 500; n++) {
    const h = randomBytes(20)
    const owners = ids.filter((id) => isOwner(h, id, ids))
    assert.equal(owners.length, 1)
    const best = ids.map((id) => xor(id, h)).sort(Buffer.compare)[0]
    assert.deepEqual(xor(owners[0], h), best)
    assert.equal(ids[closestMember(h, ids)], owners[0])
  }
})

test('regions of all members cover the keyspace exactly once', () => {
  for (const n of [1, 2, 3, 5, 16, 40]) {
    const ids = Array.from({ length: n }, () => randomBytes(20))
    const regions = ids.map((id) => regionsFor(id, ids))
    for (let k = 0; k < 300; k++) {
      const key = randomBytes(20)
      const holders = regions.filter((rs) => rs.some((r) => inRegion(key, r))).length
      assert.equal(holders, 1, `n=${n}`)
    }
  }
})

test('a member alone has the whole keyspace; with N members the prefixes are shared out', () => {
  const me = randomBytes(20)
  assert.deepEqual(regionsFor(me, [me]).map((r) => r.bits), [0])
  const ids = [me, ...Array.from({ length: 6 }, () => randomBytes(20))]
  const all = ids.map((id) => regionsFor(id, ids))
  const bits = all.flat()[0].bits
  assert.equal(bits, 4) // smallest b with 2^b >= 2N = 14
  assert.equal(all.reduce((n, rs) => n + rs.length, 0), 16)
})
