// A plain libtorrent peer that connects to a member on the rendezvous infohash gets an
// ordinary, silent BitTorrent peer: no bb_* message is sent to it, nothing breaks, and the
// member does not count it as misbehaving.

import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { requireLibtorrent, startLtNet, type LtNet } from '../helpers/libtorrent.js'
import { PeerServer } from '../../src/wire/peer-server.js'
import { MemberLink } from '../../src/coop/member-link.js'
import { bbAuth } from '../../extensions/bb-auth.js'
import { generateCommunityKey } from '../../src/identity/community-key.js'
import { rendezvousInfohash, utcDay } from '../../src/coop/rendezvous.js'

let net: LtNet

before(async () => {
  requireLibtorrent()
  net = await startLtNet()
  await net.start({ sessions: 1 })
})

after(async () => { await net?.close() })

test('libtorrent on the rendezvous infohash: no bb_* answer, no error, no penalty', async () => {
  const key = generateCommunityKey()
  const rv = rendezvousInfohash(key.key, utcDay(Date.now()))
  const peerId = randomBytes(20)
  const links: MemberLink[] = []
  const misbehaved: string[] = []
  const server = new PeerServer({ host: '127.0.0.1', peerId, accept: (ih) => ih.equals(rv) }, (c) => {
    const l = new MemberLink(c, [bbAuth({ keys: [key] })], peerId)
    l.on('misbehaved', (r) => misbehaved.push(r))
    links.push(l)
  })
  const { port } = await server.start()
  try {
    await net.addMagnet({ session: 0, infohash: rv.toString('hex'), peers: [['127.0.0.1', port]] })
    // Wait until libtorrent has connected and sent its BEP-10 handshake.
    const deadline = Date.now() + 20_000
    while (!(links.length > 0 && links[0].conn.remoteExt !== null) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50))
    assert.ok(links.length > 0, 'libtorrent connected')
    const link = links[0]
    assert.ok(link.conn.remoteExt !== null, 'libtorrent sent its BEP-10 handshake')
    assert.ok(link.conn.remoteExt.m.has('ut_metadata'), 'it is libtorrent, asking for metadata as usual')
    assert.equal(link.conn.remoteExt.m.has('bb_auth'), false)
    // Let it talk a while longer: the link must stay open, silent and unauthenticated.
    await new Promise((r) => setTimeout(r, 1500))
    assert.equal(link.conn.isClosed, false)
    assert.equal(link.authenticated, null)
    assert.deepEqual(misbehaved, [])
    const st = link.registry.stats()
    for (const [name, c] of Object.entries(st.extensions)) assert.equal(c.messagesOut, 0, `${name} sent to a non-member`)
    assert.equal(st.unauthenticatedDropped, 0)
  } finally {
    for (const l of links) l.close()
    await server.close()
  }
})
