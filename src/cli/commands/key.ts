// `bbmesh key show [--json] [--salt S]`: the public key of the publisher key in the data
// directory (hex) and its BEP-46 magnet. Needs no passphrase: the public key is in clear in the
// file (src/identity/publisher-key.ts). Never prints anything secret.

import type { Command } from '../command.js'
import type { Output } from '../output.js'
import { parse, configHelp } from '../args.js'
import { loadConfig } from '../../config/load.js'
import type { ConfigKey } from '../../config/defaults.js'
import { UsageError } from '../../core/errors.js'
import { LIMITS } from '../../core/limits.js'
import { btpkMagnet, mutableItemTarget, readPublisherKeyInfo, type PublisherKeyInfo } from '../../identity/publisher-key.js'

export const KEY_CONFIG_KEYS: readonly ConfigKey[] = ['dataDir', 'config']

/** The salt of --salt: its UTF-8 bytes, 1..64 (BEP-44). */
export function saltFlag (v: unknown): Buffer | undefined {
  if (typeof v !== 'string') return undefined
  const b = Buffer.from(v, 'utf8')
  if (b.length === 0) throw new UsageError('--salt is empty (leave it out for no salt)')
  if (b.length > LIMITS.bep44MaxSalt) throw new UsageError(`--salt is ${b.length} bytes; a BEP-44 salt is at most ${LIMITS.bep44MaxSalt}`)
  return b
}

/** Print the public side of a key: text lines, or one JSON object. */
export function printPublicKey (out: Output, info: Pick<PublisherKeyInfo, 'path' | 'publicKey' | 'publicKeyHex' | 'encrypted'>, json: boolean, salt?: Buffer, withFile = true): void {
  const magnet = btpkMagnet(info.publicKey, salt)
  if (json) {
    out.out(JSON.stringify({
      public_key: info.publicKeyHex,
      magnet,
      ...(salt !== undefined ? { salt_hex: salt.toString('hex') } : {}),
      dht_target: mutableItemTarget(info.publicKey, salt).toString('hex'),
      path: info.path,
      encrypted: info.encrypted,
    }))
    return
  }
  out.out(`public key  ${info.publicKeyHex}`)
  out.out(`magnet      ${magnet}`)
  if (withFile) out.out(`file        ${info.path} (${info.encrypted ? 'encrypted with a passphrase' : 'not encrypted'})`)
}

const SUBCOMMANDS = 'expected `bbmesh key show [--json] [--salt S]`'

export const keyCommand: Command = {
  name: 'key',
  summary: 'the publisher key: show (its public key and BEP-46 magnet)',
  help: () => `Usage: bbmesh key show [--json] [--salt S] [options]

Prints the public key of the publisher key in the data directory (publisher.key, made by
\`bbmesh keygen\`) as 64 hex digits, and its BEP-46 magnet, magnet:?xs=urn:btpk:<public key>
(with &s=<hex of the salt> when --salt is given). The public key is your identity as a
publisher: share it, or the magnet, with the people who should fetch your catalog. Needs no
passphrase and prints nothing secret.

Exits 1 when there is no key (make one with \`bbmesh keygen\`), when the file is readable by
others than its owner (fix with chmod 600), or when it is damaged.

Options:
  --json                         one JSON object: public_key, magnet, salt_hex, dht_target
                                 (the BEP-44 mutable item target, SHA-1 of key and salt),
                                 path, encrypted
  --salt S                       the salt of the magnet: S as UTF-8, at most 64 bytes (BEP-44)
${configHelp(KEY_CONFIG_KEYS)}`,
  async run (argv, out) {
    const p = parse(argv, { json: { type: 'boolean' }, salt: { type: 'string' } }, KEY_CONFIG_KEYS, true)
    const [sub, ...rest] = p.positionals
    // Never echo a positional: it may be something secret typed in the wrong place.
    if (sub !== 'show') throw new UsageError(SUBCOMMANDS)
    if (rest.length > 0) throw new UsageError('`bbmesh key show` takes no arguments')
    const salt = saltFlag(p.values.salt)
    const { config } = loadConfig(p.configFlags)
    printPublicKey(out, readPublisherKeyInfo(config.dataDir), p.values.json === true, salt)
    return 0
  },
}
