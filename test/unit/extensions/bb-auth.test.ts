import { test } from 'node:test'
import assert from 'node:assert/strict'
import { inspect } from 'node:util'
import { ConfigError } from '../../../src/core/errors.js'
import { bbAuth, type BbAuthOptions } from '../../../extensions/bb-auth.js'
import { BB_AUTH_TIMEOUT_MS, decodeAuthMessage, encodeAuthMessage, helloSignedMessage } from '../../../extensions/bb-auth.codec.js'
import type { AuthInfo, ExtensionFactory } from '../../../extensions/extension.js'
import { ManualClock, communityKey, dummyExtension, pair, peerId, publisher, sha1, sha256, solo, spyOnMessage, type Pair } from './helpers.js'

const K1 = communityKey('one')
const K2 = communityKey('two')

function auth (clock: ManualClock, options: Partial<BbAuthOptions> = {}): ExtensionFactory {
  return bbAuth({ keys: [K1], schedule: clock.schedule, ...options })
}

/** Two members (a dials b), each with bb_auth and a dummy gated extension that echoes. */
function members (opts: { a?: Partial<BbAuthOptions>, b?: Partial<BbAuthOptions>, tap?: Parameters<typeof pair>[0]['tap'], dropOnMisbehave?: boolean } = {}) {
  const clock = new ManualClock()
  const da = dummyExtension({ echo: false })
  const db = dummyExtension({ echo: true })
  const p = pair({
    a: [auth(clock, opts.a), da.factory],
    b: [auth(clock, opts.b), db.factory],
    tap: opts.tap,
    dropOnMisbehave: opts.dropOnMisbehave,
  })
  return { p, clock, da, db }
}

function typesSent (side: Pair['a']): string[] {
  return side.sent.filter((s) => s.name === 'bb_auth').map((s) => decodeAuthMessage(s.payload).type)
}

test('two members authenticate each other and swap publisher keys', async () => {
  const pa = publisher(sha256('publisher a'))
  const pb = publisher(sha256('publisher b'))
  const { p, clock, da, db } = members({ a: { publisher: pa }, b: { publisher: pb } })
  p.start()
  await p.settle()
  assert.deepEqual(p.a.misbehaved, [])
  assert.deepEqual(p.b.misbehaved, [])
  assert.equal(p.a.authenticated.length, 1)
  assert.equal(p.b.authenticated.length, 1)
  assert.equal(p.a.authenticated[0].community, K1.id)
  assert.equal(p.b.authenticated[0].community, K1.id)
  assert.deepEqual(p.a.authenticated[0].publisherKey, pb.publicKey, 'a learned b\'s publisher key')
  assert.deepEqual(p.b.authenticated[0].publisherKey, pa.publicKey, 'b learned a\'s publisher key')
  // Exactly one challenge, one proof and one hello each way, in the documented order.
  assert.deepEqual(typesSent(p.a), ['challenge', 'proof', 'hello'])
  assert.deepEqual(typesSent(p.b), ['challenge', 'proof', 'hello'])
  // Every extension heard about it; the deadline is disarmed.
  assert.equal(da.instances[0].authenticated.length, 1)
  assert.equal(db.instances[0].authenticated.length, 1)
  assert.equal(clock.pending, 0)
  clock.advance(BB_AUTH_TIMEOUT_MS * 2)
  assert.deepEqual(p.a.misbehaved, [])
  // The authenticated link carries gated messages both ways.
  da.instances[0].ctx.send(Buffer.from('query'))
  await p.settle()
  assert.deepEqual(db.instances[0].received, [Buffer.from('query')])
  assert.deepEqual(da.instances[0].received, [Buffer.from('re:query')])
  assert.equal(p.down, false)
})

test('a member without a publisher key authenticates; the other learns no key', async () => {
  const { p } = members({ a: { publisher: publisher() } })
  p.start()
  await p.settle()
  assert.equal(p.a.authenticated.length, 1)
  assert.equal(p.b.authenticated.length, 1)
  assert.equal(p.a.authenticated[0].publisherKey, undefined)
  assert.equal(p.b.authenticated[0].publisherKey?.length, 32)
})

