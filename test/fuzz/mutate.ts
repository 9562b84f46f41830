// Seeded byte mutation for the fuzz tests: the same seed gives the same inputs on every run,
// so a failure is reproducible by its seed and index.

import v8 from 'node:v8'
import vm from 'node:vm'
import { prng } from '../../src/core/prng.js'
export { prng }


const INTERESTING = [0x00, 0x01, 0x13, 0x14, 0x20, 0x2d, 0x30, 0x31, 0x39, 0x3a, 0x64, 0x65, 0x69, 0x6c, 0x7f, 0x80, 0xff]
const TOKENS = ['i0e', 'i-1e', 'i99999999999999999e', 'le', 'de', '0:', '20:', '999:', '4294967295:', 'e', 'd', 'l', '9:__proto__', 'i1e', '1:q', '1:r', '1:e']

/** One to four mutations of `input`: bit flips, interesting bytes, bencode tokens, cuts, duplications, splices. */
export function mutate (input: Uint8Array, rnd: () => number, other?: Uint8Array): Buffer {
  let b = Buffer.from(input)
  const n = 1 + Math.floor(rnd() * 4)
  const at = (len: number): number => Math.floor(rnd() * (len + 1))
  for (let i = 0; i < n; i++) {
    const op = Math.floor(rnd() * 9)
    if (b.length === 0 && op < 3) { b = Buffer.from([INTERESTING[Math.floor(rnd() * INTERESTING.length)]]); continue }
    switch (op) {
      case 0: { const p = Math.floor(rnd() * b.length); b[p] ^= 1 << Math.floor(rnd() * 8); break }
      case 1: { const p = Math.floor(rnd() * b.length); b[p] = INTERESTING[Math.floor(rnd() * INTERESTING.length)]; break }
      case 2: { const p = Math.floor(rnd() * b.length); b[p] = Math.floor(rnd() * 256); break }
      case 3: { const p = at(b.length); b = Buffer.concat([b.subarray(0, p), Buffer.from(TOKENS[Math.floor(rnd() * TOKENS.length)], 'latin1'), b.subarray(p)]); break }
      case 4: { const p = at(b.length); const q = p + Math.floor(rnd() * 8); b = Buffer.concat([b.subarray(0, p), b.subarray(Math.min(q, b.length))]); break }
      case 5: { b = b.subarray(0, at(b.length)); break }
      case 6: { const p = at(b.length); const q = Math.min(b.length, p + Math.floor(rnd() * 32)); b = Buffer.concat([b.subarray(0, q), b.subarray(p, q), b.subarray(q)]); break }
      case 7: {
        if (other === undefined) break
        const p = at(b.length); const q = at(other.length)
        b = Buffer.concat([b.subarray(0, p), other.subarray(q)])
        break
      }
      default: {
        // A digit run changed: string lengths and integers that lie.
        const p = Math.floor(rnd() * b.length)
        if (b[p] >= 0x30 && b[p] <= 0x39) b[p] = 0x30 + Math.floor(rnd() * 10)
        else b[p] = 0x30 + Math.floor(rnd() * 10)
      }
    }
  }
  return b
}

/** A full garbage collection (the flag is set at run time; node --test passes no flags). */
export function gcNow (): void {
  v8.setFlagsFromString('--expose-gc')
  const gc = vm.runInNewContext('gc') as () => void
  gc()
  gc()
}

export function heapUsed (): number {
  gcNow()
  return process.memoryUsage().heapUsed
}
