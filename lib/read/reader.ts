/**
 * The read side: readLog (events in order) and verifyLog (an integrity report).
 *
 * Both are read-only (files opened 'r', nothing created, no lock taken), so
 * they run beside a live writer without disturbing it. A live log's last batch
 * may still be in flight; it shows up as an uncommitted tail and is not read,
 * and the space the writer zero-filled ahead shows up as a zero tail.
 * Both use shared/scan.ts, the same checks recovery uses, over a segment read
 * through a bounded window (shared/bytes.ts): memory is one window
 * (FIXED.segmentWindowBytes) or one record, never a segment. readLog walks a
 * segment twice: once to check all of it (nothing of a damaged segment is
 * yielded, as before), then again to yield its records.
 *
 * Both check everything from seq 1 (the first segment must be there, and no
 * segment may be missing): readLog refuses what verifyLog refuses. Damage
 * throws (readLog) or is reported as firstBad (verifyLog) with segment,
 * offset, seq and what is wrong. readLog yields events; with `records: true`
 * it yields every record (gaps and seals too), each with its seq range.
 */

import fs from 'node:fs/promises'
import path from 'node:path'
import { AuditError, ERROR_CODES } from '../../shared/errors.js'
import {
  GAP_LAST_SEQ_BYTES,
  GENESIS_HASH,
  parseSegmentFileName,
  segmentNames,
  RECORD_HEADER_BYTES,
  RecordFlag,
  type RecordProblem,
  type StoredRecord,
  RecordType,
  versionUnsupported,
  SIDE_FILE,
} from '../../shared/format.js'
import { FIXED, LIMITS } from '../../shared/limits.js'
import { SegmentBytes } from '../../shared/bytes.js'
import {
  classifyTail,
  corruptTailMessage,
  type Expected,
  nextExpected,
  RecordCursor,
  scanSegment,
  type SegmentScan,
  type TornRuleProblem,
} from '../../shared/scan.js'
import type { StoredEvent } from '../../shared/event.js'
import { checkReadArgs, checkVerifyArgs } from './args.js'
import { openReadKeys, type ReadKeys, Unsealer } from './sealed.js'
import { lockHolder } from '../../shared/lock.js'
import type { Keyring } from '../crypto/index.js'

export interface LogRecord {
  kind: 'event'
  seq: number
  timestamp: Date
  event: StoredEvent
  /** The segment file the record is in. */
  segment: string
}

/**
 * A record the log makes itself: a gap (seqs [seq, lastSeq] lost to a crash or
 * a cut), a seal (end of a segment), or a checkpoint (a signed tree head:
 * detail holds its tree size, the last seq it covers and the signed note).
 */
export interface ControlRecord {
  kind: 'gap' | 'seal' | 'checkpoint' | 'key-change' | 'tombstone'
  seq: number
  lastSeq: number
  timestamp: Date
  /** What the writer wrote about it (why the gap, why the seal). */
  detail: Record<string, unknown>
  segment: string
}

export type LogEntry = LogRecord | ControlRecord

export interface ReadOptions extends ReadKeys {
  fromSeq?: number
  toSeq?: number
  /** Yield every record (gaps and seals too), not only events. */
  records?: boolean
  /** Called after each segment file is read (progress reporting). */
  onSegment?: (segment: string, bytes: number) => void
}

export interface VerifyOptions {
  /** Called after each segment file is read (progress reporting). */
  onSegment?: (segment: string, bytes: number) => void
}

export interface BadSpot {
  seq: number
  segment: string
  offset: number
  problem:
    | RecordProblem
    | TornRuleProblem
    | 'uncommitted'
    | 'unsealed'
    | 'header'
    | 'first-seq'
    | 'chain-start'
    | 'log-id'
    | 'missing-segment'
  message: string
}

