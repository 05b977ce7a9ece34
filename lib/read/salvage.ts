/**
 * Salvage: every intact record of a damaged WAL, and an exact account of the
 * seqs that are not (lib/repair/recover.ts writes them into a new WAL; replay and
 * export use them with --salvage).
 *
 *   segment file(s) ──► scanCopy: walk records from offset 80; at damage, resync
 *   (one per copy:      by scanning for the record magic and checking the CRC
 *    WAL [+ mirror])    with the segment's salt (looksLikeRecord) ──► candidates
 *                                                                     + damage spots
 *                    ──► mergeSegment: candidates of both copies by seq; each one
 *                        is checked against the hash chain where its predecessor
 *                        is known; seqs nobody has become LostRanges naming the
 *                        segment, offset, byte count and the problem found there
 *                    ──► SegmentResult: items in seq order (records and lost ranges)
 *
 * Seq bounds come from the file names (a segment is named by its first seq), so
 * a lost range is exact even when a whole segment is gone. Only the end of the
 * log cannot be bounded: bytes after the last intact record of the last segment
 * are reported as the `tail` (an unknown number of records, or a torn write).
 *
 * Each copy of a segment is read through a SegmentBytes window (shared/bytes.ts,
 * positioned reads), never whole. A candidate is metadata only (offset, end,
 * seq range, type, flags, time, stored CRC, and the copy it is in); the merge
 * reads a record's bytes again when it needs them (its hash link, its stored
 * hash, a comparison with its twin in the other copy), and so does
 * payloadOf(rec) / recordBytes(rec): each returns a copy of that one record's
 * bytes, checked against the CRC the scan saw (ERR_AUDIT_CORRUPT when the file
 * changed meanwhile). The copies stay open while their SegmentResult is the
 * current one: from the yield until the generator is resumed (or returned), then
 * they are closed; reading a record after that is ERR_AUDIT_INVARIANT. So a
 * consumer takes payloads one at a time, inside its loop.
 *
 * Input files are only read. Memory: per copy, one window (FIXED.segmentWindowBytes,
 * or one record when a record is larger); never the segment's bytes or all of
 * its payloads. But the merge still holds every record's metadata for the
 * segment (candidates, then the yielded items): about 650 bytes of heap per
 * record measured (100,000 records of 136 bytes), more than small records take
 * on disk. Bounding that too needs a merge that streams by seq.
 */

import { listSegments } from './reader.js'
import path from 'node:path'
import { AuditError, ERROR_CODES, invariant } from '../../shared/errors.js'
import { type Bytes, bytesOf, SegmentBytes } from '../../shared/bytes.js'
import { crc32c } from '../../shared/crc32c.js'
import {
  checkRecord,
  decodeSegmentHeader,
  HASH_BYTES,
  looksLikeRecord,
  parseSegmentFileName,
  RECORD_HEADER_BYTES,
  type RecordFrame,
  RecordFlag,
  type RecordRules,
  RULES_V2,
  SEGMENT_HEADER_BYTES,
  SEGMENT_HEADER_BYTES_V1,
  type SegmentHeader,
  segmentFileName,
  recordHashInto,
  versionUnsupported,
} from '../../shared/format.js'
import { FIXED, LIMITS } from '../../shared/limits.js'
import { nextIntact, recordWindow } from '../../shared/scan.js'
import { tooLarge } from '../../shared/files.js'
import { checkDir } from './args.js'

const PAYLOAD_MAX = LIMITS.eventBytesMax.max

export type CopyName = 'primary' | 'mirror'

/**
 * Where a candidate's bytes are: one copy of one segment, read through its
 * window, with the salt its records were checked with. Not serialized (toJSON).
 */
export class CopySource {
  constructor(
    readonly bytes: SegmentBytes,
    readonly segment: string,
    readonly copy: 0 | 1,
    readonly saltSeed: number,
    /** The format version its records are in (their hash differs: shared/format.ts recordHashInto). */
    readonly version: number,
  ) {}

  toJSON(): { segment: string; copy: CopyName } {
    return { segment: this.segment, copy: COPY_NAMES[this.copy]! }
  }
}

/** Copies salvageSegments has closed: their records can no longer be read. */
const closed = new WeakSet<SegmentBytes>()

/** A record that checks out on its own: magic, length, CRC with the segment's salt, type. */
export interface Candidate {
  type: number
  seq: number
  /** Last seq of the record's range (seq, except for a gap record). */
  lastSeq: number
  timeMs: number
  flags: number
  batchIndex: number
  offset: number
  end: number
  copy: 0 | 1
  /** The record's stored CRC, as the scan read it (a later read must find the same). */
  crc: number
  /** The copy it is in; its bytes are read from there when needed (see the module comment). */
  source: CopySource
}

/** Bytes where no record checks out, and the first problem found there (docs/wal-format.md section 6). */
export interface DamagedBytes {
  offset: number
  bytes: number
  problem: string
}