test('wrong key: both fail, neither is ever authenticated', async () => {
  const { p, clock, da, db } = members({ b: { keys: [K2] }, dropOnMisbehave: false })
  p.start()
  await p.settle()
  assert.deepEqual(p.b.misbehaved, ['bb_auth failed'], 'the responder refuses the initiator\'s proof')
  assert.deepEqual(typesSent(p.b), ['challenge'], 'and never proves anything itself')
  assert.deepEqual(p.a.misbehaved, [])
  clock.advance(BB_AUTH_TIMEOUT_MS)
  assert.deepEqual(p.a.misbehaved, ['bb_auth timed out'], 'the initiator gives up at its deadline')
  for (const side of [p.a, p.b]) {
    assert.equal(side.registry.authenticated, false)
    assert.deepEqual(side.authenticated, [])
  }
  assert.equal(da.instances[0].authenticated.length + db.instances[0].authenticated.length, 0)
})

test('the initiator with the wrong key: the responder refuses, the initiator never sees a proof', async () => {
  const { p } = members({ a: { keys: [K2] } })
  p.start()
  await p.settle()
  assert.deepEqual(p.b.misbehaved, ['bb_auth failed'])
  assert.equal(p.a.registry.authenticated || p.b.registry.authenticated, false)
  assert.ok(p.down)
})

/** A registry facing a scripted remote that only replays bytes. */
function victim (options: { initiator: boolean, clock: ManualClock, randomBytes?: (n: number) => Buffer, localPeerId: Buffer, remotePeerId: Buffer }) {
  return solo([bbAuth({ keys: [K1], schedule: options.clock.schedule, randomBytes: options.randomBytes })], {
    initiator: options.initiator,
    localPeerId: options.localPeerId,
    remotePeerId: options.remotePeerId,
  })
}

test('a recorded exchange replayed on a new connection fails: the victim\'s nonce is fresh', async () => {
  // Connection 1: a (initiator) and b (responder) authenticate; a recorder keeps b's messages.
  const nonces: Buffer[] = []
  const recordingRandom = (n: number): Buffer => { const b = sha256(`nonce ${nonces.length}`).subarray(0, n); nonces.push(b); return b }
  const clock = new ManualClock()
  const p1 = pair({ a: [bbAuth({ keys: [K1], schedule: clock.schedule, randomBytes: recordingRandom })], b: [bbAuth({ keys: [K1], schedule: clock.schedule })] })
  p1.start()
  await p1.settle()
  assert.equal(p1.a.registry.authenticated, true)
  const recordedB = p1.b.sent.filter((s) => s.name === 'bb_auth').map((s) => s.payload)
  const recordedA = p1.a.sent.filter((s) => s.name === 'bb_auth').map((s) => s.payload)
  assert.equal(recordedB.length, 3)

  // Connection 2: a fake peer, claiming b's peer id, replays b's messages to a fresh a.
  const replay = (v: ReturnType<typeof victim>, recorded: Buffer[]): void => {
    v.remoteHandshake({ bb_auth: 1 })
    for (const m of recorded) { if (v.misbehaved.length === 0) v.receive('bb_auth', m) }
  }
  const fresh = victim({ initiator: true, clock, localPeerId: p1.a.peerId, remotePeerId: p1.b.peerId })
  replay(fresh, recordedB)
  assert.deepEqual(fresh.misbehaved, ['bb_auth failed'])
  assert.equal(fresh.registry.authenticated, false)

  // The same replay at b's side (a's messages to a fresh responder) fails the same way.
  const freshB = victim({ initiator: false, clock, localPeerId: p1.b.peerId, remotePeerId: p1.a.peerId })
  replay(freshB, recordedA)
  assert.deepEqual(freshB.misbehaved, ['bb_auth failed'])
  assert.equal(freshB.registry.authenticated, false)

  // Control: had the victim drawn the same nonce again, the replay would pass. The nonce is what stops it.
  const same = victim({ initiator: true, clock, randomBytes: () => nonces[0], localPeerId: p1.a.peerId, remotePeerId: p1.b.peerId })
  replay(same, recordedB)
  assert.deepEqual(same.misbehaved, [])
  assert.equal(same.registry.authenticated, true)
})