export interface VerifyReport {
  ok: boolean
  dir: string
  segments: number
  records: number
  bytes: number
  firstSeq: number | undefined
  lastSeq: number | undefined
  /** Timestamps of the first and last record, as ISO 8601 strings (every report's times are). */
  firstTime: string | undefined
  lastTime: string | undefined
  /** The first damage found; verification stops there (records and lastSeq count what checked out before it). */
  firstBad: BadSpot | undefined
  /** Bytes after the last committed batch of the last segment (a torn write, or a batch in flight on a live log). */
  tornTail: { segment: string; offset: number; bytes: number } | undefined
  /**
   * Only zero bytes after the last committed batch of the last segment: the
   * space a running writer zero-filled ahead of its next batches, or, on a log
   * that is not open, writes of a writer that stopped without closing (or that
   * never reached the disk). Not damage by itself; reported so that nothing is
   * cut or skipped without a word.
   */
  zeroTail: { segment: string; offset: number; bytes: number } | undefined
  /** Torn tails cut by earlier recoveries, kept beside the segments. */
  sideFiles: string[]
  /** Seq ranges the log records as lost (gap records), in order. */
  gaps: { fromSeq: number; toSeq: number; segment: string }[]
  /** Events among the records (records also counts gaps and seals). */
  events: number
  /** The log ends with a seal: it was closed with close(), nothing of it is a tail. */
  sealed: boolean
  /** Verified bytes per second. */
  bytesPerSecond: number
}

const PAYLOAD_MAX = LIMITS.eventBytesMax.max

/** Segment and side-file names of a WAL directory, with the read side's coded errors. */
export async function listSegments(dir: string): Promise<{ segments: string[]; sideFiles: string[] }> {
  let names: string[]
  try {
    names = await fs.readdir(dir)
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    if (code === 'ENOENT')
      throw new AuditError(ERROR_CODES.NO_WAL, `${dir} does not exist`, { cause: err, details: { dir } })
    if (code === 'ENOTDIR')
      throw new AuditError(ERROR_CODES.NOT_A_WAL, `${dir} is not a directory`, { cause: err, details: { dir } })
    throw new AuditError(ERROR_CODES.IO, `cannot list ${dir}: ${(err as Error).message}`, {
      cause: err,
      details: { dir },
    })
  }
  const segments = segmentNames(names)
  if (segments.length === 0)
    throw new AuditError(ERROR_CODES.NOT_A_WAL, `${dir} holds no WAL segments`, { details: { dir } })
  return { segments, sideFiles: names.filter((n) => SIDE_FILE.test(n)).sort() }
}

/** A segment read through a window; a FIFO or device named like a segment is ERR_AUDIT_NOT_A_FILE, an fs error ERR_AUDIT_IO. */
function openSegment(dir: string, name: string): SegmentBytes & { close(): void } {
  return SegmentBytes.open(path.join(dir, name), {
    fail: (err) =>
      new AuditError(ERROR_CODES.IO, `cannot read ${name}: ${(err as Error).message}`, {
        cause: err,
        details: { segment: name },
      }),
  })
}

type Tail = { offset: number; bytes: number }

type Step =
  | { kind: 'ok'; scan: SegmentScan; end: number; torn: Tail | undefined; zeros: Tail | undefined }
  | { kind: 'bad'; bad: BadSpot; before?: SegmentScan }

/**
 * Open segment `name` and check it (checkSegment); the caller closes the bytes
 * returned, those of the walk judged.
 *
 * The last segment of a live log is being written while it is read. A read
 * that races the writer's write() can see a later part of the batch before an
 * earlier one (the kernel copies page by page, and the writer may overtake the
 * reader), and the tail's classification then sees damage that was never on
 * disk. So when a live writer holds the log's lock (before or after the walk)
 * and the walk finds damage in the last segment's tail, the segment is walked
 * anew after FIXED.tailRecheckPauseMs, and
 *   - the new walk finds no damage: the first one raced a write;
 *   - it finds the same damage, at the same place, after the same committed
 *     bytes: the damage stands (a file nobody writes reads the same twice);
 *   - it finds something else: the writer moved on, so walk again, at most
 *     FIXED.tailRecheckWalksMax walks; the last walk's finding stands.
 * A log no live writer holds (closed, or its writer gone) is judged on one
 * walk. Limits (docs/operations.md, "Reading a live log"): a writer stalled in
 * the middle of one write() for longer than the pause looks like damage, and a
 * mirror has no lock, so a live mirror is judged on one walk.
 */
