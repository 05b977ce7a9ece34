/**
 * Scanning a segment held in memory: the one piece of logic that both recovery
 * (writer, on open) and the read side (readLog, verifyLog) use, so the two can
 * never disagree about what is valid.
 *
 * scanSegment walks records from the header while each one checks out
 * (framing, CRC, seq, chain) and reports where and why it stopped.
 * Within a segment, batchIndex must run 0, 1, 2, ... and restart at 0 after
 * every COMMIT record (a batch never spans segments).
 * classifyTail decides what a stop in the LAST segment means:
 *   - 'clean'   nothing after the last committed batch;
 *   - 'zeros'   only zero bytes after it: space a running (or crashed) writer
 *               zero-filled ahead of its next batch (workers/writer/appender.ts), or
 *               writes that never reached the disk. Nothing to keep: recovery
 *               cuts it without a side file and says so, readers stop there
 *               and report it;
 *   - 'torn'    everything that checks out after the last committed batch
 *               belongs to the one batch that follows it (seq − batchIndex is
 *               that batch's first seq). The writer has at most one unsynced
 *               batch, so none of it can have been acknowledged: recovery
 *               cuts it, readers stop there;
 *   - 'corrupt' a record of any other batch lies beyond the damage (a later
 *               batch, or an old one written again), so the damage is inside
 *               acknowledged data or is tampering: refuse, name the place.
 */

import {
  checkRecord,
  decodeSegmentHeader,
  GENESIS_HASH,
  HASH_BYTES,
  looksLikeRecord,
  type RecordOk,
  type RecordProblem,
  RecordFlag,
  SEGMENT_HEADER_BYTES,
  type SegmentHeader,
} from './format.js'

export interface ScanStop {
  offset: number
  problem: RecordProblem
  /** The seq that was expected at offset. */
  seq: number
}

export interface SegmentScan {
  header: SegmentHeader
  /** Records that checked out, committed or not. */
  records: number
  /** End of the last record that checked out. */
  validEnd: number
  /** End, seq and hash of the last record with the COMMIT flag (the header when none). */
  commitEnd: number
  commitSeq: number
  commitHash: Buffer
  /** Records up to commitEnd. */
  committedRecords: number
  firstTimeMs: number | undefined
  lastTimeMs: number | undefined
  stop: ScanStop | undefined
}

export type HeaderFault = {
  problem: 'short' | 'magic' | 'version' | 'checksum' | 'layout' | 'first-seq' | 'chain-start'
  version?: number
}

/**
 * Scan one segment. expected: the seq and hash the previous segment ended with
 * ({ seq: 0, hash: GENESIS } for the first). onRecord sees every valid record
 * (committed or not) in order; the payload is buf[r.payloadOff, r.payloadOff + r.len).
 */
export function scanSegment(
  buf: Buffer,
  expected: { seq: number; hash: Buffer },
  payloadBytesMax: number,
  onRecord?: (r: RecordOk, buf: Buffer) => void,
): SegmentScan | HeaderFault {
  const header = decodeSegmentHeader(buf.subarray(0, SEGMENT_HEADER_BYTES))
  if ('problem' in header) return header
  if (header.firstSeq !== expected.seq + 1) return { problem: 'first-seq' }
  if (!header.chainStart.equals(expected.hash)) return { problem: 'chain-start' }
  const prevHash = Buffer.from(header.chainStart)
  const scan: SegmentScan = {
    header,
    records: 0,
    validEnd: SEGMENT_HEADER_BYTES,
    commitEnd: SEGMENT_HEADER_BYTES,
    commitSeq: expected.seq,
    commitHash: Buffer.from(prevHash),
    committedRecords: 0,
    firstTimeMs: undefined,
    lastTimeMs: undefined,
    stop: undefined,
  }
  let off = SEGMENT_HEADER_BYTES
  let seq = header.firstSeq
  let batchIndex = 0
  while (off < buf.length) {
    const before = Buffer.from(prevHash)
    const r = checkRecord(buf, off, buf.length, header.saltSeed, seq, prevHash, payloadBytesMax)
    if (!r.ok) {
      scan.stop = { offset: off, problem: r.problem, seq }
      break
    }
    if (r.batchIndex !== batchIndex) {
      before.copy(prevHash)
      scan.stop = { offset: off, problem: 'batch', seq }
      break
    }
    batchIndex = r.flags & RecordFlag.COMMIT ? 0 : batchIndex + 1
    onRecord?.(r, buf)
    scan.records++
    scan.firstTimeMs ??= r.timeMs
    scan.lastTimeMs = r.timeMs
    off = r.end
    seq++
    scan.validEnd = off
    if (r.flags & RecordFlag.COMMIT) {
      scan.commitEnd = off
      scan.commitSeq = r.seq
      prevHash.copy(scan.commitHash)
      scan.committedRecords = scan.records
    }
  }
  return scan
}

export type TailVerdict =
  | { kind: 'clean' }
  | { kind: 'zeros'; cutAt: number; bytes: number }
  | { kind: 'torn'; cutAt: number; bytes: number }
  | { kind: 'corrupt'; offset: number; seq: number; problem: RecordProblem; laterValidAt: number }

/** What the end of the last segment means (see the header comment). */
export function classifyTail(buf: Buffer, scan: SegmentScan, payloadBytesMax: number): TailVerdict {
  if (scan.stop === undefined && scan.commitEnd === buf.length) return { kind: 'clean' }
  if (
    scan.stop !== undefined &&
    scan.stop.offset === scan.commitEnd &&
    zeroFrom(buf, scan.commitEnd) === scan.commitEnd
  ) {
    return { kind: 'zeros', cutAt: scan.commitEnd, bytes: buf.length - scan.commitEnd }
  }
  if (scan.stop !== undefined) {
    // Look at every record that checks out on its own from the first bad byte
    // on (the bad record itself may be whole: a broken chain, a wrong seq).
    const tornBatch = scan.commitSeq + 1
    for (let off = scan.stop.offset; off + 4 <= buf.length; off++) {
      const r = looksLikeRecord(buf, off, buf.length, scan.header.saltSeed, payloadBytesMax)
      if (r === undefined) continue
      if (r.seq - r.batchIndex !== tornBatch) {
        return {
          kind: 'corrupt',
          offset: scan.stop.offset,
          seq: scan.stop.seq,
          problem: scan.stop.problem,
          laterValidAt: off,
        }
      }
      off = r.end - 1
    }
  }
  return { kind: 'torn', cutAt: scan.commitEnd, bytes: buf.length - scan.commitEnd }
}

const ZEROS = Buffer.alloc(64 * 1024)

/** Where the run of zero bytes that ends buf begins (buf.length when its last byte is not zero), never below `from`. */
export function zeroFrom(buf: Buffer, from: number): number {
  let end = buf.length
  // Whole chunks compared natively, the chunk holding the last non-zero byte byte by byte.
  while (end - from >= ZEROS.length && buf.subarray(end - ZEROS.length, end).equals(ZEROS)) end -= ZEROS.length
  while (end > from && buf[end - 1] === 0) end--
  return end
}

export const START = { seq: 0, hash: GENESIS_HASH } as const
export { HASH_BYTES }
