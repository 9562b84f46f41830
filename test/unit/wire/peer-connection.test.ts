import { test } from 'node:test'
import assert from 'node:assert/strict'
import { connect } from 'node:net'
import { once } from 'node:events'
import { randomBytes } from 'node:crypto'
import { PeerConnection } from '../../../src/wire/peer-connection.js'
import { PeerServer } from '../../../src/wire/peer-server.js'
import { encodeHandshake } from '../../../src/wire/handshake.js'

const IH = randomBytes(20)
const ext = (name: string) => () => ({ m: { [name]: 3 }, v: name })

async function pair (serverOpts: Partial<ConstructorParameters<typeof PeerServer>[0]> = {}): Promise<{ server: PeerServer, inbound: Promise<PeerConnection>, port: number }> {
  let resolve!: (c: PeerConnection) => void
  const inbound = new Promise<PeerConnection>((r) => { resolve = r })
  const server = new PeerServer({ host: '127.0.0.1', peerId: randomBytes(20), extHandshake: ext('srv'), accept: (ih) => ih.equals(IH), ...serverOpts }, resolve)
  const { port } = await server.start()
  return { server, inbound, port }
}

test('two ends exchange BEP-10 handshakes and extended messages', async () => {
  const { server, inbound, port } = await pair()
  const out = await PeerConnection.connect({ host: '127.0.0.1', port }, { infohash: IH, peerId: randomBytes(20), extHandshake: ext('cli') })
  const inb = await inbound
  const [hsAtClient] = await once(out, 'extHandshake')
  const [hsAtServer] = await once(inb, 'extHandshake')
  assert.equal(hsAtClient.m.get('srv'), 3)
  assert.equal(hsAtServer.m.get('cli'), 3)
  assert.ok(out.initiator && !inb.initiator)
  const got = once(inb, 'extended')
  out.sendExtended(3, Buffer.from('hello'))
  const [id, payload] = await got
  assert.equal(id, 3)
  assert.equal(payload.toString(), 'hello')
  const closed = once(inb, 'close')
  out.close('done')
  assert.equal((await closed)[0], 'remote closed')
  await server.close()
})

test('a handshake for an infohash we do not serve is refused', async () => {
  const { server, port } = await pair()
  await assert.rejects(PeerConnection.connect({ host: '127.0.0.1', port }, { infohash: randomBytes(20), peerId: randomBytes(20), extHandshake: ext('cli'), handshakeTimeoutMs: 2000 }))
  assert.equal(server.counters.failedHandshake, 1)
  await server.close()
})

test('a frame over the cap closes the link with a protocol error', async () => {
  const { server, inbound, port } = await pair({ maxFrame: 1024 })
  const s = connect({ host: '127.0.0.1', port })
  await once(s, 'connect')
  s.write(encodeHandshake(IH, randomBytes(20)))
  const inb = await inbound
  const closed = once(inb, 'close')
  const lie = Buffer.alloc(4); lie.writeUInt32BE(0xfffffff0)
  s.write(lie)
  const [reason] = await closed
  assert.match(reason, /protocol error: .*exceeds cap/)
  s.destroy()
  await server.close()
})

test('connections per IP are limited', async () => {
  const { server, port } = await pair({ maxPerIp: 2 })
  const socks = [connect({ host: '127.0.0.1', port }), connect({ host: '127.0.0.1', port }), connect({ host: '127.0.0.1', port })]
  await Promise.all(socks.map(async (s) => await once(s, 'connect')))
  await once(socks[2], 'close')
  assert.equal(server.counters.refusedLimit, 1)
  for (const s of socks) s.destroy()
  await server.close()
})

test('an idle link is closed; close() is idempotent', async () => {
  const { server, inbound, port } = await pair({ idleTimeoutMs: 200, keepAliveMs: 10_000 })
  const out = await PeerConnection.connect({ host: '127.0.0.1', port }, { infohash: IH, peerId: randomBytes(20), extHandshake: ext('cli'), keepAliveMs: 10_000 })
  const inb = await inbound
  const [reason] = await once(inb, 'close')
  assert.equal(reason, 'idle timeout')
  out.close(); out.close()
  assert.ok(out.isClosed)
  await server.close()
})

test('a handshake that is not the BitTorrent protocol is refused', async () => {
  const { server, port } = await pair()
  const s = connect({ host: '127.0.0.1', port })
  await once(s, 'connect')
  s.write(Buffer.alloc(68, 0x41))
  await once(s, 'close')
  assert.equal(server.counters.failedHandshake, 1)
  await server.close()
})
