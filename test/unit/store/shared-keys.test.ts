import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { openStore } from '../../../src/store/index.js'
import { syntheticTorrent } from '../../../src/torrent/synthetic.js'

test('pageSharedKeys: the keys of harvested torrents (both of a hybrid), never imported or catalog ones, page by page', () => {
  const dir = mkdtempSync(join(tmpdir(), 'bbmesh-shared-'))
  const store = openStore(join(dir, 'index.sqlite'))
  try {
    const v1 = syntheticTorrent('shared v1', 'v1')
    const hy = syntheticTorrent('shared hybrid', 'hybrid')
    const v2 = syntheticTorrent('shared v2', 'v2')
    const imp = syntheticTorrent('shared import', 'v1')
    const cat = syntheticTorrent('shared catalog', 'hybrid')
    store.addTorrents([
      { info: v1.info, rawInfo: v1.rawInfo, source: 'dht', discoveredAt: 1 },
      { info: imp.info, rawInfo: imp.rawInfo, source: 'import', discoveredAt: 2 },
      { info: hy.info, rawInfo: hy.rawInfo, source: 'member', discoveredAt: 3 },
      { info: cat.info, rawInfo: cat.rawInfo, source: 'catalog:abcd', discoveredAt: 4 },
      { info: v2.info, rawInfo: v2.rawInfo, source: 'dht', discoveredAt: 5 },
    ])
    const keys: string[] = []
    let pages = 0
    for (let after = 0; ;) {
      const p = store.pageSharedKeys(after, 2)
      if (p.lastId === null) break
      pages++
      keys.push(...p.keys.map((k) => k.toString('hex')))
      after = p.lastId
    }
    assert.equal(pages, 3)
    const want = [v1.info.infohashV1, hy.info.infohashV1, hy.info.infohashV2?.subarray(0, 20), v2.info.infohashV2?.subarray(0, 20)].map((b) => (b as Buffer).toString('hex'))
    assert.deepEqual(keys, want)
  } finally {
    store.close()
    rmSync(dir, { recursive: true, force: true })
  }
})
