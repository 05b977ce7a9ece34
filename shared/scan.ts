/**
 * Scanning a segment held in memory: the one piece of logic that both recovery
 * (writer, on open) and the read side (readLog, verifyLog) use, so the two can
 * never disagree about what is valid.
 *
 * scanSegment walks records from the header while each one checks out
 * (framing, CRC, seq, chain) and reports where and why it stopped.
 * classifyTail decides what a stop in the LAST segment means:
 *   - 'clean'   nothing after the last committed batch;
 *   - 'torn'    what follows the last committed batch is at most one batch
 *               (the writer has at most one unsynced batch), so none of it can
 *               have been acknowledged: recovery cuts it, readers stop there;
 *   - 'corrupt' valid data from a later batch lies beyond the damage, so the
 *               damage is inside acknowledged data: refuse, name the place.
 */

import {
  checkRecord, decodeSegmentHeader, GENESIS_HASH, HASH_BYTES, looksLikeRecord, type RecordOk, type RecordProblem,
  RecordFlag, SEGMENT_HEADER_BYTES, type SegmentHeader,
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

export type HeaderFault = { problem: 'short' | 'magic' | 'version' | 'checksum' | 'layout' | 'first-seq' | 'chain-start'; version?: number }

/**
 * Scan one segment. expected: the seq and hash the previous segment ended with
 * ({ seq: 0, hash: GENESIS } for the first). onRecord sees every valid record
 * (committed or not) in order; the payload is buf[r.payloadOff, r.payloadOff + r.len).
 */
export function scanSegment(
  buf: Buffer, expected: { seq: number; hash: Buffer }, payloadBytesMax: number,
  onRecord?: (r: RecordOk, buf: Buffer) => void,
): SegmentScan | HeaderFault {
  const header = decodeSegmentHeader(buf.subarray(0, SEGMENT_HEADER_BYTES))
  if ('problem' in header) return header
  if (header.firstSeq !== expected.seq + 1) return { problem: 'first-seq' }
  if (!header.chainStart.equals(expected.hash)) return { problem: 'chain-start' }
  const prevHash = Buffer.from(header.chainStart)
  const scan: SegmentScan = {
    header, records: 0, validEnd: SEGMENT_HEADER_BYTES, commitEnd: SEGMENT_HEADER_BYTES,
    commitSeq: expected.seq, commitHash: Buffer.from(prevHash), committedRecords: 0,
    firstTimeMs: undefined, lastTimeMs: undefined, stop: undefined,
  }
  let off = SEGMENT_HEADER_BYTES
  let seq = header.firstSeq
  while (off < buf.length) {
    const r = checkRecord(buf, off, buf.length, header.saltSeed, seq, prevHash, payloadBytesMax)
    if (!r.ok) {
      scan.stop = { offset: off, problem: r.problem, seq }
      break
    }
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
  | { kind: 'torn'; cutAt: number; bytes: number }
  | { kind: 'corrupt'; offset: number; seq: number; problem: RecordProblem | 'uncommitted'; laterValidAt: number }

/** What the end of the last segment means (see the header comment). */
export function classifyTail(buf: Buffer, scan: SegmentScan, payloadBytesMax: number): TailVerdict {
  if (scan.stop === undefined && scan.commitEnd === buf.length) return { kind: 'clean' }
  // Look for valid records beyond the first bad byte; a COMMIT among them that
  // is followed by more valid data means a second batch: acknowledged damage.
  const from = scan.stop === undefined ? buf.length : scan.stop.offset + 1
  let sawCommit = false
  for (let off = from; off + 4 <= buf.length; off++) {
    const r = looksLikeRecord(buf, off, buf.length, scan.header.saltSeed, payloadBytesMax)
    if (r === undefined) continue
    if (sawCommit && scan.stop !== undefined) {
      return { kind: 'corrupt', offset: scan.stop.offset, seq: scan.stop.seq, problem: scan.stop.problem, laterValidAt: off }
    }
    if (r.flags & RecordFlag.COMMIT) sawCommit = true
    off = r.end - 1
  }
  return { kind: 'torn', cutAt: scan.commitEnd, bytes: buf.length - scan.commitEnd }
}

export const START = { seq: 0, hash: GENESIS_HASH } as const
export { HASH_BYTES }
