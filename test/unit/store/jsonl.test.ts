import { test } from 'node:test'
import assert from 'node:assert/strict'
import { PassThrough, Readable } from 'node:stream'
import { openStore, type Store } from '../../../src/store/index.js'
import { toJsonlLine, ERRORS_KEPT } from '../../../src/store/jsonl.js'
import { torrent, rawInfoMulti, record, tempStore, ih20 } from './fixtures.js'

function fresh (t: { after: (fn: () => void) => void }): Store {
  const s = tempStore()
  const store = openStore(s.path)
  t.after(() => { store.close(); s.cleanup() })
  return store
}

async function exportText (store: Store): Promise<string> {
  const out = new PassThrough()
  const chunks: Buffer[] = []
  out.on('data', (c: Buffer) => chunks.push(c))
  const r = await store.exportJsonl(out)
  out.end()
  const text = Buffer.concat(chunks).toString('utf8')
  assert.equal(text.split('\n').filter((l) => l !== '').length, r.exported)
  return text
}

const lines = (...ls: string[]): Readable => Readable.from([Buffer.from(ls.join('\n'))])

test('export then import round-trips every torrent, hash-checked', async (t) => {
  const a = fresh(t)
  const records = [
    torrent('v1', 'one'), torrent('v2', 'two', 40000), torrent('hybrid', 'three'),
    record(rawInfoMulti('multi', [{ path: ['d', 'x.txt'], size: 5 }, { path: ['y'], size: 0 }]), 'catalog:abc', 42),
  ]
  a.addTorrents(records)
  const text = await exportText(a)
  const first = JSON.parse(text.split('\n')[1])
  assert.deepEqual(Object.keys(first), ['infohash', 'ih_v2', 'name', 'size', 'files', 'source', 'discovered_at', 'info'])
  assert.equal(first.infohash.length, 40)
  assert.equal(first.ih_v2.length, 64)
  assert.ok(first.files[0].pieces_root.length === 64)

  const b = fresh(t)
  // Small chunks: lines are cut across chunk boundaries.
  const bytes = Buffer.from(text)
  const chunks: Buffer[] = []
  for (let i = 0; i < bytes.length; i += 7) chunks.push(bytes.subarray(i, i + 7))
  const r = await b.importJsonl(Readable.from(chunks))
  assert.deepEqual(r, { imported: 4, duplicates: 0, invalid: 0, errors: [] })
  for (const rec of records) {
    const got = b.getTorrent(ih20(rec))
    assert.ok(got !== null)
    assert.deepEqual(got.rawInfo, rec.rawInfo)
    assert.equal(got.source, rec.source)
    assert.equal(got.discoveredAt, rec.discoveredAt)
  }
  assert.equal(await exportText(b), text)
  // Importing again: all duplicates.
  const again = await b.importJsonl(Readable.from([text]))
  assert.deepEqual(again, { imported: 0, duplicates: 4, invalid: 0, errors: [] })
})

test('bad lines are counted with their line number and skipped; the rest imports', async (t) => {
  const store = fresh(t)
  const good = toJsonlLine({ ...torrent('v1', 'good'), id: 1 })
  const good2 = toJsonlLine({ ...torrent('hybrid', 'good two'), id: 2 })
  const lie = JSON.parse(toJsonlLine({ ...torrent('v1', 'liar'), id: 3 }))
  lie.infohash = '00'.repeat(20)
  const wrongV2 = JSON.parse(good2)
  wrongV2.ih_v2 = 'ab'.repeat(32)
  const noInfo = JSON.parse(good)
  delete noInfo.info
  const notBencode = { ...JSON.parse(good), info: Buffer.from('hello').toString('base64') }
  const r = await store.importJsonl(lines(
    good, // 1
    '{"infohash": ', // 2: not JSON
    '', // 3: blank, skipped silently
    JSON.stringify(lie), // 4: hash mismatch
    '[1,2,3]', // 5: not an object
    JSON.stringify(noInfo), // 6: no info
    JSON.stringify({ ...JSON.parse(good), info: '!!!notbase64' }), // 7
    JSON.stringify({ ...JSON.parse(good), infohash: 'xyz' }), // 8
    JSON.stringify(wrongV2), // 9
    JSON.stringify(notBencode), // 10: hash mismatch (it hashes to something else)
    good2, // 11
    good, // 12: duplicate
  ))
  assert.equal(r.imported, 2)
  assert.equal(r.duplicates, 1)
  assert.equal(r.invalid, 8)
  assert.deepEqual(r.errors.map((e) => e.line), [2, 4, 5, 6, 7, 8, 9, 10])
  assert.match(r.errors[0].reason, /not JSON/)
  assert.match(r.errors[1].reason, /does not hash to/)
  assert.match(r.errors[3].reason, /info.*missing/)
  assert.match(r.errors[6].reason, /ih_v2/)
})

test('a line over the cap is one invalid line; the lines around it import', async (t) => {
  const store = fresh(t)
  const a = toJsonlLine({ ...torrent('v1', 'before'), id: 1 })
  const b = toJsonlLine({ ...torrent('v1', 'after'), id: 2 })
  const huge = '{"x":"' + 'y'.repeat(5000) + '"}'
  const input = Readable.from([a + '\n' + huge.slice(0, 1000), huge.slice(1000) + '\n' + b + '\n' + huge])
  const r = await store.importJsonl(input, { maxLineBytes: 2000 })
  assert.equal(r.imported, 2)
  assert.equal(r.invalid, 2)
  assert.deepEqual(r.errors, [{ line: 2, reason: 'line longer than 2000 bytes' }, { line: 4, reason: 'line longer than 2000 bytes' }])
})

test('a last line without a newline and CRLF line ends are read', async (t) => {
  const store = fresh(t)
  const a = toJsonlLine({ ...torrent('v1', 'crlf'), id: 1 })
  const b = toJsonlLine({ ...torrent('v2', 'last'), id: 2 })
  const r = await store.importJsonl(Readable.from([`${a}\r\n${b}`]))
  assert.deepEqual(r, { imported: 2, duplicates: 0, invalid: 0, errors: [] })
})

test('only the first bad lines are listed; all are counted; source can be overridden', async (t) => {
  const store = fresh(t)
  const junk = Array.from({ length: ERRORS_KEPT + 50 }, () => 'junk')
  const good = toJsonlLine({ ...torrent('v1', 'kept'), id: 1 })
  const r = await store.importJsonl(lines(...junk, good), { source: 'catalog:xyz', batchSize: 1 })
  assert.equal(r.invalid, ERRORS_KEPT + 50)
  assert.equal(r.errors.length, ERRORS_KEPT)
  assert.equal(r.imported, 1)
  assert.equal(store.search('kept')[0].name, 'kept')
  assert.equal(store.getTorrent(ih20(torrent('v1', 'kept')))?.source, 'catalog:xyz')
})
