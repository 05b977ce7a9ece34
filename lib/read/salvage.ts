/**
 * Salvage: every intact record of a damaged WAL, and an exact account of the
 * seqs that are not (lib/repair/recover.ts writes them into a new WAL; replay and
 * export use them with --salvage).
 *
 *   segment file(s) ──► headerOf: each copy's header (a bad one takes its twin's salt)
 *   (one per copy:  ──► scanCopy: walk records from the header's end; at damage,
 *    WAL [+ mirror])    resync by scanning for the record magic and checking the
 *                       CRC with the segment's salt (looksLikeRecord). Keeps only
 *                       the damage spots, the records whose seq is outside the
 *                       segment (skipped) and the few that do not fit the file
 *                       order (the side table), not the records
 *                   ──► mergeSegment: both copies walked again side by side in seq
 *                       order (SeqCursor), the side table joining at its seqs; each
 *                       record is checked against the hash chain where its
 *                       predecessor is known; seqs nobody has become LostRanges
 *                       naming the segment, offset, byte count and the problem found
 *                   ──► SegmentResult: skips, repairs, tail, clean… and the items
 *                       (records and lost ranges in seq order) as a plan: runs of
 *                       records used one after another, read a third time as the
 *                       consumer iterates them (walkPlan)
 *
 * Seq bounds come from the file names (a segment is named by its first seq), so
 * a lost range is exact even when a whole segment is gone. Only the end of the
 * log cannot be bounded: bytes after the last intact record of the last segment
 * are reported as the `tail` (an unknown number of records, or a torn write).
 *
 * Why three walks. The merge decides seq s from every record claiming s (both
 * copies; the chain picks among rivals), and a record claiming s may lie
 * anywhere in a file (a seq edited with its CRC recomputed, a batch written
 * again, records moved). The scan finds those (FileOrder: a record whose seq is
 * below the last in-order one, or above the next record's) and holds them in
 * the side table; every other record follows the file order with
 * nondecreasing seqs, so the merge takes them as the walk meets them and has
 * all candidates of s once both walks are past s. The result's summary (clean,
 * skipped, repairs, tail, uncommitted) needs the whole merge, and consumers
 * need it before the records (recover copies a clean segment byte for byte), so
 * the items are not kept but planned: a log as written is one run per segment.
 *
 * Each copy of a segment is read through a SegmentBytes window (shared/bytes.ts,
 * positioned reads), never whole. A candidate is metadata only (offset, end,
 * seq range, type, flags, time, stored CRC, and the copy it is in); the merge
 * reads a record's bytes again when it needs them (its hash link, its stored
 * hash, a comparison with its twin in the other copy), and so does
 * payloadOf(rec) / recordBytes(rec): each returns a copy of that one record's
 * bytes, checked against the CRC the scan saw (ERR_AUDIT_CORRUPT when the file
 * changed meanwhile; so does a later walk that no longer finds what the scan
 * or the merge found). recordView / payloadView lend the same bytes where they
 * are in the window instead (recover writes them before it reads on), and skip
 * the CRC when the window still holds the bytes walkPlan just checked. The
 * copies stay open while their SegmentResult is the current one: from the
 * yield until the generator is resumed (or returned), then they are closed;
 * reading a record or iterating the items after that is ERR_AUDIT_INVARIANT.
 * So a consumer iterates the items and takes payloads one at a time, inside
 * its loop.
 *
 * Input files are only read. Memory does not grow with a segment's records:
 * per copy one window (FIXED.segmentWindowBytes, or one record when a record is
 * larger), the records the merge has read ahead (FIXED.salvageLookaheadRecords
 * at most; in a log as written, one), and the side table
 * (FIXED.salvageOutOfOrderRecords records per segment at most). It grows with
 * the damage only: the spots, the plan's runs, and the reports (a skipped
 * record, a repair, a lost range each). Measured over a 143-MB segment of
 * 1,000,001 records of ~143 bytes (test/helpers/salvage-heap.ts, after a gc):
 * heap growth 651 MB before this design, 0.4 MB with it (docs/operations.md).
 *
 * Past the bounds: a record out of the file order beyond the side table's
 * FIXED.salvageOutOfOrderRecords (in file order) is not merged; it is reported
 * as skipped (reason out-of-place, its message names the bound), and a seq
 * only it held is lost with reason out-of-place: reported, never silently
 * dropped. Past FIXED.salvageLookaheadRecords read ahead, pick stops looking
 * for a later record that links to a rival (one of its two kinds of evidence).
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
 * window, with the salt (and format rules) its records were checked with. Not
 * serialized (toJSON).
 */
