// The test runner behind `npm test`. node --test on Node 20 does not find compiled files by
// itself and passes with 0 tests, so this lists them, runs them, and fails when none ran.
// As root with unshare available it re-runs itself in a fresh network namespace with only
// loopback up, so no test can reach beyond 127.0.0.0/8 even by mistake.

import { spawnSync, spawn } from 'node:child_process'
import { readdirSync, statSync, readFileSync, mkdtempSync, rmSync } from 'node:fs'
import { join, relative, dirname } from 'node:path'
import { tmpdir } from 'node:os'
import { fileURLToPath } from 'node:url'

const here = dirname(fileURLToPath(import.meta.url))

function findTests (dir: string): string[] {
  const out: string[] = []
  for (const name of readdirSync(dir)) {
    const p = join(dir, name)
    if (statSync(p).isDirectory()) out.push(...findTests(p))
    else if (name.endsWith('.test.js')) out.push(p)
  }
  return out.sort()
}

function canUnshare (): boolean {
  if (process.getuid?.() !== 0) return false
  const r = spawnSync('unshare', ['-n', 'true'], { stdio: 'ignore' })
  const ip = spawnSync('sh', ['-c', 'command -v ip'], { stdio: 'ignore' })
  return r.status === 0 && ip.status === 0
}

async function main (): Promise<number> {
  const args = process.argv.slice(2)
  if (process.env.BBMESH_TEST_NETNS !== '1' && process.env.BBMESH_TEST_NO_NETNS !== '1' && canUnshare()) {
    const self = fileURLToPath(import.meta.url)
    const cmd = `ip link set lo up && exec "${process.execPath}" "${self}" "$@"`
    const child = spawn('unshare', ['-n', 'sh', '-c', cmd, 'sh', ...args], {
      stdio: 'inherit',
      env: { ...process.env, BBMESH_TEST_NETNS: '1' },
    })
    return await new Promise((resolve) => child.on('exit', (code) => resolve(code ?? 1)))
  }
  if (process.env.BBMESH_TEST_NETNS === '1') console.log('# running in a private network namespace (loopback only)')

  const filters = args.filter((a) => !a.startsWith('--'))
  let files = findTests(here)
  if (filters.length > 0) files = files.filter((f) => filters.some((x) => relative(here, f).includes(x)))
  if (files.length === 0) {
    console.error(`no test files matched ${filters.join(' ')}`)
    return 1
  }
  const tmp = mkdtempSync(join(tmpdir(), 'bbmesh-test-'))
  const tap = join(tmp, 'tap.txt')
  const concurrency = process.env.BBMESH_TEST_CONCURRENCY ?? '2'
  const child = spawn(process.execPath, [
    '--test', `--test-concurrency=${concurrency}`,
    '--test-reporter=spec', '--test-reporter-destination=stdout',
    '--test-reporter=tap', `--test-reporter-destination=${tap}`,
    ...files,
  ], { stdio: 'inherit' })
  const code: number = await new Promise((resolve) => child.on('exit', (c) => resolve(c ?? 1)))
  const report = readFileSync(tap, 'utf8')
  rmSync(tmp, { recursive: true, force: true })
  const count = (k: string): number => Number(/^# (\w+) (\d+)$/m.exec(report.split('\n').filter((l) => l.startsWith(`# ${k} `)).pop() ?? '')?.[2] ?? 0)
  const tests = count('tests'); const pass = count('pass'); const fail = count('fail')
  const skipped = count('skipped'); const todo = count('todo')
  console.log(`\n${pass} passed, ${fail} failed${skipped + todo > 0 ? `, ${skipped + todo} skipped` : ''}`)
  if (tests === 0) { console.error('the test runner ran no test: failing'); return 1 }
  if (skipped + todo > 0) { console.error('a skipped test is a defect: failing'); return 1 }
  return code !== 0 || fail > 0 ? 1 : 0
}

main().then((c) => { process.exitCode = c }, (e) => { console.error(e); process.exitCode = 1 })
