import type { Command } from '../command.js'
export const importCommand: Command = { name: 'import', summary: 'todo', help: () => 'todo', async run () { return 1 } }
