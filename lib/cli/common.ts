/**
 * What every CLI command shares: exit codes (docs/errors.md), running a
 * command body (a thrown error becomes its message on stderr and its exit
 * code), a progress bar on stderr, option parsers, the filter flags, and
 * stdout with backpressure. Human output goes to stdout, diagnostics and
 * progress to stderr.
 *
 * Exit codes: ERR_AUDIT_CORRUPT → 1; a bad filter or option
 * (ERR_AUDIT_OPTION_INVALID) or an output that exists (ERR_AUDIT_OUTPUT_EXISTS)
 * → 2; anything else (no WAL, not a WAL, unknown version, I/O) → 3.
 */

import { readdirSync, statSync } from 'node:fs'
import path from 'node:path'
import cliProgress from 'cli-progress'
import { type Command, InvalidArgumentError } from 'commander'
import { AuditError, ERROR_CODES } from '../../shared/errors.js'
import { parseSegmentFileName } from '../../shared/format.js'
import { readRegularSync } from '../../shared/files.js'
import { FIXED } from '../../shared/limits.js'
import type { EventFilters, LostRange } from '../read/index.js'

export const EXIT = { OK: 0, INTEGRITY: 1, USAGE: 2, ENVIRONMENT: 3 } as const

/** A command module: adds itself to the program. */
export type Register = (program: Command) => void

export function mb(bytes: number): string {
  return (bytes / 1e6).toFixed(1)
}

export function exitCodeOf(err: unknown): number {
  if (!(err instanceof AuditError)) return EXIT.ENVIRONMENT
  // Evidence that does not hold (damage, a ciphertext that does not authenticate, a proof or
  // signature that fails) is an integrity failure.
  if (
    err.code === ERROR_CODES.CORRUPT ||
    err.code === ERROR_CODES.DECRYPT_FAILED ||
    err.code === ERROR_CODES.PROOF_INVALID ||
    err.code === ERROR_CODES.SIGNATURE_INVALID
  )
    return EXIT.INTEGRITY
  if (err.code === ERROR_CODES.OPTION_INVALID || err.code === ERROR_CODES.OUTPUT_EXISTS) return EXIT.USAGE
  return EXIT.ENVIRONMENT
}

/** Run a command body; a thrown error becomes its message on stderr and the documented exit code. */
export async function run(
  body: () => Promise<number | void>,
  hint?: (err: AuditError) => string | undefined,
): Promise<void> {
  try {
    const code = await body()
    process.exitCode = code ?? EXIT.OK
  } catch (err) {
    if (err instanceof AuditError) {
      console.error(`mtlog-audit: ${err.code}: ${err.message}`)
      const h = hint?.(err)
      if (h !== undefined) console.error(h)
    } else {
      console.error(`mtlog-audit: ${(err as Error).stack ?? String(err)}`)
    }
    process.exitCode = exitCodeOf(err)
  }
}

/** Bytes of the segment files of dir (0 when it cannot be listed: the command reports that itself). */
export function walBytes(...dirs: (string | undefined)[]): number {
  let total = 0
  for (const dir of dirs) {
    if (dir === undefined) continue
    try {
      for (const n of readdirSync(dir))
        if (parseSegmentFileName(n) !== undefined) total += statSync(path.join(dir, n)).size
    } catch {
      // reported by the command
    }
  }
  return total
}

export interface Progress {
  add(bytes: number): void
  stop(): void
}

/**
 * A progress bar on stderr, in bytes read. Off with --quiet, when stderr is not
 * a terminal, or (for commands that print to stdout) when stdout is one.
 */
export function progress(label: string, totalBytes: number, opts: { quiet?: boolean; stdoutBusy?: boolean }): Progress {
  if (opts.quiet || !process.stderr.isTTY || (opts.stdoutBusy && process.stdout.isTTY)) return { add() {}, stop() {} }
  const bar = new cliProgress.SingleBar(
    {
      stream: process.stderr,
      hideCursor: true,
      clearOnComplete: false,
      fps: 10,
      format: `${label} [{bar}] {percentage}% | {done}/{size} MB | {eta_formatted}`,
    },
    cliProgress.Presets.shades_classic,
  )
  let done = 0
  const total = Math.max(totalBytes, 1)
  bar.start(total, 0, { done: mb(0), size: mb(totalBytes) })
  return {
    add(bytes) {
      done += bytes
      bar.update(Math.min(done, total), { done: mb(done), size: mb(totalBytes) })
    },
    stop() {
      bar.update(total, { done: mb(done), size: mb(Math.max(done, totalBytes)) })
      bar.stop()
    },
  }
}

