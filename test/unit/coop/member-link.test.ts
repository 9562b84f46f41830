import { test } from 'node:test'
import assert from 'node:assert/strict'
import { once } from 'node:events'
import { randomBytes } from 'node:crypto'
import { PeerConnection } from '../../../src/wire/peer-connection.js'
import { PeerServer } from '../../../src/wire/peer-server.js'
import { MemberLink } from '../../../src/coop/member-link.js'
import { bbAuth } from '../../../extensions/bb-auth.js'
import { generateCommunityKey } from '../../../src/identity/community-key.js'
import type { AuthInfo } from '../../../extensions/extension.js'

const RV = randomBytes(20)

async function link (serverKey: Buffer, clientKey: Buffer): Promise<{ a: MemberLink, b: MemberLink, close: () => Promise<void> }> {
  const serverId = randomBytes(20)
  const clientId = randomBytes(20)
  let resolve!: (l: MemberLink) => void
  const inbound = new Promise<MemberLink>((r) => { resolve = r })
  const server = new PeerServer({ host: '127.0.0.1', peerId: serverId, accept: (ih) => ih.equals(RV) }, (c) => {
    resolve(new MemberLink(c, [bbAuth({ keys: [{ id: 'c', key: serverKey }] })], serverId))
  })
  const { port } = await server.start()
  const conn = await PeerConnection.connect({ host: '127.0.0.1', port }, { infohash: RV, peerId: clientId })
  const a = new MemberLink(conn, [bbAuth({ keys: [{ id: 'c', key: clientKey }] })], clientId)
  const b = await inbound
  return { a, b, close: async () => { a.close(); b.close(); await server.close() } }
}

test('two members with one community key authenticate each other over TCP', async () => {
  const k = generateCommunityKey().key
  const { a, b, close } = await link(k, k)
  try {
    const [ia, ib] = await Promise.all([once(a, 'authenticated'), once(b, 'authenticated')]) as [[AuthInfo], [AuthInfo]]
    assert.equal(ia[0].community, 'c')
    assert.equal(ib[0].community, 'c')
    assert.ok(a.authenticated !== null && b.authenticated !== null)
  } finally { await close() }
})

test('a node with another key is dropped and never authenticated', async () => {
  const { a, b, close } = await link(generateCommunityKey().key, generateCommunityKey().key)
  try {
    let authed = false
    a.on('authenticated', () => { authed = true })
    b.on('authenticated', () => { authed = true })
    const [reason] = await once(b, 'misbehaved')
    assert.match(reason, /bb_auth/)
    await once(a, 'close')
    assert.equal(authed, false)
  } finally { await close() }
})

test('the BEP-10 handshake carries our listening port as `p` when we have one', async () => {
  const serverId = randomBytes(20)
  const k = generateCommunityKey().key
  let resolve!: (l: MemberLink) => void
  const inbound = new Promise<MemberLink>((r) => { resolve = r })
  const server = new PeerServer({ host: '127.0.0.1', peerId: serverId, accept: (ih) => ih.equals(RV) }, (c) => {
    resolve(new MemberLink(c, [bbAuth({ keys: [{ id: 'c', key: k }] })], serverId))
  })
  const { port } = await server.start()
  const clientId = randomBytes(20)
  const conn = await PeerConnection.connect({ host: '127.0.0.1', port }, { infohash: RV, peerId: clientId })
  const a = new MemberLink(conn, [bbAuth({ keys: [{ id: 'c', key: k }] })], clientId, { listenPort: 51413 })
  const b = await inbound
  try {
    const authed = async (l: MemberLink): Promise<void> => await new Promise((resolve, reject) => {
      l.once('authenticated', () => resolve())
      l.once('close', (r) => reject(new Error(`link closed: ${r}`)))
    })
    await Promise.all([authed(a), authed(b)])
    // The BEP-10 handshakes came before bb_auth passed.
    assert.equal(b.conn.remoteExt?.port, 51413, 'the dialler told its listening port, not its source port')
    assert.equal(a.conn.remoteExt?.port, undefined, 'no `p` without a listening port')
  } finally { a.close(); b.close(); await server.close() }
})