export interface CopyScan {
  copy: 0 | 1
  present: boolean
  size: number
  /** The copy's bytes, read through a window (undefined when the file is missing). */
  bytes: SegmentBytes | undefined
  header: SegmentHeader | undefined
  headerBytes: Buffer | undefined
  /** Where records start: the header's size (v1 80 bytes, v2 128), from the header or its twin's. */
  start: number
  /** Why the header cannot be used as is: missing, short, magic, checksum, layout, file-name. */
  headerProblem: string | undefined
  /** Whether records could be checked at all (a salt was found). */
  saltKnown: boolean
  cands: Candidate[]
  spots: DamagedBytes[]
}

/** Seqs that no copy holds intact. */
export interface LostRange {
  fromSeq: number
  toSeq: number
  /** The segment file that held (or should have held) them. */
  segment: string
  /** Where the lost records began and how many bytes they spanned (0, 0 for a missing segment). */
  offset: number
  bytes: number
  /** The problem found at offset: checksum, zero, magic, truncated, length, reserved, chain, duplicate, header-<problem>, missing-segment. */
  reason: string
  message: string
}

/** An intact-looking record that was not used. */
export interface SkippedRecord {
  seq: number
  segment: string
  offset: number
  copy: CopyName
  reason: 'chain' | 'duplicate' | 'out-of-place'
  message: string
}

/** A byte range that was damaged in one copy and taken from the other (mirror repair). */
export interface RepairRange {
  segment: string
  offset: number
  bytes: number
  fromSeq: number | undefined
  toSeq: number | undefined
  damagedIn: CopyName
  takenFrom: CopyName
  problem: string
}

export interface Chosen extends Candidate {
  /** The record's hash link was checked against its predecessor (false right after a loss). */
  linkVerified: boolean
}

export type SalvageItem = { kind: 'record'; rec: Chosen } | { kind: 'lost'; range: LostRange }

export interface SegmentResult {
  name: string
  nameSeq: number
  last: boolean
  items: SalvageItem[]
  skipped: SkippedRecord[]
  repairs: RepairRange[]
  /** The header bytes (v1 80, v2 128) of a copy whose header checks out and matches the file name. */
  header: Buffer | undefined
  /** Unreadable bytes after the last intact record that hold no known seq (a torn write in the last segment; garbage in a sealed one). */
  tail: { segment: string; offset: number; bytes: number; problem: string } | undefined
  /** Intact records after the last COMMIT of the last segment (an unfinished batch). */
  uncommitted: { fromSeq: number; toSeq: number } | undefined
  /** Copies whose header is bad (or whose file is missing), and whether a good header was available from the other copy. */
  badHeaders: { copy: CopyName; problem: string; repaired: boolean }[]
  /**
   * Byte-for-byte reproducible: good header, intact records tiling the file, nothing lost or skipped in it, ends
   * at a COMMIT. Its items may still end with a lost range of seqs that no file holds (a missing next segment).
   */
  clean: boolean
  /** Bytes read (both copies). */
  bytesRead: number
}

const COPY_NAMES: readonly CopyName[] = ['primary', 'mirror']

/** Segment names of a directory, with the read side's errors. */
export const listWal = listSegments

/** A segment file opened for windowed reads, or undefined when it does not exist. */
function openIfPresent(file: string, windowBytes: number): (SegmentBytes & { close(): void }) | undefined {
  const name = path.basename(file)
  let bytes: SegmentBytes & { close(): void }
  try {
    bytes = SegmentBytes.open(file, {
      windowBytes,
      fail: (err) =>
        (err as NodeJS.ErrnoException).code === 'ENOENT'
          ? err
          : new AuditError(ERROR_CODES.IO, `cannot read ${file}: ${(err as Error).message}`, {
              cause: err,
              details: { segment: name },
            }),
    })
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw err // not a regular file: ERR_AUDIT_NOT_A_FILE; an fs error: ERR_AUDIT_IO
  }
  // No writer makes a larger segment: not a file mtlog-audit wrote (as a whole-file read refused it).
  if (bytes.size > LIMITS.segmentBytesMax.max) {
    bytes.close()
    throw tooLarge(file, bytes.size, LIMITS.segmentBytesMax.max)
  }
  return bytes
}

/** The record starting at off, when it checks out on its own; the bytes' window then holds all of it. */
function intactAt(
  b: SegmentBytes,
  off: number,
  saltSeed: number,
  rules: RecordRules,
): (RecordFrame & { crc: number }) | undefined {
  const i = recordWindow(b, off, PAYLOAD_MAX)
  const r = looksLikeRecord(b.buf, i, b.filled, saltSeed, PAYLOAD_MAX, rules)
  return r === undefined ? undefined : { ...r, end: r.end - i + off, crc: b.buf.readUInt32LE(i + 4) }
}

