import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { mkdtempSync, mkdirSync, writeFileSync, rmSync, chmodSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createTorrent, createTorrentFromMemory, defaultPieceLength, comparePaths } from '../../../src/torrent/create.js'
import type { MemoryFile } from '../../../src/torrent/create.js'
import { CREATE_MAX_TREE_DEPTH } from '../../../src/torrent/create-layout.js'
import { parseInfo } from '../../../src/torrent/info-parse.js'
import { parseTorrentFile } from '../../../src/torrent/torrent-file.js'
import { decode, getList, getDict, getBytes } from '../../../src/core/bencode.js'
import type { BDict } from '../../../src/core/bencode.js'
import { AbortedError, LimitError, SchemaError, UsageError } from '../../../src/core/errors.js'
import { bytesFrom, throwsTyped } from './helpers.js'

const PL = 16384
const sha1 = (b: Uint8Array): Buffer => createHash('sha1').update(b).digest()
const sha256 = (b: Uint8Array): Buffer => createHash('sha256').update(b).digest()

const FILES: MemoryFile[] = [
  { path: ['b', 'big.bin'], data: bytesFrom('big', 3 * PL + 5) },
  { path: ['a.txt'], data: Buffer.from('hello world') },
  { path: ['empty'], data: Buffer.alloc(0) },
  { path: ['exact'], data: bytesFrom('exact', PL) },
]

const infoDict = (raw: Uint8Array): BDict => decode(raw) as BDict
const v1Entries = (raw: Uint8Array): Array<[string, number, string | undefined]> =>
  (getList(infoDict(raw), 'files') ?? []).map((e) => {
    const d = e as BDict
    return [(getList(d, 'path') ?? []).map((c) => Buffer.from(c as Uint8Array).toString()).join('/'), d.length as number, d.attr === undefined ? undefined : Buffer.from(d.attr as Uint8Array).toString()]
  })

test('round trip for each mode: create → .torrent → parse gives the same info and layers', () => {
  for (const mode of ['v1', 'v2', 'hybrid'] as const) {
    const t = createTorrentFromMemory({ name: 'set', files: FILES }, { mode, pieceLength: PL })
    const p = parseTorrentFile(t.torrent)
    assert.deepEqual(p.rawInfo, t.rawInfo)
    assert.deepEqual(p.info, t.info)
    assert.deepEqual(parseInfo(t.rawInfo), t.info)
    assert.equal(t.info.version, mode)
    assert.equal(t.info.totalSize, 3 * PL + 5 + 11 + PL)
    assert.deepEqual(t.info.files.map((f) => f.path), ['a.txt', 'b/big.bin', 'empty', 'exact'])
    if (mode === 'v1') {
      assert.equal(t.pieceLayers.size, 0)
      assert.equal(p.pieceLayers, undefined)
    } else {
      // Only b/big.bin is larger than one piece; 'exact' is one piece, so no layer.
      const big = t.info.files[1].piecesRoot?.toString('hex') ?? ''
      assert.deepEqual([...t.pieceLayers.keys()], [big])
      assert.equal(t.pieceLayers.get(big)?.length, 4 * 32)
      assert.deepEqual(p.pieceLayers, t.pieceLayers)
      assert.equal(t.info.files[2].piecesRoot, undefined, 'an empty file has no pieces root')
      assert.deepEqual(t.info.files[0].piecesRoot, sha256(Buffer.from('hello world')))
    }
  }
})

test('info holds only the keys libtorrent writes; no dates', () => {
  const keys = (mode: 'v1' | 'v2' | 'hybrid'): string[] => Object.keys(infoDict(createTorrentFromMemory({ name: 'set', files: FILES }, { mode, pieceLength: PL }).rawInfo)).sort()
  assert.deepEqual(keys('v1'), ['files', 'name', 'piece length', 'pieces'])
  assert.deepEqual(keys('v2'), ['file tree', 'meta version', 'name', 'piece length'])
  assert.deepEqual(keys('hybrid'), ['file tree', 'files', 'meta version', 'name', 'piece length', 'pieces'])
  const outer = Object.keys(decode(createTorrentFromMemory({ name: 'set', files: FILES }, { mode: 'hybrid', pieceLength: PL }).torrent) as BDict).sort()
  assert.deepEqual(outer, ['info', 'piece layers'])
})

test('creation is deterministic and independent of input order (canonical)', () => {
  const a = createTorrentFromMemory({ name: 'set', files: FILES }, { mode: 'hybrid', pieceLength: PL })
  const b = createTorrentFromMemory({ name: 'set', files: [...FILES].reverse() }, { mode: 'hybrid', pieceLength: PL })
  assert.deepEqual(a.torrent, b.torrent)
})

