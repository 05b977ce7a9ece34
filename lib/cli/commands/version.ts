/** `mtlog-audit version`: package and WAL format version. */

import { readFileSync } from 'node:fs'
import type { Command } from 'commander'
import { FORMAT_VERSION } from '../../../shared/format.js'

const pkg = JSON.parse(readFileSync(new URL('../../../../package.json', import.meta.url), 'utf8')) as {
  version: string
}

export function register(program: Command): void {
  program
    .command('version')
    .description('print the version of mtlog-audit and of the WAL format it reads')
    .option('--json', 'machine-readable output')
    .action((opts: { json?: boolean }) => {
      const v = { version: pkg.version, walFormat: FORMAT_VERSION, node: process.version }
      console.log(
        opts.json ? JSON.stringify(v) : `mtlog-audit ${v.version} (WAL format ${v.walFormat}, node ${v.node})`,
      )
    })
}