/** The problem of the bytes at off, in the order of docs/wal-format.md section 6 (seq and chain are checked later). */
function problemAt(b: SegmentBytes, off: number, saltSeed: number): string {
  const i = recordWindow(b, off, PAYLOAD_MAX)
  const r = checkRecord(b.buf, i, b.filled, saltSeed, -1, Buffer.alloc(HASH_BYTES), PAYLOAD_MAX)
  return r.ok ? 'unknown' : r.problem
}

/**
 * Walk one copy of a segment; at damage, resync on the next record that checks
 * out. The bytes are read through their window (a Buffer is taken as it is);
 * the candidates keep no bytes, only where they are.
 */
export function scanCopy(
  input: Bytes | undefined,
  copy: 0 | 1,
  nameSeq: number,
  twin: SegmentHeader | undefined,
  name: string,
): CopyScan {
  const b = input === undefined ? undefined : bytesOf(input)
  const scan: CopyScan = {
    copy,
    present: b !== undefined,
    size: b?.size ?? 0,
    bytes: b,
    header: undefined,
    headerBytes: undefined,
    start: SEGMENT_HEADER_BYTES,
    headerProblem: undefined,
    saltKnown: false,
    cands: [],
    spots: [],
  }
  if (b === undefined) {
    scan.headerProblem = 'missing'
    return scan
  }
  const hi = b.window(0, SEGMENT_HEADER_BYTES)
  const head = Buffer.from(b.buf.subarray(hi, Math.min(b.filled, hi + SEGMENT_HEADER_BYTES)))
  const h = decodeSegmentHeader(head)
  let saltSeed: number | undefined
  let rules: RecordRules = RULES_V2
  let start = head[8] === 1 ? SEGMENT_HEADER_BYTES_V1 : SEGMENT_HEADER_BYTES
  if ('problem' in h) {
    if (h.problem === 'version') {
      throw versionUnsupported(name, h.version)
    }
    scan.headerProblem = h.problem
    // The copies are byte-identical: the twin's salt is this file's salt. Without a
    // twin, try the salt bytes as they are; a record that checks out with them proves them.
    if (twin !== undefined) {
      saltSeed = twin.saltSeed
      rules = twin.rules
      start = twin.bytes
    } else if (head.length >= 72) saltSeed = crc32c(head.subarray(64, 72))
  } else {
    saltSeed = h.saltSeed
    rules = h.rules
    start = h.bytes
    if (h.firstSeq !== nameSeq) scan.headerProblem = 'file-name'
    else {
      scan.header = h
      scan.headerBytes = head.subarray(0, h.bytes)
    }
  }
  scan.start = start
  if (saltSeed === undefined || b.size <= start) {
    scan.size = b.size
    return scan
  }
  const source = new CopySource(b, name, copy, saltSeed, rules.version)
  let off = start
  const cands: Candidate[] = []
  // b.size, not a size taken once: it shrinks when the file was cut while it is read.
  while (off < b.size) {
    const r = intactAt(b, off, saltSeed, rules)
    if (r !== undefined) {
      cands.push({
        type: r.type,
        lastSeq: r.lastSeq,
        seq: r.seq,
        timeMs: r.timeMs,
        flags: r.flags,
        batchIndex: r.batchIndex,
        offset: off,
        end: r.end,
        copy,
        crc: r.crc,
        source,
      })
      off = r.end
      continue
    }
    const problem = problemAt(b, off, saltSeed)
    // Resync with the one record walker's loose step (shared/scan.ts).
    const next = nextIntact(b, off + 1, b.size, saltSeed, PAYLOAD_MAX, rules)?.offset ?? b.size
    scan.spots.push({ offset: off, bytes: next - off, problem })
    off = next
  }
  scan.size = b.size
  scan.cands = cands
  scan.saltKnown = cands.length > 0 || scan.header !== undefined || twin !== undefined
  return scan
}

/** The window index of candidate c's bytes [offset, end), all of them in its copy's window until that copy is read again. */
function recordIn(c: Candidate): number {
  const { bytes, segment } = c.source
  invariant(
    !closed.has(bytes),
    `the ${COPY_NAMES[c.copy]} copy of ${segment} is closed: a salvaged record can be read only while its segment's result is the current one`,
  )
  const i = bytes.window(c.offset, c.end - c.offset)
  if (bytes.filled - i < c.end - c.offset) throw changedMeanwhile(c)
  return i
}

function changedMeanwhile(c: Candidate): AuditError {
  const { segment } = c.source
  return new AuditError(
    ERROR_CODES.CORRUPT,
    `${segment} changed while it was read: the record at offset ${c.offset} (seq ${c.seq}) of the ${COPY_NAMES[c.copy]} copy no longer checks out (nothing may write a log while it is salvaged)`,
    { details: { segment, offset: c.offset, seq: c.seq, problem: 'checksum' } },
  )
}

