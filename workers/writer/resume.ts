/**
 * Open-time resume, run by the writer before it accepts any record: make the
 * directory a log that can be appended to (recoverLog, offline, is another thing).
 *
 *   list dir ─► drop *.wal.tmp (rotation that never renamed) ─► scan every
 *   segment in seq order (header, CRC, seq, chain, across segments)
 *        ├─ damage in a sealed segment, or in acknowledged data ─► ERR_AUDIT_CORRUPT
 *        ├─ torn tail in the last segment ─► copy the cut bytes to <seg>.torn-<ms>,
 *        │  fsync it, truncate the segment at the last committed batch, fsync
 *        └─ zero tail (only zeros after the last batch: zero-ahead space of a
 *           writer that did not close) ─► truncate, fsync; no side file
 *
 * The result is where appending continues: last seq, last hash, the last
 * segment (the writer seals it and starts a new one), and the seqs the device
 * shows were used past the last intact record (records that check out in the
 * cut bytes and in side files of earlier cuts): the writer records them in a
 * gap record, so a seq never names two events. Crash-safe at every step: the
 * side file is durable before the cut, and a repeated cut of the same bytes
 * only writes a second side file.
 *
 * Segments are read through a bounded window (shared/bytes.ts) with the
 * storage's positioned reads, never whole. A cut destroys bytes, so it is made
 * only on what a second, independent read confirms: the last segment is
 * walked twice (scan, tail verdict, the seqs in the cut bytes), each walk
 * keeping a digest of every read, and the two lists must match; the side file
 * is copied from two more reads that must agree chunk by chunk.
 */

import path from 'node:path'
import { AuditError, ERROR_CODES, ioError } from '../../shared/errors.js'
import {
  GENESIS_HASH,
  parseSegmentFileName,
  segmentNames,
  SEGMENT_HEADER_BYTES,
  segmentFileName,
  type SegmentHeader,
  versionUnsupported,
} from '../../shared/format.js'
import { firstDifferentRead, SegmentBytes } from '../../shared/bytes.js'
import { FIXED } from '../../shared/limits.js'
import {
  classifyTail,
  corruptTailMessage,
  type Expected,
  nextExpected,
  nextIntact,
  scanSegment,
  type SegmentScan,
  type TailVerdict,
  zeroFrom,
} from '../../shared/scan.js'
import { decodeSegmentHeader, SIDE_FILE, sideFileName } from '../../shared/format.js'
import { readFully, type Storage, writeFully } from '../../shared/storage.js'
import { LOCK_FILE } from '../../shared/lock.js'
import type { TornTailReport, ZeroTailReport } from '../../shared/ring/protocol.js'

/** A torn tail cut into a side file; a zero tail cut (the report types the sink hands to the app). */
export type TornTail = TornTailReport
export type ZeroTail = ZeroTailReport

export interface Resumed {
  lastSeq: number
  lastHash: Buffer
  /** The last segment (after any cut); undefined for a new WAL. */
  active: { name: string; header: SegmentHeader; size: number; sealed: boolean } | undefined
  /** Seqs after lastSeq that the device shows were used (cut records, side files): the writer writes a gap record for them. */
  lost: { fromSeq: number; toSeq: number } | undefined
  segments: number
  tornTail: TornTail | undefined
  zeroTail: ZeroTail | undefined
  removedTmp: string[]
}

const TMP = /\.wal\.tmp$/

export function corrupt(
  message: string,
  details: { segment: string; offset: number; seq: number } & Record<string, string | number>,
): AuditError {
  return new AuditError(
    ERROR_CODES.CORRUPT,
    `${message} (segment ${details.segment}, offset ${details.offset}, seq ${details.seq})`,
    { details },
  )
}

/** Run a storage call; its failure becomes ERR_AUDIT_IO naming the operation and path. */
function io<T>(op: string, file: string, run: () => T): T {
  try {
    return run()
  } catch (err) {
    throw ioError(op, file, err)
  }
}

