// Bounded bencode (BEP-3). Pure and total: every input either decodes within the caps or
// throws one DecodeError/LimitError. Dicts are null-prototype objects keyed by the raw key
// bytes read as latin1 (one char per byte), so binary keys (v2 `piece layers`) survive and a
// `__proto__` key is just an own key. Byte strings are zero-copy views into the input.

import { DecodeError, LimitError } from './errors.js'

export type BValue = number | Uint8Array | BValue[] | BDict
export interface BDict { [key: string]: BValue }

export interface DecodeOptions {
  /** Refuse inputs longer than this many bytes (checked before any work). */
  maxBytes?: number
  /** Maximum nesting of lists and dicts. */
  maxDepth?: number
  /** Maximum total number of values (strings, ints, lists, dicts) in the input. */
  maxItems?: number
  /** Allow bytes after the first complete value (ut_metadata data messages carry a trailer). */
  allowTrailing?: boolean
}

export interface DecodeResult {
  value: BValue
  /** Offset one past the decoded value. */
  end: number
}

const DEFAULT_MAX_DEPTH = 32
const DEFAULT_MAX_ITEMS = 1_000_000

const C_i = 0x69
const C_l = 0x6c
const C_d = 0x64
const C_e = 0x65
const C_colon = 0x3a
const C_minus = 0x2d
const C_0 = 0x30
const C_9 = 0x39

const latin1 = new TextDecoder('latin1')

export function isDict (v: unknown): v is BDict {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array)
}

export function isBytes (v: unknown): v is Uint8Array {
  return v instanceof Uint8Array
}

/** Decode one bencoded value. */
export function decode (input: Uint8Array, options: DecodeOptions = {}): BValue {
  const r = decodePrefix(input, options)
  if (r.end !== input.length && options.allowTrailing !== true) {
    throw new DecodeError(`bencode: ${input.length - r.end} trailing bytes after value`)
  }
  return r.value
}

/** Decode the value at the start of input, returning where it ended. */
export function decodePrefix (input: Uint8Array, options: DecodeOptions = {}): DecodeResult {
  if (!(input instanceof Uint8Array)) throw new DecodeError('bencode: input is not a byte array')
  const maxBytes = options.maxBytes ?? Infinity
  if (input.length > maxBytes) throw new LimitError(`bencode: input of ${input.length} bytes exceeds cap ${maxBytes}`)
  if (input.length === 0) throw new DecodeError('bencode: empty input')
  const d = new Decoder(input, options.maxDepth ?? DEFAULT_MAX_DEPTH, options.maxItems ?? DEFAULT_MAX_ITEMS)
  const value = d.value(0)
  return { value, end: d.pos }
}

class Decoder {
  pos = 0
  items = 0
  constructor (readonly buf: Uint8Array, readonly maxDepth: number, readonly maxItems: number) {}

  value (depth: number): BValue {
    if (++this.items > this.maxItems) throw new LimitError(`bencode: more than ${this.maxItems} values`)
    const c = this.peek()
    if (c === C_i) return this.int()
    if (c >= C_0 && c <= C_9) return this.bytes()
    if (c === C_l) {
      if (depth >= this.maxDepth) throw new LimitError(`bencode: nesting deeper than ${this.maxDepth}`)
      this.pos++
      const list: BValue[] = []
      while (this.peek() !== C_e) list.push(this.value(depth + 1))
      this.pos++
      return list
    }
    if (c === C_d) {
      if (depth >= this.maxDepth) throw new LimitError(`bencode: nesting deeper than ${this.maxDepth}`)
      this.pos++
      const dict: BDict = Object.create(null)
      while (this.peek() !== C_e) {
        if (this.peek() < C_0 || this.peek() > C_9) throw new DecodeError(`bencode: dict key at ${this.pos} is not a string`)
        const kb = this.bytes()
        const key = latin1.decode(kb)
        if (Object.prototype.hasOwnProperty.call(dict, key)) throw new DecodeError(`bencode: duplicate dict key at ${this.pos}`)
        this.items++
        dict[key] = this.value(depth + 1)
      }
      this.pos++
      return dict
    }
    throw new DecodeError(`bencode: unexpected byte 0x${c.toString(16)} at ${this.pos}`)
  }

  peek (): number {
    if (this.pos >= this.buf.length) throw new DecodeError('bencode: unexpected end of input')
    return this.buf[this.pos]
  }

  int (): number {
    const start = ++this.pos
    let neg = false
    if (this.peek() === C_minus) { neg = true; this.pos++ }
    const digitsStart = this.pos
    let n = 0
    while (true) {
      const c = this.peek()
      if (c === C_e) break
      if (c < C_0 || c > C_9) throw new DecodeError(`bencode: bad integer byte at ${this.pos}`)
      n = n * 10 + (c - C_0)
      this.pos++
      if (this.pos - digitsStart > 16) throw new DecodeError(`bencode: integer at ${start} too long`)
    }
    const ndigits = this.pos - digitsStart
    if (ndigits === 0) throw new DecodeError(`bencode: empty integer at ${start}`)
    if (ndigits > 1 && this.buf[digitsStart] === C_0) throw new DecodeError(`bencode: integer with leading zero at ${start}`)
    if (neg && n === 0) throw new DecodeError(`bencode: negative zero at ${start}`)
    if (!Number.isSafeInteger(n)) throw new DecodeError(`bencode: integer at ${start} out of range`)
    this.pos++
    return neg ? -n : n
  }

