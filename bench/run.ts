// `npm run bench`: runs every benchmark in one process and writes BENCHMARKS.md. Filter with
// arguments (e.g. `npm run bench -- fetch`). Figures are from this machine and this run only.

import { writeFileSync } from 'node:fs'
import { cpus, totalmem } from 'node:os'
import { fileURLToPath } from 'node:url'

const BENCHES: Array<[string, () => Promise<{ run: () => Promise<{ markdown: string }> }>]> = [
  ['fetch', async () => await import('./fetch.js')],
  ['store-ingest', async () => await import('./store-ingest.js')],
  ['store-search', async () => await import('./store-search.js')],
  ['coop', async () => await import('./coop.js')],
]

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
  writeFileSync(out, parts.join('\n'))
  process.stderr.write(`bench: wrote ${out}\n`)
}

main().catch((e) => { console.error(e); process.exitCode = 1 })