export function resume(s: Storage, dir: string, payloadBytesMax: number, nowMs: () => number): Resumed {
  const names = io('list', dir, () => s.readdir(dir))
  const removedTmp: string[] = []
  for (const n of names) {
    if (!TMP.test(n)) continue
    io('unlink', path.join(dir, n), () => s.unlink(path.join(dir, n)))
    removedTmp.push(n)
  }
  if (removedTmp.length > 0) io('fsync directory', dir, () => s.fsyncDir(dir))

  const segments = segmentNames(names)
  const foreign = names.filter(
    (n) =>
      parseSegmentFileName(n) === undefined &&
      !TMP.test(n) &&
      !SIDE_FILE.test(n) &&
      n !== LOCK_FILE &&
      !n.startsWith(`${LOCK_FILE}.`),
  )
  if (segments.length === 0) {
    if (foreign.length > 0) {
      throw new AuditError(
        ERROR_CODES.NOT_A_WAL,
        `${dir} is not empty and holds no WAL segments (found ${foreign.slice(0, 3).join(', ')}); refusing to write into it`,
        { details: { dir } },
      )
    }
    return {
      lastSeq: 0,
      lastHash: Buffer.from(GENESIS_HASH),
      active: undefined,
      lost: undefined,
      segments: 0,
      tornTail: undefined,
      zeroTail: undefined,
      removedTmp,
    }
  }

  let expected: Expected = { seq: 0, hash: Buffer.from(GENESIS_HASH) }
  let active: Resumed['active']
  let tornTail: TornTail | undefined
  let zeroTail: ZeroTail | undefined
  let seenSeq = 0
  for (let i = 0; i < segments.length; i++) {
    const name = segments[i]!
    const file = path.join(dir, name)
    const isLast = i === segments.length - 1
    const buf = openBytes(s, file)
    try {
      if (isLast) buf.track()
      const scan = scanSegment(buf, expected, payloadBytesMax)
      if ('problem' in scan) {
        if (scan.problem === 'version') {
          throw versionUnsupported(name, scan.version)
        }
        if (scan.problem === 'magic' && i === 0 && buf.size >= 8) {
          throw new AuditError(ERROR_CODES.NOT_A_WAL, `${name} is not an mtlog-audit segment (bad magic)`, {
            details: { segment: name, offset: 0 },
          })
        }
        throw corrupt(`segment header is bad: ${scan.problem}`, {
          segment: name,
          offset: 0,
          seq: expected.seq + 1,
          problem: scan.problem,
        })
      }
      if (scan.header.firstSeq !== parseSegmentFileName(name)) {
        throw corrupt('segment file name does not match its header', {
          segment: name,
          offset: 0,
          seq: scan.header.firstSeq,
          problem: 'file-name',
        })
      }
      if (!isLast) {
        if (scan.stop !== undefined)
          throw corrupt(`record is bad: ${scan.stop.problem}`, {
            segment: name,
            offset: scan.stop.offset,
            seq: scan.stop.seq,
            problem: scan.stop.problem,
          })
        if (scan.commitEnd !== buf.size)
          throw corrupt('sealed segment ends inside a batch', {
            segment: name,
            offset: scan.commitEnd,
            seq: scan.commitSeq + 1,
            problem: 'uncommitted',
          })
        if (scan.header.version !== 1 && !scan.sealed)
          throw corrupt('a segment with a successor is not sealed', {
            segment: name,
            offset: scan.commitEnd,
            seq: scan.commitSeq + 1,
            problem: 'unsealed',
          })
      } else {
        const tail = judgeTail(buf, scan, payloadBytesMax)
        const { verdict } = tail
        if (verdict.kind === 'corrupt') {
          throw corrupt(corruptTailMessage(verdict), {
            segment: name,
            offset: verdict.offset,
            seq: verdict.seq,
            problem: verdict.problem,
            laterValidAt: verdict.laterValidAt,
          })
        }
        if (verdict.kind === 'torn' || verdict.kind === 'zeros') {
          // Cutting destroys bytes: only on what a second, independent read confirms.
          // A storage that returned a wrong byte (or zeros) once must not cost acknowledged data.
          confirmByRereading(s, file, name, expected, payloadBytesMax, buf)
          if (verdict.kind === 'torn') {
            seenSeq = Math.max(seenSeq, tail.seenSeq)
            tornTail = cutTail(s, dir, name, verdict.cutAt, tail.kept, buf.size, nowMs())
          } else zeroTail = cutZeros(s, dir, name, verdict.cutAt, verdict.bytes)
        }
        active = {
          name,
          header: scan.header,
          size: verdict.kind === 'clean' ? buf.size : verdict.cutAt,
          // Zeros after a seal: a rotation or close that crashed before cutting its zero-ahead space.
          sealed: verdict.kind !== 'torn' && scan.sealed,
        }
      }
      expected = nextExpected(expected, scan)
    } finally {
      buf.close()
    }
  }
  seenSeq = Math.max(seenSeq, lastSeqInSideFiles(s, dir, names, payloadBytesMax))
  if (seenSeq >= SEQ_SPACE_END) {
    throw corrupt(`a record claims seq ${seenSeq}, too close to 2^53 to continue the log`, {
      segment: active?.name ?? '',
      offset: 0,
      seq: seenSeq,
      problem: 'seq-space',
    })
  }
  return {
    lastSeq: expected.seq,
    lastHash: expected.hash,
    active,
    lost: seenSeq > expected.seq ? { fromSeq: expected.seq + 1, toSeq: seenSeq } : undefined,
    segments: segments.length,
    tornTail,
    zeroTail,
    removedTmp,
  }
}

