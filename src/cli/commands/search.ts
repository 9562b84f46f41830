import type { Command } from '../command.js'
export const searchCommand: Command = { name: 'search', summary: 'todo', help: () => 'todo', async run () { return 1 } }
