/**
 * recoverLog: copy every intact record of a damaged WAL into a NEW valid WAL,
 * and say exactly which seqs were lost, where and why. With a mirror, repair:
 * each record damaged in one copy is taken from the other.
 *
 *   input (+ mirror) ──► salvageSegments (lib/read/salvage.ts) ──► per segment:
 *        clean and nothing before it dirty ──► copied byte for byte (same salt, same hashes)
 *        otherwise ──────────────────────────► re-sealed (lib/repair/rewrite.ts), a marker event per lost seq
 *   ──► <output>.recover-<pid>-<rand>/ ──► verifyLog ──► recovery-report.json ──► rename to <output>
 *
 * Seq policy (docs/cli.md "recover"): the output keeps every ORIGINAL seq. A
 * valid WAL has no holes, so each lost seq holds a marker event (level Error,
 * property AuditRecoveryMarker: true, AuditLostSeq, AuditLossReason,
 * AuditLossSegment, AuditLossOffset; timestamp of the intact record before it).
 * Seqs, receipts and references to them stay valid, and the gap is visible in
 * the log itself as well as in the report. Segments copied byte for byte keep
 * their hashes; from the first re-sealed segment on the chain is new (the
 * report names the last seq whose hash is the original one).
 *
 * The input is only read. The output directory must not exist or be empty; it
 * appears whole (rename) or not at all.
 */

import { randomBytes } from 'node:crypto'
import fs from 'node:fs/promises'
import path from 'node:path'
import { AuditError, ERROR_CODES, invariant, ioError } from '../../shared/errors.js'
import { verifyLog } from '../read/index.js'
import { WalRewriter } from './rewrite.js'
import {
  type LostRange,
  listWal,
  payloadOf,
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
    /** Seqs lost (each holds a marker event in the output). */
    lost: number
    /** Records in the output (intact + markers). */
    output: number
    /** Intact records taken from the mirror because the primary copy's were damaged or missing. */
    fromMirror: number
  }
  lastSeq: number
  segments: { input: number; mirror: number | undefined; output: number; copiedExactly: number; resealed: number }
  /** Output hashes equal the input's up to this seq (segments copied byte for byte); 0 when none. */
  originalHashesThroughSeq: number
  /** Records whose hash link could not be checked because the record before them is lost. */
  unverifiedLinks: number[]
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
/** More lost seqs than this in one log means the segment names themselves are wrong: refuse rather than write millions of markers. */
const MARKERS_MAX = 50_000_000

export const SEQ_POLICY =
  'original seqs are kept; each lost seq holds a marker event (level Error, AuditRecoveryMarker: true, AuditLostSeq, AuditLossReason, AuditLossSegment, AuditLossOffset) with the timestamp of the intact record before it'

function markerPayload(seq: number, r: LostRange): Buffer {
  return Buffer.from(
    JSON.stringify({
      level: 'Error',
      messageTemplate:
        'Audit record {AuditLostSeq} was lost ({AuditLossReason} in {AuditLossSegment} at offset {AuditLossOffset}); mtlog-audit recover wrote this marker in its place',
      properties: {
        AuditLostSeq: seq,
        AuditLossReason: r.reason,
        AuditLossSegment: r.segment,
        AuditLossOffset: r.offset,
        AuditRecoveryMarker: true,
      },
    }),
  )
}

function inside(child: string, parent: string): boolean {
  const rel = path.relative(parent, child)
  return rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel))
}

/** The output must not exist or be an empty directory; never inside an input. */
export async function checkOutputDir(output: string, inputs: string[]): Promise<void> {
  for (const i of inputs) {
    if (inside(output, i) || inside(i, output)) {
      throw new AuditError(
        ERROR_CODES.OPTION_INVALID,
        `output ${output} must be outside the log ${i} (the input is never modified)`,
        { details: { option: 'output' } },
      )
    }
  }
  try {
    const st = await fs.stat(output)
    if (!st.isDirectory() || (await fs.readdir(output)).length > 0) {
      throw new AuditError(
        ERROR_CODES.OUTPUT_EXISTS,
        `${output} exists and is not an empty directory; recover writes a new WAL and never overwrites`,
        { details: { path: output } },
      )
    }
  } catch (err) {
    if (err instanceof AuditError) throw err
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw cannotCreate(output, err)
  }
}

function cannotCreate(output: string, err: unknown): AuditError {
  const errno = (err as NodeJS.ErrnoException).code
  return new AuditError(
    ERROR_CODES.IO,
    `cannot create ${output}: ${errno ?? (err as Error).message} (the new WAL is built in a temp directory beside it, then renamed)`,
    {
      cause: err,
      details: { op: 'create', path: output, errno: errno ?? null },
    },
  )
}

async function fsyncDir(dir: string): Promise<void> {
  const d = await fs.open(dir, 'r')
  try {
    await d.sync()
  } finally {
    await d.close()
  }
}

