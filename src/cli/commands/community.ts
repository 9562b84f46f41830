// `bbmesh community new`: mint a community key (the key alone on stdout, a hint on stderr).
// `bbmesh community id [KEY]`: the public id of a key, or of every configured key, so two
// operators can check they hold the same key without showing it.

import type { Command } from '../command.js'
import { parse, configHelp } from '../args.js'
import { loadConfig } from '../../config/load.js'
import type { ConfigKey } from '../../config/defaults.js'
import { UsageError } from '../../core/errors.js'
import { generateCommunityKey, parseCommunityKey, parseCommunityKeys } from '../../identity/community-key.js'

const ID_KEYS: readonly ConfigKey[] = ['community', 'dataDir', 'config']

const SUBCOMMANDS = 'expected `bbmesh community new` or `bbmesh community id [KEY]`'

export const communityCommand: Command = {
  name: 'community',
  summary: 'community keys: new (mint one), id [KEY] (its public id)',
  help: () => `Usage: bbmesh community new
       bbmesh community id [KEY] [--community KEY ...]

A community key is the shared secret of one cooperative: every member holds the same key, and
only members can find each other's rendezvous and pass bb_auth.

  new        print a fresh random key on stdout (nothing else; a hint goes to stderr).
             Keep it secret; give it only to the operators of your cooperative.
  id [KEY]   print the public id of KEY, or with no KEY the id of every configured key
             (--community, BBMESH_COMMUNITY, "community" in config.json), one per line.
             Ids are safe to show: compare them with another operator to check you hold the
             same key without revealing it.

A key reads bbmesh-community:<72 hex digits> (the key, then a checksum that catches typos).
Give it to bbmesh with --community KEY (repeatable), BBMESH_COMMUNITY=KEY1,KEY2 or
"community": ["KEY"] in config.json; flags are visible to other users in \`ps\`, the
environment and a mode-0600 config file are not.

Options of \`id\`:
${configHelp(ID_KEYS)}`,
  async run (argv, out) {
    const p = parse(argv, {}, ID_KEYS, true)
    const [sub, ...args] = p.positionals
    if (sub === 'new') {
      if (args.length > 0 || Object.keys(p.configFlags).length > 0) throw new UsageError('`bbmesh community new` takes no arguments')
      const ck = generateCommunityKey()
      out.out(ck.format())
      out.err([
        'bbmesh: a new community key is on stdout. It is secret: share it only with the members of the cooperative.',
        'Use it with --community KEY, BBMESH_COMMUNITY=KEY, or "community": ["KEY"] in config.json.',
        `Its public id (safe to show, to compare keys with other operators): ${ck.id}`,
      ].join('\n'))
      return 0
    }
    if (sub === 'id') {
      if (args.length > 1) throw new UsageError('`bbmesh community id` takes at most one KEY')
      if (args.length === 1) {
        out.out(parseCommunityKey(args[0], 'KEY').id)
        return 0
      }
      const keys = parseCommunityKeys(loadConfig(p.configFlags))
      if (keys.length === 0) throw new UsageError('no community key: give one as KEY, with --community, BBMESH_COMMUNITY or "community" in config.json')
      for (const ck of keys) out.out(ck.id)
      return 0
    }
    // Never echo a positional: it may be a key typed in the wrong place.
    throw new UsageError(SUBCOMMANDS)
  },
}
