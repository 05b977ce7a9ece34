#!/usr/bin/env node
/**
 * The mtlog-audit command line: one module per command in lib/cli/commands/,
 * registered here. Exit codes (docs/errors.md): 0 ok, 1 an integrity failure
 * was found, 2 usage error, 3 I/O or environment error.
 */

import { Command, CommanderError } from 'commander'
import { AuditError, ERROR_CODES } from '../../shared/errors.js'
import { EXIT, type Register } from './common.js'
import { register as version } from './commands/version.js'
import { register as verify } from './commands/verify.js'
import { register as replay } from './commands/replay.js'
import { register as exportCmd } from './commands/export.js'
import { register as recover } from './commands/recover.js'
import { register as stats } from './commands/stats.js'
import { register as monitor } from './commands/monitor.js'
import { register as torture } from './commands/torture.js'
import { register as bench } from './commands/bench.js'
import { register as keys } from './commands/keys.js'
import { register as keygen } from './commands/keygen.js'
import { register as witness } from './commands/witness.js'
import { register as verifyProof } from './commands/verify-proof.js'
import { register as signed } from './commands/signed.js'
import { register as erase } from './commands/erase.js'

const COMMANDS: Register[] = [
  verify,
  replay,
  exportCmd,
  recover,
  stats,
  monitor,
  version,
  torture,
  bench,
  keys,
  keygen,
  witness,
  verifyProof,
  signed,
  erase,
]

export function buildProgram(): Command {
  const program = new Command()
  program
    .name('mtlog-audit')
    .description('The audit sink that cannot lose data: tools for its write-ahead log.')
    .exitOverride()
  program.configureOutput({ writeErr: (s) => process.stderr.write(s) })
  for (const register of COMMANDS) register(program)
  return program
}

export async function main(argv: string[]): Promise<number> {
  try {
    await buildProgram().parseAsync(argv, { from: 'user' })
    return Number(process.exitCode ?? EXIT.OK)
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode === 0 ? EXIT.OK : EXIT.USAGE
    if (err instanceof AuditError) {
      console.error(`mtlog-audit: ${err.code}: ${err.message}`)
      if (err.code === ERROR_CODES.CORRUPT || err.code === ERROR_CODES.DECRYPT_FAILED) return EXIT.INTEGRITY
      if (err.code === ERROR_CODES.OPTION_INVALID || err.code === ERROR_CODES.OUTPUT_EXISTS) return EXIT.USAGE
      return EXIT.ENVIRONMENT
    }
    console.error(`mtlog-audit: ${(err as Error).stack ?? String(err)}`)
    return EXIT.ENVIRONMENT
  }
}

process.exitCode = await main(process.argv.slice(2))
