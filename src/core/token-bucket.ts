// Token buckets: a single one, and a bounded map of them keyed by remote address.

import { LruMap } from './lru.js'

export class TokenBucket {
  private tokens: number
  private last: number
  constructor (readonly rate: number, readonly burst: number, private readonly now: () => number = Date.now) {
    this.tokens = burst
    this.last = now()
  }

  private refill (): void {
    const t = this.now()
    if (t > this.last) {
      this.tokens = Math.min(this.burst, this.tokens + (t - this.last) * this.rate / 1000)
      this.last = t
    }
  }

  /** Take n tokens if they are there. */
  tryTake (n = 1): boolean {
    this.refill()
    if (this.tokens >= n) { this.tokens -= n; return true }
    return false
  }

  /** Milliseconds until n tokens will be there (0 if now). */
  waitFor (n = 1): number {
    this.refill()
    if (this.tokens >= n) return 0
    if (this.rate <= 0) return Infinity
    return Math.ceil((n - this.tokens) * 1000 / this.rate)
  }

  /** Take n tokens even if that goes negative (for bytes already sent); callers then wait. */
  force (n: number): void {
    this.refill()
    this.tokens -= n
  }
}

/** Per-key buckets with an LRU bound, so a flood of source addresses cannot grow memory. */
export class KeyedBuckets {
  private readonly map: LruMap<string, TokenBucket>
  constructor (readonly rate: number, readonly burst: number, maxKeys: number, private readonly now: () => number = Date.now) {
    this.map = new LruMap(maxKeys)
  }

  get (key: string): TokenBucket {
    let b = this.map.get(key)
    if (b === undefined) {
      b = new TokenBucket(this.rate, this.burst, this.now)
      this.map.set(key, b)
    }
    return b
  }

  tryTake (key: string, n = 1): boolean { return this.get(key).tryTake(n) }
  waitFor (key: string, n = 1): number { return this.get(key).waitFor(n) }
  get size (): number { return this.map.size }
}
