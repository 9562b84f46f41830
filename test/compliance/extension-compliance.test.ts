// One suite, run against every bb_* extension in COMPLIANCE_FACTORIES: the rules of docs/protocol.md
// "BEP-10 extensions of bbmesh: common rules" that hold for each of them, whatever it does. A
// `standard` entry (ut_pex) keeps its standard name and is open to the registry; before bb_auth
// it must itself stay silent and find no violation (its unit test shows it acts on nothing).

import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import { encode, type EncodableValue } from '../../src/core/bencode.js'
import { BbmeshError } from '../../src/core/errors.js'
import type { ExtensionContext, ExtensionFactory } from '../../extensions/extension.js'
import { fakeAuth, peerId, sha1, solo, spyOnMessage } from '../unit/extensions/helpers.js'
import { COMPLIANCE_FACTORIES, type ComplianceEntry } from './factories.js'

const MiB = 1024 * 1024
const RUNS = 300

/** A context as a connection would lend it, remote known and (optionally) authenticated. */
function stubContext (opts: { initiator: boolean, authenticated: boolean }): ExtensionContext & { sent: Uint8Array[], reasons: string[] } {
  const sent: Uint8Array[] = []
  const reasons: string[] = []
  return {
    infohash: sha1('compliance'),
    localPeerId: peerId('local'),
    remote: { host: '127.0.0.1', port: 6881, peerId: peerId('remote') },
    initiator: opts.initiator,
    send: (p) => { sent.push(p) },
    remoteSupports: () => true,
    authenticated: () => opts.authenticated,
    markAuthenticated: () => {},
    misbehaved: (r) => { reasons.push(r) },
    sent,
    reasons,
  }
}

/** Payloads up to the cap: raw bytes, bencoded dicts with plausible keys, and mutated samples. */
function payloadArb (entry: ComplianceEntry, max: number): fc.Arbitrary<Buffer> {
  const keys = fc.constantFrom('t', 'v', 'n', 'p', 'mac', 'pk', 'sig', 'q', 'ih', 'x', '__proto__', 'msg_type')
  const value: fc.Arbitrary<EncodableValue> = fc.oneof(
    fc.integer({ min: -3, max: 300 }),
    fc.uint8Array({ maxLength: 80 }),
    fc.constantFrom(16, 20, 32, 64).chain((n) => fc.uint8Array({ minLength: n, maxLength: n })),
    fc.array(fc.integer(), { maxLength: 3 }),
  )
  const dict = fc.dictionary(keys, value, { maxKeys: 6 }).map((d) => {
    const o = Object.create(null) as Record<string, EncodableValue>
    for (const [k, v] of Object.entries(d)) o[k] = v
    return encode(o)
  })
  const parts: Array<fc.Arbitrary<Buffer>> = [fc.uint8Array({ maxLength: Math.min(max, 512) }).map((u) => Buffer.from(u)), dict]
  if (entry.samples.length > 0) {
    parts.push(fc.tuple(fc.constantFrom(...entry.samples), fc.nat(), fc.integer({ min: 0, max: 255 }), fc.boolean()).map(([s, at, v, flip]) => {
      const m = Buffer.from(s)
      if (flip) m[at % m.length] = v
      return m
    }))
  }
  return fc.oneof(...parts).filter((b) => b.length <= max)
}

