/** `mtlog-audit stats <dir>`: segments, records, bytes, events by level and by hour, write rate. */

import type { Command } from 'commander'
import { type LogStats, logStats } from '../../read/index.js'
import { EXIT, KEYRING_HELP, mb, progress, run, walBytes } from '../common.js'

const BAR_WIDTH = 40

function printStats(s: LogStats): void {
  const lines = [
    `${s.ok ? 'OK' : 'DAMAGED'}  ${s.dir}`,
    `  segments   ${s.segments} (${mb(s.bytes)} MB)`,
    `  records    ${s.records}${s.firstSeq !== undefined ? ` (seq ${s.firstSeq}..${s.lastSeq})` : ''}${s.records > 0 ? `, ${Math.round(s.bytes / s.records)} bytes per record on disk` : ''}`,
  ]
  if (s.firstTime !== undefined)
    lines.push(
      `  time       ${s.firstTime} .. ${s.lastTime}${s.eventsPerSecond !== undefined ? ` (${s.eventsPerSecond} events/s on average)` : ''}`,
    )
  lines.push(
    `  by level   ${Object.entries(s.byLevel)
      .map(([l, n]) => `${l} ${n}`)
      .join('  ')}`,
  )
  if (s.byHour.length > 0) {
    const max = Math.max(...s.byHour.map((h) => h.events))
    lines.push('  by hour (UTC, event timestamps)')
    for (const h of s.byHour)
      lines.push(
        `    ${h.hour}  ${'#'.repeat(Math.max(1, Math.round((h.events / max) * BAR_WIDTH))).padEnd(BAR_WIDTH)} ${h.events}`,
      )
  }
  lines.push('  write rate (segment created .. last modified)')
  for (const w of s.writeRate) {
    const rate =
      w.recordsPerSecond === undefined ? '' : `  ${w.recordsPerSecond} records/s, ${mb(w.bytesPerSecond ?? 0)} MB/s`
    lines.push(
      `    ${w.name}  ${String(w.records).padStart(8)} records  ${mb(w.bytes).padStart(8)} MB  ${w.createdAt ?? '(bad header)'} .. ${w.modifiedAt}${rate}`,
    )
  }
  if (s.sideFiles.length > 0) lines.push(`  cut tails kept: ${s.sideFiles.join(', ')}`)
  if (s.firstBad !== undefined)
    lines.push(
      `  FIRST BAD seq ${s.firstBad.seq} in ${s.firstBad.segment} at offset ${s.firstBad.offset}: ${s.firstBad.problem} (counts stop there)`,
    )
  console.log(lines.join('\n'))
}

export function register(program: Command): void {
  program
    .command('stats')
    .description('segments, records, bytes, events by level and by hour, write rate per segment')
    .argument('<dir>', 'the WAL directory')
    .option('--json', 'print the statistics as JSON')
    .option('-q, --quiet', 'no progress bar')
    .option('--keyring <file>', `${KEYRING_HELP} (levels and hours are counted without it; with it every frame is opened too)`)
    .addHelpText(
      'after',
      '\nExit codes: 0 counted, 1 damage met (counts cover the records before it), 2 usage, 3 no WAL / not a WAL / I/O.',
    )
    .action((dir: string, opts: { json?: boolean; quiet?: boolean; keyring?: string }) =>
      run(async () => {
        const bar = progress('stats', walBytes(dir), { quiet: opts.quiet })
        let s: LogStats
        try {
          s = await logStats(dir, { keyring: opts.keyring, onBytes: (b) => bar.add(b) })
        } finally {
          bar.stop()
        }
        if (opts.json) console.log(JSON.stringify(s, null, 2))
        else printStats(s)
        return s.ok ? EXIT.OK : EXIT.INTEGRITY
      }),
    )
}
