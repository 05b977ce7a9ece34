/** `mtlog-audit export <dir> --format jsonl|clef|csv|parquet --output FILE`: filtered events into one file, atomically. */

import { type Command, Option } from 'commander'
import { EXPORT_FORMATS, type ExportFormat, exportLog } from '../../read/index.js'
import {
  EXIT,
  FILTER_HELP,
  KEYRING_HELP,
  type FilterFlags,
  filtersOf,
  lostLine,
  progress,
  run,
  walBytes,
  withFilters,
} from '../common.js'

export function register(program: Command): void {
  const cmd = program
    .command('export')
    .description('write the events (filtered) to a JSON lines, CLEF, CSV or Parquet file')
    .argument('<dir>', 'the WAL directory')
    .addOption(new Option('--format <format>', 'file format').choices([...EXPORT_FORMATS]).makeOptionMandatory())
    .requiredOption('-o, --output <file>', 'the file to write (written to a temp file, then renamed)')
    .option('--force', 'replace the output file if it exists')
    .option(
      '--salvage',
      'export every intact record of a damaged log instead of refusing; lost seq ranges go to stderr',
    )
    .option('--json', 'print the export report as JSON')
    .option('-q, --quiet', 'no progress bar')
    .option('--keyring <file>', KEYRING_HELP)
  withFilters(cmd)
    .addHelpText(
      'after',
      `${FILTER_HELP}

Formats (docs/cli.md):
  jsonl    {"seq","timestamp","level","messageTemplate","message","properties","exception"?} per line
  clef     CLEF for Seq / Serilog: @t @mt @l @x, properties at the top level, AuditSeq = the record's seq
  csv      RFC 4180, CRLF, header: seq,timestamp,level,messageTemplate,message,exception,properties (JSON)
  parquet  the same columns; seq INT64, timestamp TIMESTAMP_MILLIS, properties JSON

Exit codes: 0 written; 1 the log is damaged (nothing written) or, with --salvage, written but seqs were lost;
2 usage, or the output exists without --force (ERR_AUDIT_OUTPUT_EXISTS); 3 no WAL / not a WAL / output not writable.`,
    )
    .action(
      (
        dir: string,
        opts: FilterFlags & {
          format: ExportFormat
          output: string
          force?: boolean
          salvage?: boolean
          json?: boolean
          quiet?: boolean
          keyring?: string
        },
      ) =>
        run(
          async () => {
            const bar = progress('export', walBytes(dir), { quiet: opts.quiet })
            let report
            try {
              report = await exportLog(dir, {
                format: opts.format,
                output: opts.output,
                force: opts.force,
                salvage: opts.salvage,
                keyring: opts.keyring,
                filters: filtersOf(opts),
                onBytes: (b) => bar.add(b),
              })
            } finally {
              bar.stop()
            }
            for (const r of report.lost) console.error(`mtlog-audit: ${lostLine(r)}`)
            if (opts.json) console.log(JSON.stringify(report, null, 2))
            else
              console.log(
                `exported ${report.records} events to ${report.output} (${report.format}, ${report.bytes} bytes)${report.lost.length > 0 ? `; ${report.lost.length} lost seq range(s), see above` : ''}`,
              )
            return report.lost.length > 0 ? EXIT.INTEGRITY : EXIT.OK
          },
          (err) =>
            err.code === 'ERR_AUDIT_CORRUPT'
              ? 'mtlog-audit: nothing was written; `--salvage` exports every intact record, `mtlog-audit recover` copies them into a new WAL'
              : undefined,
        ),
    )
}
