#!/usr/bin/env node
/**
 * The mtlog-audit command line. Exit codes (docs/errors.md): 0 ok, 1 an
 * integrity failure was found, 2 usage error, 3 I/O or environment error.
 * Human output goes to stdout; --json prints the whole machine-readable report.
 */

import { readFileSync } from 'node:fs'
import { Command, CommanderError } from 'commander'
import { AuditError, ERROR_CODES } from '../shared/errors.js'
import { verifyLog, type VerifyReport } from './reader.js'

export const EXIT = { OK: 0, INTEGRITY: 1, USAGE: 2, ENVIRONMENT: 3 } as const

const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }

function mb(bytes: number): string {
  return (bytes / 1e6).toFixed(1)
}

function printVerify(r: VerifyReport): void {
  const lines = [
    `${r.ok ? 'OK' : 'DAMAGED'}  ${r.dir}`,
    `  segments  ${r.segments}`,
    `  records   ${r.records}${r.firstSeq !== undefined ? ` (seq ${r.firstSeq}..${r.lastSeq})` : ''}`,
    `  bytes     ${r.bytes} (${mb(r.bytes)} MB, verified at ${mb(r.bytesPerSecond)} MB/s)`,
  ]
  if (r.firstTime) lines.push(`  time      ${r.firstTime.toISOString()} .. ${r.lastTime?.toISOString()}`)
  if (r.firstBad) lines.push(`  FIRST BAD seq ${r.firstBad.seq} in ${r.firstBad.segment} at offset ${r.firstBad.offset}: ${r.firstBad.problem} (${r.firstBad.message})`)
  if (r.tornTail) lines.push(`  torn tail ${r.tornTail.bytes} bytes after offset ${r.tornTail.offset} of ${r.tornTail.segment} (an unfinished last batch; not acknowledged data)`)
  if (r.sideFiles.length > 0) lines.push(`  cut tails kept: ${r.sideFiles.join(', ')}`)
  console.log(lines.join('\n'))
}

export function buildProgram(): Command {
  const program = new Command()
  program.name('mtlog-audit').description('The audit sink that cannot lose data: tools for its write-ahead log.').exitOverride()
  program.configureOutput({ writeErr: (s) => process.stderr.write(s) })

  program.command('version').description('print the version of mtlog-audit and of the WAL format it reads').option('--json', 'machine-readable output')
    .action((opts: { json?: boolean }) => {
      const v = { version: pkg.version, walFormat: 1, node: process.version }
      console.log(opts.json ? JSON.stringify(v) : `mtlog-audit ${v.version} (WAL format ${v.walFormat}, node ${v.node})`)
    })

  program.command('verify').description('check every segment, record checksum, seq and the hash chain, read-only (safe beside a live writer)')
    .argument('<dir>', 'the WAL directory').option('--json', 'print the whole report as JSON')
    .action(async (dir: string, opts: { json?: boolean }) => {
      const report = await verifyLog(dir)
      if (opts.json) console.log(JSON.stringify(report, null, 2))
      else printVerify(report)
      process.exitCode = report.ok ? EXIT.OK : EXIT.INTEGRITY
    })
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
      return err.code === ERROR_CODES.CORRUPT ? EXIT.INTEGRITY : EXIT.ENVIRONMENT
    }
    console.error(`mtlog-audit: ${(err as Error).stack ?? String(err)}`)
    return EXIT.ENVIRONMENT
  }
}

process.exitCode = await main(process.argv.slice(2))