async function openChecked(
  dir: string,
  name: string,
  expected: Expected,
  isLast: boolean,
  records?: () => Parameters<typeof scanSegment>[3],
): Promise<{ buf: SegmentBytes & { close(): void }; step: Step }> {
  const liveBefore = isLast && writerLive(dir)
  let buf = openSegment(dir, name)
  try {
    let step = checkSegment(name, buf, expected, isLast, records?.())
    if (!isLast || !damagedTail(step) || !(liveBefore || writerLive(dir))) return { buf, step }
    for (let walks = 1; damagedTail(step) && walks < FIXED.tailRecheckWalksMax; walks++) {
      await tailRecheck.pause(FIXED.tailRecheckPauseMs)
      const next = openSegment(dir, name)
      buf.close()
      buf = next
      const again = checkSegment(name, buf, expected, isLast, records?.())
      const same = sameDamage(step, again)
      step = again
      if (same) break
    }
    return { buf, step }
  } catch (err) {
    buf.close()
    throw err
  }
}

/** A live writer holds dir's lock (one on another host counts: it cannot be told apart). */
function writerLive(dir: string): boolean {
  return lockHolder(dir)?.alive === true
}

/** Damage after the last segment's last commit: what a read racing a write can show (see openChecked). */
function damagedTail(step: Step): step is Extract<Step, { kind: 'bad' }> & { before: SegmentScan } {
  return step.kind === 'bad' && step.before !== undefined
}

/** Two walks found the same damage at the same place after the same committed bytes. */
function sameDamage(a: Step, b: Step): boolean {
  if (!damagedTail(a) || !damagedTail(b)) return false
  return (
    a.bad.offset === b.bad.offset &&
    a.bad.seq === b.bad.seq &&
    a.bad.problem === b.bad.problem &&
    a.bad.message === b.bad.message &&
    a.before.commitEnd === b.before.commitEnd &&
    a.before.validEnd === b.before.validEnd
  )
}

/**
 * How the reader waits before it walks a damaged last segment again
 * (openChecked). A seam for tests, and only for them: test/read/live-tail.test.ts
 * replaces it to change the file in that wait, as a writer finishing its
 * write() would, so the interleaving is forced rather than hoped for.
 */
export const tailRecheck = {
  pause: (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms)),
}

/** Check one segment against what the previous one ended with. */
function checkSegment(
  name: string,
  buf: SegmentBytes,
  expected: Expected,
  isLast: boolean,
  onRecord?: Parameters<typeof scanSegment>[3],
): Step {
  if (parseSegmentFileName(name) !== expected.seq + 1) {
    const problem = parseSegmentFileName(name)! > expected.seq + 1 ? 'missing-segment' : 'first-seq'
    return {
      kind: 'bad',
      bad: {
        seq: expected.seq + 1,
        segment: name,
        offset: 0,
        problem,
        message: `segment ${name} should start at seq ${expected.seq + 1}`,
      },
    }
  }
  const scan = scanSegment(buf, expected, PAYLOAD_MAX, onRecord)
  if ('problem' in scan) {
    if (scan.problem === 'version') {
      throw versionUnsupported(name, scan.version)
    }
    const problem =
      scan.problem === 'first-seq' || scan.problem === 'chain-start' || scan.problem === 'log-id'
        ? scan.problem
        : 'header'
    return {
      kind: 'bad',
      bad: {
        seq: expected.seq + 1,
        segment: name,
        offset: 0,
        problem,
        message: `segment header is bad: ${scan.problem}`,
      },
    }
  }
  if (!isLast) {
    if (scan.stop !== undefined)
      return {
        kind: 'bad',
        bad: { ...scan.stop, segment: name, message: `record is bad: ${scan.stop.problem}` },
        before: scan,
      }
    if (scan.commitEnd !== buf.size)
      return {
        kind: 'bad',
        bad: {
          seq: scan.commitSeq + 1,
          segment: name,
          offset: scan.commitEnd,
          problem: 'uncommitted',
          message: 'sealed segment ends inside a batch',
        },
        before: scan,
      }
    if (scan.header.version !== 1 && !scan.sealed)
      return {
        kind: 'bad',
        bad: {
          seq: scan.commitSeq + 1,
          segment: name,
          offset: scan.commitEnd,
          problem: 'unsealed',
          message: 'a segment with a successor is not sealed',
        },
        before: scan,
      }
    return { kind: 'ok', scan, end: buf.size, torn: undefined, zeros: undefined }
  }
  const verdict = classifyTail(buf, scan, PAYLOAD_MAX)
  if (verdict.kind === 'corrupt') {
    return {
      kind: 'bad',
      bad: {
        seq: verdict.seq,
        segment: name,
        offset: verdict.offset,
        problem: verdict.problem,
        message: corruptTailMessage(verdict),
      },
      before: scan,
    }
  }
  const tail = verdict.kind === 'clean' ? undefined : { offset: verdict.cutAt, bytes: verdict.bytes }
  return {
    kind: 'ok',
    scan,
    end: scan.commitEnd,
    torn: verdict.kind === 'torn' ? tail : undefined,
    zeros: verdict.kind === 'zeros' ? tail : undefined,
  }
}