export class CopySource {
  constructor(
    readonly bytes: SegmentBytes,
    readonly segment: string,
    readonly copy: 0 | 1,
    readonly saltSeed: number,
    readonly rules: RecordRules = RULES_V2,
  ) {}

  /** The last record walkPlan yielded from this copy: its place, its CRC, and the window fill it was checked in. */
  private checked = { offset: -1, end: -1, crc: 0, fill: -1 }

  /** A record [offset, end) with this CRC was just found intact in the current window (walkPlan, as it yields it). */
  noteChecked(offset: number, end: number, crc: number): void {
    const k = this.checked
    k.offset = offset
    k.end = end
    k.crc = crc
    k.fill = this.bytes.fills
  }

  /** Whether the window still holds c's bytes as they were when found intact (a file's window, not refilled since). */
  stillChecked(c: Candidate): boolean {
    const k = this.checked
    return k.fill > 0 && k.fill === this.bytes.fills && k.offset === c.offset && k.end === c.end && k.crc === c.crc
  }

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

/** A candidate as a copy's walk meets it, with its neighbour on disk: the candidate that ends where it starts (pick). */
interface Met extends Candidate {
  before: Candidate | undefined
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
  /** The salt and rules its records are checked with (undefined: none found, so no record). */
  source: CopySource | undefined
  /** Records whose seq does not fit the file order, in file order: merged from a side table (FIXED.salvageOutOfOrderRecords). */
  aside: Met[]
  /** Records the scan already rules out: a seq outside the segment's range, or out of order past the side table's bound. */
  skipped: SkippedRecord[]
  /** How many of those are out of order past the side table's bound (FIXED.salvageOutOfOrderRecords). */
  unmerged: number
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
  /**
   * The problem found at offset: checksum, zero, magic, truncated, length, reserved, chain, duplicate,
   * header-<problem>, missing-segment; out-of-place when a record claiming them was not merged (it lay
   * out of the file order past FIXED.salvageOutOfOrderRecords).
   */
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
  /**
   * Records and lost ranges in seq order, read from the segment's copies as they
   * are iterated (see the module comment): iterate them while this result is the
   * current one. Each iteration reads them again; nothing holds them all.
   */
  items: Iterable<SalvageItem>
  /** The last record in items (undefined when there is none). */
  lastRecord: Chosen | undefined
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

/**
 * The record starting at off, when it checks out on its own (end in file
 * offsets); the bytes' window then holds all of it, until it is read again.
 */
function intactAt(b: SegmentBytes, off: number, saltSeed: number, rules: RecordRules): RecordFrame | undefined {
  const i = recordWindow(b, off, PAYLOAD_MAX)
  const r = looksLikeRecord(b.buf, i, b.filled, saltSeed, PAYLOAD_MAX, rules)
  if (r !== undefined) r.end += off - i // a frame made for this call: made file-relative in place
  return r
}

/** The candidate for the intact record r that intactAt just found at off in one copy (its window still holds it, CRC included). */
function candidateOf(r: RecordFrame, off: number, copy: Candidate['copy'], source: Candidate['source']): Candidate {
  const b = source.bytes
  const crc = b.buf.readUInt32LE(off - b.base + 4)
  return {
    type: r.type,
    lastSeq: r.lastSeq,
    seq: r.seq,
    timeMs: r.timeMs,
    flags: r.flags,
    batchIndex: r.batchIndex,
    offset: off,
    end: r.end,
    copy,
    crc,
    source,
  }
}

/** Candidate c as its copy's walk meets it, with its neighbour on disk (the fields spelled out: a spread costs more here). */
function metOf(c: Candidate, before: Candidate | undefined): Met {
  return {
    type: c.type,
    lastSeq: c.lastSeq,
    seq: c.seq,
    timeMs: c.timeMs,
    flags: c.flags,
    batchIndex: c.batchIndex,
    offset: c.offset,
    end: c.end,
    copy: c.copy,
    crc: c.crc,
    source: c.source,
    before,
  }
}

/** The problem of the bytes at off, in the order of docs/wal-format.md section 6 (seq and chain are checked later). */
function problemAt(b: SegmentBytes, off: number, saltSeed: number): string {
  const i = recordWindow(b, off, PAYLOAD_MAX)
  const r = checkRecord(b.buf, i, b.filled, saltSeed, -1, Buffer.alloc(HASH_BYTES), PAYLOAD_MAX)
  return r.ok ? 'unknown' : r.problem
}

/**
 * A copy's header: what its records are checked with (salt, rules, where they
 * start), from its own header, or from its twin's when its own is bad (the
 * copies are byte-identical: the twin's salt is this file's salt). Without a
 * twin, the salt bytes as they are: a record that checks out with them proves
 * them. The records are not read yet (scanCopy).
 */
export function headerOf(
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
    source: undefined,
    aside: [],
    skipped: [],
    unmerged: 0,
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
  scan.size = b.size
  if (saltSeed !== undefined && b.size > start) {
    scan.source = new CopySource(b, name, copy, saltSeed, rules)
    scan.saltKnown = scan.header !== undefined || twin !== undefined
  }
  return scan
}

/**
 * One copy's records in file order, produced on demand from its window: walk
 * from where records start; at damage, resync on the next record that checks
 * out (the loose step of shared/scan.ts). The candidates keep no bytes, only
 * where they are, and the one before them on disk when it ends where they start.
 */
class CopyWalk {
  private off: number
  private prev: Candidate | undefined

