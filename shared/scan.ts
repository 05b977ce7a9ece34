/**
 * The one record walker, and what a stop in the last segment means. Every
 * reader of segment bytes uses it: open-time resume (writer), readLog and
 * verifyLog, salvage, the monitor. A record type or flag is taught to
 * shared/format.ts (frameAt) and to nothing else.
 *
 *   RecordCursor   strict walk: each record must check out (framing, CRC,
 *                  type) AND continue the segment (seq, hash chain, batchIndex
 *                  0, 1, 2, ... restarting after every COMMIT, nothing after a
 *                  SEALED record); it stops at the first record that does not
 *   .nextIntact()  loose walk (salvage): the next record that checks out on its
 *                  own, skipping damage; chain and seq are the caller's business
 *   scanSegment    a strict walk of one whole segment, summarized
 *   classifyTail   what a stop in the LAST segment means:
 *     'clean'   nothing after the last committed batch;
 *     'zeros'   only zero bytes after it: space a running (or crashed) writer
 *               zero-filled ahead of its next batch (workers/writer/appender.ts),
 *               or writes that never reached the disk. Recovery cuts it without
 *               a side file and says so; readers stop there and report it;
 *     'torn'    a batch that a torn write explains (docs/wal-format.md, "The
 *               torn-write rule"): recovery cuts it into a side file, readers
 *               stop there;
 *     'corrupt' anything else: damage inside acknowledged data, or tampering.
 *               Refuse, and name the place.
 *
 * Every function takes the segment as Bytes: a Buffer, or a SegmentBytes that
 * reads the file through a bounded window (shared/bytes.ts). The walk is the
 * same either way (same stops, problems and offsets; offsets are always the
 * segment's): a record is checked once the window holds all of it (its header,
 * then its claimed length, never more than the file), so memory is a window
 * or one record, not the segment. classifyTail reads the bytes after the last
 * commit the same way; the torn-write rule looks at no more than the segment's
 * batchBytesMax of them.
 */

import { type Bytes, bytesOf, SegmentBytes } from './bytes.js'
import {
  checkRecord,
  decodeSegmentHeader,
  GENESIS_HASH,
  HASH_BYTES,
  looksLikeRecord,
  RECORD_HEADER_BYTES,
  RECORD_MAGIC,
  type RecordFrame,
  type RecordOk,
  type RecordProblem,
  type RecordRules,
  RecordFlag,
  readU64,
  SEGMENT_HEADER_BYTES,
  type SegmentHeader,
} from './format.js'

/** Where a walk stopped, and why. */
export interface WalkStop {
  offset: number
  problem: RecordProblem
  /** The seq that was expected at offset. */
  seq: number
}

/** A strict walk through one segment's records, from a known seq and hash. */
export class RecordCursor {
  /** Offset of the next record. */
  offset: number
  /** The seq the next record must start at. */
  seq: number
  /** The hash the next record must chain to. */
  readonly hash: Buffer
  /** The hash the record next() returned last chains to (its leaf's prevHash in a v2 segment). */
  readonly prevHash = Buffer.alloc(HASH_BYTES)
  /** The batchIndex the next record must carry. */
  batchIndex: number
  /** A SEALED record was passed: nothing may follow it in this segment. */
  sealed = false
  /** The bytes walked (the window holds the last record returned until next() is called again). */
  readonly bytes: SegmentBytes

  constructor(
    bytes: Bytes,
    private readonly header: SegmentHeader,
    private readonly payloadBytesMax: number,
    from: { offset: number; seq: number; hash: Buffer; batchIndex?: number },
  ) {
    this.bytes = bytesOf(bytes)
    this.offset = from.offset
    this.seq = from.seq
    this.hash = Buffer.from(from.hash)
    this.batchIndex = from.batchIndex ?? 0
  }

  /**
   * The next record when it checks out and continues the walk; a stop otherwise;
   * undefined at the end of the bytes. A record's offsets (payloadOff, end) are
   * the segment's; its payload is in bytes.buf at payloadOff - bytes.base until
   * the next call.
   */
  next(): RecordOk | WalkStop | undefined {
    const { bytes, offset } = this
    if (offset >= bytes.size) return undefined
    if (this.sealed) return { offset, problem: 'reserved', seq: this.seq }
    const i = recordWindow(bytes, offset, this.payloadBytesMax)
    const base = bytes.base
    this.hash.copy(this.prevHash)
    const r = checkRecord(bytes.buf, i, bytes.filled, this.header.saltSeed, this.seq, this.hash, this.payloadBytesMax, this.header.rules)
    if (!r.ok) return { offset, problem: r.problem, seq: this.seq }
    r.payloadOff += base
    r.end += base
    if (r.batchIndex !== this.batchIndex) {
      this.prevHash.copy(this.hash)
      return { offset, problem: 'batch', seq: this.seq }
    }
    this.batchIndex = r.flags & RecordFlag.COMMIT ? 0 : this.batchIndex + 1
    this.sealed = (r.flags & RecordFlag.SEALED) !== 0
    this.seq = r.lastSeq + 1
    this.offset = r.end
    return r
  }
}

