// `bbmesh keygen`: mint the publisher key (DESIGN.md "Keys") into the data directory,
// optionally sealed under a passphrase read from a file or an environment variable (never
// argv). Prints the public key and its BEP-46 magnet; never the private key.

import type { Command } from '../command.js'
import { parse, configHelp } from '../args.js'
import { loadConfig } from '../../config/load.js'
import { KeyError, UsageError } from '../../core/errors.js'
import {
  DEFAULT_SCRYPT, generatePublisherKey, publisherKeyExists, publisherKeyPath, readPublisherKeyInfo, savePublisherKey,
} from '../../identity/publisher-key.js'
import { PASSPHRASE_HELP, PASSPHRASE_OPTIONS, readPassphrase } from '../passphrase.js'
import { KEY_CONFIG_KEYS, printPublicKey } from './key.js'

export const keygenCommand: Command = {
  name: 'keygen',
  summary: 'mint the publisher key (ed25519) into the data directory',
  help: () => `Usage: bbmesh keygen [--passphrase-file FILE | --passphrase-env VAR] [--force] [--json] [options]

Makes a new ed25519 publisher key and writes it to publisher.key in the data directory (mode
0600). Its public key is your identity as a publisher: it signs the BEP-46 pointer to your
catalog and your node's gossip. Prints the public key (64 hex digits) and its BEP-46 magnet on
stdout; \`bbmesh key show\` prints them again later. The private key is never printed or logged.

With a passphrase the key is sealed (scrypt N=2^17 r=8 p=1, then AES-256-GCM): whoever copies
the file still cannot sign as you. Without one anyone who can read the file can. The
passphrase is read from a file or an environment variable, never from the command line (it
would show in \`ps\` and in shell history). A lost key or passphrase cannot be recovered: back
the file up.

An existing key is never replaced unless --force is given.

Options:
${PASSPHRASE_HELP}
  --force                        replace an existing publisher key (the old one is lost)
  --json                         one JSON object: public_key, magnet, dht_target, path, encrypted
${configHelp(KEY_CONFIG_KEYS)}`,
  async run (argv, out) {
    const p = parse(argv, { ...PASSPHRASE_OPTIONS, force: { type: 'boolean' }, json: { type: 'boolean' } }, KEY_CONFIG_KEYS, true)
    // Never echo a positional: it may be a passphrase typed in the wrong place.
    if (p.positionals.length > 0) throw new UsageError('`bbmesh keygen` takes no arguments (a passphrase comes from --passphrase-file or --passphrase-env)')
    const { config } = loadConfig(p.configFlags)
    const passphrase = readPassphrase(p.values)
    const force = p.values.force === true
    const path = publisherKeyPath(config.dataDir)
    let old: string | undefined
    if (publisherKeyExists(config.dataDir)) {
      // Checked here too (save checks again, atomically) so a refusal costs no scrypt.
      if (!force) {
        throw new KeyError('exists', `${path} already holds a publisher key; it is not replaced without --force (the old key would be lost, and with it the identity others know you by). \`bbmesh key show\` prints its public key`)
      }
      try { old = readPublisherKeyInfo(config.dataDir).publicKeyHex } catch { /* a damaged file: replaced all the same */ }
    }
    const key = generatePublisherKey()
    savePublisherKey(config.dataDir, key, { passphrase, force })
    const encrypted = passphrase !== undefined
    printPublicKey(out, { path, publicKey: key.publicKey, publicKeyHex: key.publicKeyHex, encrypted }, p.values.json === true, undefined, false)
    out.err([
      `bbmesh: wrote a new publisher key to ${path} (mode 0600, ${encrypted ? `sealed with your passphrase: scrypt N=2^${Math.log2(DEFAULT_SCRYPT.N)} r=${DEFAULT_SCRYPT.r} p=${DEFAULT_SCRYPT.p}, AES-256-GCM` : 'NOT encrypted: anyone who can read the file can sign as you; --passphrase-file or --passphrase-env seals it'}).`,
      ...(old !== undefined ? [`It replaces the publisher key ${old}.`] : []),
      'Its public key and BEP-46 magnet (on stdout) are safe to share; `bbmesh key show` prints them again. Back the file up: a lost key cannot be recovered.',
    ].join('\n'))
    return 0
  },
}