  constructor(
    private readonly src: CopySource,
    start: number,
    /** Where damaged bytes are noted, with their problem (the first walk of a copy; later ones skip that work). */
    private readonly spots: DamagedBytes[] | undefined,
  ) {
    this.off = start
  }

  next(): Met | undefined {
    const { bytes: b, saltSeed, rules, copy } = this.src
    // b.size, not a size taken once: it shrinks when the file was cut while it is read.
    while (this.off < b.size) {
      const off = this.off
      const r = intactAt(b, off, saltSeed, rules)
      if (r !== undefined) {
        const c = candidateOf(r, off, copy, this.src)
        const before = this.prev !== undefined && this.prev.end === off ? this.prev : undefined
        this.prev = c
        this.off = r.end
        return metOf(c, before)
      }
      const next = nextIntact(b, off + 1, b.size, saltSeed, PAYLOAD_MAX, rules)?.offset ?? b.size
      this.spots?.push({ offset: off, bytes: next - off, problem: problemAt(b, off, saltSeed) })
      this.off = next
    }
    return undefined
  }
}

/**
 * Which of a copy's records (of the segment's seq range, in file order) follow
 * the file order of seqs, and which are set aside: a record whose seq is below
 * the last one that followed it, or above the next record's while that one
 * still follows (one record of lookahead: a seq edited upwards). The records
 * that follow it have nondecreasing seqs, so a merge can take them as they
 * come; the ones set aside are merged from a side table. Deterministic: every
 * walk of the same bytes sets aside the same records.
 */
class FileOrder {
  private last = -Infinity
  private pending: Met | undefined

