// The shape of a CLI command: one file each under src/cli/commands/.

import type { Output } from './output.js'

export interface Command {
  name: string
  summary: string
  /** Full --help text. */
  help: () => string
  run: (argv: string[], out: Output) => Promise<number>
}