function corruptError(dir: string, bad: BadSpot): AuditError {
  return new AuditError(
    ERROR_CODES.CORRUPT,
    `${dir}: ${bad.message} (segment ${bad.segment}, offset ${bad.offset}, seq ${bad.seq})`,
    {
      details: { segment: bad.segment, offset: bad.offset, seq: bad.seq, problem: bad.problem },
    },
  )
}

/**
 * One committed record as stored (the read side's raw view): what a Merkle
 * leaf covers (shared/format.ts leafHead), and where it is. payload is a view
 * valid until the generator moves on.
 */
export interface RawRecord extends StoredRecord {
  /** The hash it chains to (a view, as payload): a v2 leaf covers it. */
  prevHash: Buffer
  /** The segment's log id, 32 lowercase hex digits (all zeros in a version-1 segment). */
  logId: string
}

/**
 * Every committed record whose range meets [fromSeq, toSeq] (every record of
 * each segment read, with allRecords: a sealed batch is read whole), in log
 * order, with the checks readLog makes (from seq 1, no segment missing, the
 * chain unbroken). Throws ERR_AUDIT_CORRUPT on damage. Options are not checked
 * here: callers pass checked ones.
 */
export async function* readRecords(
  dir: string,
  options: {
    fromSeq?: number
    toSeq?: number
    allRecords?: boolean
    onSegment?: (segment: string, bytes: number) => void
  } = {},
): AsyncGenerator<RawRecord> {
  const fromSeq = options.fromSeq ?? 1
  const toSeq = options.toSeq ?? Number.MAX_SAFE_INTEGER
  const abs = path.resolve(dir)
  const { segments } = await listSegments(abs)
  // Every segment from the first is checked (seq 1, no segment missing, the
  // chain unbroken), so readLog refuses what verifyLog refuses; records
  // before fromSeq are checked but not yielded.
  let expected: Expected = { seq: 0, hash: Buffer.from(GENESIS_HASH) }
  for (let i = 0; i < segments.length; i++) {
    const name = segments[i]!
    if (parseSegmentFileName(name)! > toSeq) return
    const { buf, step } = await openChecked(abs, name, expected, i === segments.length - 1)
    try {
      options.onSegment?.(name, buf.size)
      if (step.kind === 'bad') throw corruptError(abs, step.bad)
      // The segment checked out as far as step.end: walk it again and yield
      // (the records before fromSeq are walked, not yielded).
      const { header } = step.scan
      const logId = header.logId.toString('hex')
      if (step.scan.commitSeq >= fromSeq || options.allRecords === true) {
        const cursor = new RecordCursor(buf, header, PAYLOAD_MAX, {
          offset: header.bytes,
          seq: header.firstSeq,
          hash: header.chainStart,
        })
        for (let r = cursor.next(); r !== undefined && !('problem' in r) && r.end <= step.end; r = cursor.next()) {
          if (options.allRecords !== true && (r.seq > toSeq || r.lastSeq < fromSeq)) {
            if (r.seq > toSeq) break
            continue
          }
          const at = r.payloadOff - buf.base
          yield {
            type: r.type,
            seq: r.seq,
            lastSeq: r.lastSeq,
            timeMs: r.timeMs,
            payload: buf.buf.subarray(at, at + r.len),
            version: header.version,
            hash: buf.buf.subarray(at - 32, at),
            prevHash: cursor.prevHash,
            segment: name,
            offset: r.payloadOff - RECORD_HEADER_BYTES,
            logId,
          }
        }
        if (cursor.offset < Math.min(step.end, buf.size) && (options.allRecords === true || cursor.seq <= toSeq))
          throw changedWhileRead(abs, name, cursor)
      }
      expected = nextExpected(expected, step.scan)
    } finally {
      buf.close()
    }
  }
}

