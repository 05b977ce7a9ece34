/** `mtlog-audit replay <dir>`: the events in seq order, filtered, as text, JSON or CLEF lines. */

import { type Command, Option } from 'commander'
import { toClef, toJsonRecord, toText } from '../../read/index.js'
import type { LogRecord } from '../../read/index.js'
import { replay } from '../../read/index.js'
import type { LostRange } from '../../read/index.js'
import {
  EXIT,
  FILTER_HELP,
  type FilterFlags,
  KEYRING_HELP,
  filtersOf,
  lostLine,
  Out,
  progress,
  run,
  walBytes,
  withFilters,
} from '../common.js'

const FORMATS: Record<string, (r: LogRecord) => string> = {
  text: toText,
  json: (r) => JSON.stringify(toJsonRecord(r)),
  clef: (r) => JSON.stringify(toClef(r)),
}

export function register(program: Command): void {
  const cmd = program
    .command('replay')
    .description('print the events in seq order: message templates rendered with their properties')
    .argument('<dir>', 'the WAL directory')
    .addOption(
      new Option('--format <format>', 'output: rendered text, JSON lines or CLEF lines')
        .choices(['text', 'json', 'clef'])
        .default('text'),
    )
    // --json is what every report-printing command takes; here it is the JSON lines format. Given
    // together with --format it is refused (even --format json): one flag chooses the output.
    .addOption(new Option('--json', 'the same as --format json').conflicts('format'))
    .option('--salvage', 'read past damage: every intact record; lost seq ranges go to stderr')
    .option('-q, --quiet', 'no progress bar')
    .option('--keyring <file>', KEYRING_HELP)
  withFilters(cmd)
    .addHelpText(
      'after',
      `${FILTER_HELP}

Text lines are "<seq> <timestamp> [<LVL>] <message>", the exception indented below.
Exit codes: 0 printed, 1 damage met (events before it were printed; with --salvage: seqs were lost), 2 usage, 3 no WAL / not a WAL / I/O.`,
    )
    .action(
      (
        dir: string,
        opts: FilterFlags & { format: string; json?: boolean; salvage?: boolean; quiet?: boolean; keyring?: string },
      ) =>
      run(
        async () => {
          const out = new Out()
          const format = FORMATS[opts.json === true ? 'json' : opts.format]!
          const lost: LostRange[] = []
          const bar = progress('replay', walBytes(dir), { quiet: opts.quiet, stdoutBusy: true })
          try {
            const records = replay(dir, filtersOf(opts), {
              salvage: opts.salvage,
              keyring: opts.keyring,
              onBytes: (b) => bar.add(b),
              onLost: (r) => lost.push(r),
            })
            for await (const rec of records) {
              await out.write(format(rec) + '\n')
              if (out.isClosed) break
            }
          } finally {
            bar.stop()
          }
          for (const r of lost) console.error(`mtlog-audit: ${lostLine(r)}`)
          return lost.length > 0 ? EXIT.INTEGRITY : EXIT.OK
        },
        (err) =>
          err.code === 'ERR_AUDIT_CORRUPT'
            ? 'mtlog-audit: the log is damaged there; `mtlog-audit replay --salvage` prints every intact record, `mtlog-audit recover` copies them into a new WAL'
            : undefined,
      ),
    )
}
