// A FIFO with a hard size: push() refuses (returns false) when full, so producers see
// back-pressure instead of memory growing.

export class BoundedQueue<T> {
  private items: T[] = []
  private head = 0
  private waiters: Array<() => void> = []
  constructor (readonly max: number) {}

  get size (): number { return this.items.length - this.head }
  get full (): boolean { return this.size >= this.max }

  push (item: T): boolean {
    if (this.full) return false
    this.items.push(item)
    const w = this.waiters.shift()
    if (w !== undefined) w()
    return true
  }

  shift (): T | undefined {
    if (this.head >= this.items.length) return undefined
    const v = this.items[this.head]
    this.items[this.head] = undefined as unknown as T
    this.head++
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head)
      this.head = 0
    }
    return v
  }

  /** Resolve when an item is there (or at once), or when the signal aborts. */
  async wait (signal?: AbortSignal): Promise<void> {
    if (this.size > 0 || signal?.aborted === true) return
    await new Promise<void>((resolve) => {
      const done = (): void => { signal?.removeEventListener('abort', done); this.waiters = this.waiters.filter((w) => w !== done); resolve() }
      this.waiters.push(done)
      signal?.addEventListener('abort', done, { once: true })
    })
  }

  clear (): void { this.items = []; this.head = 0 }
}
