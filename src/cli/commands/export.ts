import type { Command } from '../command.js'
export const exportCommand: Command = { name: 'export', summary: 'todo', help: () => 'todo', async run () { return 1 } }
