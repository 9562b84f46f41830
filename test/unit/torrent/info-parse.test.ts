import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import fc from 'fast-check'
import { parseInfo } from '../../../src/torrent/info-parse.js'
import { createTorrentFromMemory } from '../../../src/torrent/create.js'
import { BbmeshError, DecodeError, LimitError, SchemaError } from '../../../src/core/errors.js'
import { LIMITS } from '../../../src/core/limits.js'
import type { EncodableValue } from '../../../src/core/bencode.js'
import { bytesFrom, enc, throwsTyped } from './helpers.js'

type D = { [key: string]: EncodableValue | undefined }
const sha1 = (b: Uint8Array): Buffer => createHash('sha1').update(b).digest()
const sha256 = (b: Uint8Array): Buffer => createHash('sha256').update(b).digest()
const PL = 16384
const root32 = (s: string): Buffer => sha256(Buffer.from(s))

/** A valid v1 multi-file info dict; override any key. */
function v1 (over: D = {}): D {
  return { name: 'root', 'piece length': PL, pieces: Buffer.alloc(20), files: [{ length: 10, path: ['a.txt'] }], ...over }
}

/** A valid v2 info dict with one file. */
function v2 (over: D = {}): D {
  return {
    name: 'root',
    'piece length': PL,
    'meta version': 2,
    'file tree': { 'a.txt': { '': { length: 10, 'pieces root': root32('a') } } },
    ...over,
  }
}

/** A valid hybrid dict: two files, pad after each as libtorrent writes it. */
function hybrid (over: D = {}): D {
  return {
    ...v2(),
    'file tree': {
      'a.txt': { '': { length: 10, 'pieces root': root32('a') } },
      b: { 'c.bin': { '': { length: 20, 'pieces root': root32('c') } } },
    },
    files: [
      { length: 10, path: ['a.txt'] },
      { attr: 'p', length: PL - 10, path: ['.pad', String(PL - 10)] },
      { length: 20, path: ['b', 'c.bin'] },
      { attr: 'p', length: PL - 20, path: ['.pad', String(PL - 20)] },
    ],
    pieces: Buffer.alloc(40),
    ...over,
  }
}

test('v1 single-file: one file named like the torrent', () => {
  const raw = enc({ name: 'movie.mkv', 'piece length': PL, pieces: Buffer.alloc(60), length: 3 * PL - 1 })
  const info = parseInfo(raw)
  assert.equal(info.version, 'v1')
  assert.equal(info.name, 'movie.mkv')
  assert.deepEqual(info.files, [{ path: 'movie.mkv', size: 3 * PL - 1 }])
  assert.equal(info.totalSize, 3 * PL - 1)
  assert.equal(info.pieceLength, PL)
  assert.equal(info.private, false)
  assert.deepEqual(info.infohashV1, sha1(raw))
  assert.equal(info.infohashV2, undefined)
})

test('v1 multi-file: paths relative to the root, in list order; private flag', () => {
  const raw = enc(v1({
    private: 1,
    files: [{ length: 5, path: ['z.txt'] }, { length: PL, path: ['dir', 'sub', 'a.bin'] }],
    pieces: Buffer.alloc(40),
  }))
  const info = parseInfo(raw)
  assert.deepEqual(info.files.map((f) => [f.path, f.size]), [['z.txt', 5], ['dir/sub/a.bin', PL]])
  assert.equal(info.totalSize, PL + 5)
  assert.equal(info.private, true)
})

test('BEP-47 pad files are left out of files and totalSize but count for pieces', () => {
  const raw = enc(v1({
    files: [
      { length: 10, path: ['a'] },
      { attr: 'p', length: PL - 10, path: ['.pad', '16374'] },
      { attr: 'xp', length: 0, path: ['.pad', '0'] },
      { attr: 'x', length: 7, path: ['b'] },
    ],
    pieces: Buffer.alloc(40), // 16384 + 7 bytes = 2 pieces
  }))
  const info = parseInfo(raw)
  assert.deepEqual(info.files.map((f) => f.path), ['a', 'b'])
  assert.equal(info.totalSize, 17)
})

test('name.utf-8 and path.utf-8 are preferred over name and path', () => {
  const info = parseInfo(enc(v1({
    'name.utf-8': 'Grüße',
    name: Buffer.from([0x47, 0x72, 0xfc]), // latin1 junk
    files: [{ length: 10, path: [Buffer.from([0xe9])], 'path.utf-8': ['é.txt'] }],
  })))
  assert.equal(info.name, 'Grüße')
  assert.equal(info.files[0].path, 'é.txt')
})