// Option parsers: a bad value is a usage error (exit 2) before anything is read.
export function seqArg(v: string): number {
  if (!/^\d+$/.test(v) || !Number.isSafeInteger(Number(v)) || Number(v) < 1)
    throw new InvalidArgumentError('must be an integer ≥ 1')
  return Number(v)
}
export function collect(v: string, prev: string[] = []): string[] {
  return [...prev, v]
}

export interface FilterFlags {
  from?: string
  to?: string
  fromSeq?: number
  toSeq?: number
  level?: string
  where?: string[]
}

export const FILTER_HELP = `
Filters (all AND together):
  --from / --to      ISO 8601 time, from ≤ t < to; UTC unless an offset is given (2024-01-31, 2024-01-31T13:45:00+01:00)
  --from-seq/--to-seq  seq range, inclusive
  --level            '>=Warning', '<=Debug', '>Information', 'Error' (names or VRB DBG INF WRN ERR FTL)
  --where Prop=value property equals value (as text; repeatable; Prop!=value negates; Outer.Inner for nested)`

/** Add the filter flags to a command. */
export function withFilters(cmd: Command): Command {
  return cmd
    .option('--from <time>', 'events at or after this time (ISO 8601)')
    .option('--to <time>', 'events before this time (ISO 8601)')
    .option('--from-seq <seq>', 'first seq (inclusive)', seqArg)
    .option('--to-seq <seq>', 'last seq (inclusive)', seqArg)
    .option('--level <spec>', "level filter: '>=Warning', 'Warning', '<=Debug'")
    .option('--where <Prop=value>', 'property filter (repeatable, AND)', collect)
}

/** --keyring: read an encrypted log's content (without it: [encrypted]). */
export const KEYRING_HELP = 'the keyring of an encrypted log: without it, encrypted properties show as [encrypted]'

export function filtersOf(f: FilterFlags): EventFilters {
  return { from: f.from, to: f.to, fromSeq: f.fromSeq, toSeq: f.toSeq, level: f.level, where: f.where }
}

/** stdout with backpressure; a closed pipe (| head) ends the output quietly. */
export class Out {
  private closed = false
  constructor() {
    process.stdout.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EPIPE') this.closed = true
    })
  }
  get isClosed(): boolean {
    return this.closed
  }
  async write(s: string): Promise<void> {
    if (this.closed) return
    if (!process.stdout.write(s)) {
      await new Promise<void>((resolve) => {
        const done = (): void => {
          process.stdout.off('drain', done)
          process.stdout.off('error', done)
          resolve()
        }
        process.stdout.once('drain', done)
        process.stdout.once('error', done)
      })
    }
  }
}

/** One line of a lost seq range, as replay, export and recover print it on stderr. */
export function lostLine(r: LostRange): string {
  const seqs = r.fromSeq === r.toSeq ? `seq ${r.fromSeq}` : `seqs ${r.fromSeq}..${r.toSeq}`
  return `LOST ${seqs} in ${r.segment} at offset ${r.offset} (${r.bytes} bytes): ${r.reason}`
}

/**
 * A signed note (a checkpoint, a consistency proof) named on the command line:
 * a regular file (a FIFO or device is ERR_AUDIT_NOT_A_FILE, never a hang) of
 * at most noteBytesMax bytes, checked before it is read; larger is
 * ERR_AUDIT_NOTE_MALFORMED (problem size), unreadable ERR_AUDIT_IO.
 */
export function readNoteFile(file: string, what: string): string {
  try {
    return readRegularSync(file, FIXED.noteBytesMax).toString('utf8')
  } catch (err) {
    // readRegularSync says NOT_A_WAL only for a file above its bound.
    if (err instanceof AuditError && err.code === ERROR_CODES.NOT_A_WAL)
      throw new AuditError(ERROR_CODES.NOTE_MALFORMED, `${what} ${file} is larger than noteBytesMax`, {
        details: { problem: 'size', path: file },
      })
    if (err instanceof AuditError) throw err
    throw new AuditError(ERROR_CODES.IO, `cannot read ${what} ${file}: ${(err as Error).message}`, {
      cause: err,
      details: { path: file },
    })
  }
}