/** A copy of candidate c's bytes [offset, end), checked against the CRC the scan saw. */
export function recordBytes(c: Candidate): Buffer {
  const i = recordIn(c)
  const { bytes, saltSeed } = c.source
  const len = c.end - c.offset
  if (bytes.buf.readUInt32LE(i + 4) !== c.crc || crc32c(bytes.buf, saltSeed, i + 8, i + len) !== c.crc)
    throw changedMeanwhile(c)
  return Buffer.from(bytes.buf.subarray(i, i + len))
}

/** The payload bytes of a salvaged record: a copy, read from its copy of the segment (see the module comment). */
export function payloadOf(c: Candidate): Buffer {
  return recordBytes(c).subarray(RECORD_HEADER_BYTES)
}

/** linkOk's scratch: the hash c must store when it links to prevHash. */
const LINK_SCRATCH = Buffer.alloc(HASH_BYTES)

/** Does c link to prevHash: is its stored hash the one it must store after prevHash? */
function linkOk(c: Candidate, prevHash: Buffer): boolean {
  const i = recordIn(c)
  const buf = c.source.bytes.buf
  recordHashInto(buf, i, i + c.end - c.offset, c.source.version, prevHash, LINK_SCRATCH, 0)
  return buf.compare(LINK_SCRATCH, 0, HASH_BYTES, i + 32, i + 64) === 0
}

/** The hash stored in record c (a copy). */
export function storedHash(c: Candidate): Buffer {
  const i = recordIn(c)
  return Buffer.from(c.source.bytes.buf.subarray(i + 32, i + 64))
}

/** For each candidate, the candidate that ends where it starts in the same copy (its neighbour on disk). */
function precedingRecords(copies: CopyScan[]): Map<Candidate, Candidate> {
  const m = new Map<Candidate, Candidate>()
  for (const c of copies)
    for (let i = 1; i < c.cands.length; i++)
      if (c.cands[i - 1]!.end === c.cands[i]!.offset) m.set(c.cands[i]!, c.cands[i - 1]!)
  return m
}

/**
 * Which of the candidates claiming one seq is the record (finding 7 of issue
 * 14: recover picks the record the chain proves, not the one that claims the
 * seq). With the previous record's hash known, the first candidate that links
 * to it, or none. Without it (right after a loss), the best-proven one: a
 * record of a later seq in the segment links to its stored hash (2), it links
 * to the stored hash of its neighbour on disk (2 when the neighbour's range
 * ends just before its seq, 1 otherwise: a record whose seq was edited keeps
 * its original hash, so the genuine next record still links to it); ties go
 * to the primary copy, then to file order.
 */
function pick(
  list: Candidate[],
  prevHash: Buffer | undefined,
  bySeq: Map<number, Candidate[]>,
  before: Map<Candidate, Candidate>,
): Candidate | undefined {
  if (prevHash !== undefined) return list.find((c) => linkOk(c, prevHash))
  if (list.length === 1) return list[0]
  let best = list[0]!
  let bestScore = -1
  for (const c of list) {
    let score = 0
    const h = storedHash(c)
    if ((bySeq.get(c.lastSeq + 1) ?? []).some((n) => linkOk(n, h))) score += 2
    const p = before.get(c)
    if (p !== undefined && linkOk(c, storedHash(p))) score += p.lastSeq + 1 === c.seq ? 2 : 1
    if (score > bestScore) {
      best = c
      bestScore = score
    }
  }
  return best
}

/** Where the salvage stands between segments. */
export interface SalvageState {
  nextSeq: number
  /** Stored hash of the record nextSeq − 1 when it was used, else undefined (the next link cannot be checked). */
  prevHash: Buffer | undefined
  /** Last intact record with COMMIT seen (for the uncommitted tail). */
  lastCommitSeq: number
}

export function initialState(): SalvageState {
  return { nextSeq: 1, prevHash: Buffer.alloc(HASH_BYTES), lastCommitSeq: 0 }
}

/** What the steps of mergeSegment share while they merge one segment. */
interface MergeCtx {
  name: string
  nameSeq: number
  nextNameSeq: number | undefined
  copies: CopyScan[]
  state: SalvageState
  /** The copy whose header checks out and matches the file name. */
  good: CopyScan | undefined
  /** Lost ranges are located in the primary copy unless it is absent or unreadable. */
  pref: CopyScan
  /** The first header problem other than a missing file. */
  headerReason: string | undefined
  items: SalvageItem[]
  skipped: SkippedRecord[]
  repairs: RepairRange[]
  clean: boolean
  /** The last record used in this segment. */
  prevChosen: Chosen | undefined
  /** Where the last record used (or lost for the chain) in this segment ends. */
  prevEndInSeg: number
}

