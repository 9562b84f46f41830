// A Bloom filter of infohashes whose bit positions come from the infohash bytes themselves
// (Kirsch-Mitzenmacher double hashing on two 32-bit words): infohashes are already uniform
// hash outputs, so hashing them again only costs time (the bloom-filters package, which
// hashes with its own functions and serialises to JSON, was measured ~35x slower at the same
// size in the project brief). Used by
// bb_bloom to tell members which metadata a node holds.

import { LimitError, SchemaError } from '../core/errors.js'

/** Hard caps on filters we build or accept from a member. */
export const BLOOM_LIMITS = Object.freeze({
  minBits: 1024,
  /** 2^27 bits = 16 MiB: room for ~14M infohashes at 1% false positives. */
  maxBits: 2 ** 27,
  minHashes: 1,
  maxHashes: 16,
})

export class InfohashBloom {
  readonly bits: Uint8Array
  private mask: number
  /** Infohashes added (an estimate for a filter received from a member). */
  count = 0

  constructor (readonly m: number, readonly k: number, bits?: Uint8Array) {
    checkParams(m, k)
    this.mask = m - 1
    if (bits !== undefined && bits.length !== m / 8) throw new SchemaError(`bloom: ${bits.length} bytes for ${m} bits`)
    this.bits = bits ?? new Uint8Array(m / 8)
  }

  /** The smallest power-of-two filter for n items at false-positive rate p. */
  static forCapacity (n: number, p = 0.01): InfohashBloom {
    const want = Math.ceil(-Math.max(n, 1) * Math.log(p) / (Math.LN2 * Math.LN2))
    let m = BLOOM_LIMITS.minBits
    while (m < want && m < BLOOM_LIMITS.maxBits) m *= 2
    const k = Math.min(BLOOM_LIMITS.maxHashes, Math.max(1, Math.round(m / Math.max(n, 1) * Math.LN2)))
    return new InfohashBloom(m, k)
  }

  private positions (ih: Uint8Array, f: (bit: number) => boolean): boolean {
    if (ih.length < 8) throw new SchemaError('bloom: infohash too short')
    const h1 = ((ih[0] << 24) | (ih[1] << 16) | (ih[2] << 8) | ih[3]) >>> 0
    const h2 = (((ih[4] << 24) | (ih[5] << 16) | (ih[6] << 8) | ih[7]) | 1) >>> 0
    for (let i = 0; i < this.k; i++) {
      const bit = (h1 + Math.imul(i, h2)) & this.mask
      if (!f(bit)) return false
    }
    return true
  }

  add (ih: Uint8Array): void {
    this.positions(ih, (bit) => { this.bits[bit >>> 3] |= 1 << (bit & 7); return true })
    this.count++
  }

  has (ih: Uint8Array): boolean {
    return this.positions(ih, (bit) => (this.bits[bit >>> 3] & (1 << (bit & 7))) !== 0)
  }

  /** Expected false-positive rate at the current count. */
  falsePositiveRate (): number {
    return Math.pow(1 - Math.exp(-this.k * this.count / this.m), this.k)
  }
}

export function checkParams (m: number, k: number): void {
  if (!Number.isInteger(m) || m < BLOOM_LIMITS.minBits || m > BLOOM_LIMITS.maxBits || (m & (m - 1)) !== 0) {
    throw new LimitError(`bloom: size ${m} bits must be a power of two in ${BLOOM_LIMITS.minBits}..${BLOOM_LIMITS.maxBits}`)
  }
  if (!Number.isInteger(k) || k < BLOOM_LIMITS.minHashes || k > BLOOM_LIMITS.maxHashes) {
    throw new LimitError(`bloom: ${k} hash functions, must be ${BLOOM_LIMITS.minHashes}..${BLOOM_LIMITS.maxHashes}`)
  }
}
