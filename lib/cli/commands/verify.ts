/** `mtlog-audit verify <dir>`: the integrity report, read-only. */

import type { Command } from 'commander'
import { verifyLog, type VerifyReport } from '../../read/index.js'
import { EXIT, mb, progress, walBytes } from '../common.js'

function printVerify(r: VerifyReport): void {
  const lines = [
    `${r.ok ? 'OK' : 'DAMAGED'}  ${r.dir}`,
    `  segments  ${r.segments}`,
    `  records   ${r.records}${r.firstSeq !== undefined ? ` (seq ${r.firstSeq}..${r.lastSeq})` : ''}`,
    `  bytes     ${r.bytes} (${mb(r.bytes)} MB, verified at ${mb(r.bytesPerSecond)} MB/s)`,
  ]
  if (r.firstTime) lines.push(`  time      ${r.firstTime} .. ${r.lastTime}`)
  if (r.firstBad)
    lines.push(
      `  FIRST BAD seq ${r.firstBad.seq} in ${r.firstBad.segment} at offset ${r.firstBad.offset}: ${r.firstBad.problem} (${r.firstBad.message})`,
    )
  if (r.tornTail)
    lines.push(
      `  torn tail ${r.tornTail.bytes} bytes after offset ${r.tornTail.offset} of ${r.tornTail.segment} (an unfinished last batch; not acknowledged data)`,
    )
  if (r.zeroTail)
    lines.push(
      `  zero tail ${r.zeroTail.bytes} bytes after offset ${r.zeroTail.offset} of ${r.zeroTail.segment} (space zero-filled ahead by a writer that is running or did not close)`,
    )
  if (r.sideFiles.length > 0) lines.push(`  cut tails kept: ${r.sideFiles.join(', ')}`)
  lines.push(`  events    ${r.events}`)
  for (const g of r.gaps.slice(0, GAP_LINES_MAX)) {
    const seqs = g.fromSeq === g.toSeq ? `seq ${g.fromSeq}` : `seqs ${g.fromSeq}..${g.toSeq}`
    lines.push(`  gap       ${seqs} lost, recorded in ${g.segment} (a cut after a crash; never reused)`)
  }
  if (r.gaps.length > GAP_LINES_MAX) lines.push(`  gap       ... ${r.gaps.length - GAP_LINES_MAX} more (--json lists all)`)
  lines.push(`  sealed    ${r.sealed ? 'yes (closed with close())' : 'no (open, or stopped without close())'}`)
  console.log(lines.join('\n'))
}

/** Gap lines printed at most; --json lists every gap. */
const GAP_LINES_MAX = 20

export function register(program: Command): void {
  program
    .command('verify')
    .description('check every segment, record checksum, seq and the hash chain, read-only (safe beside a live writer)')
    .argument('<dir>', 'the WAL directory')
    .option('--json', 'print the whole report as JSON')
    .option('-q, --quiet', 'no progress bar')
    .addHelpText(
      'after',
      '\nExit codes: 0 intact (a torn tail is not damage), 1 damaged, 2 usage, 3 no WAL / not a WAL / unknown version / I/O.',
    )
    .action(async (dir: string, opts: { json?: boolean; quiet?: boolean }) => {
      const bar = progress('verify', walBytes(dir), { quiet: opts.quiet })
      let report: VerifyReport
      try {
        report = await verifyLog(dir, { onSegment: (_s, bytes) => bar.add(bytes) })
      } finally {
        bar.stop()
      }
      if (opts.json) console.log(JSON.stringify(report, null, 2))
      else printVerify(report)
      process.exitCode = report.ok ? EXIT.OK : EXIT.INTEGRITY
    })
}