/**
 * Make the record at off readable as a whole: its header, then (when the
 * header's magic and length are plausible) its claimed length, never past the
 * end of the bytes. Returns off's index in bytes.buf. The window then ends at
 * or after the record's end, or at the end of the bytes, so frameAt and
 * checkRecord, given the window's end, judge exactly as they would with the
 * whole segment.
 */
export function recordWindow(bytes: SegmentBytes, off: number, payloadBytesMax: number): number {
  let i = bytes.window(off, RECORD_HEADER_BYTES)
  if (bytes.filled - i >= RECORD_HEADER_BYTES && bytes.buf.readUInt32LE(i) === RECORD_MAGIC) {
    const len = bytes.buf.readUInt32LE(i + 8)
    if (len <= payloadBytesMax && bytes.filled - i < RECORD_HEADER_BYTES + len)
      i = bytes.window(off, RECORD_HEADER_BYTES + len)
  }
  return i
}

const MAGIC = Buffer.alloc(4)
MAGIC.writeUInt32LE(RECORD_MAGIC)

/**
 * The loose walk: the first offset ≥ from where a record checks out on its own
 * (framing, CRC with the segment's salt, type, flags, range), found by scanning
 * for the record magic. Undefined when none is left before end (end ≤ the
 * bytes' size).
 */
export function nextIntact(
  bytes: Bytes,
  from: number,
  end: number,
  saltSeed: number,
  payloadBytesMax: number,
  rules = undefined as SegmentHeader['rules'] | undefined,
): (RecordFrame & { offset: number }) | undefined {
  const b = bytesOf(bytes)
  end = Math.min(end, b.size)
  for (let at = from; at < end; ) {
    const w = b.window(at, b.windowBytes)
    const hit = b.buf.indexOf(MAGIC, w)
    if (hit === -1 || hit + MAGIC.length > b.filled) {
      // None in this window: go on from its last bytes (a magic may straddle its end).
      const windowEnd = b.base + b.filled
      if (windowEnd >= end) return undefined
      at = Math.max(at + 1, windowEnd - (MAGIC.length - 1))
      continue
    }
    const off = b.base + hit
    if (off >= end) return undefined
    const i = recordWindow(b, off, payloadBytesMax)
    const r = looksLikeRecord(b.buf, i, Math.min(b.filled, end - b.base), saltSeed, payloadBytesMax, rules)
    if (r !== undefined) return { ...r, end: r.end + b.base, offset: off }
    at = off + 1
  }
  return undefined
}

export interface SegmentScan {
  header: SegmentHeader
  /** Records that checked out, committed or not. */
  records: number
  /** End and last seq of the last record that checked out (committed or not). */
  validEnd: number
  validSeq: number
  /** End, last seq and hash of the last record with the COMMIT flag (the header when none). */
  commitEnd: number
  commitSeq: number
  commitHash: Buffer
  /** Records up to commitEnd. */
  committedRecords: number
  /** The last committed record carries SEALED: the segment is closed, every byte of it acknowledged. */
  sealed: boolean
  firstTimeMs: number | undefined
  lastTimeMs: number | undefined
  stop: WalkStop | undefined
}

export type HeaderFault = {
  problem: 'short' | 'magic' | 'version' | 'checksum' | 'layout' | 'first-seq' | 'chain-start' | 'log-id'
  version?: number
}

/** What the next segment must continue: the last committed seq and hash, and the log's id (its v2 segments'). */
export type Expected = { seq: number; hash: Buffer; logId?: Buffer }

/** The Expected after a segment that scanned as `scan`, given the one it was scanned against. */
export function nextExpected(prev: Expected, scan: SegmentScan): Expected {
  return {
    seq: scan.commitSeq,
    hash: scan.commitHash,
    logId: scan.header.version !== 1 ? scan.header.logId : prev.logId,
  }
}