  /** Feed the next record (undefined at the end); returns the one before it, judged. */
  feed(n: Met | undefined): { c: Met; aside: boolean } | undefined {
    const p = this.pending
    this.pending = n
    if (p === undefined) return undefined
    const aside = p.seq < this.last || (n !== undefined && n.seq >= this.last && n.seq < p.seq)
    if (!aside) this.last = p.seq
    return { c: p, aside }
  }
}

/** The seqs a segment holds: from its name's seq up to the next segment's. */
function inSegment(c: Candidate, nameSeq: number, nextNameSeq: number | undefined): boolean {
  return c.seq >= nameSeq && (nextNameSeq === undefined || c.seq < nextNameSeq)
}

/**
 * Walk one copy of a segment once (its header read by headerOf): note its
 * damaged bytes, rule out the records whose seq is outside the segment's range
 * (skipped, out-of-place), and keep the ones that do not fit the file order in
 * its side table (FIXED.salvageOutOfOrderRecords of them; the ones past that are
 * skipped, out-of-place). Nothing else is kept: the merge walks the copy again.
 */
export function scanCopy(scan: CopyScan, nameSeq: number, nextNameSeq: number | undefined, name: string): CopyScan {
  const src = scan.source
  if (src === undefined) return scan
  const walk = new CopyWalk(src, scan.start, scan.spots)
  const order = new FileOrder()
  const skip = (c: Candidate, message: string): void => {
    scan.skipped.push({
      seq: c.seq,
      segment: name,
      offset: c.offset,
      copy: COPY_NAMES[scan.copy]!,
      reason: 'out-of-place',
      message,
    })
  }
  let met = 0
  for (let done = false; !done;) {
    const c = walk.next()
    if (c === undefined) done = true
    else {
      met++
      if (!inSegment(c, nameSeq, nextNameSeq)) {
        skip(c, `seq ${c.seq} does not belong in ${name}`)
        continue
      }
    }
    const judged = order.feed(c)
    if (judged === undefined || !judged.aside) continue
    if (scan.aside.length < FIXED.salvageOutOfOrderRecords) scan.aside.push(judged.c)
    else {
      scan.unmerged++
      skip(
        judged.c,
        `seq ${judged.c.seq} is out of the file order of ${name}, past the ${FIXED.salvageOutOfOrderRecords} such records salvage holds aside per segment (FIXED.salvageOutOfOrderRecords): not merged`,
      )
    }
  }
  scan.size = src.bytes.size
  scan.saltKnown ||= met > 0
  return scan
}

/**
 * The records of one copy that follow its file order (FileOrder), taken in
 * seq order by the merge: a second walk of the copy, read ahead on demand
 * (FIXED.salvageLookaheadRecords at most). The records the scan set aside are
 * passed over here (the merge has them from the side table); meeting other
 * ones means the file changed since the scan.
 */
class SeqCursor {
  private readonly walk: CopyWalk
  private readonly order = new FileOrder()
  private buf: (Met | undefined)[] = []
  private head = 0
  private ended = false
  private asideMet = 0

  constructor(
    private readonly scan: CopyScan,
    private readonly nameSeq: number,
    private readonly nextNameSeq: number | undefined,
  ) {
    this.walk = new CopyWalk(scan.source!, scan.start, undefined)
  }

  private get buffered(): number {
    return this.buf.length - this.head
  }

  /** Read the next record that follows the file order into the buffer; false at the end. */
  private more(): boolean {
    while (!this.ended) {
      const n = this.walk.next()
      if (n === undefined) this.ended = true
      else if (!inSegment(n, this.nameSeq, this.nextNameSeq)) continue
      const judged = this.order.feed(n)
      if (judged === undefined) continue
      if (judged.aside) {
        const k = this.asideMet++
        const want = this.scan.aside[k]
        if (want === undefined ? k < FIXED.salvageOutOfOrderRecords : want.offset !== judged.c.offset)
          throw changedMeanwhile(judged.c)
        continue
      }
      this.buf.push(judged.c)
      return true
    }
    if (this.asideMet < this.scan.aside.length) throw changedMeanwhile(this.scan.aside[this.asideMet]!)
    return false
  }

  /** The next record in seq order, not taken. */
  peek(): Met | undefined {
    if (this.buffered === 0 && !this.more()) return undefined
    return this.buf[this.head]
  }

  /** Take the records of seq s (they are next: the order is nondecreasing). */
  take(s: number): Met[] {
    const out: Met[] = []
    while (this.peek()?.seq === s) {
      out.push(this.buf[this.head]!)
      this.buf[this.head++] = undefined
    }
    if (this.head > 1024 && this.head * 2 > this.buf.length) {
      this.buf = this.buf.slice(this.head)
      this.head = 0
    }
    return out
  }

