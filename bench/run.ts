// `npm run bench`: runs every benchmark in one process and writes BENCHMARKS.md. Filter with
// arguments (e.g. `npm run bench -- fetch`): then only the sections run are replaced and the
// others are kept as they were. Figures are from this machine and this run only.

import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { cpus, totalmem } from 'node:os'
import { fileURLToPath } from 'node:url'

const BENCHES: Array<[string, () => Promise<{ run: () => Promise<{ markdown: string }> }>]> = [
  ['fetch', async () => await import('./fetch.js')],
  ['store-ingest', async () => await import('./store-ingest.js')],
  ['store-search', async () => await import('./store-search.js')],
  ['coop', async () => await import('./coop.js')],
  ['search-network', async () => await import('./search-network.js')],
  ['catalog', async () => await import('./catalog.js')],
  ['catalog-fetch', async () => await import('./catalog-fetch.js')],
]

/** Sections of a BENCHMARKS.md: the header (before the first "## "), then one per "## " heading. */
function sections (md: string): { head: string, parts: Array<{ title: string, text: string }> } {
  const chunks = md.split(/\n(?=## )/)
  const head = chunks[0].startsWith('## ') ? '' : chunks.shift() as string
  return { head, parts: chunks.map((c) => ({ title: c.split('\n')[0], text: c.trimEnd() })) }
}

async function main (): Promise<void> {
  const filter = process.argv.slice(2)
  const parts: string[] = [
    '# Benchmarks', '',
    `Written by \`npm run bench\` on ${new Date().toISOString().slice(0, 10)}: Node ${process.version}, ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB. Loopback only.`, '',
  ]
  for (const [name, load] of BENCHES) {
    if (filter.length > 0 && !filter.some((f) => name.includes(f))) continue
    process.stderr.write(`bench: ${name}...\n`)
    const t0 = Date.now()
    try {
      const r = await (await load()).run()
      parts.push(r.markdown, `_${name}: ${((Date.now() - t0) / 1000).toFixed(0)} s_`, '')
    } catch (err) {
      parts.push(`## ${name}`, '', `failed: ${(err as Error).message}`, '')
      process.exitCode = 1
    }
  }
  const out = fileURLToPath(new URL('../../BENCHMARKS.md', import.meta.url))
  let md = parts.join('\n')
  if (filter.length > 0 && existsSync(out)) {
    // Keep the sections not run; replace (or append) the ones run, in the old order.
    const old = sections(readFileSync(out, 'utf8'))
    const fresh = sections(md)
    const merged = old.parts.map((p) => fresh.parts.find((f) => f.title === p.title) ?? p)
    for (const f of fresh.parts) if (!merged.includes(f)) merged.push(f)
    md = [old.head.trimEnd(), '', ...merged.map((p) => p.text + '\n')].join('\n')
  }
  writeFileSync(out, md)
  process.stderr.write(`bench: wrote ${out}\n`)
}

main().catch((e) => { console.error(e); process.exitCode = 1 })
