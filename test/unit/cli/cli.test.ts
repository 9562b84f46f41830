import { test } from 'node:test'
import assert from 'node:assert/strict'
import { main, COMMANDS } from '../../../src/cli/main.js'
import type { Output } from '../../../src/cli/output.js'

function capture (): Output & { stdout: string[], stderr: string[] } {
  const stdout: string[] = []; const stderr: string[] = []
  return { stdout, stderr, out: (l) => stdout.push(l), err: (l) => stderr.push(l), isTTY: false }
}

for (const c of COMMANDS) {
  test(`bbmesh ${c.name} --help prints usage and exits 0`, async () => {
    const o = capture()
    assert.equal(await main([c.name, '--help'], o), 0)
    assert.match(o.stdout.join('\n'), /^Usage: bbmesh /m)
  })
}

test('top-level help lists every command', async () => {
  const o = capture()
  assert.equal(await main(['--help'], o), 0)
  for (const c of COMMANDS) assert.ok(o.stdout.join('\n').includes(c.name))
})

test('an unknown command or flag is a usage error (exit 2) with a clear message', async () => {
  let o = capture()
  assert.equal(await main(['harvset'], o), 2)
  assert.match(o.stderr.join('\n'), /unknown command "harvset"/)
  o = capture()
  assert.equal(await main(['stats', '--bogus'], o), 2)
  assert.match(o.stderr.join('\n'), /--bogus/)
  o = capture()
  assert.equal(await main(['search', 'x', '--limit', '0'], o), 2)
  assert.match(o.stderr.join('\n'), /--limit/)
})

test('a bad config value names the key', async () => {
  const o = capture()
  assert.equal(await main(['config', 'show', '--dht-port', 'abc'], o), 2)
  assert.match(o.stderr.join('\n'), /dhtPort from --dht-port/)
})

test('reading a data directory without an index says so (exit 1)', async () => {
  const o = capture()
  assert.equal(await main(['stats', '--data-dir', '/nonexistent-bbmesh-dir'], o), 1)
  assert.match(o.stderr.join('\n'), /no index in \/nonexistent-bbmesh-dir/)
})

test('config show never prints a community key, only its id', async () => {
  const { generateCommunityKey } = await import('../../../src/identity/community-key.js')
  const k = generateCommunityKey()
  for (const args of [['config', 'show', '--community', k.format()], ['config', 'show', '--json', '--community', k.format()]]) {
    const o = capture()
    assert.equal(await main(args, o), 0)
    const text = o.stdout.join('\n')
    assert.ok(!text.includes(k.format().slice(-40)), 'the key leaked')
    assert.ok(text.includes(k.id))
  }
})
