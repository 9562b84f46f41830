// A small LRU map on Map's insertion order: get() refreshes, set() evicts the oldest.

export class LruMap<K, V> {
  private readonly map = new Map<K, V>()
  constructor (readonly max: number, private readonly onEvict?: (key: K, value: V) => void) {
    if (!(max > 0)) throw new RangeError('LruMap: max must be > 0')
  }

  get (key: K): V | undefined {
    const v = this.map.get(key)
    if (v !== undefined) { this.map.delete(key); this.map.set(key, v) }
    return v
  }

  peek (key: K): V | undefined { return this.map.get(key) }
  has (key: K): boolean { return this.map.has(key) }

  set (key: K, value: V): void {
    if (this.map.has(key)) this.map.delete(key)
    this.map.set(key, value)
    while (this.map.size > this.max) {
      const oldest = this.map.keys().next().value as K
      const ov = this.map.get(oldest) as V
      this.map.delete(oldest)
      this.onEvict?.(oldest, ov)
    }
  }

  delete (key: K): boolean { return this.map.delete(key) }
  clear (): void { this.map.clear() }
  get size (): number { return this.map.size }
  keys (): IterableIterator<K> { return this.map.keys() }
  values (): IterableIterator<V> { return this.map.values() }
  entries (): IterableIterator<[K, V]> { return this.map.entries() }
}