/** The second walk of a segment stopped before the first one did: its bytes changed in between. */
function changedWhileRead(dir: string, name: string, at: RecordCursor): AuditError {
  return new AuditError(
    ERROR_CODES.IO,
    `${dir}: segment ${name} changed while it was read (a second read of offset ${at.offset} differs from the first)`,
    { details: { op: 'read', path: path.join(dir, name), errno: null, segment: name, offset: at.offset, seq: at.seq } },
  )
}

const CONTROL_KINDS: Record<number, ControlRecord['kind']> = {
  [RecordType.GAP]: 'gap',
  [RecordType.SEAL]: 'seal',
  [RecordType.CHECKPOINT]: 'checkpoint',
  [RecordType.KEY_CHANGE]: 'key-change',
  [RecordType.TOMBSTONE]: 'tombstone',
}

/** Events in seq order, from fromSeq to toSeq (inclusive). Throws ERR_AUDIT_CORRUPT on damage. */
export function readLog(dir: string, options?: ReadOptions & { records?: false }): AsyncGenerator<LogRecord>
export function readLog(dir: string, options: ReadOptions & { records: true }): AsyncGenerator<LogEntry>
export function readLog(dir: string, options?: ReadOptions): AsyncGenerator<LogEntry>
export async function* readLog(dir: string, options: ReadOptions = {}): AsyncGenerator<LogEntry> {
  options = checkReadArgs(dir, options)
  // Sealed events (lib/read/sealed.ts): a keyring loaded here is closed (its unwrapped keys dropped) when reading ends.
  const keyring = await openReadKeys(options)
  try {
    yield* readEntries(dir, options, keyring)
  } finally {
    if (keyring !== undefined && keyring !== options.keyring) keyring.close()
  }
}

async function* readEntries(dir: string, options: ReadOptions, keyring: Keyring | undefined): AsyncGenerator<LogEntry> {
  const fromSeq = options.fromSeq ?? 1
  const toSeq = options.toSeq ?? Number.MAX_SAFE_INTEGER
  // With a keyring, whole frames are read, so every record of a segment is taken.
  const unsealer = new Unsealer<LogEntry>(keyring, (event, p) => ({
    kind: 'event',
    seq: p.seq,
    timestamp: event.timestamp,
    event,
    segment: p.segment,
  }))
  const wanted = (e: LogEntry): boolean =>
    (e.kind === 'event' ? e.seq : (e as ControlRecord).lastSeq) >= fromSeq && e.seq <= toSeq
  let segment: string | undefined
  for await (const r of readRecords(dir, { ...options, allRecords: keyring !== undefined })) {
    if (segment !== undefined && r.segment !== segment) unsealer.end(segment)
    segment = r.segment
    const offset = r.offset + RECORD_HEADER_BYTES
    let ready: LogEntry[]
    if (r.type === RecordType.EVENT) {
      // No copy: push() is done with the window under r.payload when it returns (it copies what a frame holds).
      // The fields spelled out, not spread from a shared part: the spread was ~40 % of readLog's time (bench/read-ab.ts).
      const got = unsealer.push(
        { seq: r.seq, timeMs: r.timeMs, segment: r.segment, offset, payload: r.payload, ready: undefined },
        r.logId,
      )
      ready = got instanceof Promise ? await got : got
    } else if (options.records === true) {
      const entry: ControlRecord = {
        kind: CONTROL_KINDS[r.type] ?? 'seal',
        seq: r.seq,
        lastSeq: r.lastSeq,
        timestamp: new Date(r.timeMs),
        detail: controlDetail(r.type === RecordType.GAP ? r.payload.subarray(GAP_LAST_SEQ_BYTES) : r.payload),
        segment: r.segment,
      }
      const got = unsealer.push(
        { seq: r.seq, timeMs: r.timeMs, segment: r.segment, offset, payload: undefined, ready: entry },
        r.logId,
      )
      ready = got instanceof Promise ? await got : got
    } else continue
    for (const e of ready) if (wanted(e)) yield e
  }
  if (segment !== undefined) unsealer.end(segment)
}

