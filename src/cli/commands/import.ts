// `bbmesh import`: .torrent files, folders of them, and JSON-lines exports (bbmesh's own
// format) into the local index. Every record is checked (the info dict must hash to its
// infohash and parse); a bad one is counted and reported, never the end of the import.

import { createReadStream, readdirSync, statSync, readFileSync } from 'node:fs'
import { join, extname } from 'node:path'
import type { Command } from '../command.js'
import { parse, configHelp } from '../args.js'
import { loadConfig } from '../../config/load.js'
import { openForWriting } from '../store-access.js'
import { parseTorrentFile } from '../../torrent/torrent-file.js'
import type { TorrentRecord } from '../../torrent/types.js'
import { BbmeshError, UsageError, errorMessage } from '../../core/errors.js'
import { LIMITS } from '../../core/limits.js'

const MAX_DEPTH = 32
const BATCH = 500

/** Files to import under the given paths: .torrent and .jsonl/.json, folders walked. */
function collect (paths: string[], bad: (p: string, why: string) => void): string[] {
  const out: string[] = []
  const walk = (p: string, depth: number): void => {
    let st
    try { st = statSync(p) } catch (err) { bad(p, errorMessage(err)); return }
    if (st.isDirectory()) {
      if (depth >= MAX_DEPTH) { bad(p, 'folder nested too deep'); return }
      for (const name of readdirSync(p).sort()) walk(join(p, name), depth + 1)
    } else if (st.isFile()) {
      const ext = extname(p).toLowerCase()
      if (ext === '.torrent' || ext === '.jsonl' || ext === '.json' || depth === 0) out.push(p)
    }
  }
  for (const p of paths) walk(p, 0)
  return out
}

export const importCommand: Command = {
  name: 'import',
  summary: 'import .torrent files, folders of them, or JSON lines from `bbmesh export`',
  help: () => `Usage: bbmesh import PATH... [options]

PATH is a .torrent file, a folder (searched for .torrent and .jsonl files), a .jsonl file as
written by \`bbmesh export\`, or - for JSON lines on standard input. Each record is verified
(its info dict must hash to its infohash); bad records are counted and listed, the rest imported.

Options:
  --source <text>   provenance stored with the records (default: import)
  --json            print the summary as one JSON object
${configHelp(['dataDir'])}`,
  async run (argv, out) {
    const p = parse(argv, { source: { type: 'string' }, json: { type: 'boolean' } }, ['dataDir', 'config'], true)
    if (p.positionals.length === 0) throw new UsageError('give at least one file or folder to import (or - for standard input)')
    const { config } = loadConfig(p.configFlags)
    const source = (p.values.source as string | undefined) ?? 'import'
    const errors: Array<{ file: string, reason: string }> = []
    const total = { imported: 0, duplicates: 0, invalid: 0, files: 0 }
    const bad = (file: string, reason: string): void => { total.invalid++; if (errors.length < 100) errors.push({ file, reason }) }
    const store = openForWriting(config.dataDir)
    try {
      let batch: TorrentRecord[] = []
      const flush = (): void => {
        if (batch.length === 0) return
        const r = store.addTorrents(batch)
        total.imported += r.inserted
        total.duplicates += r.duplicates
        batch = []
      }
      const jsonl = async (input: AsyncIterable<Uint8Array | string>, name: string): Promise<void> => {
        flush()
        const r = await store.importJsonl(input, { source })
        total.imported += r.imported
        total.duplicates += r.duplicates
        total.invalid += r.invalid
        for (const e of r.errors) if (errors.length < 100) errors.push({ file: `${name}:${e.line}`, reason: e.reason })
      }
      const stdinWanted = p.positionals.includes('-')
      for (const file of collect(p.positionals.filter((x) => x !== '-'), bad)) {
        total.files++
        const ext = extname(file).toLowerCase()
        if (ext === '.jsonl' || ext === '.json') { await jsonl(createReadStream(file), file); continue }
        try {
          if (statSync(file).size > LIMITS.torrentFileMax) throw new UsageError(`larger than ${LIMITS.torrentFileMax} bytes`)
          const t = parseTorrentFile(readFileSync(file))
          batch.push({ info: t.info, rawInfo: t.rawInfo, source, discoveredAt: Date.now() })
          if (batch.length >= BATCH) flush()
        } catch (err) {
          if (!(err instanceof BbmeshError)) throw err
          bad(file, err.message)
        }
      }
      if (stdinWanted) { total.files++; await jsonl(process.stdin, 'stdin') }
      flush()
    } finally {
      store.close()
    }
    if (p.values.json === true) out.out(JSON.stringify({ ...total, errors }))
    else {
      out.out(`imported ${total.imported}, already present ${total.duplicates}, invalid ${total.invalid} (from ${total.files} files)`)
      for (const e of errors) out.err(`  invalid: ${e.file}: ${e.reason}`)
    }
    return total.imported + total.duplicates === 0 && total.invalid > 0 ? 1 : 0
  },
}
