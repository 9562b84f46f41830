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

test('regions of all members cover the keyspace; no member is left without one', () => {
  for (const n of [1, 2, 3, 5, 16, 40]) {
    const ids = Array.from({ length: n }, () => randomBytes(20))
    const regions = ids.map((id) => regionsFor(id, ids))
    for (const rs of regions) assert.ok(rs.length > 0, `n=${n}: a member without a region`)
    // Only a member closest to no midpoint adds an overlap, so at most one extra holder per such member.
    const extra = regions.filter((rs, i) => rs.length === 1 && inRegion(ids[i], rs[0])).length
    for (let k = 0; k < 300; k++) {
      const key = randomBytes(20)
      const holders = regions.filter((rs) => rs.some((r) => inRegion(key, r))).length
      assert.ok(holders >= 1 && holders <= 1 + extra, `n=${n}: ${holders} holders`)
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
  const n = all.reduce((a, rs) => a + rs.length, 0)
  assert.ok(n >= 16 && n <= 16 + ids.length, `${n} regions`)
})

test('a member closest to no prefix midpoint still gets the prefix of its own ID', () => {
  // Two IDs in the same top quarter, the third elsewhere: with 3 members b = 3 (8 prefixes);
  // craft a member whose ID sits right next to another so it wins no midpoint.
  const a = Buffer.alloc(20, 0); a[0] = 0x10
  const b = Buffer.alloc(20, 0); b[0] = 0x10; b[19] = 1
  const c = Buffer.alloc(20, 0xff)
  const ids = [a, b, c]
  const rb = regionsFor(b, ids)
  const ra = regionsFor(a, ids)
  assert.ok(rb.length > 0 && ra.length > 0)
  assert.ok(rb.some((r) => inRegion(b, r)) || ra.some((r) => inRegion(a, r)))
})