function newMergeCtx(
  name: string,
  nameSeq: number,
  nextNameSeq: number | undefined,
  copies: CopyScan[],
  state: SalvageState,
): MergeCtx {
  const good = copies.find((c) => c.header !== undefined)
  const pref = copies.find((c) => c.present && c.saltKnown) ?? copies.find((c) => c.present) ?? copies[0]!
  return {
    name,
    nameSeq,
    nextNameSeq,
    copies,
    state,
    good,
    pref,
    headerReason: copies.map((c) => c.headerProblem).find((p) => p !== undefined && p !== 'missing'),
    items: [],
    skipped: [],
    repairs: [],
    clean: good !== undefined,
    prevChosen: undefined,
    prevEndInSeg: good?.start ?? pref.start,
  }
}

function skip(ctx: MergeCtx, c: Candidate, reason: SkippedRecord['reason'], message: string): void {
  ctx.skipped.push({ seq: c.seq, segment: ctx.name, offset: c.offset, copy: COPY_NAMES[c.copy]!, reason, message })
  ctx.clean = false
}

/** Do a and b hold the same bytes? Read through their copies' windows (one of them copied out when both are in one copy). */
function sameBytes(a: Candidate, b: Candidate): boolean {
  if (a === b) return true
  const len = a.end - a.offset
  if (b.end - b.offset !== len || a.crc !== b.crc) return false
  if (a.source.bytes === b.source.bytes) return recordBytes(a).equals(recordBytes(b))
  const i = recordIn(a)
  const k = recordIn(b)
  return a.source.bytes.buf.subarray(i, i + len).equals(b.source.bytes.buf.subarray(k, k + len))
}

/** Seqs before this segment that no segment holds: a missing segment. */
function lostBeforeSegment(ctx: MergeCtx): void {
  const { state, nameSeq } = ctx
  if (state.nextSeq >= nameSeq) return
  ctx.items.push({
    kind: 'lost',
    range: {
      fromSeq: state.nextSeq,
      toSeq: nameSeq - 1,
      segment: segmentFileName(state.nextSeq),
      offset: 0,
      bytes: 0,
      reason: 'missing-segment',
      message: `no segment holds seqs ${state.nextSeq}..${nameSeq - 1}: the segment file(s) before ${ctx.name} are missing`,
    },
  })
  state.nextSeq = nameSeq
  state.prevHash = undefined
  ctx.clean = false
}

/**
 * The chain start of a good header: it is the link to check when the segment
 * before is unknown; when it is known, a header that does not continue its
 * chain is reported (its records are still checked against that segment's last
 * hash). Returns whether the chain start is broken.
 */
function checkChainStart(ctx: MergeCtx): boolean {
  const { state, good } = ctx
  if (state.nextSeq !== ctx.nameSeq || good === undefined) return false
  if (state.prevHash === undefined) {
    state.prevHash = Buffer.from(good.header!.chainStart)
    return false
  }
  if (state.prevHash.equals(good.header!.chainStart)) return false
  ctx.clean = false
  return true
}

/**
 * Candidates by seq, primary copy first, then in file order. Two records of
 * one copy may claim the same seq (a seq edited with its CRC recomputed, or a
 * batch written again): the hash chain decides which one is the record (pick).
 */
function groupBySeq(ctx: MergeCtx): Map<number, Candidate[]> {
  const bySeq = new Map<number, Candidate[]>()
  for (const c of ctx.copies) {
    for (const cand of c.cands) {
      if (cand.seq < ctx.nameSeq || (ctx.nextNameSeq !== undefined && cand.seq >= ctx.nextNameSeq)) {
        skip(ctx, cand, 'out-of-place', `seq ${cand.seq} does not belong in ${ctx.name}`)
        continue
      }
      const list = bySeq.get(cand.seq)
      if (list === undefined) bySeq.set(cand.seq, [cand])
      else list.push(cand)
    }
  }
  return bySeq
}