test('a proof is bound to the peer ids: a replay under another peer id fails even with the same nonces', async () => {
  const clock = new ManualClock()
  const fixed = (label: string) => () => sha256(label)
  const p1 = pair({ a: [bbAuth({ keys: [K1], schedule: clock.schedule, randomBytes: fixed('na') })], b: [bbAuth({ keys: [K1], schedule: clock.schedule, randomBytes: fixed('nb') })] })
  p1.start()
  await p1.settle()
  const recordedB = p1.b.sent.filter((s) => s.name === 'bb_auth').map((s) => s.payload)
  const v = victim({ initiator: true, clock, randomBytes: fixed('na'), localPeerId: peerId('someone else'), remotePeerId: p1.b.peerId })
  v.remoteHandshake({ bb_auth: 1 })
  for (const m of recordedB) { if (v.misbehaved.length === 0) v.receive('bb_auth', m) }
  assert.deepEqual(v.misbehaved, ['bb_auth failed'])
})

test('a relay forwarding unchanged authenticates both, but cannot alter, inject, replay or drop a later message', async () => {
  // The relay: dials b, accepts a, forwards every message (and both peer ids) unchanged. The tap
  // is its hands: `act` decides, per message, what it does.
  let act: (from: 'a' | 'b', name: string, payload: Buffer) => Buffer | null = (_f, _n, x) => x
  const seen: Array<{ from: 'a' | 'b', name: string, payload: Buffer }> = []
  const { p, da, db } = members({ tap: (from, name, payload) => { seen.push({ from, name, payload }); return act(from, name, payload) } })
  p.start()
  await p.settle()
  assert.equal(p.a.registry.authenticated && p.b.registry.authenticated, true, 'forwarding unchanged, the relay gets both sides authenticated')

  // Genuine traffic passes the relay.
  da.instances[0].ctx.send(Buffer.from('one'))
  await p.settle()
  assert.deepEqual(db.instances[0].received, [Buffer.from('one')])
  const genuine = seen.filter((s) => s.from === 'a' && s.name === 'bb_dummy').map((s) => s.payload)[0]

  // Altered in flight: b refuses it and hears nothing.
  act = (from, name, x) => from === 'a' && name === 'bb_dummy' ? Buffer.concat([Buffer.from('TWO'), x.subarray(3)]) : x
  da.instances[0].ctx.send(Buffer.from('two'))
  await p.settle()
  assert.deepEqual(p.b.misbehaved, ['bb_dummy message has a bad session tag'])
  assert.deepEqual(db.instances[0].received, [Buffer.from('one')])
  assert.ok(p.down)

  // Injected, on a fresh authenticated link: a random tag, a genuine earlier message replayed, or a
  // message dropped and the next forwarded: each is refused.
  const attempts: Array<{ what: string, run: (q: Pair, send: (s: string) => void, passed: Buffer[]) => void }> = [
    { what: 'injected with a made-up tag', run: (q) => { q.inject('b', 'bb_dummy', Buffer.concat([Buffer.from('evil'), sha256('tag').subarray(0, 16)])) } },
    { what: 'injected with the tag of a genuine message of another connection', run: (q) => { q.inject('b', 'bb_dummy', Buffer.concat([Buffer.from('evil'), genuine.subarray(-16)])) } },
    { what: 'a genuine message of this connection replayed', run: (q, send, passed) => { send('ok'); q.inject('b', 'bb_dummy', passed[0]) } },
  ]
  for (const { what, run } of attempts) {
    const passed: Buffer[] = []
    const m = members({ tap: (from, name, x) => { if (from === 'a' && name === 'bb_dummy') passed.push(x); return x } })
    m.p.start()
    await m.p.settle()
    assert.ok(m.p.b.registry.authenticated)
    run(m.p, (s) => m.da.instances[0].ctx.send(Buffer.from(s)), passed)
    await m.p.settle()
    assert.deepEqual(m.p.b.misbehaved, ['bb_dummy message has a bad session tag'], what)
    assert.deepEqual(m.db.instances[0].received.map(String).filter((r) => r !== 'ok'), [], what)
    assert.ok(m.db.instances[0].received.length <= 1, what)
  }
  {
    let dropped = 0
    const m = members({ tap: (from, name, x) => (from === 'a' && name === 'bb_dummy' && dropped++ === 0) ? null : x })
    m.p.start()
    await m.p.settle()
    m.da.instances[0].ctx.send(Buffer.from('first (dropped)'))
    m.da.instances[0].ctx.send(Buffer.from('second'))
    await m.p.settle()
    assert.deepEqual(m.p.b.misbehaved, ['bb_dummy message has a bad session tag'], 'a dropped message shows at the next one')
    assert.deepEqual(m.db.instances[0].received, [])
  }
})

