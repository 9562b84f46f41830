// BEP-3 handshake codec: 68 bytes, pure. Reserved bits: BEP-10 extension protocol (byte 5,
// 0x10), BEP-5 DHT (byte 7, 0x01), BEP-52 v2 upgrade (byte 7, 0x10).

import { ProtocolError } from '../core/errors.js'

export const HANDSHAKE_LEN = 68
const PSTR = Buffer.from('\x13BitTorrent protocol', 'latin1')

export interface Handshake {
  infohash: Buffer
  peerId: Buffer
  extended: boolean
  dht: boolean
  v2: boolean
}

export function encodeHandshake (infohash: Uint8Array, peerId: Uint8Array, opts: { dht?: boolean, v2?: boolean } = {}): Buffer {
  if (infohash.length !== 20 || peerId.length !== 20) throw new RangeError('handshake: infohash and peer id are 20 bytes')
  const b = Buffer.alloc(HANDSHAKE_LEN)
  PSTR.copy(b, 0)
  b[20 + 5] |= 0x10
  if (opts.dht === true) b[20 + 7] |= 0x01
  if (opts.v2 === true) b[20 + 7] |= 0x10
  b.set(infohash, 28)
  b.set(peerId, 48)
  return b
}

export function decodeHandshake (b: Uint8Array): Handshake {
  if (b.length < HANDSHAKE_LEN) throw new ProtocolError(`handshake: ${b.length} bytes, need ${HANDSHAKE_LEN}`)
  for (let i = 0; i < PSTR.length; i++) {
    if (b[i] !== PSTR[i]) throw new ProtocolError('handshake: not the BitTorrent protocol')
  }
  return {
    infohash: Buffer.from(b.subarray(28, 48)),
    peerId: Buffer.from(b.subarray(48, 68)),
    extended: (b[25] & 0x10) !== 0,
    dht: (b[27] & 0x01) !== 0,
    v2: (b[27] & 0x10) !== 0,
  }
}