/** Seqs fromSeq..toSeq lost in this segment, from the end of the last record used up to endOff (the file's end when undefined). */
function lostHere(
  ctx: MergeCtx,
  fromSeq: number,
  toSeq: number,
  endOff: number | undefined,
  reasonHint?: string,
): void {
  const { copies, pref, name } = ctx
  const startOff = ctx.prevEndInSeg
  const stop = endOff ?? Math.max(...copies.map((c) => c.size))
  const seqs = fromSeq === toSeq ? `seq ${fromSeq} is` : `seqs ${fromSeq}..${toSeq} are`
  if (endOff === undefined && copies.every((c) => !c.present || c.size <= startOff)) {
    // The segment ends cleanly at a record boundary, before the next segment's
    // first seq: nothing of this segment is lost (it stays clean), the seqs are in no file.
    ctx.items.push({
      kind: 'lost',
      range: {
        fromSeq,
        toSeq,
        segment: segmentFileName(fromSeq),
        offset: 0,
        bytes: 0,
        reason: 'missing-segment',
        message: `${seqs} in no segment: ${name} ends cleanly at offset ${startOff} and the next segment starts at seq ${toSeq + 1} (a segment file is missing, or ${name} was cut at a record boundary)`,
      },
    })
    return
  }
  ctx.clean = false
  const spotIn = (c: CopyScan): DamagedBytes | undefined =>
    c.spots.find((s) => s.offset + s.bytes > startOff && s.offset < stop)
  // No damage there, but a record that checks out and was not used: it does not fit the chain (an edited seq).
  const unfit = ctx.skipped.some((k) => k.reason === 'chain' && k.offset >= startOff && k.offset < stop)
  let reason = reasonHint ?? spotIn(pref)?.problem ?? (unfit ? 'chain' : undefined)
  if (!pref.saltKnown && ctx.headerReason !== undefined) reason = `header-${ctx.headerReason}`
  if (!pref.present) reason = 'missing-segment'
  reason ??= startOff >= pref.size ? 'truncated' : 'unknown'
  let message = `${seqs} not intact in the ${COPY_NAMES[pref.copy]} copy of ${name} from offset ${startOff} (${reason})`
  for (const other of copies) {
    if (other === pref) continue
    const why = !other.present
      ? 'missing-segment'
      : !other.saltKnown
        ? `header-${other.headerProblem}`
        : (spotIn(other)?.problem ?? (startOff >= other.size ? 'truncated' : 'chain'))
    message += `, nor in the ${COPY_NAMES[other.copy]} copy (${why})`
  }
  ctx.items.push({
    kind: 'lost',
    range: { fromSeq, toSeq, segment: name, offset: startOff, bytes: Math.max(0, stop - startOff), reason, message },
  })
}

/** Report the candidates for seq s that were not chosen and are not the chosen record's identical twin. */
function skipRivals(ctx: MergeCtx, s: number, list: Candidate[], chosen: Candidate): void {
  for (const c of list) {
    if (c === chosen) continue
    if (c.copy === chosen.copy && sameBytes(c, chosen)) skip(ctx, c, 'duplicate', `a second record with seq ${s}`)
    else if (c.copy !== chosen.copy && !sameBytes(c, chosen))
      skip(ctx, c, 'chain', `the ${COPY_NAMES[c.copy]} copy of seq ${s} differs and does not chain`)
    else if (!sameBytes(c, chosen))
      skip(
        ctx,
        c,
        'chain',
        `seq ${s} is claimed by two records; the one at offset ${chosen.offset} is the one the hash chain proves, this one is not (its seq or content was changed, or it was written by someone else)`,
      )
  }
}

/** Seq s has candidates but none chains: they are skipped and their range is lost. */
function loseUnchained(ctx: MergeCtx, s: number, list: Candidate[]): void {
  for (const c of list)
    skip(
      ctx,
      c,
      'chain',
      `seq ${s} checks out on its own but does not chain to seq ${s - 1} (modified, or re-sealed by someone else)`,
    )
  lostHere(ctx, s, list[0]!.lastSeq, list[0]!.end, 'chain')
  ctx.state.nextSeq = list[0]!.lastSeq + 1
  ctx.state.prevHash = undefined
  ctx.prevEndInSeg = list[0]!.end
}

/** Mirror repair: the chosen record (seq s) is damaged or absent in the other copy; adjacent repairs are merged. */
function mirrorRepairs(ctx: MergeCtx, s: number, list: Candidate[], chosen: Candidate): void {
  const { repairs } = ctx
  for (const c of ctx.copies) {
    if (c.copy === chosen.copy || !c.present) continue // a whole missing file is one repair, see headerRepairs
    const twin = list.find((x) => x.copy === c.copy && sameBytes(x, chosen)) ?? list.find((x) => x.copy === c.copy)
    if (twin !== undefined && (twin === chosen || sameBytes(twin, chosen))) continue
    const spot = c.spots.find((x) => x.offset <= chosen.offset && x.offset + x.bytes > chosen.offset)
    const problem = !c.present
      ? 'missing-segment'
      : !c.saltKnown
        ? `header-${c.headerProblem}`
        : twin !== undefined
          ? 'chain'
          : (spot?.problem ?? 'absent')
    const prev = repairs[repairs.length - 1]
    if (
      prev !== undefined &&
      prev.damagedIn === COPY_NAMES[c.copy] &&
      prev.problem === problem &&
      prev.offset + prev.bytes === chosen.offset &&
      prev.toSeq === s - 1
    ) {
      prev.bytes += chosen.end - chosen.offset
      prev.toSeq = chosen.lastSeq
    } else {
      repairs.push({
        segment: ctx.name,
        offset: chosen.offset,
        bytes: chosen.end - chosen.offset,
        fromSeq: s,
        toSeq: chosen.lastSeq,
        damagedIn: COPY_NAMES[c.copy]!,
        takenFrom: COPY_NAMES[chosen.copy]!,
        problem,
      })
    }
  }
}

