// Every BEP-10 extension the compliance suite holds to the common rules (docs/protocol.md,
// "BEP-10 extensions of bbmesh: common rules"). Add each new bb_* extension here, built the way
// the node builds it but with test keys and a manual clock.

import type { ExtensionFactory } from '../../extensions/extension.js'
import { bbAuth } from '../../extensions/bb-auth.js'
import { encodeAuthMessage } from '../../extensions/bb-auth.codec.js'
import { ManualClock, communityKey, dummyExtension, publisher, sha256 } from '../unit/extensions/helpers.js'

export interface ComplianceEntry {
  /** The BEP-10 name the factory's extension must have. */
  name: string
  /** A fresh factory (each test gets its own, so state never leaks between runs). */
  make: () => ExtensionFactory
  /** Sample payloads that decode (seeds for the random inputs); may be empty. */
  samples: Buffer[]
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
    name: 'bb_dummy',
    make: () => dummyExtension({ echo: true }).factory,
    samples: [Buffer.from('hello')],
  },
]
