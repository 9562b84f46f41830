// A binary min-heap (schedulers: the sampler's due list).

export class MinHeap<T> {
  private readonly a: T[] = []
  constructor (private readonly cmp: (x: T, y: T) => number) {}

  get size (): number { return this.a.length }
  peek (): T | undefined { return this.a[0] }

  push (v: T): void {
    const a = this.a
    a.push(v)
    let i = a.length - 1
    while (i > 0) {
      const p = (i - 1) >> 1
      if (this.cmp(a[i], a[p]) >= 0) break
      const t = a[i]; a[i] = a[p]; a[p] = t
      i = p
    }
  }

  pop (): T | undefined {
    const a = this.a
    if (a.length === 0) return undefined
    const top = a[0]
    const last = a.pop() as T
    if (a.length > 0) {
      a[0] = last
      let i = 0
      for (;;) {
        const l = 2 * i + 1; const r = l + 1
        let m = i
        if (l < a.length && this.cmp(a[l], a[m]) < 0) m = l
        if (r < a.length && this.cmp(a[r], a[m]) < 0) m = r
        if (m === i) break
        const t = a[i]; a[i] = a[m]; a[m] = t
        i = m
      }
    }
    return top
  }
}