for (const entry of COMPLIANCE_FACTORIES) {
  describe(`extension ${entry.name}`, () => {
    const probe = entry.make()(stubContext({ initiator: true, authenticated: false }))

    test(entry.standard === true ? 'its name is a standard ut_* BEP-10 name and matches the list' : 'its name is a bb_* BEP-10 name and matches the list', () => {
      assert.equal(probe.name, entry.name)
      assert.match(probe.name, entry.standard === true ? /^ut_[a-z0-9_]+$/ : /^bb_[a-z0-9_]+$/)
    })

    test('maxMessage is a positive integer, at most 1 MiB', () => {
      assert.ok(Number.isSafeInteger(probe.maxMessage), String(probe.maxMessage))
      assert.ok(probe.maxMessage > 0 && probe.maxMessage <= MiB, String(probe.maxMessage))
    })

    test('requiresAuth is true for every extension but bb_auth and the standard ones', () => {
      assert.equal(probe.requiresAuth, entry.name !== 'bb_auth' && entry.standard !== true)
    })

    test(`random payloads (${RUNS} sequences): onMessage throws nothing but BbmeshError`, () => {
      fc.assert(fc.property(fc.boolean(), fc.boolean(), fc.array(payloadArb(entry, probe.maxMessage), { minLength: 1, maxLength: 4 }), (initiator, authenticated, payloads) => {
        const ctx = stubContext({ initiator, authenticated })
        const ext = entry.make()(ctx)
        ext.onRemoteHandshake?.({ m: new Map([[entry.name, 1]]), raw: Object.create(null) })
        if (authenticated) ext.onAuthenticated?.({ community: 'c' })
        for (const p of payloads) {
          try {
            ext.onMessage(p)
          } catch (err) {
            if (!(err instanceof BbmeshError)) throw err
          }
        }
        ext.close?.()
        for (const s of ctx.sent) assert.ok(s.length <= ext.maxMessage, 'what it sends fits its own cap')
      }), { seed: 0xc0de, numRuns: RUNS })
    })

    test('through a registry, no payload up to the cap ever throws', () => {
      fc.assert(fc.property(payloadArb(entry, probe.maxMessage), (p) => {
        const auth = fakeAuth()
        const list: ExtensionFactory[] = entry.name === 'bb_auth' ? [entry.make()] : [auth.factory, entry.make()]
        const s = solo(list)
        s.remoteHandshake({ [entry.name]: 9 })
        if (entry.name !== 'bb_auth') auth.pass()
        s.receive(entry.name, p)
        assert.ok(s.misbehaved.length <= 1)
      }), { seed: 0xc0df, numRuns: 100 })
    })

    test('a payload over its cap is refused before the extension sees it', () => {
      const spy = spyOnMessage(entry.make())
      const auth = fakeAuth()
      const s = solo(entry.name === 'bb_auth' ? [spy.factory] : [auth.factory, spy.factory])
      s.remoteHandshake({ [entry.name]: 9 })
      if (entry.name !== 'bb_auth') auth.pass()
      s.receive(entry.name, Buffer.alloc(probe.maxMessage + 1, 0x64))
      assert.equal(s.misbehaved.length, 1)
      assert.match(s.misbehaved[0], /exceeds cap/)
      assert.equal(spy.calls.length, 0)
    })

    if (entry.standard === true) {
      test('before bb_auth it answers nothing and finds no violation, whatever its messages hold', () => {
        fc.assert(fc.property(fc.array(payloadArb(entry, probe.maxMessage), { minLength: 1, maxLength: 5 }), (payloads) => {
          const s = solo([fakeAuth().factory, entry.make()])
          s.remoteHandshake({ bb_auth: 1, [entry.name]: 9 })
          for (const p of payloads) s.receive(entry.name, p)
          assert.deepEqual(s.sentTo(9), [])
          assert.deepEqual(s.misbehaved, [])
          s.registry.close()
        }), { seed: 0xc0e1, numRuns: 50 })
      })
    } else if (entry.name !== 'bb_auth') {
      test('before bb_auth its messages are dropped unanswered, whatever they hold', () => {
        fc.assert(fc.property(fc.array(payloadArb(entry, probe.maxMessage), { minLength: 1, maxLength: 5 }), (payloads) => {
          const spy = spyOnMessage(entry.make())
          const s = solo([fakeAuth().factory, spy.factory])
          s.remoteHandshake({ bb_auth: 1, [entry.name]: 9 })
          for (const p of payloads) s.receive(entry.name, p)
          assert.equal(spy.calls.length, 0)
          assert.deepEqual(s.sentTo(9), [])
          assert.equal(s.registry.stats().unauthenticatedDropped, payloads.length)
        }), { seed: 0xc0e0, numRuns: 50 })
      })
    }

    test('its handshake keys fit a registry, and close is idempotent', () => {
      const ext = entry.make()
      const s = solo([ext])
      assert.doesNotThrow(() => s.registry.handshake())
      s.registry.close()
      s.registry.close()
      const direct = entry.make()(stubContext({ initiator: false, authenticated: false }))
      direct.close?.()
      direct.close?.()
    })
  })
}
