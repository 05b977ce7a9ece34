/**
 * `mtlog-audit verify <dir> [--public-key FILE [--checkpoint FILE] [--witness-key FILE]]`:
 * the integrity report, read-only. With --public-key it also checks the log
 * against its signed history (lib/read/signed.ts): every checkpoint in the log,
 * and the one kept elsewhere (--checkpoint) that the log must contain.
 */

import type { Command } from 'commander'
import { AuditError } from '../../../shared/errors.js'
import { loadVerifiers } from '../../integrity/index.js'
import { verifyLog, verifySigned, type SignedReport, type VerifyReport } from '../../read/index.js'
import { collect, EXIT, exitCodeOf, mb, progress, readNoteFile, walBytes } from '../common.js'

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
  if (r.gaps.length > GAP_LINES_MAX)
    lines.push(`  gap       ... ${r.gaps.length - GAP_LINES_MAX} more (--json lists all)`)
  lines.push(`  sealed    ${r.sealed ? 'yes (closed with close())' : 'no (open, or stopped without close())'}`)
  console.log(lines.join('\n'))
}

function printSigned(r: SignedReport): void {
  const lines = [`  signed    ${r.ok ? 'OK' : 'FAILED'}: tree size ${r.treeSize}, root ${r.root}`]
  lines.push(
    `  in log    ${r.inLog.count} checkpoint records, ${r.inLog.good} hold` +
      (r.signedThroughSeq !== undefined ? `; signed history reaches seq ${r.signedThroughSeq}` : '; no signed history'),
  )
  const bad = r.inLog.firstBad
  if (bad !== undefined)
    lines.push(`  FIRST BAD checkpoint record seq ${bad.seq} (tree size ${bad.size}): ${bad.problem}`)
  const c = r.checkpoint
  if (c !== undefined)
    lines.push(
      `  checkpoint ${c.origin} size ${c.size}: ${c.problem === undefined ? 'signed, and the log contains it' : c.problem}` +
        (c.cosignedBy.length > 0 ? `; cosigned by ${c.cosignedBy.join(', ')}` : ''),
    )
  if (r.parted !== undefined) {
    const { fromSeq, toSeq } = r.parted
    const where = Number.isNaN(toSeq)
      ? `from seq ${fromSeq} on (the log ends before the signed tree does)`
      : fromSeq === toSeq
        ? `at seq ${fromSeq}`
        : `at a seq in ${fromSeq}..${toSeq}`
    lines.push(`  PARTED    the log and the signed history part ${where}`)
  }
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
    .option(
      '--public-key <file>',
      "check the log's signed checkpoints with this verifier key (FILE.pub; repeatable)",
      collect,
    )
    .option(
      '--checkpoint <file>',
      'a signed checkpoint kept elsewhere: the log must contain its tree (needs --public-key)',
    )
    .option('--witness-key <file>', 'require a valid cosignature of this witness on --checkpoint (repeatable)', collect)
    .addHelpText(
      'after',
      '\nExit codes: 0 intact (a torn tail is not damage) and, with --public-key, the signed history holds; 1 damaged, or the log does not contain a signed tree; 2 usage; 3 no WAL / not a WAL / unknown version / I/O.',
    )
    .action(
      async (
        dir: string,
        opts: { json?: boolean; quiet?: boolean; publicKey?: string[]; checkpoint?: string; witnessKey?: string[] },
      ) => {
        if ((opts.checkpoint !== undefined || opts.witnessKey !== undefined) && opts.publicKey === undefined) {
          console.error('mtlog-audit verify: --checkpoint and --witness-key need --public-key')
          process.exitCode = EXIT.USAGE
          return
        }
        const bar = progress('verify', walBytes(dir), { quiet: opts.quiet })
        let report: VerifyReport
        try {
          report = await verifyLog(dir, { onSegment: (_s, bytes) => bar.add(bytes) })
        } finally {
          bar.stop()
        }
        let signed: SignedReport | undefined
        if (opts.publicKey !== undefined && report.ok) {
          try {
            signed = await verifySigned(dir, {
              keys: opts.publicKey.flatMap(loadVerifiers),
              witnesses: (opts.witnessKey ?? []).flatMap(loadVerifiers),
              checkpoint: opts.checkpoint === undefined ? undefined : readNoteFile(opts.checkpoint, '--checkpoint'),
            })
          } catch (err) {
            if (!(err instanceof AuditError)) throw err
            console.error(`mtlog-audit verify: ${err.code}: ${err.message}`)
            process.exitCode = exitCodeOf(err)
            return
          }
        }
        if (opts.json) console.log(JSON.stringify(signed === undefined ? report : { ...report, signed }, null, 2))
        else {
          printVerify(report)
          if (signed !== undefined) printSigned(signed)
          else if (opts.publicKey !== undefined) console.log('  signed    not checked: the log is damaged')
        }
        const ok = report.ok && (opts.publicKey === undefined || signed?.ok === true)
        process.exitCode = ok ? EXIT.OK : EXIT.INTEGRITY
      },
    )
}