/** The JSON a gap or seal record carries (an object; anything else is shown as it is). */
function controlDetail(body: Buffer): Record<string, unknown> {
  try {
    const v = JSON.parse(body.toString('utf8')) as unknown
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : { value: v }
  } catch {
    return { raw: body.toString('utf8').slice(0, 200) }
  }
}

function count(report: VerifyReport, scan: SegmentScan, records: number, lastSeq: number): void {
  report.firstSeq ??= scan.header.firstSeq
  report.lastSeq = lastSeq
  report.records += records
  if (scan.firstTimeMs !== undefined) report.firstTime ??= new Date(scan.firstTimeMs).toISOString()
  if (scan.lastTimeMs !== undefined) report.lastTime = new Date(scan.lastTimeMs).toISOString()
}

/** Check the whole log from seq 1; never throws for damage, reports it. */
export async function verifyLog(dir: string, options: VerifyOptions = {}): Promise<VerifyReport> {
  options = checkVerifyArgs(dir, options)
  const started = performance.now()
  const abs = path.resolve(dir)
  const { segments, sideFiles } = await listSegments(abs)
  const report: VerifyReport = {
    ok: true,
    dir: abs,
    segments: segments.length,
    records: 0,
    bytes: 0,
    firstSeq: undefined,
    lastSeq: undefined,
    firstTime: undefined,
    lastTime: undefined,
    firstBad: undefined,
    tornTail: undefined,
    zeroTail: undefined,
    sideFiles,
    gaps: [],
    events: 0,
    sealed: false,
    bytesPerSecond: 0,
  }
  let expected: Expected = { seq: 0, hash: Buffer.from(GENESIS_HASH) }
  const gaps: { fromSeq: number; toSeq: number; segment: string; end: number }[] = []
  for (let i = 0; i < segments.length; i++) {
    const name = segments[i]!
    // Events among the records that checked out, and among those up to the last COMMIT (counted afresh by each walk).
    let events = 0
    let committedEvents = 0
    const { buf, step } = await openChecked(abs, name, expected, i === segments.length - 1, () => {
      events = 0
      committedEvents = 0
      gaps.length = 0
      return (r) => {
        if (r.type === RecordType.EVENT) events++
        else if (r.type === RecordType.GAP) gaps.push({ fromSeq: r.seq, toSeq: r.lastSeq, segment: name, end: r.end })
        if (r.flags & RecordFlag.COMMIT) committedEvents = events
      }
    })
    try {
      options.onSegment?.(name, buf.size)
      report.bytes += buf.size
    } finally {
      buf.close()
    }
    if (step.kind === 'bad') {
      report.ok = false
      report.firstBad = step.bad
      // Records that checked out before the damage still count.
      if (step.before !== undefined && step.before.records > 0) {
        count(report, step.before, step.before.records, step.before.validSeq)
        report.events += events
      }
      report.sealed = false
      break
    }
    const { scan } = step
    if (scan.committedRecords > 0) count(report, scan, scan.committedRecords, scan.commitSeq)
    // Only what is committed counts: an uncommitted tail is neither read nor counted.
    report.events += committedEvents
    for (const g of gaps)
      if (g.end <= step.end) report.gaps.push({ fromSeq: g.fromSeq, toSeq: g.toSeq, segment: g.segment })
    gaps.length = 0
    report.sealed = scan.sealed
    if (step.torn !== undefined) report.tornTail = { segment: name, ...step.torn }
    if (step.zeros !== undefined) report.zeroTail = { segment: name, ...step.zeros }
    expected = nextExpected(expected, scan)
  }
  const seconds = (performance.now() - started) / 1000
  report.bytesPerSecond = seconds > 0 ? Math.round(report.bytes / seconds) : 0
  return report
}