/** Salvage (or, with options.mirror, repair) dir into options.output. */
export async function recoverLog(dir: string, options: RecoverOptions): Promise<RecoverReport> {
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
  const input = path.resolve(dir)
  const mirror = options.mirror === undefined ? undefined : path.resolve(options.mirror)
  const output = path.resolve(options.output)
  const lists = await Promise.all([listWal(input), ...(mirror === undefined ? [] : [listWal(mirror)])])
  await checkOutputDir(output, mirror === undefined ? [input] : [input, mirror])
  const parent = path.dirname(output)
  const tmp = path.join(parent, `.${path.basename(output)}.recover-${process.pid}-${randomBytes(4).toString('hex')}`)
  try {
    await fs.mkdir(parent, { recursive: true })
    await fs.mkdir(tmp)
  } catch (err) {
    throw cannotCreate(output, err)
  }
  const startedAt = new Date().toISOString()
  const report: RecoverReport = {
    ok: true,
    mode: mirror === undefined ? 'salvage' : 'repair',
    input,
    mirror,
    output,
    reportFile: path.join(output, RECOVERY_REPORT_FILE),
    seqPolicy: SEQ_POLICY,
    records: { intact: 0, lost: 0, output: 0, fromMirror: 0 },
    lastSeq: 0,
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
    startedAt,
    finishedAt: '',
  }
  const writer = new WalRewriter(tmp, { segmentBytesMax: options.segmentBytesMax })
  try {
    let dirty = false
    let lastTimeMs: number | undefined
    for await (const seg of salvageSegments(input, mirror)) {
      options.onBytes?.(seg.bytesRead)
      account(report, seg)
      if (!dirty && seg.clean) {
        await copyExactly(writer, seg, report)
        for (const it of seg.items) if (it.kind === 'record') lastTimeMs = it.rec.timeMs
        continue
      }
      dirty = true
      report.segments.resealed++
      writer.breakSegment()
      for (let k = 0; k < seg.items.length; k++) {
        const it = seg.items[k]!
        if (it.kind === 'record') {
          const seq = await writer.append(it.rec.timeMs, payloadOf(it.rec))
          invariant(seq === it.rec.seq, `recovered record ${it.rec.seq} written as ${seq}`)
          lastTimeMs = it.rec.timeMs
          continue
        }
        const r = it.range
        if (report.records.lost > MARKERS_MAX) {
          throw new AuditError(
            ERROR_CODES.CORRUPT,
            `more than ${MARKERS_MAX} seqs lost (at ${r.segment}): the segment file names themselves look wrong`,
            {
              details: { segment: r.segment, offset: r.offset, seq: r.fromSeq, problem: 'file-name' },
            },
          )
        }
        const next = seg.items.slice(k + 1).find((x) => x.kind === 'record')
        const timeMs = lastTimeMs ?? (next?.kind === 'record' ? next.rec.timeMs : Date.now())
        for (let s = r.fromSeq; s <= r.toSeq; s++) {
          const seq = await writer.append(timeMs, markerPayload(s, r))
          invariant(seq === s, `marker for seq ${s} written as ${seq}`)
        }
      }
    }
    await writer.finish()
    report.lastSeq = writer.nextSeq - 1
    report.records.output = report.lastSeq
    report.segments.output = writer.segments.length
    const v = await verifyLog(tmp)
    report.verify = { ok: v.ok, segments: v.segments, records: v.records, lastSeq: v.lastSeq }
    invariant(
      v.ok && v.records === report.lastSeq && v.tornTail === undefined && v.zeroTail === undefined,
      `the recovered WAL does not verify: ${JSON.stringify(v.firstBad ?? v.tornTail ?? { records: v.records, expected: report.lastSeq })}`,
    )
    report.ok =
      report.lost.length === 0 &&
      report.skipped.length === 0 &&
      report.badHeaders.every((h) => h.repaired) &&
      report.tails.every((t) => t.lastSegment && !t.problem.startsWith('header-'))
    report.finishedAt = new Date().toISOString()
    const file = path.join(tmp, RECOVERY_REPORT_FILE)
    try {
      const fh = await fs.open(file, 'wx')
      try {
        await fh.writeFile(JSON.stringify(report, null, 2) + '\n')
        await fh.datasync()
      } finally {
        await fh.close()
      }
      await fsyncDir(tmp)
      await fs.rename(tmp, output)
      await fsyncDir(parent)
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOTEMPTY' || (err as NodeJS.ErrnoException).code === 'EEXIST') {
        throw new AuditError(ERROR_CODES.OUTPUT_EXISTS, `${output} was created by someone else while recovering`, {
          cause: err,
          details: { path: output },
        })
      }
      throw ioError('write', output, err)
    }
    return report
  } catch (err) {
    await writer.abort()
    await fs.rm(tmp, { recursive: true, force: true }).catch(() => {})
    throw err
  }
}

async function copyExactly(writer: WalRewriter, seg: SegmentResult, report: RecoverReport): Promise<void> {
  const recs = seg.items.flatMap((it) => (it.kind === 'record' ? [it.rec] : []))
  const last = recs[recs.length - 1]
  const lastHash =
    last === undefined ? seg.header!.subarray(32, 64) : last.buf.subarray(last.offset + 32, last.offset + 64)
  await writer.rawSegment(
    seg.name,
    seg.header!,
    recs.map((r) => r.buf.subarray(r.offset, r.end)),
    last?.seq ?? seg.nameSeq - 1,
    lastHash,
  )
  report.segments.copiedExactly++
  report.originalHashesThroughSeq = last?.seq ?? report.originalHashesThroughSeq
}

function account(report: RecoverReport, seg: SegmentResult): void {
  for (const it of seg.items) {
    if (it.kind === 'record') {
      report.records.intact++
      if (it.rec.copy === 1) report.records.fromMirror++
      if (!it.rec.linkVerified && it.rec.seq > 1) report.unverifiedLinks.push(it.rec.seq)
    } else {
      report.lost.push(it.range)
      report.records.lost += it.range.toSeq - it.range.fromSeq + 1
    }
  }
  report.skipped.push(...seg.skipped)
  report.repairs.push(...seg.repairs)
  if (seg.tail !== undefined) report.tails.push({ ...seg.tail, lastSegment: seg.last })
  for (const h of seg.badHeaders) {
    if (h.problem === 'missing' && h.repaired) continue // a segment missing in one copy shows as a repair
    report.badHeaders.push({ segment: seg.name, ...h })
  }
  if (seg.uncommitted !== undefined) report.uncommitted = seg.uncommitted
}