test('a relay cannot swap in its own publisher key: the hello is tied to the session', async () => {
  const relayKey = publisher(sha256('relay'))
  const pb = publisher(sha256('publisher b'))
  let nonces: { a?: Buffer, b?: Buffer } = {}
  const { p } = members({
    b: { publisher: pb },
    tap: (from, name, x) => {
      if (name !== 'bb_auth') return x
      const m = decodeAuthMessage(x)
      if (m.type === 'challenge') nonces = { ...nonces, [from]: m.nonce }
      if (m.type !== 'hello' || from !== 'b') return x
      // Re-sign b's hello with the relay's key over everything the relay has seen.
      const sig = relayKey.sign(helloSignedMessage(nonces.b as Buffer, nonces.a as Buffer, peerId('a')))
      return encodeAuthMessage({ type: 'hello', mac: m.mac, publicKey: relayKey.publicKey, signature: sig })
    },
  })
  p.start()
  await p.settle()
  assert.deepEqual(p.a.misbehaved, ['bb_auth hello has a bad session tag'])
  assert.equal(p.a.registry.authenticated, false)
})

test('a member whose hello signature is wrong is refused', async () => {
  const pb = publisher(sha256('publisher b'))
  const { p } = members({ b: { publisher: { publicKey: pb.publicKey, sign: (m) => pb.sign(Buffer.concat([m, Buffer.from('x')])) } } })
  p.start()
  await p.settle()
  assert.deepEqual(p.a.misbehaved, ['bb_auth hello has a bad signature'])
  assert.equal(p.a.registry.authenticated, false)
})

test('an unauthenticated remote\'s bb_* messages are dropped unanswered and counted', async () => {
  const clock = new ManualClock()
  const d = dummyExtension({ echo: true })
  const s = solo([auth(clock), d.factory])
  s.remoteHandshake({ bb_auth: 1, bb_dummy: 2 })
  for (let i = 0; i < 5; i++) s.receive('bb_dummy', Buffer.from(`search ${i}`))
  assert.equal(d.instances[0].received.length, 0)
  assert.deepEqual(s.sentTo(2), [])
  assert.equal(s.registry.stats().unauthenticatedDropped, 5)
  assert.deepEqual(s.misbehaved, [])
  // Only our challenge went out.
  assert.deepEqual(s.sentTo(1).map((m) => decodeAuthMessage(m).type), ['challenge'])
})

test('a bb_auth payload over its cap is misbehaviour before anything decodes it', () => {
  const clock = new ManualClock()
  const spy = spyOnMessage(auth(clock))
  const s = solo([spy.factory])
  s.remoteHandshake({ bb_auth: 1 })
  s.receive('bb_auth', Buffer.alloc(257, 0x64))
  assert.deepEqual(s.misbehaved, ['bb_auth message of 257 bytes exceeds cap 256'])
  assert.equal(spy.calls.length, 0)
})

/** A responder facing a scripted remote (the initiator). */
function scripted (initiator = false) {
  const clock = new ManualClock()
  const s = solo([auth(clock)], { initiator })
  s.remoteHandshake({ bb_auth: 1 })
  return { s, clock, challenge: encodeAuthMessage({ type: 'challenge', nonce: sha256('remote nonce') }) }
}

