/** `mtlog-audit recover <dir> --output <dir2> [--mirror <dir>]`: salvage or repair into a new WAL. */

import type { Command } from 'commander'
import { type RecoverReport, recoverLog } from '../../repair/index.js'
import { EXIT, lostLine, progress, run, walBytes } from '../common.js'

function printRecover(r: RecoverReport): void {
  const head = r.ok
    ? r.mode === 'repair'
      ? `REPAIRED  every record recovered (${r.repairs.length} damaged range(s) taken from the other copy)`
      : 'RECOVERED  every record copied'
    : `RECOVERED WITH LOSSES  ${r.records.lost} seq(s) lost`
  const lines = [head, `  input     ${r.input} (${r.segments.input} segments)`]
  if (r.mirror !== undefined) lines.push(`  mirror    ${r.mirror} (${r.segments.mirror} segments)`)
  lines.push(
    `  output    ${r.output}: ${r.segments.output} segments, seq 1..${r.lastSeq}, verified ${r.verify.ok ? 'OK' : 'NOT OK'} (${r.segments.copiedExactly} copied byte for byte, ${r.segments.resealed} re-sealed)`,
    `  records   ${r.records.intact} intact${r.mirror !== undefined ? ` (${r.records.fromMirror} from the mirror)` : ''}, ${r.records.lost} seq(s) lost${r.records.lost > 0 ? ` (covered by ${r.records.gaps} gap record${r.records.gaps === 1 ? '' : 's'}, one per range)` : ''}${r.addedSealSeq !== undefined ? `, sealed at seq ${r.addedSealSeq}` : ''}`,
    `  hashes    original through seq ${r.originalHashesThroughSeq}${r.originalHashesThroughSeq < r.lastSeq ? ', new chain after it' : ''}`,
  )
  for (const l of r.lost) lines.push(`  ${lostLine(l)}`)
  for (const rp of r.repairs) {
    const seqs =
      rp.fromSeq === undefined
        ? 'header'
        : rp.fromSeq === rp.toSeq
          ? `seq ${rp.fromSeq}`
          : `seqs ${rp.fromSeq}..${rp.toSeq}`
    lines.push(
      `  REPAIRED ${rp.segment} offset ${rp.offset} (${rp.bytes} bytes, ${seqs}): ${rp.problem} in ${rp.damagedIn}, taken from ${rp.takenFrom}`,
    )
  }
  for (const s of r.skipped)
    lines.push(`  SKIPPED seq ${s.seq} in ${s.copy} ${s.segment} at offset ${s.offset}: ${s.reason} (${s.message})`)
  for (const h of r.badHeaders)
    if (!h.repaired) lines.push(`  BAD HEADER ${h.segment} (${h.copy}): ${h.problem}${h.repaired ? ', repaired' : ''}`)
  for (const t of r.tails)
    lines.push(
      `  ${t.lastSegment ? 'TAIL' : 'GARBAGE'} ${t.bytes} bytes after offset ${t.offset} of ${t.segment}: ${t.problem} (no known seq; ${t.lastSegment ? 'a torn write, or records whose number cannot be known' : 'damage in a sealed segment'})`,
    )
  if (r.uncommitted !== undefined)
    lines.push(
      `  uncommitted seqs ${r.uncommitted.fromSeq}..${r.uncommitted.toSeq}: intact but after the last COMMIT (a torn last batch, never acknowledged); copied`,
    )
  if (r.unverifiedLinks.length > 0)
    lines.push(
      `  hash link not checkable (record before it lost) at seq ${r.unverifiedLinks.slice(0, 20).join(', ')}${r.unverifiedLinks.length > 20 ? ', ...' : ''}`,
    )
  if (r.sideFiles.length > 0) lines.push(`  not copied: side files of earlier cuts: ${r.sideFiles.join(', ')}`)
  if (r.records.lost > 0) lines.push(`  seqs      ${r.seqPolicy}`)
  lines.push(`  report    ${r.reportFile}`)
  console.log(lines.join('\n'))
}

export function register(program: Command): void {
  program
    .command('recover')
    .description(
      'copy every intact record into a NEW valid WAL (the input is never modified); with --mirror, repair from the mirror copy',
    )
    .argument('<dir>', 'the damaged WAL directory')
    .requiredOption('-o, --output <dir>', 'the new WAL directory (must not exist, or be empty)')
    .option(
      '--mirror <dir>',
      'the mirror copy of the same log: take every damaged range from the copy that checks out there',
    )
    .option('--json', 'print the report as JSON (it is also written to <output>/recovery-report.json)')
    .option('-q, --quiet', 'no progress bar')
    .addHelpText(
      'after',
      `
Seqs: the output keeps every original seq. Each lost seq range is covered by ONE gap record
whose range is exactly the lost seqs (its JSON names the reason, segment and offset), so the
output is a valid WAL and the gap is visible in it (verify lists it). The output ends
with a seal record. Clean, sealed segments before the first damage are
copied byte for byte (their hashes stay the original ones).

Exit codes: 0 every record is in the output, 1 output written but seqs were lost (see the report),
2 usage or the output is not an empty directory, 3 no WAL / not a WAL / output not writable.`,
    )
    .action((dir: string, opts: { output: string; mirror?: string; json?: boolean; quiet?: boolean }) =>
      run(async () => {
        const bar = progress('recover', walBytes(dir, opts.mirror), { quiet: opts.quiet })
        let report: RecoverReport
        try {
          report = await recoverLog(dir, { output: opts.output, mirror: opts.mirror, onBytes: (b) => bar.add(b) })
        } finally {
          bar.stop()
        }
        if (opts.json) console.log(JSON.stringify(report, null, 2))
        else printRecover(report)
        return report.ok ? EXIT.OK : EXIT.INTEGRITY
      }),
    )
}