  /** The records of seq t not taken yet, read ahead up to the first later seq (or the lookahead bound). */
  lookup(t: number): Met[] {
    while (
      (this.buffered === 0 || this.buf[this.buf.length - 1]!.seq <= t) &&
      this.buffered < FIXED.salvageLookaheadRecords &&
      this.more()
    );
    const out: Met[] = []
    for (let i = this.head; i < this.buf.length; i++) if (this.buf[i]!.seq === t) out.push(this.buf[i]!)
    return out
  }
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
  return changedAt(c.source, c.offset, c.seq)
}

function changedAt(source: CopySource, offset: number, seq: number): AuditError {
  const { segment, copy } = source
  return new AuditError(
    ERROR_CODES.CORRUPT,
    `${segment} changed while it was read: the record at offset ${offset} (seq ${seq}) of the ${COPY_NAMES[copy]} copy no longer checks out (nothing may write a log while it is salvaged)`,
    { details: { segment, offset, seq, problem: 'checksum' } },
  )
}

/**
 * Candidate c's bytes [offset, end) where they are in its copy's window, not
 * copied: valid until that copy is read again (by the next item, or by any
 * record or payload of the segment asked for). Checked against the CRC the
 * scan saw, unless the window still holds the very bytes whose CRC was just
 * checked (CopySource.stillChecked: walkPlan checks each record as it yields it).
 */
export function recordView(c: Candidate): Buffer {
  const i = recordIn(c)
  const { bytes, saltSeed } = c.source
  const len = c.end - c.offset
  if (
    !c.source.stillChecked(c) &&
    (bytes.buf.readUInt32LE(i + 4) !== c.crc || crc32c(bytes.buf, saltSeed, i + 8, i + len) !== c.crc)
  )
    throw changedMeanwhile(c)
  return bytes.buf.subarray(i, i + len)
}

/** A copy of candidate c's bytes [offset, end), checked as recordView checks them. */
export function recordBytes(c: Candidate): Buffer {
  return Buffer.from(recordView(c))
}

/** The payload bytes of a salvaged record: a copy, read from its copy of the segment (see the module comment). */
export function payloadOf(c: Candidate): Buffer {
  return recordBytes(c).subarray(RECORD_HEADER_BYTES)
}

/** The payload bytes of a salvaged record, not copied: valid as long as recordView's are. */
export function payloadView(c: Candidate): Buffer {
  return recordView(c).subarray(RECORD_HEADER_BYTES)
}

/** linkOk's scratch: the hash c must store when it links to prevHash. */
const LINK_SCRATCH = Buffer.alloc(HASH_BYTES)

/** Does c link to prevHash: is its stored hash the one it must store after prevHash? */
function linkOk(c: Candidate, prevHash: Buffer): boolean {
  const i = recordIn(c)
  const buf = c.source.bytes.buf
  recordHashInto(buf, i, i + c.end - c.offset, c.source.rules.version, prevHash, LINK_SCRATCH, 0)
  return buf.compare(LINK_SCRATCH, 0, HASH_BYTES, i + 32, i + 64) === 0
}

/** The hash stored in record c (a copy). */
export function storedHash(c: Candidate): Buffer {
  const i = recordIn(c)
  return Buffer.from(c.source.bytes.buf.subarray(i + 32, i + 64))
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
 * to the primary copy, then to file order. bySeq(seq) gives the candidates of
 * a later seq (read ahead: FIXED.salvageLookaheadRecords per copy at most).
 */
function pick(list: Met[], prevHash: Buffer | undefined, bySeq: (seq: number) => Candidate[]): Met | undefined {
  if (prevHash !== undefined) return list.find((c) => linkOk(c, prevHash))
  if (list.length === 1) return list[0]
  let best = list[0]!
  let bestScore = -1
  for (const c of list) {
    let score = 0
    const h = storedHash(c)
    if (bySeq(c.lastSeq + 1).some((n) => linkOk(n, h))) score += 2
    const p = c.before
    if (p !== undefined && linkOk(c, storedHash(p))) score += p.lastSeq + 1 === c.seq ? 2 : 1
    if (score > bestScore) {
      best = c
      bestScore = score
    }
  }
  return best
}

/**
 * What a segment's items are, kept while it is merged: a run of records used
 * one after another (one copy, each starting where the one before ends, each
 * linked to it), or a lost range. A log as written is one run per segment, so
 * the plan grows with the damage, not with the records.
 */
type PlanItem =
  | {
      kind: 'run'
      source: CopySource
      offset: number
      end: number
      count: number
      fromSeq: number
      /** The seq after the run's last record. */
      nextSeq: number
      /** linkVerified of its first record (the others' links were all checked). */
      firstLinkVerified: boolean
    }
  | { kind: 'lost'; range: LostRange }

/** Candidate c as an item, with linkVerified (its own fields only: not its neighbour). */
function chosenOf(c: Candidate, linkVerified: boolean): Chosen {
  return {
    type: c.type,
    lastSeq: c.lastSeq,
    seq: c.seq,
    timeMs: c.timeMs,
    flags: c.flags,
    batchIndex: c.batchIndex,
    offset: c.offset,
    end: c.end,
    copy: c.copy,
    crc: c.crc,
    source: c.source,
    linkVerified,
  }
}

/** Add a record used to the plan: it extends the last run when it continues it on disk and in the chain. */
function planRecord(plan: PlanItem[], rec: Chosen): void {
  const last = plan[plan.length - 1]
  if (
    last?.kind === 'run' &&
    last.source === rec.source &&
    last.end === rec.offset &&
    last.nextSeq === rec.seq &&
    rec.linkVerified
  ) {
    last.end = rec.end
    last.count++
    last.nextSeq = rec.lastSeq + 1
    return
  }
  plan.push({
    kind: 'run',
    source: rec.source,
    offset: rec.offset,
    end: rec.end,
    count: 1,
    fromSeq: rec.seq,
    nextSeq: rec.lastSeq + 1,
    firstLinkVerified: rec.linkVerified,
  })
}

/**
 * The items of a plan, read again from the copies (while their segment is the
 * current one): each record of a run is checked on its own again (CRC with the
 * salt) and must be the one the merge used (its seq, where it ends), else the
 * file changed meanwhile (ERR_AUDIT_CORRUPT).
 */
function* walkPlan(plan: readonly PlanItem[]): Generator<SalvageItem> {
  for (const p of plan) {
    if (p.kind === 'lost') {
      yield { kind: 'lost', range: p.range }
      continue
    }
    const { bytes, saltSeed, rules, copy, segment } = p.source
    invariant(
      !closed.has(bytes),
      `the ${COPY_NAMES[copy]} copy of ${segment} is closed: salvaged items can be read only while their segment's result is the current one`,
    )
    let off = p.offset
    let seq = p.fromSeq
    for (let k = 0; k < p.count; k++) {
      const r = off < bytes.size ? intactAt(bytes, off, saltSeed, rules) : undefined
      const rec: Chosen | undefined =
        r === undefined
          ? undefined
          : chosenOf(candidateOf(r, off, copy, p.source), k === 0 ? p.firstLinkVerified : true)
      if (rec === undefined || rec.seq !== seq || (k === p.count - 1 && rec.end !== p.end))
        throw changedAt(p.source, off, seq)
      // Its CRC was just checked in the window its consumer reads it from (recordView).
      p.source.noteChecked(rec.offset, rec.end, rec.crc)
      yield { kind: 'record', rec }
      off = rec.end
      seq = rec.lastSeq + 1
    }
  }
}

/** A re-iterable view of a plan's items (each iteration reads the records again). */
function itemsOf(plan: readonly PlanItem[]): Iterable<SalvageItem> {
  return { [Symbol.iterator]: () => walkPlan(plan) }
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
  /** The items, as runs of records to read again when they are iterated (walkPlan), and lost ranges. */
  plan: PlanItem[]
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
    plan: [],
    // The scan's skips come first (as they did when the whole segment was grouped by seq first).
    skipped: copies.flatMap((c) => c.skipped),
    repairs: [],
    clean: good !== undefined && copies.every((c) => c.skipped.length === 0),
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
  ctx.plan.push({
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
 * Every seq of the segment that some record claims, in seq order, with its
 * candidates: primary copy first, then in file order. Two records of one copy
 * may claim the same seq (a seq edited with its CRC recomputed, or a batch
 * written again): the hash chain decides which one is the record (pick). The
 * copies are walked again side by side (SeqCursor: the records that follow
 * their file order, nondecreasing seqs) and the records the scan set aside
 * join at their seq, so each seq's candidates are all known when it is decided.
 */
function mergeBySeq(ctx: MergeCtx): void {
  const { copies, nameSeq, nextNameSeq } = ctx
  const cursors = copies.map((c) => (c.source === undefined ? undefined : new SeqCursor(c, nameSeq, nextNameSeq)))
  const side = new Map<number, Met[]>()
  for (const c of copies) {
    for (const m of c.aside) {
      const list = side.get(m.seq)
      if (list === undefined) side.set(m.seq, [m])
      else list.push(m)
    }
  }
  const sideSeqs = [...side.keys()].sort((a, b) => a - b)
  let next = 0
  const bySeq = (t: number): Candidate[] => [...cursors.flatMap((k) => k?.lookup(t) ?? []), ...(side.get(t) ?? [])]
  for (;;) {
    let s = sideSeqs[next] ?? Infinity
    for (const k of cursors) {
      const h = k?.peek()
      if (h !== undefined && h.seq < s) s = h.seq
    }
    if (s === Infinity) return
    const aside = side.get(s) ?? []
    const list: Met[] = []
    cursors.forEach((k, copy) => {
      const mine = k?.take(s) ?? []
      const held = aside.filter((m) => m.copy === copy)
      list.push(...(held.length === 0 ? mine : [...mine, ...held].sort((a, b) => a.offset - b.offset)))
    })
    if (sideSeqs[next] === s) {
      side.delete(s)
      next++
    }
    mergeSeq(ctx, s, list, bySeq)
  }
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
    ctx.plan.push({
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
  // A record that claims one of these seqs was not merged: it lies out of the file order past the side table's bound.
  const unmerged =
    copies.some((c) => c.unmerged > 0) &&
    ctx.skipped.some((k) => k.reason === 'out-of-place' && k.seq >= fromSeq && k.seq <= toSeq)
  let reason =
    reasonHint ?? (unmerged ? 'out-of-place' : undefined) ?? spotIn(pref)?.problem ?? (unfit ? 'chain' : undefined)
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
  ctx.plan.push({
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
function mergeSeq(ctx: MergeCtx, s: number, list: Met[], bySeq: (seq: number) => Candidate[]): void {
  const { state } = ctx
  if (s < state.nextSeq) {
    for (const c of list) skip(ctx, c, 'duplicate', `seq ${s} appears again after seq ${state.nextSeq - 1}`)
    return
  }
  // After a loss the link to the record before cannot be checked: the chain
  // around each candidate decides instead (pick).
  const prevHash = s === state.nextSeq ? state.prevHash : undefined
  const chosen = pick(list, prevHash, bySeq)
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
  const rec = chosenOf(chosen, state.prevHash !== undefined)
  if (!rec.linkVerified || chosen.offset !== ctx.prevEndInSeg) ctx.clean = false
  mirrorRepairs(ctx, s, list, chosen)
  planRecord(ctx.plan, rec)
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
  mergeBySeq(ctx)
  headerRepairs(ctx)
  const { tail, uncommitted } = segmentEnd(ctx)
  const badHeaders = badHeadersOf(ctx, chainStartBroken)
  return {
    name,
    nameSeq,
    last: nextNameSeq === undefined,
    items: itemsOf(ctx.plan),
    lastRecord: ctx.prevChosen,
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

/** One segment: read each copy's header (its twin's salt when its own is bad), check they agree, scan each copy, merge. */
function salvageOne(
  name: string,
  nameSeq: number,
  nextNameSeq: number | undefined,
  files: (SegmentBytes | undefined)[],
  state: SalvageState,
): Omit<SegmentResult, 'bytesRead'> {
  const first = files.map((b, k) => headerOf(b, k as 0 | 1, nameSeq, undefined, name))
  // A copy whose header is damaged is read with its twin's salt.
  const good = first.find((c) => c.header !== undefined)?.header
  const heads = first.map((c, k) =>
    c.present && c.header === undefined && good !== undefined ? headerOf(files[k], k as 0 | 1, nameSeq, good, name) : c,
  )
  if (good !== undefined) {
    for (const c of heads) {
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
  const scans = heads.map((c) => scanCopy(c, nameSeq, nextNameSeq, name))
  return mergeSegment(name, nameSeq, nextNameSeq, scans, state)
}