test('protocol violations: a second challenge, a reflected nonce, a proof before a challenge, a proof out of order, a hello before a proof', () => {
  {
    const { s, challenge } = scripted()
    s.receive('bb_auth', challenge)
    s.receive('bb_auth', encodeAuthMessage({ type: 'challenge', nonce: sha256('another') }))
    assert.deepEqual(s.misbehaved, ['bb_auth duplicate challenge'])
  }
  {
    const { s } = scripted()
    const ours = decodeAuthMessage(s.sentTo(1)[0])
    s.receive('bb_auth', encodeAuthMessage(ours))
    assert.deepEqual(s.misbehaved, ['bb_auth reflected challenge'])
  }
  {
    const { s } = scripted()
    s.receive('bb_auth', encodeAuthMessage({ type: 'proof', proof: sha256('p') }))
    assert.deepEqual(s.misbehaved, ['bb_auth proof before challenge'])
  }
  {
    // An initiator gets a proof before it could have sent its own (no challenge from the remote yet).
    const { s } = scripted(true)
    s.receive('bb_auth', encodeAuthMessage({ type: 'proof', proof: sha256('p') }))
    assert.deepEqual(s.misbehaved, ['bb_auth proof before challenge'])
  }
  {
    const { s, challenge } = scripted()
    s.receive('bb_auth', challenge)
    s.receive('bb_auth', encodeAuthMessage({ type: 'hello', mac: Buffer.alloc(16) }))
    assert.deepEqual(s.misbehaved, ['bb_auth hello before proof'])
  }
  {
    const { s, challenge } = scripted()
    s.receive('bb_auth', challenge)
    s.receive('bb_auth', Buffer.from('d1:ti9ee'))
    assert.deepEqual(s.misbehaved, ['bb_auth: unknown message type 9'])
  }
})

test('a second proof, a second hello and any message after authentication are violations', async () => {
  const { p } = members()
  p.start()
  await p.settle()
  const proofOfB = p.b.sent.find((s) => s.name === 'bb_auth' && decodeAuthMessage(s.payload).type === 'proof')?.payload as Buffer
  p.inject('a', 'bb_auth', proofOfB)
  await p.settle()
  assert.deepEqual(p.a.misbehaved, ['bb_auth message after authentication'])

  // A duplicate proof at a responder that is still waiting for the hello.
  const clock = new ManualClock()
  const hold = pair({ a: [auth(clock)], b: [auth(clock)], tap: (from, name, x) => (from === 'a' && decodeAuthMessage(x).type === 'hello') ? null : x })
  hold.start()
  await hold.settle()
  assert.equal(hold.b.registry.authenticated, false)
  const proofOfA = hold.a.sent.find((s) => decodeAuthMessage(s.payload).type === 'proof')?.payload as Buffer
  hold.inject('b', 'bb_auth', proofOfA)
  await hold.settle()
  assert.deepEqual(hold.b.misbehaved, ['bb_auth duplicate proof'])
})

test('timeout: no answer within the deadline is misbehaviour; nothing is decided by the wall clock', () => {
  const clock = new ManualClock()
  const s = solo([bbAuth({ keys: [K1], schedule: clock.schedule, timeoutMs: 500 })])
  s.remoteHandshake({ bb_auth: 1 })
  assert.equal(clock.pending, 1)
  clock.advance(499)
  assert.deepEqual(s.misbehaved, [])
  clock.advance(1)
  assert.deepEqual(s.misbehaved, ['bb_auth timed out'])
  assert.equal(s.registry.authenticated, false)
  // A late proof changes nothing.
  s.receive('bb_auth', encodeAuthMessage({ type: 'challenge', nonce: sha256('late') }))
  assert.equal(s.registry.authenticated, false)
})

test('the deadline starts only when bb_auth does, and close disarms it', () => {
  const clock = new ManualClock()
  const plain = solo([bbAuth({ keys: [K1], schedule: clock.schedule })])
  plain.remoteHandshake({ ut_metadata: 3 }) // an ordinary client: no bb_auth, no deadline, nothing sent
  assert.equal(clock.pending, 0)
  assert.deepEqual(plain.sent, [])
  const s = solo([bbAuth({ keys: [K1], schedule: clock.schedule })])
  s.remoteHandshake({ bb_auth: 1 })
  assert.equal(clock.pending, 1)
  s.registry.close()
  assert.equal(clock.pending, 0)
  clock.advance(BB_AUTH_TIMEOUT_MS)
  assert.deepEqual(s.misbehaved, [])
})