/**
 * Scan one segment. expected: the last seq and hash the previous segment ended
 * with ({ seq: 0, hash: GENESIS } for the first), and the log id of the log's
 * v2 segments so far (every v2 segment of a log carries the same one; a v1
 * segment has none, and a log that began in v1 takes its first v2 segment's). onRecord sees every valid
 * record (committed or not) in order, with its payload (a view into the
 * window, valid only during the call).
 */
export function scanSegment(
  bytes: Bytes,
  expected: Expected,
  payloadBytesMax: number,
  onRecord?: (r: RecordOk, payload: Buffer) => void,
): SegmentScan | HeaderFault {
  const b = bytesOf(bytes)
  const h = b.window(0, SEGMENT_HEADER_BYTES)
  const header = decodeSegmentHeader(b.buf.subarray(h, Math.min(b.filled, h + SEGMENT_HEADER_BYTES)))
  if ('problem' in header) return header
  if (header.firstSeq !== expected.seq + 1) return { problem: 'first-seq' }
  if (!header.chainStart.equals(expected.hash)) return { problem: 'chain-start' }
  if (header.version !== 1 && expected.logId !== undefined && !header.logId.equals(expected.logId))
    return { problem: 'log-id' }
  const scan: SegmentScan = {
    header,
    records: 0,
    validEnd: header.bytes,
    validSeq: expected.seq,
    commitEnd: header.bytes,
    commitSeq: expected.seq,
    commitHash: Buffer.from(header.chainStart),
    committedRecords: 0,
    sealed: false,
    firstTimeMs: undefined,
    lastTimeMs: undefined,
    stop: undefined,
  }
  const cursor = new RecordCursor(b, header, payloadBytesMax, {
    offset: header.bytes,
    seq: header.firstSeq,
    hash: header.chainStart,
  })
  for (let r = cursor.next(); r !== undefined; r = cursor.next()) {
    if (!('ok' in r)) {
      scan.stop = r
      break
    }
    if (onRecord !== undefined) {
      const p = r.payloadOff - b.base
      onRecord(r, b.buf.subarray(p, p + r.len))
    }
    scan.records++
    scan.firstTimeMs ??= r.timeMs
    scan.lastTimeMs = r.timeMs
    scan.validEnd = r.end
    scan.validSeq = r.lastSeq
    if (r.flags & RecordFlag.COMMIT) {
      scan.commitEnd = r.end
      scan.commitSeq = r.lastSeq
      cursor.hash.copy(scan.commitHash)
      scan.committedRecords = scan.records
      scan.sealed = (r.flags & RecordFlag.SEALED) !== 0
    }
  }
  return scan
}

export type TailVerdict =
  | { kind: 'clean' }
  | { kind: 'zeros'; cutAt: number; bytes: number }
  | { kind: 'torn'; cutAt: number; bytes: number }
  | {
      kind: 'corrupt'
      offset: number
      seq: number
      /** What is wrong with the record where the walk stopped (or the rule, when every record checked out). */
      problem: RecordProblem | TornRuleProblem
      /** Why the bytes are not a torn tail. */
      rule: TornRuleProblem | RecordProblem
      laterValidAt: number
    }

/** Why bytes after the last committed batch are not a torn write (docs/wal-format.md, "The torn-write rule"). */
export type TornRuleProblem = 'sealed' | 'later-batch' | 'too-long' | 'not-torn'

/** Sector size of the torn-write rule: a disk writes a sector whole or not at all. */
export const SECTOR_BYTES = 512

/**
 * The most zero bytes in a row that a record written by the writer can hold
 * (its header's high bytes of len, flags, batchIndex, seq and time; a gap's
 * u64 last seq; event JSON holds none): about 8, rounded up. A zero run may
 * reach this far past a lost sector's edges and still be that sector.
 */
export const RECORD_ZERO_RUN_MAX = 16