test('infohashes are taken over the raw bytes, even when keys are not sorted', () => {
  // 'pieces' before 'name': a sorted re-encoding would hash differently.
  const raw = Buffer.from(`d6:pieces20:${'\0'.repeat(20)}4:name4:root12:piece lengthi16384e6:lengthi1ee`, 'latin1')
  const info = parseInfo(raw)
  assert.deepEqual(info.infohashV1, sha1(raw))
  assert.notDeepEqual(info.infohashV1, sha1(enc(v1({ files: undefined, length: 1 }))))
})

test('a file tree as deep as the path cap parses', () => {
  const info = parseInfo(deepV2(LIMITS.torrentMaxPathDepth))
  assert.equal(info.files[0].path.split('/').length, LIMITS.torrentMaxPathDepth)
})

test('v2: files from the file tree in raw key order, with pieces roots; empty files have none', () => {
  const raw = enc(v2({
    'file tree': {
      9: { '': { length: 1, 'pieces root': root32('9') } },
      10: { '': { length: 2, 'pieces root': root32('10') } },
      d: { e: { '': { length: 0 } }, f: { '': { length: 3, 'pieces root': root32('f') } } },
    },
  }))
  const info = parseInfo(raw)
  assert.equal(info.version, 'v2')
  // Byte order: '10' < '9' (JS object key order would say '9' first).
  assert.deepEqual(info.files.map((f) => f.path), ['10', '9', 'd/e', 'd/f'])
  assert.deepEqual(info.files[0].piecesRoot, root32('10'))
  assert.equal(info.files[2].piecesRoot, undefined)
  assert.equal(info.totalSize, 6)
  assert.deepEqual(info.infohashV2, sha256(raw))
  assert.equal(info.infohashV2?.length, 32)
  assert.equal(info.infohashV1, undefined)
})

test('hybrid: file list from the v2 tree, both infohashes', () => {
  const raw = enc(hybrid())
  const info = parseInfo(raw)
  assert.equal(info.version, 'hybrid')
  assert.deepEqual(info.files.map((f) => [f.path, f.size]), [['a.txt', 10], ['b/c.bin', 20]])
  assert.ok(info.files.every((f) => f.piecesRoot?.length === 32))
  assert.deepEqual(info.infohashV1, sha1(raw))
  assert.deepEqual(info.infohashV2, sha256(raw))
})

test('created torrents of every mode parse back to the same info', () => {
  for (const mode of ['v1', 'v2', 'hybrid'] as const) {
    const t = createTorrentFromMemory({
      name: 'set',
      files: [{ path: ['x', 'y.bin'], data: bytesFrom('y', 50000) }, { path: ['a.txt'], data: Buffer.from('hi') }, { path: ['e'], data: Buffer.alloc(0) }],
    }, { mode, pieceLength: PL })
    const info = parseInfo(t.rawInfo)
    assert.deepEqual(info, t.info)
    assert.equal(info.version, mode)
    assert.deepEqual(info.files.map((f) => [f.path, f.size]), [['a.txt', 2], ['e', 0], ['x/y.bin', 50000]])
  }
})

// ---------------------------------------------------------------- malformed input, one per class

/**
 * A v2 info dict whose only file sits `depth` directories down. Framed by hand: core's
 * encode() refuses to nest this deep (it is an encoder for our own, shallow values).
 */
const deepV2 = (depth: number): Buffer => {
  let node = enc({ '': { length: 1, 'pieces root': root32('deep') } })
  for (let i = 0; i < depth; i++) node = Buffer.concat([Buffer.from(`d${String(i).length + 1}:d${i}`), node, Buffer.from('e')])
  return Buffer.concat([Buffer.from('d9:file tree'), node, Buffer.from(`12:meta versioni2e4:name4:root12:piece lengthi${PL}ee`)])
}