test('several community keys: the initiator proves under the rendezvous\' key, the responder finds it among its own', async () => {
  const keysA = [communityKey('a1'), communityKey('a2'), communityKey('shared')]
  const keysB = [...Array.from({ length: 15 }, (_, i) => communityKey(`b${i}`)), communityKey('shared')]
  const ih = sha1('rendezvous of shared')
  const communityOf = (infohash: Buffer): string | undefined => infohash.equals(ih) ? communityKey('shared').id : undefined
  const clock = new ManualClock()
  const p = pair({
    infohash: ih,
    a: [bbAuth({ keys: keysA, communityOf, schedule: clock.schedule })],
    b: [bbAuth({ keys: keysB, schedule: clock.schedule })], // no hint: b tries all 16 of its keys
  })
  p.start()
  await p.settle()
  assert.deepEqual(p.a.misbehaved, [])
  assert.deepEqual(p.b.misbehaved, [])
  assert.equal(p.a.authenticated[0]?.community, communityKey('shared').id)
  assert.equal(p.b.authenticated[0]?.community, communityKey('shared').id)
})

test('several keys without a hint: the initiator uses its first key', async () => {
  const clock = new ManualClock()
  const ok = pair({ a: [bbAuth({ keys: [K2, K1], schedule: clock.schedule })], b: [bbAuth({ keys: [K1, K2], schedule: clock.schedule })] })
  ok.start()
  await ok.settle()
  assert.equal(ok.b.authenticated[0]?.community, K2.id)
  assert.equal(ok.a.authenticated[0]?.community, K2.id)
  const miss = pair({ a: [bbAuth({ keys: [K2, K1], schedule: clock.schedule })], b: [bbAuth({ keys: [K1], schedule: clock.schedule })] })
  miss.start()
  await miss.settle()
  assert.deepEqual(miss.b.misbehaved, ['bb_auth failed'])
})

test('the key list is checked once, at the factory: none, more than 16, wrong length, repeated id', () => {
  assert.throws(() => bbAuth({ keys: [] }), ConfigError)
  assert.throws(() => bbAuth({ keys: Array.from({ length: 17 }, (_, i) => communityKey(`k${i}`)) }), ConfigError)
  assert.throws(() => bbAuth({ keys: [{ id: 'x', key: Buffer.alloc(31) }] }), ConfigError)
  assert.throws(() => bbAuth({ keys: [K1, { id: K1.id, key: K2.key }] }), ConfigError)
  assert.throws(() => bbAuth({ keys: [K1], publisher: { publicKey: Buffer.alloc(31), sign: () => Buffer.alloc(64) } }), ConfigError)
  assert.doesNotThrow(() => bbAuth({ keys: Array.from({ length: 16 }, (_, i) => communityKey(`k${i}`)) }))
})

test('no secret in a reason, and the session shows nothing when logged', async () => {
  const reasons: string[] = []
  for (const o of [{ b: { keys: [K2] } }, { a: { keys: [K2] } }]) {
    const { p, clock } = members({ ...o, dropOnMisbehave: false })
    p.start()
    await p.settle()
    clock.advance(BB_AUTH_TIMEOUT_MS)
    reasons.push(...p.a.misbehaved, ...p.b.misbehaved)
  }
  assert.ok(reasons.length >= 2)
  const secrets = [K1.key, K2.key].flatMap((k) => [k.toString('hex'), k.toString('base64'), k.toString('latin1')])
  for (const r of reasons) for (const sec of secrets) assert.ok(!r.includes(sec))
  const { p } = members()
  p.start()
  await p.settle()
  const info = p.a.authenticated[0] as AuthInfo
  assert.ok(info.session !== undefined)
  assert.equal(JSON.stringify(info.session), '{}')
  assert.equal(inspect(info.session), 'ConnectionSession {}')
})
