/**
 * recoverLog: copy every intact record of a damaged WAL into a NEW valid
 * (format v2) WAL, and say exactly which seqs were lost, where and why. With a
 * mirror, repair: each record damaged in one copy is taken from the other.
 *
 *   input (+ mirror) ──► salvageSegments (lib/read/salvage.ts) ──► per segment:
 *        clean, nothing before it re-sealed, and (v2) sealed or (v1) before any v2
 *                     ──► copied byte for byte (same salt, same hashes)
 *        otherwise    ──► re-sealed (lib/repair/rewrite.ts): each record keeps its
 *                         type (event, gap, seal) and seq range; ONE gap record per
 *                         lost seq range
 *   ──► a seal record at the end (unless the log ends with one) ──► verifyLog
 *   ──► recovery-report.json ──► <output>.recover-<pid>-<rand>/ renamed to <output>
 *
 * Seq policy (SEQ_POLICY, docs/cli.md "recover"): the output keeps every
 * ORIGINAL seq. A valid log has no holes, so each lost seq range is covered by
 * one gap record (type 5) whose range is exactly the lost seqs; its JSON names
 * the reason, segment and offset, and the report lists the same ranges. The
 * output is bounded by what the input holds: a range of any length costs one
 * record. Seqs, receipts and references to them stay valid. Segments copied byte
 * for byte keep their hashes; from the first re-sealed segment on the chain is
 * new (the report names the last seq whose hash is the original one). The log
 * ends with a seal (finish()), so every byte of the output is closed data.
 *
 * The input is only read. The output directory must not exist or be empty; it
 * appears whole (rename) or not at all.
 */

import fs from 'node:fs/promises'
import path from 'node:path'
import { AuditError, ERROR_CODES, invariant } from '../../shared/errors.js'
import { checkRecoverArgs, verifyLog } from '../read/index.js'
import { WalRewriter } from './rewrite.js'
import { checkOutputDir, makeTempDir, publish } from './output.js'
import { checkFileMode, type FileMode } from '../../shared/files.js'
import { copyable, copyRaw, inputLogId } from './raw-copy.js'
import {
  type Chosen,
  type LostRange,
  listWal,
  payloadView,
  type RepairRange,
  salvageSegments,
  type SegmentResult,
  type SkippedRecord,
} from '../read/index.js'

export interface RecoverOptions {
  /** The new WAL directory: must not exist, or be empty. */
  output: string
  /** The mirror copy (AuditSink.open({ mirror })): repair from it. */
  mirror?: string
  /** Called with the bytes of each segment read (progress). */
  onBytes?: (bytes: number) => void
  /** Largest output segment (default 64 MiB). */
  segmentBytesMax?: number
  /** Mode of the output's files, whatever the umask: 0o600 (default) or 0o640; its directory gets 0o700 or 0o750. */
  fileMode?: FileMode
}

export interface RecoverReport {
  /** Every record of the input is in the output (nothing lost, nothing skipped, no bad header left). */
  ok: boolean
  mode: 'salvage' | 'repair'
  input: string
  mirror: string | undefined
  output: string
  reportFile: string
  seqPolicy: string
  records: {
    /** Intact records copied. */
    intact: number
    /** Seqs lost (each lost range is covered by one gap record in the output). */
    lost: number
    /** Gap records written for the lost ranges (one per range in `lost`). */
    gaps: number
    /** Records in the output: intact ones, the gap records, and the seal when recover added one. */
    output: number
    /** Intact records taken from the mirror because the primary copy's were damaged or missing. */
    fromMirror: number
  }
  lastSeq: number
  /** The seal record recover ended the output with, when the input did not end with one (its seq). */
  addedSealSeq: number | undefined
  /** The output's log id (hex): the input's when it has one, else a new one. */
  logId: string
  segments: { input: number; mirror: number | undefined; output: number; copiedExactly: number; resealed: number }
  /** Output hashes equal the input's up to this seq (segments copied byte for byte); 0 when none. */
  originalHashesThroughSeq: number
  /** Records whose hash link could not be checked because the record before them is lost. */
  unverifiedLinks: number[]
  /** The lost seq ranges, in order: each is exactly the range of one gap record in the output. */
  lost: LostRange[]
  skipped: SkippedRecord[]
  /** Bytes after the last intact record that hold no known seq. */
  tails: { segment: string; offset: number; bytes: number; problem: string; lastSegment: boolean }[]
  badHeaders: { segment: string; copy: string; problem: string; repaired: boolean }[]
  /** Intact records after the last COMMIT (a torn last batch): copied, and named here. */
  uncommitted: { fromSeq: number; toSeq: number } | undefined
  /** Mirror repair: damaged ranges of one copy and the copy they were taken from. */
  repairs: RepairRange[]
  /** Side files of earlier torn-tail cuts: not part of the log, not copied. */
  sideFiles: string[]
  verify: { ok: boolean; segments: number; records: number; lastSeq: number | undefined }
  startedAt: string
  finishedAt: string
}

