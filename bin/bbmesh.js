#!/usr/bin/env node
// Entry point: the compiled CLI lives in dist/ (built by `npm run build`, run by `prepare`).
import { main } from '../dist/src/cli/main.js'
main(process.argv.slice(2)).then((code) => { process.exitCode = code })