/** Decide seq s: the record the chain proves (pick), the rivals it beats, the seqs lost before it, its mirror repairs. */
function mergeSeq(ctx: MergeCtx, s: number, bySeq: Map<number, Candidate[]>, before: Map<Candidate, Candidate>): void {
  const { state } = ctx
  const list = bySeq.get(s)!
  if (s < state.nextSeq) {
    for (const c of list) skip(ctx, c, 'duplicate', `seq ${s} appears again after seq ${state.nextSeq - 1}`)
    return
  }
  // After a loss the link to the record before cannot be checked: the chain
  // around each candidate decides instead (pick).
  const prevHash = s === state.nextSeq ? state.prevHash : undefined
  const chosen = pick(list, prevHash, bySeq, before)
  if (chosen !== undefined) skipRivals(ctx, s, list, chosen)
  if (s > state.nextSeq) {
    lostHere(ctx, state.nextSeq, s - 1, (chosen ?? list[0]!).offset)
    state.nextSeq = s
    state.prevHash = undefined
  }
  if (chosen === undefined) {
    loseUnchained(ctx, s, list)
    return
  }
  const rec: Chosen = { ...chosen, linkVerified: state.prevHash !== undefined }
  if (!rec.linkVerified || chosen.offset !== ctx.prevEndInSeg) ctx.clean = false
  mirrorRepairs(ctx, s, list, chosen)
  ctx.items.push({ kind: 'record', rec })
  ctx.prevChosen = rec
  ctx.prevEndInSeg = chosen.end
  state.nextSeq = chosen.lastSeq + 1
  state.prevHash = storedHash(chosen)
  if (chosen.flags & RecordFlag.COMMIT) state.lastCommitSeq = chosen.lastSeq
}

/** Header repairs (a copy's header is bad, the other's is good) and whole-file repairs (a copy is missing), listed first. */
function headerRepairs(ctx: MergeCtx): void {
  const { good, copies, repairs, name } = ctx
  if (good === undefined) return
  for (const c of copies) {
    if (c.header !== undefined || !c.present) continue
    repairs.unshift({
      segment: name,
      offset: 0,
      bytes: good.start,
      fromSeq: undefined,
      toSeq: undefined,
      damagedIn: COPY_NAMES[c.copy]!,
      takenFrom: COPY_NAMES[good.copy]!,
      problem: `header-${c.headerProblem}`,
    })
  }
  for (const c of copies) {
    if (c.present) continue
    const size = Math.max(...copies.map((x) => x.size))
    repairs.unshift({
      segment: name,
      offset: 0,
      bytes: size,
      fromSeq: ctx.nameSeq,
      toSeq: ctx.prevChosen?.seq,
      damagedIn: COPY_NAMES[c.copy]!,
      takenFrom: COPY_NAMES[good.copy]!,
      problem: 'missing-segment',
    })
  }
}

/**
 * The end of the segment: seqs up to the next segment that no copy holds, the
 * bytes after the last intact record (a torn write at the end of the log, or
 * garbage at the end of a sealed segment), and the uncommitted last batch.
 */
function segmentEnd(ctx: MergeCtx): Pick<SegmentResult, 'tail' | 'uncommitted'> {
  const { state, prevChosen, copies, pref } = ctx
  let tail: SegmentResult['tail']
  let uncommitted: SegmentResult['uncommitted']
  let endGap = false
  if (ctx.nextNameSeq !== undefined) {
    if (state.nextSeq < ctx.nextNameSeq) {
      lostHere(ctx, state.nextSeq, ctx.nextNameSeq - 1, undefined)
      endGap = true
    }
    state.nextSeq = Math.max(state.nextSeq, ctx.nextNameSeq)
    state.prevHash = endGap ? undefined : state.prevHash
    if (prevChosen === undefined || !(prevChosen.flags & RecordFlag.COMMIT)) ctx.clean = false
  }
  const end = ctx.prevEndInSeg
  const present = copies.filter((c) => c.present)
  if (!endGap && present.length > 0 && present.every((c) => c.size > end)) {
    const c = present.includes(pref) ? pref : present[0]!
    const spot = c.spots.find((s) => s.offset + s.bytes > end)
    const problem = !c.saltKnown ? `header-${c.headerProblem ?? 'unknown'}` : (spot?.problem ?? 'unknown')
    tail = { segment: ctx.name, offset: end, bytes: c.size - end, problem }
    ctx.clean = false
  }
  if (ctx.nextNameSeq === undefined && prevChosen !== undefined && state.lastCommitSeq < prevChosen.seq) {
    uncommitted = { fromSeq: Math.max(state.lastCommitSeq + 1, ctx.nameSeq), toSeq: prevChosen.seq }
    ctx.clean = false
  }
  return { tail, uncommitted }
}