export const RECOVERY_REPORT_FILE = 'recovery-report.json'
/**
 * A log stops taking seqs 2^32 below 2^53 (docs/wal-format.md section 0), so
 * every seq stays an exact JavaScript number: a segment named past it is not
 * one a writer made.
 */
const SEQ_SPACE_END = 2 ** 53 - 2 ** 32

export const SEQ_POLICY =
  'original seqs are kept; each lost seq range is covered by one gap record (type 5) whose range is exactly the lost seqs and whose JSON names the reason, segment and offset (readLog(dir, { records: true }) and verify show it); the output ends with a seal record'

/** The JSON of the gap record for one lost range: why, and where the seqs were. */
function gapWhy(r: LostRange): Record<string, unknown> {
  return { reason: `recover: ${r.reason}`, segment: r.segment, offset: r.offset, bytes: r.bytes }
}

/** What the steps of recoverLog share: the output being written and the report being filled. */
interface RecoverRun {
  writer: WalRewriter
  report: RecoverReport
  /** Time of the last intact record written: the time of a gap record after it. */
  lastTimeMs: number | undefined
}

/** The arguments after checkRecoverArgs, with output and segmentBytesMax checked. */
function checkOptions(dir: string, options: RecoverOptions): RecoverOptions {
  options = checkRecoverArgs(dir, options)
  if (typeof options?.output !== 'string' || options.output === '') {
    throw new AuditError(ERROR_CODES.OPTION_INVALID, 'output: a directory for the recovered WAL is required', {
      details: { option: 'output' },
    })
  }
  if (
    options.segmentBytesMax !== undefined &&
    (!Number.isSafeInteger(options.segmentBytesMax) || options.segmentBytesMax < 4096)
  ) {
    throw new AuditError(ERROR_CODES.OPTION_INVALID, 'segmentBytesMax: must be an integer ≥ 4096', {
      details: { option: 'segmentBytesMax' },
    })
  }
  return options
}

/** An empty report: nothing recovered yet, not verified. */
function newReport(
  input: string,
  mirror: string | undefined,
  output: string,
  lists: Awaited<ReturnType<typeof listWal>>[],
): RecoverReport {
  return {
    ok: true,
    mode: mirror === undefined ? 'salvage' : 'repair',
    input,
    mirror,
    output,
    reportFile: path.join(output, RECOVERY_REPORT_FILE),
    seqPolicy: SEQ_POLICY,
    records: { intact: 0, lost: 0, gaps: 0, output: 0, fromMirror: 0 },
    lastSeq: 0,
    addedSealSeq: undefined,
    logId: '',
    segments: {
      input: lists[0]!.segments.length,
      mirror: lists[1]?.segments.length,
      output: 0,
      copiedExactly: 0,
      resealed: 0,
    },
    originalHashesThroughSeq: 0,
    unverifiedLinks: [],
    lost: [],
    skipped: [],
    tails: [],
    badHeaders: [],
    uncommitted: undefined,
    repairs: [],
    sideFiles: lists[0]!.sideFiles,
    verify: { ok: false, segments: 0, records: 0, lastSeq: undefined },
    startedAt: new Date().toISOString(),
    finishedAt: '',
  }
}

/**
 * One salvaged segment into the output. A clean segment is copied as it is;
 * only the seqs no file holds (a missing next segment) may follow it, as a gap
 * record in a segment of its own. Any other segment is re-sealed record by record.
 * The report counts its records and lost seqs as they go by (items are read, not held).
 */
async function writeSegment(run: RecoverRun, seg: SegmentResult): Promise<void> {
  const { writer, report } = run
  // A gap takes the time of the intact record before it, else of the one after it in
  // this segment (the loss happened between them): with none before, it waits for that one.
  let waiting: LostRange[] = []
  const lost = async (r: LostRange): Promise<void> => {
    report.lost.push(r)
    report.records.lost += r.toSeq - r.fromSeq + 1
    if (run.lastTimeMs === undefined) waiting.push(r)
    else await writeGap(run, r, undefined)
  }
  const intact = (rec: Chosen): void => {
    report.records.intact++
    if (rec.copy === 1) report.records.fromMirror++
    if (!rec.linkVerified && rec.seq > 1) report.unverifiedLinks.push(rec.seq)
  }
  if (copyable(writer, seg)) {
    // One walk of the items: each record is counted as it is copied. A clean segment
    // holds every seq of its records, so a lost range can only follow them.
    const after: LostRange[] = []
    const copied = await copyRaw(writer, seg, (it) => {
      if (it.kind === 'lost') return void after.push(it.range)
      invariant(after.length === 0, `a record after a lost range in ${seg.name}, a segment copied as it is`)
      intact(it.rec)
      run.lastTimeMs = it.rec.timeMs
    })
    report.originalHashesThroughSeq = copied ?? report.originalHashesThroughSeq
    report.segments.copiedExactly++
    for (const r of after) await lost(r)
  } else {
    report.segments.resealed++
    writer.breakSegment()
    for (const it of seg.items) {
      if (it.kind === 'lost') {
        await lost(it.range)
        continue
      }
      const rec = it.rec
      intact(rec)
      for (const r of waiting) await writeGap(run, r, rec.timeMs)
      waiting = []
      // A view into salvage's window: append copies it before the next item is read.
      const seq = await writer.append({ type: rec.type, timeMs: rec.timeMs, payload: payloadView(rec) })
      invariant(seq === rec.seq, `recovered record ${rec.seq} written as ${seq}`)
      run.lastTimeMs = rec.timeMs
    }
  }
  for (const r of waiting) await writeGap(run, r, undefined)
}

