// Every BEP-10 extension the compliance suite holds to the common rules (docs/protocol.md,
// "BEP-10 extensions of bbmesh: common rules"). Add each new bb_* extension here, built the way
// the node builds it but with test keys and a manual clock. A standard extension the members
// speak (ut_pex) is here too, marked `standard`: the registry does not gate it, so it must gate
// itself (nothing sent, nothing acted upon, no violation before bb_auth).

import type { ExtensionFactory } from '../../extensions/extension.js'
import { bbAuth } from '../../extensions/bb-auth.js'
import { encodeAuthMessage } from '../../extensions/bb-auth.codec.js'
import { bbMeta } from '../../extensions/bb-meta.js'
import { bbBloom } from '../../extensions/bb-bloom.js'
import { bbHave } from '../../extensions/bb-have.js'
import { encodeHave } from '../../extensions/bb-have.codec.js'
import { bbSamples } from '../../extensions/bb-samples.js'
import { encodeSamples } from '../../extensions/bb-samples.codec.js'
import { encodeBloomMessage } from '../../extensions/bb-bloom.codec.js'
import { encodeMetaMessage } from '../../extensions/bb-meta.codec.js'
import { utPex } from '../../extensions/ut-pex.js'
import { encodePex } from '../../extensions/ut-pex.codec.js'
import { ManualClock, communityKey, dummyExtension, publisher, sha256 } from '../unit/extensions/helpers.js'

export interface ComplianceEntry {
  /** The BEP-10 name the factory's extension must have. */
  name: string
  /** A fresh factory (each test gets its own, so state never leaks between runs). */
  make: () => ExtensionFactory
  /** Sample payloads that decode (seeds for the random inputs); may be empty. */
  samples: Buffer[]
  /** A standard BEP-10 extension (ut_*), not gated by the registry: requiresAuth false, it gates itself. */
  standard?: boolean
}

export const COMPLIANCE_FACTORIES: ComplianceEntry[] = [
  {
    name: 'bb_auth',
    make: () => bbAuth({ keys: [communityKey('compliance')], publisher: publisher(Buffer.alloc(32, 7)), schedule: new ManualClock().schedule }),
    samples: [
      encodeAuthMessage({ type: 'challenge', nonce: sha256('n') }),
      encodeAuthMessage({ type: 'proof', proof: sha256('p') }),
      encodeAuthMessage({ type: 'hello', mac: sha256('m').subarray(0, 16) }),
      encodeAuthMessage({ type: 'hello', mac: sha256('m').subarray(0, 16), publicKey: sha256('pk'), signature: Buffer.concat([sha256('s1'), sha256('s2')]) }),
    ],
  },
  {
    name: 'bb_meta',
    make: () => bbMeta({ source: { rawInfo: (ih) => ih[0] === 1 ? Buffer.alloc(20_000, 1) : null } }),
    samples: [
      encodeMetaMessage({ t: 'q', i: 1, h: Buffer.alloc(20, 1), p: 0 }),
      encodeMetaMessage({ t: 'q', i: 2, h: Buffer.alloc(20, 2), p: 0 }),
      encodeMetaMessage({ t: 'n', i: 3, h: Buffer.alloc(20, 3) }),
      encodeMetaMessage({ t: 'd', i: 4, h: Buffer.alloc(20, 4), p: 0, s: 10, data: Buffer.alloc(10) }),
    ],
  },
  {
    name: 'bb_bloom',
    make: () => bbBloom({ local: () => null }),
    samples: [
      encodeBloomMessage({ t: 'f', g: 1, m: 1024, k: 3, n: 1, o: 0, b: Buffer.alloc(128) }),
      encodeBloomMessage({ t: 'a', g: 1, h: [Buffer.alloc(20, 1)] }),
    ],
  },
  {
    name: 'bb_have',
    make: () => bbHave({ nodeId: Buffer.alloc(20, 5) }),
    samples: [
      encodeHave([Buffer.alloc(20, 1), Buffer.alloc(20, 2)]),
      // A view only (the node IDs of the sender's linked members), an empty view, and both.
      encodeHave([], [Buffer.alloc(20, 3), Buffer.alloc(20, 4)]),
      encodeHave([], []),
      encodeHave([Buffer.alloc(20, 1)], [Buffer.alloc(20, 3)]),
    ],
  },
  {
    name: 'bb_samples',
    // A small rate on a clock that never moves, so the random runs reach the over-rate path too.
    make: () => { const clock = new ManualClock(); return bbSamples({ rate: 2, now: () => clock.now }) },
    samples: [
      encodeSamples([Buffer.alloc(20, 1)]),
      encodeSamples([Buffer.alloc(20, 1), Buffer.alloc(20, 2), Buffer.alloc(20, 3)]),
    ],
  },
  {
    name: 'ut_pex',
    standard: true,
    make: () => {
      const peerId = Buffer.alloc(20, 9)
      return utPex({
        source: { members: () => [{ peerId, host: '127.0.0.9', port: 6881, community: 'c', listening: true }], offer: () => {} },
        schedule: new ManualClock().schedule,
      })
    },
    samples: [
      encodePex({ added: [{ host: '127.0.0.5', port: 6881 }], dropped: [{ host: '127.0.0.6', port: 6882 }] }),
      encodePex({ added: [{ host: '::1', port: 7000 }], dropped: [] }),
    ],
  },
  {
    name: 'bb_dummy',
    make: () => dummyExtension({ echo: true }).factory,
    samples: [Buffer.from('hello')],
  },
]