/** A log stops taking seqs this far below 2^53, so every seq stays an exact JavaScript number. */
const SEQ_SPACE_END = 2 ** 53 - 2 ** 32

/**
 * What the last segment's end means, and for a torn tail what cutting it
 * involves: the highest seq among the records that check out in the cut
 * bytes, and how many of its bytes precede the trailing zeros (what the side
 * file keeps).
 */
function judgeTail(
  buf: SegmentBytes,
  scan: SegmentScan,
  payloadBytesMax: number,
): { verdict: TailVerdict; seenSeq: number; kept: number } {
  const verdict = classifyTail(buf, scan, payloadBytesMax)
  if (verdict.kind !== 'torn') return { verdict, seenSeq: 0, kept: 0 }
  return {
    verdict,
    seenSeq: lastSeqIn(buf, verdict.cutAt, scan.header, payloadBytesMax),
    kept: zeroFrom(buf, verdict.cutAt) - verdict.cutAt,
  }
}

/**
 * Walk the last segment again with fresh reads (scan, tail verdict, cut
 * bytes, exactly as the first walk) and refuse (ERR_AUDIT_IO) unless both
 * walks read the same bytes in the same places.
 */
function confirmByRereading(
  s: Storage,
  file: string,
  name: string,
  expected: { seq: number; hash: Buffer },
  payloadBytesMax: number,
  first: SegmentBytes,
): void {
  const again = openBytes(s, file).track()
  try {
    const scan = scanSegment(again, expected, payloadBytesMax)
    if (!('problem' in scan)) judgeTail(again, scan, payloadBytesMax)
  } finally {
    again.close()
  }
  const at = firstDifferentRead(first.reads!, again.reads!)
  if (at !== undefined) throw unreliableReads(file, name, `bytes [${at.pos}, ${at.pos + at.len})`)
}

function unreliableReads(file: string, name: string, where: string): AuditError {
  return new AuditError(
    ERROR_CODES.IO,
    `two reads of ${name} returned different bytes (first difference in ${where}); refusing to cut its tail on unreliable reads`,
    { details: { op: 'read', path: file, errno: null, segment: name } },
  )
}

/** The highest last seq of any record that checks out on its own in [from, end of the bytes). */
function lastSeqIn(buf: SegmentBytes, from: number, header: SegmentHeader, payloadBytesMax: number): number {
  let seen = 0
  for (let r = nextIntact(buf, from, buf.size, header.saltSeed, payloadBytesMax, header.rules); r !== undefined; ) {
    seen = Math.max(seen, r.lastSeq)
    r = nextIntact(buf, r.end, buf.size, header.saltSeed, payloadBytesMax, header.rules)
  }
  return seen
}

/**
 * Seqs in the side files of earlier cuts (<segment>.torn-<ms>): records there
 * that check out with their segment's salt were on the device once. A side
 * file whose segment is gone holds nothing this can check.
 */
function lastSeqInSideFiles(s: Storage, dir: string, names: string[], payloadBytesMax: number): number {
  let seen = 0
  for (const n of names) {
    if (!SIDE_FILE.test(n)) continue
    const segment = n.replace(SIDE_FILE, '')
    if (!names.includes(segment)) continue
    const head = readWhole(s, path.join(dir, segment), SEGMENT_HEADER_BYTES)
    const header = decodeSegmentHeader(head)
    if ('problem' in header) continue
    const side = openBytes(s, path.join(dir, n))
    try {
      seen = Math.max(seen, lastSeqIn(side, 0, header, payloadBytesMax))
    } finally {
      side.close()
    }
  }
  return seen
}

/** Offset of the first byte where x and y differ (the shorter length if one is a prefix). */
export function firstDifference(x: Buffer, y: Buffer): number {
  const n = Math.min(x.length, y.length)
  for (let i = 0; i < n; i++) if (x[i] !== y[i]) return i
  return n
}