  bytes (): Uint8Array {
    const start = this.pos
    let len = 0
    while (true) {
      const c = this.peek()
      if (c === C_colon) break
      if (c < C_0 || c > C_9) throw new DecodeError(`bencode: bad string length at ${start}`)
      len = len * 10 + (c - C_0)
      this.pos++
      if (this.pos - start > 10) throw new DecodeError(`bencode: string length at ${start} too long`)
    }
    if (this.pos - start > 1 && this.buf[start] === C_0) throw new DecodeError(`bencode: string length with leading zero at ${start}`)
    this.pos++
    // Check the declared length against what is there before taking a view: a lying length
    // costs nothing.
    if (len > this.buf.length - this.pos) throw new DecodeError(`bencode: string at ${start} claims ${len} bytes, only ${this.buf.length - this.pos} left`)
    const out = this.buf.subarray(this.pos, this.pos + len)
    this.pos += len
    return out
  }
}

// ---------------------------------------------------------------- encoding

export type EncodableValue = number | bigint | string | Uint8Array | EncodableValue[] | { [key: string]: EncodableValue | undefined }

const utf8 = new TextEncoder()

/** Encode a value. Dict keys are taken as latin1 (byte-per-char) and sorted by raw bytes; undefined values are omitted. */
export function encode (value: EncodableValue): Buffer {
  const parts: Uint8Array[] = []
  enc(value, parts, 0)
  return Buffer.concat(parts)
}

function enc (v: EncodableValue, out: Uint8Array[], depth: number): void {
  if (depth > 64) throw new RangeError('bencode: value nested too deeply to encode')
  if (typeof v === 'number') {
    if (!Number.isSafeInteger(v)) throw new RangeError(`bencode: cannot encode non-integer ${v}`)
    out.push(Buffer.from(`i${v}e`, 'latin1'))
  } else if (typeof v === 'bigint') {
    out.push(Buffer.from(`i${v}e`, 'latin1'))
  } else if (typeof v === 'string') {
    const b = utf8.encode(v)
    out.push(Buffer.from(`${b.length}:`, 'latin1'), b)
  } else if (v instanceof Uint8Array) {
    out.push(Buffer.from(`${v.length}:`, 'latin1'), v)
  } else if (Array.isArray(v)) {
    out.push(Buffer.from('l', 'latin1'))
    for (const x of v) enc(x, out, depth + 1)
    out.push(Buffer.from('e', 'latin1'))
  } else if (typeof v === 'object' && v !== null) {
    out.push(Buffer.from('d', 'latin1'))
    const keys = Object.keys(v).filter((k) => v[k] !== undefined).sort(compareLatin1)
    for (const k of keys) {
      for (let i = 0; i < k.length; i++) if (k.charCodeAt(i) > 255) throw new RangeError('bencode: dict key is not latin1')
      const kb = Buffer.from(k, 'latin1')
      out.push(Buffer.from(`${kb.length}:`, 'latin1'), kb)
      enc(v[k] as EncodableValue, out, depth + 1)
    }
    out.push(Buffer.from('e', 'latin1'))
  } else {
    throw new TypeError(`bencode: cannot encode ${typeof v}`)
  }
}

function compareLatin1 (a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0
}

// ---------------------------------------------------------------- raw spans

/**
 * Find the raw byte span of the value under `key` in the top-level dict of input, so a
 * hash is taken over the bytes as sent, never over a re-encoding (an info dict that a
 * lenient encoder produced would otherwise get another hash).
 */
export function rawValueSpan (input: Uint8Array, key: string, options: DecodeOptions = {}): { start: number, end: number } | null {
  const maxBytes = options.maxBytes ?? Infinity
  if (input.length > maxBytes) throw new LimitError(`bencode: input of ${input.length} bytes exceeds cap ${maxBytes}`)
  if (input[0] !== C_d) throw new DecodeError('bencode: top level is not a dict')
  const d = new Decoder(input, options.maxDepth ?? DEFAULT_MAX_DEPTH, options.maxItems ?? DEFAULT_MAX_ITEMS)
  d.pos = 1
  let found: { start: number, end: number } | null = null
  while (d.peek() !== C_e) {
    if (d.peek() < C_0 || d.peek() > C_9) throw new DecodeError('bencode: dict key is not a string')
    const k = latin1.decode(d.bytes())
    const start = d.pos
    d.value(1)
    if (k === key) {
      if (found !== null) throw new DecodeError(`bencode: duplicate key ${key}`)
      found = { start, end: d.pos }
    }
  }
  return found
}

// ---------------------------------------------------------------- typed accessors

export function getBytes (d: BDict, key: string): Uint8Array | undefined {
  const v = Object.prototype.hasOwnProperty.call(d, key) ? d[key] : undefined
  return v instanceof Uint8Array ? v : undefined
}

export function getInt (d: BDict, key: string): number | undefined {
  const v = Object.prototype.hasOwnProperty.call(d, key) ? d[key] : undefined
  return typeof v === 'number' ? v : undefined
}

export function getDict (d: BDict, key: string): BDict | undefined {
  const v = Object.prototype.hasOwnProperty.call(d, key) ? d[key] : undefined
  return isDict(v) ? v : undefined
}

export function getList (d: BDict, key: string): BValue[] | undefined {
  const v = Object.prototype.hasOwnProperty.call(d, key) ? d[key] : undefined
  return Array.isArray(v) ? v : undefined
}

export function has (d: BDict, key: string): boolean {
  return Object.prototype.hasOwnProperty.call(d, key)
}

const utf8Fatal = new TextDecoder('utf-8', { fatal: false })
/** Bytes to text, replacing invalid UTF-8 (names from the wild are often not UTF-8). */
export function text (b: Uint8Array): string {
  return utf8Fatal.decode(b)
}