/** What the end of the last segment means (see the header comment and docs/wal-format.md). */
export function classifyTail(bytes: Bytes, scan: SegmentScan, payloadBytesMax: number): TailVerdict {
  const buf = bytesOf(bytes)
  const size = buf.size
  if (scan.stop === undefined && scan.commitEnd === size) return { kind: 'clean' }
  const zeroStart = zeroFrom(buf, scan.commitEnd)
  if (scan.stop !== undefined && scan.stop.offset === scan.commitEnd && zeroStart === scan.commitEnd) {
    return { kind: 'zeros', cutAt: scan.commitEnd, bytes: size - scan.commitEnd }
  }
  const corrupt = (rule: RecordProblem | TornRuleProblem, laterValidAt: number): TailVerdict => ({
    kind: 'corrupt',
    offset: scan.stop?.offset ?? scan.validEnd,
    seq: scan.stop?.seq ?? scan.commitSeq + 1,
    problem: scan.stop?.problem ?? (rule as TornRuleProblem),
    rule,
    laterValidAt,
  })
  // A sealed segment was closed: every byte of it is acknowledged data.
  if (scan.sealed) return corrupt('sealed', scan.commitEnd)
  // Look at every record that checks out on its own after the last commit
  // (the bad record itself may be whole: a broken chain, a wrong seq).
  const tornBatch = scan.commitSeq + 1
  const { saltSeed, rules } = scan.header
  const intact: (RecordFrame & { offset: number })[] = []
  for (let r = nextIntact(buf, scan.commitEnd, size, saltSeed, payloadBytesMax, rules); r !== undefined; ) {
    if (r.seq - r.batchIndex !== tornBatch) return corrupt('later-batch', r.offset)
    intact.push(r)
    r = nextIntact(buf, r.end, size, saltSeed, payloadBytesMax, rules)
  }
  if (scan.header.version === 1) return { kind: 'torn', cutAt: scan.commitEnd, bytes: size - scan.commitEnd }
  // Version 2: the torn-write rule. A torn batch is at most one write of at
  // most the segment writer's batchBytesMax, and each bad stretch in it must
  // show the mark of a write that did not land.
  if (zeroStart - scan.commitEnd > scan.header.batchBytesMax) return corrupt('too-long', scan.commitEnd)
  let from = scan.commitEnd
  // What the writer put in the header of a record at `from`: the seq after the record before it.
  const expect: TornExpect = {
    seq: tornBatch,
    tornBatch,
    batchEnd: scan.commitEnd + scan.header.batchBytesMax,
    payloadBytesMax,
    rules,
  }
  for (const r of [...intact, undefined]) {
    const to = r === undefined ? zeroStart : r.offset
    if (to > from && !tornStretch(buf, from, to, scan.commitEnd, zeroStart, expect)) {
      return { ...(corrupt('not-torn', r?.offset ?? zeroStart) as Extract<TailVerdict, { kind: 'corrupt' }>), offset: from }
    }
    if (r !== undefined) {
      from = r.end
      expect.seq = r.lastSeq + 1
    }
  }
  // A record that checks out on its own but failed the strict walk at a place
  // with nothing missing before it (a wrong seq, chain or batchIndex) is not torn.
  const stop = scan.stop
  if (stop !== undefined && intact.some((r) => r.offset === stop.offset)) return corrupt(stop.problem, stop.offset)
  return { kind: 'torn', cutAt: scan.commitEnd, bytes: size - scan.commitEnd }
}

/** Why damage after the last commit is not a torn tail, in words. */
export function corruptTailMessage(v: Extract<TailVerdict, { kind: 'corrupt' }>): string {
  const { rule, laterValidAt } = v
  const bad = `record is bad: ${v.problem}`
  switch (rule) {
    case 'sealed':
      return `${bad}, in a sealed segment (closed: every byte of it was acknowledged), so this is not a torn tail`
    case 'later-batch':
      return `${bad}, and a record of another batch follows at offset ${laterValidAt}, so this is not a torn tail`
    case 'too-long':
      return `${bad}, and the bytes after the last batch are longer than any one write of this segment, so this is not a torn tail`
    case 'not-torn':
      return `${bad}, and the damaged bytes show no mark of a write that did not land (zeroed sectors, a cut record), so this is not a torn tail`
    default:
      return `${bad}, and a whole record stands there (wrong ${rule}), so this is not a torn tail`
  }
}

/**
 * Can the bytes [a, b) between two intact records of the torn batch (or
 * before the trailing zeros) be what a torn write left? Only bytes that never
 * reached the disk differ from what the writer wrote, and those read as zeros
 * (zero-ahead space, or a hole) or lie past the end of the file. So either the
 * stretch holds a run of zeros that a lost sector explains (starting at a
 * sector boundary or at the batch's start, ending at a sector boundary or at
 * the trailing zeros), or it is the start of one record cut short by the end of
 * what was written (a prefix tear: b is where the trailing zeros begin, the
 * record's extent runs past b, and every header field written before b is
 * the one the writer would have written there: magic, a length that fits
 * the payload bound and the batch, a known type and flags, the batch's
 * batchIndex and the next seq; bytes copied from elsewhere fail this).
 */
