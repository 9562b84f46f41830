// Store ingest: addTorrents() against raw better-sqlite3 prepared INSERTs of the same rows
// into the same tables, and the crawler's noteSeen() hot path.
//
// Baseline: a database created by the store (same schema, indexes, pragmas: WAL,
// synchronous=NORMAL, 64 MiB cache, foreign keys on), then for each batch of 1000 records
// one transaction of plain prepared INSERTs: one into torrents, one per file into files.
// No FTS, no duplicate check, no counters, no queue clean-up: the floor the store's extra
// work is measured against. A second baseline adds the FTS insert, to show what the index
// alone costs. The three ingest the same batches in turn, batch by batch.
//
//   node dist/bench/store-ingest.js            (BBMESH_BENCH_INGEST_N to change the size)

import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { randomBytes } from 'node:crypto'
import { openStore } from '../src/store/index.js'
import { open } from '../src/store/database.js'
import type { TorrentRecord } from '../src/torrent/types.js'
import { Synth } from './store-synth.js'

const BATCH = 1000
const REPEATS = 3


function median (xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.floor(s.length / 2)]
}

function batches<T> (xs: T[], n: number): T[][] {
  const out: T[][] = []
  for (let i = 0; i < xs.length; i += n) out.push(xs.slice(i, i + n))
  return out
}

type Ingest = (batch: TorrentRecord[]) => void

/** Raw prepared inserts into the store's own tables (a store-created database). */
function baseline (path: string, withFts: boolean): { ingest: Ingest, close: () => void } {
  const db = open(path)
  const raw = db.raw
  const insT = raw.prepare(`INSERT INTO torrents (ih_v1, ih_v2, name, total_size, file_count, piece_length, version, private, raw_info, source, discovered_at)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
  const insF = raw.prepare('INSERT INTO files (torrent_id, idx, path, size, pieces_root) VALUES (?, ?, ?, ?, ?)')
  const insFts = raw.prepare('INSERT INTO torrents_fts (rowid, name) VALUES (?, ?)')
  const code = { v1: 1, v2: 2, hybrid: 3 }
  const tx = raw.transaction((batch: TorrentRecord[]) => {
    for (const r of batch) {
      const i = r.info
      const id = insT.run(i.infohashV1 ?? null, i.infohashV2 ?? null, i.name, i.totalSize, i.files.length, i.pieceLength,
        code[i.version], i.private ? 1 : 0, r.rawInfo, r.source, r.discoveredAt).lastInsertRowid
      for (let k = 0; k < i.files.length; k++) insF.run(id, k, i.files[k].path, i.files[k].size, i.files[k].piecesRoot ?? null)
      if (withFts) insFts.run(id, i.name)
    }
  })
  return { ingest: (b) => { tx(b) }, close: () => db.close() }
}

/**
 * Ingest the same batches into the three databases, batch by batch in rotating order, so a
 * burst of load from anything else on the machine hits all three alike. Rows/s of each.
 */
function ingestRace (dir: string, bs: TorrentRecord[][]): { base: number, baseFts: number, store: number } {
  const st = openStore(join(dir, 'store.db'))
  const sides = [
    baseline(join(dir, 'base.db'), false),
    baseline(join(dir, 'base-fts.db'), true),
    { ingest: (b: TorrentRecord[]) => { st.addTorrents(b) }, close: () => st.close() },
  ]
  const time = [0, 0, 0]
  for (let i = 0; i < bs.length; i++) {
    for (let j = 0; j < 3; j++) {
      const k = (i + j) % 3
      const t0 = performance.now()
      sides[k].ingest(bs[i])
      time[k] += performance.now() - t0
    }
  }
  for (const s of sides) s.close()
  const rows = bs.reduce((a, b) => a + b.length, 0)
  return { base: rows / time[0] * 1000, baseFts: rows / time[1] * 1000, store: rows / time[2] * 1000 }
}

/** noteSeen on the hot path: new infohashes, then repeats of known ones; infohashes/s. */
function seen (dir: string, n: number): { fresh: number, repeat: number } {
  const path = join(dir, `seen-${Date.now()}.db`)
  const st = openStore(path)
  const ihs = Array.from({ length: n }, () => randomBytes(20))
  const bs = batches(ihs, BATCH)
  let t0 = performance.now()
  for (const b of bs) st.noteSeen(b, 'sample', Date.now())
  const fresh = n / ((performance.now() - t0) / 1000)
  t0 = performance.now()
  for (const b of bs) st.noteSeen(b, 'sample', Date.now())
  const repeat = n / ((performance.now() - t0) / 1000)
  st.close()
  rmSync(path, { force: true }); rmSync(`${path}-wal`, { force: true }); rmSync(`${path}-shm`, { force: true })
  return { fresh, repeat }
}

export async function run (): Promise<{ markdown: string }> {
  const n = Number(process.env.BBMESH_BENCH_INGEST_N ?? 100_000)
  const dir = mkdtempSync(join(tmpdir(), 'bbmesh-bench-ingest-'))
  try {
    const recs = new Synth(42).records(n)
    const files = recs.reduce((a, r) => a + r.info.files.length, 0)
    const rawBytes = recs.reduce((a, r) => a + r.rawInfo.length, 0)
    const bs = batches(recs, BATCH)
    const base: number[] = []; const baseFts: number[] = []; const ours: number[] = []
    for (let i = 0; i < REPEATS; i++) {
      const runDir = mkdtempSync(join(dir, 'run-'))
      const r = ingestRace(runDir, bs)
      rmSync(runDir, { recursive: true, force: true })
      base.push(r.base); baseFts.push(r.baseFts); ours.push(r.store)
    }
    const b = median(base); const bf = median(baseFts); const o = median(ours)
    const sn = seen(dir, Math.min(n, 200_000))
    const k = (x: number): string => `${Math.round(x / 100) / 10}k`
    const markdown = [
      '## Store ingest',
      '',
      `${n.toLocaleString('en')} synthetic torrents (${(files / n).toFixed(1)} files and ${Math.round(rawBytes / n)} bytes of info dict each on average; 80% v1, 15% hybrid, 5% v2), batches of ${BATCH} per transaction into fresh databases; the three ingest the same batches in turn (rotating order, so load from elsewhere hits all alike); median of ${REPEATS} runs.`,
      '',
      '| what | rows/s | vs baseline |',
      '| --- | ---: | ---: |',
      `| baseline: raw prepared INSERTs into torrents + files (no FTS) | ${k(b)} | 100% |`,
      `| raw INSERTs into torrents + files + torrents_fts | ${k(bf)} | ${Math.round(bf / b * 100)}% |`,
      `| store.addTorrents() (checks, duplicate detection, FTS, counters, queue clean-up) | ${k(o)} | ${Math.round(o / b * 100)}% |`,
      '',
      `Runs (rows/s): baseline ${base.map(k).join(', ')}; +FTS ${baseFts.map(k).join(', ')}; store ${ours.map(k).join(', ')}.`,
      '',
      `noteSeen() (crawler hot path, batches of ${BATCH}): new infohashes ${k(sn.fresh)}/s (seen row + queue row each), repeats ${k(sn.repeat)}/s.`,
      '',
    ].join('\n')
    return { markdown }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  run().then((r) => console.log(r.markdown), (e) => { console.error(e); process.exitCode = 1 })
}