/** An open file of the log and its size (ERR_AUDIT_IO naming the file on failure; then nothing stays open). */
export function openSized(s: Storage, file: string): { fd: number; size: number } {
  let fd: number
  try {
    fd = s.open(file, 'r')
  } catch (err) {
    throw ioError('open', file, err)
  }
  try {
    return { fd, size: s.size(fd) }
  } catch (err) {
    s.close(fd)
    throw ioError('read', file, err)
  }
}

/** A file of the log read through a window with the storage's positioned reads (ERR_AUDIT_IO naming the file on failure). */
export function openBytes(s: Storage, file: string): SegmentBytes & { close(): void } {
  const { fd, size } = openSized(s, file)
  const read = (b: Buffer, o: number, l: number, p: number): number => {
    try {
      return s.pread(fd, b, o, l, p)
    } catch (err) {
      throw ioError('read', file, err)
    }
  }
  return Object.assign(new SegmentBytes(read, size), { close: () => s.close(fd) })
}

/** A whole small file, or its first maxBytes (segment headers). */
export function readWhole(s: Storage, file: string, maxBytes: number): Buffer {
  const { fd, size: fileBytes } = openSized(s, file)
  try {
    const size = Math.min(fileBytes, maxBytes)
    const buf = Buffer.alloc(size)
    const n = readFully(s, fd, buf, 0, size, 0)
    return n === size ? buf : buf.subarray(0, n)
  } catch (err) {
    throw ioError('read', file, err)
  } finally {
    s.close(fd)
  }
}

/** Truncate name at cutAt and fsync it: what was after it is zeros only, there is nothing to keep. */
function cutZeros(s: Storage, dir: string, name: string, cutAt: number, bytes: number): ZeroTail {
  try {
    truncateDurably(s, path.join(dir, name), cutAt)
  } catch (err) {
    throw ioError('cut zero tail of', path.join(dir, name), err)
  }
  return { segment: name, offset: cutAt, bytes }
}

function truncateDurably(s: Storage, file: string, len: number): void {
  const fd = s.open(file, 'r+')
  try {
    s.truncate(fd, len)
    s.fsync(fd)
  } finally {
    s.close(fd)
  }
}

/**
 * Copy [cutAt, cutAt + kept) of the segment into a new side file, durably,
 * then cut the segment at cutAt. The bytes copied are read twice, a chunk at a
 * time, and must agree (ERR_AUDIT_IO otherwise, the segment untouched and the
 * unfinished side file removed).
 */
export function cutTail(s: Storage, dir: string, name: string, cutAt: number, kept: number, size: number, now: number): TornTail {
  const file = path.join(dir, name)
  const bytes = size - cutAt
  let sideName = sideFileName(name, now)
  try {
    let sfd: number
    for (let k = 1; ; k++) {
      try {
        sfd = s.open(path.join(dir, sideName), 'wx')
        break
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || k > 100) throw err
        sideName = sideFileName(name, now, k)
      }
    }
    let differ: number | undefined
    try {
      differ = copyConfirmed(s, file, cutAt, kept, sfd)
      if (differ === undefined) s.fsync(sfd)
    } finally {
      s.close(sfd)
    }
    if (differ !== undefined) {
      s.unlink(path.join(dir, sideName))
      throw unreliableReads(file, name, `bytes [${differ}, ${Math.min(differ + FIXED.segmentWindowBytes, cutAt + kept)})`)
    }
    s.fsyncDir(dir)
    truncateDurably(s, file, cutAt)
  } catch (err) {
    if (err instanceof AuditError) throw err
    throw ioError('cut torn tail of', file, err)
  }
  return { segment: name, offset: cutAt, bytes, sideFile: sideName }
}

/** Copy [from, from + len) of file to the start of fd, each chunk read twice; the offset of the first chunk whose reads differ, if any. */
function copyConfirmed(s: Storage, file: string, from: number, len: number, fd: number): number | undefined {
  const chunk = Math.min(len, FIXED.segmentWindowBytes)
  const a = Buffer.alloc(chunk)
  const b = Buffer.alloc(chunk)
  const src = s.open(file, 'r')
  try {
    for (let done = 0; done < len; done += chunk) {
      const n = Math.min(chunk, len - done)
      const got = readFully(s, src, a, 0, n, from + done)
      const again = readFully(s, src, b, 0, n, from + done)
      if (got !== n || again !== n || !a.subarray(0, n).equals(b.subarray(0, n))) return from + done
      writeFully(s, fd, a, 0, n, done)
    }
  } finally {
    s.close(src)
  }
  return undefined
}

export { SEGMENT_HEADER_BYTES, segmentFileName }
