// bb_search across a cooperative of 5 members on the loopback testnet, each holding its own
// imported torrents (imported records are not pushed by gossip): a network search from one
// member finds the others' torrents that are not in its own index, with the right fields; a
// member that does not answer is reported and does not hold the answer past the deadline;
// hostile queries get a clear error or an empty result, never a crash.

import { test } from 'node:test'
import assert from 'node:assert/strict'
import { join } from 'node:path'
import type { Socket } from 'node:net'
import { createTestnet } from '../../src/testnet/testnet.js'
import { startHarvesters } from '../../src/testnet/harvesters.js'
import { generateCommunityKey } from '../../src/identity/community-key.js'
import { openStore } from '../../src/store/index.js'
import { createTorrentFromMemory, type CreatedTorrent } from '../../src/torrent/create.js'
import { UsageError } from '../../src/core/errors.js'
import { runCli } from '../helpers/cli.js'

const MEMBERS = 5
const PER_MEMBER = 4
const COLOURS = ['crimson', 'azure', 'amber', 'violet', 'olive']

function torrentOf (member: number, j: number): CreatedTorrent {
  // Every name has "nebula"; one word tells the member. Member 2's are v2-only, member 3's hybrid.
  const mode = member === 2 ? 'v2' : member === 3 ? 'hybrid' : 'v1'
  return createTorrentFromMemory(
    { name: `nebula ${COLOURS[member]} survey part ${j}`, files: [{ path: ['a.mkv'], data: Buffer.alloc(2000 + 100 * member + j, member * 16 + j) }, { path: ['b.txt'], data: Buffer.from(`member ${member} ${j}`) }] },
    { mode, pieceLength: 16 * 1024 },
  )
}

function importOwn (dir: string, i: number): void {
  const store = openStore(join(dir, 'index.sqlite'))
  try {
    store.addTorrents(Array.from({ length: PER_MEMBER }, (_, j) => {
      const t = torrentOf(i, j)
      return { info: t.info, rawInfo: t.rawInfo, source: 'import', discoveredAt: 1_700_000_000_000 + i * 10 + j }
    }))
  } finally { store.close() }
}

test('a network search from one member finds the other members\' imported torrents; a silent member is reported; hostile queries never crash', { timeout: 120_000 }, async () => {
  const tn = await createTestnet({ nodes: 12, v1: 0, v2: 0, hybrid: 0, seeders: 1, net: 77, seed: 'coop-search' })
  let set: Awaited<ReturnType<typeof startHarvesters>> | null = null
  try {
    set = await startHarvesters(tn, MEMBERS, { community: generateCommunityKey().format(), prepare: importOwn })
    const nodes = set.nodes
    const deadline = Date.now() + 60_000
    while (Date.now() < deadline && !nodes.every((n) => n.stats().members === MEMBERS - 1)) await new Promise((r) => setTimeout(r, 100))
    for (const n of nodes) assert.equal(n.stats().members, MEMBERS - 1, 'all linked')
    // Imported records are not gossiped: each member still holds only its own.
    for (const n of nodes) assert.equal(n.stats().torrents, PER_MEMBER)

    const local = nodes[0].searchLocal({ text: 'nebula', limit: 100 })
    assert.equal(local.hits.length, PER_MEMBER)
    const r = await nodes[0].networkSearch({ text: 'nebula survey', limit: 100 }, 5000)
    assert.equal(r.members.length, MEMBERS - 1)
    assert.ok(r.members.every((m) => m.answered && !m.timed_out && m.hits === PER_MEMBER), JSON.stringify(r.members))
    assert.equal(r.hits.length, MEMBERS * PER_MEMBER, 'every member\'s torrents, once each')
    assert.equal(r.local, PER_MEMBER)
    // The fields of a remote hit are those of the torrent.
    for (let i = 1; i < MEMBERS; i++) {
      for (let j = 0; j < PER_MEMBER; j++) {
        const t = torrentOf(i, j)
        const key = (t.info.infohashV1 ?? (t.info.infohashV2 as Buffer).subarray(0, 20)).toString('hex')
        const h = r.hits.find((x) => x.infohash === key)
        assert.ok(h !== undefined, `member ${i} torrent ${j} found`)
        assert.equal(h.name, t.info.name)
        assert.equal(h.size, t.info.totalSize)
        assert.equal(h.files, 2)
        assert.equal(h.ih_v2, t.info.infohashV2?.toString('hex'))
        assert.equal(h.discovered_at, 1_700_000_000_000 + i * 10 + j)
      }
    }
    // The same through the CLI, which asks the node running on the data directory (its API).
    const cli = await runCli(['search', 'nebula', 'survey', '--network', '--json', '--limit', '100', '--timeout', '5000', '--data-dir', nodes[0].config.dataDir])
    assert.equal(cli.code, 0, cli.stderr)
    assert.equal(cli.stdout.trim().split('\n').length, MEMBERS * PER_MEMBER)
    const report = JSON.parse(cli.stderr.trim().split('\n').pop() as string) as { local: number, members: Array<{ answered: boolean }> }
    assert.equal(report.members.length, MEMBERS - 1)
    assert.ok(report.members.every((m) => m.answered))
    // One word narrows to one member's torrents.
    const violet = await nodes[0].networkSearch({ text: 'violet', limit: 100 }, 5000)
    assert.deepEqual(new Set(violet.hits.map((h) => h.name)), new Set(Array.from({ length: PER_MEMBER }, (_, j) => `nebula violet survey part ${j}`)))

    // Hostile queries: a clear UsageError before anything is sent, or an answer (maybe empty).
    await assert.rejects(nodes[0].networkSearch({ text: '"" *** () ^', limit: 10 }, 2000), UsageError)
    // FTS operators are words to us: no torrent has them, every member answers, nothing matches.
    const ops = await nodes[0].networkSearch({ text: 'NEAR AND OR NOT name:zebra', limit: 10 }, 5000)
    assert.equal(ops.hits.length, 0)
    assert.ok(ops.members.every((m) => m.answered), JSON.stringify(ops.members))
    await assert.rejects(nodes[0].networkSearch({ text: 'x'.repeat(10_000), limit: 10 }, 2000), UsageError)
    const ctrl = await nodes[0].networkSearch({ text: 'nebula\u0000\u0007\u001b[31m NEAR(a b) name:x', limit: 10 }, 5000)
    assert.ok(ctrl.members.every((m) => m.answered || m.error !== undefined))
    const none = await nodes[0].networkSearch({ text: 'zebra', limit: 10 }, 5000)
    assert.equal(none.hits.length, 0)
    assert.ok(none.members.every((m) => m.answered))

    // A member that stops answering (its process hangs: it reads nothing more) is reported as
    // timed out, and the others' hits still come back.
    const silent = nodes[4]
    for (const m of silent.membership?.members() ?? []) (m.link.conn as unknown as { sock: Socket }).sock.pause()
    const partial = await nodes[0].networkSearch({ text: 'nebula', limit: 100 }, 1500)
    const silentId = silent.membership?.peerId.toString('hex')
    const rep = partial.members.find((m) => m.peer_id === silentId)
    assert.ok(rep !== undefined && rep.timed_out && !rep.answered, JSON.stringify(partial.members))
    assert.equal(partial.members.filter((m) => m.answered).length, MEMBERS - 2)
    assert.equal(partial.hits.length, (MEMBERS - 1) * PER_MEMBER)
  } finally {
    await set?.close()
    await tn.close()
  }
})