/** Copies whose header is bad or missing, and a header that breaks the chain of the segment before. */
function badHeadersOf(ctx: MergeCtx, chainStartBroken: boolean): SegmentResult['badHeaders'] {
  const { good } = ctx
  const badHeaders = ctx.copies
    .filter((c) => c.headerProblem !== undefined)
    .map((c) => ({ copy: COPY_NAMES[c.copy]!, problem: c.headerProblem!, repaired: good !== undefined }))
  if (chainStartBroken) badHeaders.push({ copy: COPY_NAMES[good!.copy]!, problem: 'chain-start', repaired: false })
  return badHeaders
}

/** Merge the scans of one segment (one or two copies) into records and lost ranges, in seq order. */
export function mergeSegment(
  name: string,
  nameSeq: number,
  nextNameSeq: number | undefined,
  copies: CopyScan[],
  state: SalvageState,
): Omit<SegmentResult, 'bytesRead'> {
  const ctx = newMergeCtx(name, nameSeq, nextNameSeq, copies, state)
  lostBeforeSegment(ctx)
  const chainStartBroken = checkChainStart(ctx)
  const bySeq = groupBySeq(ctx)
  const before = precedingRecords(copies)
  for (const s of [...bySeq.keys()].sort((a, b) => a - b)) mergeSeq(ctx, s, bySeq, before)
  headerRepairs(ctx)
  const { tail, uncommitted } = segmentEnd(ctx)
  const badHeaders = badHeadersOf(ctx, chainStartBroken)
  return {
    name,
    nameSeq,
    last: nextNameSeq === undefined,
    items: ctx.items,
    skipped: ctx.skipped,
    repairs: ctx.repairs,
    header: ctx.good?.headerBytes,
    tail,
    uncommitted,
    clean: ctx.clean,
    badHeaders,
  }
}

/**
 * Salvage a WAL (and its mirror), one segment at a time, in seq order. The
 * union of both copies' segment names is walked; a name missing in one copy is
 * taken from the other. A segment's copies are open while its result is the
 * current one (payloadOf reads from them), and closed when the generator is
 * resumed, returned or fails.
 */
export async function* salvageSegments(dir: string, mirror?: string): AsyncGenerator<SegmentResult> {
  checkDir(dir, 'salvageSegments')
  if (mirror !== undefined) checkDir(mirror, 'salvageSegments', 'mirror')
  yield* salvageDirs(mirror === undefined ? [dir] : [dir, mirror])
}

/** salvageSegments over checked directories, reading through windows of windowBytes (tests pass small ones). */
export async function* salvageDirs(
  dirList: string[],
  windowBytes = FIXED.segmentWindowBytes,
): AsyncGenerator<SegmentResult> {
  const dirs = dirList.map((d) => path.resolve(d))
  const lists = await Promise.all(dirs.map((d) => listWal(d)))
  const names = [...new Set(lists.flatMap((l) => l.segments))].sort()
  const state = initialState()
  for (let i = 0; i < names.length; i++) {
    const name = names[i]!
    const nameSeq = parseSegmentFileName(name)!
    const nextNameSeq = i + 1 < names.length ? parseSegmentFileName(names[i + 1]!)! : undefined
    const files: ((SegmentBytes & { close(): void }) | undefined)[] = []
    try {
      for (const d of dirs) files.push(openIfPresent(path.join(d, name), windowBytes))
      const merged = salvageOne(name, nameSeq, nextNameSeq, files, state)
      yield { ...merged, bytesRead: files.reduce((a, b) => a + (b?.size ?? 0), 0) }
    } finally {
      for (const f of files) {
        if (f === undefined) continue
        closed.add(f)
        f.close()
      }
    }
  }
}

/** One segment: scan each copy (again with its twin's salt when its header is bad), check they agree, merge. */
function salvageOne(
  name: string,
  nameSeq: number,
  nextNameSeq: number | undefined,
  files: (SegmentBytes | undefined)[],
  state: SalvageState,
): Omit<SegmentResult, 'bytesRead'> {
  const first = files.map((b, k) => scanCopy(b, k as 0 | 1, nameSeq, undefined, name))
  // A copy whose header is damaged is scanned again with its twin's salt.
  const good = first.find((c) => c.header !== undefined)?.header
  const scans = first.map((c, k) =>
    c.present && c.header === undefined && good !== undefined ? scanCopy(files[k], k as 0 | 1, nameSeq, good, name) : c,
  )
  if (good !== undefined) {
    for (const c of scans) {
      if (c.header !== undefined && !c.header.salt.equals(good.salt)) {
        throw new AuditError(
          ERROR_CODES.CORRUPT,
          `the WAL and its mirror hold different histories: segment headers differ (segment ${name}, offset 0, seq ${nameSeq})`,
          {
            details: { segment: name, offset: 0, seq: nameSeq, problem: 'mirror-diverged' },
          },
        )
      }
    }
  }
  return mergeSegment(name, nameSeq, nextNameSeq, scans, state)
}