test('hybrid: a BEP-47 pad after every unaligned file, the last included; v1 pieces hash the padded stream', () => {
  const t = createTorrentFromMemory({ name: 'set', files: FILES }, { mode: 'hybrid', pieceLength: PL })
  assert.deepEqual(v1Entries(t.rawInfo), [
    ['a.txt', 11, undefined],
    [`.pad/${PL - 11}`, PL - 11, 'p'],
    ['b/big.bin', 3 * PL + 5, undefined],
    [`.pad/${PL - 5}`, PL - 5, 'p'],
    ['empty', 0, undefined],
    ['exact', PL, undefined],
  ])
  const stream = Buffer.concat([Buffer.from('hello world'), Buffer.alloc(PL - 11), FILES[0].data, Buffer.alloc(PL - 5), FILES[3].data])
  const want: Buffer[] = []
  for (let o = 0; o < stream.length; o += PL) want.push(sha1(stream.subarray(o, o + PL)))
  assert.deepEqual(getBytes(infoDict(t.rawInfo), 'pieces'), Buffer.concat(want))
  // The last file unaligned: libtorrent pads after it too, so the stream ends on a boundary.
  const u = createTorrentFromMemory({ name: 'u', files: [{ path: ['a'], data: Buffer.alloc(PL) }, { path: ['b'], data: Buffer.from('x') }] }, { mode: 'hybrid', pieceLength: PL })
  assert.deepEqual(v1Entries(u.rawInfo).map((e) => e[0]), ['a', 'b', `.pad/${PL - 1}`])
})

test('hybrid with one file: no pad, in a folder or as a single file', () => {
  const dir = createTorrentFromMemory({ name: 'one', files: [{ path: ['x'], data: Buffer.from('12345') }] }, { mode: 'hybrid', pieceLength: PL })
  assert.deepEqual(v1Entries(dir.rawInfo), [['x', 5, undefined]])
  const single = createTorrentFromMemory({ name: 'one.bin', files: [{ path: [], data: Buffer.from('12345') }] }, { mode: 'hybrid', pieceLength: PL })
  const d = infoDict(single.rawInfo)
  assert.equal(d.length, 5)
  assert.equal(d.files, undefined)
  assert.ok(getDict(getDict(d, 'file tree') ?? {}, 'one.bin') !== undefined)
  assert.deepEqual(single.info.files, [{ path: 'one.bin', size: 5, piecesRoot: sha256(Buffer.from('12345')) }])
})

test('v1: no pad files; fileOrder "input" keeps the given order', () => {
  const t = createTorrentFromMemory({ name: 'set', files: FILES }, { mode: 'v1', pieceLength: PL, fileOrder: 'input' })
  assert.deepEqual(v1Entries(t.rawInfo).map((e) => e[0]), ['b/big.bin', 'a.txt', 'empty', 'exact'])
  const stream = Buffer.concat(FILES.map((f) => f.data))
  assert.equal(getBytes(infoDict(t.rawInfo), 'pieces')?.length, Math.ceil(stream.length / PL) * 20)
  assert.deepEqual(getBytes(infoDict(t.rawInfo), 'pieces')?.subarray(0, 20), sha1(stream.subarray(0, PL)))
})

test('canonical order compares path components as bytes, like libtorrent and file trees', () => {
  assert.ok(comparePaths(['a', 'y'], ['a-b', 'x']) < 0) // as joined strings 'a-b/x' < 'a/y'
  assert.ok(comparePaths(['B'], ['a']) < 0)
  assert.ok(comparePaths(['z'], ['é']) < 0)
  const t = createTorrentFromMemory({
    name: 's',
    files: [['a-b', 'x'], ['a', 'y'], ['é'], ['B'], ['z']].map((path) => ({ path, data: Buffer.from(path.join()) })),
  }, { mode: 'hybrid', pieceLength: PL })
  assert.deepEqual(t.info.files.map((f) => f.path), ['B', 'a/y', 'a-b/x', 'z', 'é'])
})

test('executable files get attr x in v1 and v2; private sets private 1', () => {
  const t = createTorrentFromMemory({ name: 'x', files: [{ path: ['run.sh'], data: Buffer.from('#!'), executable: true }, { path: ['z'], data: Buffer.from('z') }] }, { mode: 'hybrid', pieceLength: PL, private: true })
  const d = infoDict(t.rawInfo)
  assert.equal(d.private, 1)
  assert.equal(t.info.private, true)
  assert.deepEqual(v1Entries(t.rawInfo)[0], ['run.sh', 2, 'x'])
  const leaf = getDict(getDict(getDict(d, 'file tree') ?? {}, 'run.sh') ?? {}, '') ?? {}
  assert.equal(Buffer.from(leaf.attr as Uint8Array).toString(), 'x')
})