function tornStretch(
  buf: SegmentBytes,
  a: number,
  b: number,
  batchStart: number,
  zeroStart: number,
  expect: TornExpect,
): boolean {
  for (let x = a; x < b; ) {
    x = nextZero(buf, x, b)
    if (x === b) break
    const y = zeroRunEnd(buf, x, b)
    // The records' own zero bytes may lie beside a lost sector and lengthen the
    // run: what must have been lost is the whole sectors inside it (found by
    // the torture runner's PowerLoss scenario, seed 2104581887).
    const s = x === batchStart ? x : Math.ceil(x / SECTOR_BYTES) * SECTOR_BYTES
    const e = y === zeroStart ? y : Math.floor(y / SECTOR_BYTES) * SECTOR_BYTES
    // ...but only by as many zero bytes as a record can hold in a row.
    const explained = s - x <= RECORD_ZERO_RUN_MAX && y - e <= RECORD_ZERO_RUN_MAX
    if (explained && e > s && (e - s >= SECTOR_BYTES || s === batchStart || e === zeroStart)) return true
    x = y
  }
  if (b !== zeroStart) return false
  // A prefix tear: one record whose header (as far as it was written) is whole,
  // and whose end lies beyond what was written.
  const i = buf.window(a, Math.min(b - a, RECORD_HEADER_BYTES))
  const head = buf.buf
  if (b - a < 4) return head.readUIntLE(i, b - a) === (RECORD_MAGIC & (2 ** (8 * (b - a)) - 1))
  if (head.readUInt32LE(i) !== RECORD_MAGIC) return false
  const n = b - a
  if (n >= 12) {
    const len = head.readUInt32LE(i + 8)
    const end = a + RECORD_HEADER_BYTES + len
    if (len > expect.payloadBytesMax || end > expect.batchEnd || end <= b) return false
  }
  if (n >= 13 && !expect.rules.types.has(head[i + 12]!)) return false
  if (n >= 14 && (head[i + 13]! & ~expect.rules.flags) !== 0) return false
  if (n >= 16 && head.readUInt16LE(i + 14) !== expect.seq - expect.tornBatch) return false
  if (n >= 24 && readU64(head, i + 16) !== expect.seq) return false
  return true
}

/** What a record cut short in the torn batch must say in its header (tornStretch). */
interface TornExpect {
  /** The seq of a record at the stretch's start: one past the intact record before it. */
  seq: number
  /** The torn batch's first seq. */
  tornBatch: number
  /** Where a record of the torn batch must end at the latest: the batch's start plus the segment's batchBytesMax. */
  batchEnd: number
  payloadBytesMax: number
  rules: RecordRules
}

/** The first zero byte in [x, b), or b. */
function nextZero(bytes: SegmentBytes, x: number, b: number): number {
  while (x < b) {
    const n = Math.min(b - x, bytes.windowBytes)
    const i = bytes.window(x, n)
    const at = bytes.buf.indexOf(0, i)
    if (at !== -1 && at < i + n) return x + (at - i)
    x += n
  }
  return b
}

/** Where the run of zero bytes starting at x ends, at most b. */
function zeroRunEnd(bytes: SegmentBytes, x: number, b: number): number {
  while (x < b) {
    const n = Math.min(b - x, bytes.windowBytes)
    const i = bytes.window(x, n)
    const buf = bytes.buf
    let k = i
    while (k < i + n && buf[k] === 0) k++
    if (k < i + n) return x + (k - i)
    x += n
  }
  return b
}

const ZEROS = Buffer.alloc(64 * 1024)

/** Where the run of zero bytes that ends the bytes begins (their size when the last byte is not zero), never below `from`. */
export function zeroFrom(bytes: Bytes, from: number): number {
  const b = bytesOf(bytes)
  let end = b.size
  while (end > from) {
    // One window ending at `end`, scanned backwards: whole chunks compared
    // natively, the chunk holding the last non-zero byte byte by byte.
    const n = Math.min(end - from, b.windowBytes)
    const i = b.window(end - n, n)
    const buf = b.buf
    let e = i + n
    while (e - i >= ZEROS.length && buf.subarray(e - ZEROS.length, e).equals(ZEROS)) e -= ZEROS.length
    while (e > i && buf[e - 1] === 0) e--
    if (e > i) return end - n + (e - i)
    end -= n
  }
  return end
}

export const START = { seq: 0, hash: GENESIS_HASH } as const
export { HASH_BYTES }
