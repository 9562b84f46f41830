import type { Command } from '../command.js'
export const statsCommand: Command = { name: 'stats', summary: 'todo', help: () => 'todo', async run () { return 1 } }