test('default piece length follows libtorrent 2.0 thresholds', () => {
  assert.equal(defaultPieceLength(1), 16384)
  assert.equal(defaultPieceLength(2684355), 16384)
  assert.equal(defaultPieceLength(2684356), 32768)
  assert.equal(defaultPieceLength(42949674), 131072)
  assert.equal(defaultPieceLength(703687441777), 8 * 1024 * 1024)
  assert.equal(defaultPieceLength(703687441778), 16 * 1024 * 1024)
  assert.equal(defaultPieceLength(1e15), 16 * 1024 * 1024)
  assert.equal(createTorrentFromMemory({ name: 'd', files: FILES }, { mode: 'v2' }).info.pieceLength, 16384)
})

test('announce goes outside info and does not change the infohash', () => {
  const a = createTorrentFromMemory({ name: 'set', files: FILES }, { mode: 'hybrid', pieceLength: PL })
  const b = createTorrentFromMemory({ name: 'set', files: FILES }, { mode: 'hybrid', pieceLength: PL, announce: ['udp://t1:80', 'udp://t2:80'] })
  assert.deepEqual(a.rawInfo, b.rawInfo)
  assert.deepEqual(parseTorrentFile(b.torrent).announce, ['udp://t1:80', 'udp://t2:80'])
})

test('bad inputs are typed errors', () => {
  const mk = (files: MemoryFile[], opts: object = {}): unknown => createTorrentFromMemory({ name: 'n', files }, { mode: 'hybrid', pieceLength: PL, ...opts })
  const one = [{ path: ['a'], data: Buffer.from('a') }]
  throwsTyped(() => mk([]), UsageError, /no files/)
  throwsTyped(() => mk([{ path: ['a'], data: Buffer.alloc(0) }]), UsageError, /empty/)
  throwsTyped(() => mk([...one, { path: ['a'], data: Buffer.from('b') }]), UsageError, /duplicate/)
  throwsTyped(() => mk([...one, { path: ['a', 'b'], data: Buffer.from('b') }]), UsageError, /both a file and a directory/)
  throwsTyped(() => mk([{ path: ['..', 'a'], data: Buffer.from('a') }]), SchemaError)
  throwsTyped(() => mk([{ path: ['a\\b'], data: Buffer.from('a') }]), SchemaError)
  throwsTyped(() => mk(one, { pieceLength: 20000 }), UsageError, /piece length/)
  throwsTyped(() => mk(one, { pieceLength: 8192 }), UsageError, /piece length/)
  throwsTyped(() => mk(one, { fileOrder: 'input' }), UsageError, /v1/)
  throwsTyped(() => mk(one, { mode: 'v3' }), UsageError, /mode/)
  throwsTyped(() => createTorrentFromMemory({ name: '..', files: one }, { mode: 'v1' }), SchemaError)
  const deep = Array.from({ length: CREATE_MAX_TREE_DEPTH }, (_, i) => `d${i}`)
  assert.equal(parseInfo((mk([{ path: deep, data: Buffer.from('x') }]) as { rawInfo: Buffer }).rawInfo).files[0].path, deep.join('/'))
  throwsTyped(() => mk([{ path: [...deep, 'one-more'], data: Buffer.from('x') }]), LimitError)
})

test('from disk: same infohashes as from memory for the same files; single file too', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'bbmesh-create-'))
  try {
    const root = join(dir, 'set')
    for (const f of FILES) {
      mkdirSync(join(root, ...f.path.slice(0, -1)), { recursive: true })
      writeFileSync(join(root, ...f.path), f.data)
    }
    for (const mode of ['v1', 'v2', 'hybrid'] as const) {
      const disk = await createTorrent(root, { mode, pieceLength: PL })
      const mem = createTorrentFromMemory({ name: 'set', files: FILES }, { mode, pieceLength: PL })
      assert.deepEqual(disk.torrent, mem.torrent, mode)
    }
    const single = await createTorrent(join(root, 'a.txt'), { mode: 'hybrid' })
    assert.deepEqual(single.rawInfo, createTorrentFromMemory({ name: 'a.txt', files: [{ path: [], data: Buffer.from('hello world') }] }, { mode: 'hybrid' }).rawInfo)
    // The owner-execute bit becomes attr 'x'.
    chmodSync(join(root, 'a.txt'), 0o755)
    const x = await createTorrent(root, { mode: 'v1', pieceLength: PL })
    assert.deepEqual(v1Entries(x.rawInfo).find((e) => e[0] === 'a.txt'), ['a.txt', 11, 'x'])
    // Aborting stops it with AbortedError.
    const ac = new AbortController()
    ac.abort()
    await assert.rejects(createTorrent(root, { mode: 'v2', signal: ac.signal }), AbortedError)
    await assert.rejects(createTorrent(join(dir, 'missing'), { mode: 'v2' }), UsageError)
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})