/** One gap record covering exactly the lost range r. */
async function writeGap(run: RecoverRun, r: LostRange, nextTimeMs: number | undefined): Promise<void> {
  if (r.toSeq >= SEQ_SPACE_END) {
    throw new AuditError(
      ERROR_CODES.CORRUPT,
      `seqs up to ${r.toSeq} lost (at ${r.segment}): past the seq space of a log, so the segment file names themselves are wrong`,
      { details: { segment: r.segment, offset: r.offset, seq: r.fromSeq, problem: 'file-name' } },
    )
  }
  const timeMs = run.lastTimeMs ?? nextTimeMs ?? Date.now()
  const seq = await run.writer.appendGap(r.toSeq, timeMs, gapWhy(r))
  invariant(seq === r.fromSeq && run.writer.nextSeq === r.toSeq + 1, `gap ${r.fromSeq}..${r.toSeq} written at ${seq}`)
  run.report.records.gaps++
}

/** Seal the output, verify it (it must verify, hold every gap and every record written), and decide report.ok. */
async function finishOutput(run: RecoverRun, tmp: string): Promise<void> {
  const { writer, report } = run
  await writer.finish()
  report.lastSeq = writer.nextSeq - 1
  report.addedSealSeq = writer.addedSealSeq
  report.records.output = writer.records
  report.segments.output = writer.segments.length
  const v = await verifyLog(tmp)
  report.verify = { ok: v.ok, segments: v.segments, records: v.records, lastSeq: v.lastSeq }
  const gapsOk =
    v.gaps.length >= report.lost.length &&
    report.lost.every((l) => v.gaps.some((g) => g.fromSeq === l.fromSeq && g.toSeq === l.toSeq))
  invariant(
    v.ok &&
      v.sealed &&
      gapsOk &&
      v.records === writer.records &&
      v.lastSeq === report.lastSeq &&
      v.tornTail === undefined &&
      v.zeroTail === undefined,
    `the recovered WAL does not verify: ${JSON.stringify(v.firstBad ?? v.tornTail ?? { records: v.records, expected: writer.records, lastSeq: v.lastSeq, sealed: v.sealed, gapsOk })}`,
  )
  report.ok =
    report.lost.length === 0 &&
    report.skipped.length === 0 &&
    report.badHeaders.every((h) => h.repaired) &&
    report.tails.every((t) => t.lastSegment && !t.problem.startsWith('header-'))
}

/** Salvage (or, with options.mirror, repair) dir into options.output. */
export async function recoverLog(dir: string, options: RecoverOptions): Promise<RecoverReport> {
  options = checkOptions(dir, options)
  const input = path.resolve(dir)
  const mirror = options.mirror === undefined ? undefined : path.resolve(options.mirror)
  const output = path.resolve(options.output)
  const fileMode = checkFileMode(options.fileMode)
  const inputs = mirror === undefined ? [input] : [input, mirror]
  const lists = await Promise.all(inputs.map((d) => listWal(d)))
  await checkOutputDir(output, inputs)
  const tmp = await makeTempDir(output, fileMode)
  const report = newReport(input, mirror, output, lists)
  const writer = new WalRewriter(tmp, {
    segmentBytesMax: options.segmentBytesMax,
    fileMode,
    logId: await inputLogId(inputs, lists),
  })
  report.logId = writer.logId.toString('hex')
  const run: RecoverRun = { writer, report, lastTimeMs: undefined }
  try {
    for await (const seg of salvageSegments(input, mirror)) {
      options.onBytes?.(seg.bytesRead)
      account(report, seg)
      await writeSegment(run, seg)
    }
    await finishOutput(run, tmp)
    report.finishedAt = new Date().toISOString()
    await publish(tmp, output, RECOVERY_REPORT_FILE, JSON.stringify(report, null, 2) + '\n', fileMode)
    return report
  } catch (err) {
    await writer.abort()
    await fs.rm(tmp, { recursive: true, force: true }).catch(() => {})
    throw err
  }
}

/** What a segment reports besides its items (writeSegment counts those as it writes them). */
function account(report: RecoverReport, seg: SegmentResult): void {
  report.skipped.push(...seg.skipped)
  report.repairs.push(...seg.repairs)
  if (seg.tail !== undefined) report.tails.push({ ...seg.tail, lastSegment: seg.last })
  for (const h of seg.badHeaders) {
    if (h.problem === 'missing' && h.repaired) continue // a segment missing in one copy shows as a repair
    report.badHeaders.push({ segment: seg.name, ...h })
  }
  if (seg.uncommitted !== undefined) report.uncommitted = seg.uncommitted
}