const bad: Array<[string, () => Uint8Array, new (...a: never[]) => BbmeshError, RegExp?]> = [
  ['not bencode', () => Buffer.from('xyz'), DecodeError],
  ['empty input', () => Buffer.alloc(0), DecodeError],
  ['not a dict (list)', () => enc([1, 2]), SchemaError, /not a dict/],
  ['not a dict (int)', () => enc(5), SchemaError, /not a dict/],
  ['trailing garbage', () => Buffer.concat([enc(v1()), Buffer.from('junk')]), DecodeError, /trailing/],
  ['truncated', () => enc(v1()).subarray(0, 30), DecodeError],
  ['bigger than metadataMaxSize', () => Buffer.alloc(LIMITS.metadataMaxSize + 1), LimitError],
  ['traversal path ..', () => enc(v1({ files: [{ length: 10, path: ['..', 'etc', 'passwd'] }] })), SchemaError, /'\.\.'/],
  ['path component .', () => enc(v1({ files: [{ length: 10, path: ['.', 'a'] }] })), SchemaError],
  ['path component with /', () => enc(v1({ files: [{ length: 10, path: ['a/../../b'] }] })), SchemaError, /'\/'/],
  ['path component with \\', () => enc(v1({ files: [{ length: 10, path: ['..\\..\\win.ini'] }] })), SchemaError, /'\\'/],
  ['path component with NUL', () => enc(v1({ files: [{ length: 10, path: ['a\0.txt'] }] })), SchemaError, /NUL/],
  ['empty path component', () => enc(v1({ files: [{ length: 10, path: ['a', ''] }] })), SchemaError, /empty/],
  ['empty path list', () => enc(v1({ files: [{ length: 10, path: [] }] })), SchemaError, /empty path/],
  ['path not a list', () => enc(v1({ files: [{ length: 10, path: 'a.txt' }] })), SchemaError],
  ['path component not a string', () => enc(v1({ files: [{ length: 10, path: [5] }] })), SchemaError],
  ['name ..', () => enc(v1({ name: '..' })), SchemaError],
  ['name with /', () => enc(v1({ name: '/etc' })), SchemaError],
  ['missing name', () => enc(v1({ name: undefined })), SchemaError, /name/],
  ['traversal in v2 file tree', () => enc(v2({ 'file tree': { '..': { x: { '': { length: 1, 'pieces root': root32('x') } } } } })), SchemaError],
  ['non-int length', () => enc(v1({ files: [{ length: '10', path: ['a'] }] })), SchemaError, /length/],
  ['missing length', () => enc(v1({ files: [{ path: ['a'] }] })), SchemaError, /length/],
  ['negative size', () => enc(v1({ files: [{ length: -10, path: ['a'] }] })), SchemaError, /negative/],
  ['negative single-file length', () => enc(v1({ files: undefined, length: -1 })), SchemaError, /negative/],
  ['negative v2 size', () => enc(v2({ 'file tree': { a: { '': { length: -1, 'pieces root': root32('a') } } } })), SchemaError, /negative/],
  ['total size overflow', () => enc(v1({ files: [{ length: 2 ** 52, path: ['a'] }, { length: 2 ** 52, path: ['b'] }] })), SchemaError, /safe integer/],
  ['pieces not multiple of 20', () => enc(v1({ pieces: Buffer.alloc(21) })), SchemaError, /multiple of 20/],
  ['pieces not a string', () => enc(v1({ pieces: 5 })), SchemaError],
  ['too few pieces for the size', () => enc(v1({ files: [{ length: PL + 1, path: ['a'] }] })), SchemaError, /expected 2/],
  ['too many pieces for the size', () => enc(v1({ pieces: Buffer.alloc(40) })), SchemaError, /expected 1/],
  ['piece length 0', () => enc(v1({ 'piece length': 0 })), SchemaError, /piece length/],
  ['negative piece length', () => enc(v1({ 'piece length': -16384 })), SchemaError, /piece length/],
  ['piece length not an int', () => enc(v1({ 'piece length': '16384' })), SchemaError, /piece length/],
  ['missing piece length', () => enc(v1({ 'piece length': undefined })), SchemaError, /piece length/],
  ['v2 piece length not a power of two', () => enc(v2({ 'piece length': 20000 })), SchemaError, /power of two/],
  ['v2 piece length below 16 KiB', () => enc(v2({ 'piece length': 8192 })), SchemaError, /power of two/],
  ['too many files (v1)', () => enc(v1({ files: Array.from({ length: LIMITS.torrentMaxFiles + 1 }, (_, i) => ({ length: 0, path: [`f${i}`] })) })), LimitError, /files/],
  ['too many files (v2)', () => {
    const tree: D = {}
    for (let i = 0; i <= LIMITS.torrentMaxFiles; i++) tree[`f${i}`] = { '': { length: 0 } }
    return enc(v2({ 'file tree': tree }))
  }, LimitError, /files/],
  ['path deeper than the cap (v1)', () => enc(v1({ files: [{ length: 10, path: Array.from({ length: LIMITS.torrentMaxPathDepth + 1 }, () => 'd') }] })), LimitError],
  ['file tree nested deeper than the decoder allows', () => deepV2(LIMITS.torrentMaxPathDepth + 10), LimitError],
  ['file tree path deeper than the cap', () => deepV2(LIMITS.torrentMaxPathDepth + 1), LimitError, /components/],
  ['path longer than the byte cap', () => enc(v1({ files: [{ length: 10, path: ['a'.repeat(LIMITS.torrentMaxNameBytes + 1)] }] })), LimitError],
  ['name longer than the byte cap', () => enc(v1({ name: 'n'.repeat(LIMITS.torrentMaxNameBytes + 1) })), LimitError],
  ['hybrid size mismatch', () => enc(hybrid({ files: [{ length: 10, path: ['a.txt'] }, { attr: 'p', length: PL - 10, path: ['.pad', 'x'] }, { length: 21, path: ['b', 'c.bin'] }] })), SchemaError, /hybrid/],
  ['hybrid count mismatch', () => enc(hybrid({ files: [{ length: 10, path: ['a.txt'] }], pieces: Buffer.alloc(20) })), SchemaError, /hybrid/],
  ['hybrid path mismatch', () => enc(hybrid({ files: [{ length: 10, path: ['a.txt'] }, { attr: 'p', length: PL - 10, path: ['.pad', 'x'] }, { length: 20, path: ['b', 'other.bin'] }], pieces: Buffer.alloc(40) })), SchemaError, /hybrid/],
  ['hybrid file not on a piece boundary', () => enc(hybrid({ files: [{ length: 10, path: ['a.txt'] }, { length: 20, path: ['b', 'c.bin'] }], pieces: Buffer.alloc(20) })), SchemaError, /boundary/],
  ['meta version 3', () => enc(v2({ 'meta version': 3 })), SchemaError, /meta version/],
  ['meta version not an int', () => enc(v2({ 'meta version': '2' })), SchemaError, /meta version/],
  ['meta version 2 without file tree', () => enc(v2({ 'file tree': undefined })), SchemaError, /file tree/],
  ['file tree not a dict', () => enc(v2({ 'file tree': [1] })), SchemaError, /file tree/],
  ['file tree with no files', () => enc(v2({ 'file tree': { emptydir: {} } })), SchemaError, /no files/],
  ['file tree root is a file', () => enc(v2({ 'file tree': { '': { length: 1 } } })), SchemaError],
  ['file node with other keys', () => enc(v2({ 'file tree': { a: { '': { length: 1, 'pieces root': root32('a') }, b: { '': { length: 0 } } } } })), SchemaError, /other keys/],
  ['file tree entry not a dict', () => enc(v2({ 'file tree': { a: 5 } })), SchemaError],
  ['missing pieces root', () => enc(v2({ 'file tree': { a: { '': { length: 1 } } } })), SchemaError, /pieces root/],
  ['pieces root of 31 bytes', () => enc(v2({ 'file tree': { a: { '': { length: 1, 'pieces root': Buffer.alloc(31) } } } })), SchemaError, /32/],
  ['neither pieces nor meta version', () => enc({ name: 'x', 'piece length': PL, length: 1 }), SchemaError],
  ['both length and files', () => enc(v1({ length: 10 })), SchemaError, /both/],
  ['neither length nor files', () => enc(v1({ files: undefined })), SchemaError],
  ['files not a list', () => enc(v1({ files: { a: 1 } })), SchemaError],
  ['empty files list', () => enc(v1({ files: [], pieces: Buffer.alloc(0) })), SchemaError, /empty/],
  ['only pad files', () => enc(v1({ files: [{ attr: 'p', length: 10, path: ['.pad', '10'] }] })), SchemaError, /pad/],
  ['file entry not a dict', () => enc(v1({ files: [5] })), SchemaError],
  ['attr not a string', () => enc(v1({ files: [{ attr: 1, length: 10, path: ['a'] }] })), SchemaError, /attr/],
]

for (const [name, make, Err, msg] of bad) {
  test(`rejects ${name} with ${Err.name}`, () => {
    throwsTyped(() => parseInfo(make()), Err, msg)
  })
}

test('never throws anything but a typed error, whatever the bytes (fuzz)', () => {
  const seeds = [enc(v1()), enc(v2()), enc(hybrid()), createTorrentFromMemory({
    name: 'fz', files: [{ path: ['a'], data: bytesFrom('a', 40000) }, { path: ['b', 'c'], data: Buffer.from('c') }],
  }, { mode: 'hybrid', pieceLength: PL }).rawInfo]
  const mutation = fc.record({
    seed: fc.integer({ min: 0, max: seeds.length - 1 }),
    edits: fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 2 })), { minLength: 1, maxLength: 6 }),
  })
  fc.assert(fc.property(mutation, ({ seed, edits }) => {
    let b = Buffer.from(seeds[seed])
    for (const [pos, byte, kind] of edits) {
      const p = pos % (b.length + 1)
      if (kind === 0 && p < b.length) b[p] = byte
      else if (kind === 1) b = Buffer.concat([b.subarray(0, p), Buffer.from([byte]), b.subarray(p)])
      else b = Buffer.concat([b.subarray(0, p), b.subarray(p + 1)])
    }
    try {
      parseInfo(b)
    } catch (e) {
      if (!(e instanceof BbmeshError)) throw e
      assert.ok(e instanceof DecodeError || e instanceof SchemaError || e instanceof LimitError, e.name)
    }
  }), { numRuns: 3000, seed: 52 })
})
