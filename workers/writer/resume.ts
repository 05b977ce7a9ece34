/**
 * Open-time recovery, run by the writer before it accepts any record.
 *
 *   list dir ─► drop *.wal.tmp (rotation that never renamed) ─► scan every
 *   segment in seq order (header, CRC, seq, chain, across segments)
 *        ├─ damage in a sealed segment, or in acknowledged data ─► ERR_AUDIT_CORRUPT
 *        ├─ torn tail in the last segment ─► copy the cut bytes to <seg>.torn-<ms>,
 *        │  fsync it, truncate the segment at the last committed batch, fsync
 *        └─ zero tail (only zeros after the last batch: zero-ahead space of a
 *           writer that did not close) ─► truncate, fsync; no side file
 *
 * The result is where appending continues: last seq, last hash, the segment to
 * append to. Crash-safe at every step: the side file is durable before the cut,
 * and a repeated cut of the same bytes only writes a second side file.
 */

import path from 'node:path'
import { AuditError, ERROR_CODES, ioError } from '../../shared/errors.js'
import {
  GENESIS_HASH,
  parseSegmentFileName,
  SEGMENT_HEADER_BYTES,
  segmentFileName,
  type SegmentHeader,
} from '../../shared/format.js'
import { classifyTail, scanSegment, zeroFrom } from '../../shared/scan.js'
import { readFully, type Storage, writeFully } from '../../shared/storage.js'
import { LOCK_FILE } from '../../shared/lock.js'

export interface TornTail {
  segment: string
  offset: number
  /** Bytes cut: [offset, old end of file). */
  bytes: number
  /** Holds the cut bytes up to the last non-zero one (trailing zeros carry nothing and are not copied). */
  sideFile: string
}

/** Zeros cut from the end of the last segment (nothing else was there). */
export interface ZeroTail {
  segment: string
  offset: number
  bytes: number
}

export interface Recovered {
  lastSeq: number
  lastHash: Buffer
  /** The last segment, where appending continues; undefined for a new WAL. */
  active: { name: string; header: SegmentHeader; size: number } | undefined
  segments: number
  tornTail: TornTail | undefined
  zeroTail: ZeroTail | undefined
  removedTmp: string[]
}

const TMP = /\.wal\.tmp$/
const SIDE = /\.torn-[\d-]+$/

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

export function recover(s: Storage, dir: string, payloadBytesMax: number, nowMs: () => number): Recovered {
  const names = io('list', dir, () => s.readdir(dir))
  const removedTmp: string[] = []
  for (const n of names) {
    if (!TMP.test(n)) continue
    io('unlink', path.join(dir, n), () => s.unlink(path.join(dir, n)))
    removedTmp.push(n)
  }
  if (removedTmp.length > 0) io('fsync directory', dir, () => s.fsyncDir(dir))

  const segments = names.filter((n) => parseSegmentFileName(n) !== undefined).sort()
  const foreign = names.filter(
    (n) =>
      parseSegmentFileName(n) === undefined &&
      !TMP.test(n) &&
      !SIDE.test(n) &&
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
      segments: 0,
      tornTail: undefined,
      zeroTail: undefined,
      removedTmp,
    }
  }

  let expected: { seq: number; hash: Buffer } = { seq: 0, hash: Buffer.from(GENESIS_HASH) }
  let active: Recovered['active']
  let tornTail: TornTail | undefined
  let zeroTail: ZeroTail | undefined
  for (let i = 0; i < segments.length; i++) {
    const name = segments[i]!
    const file = path.join(dir, name)
    const isLast = i === segments.length - 1
    const buf = readWhole(s, file)
    const scan = scanSegment(buf, expected, payloadBytesMax)
    if ('problem' in scan) {
      if (scan.problem === 'version') {
        throw new AuditError(
          ERROR_CODES.VERSION_UNSUPPORTED,
          `segment ${name} has format version ${scan.version}; this mtlog-audit reads version 1`,
          { details: { segment: name, version: scan.version ?? null } },
        )
      }
      if (scan.problem === 'magic' && i === 0 && buf.length >= 8) {
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
      if (scan.commitEnd !== buf.length)
        throw corrupt('sealed segment ends inside a batch', {
          segment: name,
          offset: scan.commitEnd,
          seq: scan.commitSeq + 1,
          problem: 'uncommitted',
        })
    } else {
      const verdict = classifyTail(buf, scan, payloadBytesMax)
      if (verdict.kind === 'corrupt') {
        throw corrupt(
          `record is bad: ${verdict.problem}, and valid data from a later batch follows at offset ${verdict.laterValidAt}, so this is not a torn tail`,
          {
            segment: name,
            offset: verdict.offset,
            seq: verdict.seq,
            problem: verdict.problem,
            laterValidAt: verdict.laterValidAt,
          },
        )
      }
      if (verdict.kind === 'torn' || verdict.kind === 'zeros') {
        // Cutting destroys bytes: only on what a second, independent read confirms.
        // A storage that returned a wrong byte (or zeros) once must not cost acknowledged data.
        const again = readWhole(s, file)
        if (!again.equals(buf)) {
          throw new AuditError(
            ERROR_CODES.IO,
            `two reads of ${name} returned different bytes (first difference at offset ${firstDifference(buf, again)}); refusing to cut its tail on unreliable reads`,
            {
              details: { op: 'read', path: file, errno: null, segment: name },
            },
          )
        }
        if (verdict.kind === 'torn') tornTail = cutTail(s, dir, name, buf, verdict.cutAt, nowMs())
        else zeroTail = cutZeros(s, dir, name, verdict.cutAt, verdict.bytes)
      }
      active = { name, header: scan.header, size: verdict.kind === 'clean' ? buf.length : verdict.cutAt }
    }
    expected = { seq: scan.commitSeq, hash: scan.commitHash }
  }
  return {
    lastSeq: expected.seq,
    lastHash: expected.hash,
    active,
    segments: segments.length,
    tornTail,
    zeroTail,
    removedTmp,
  }
}

/** Offset of the first byte where x and y differ (the shorter length if one is a prefix). */
export function firstDifference(x: Buffer, y: Buffer): number {
  const n = Math.min(x.length, y.length)
  for (let i = 0; i < n; i++) if (x[i] !== y[i]) return i
  return n
}

export function readWhole(s: Storage, file: string): Buffer {
  let fd: number
  try {
    fd = s.open(file, 'r')
  } catch (err) {
    throw ioError('open', file, err)
  }
  try {
    const size = s.size(fd)
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

export function cutTail(s: Storage, dir: string, name: string, buf: Buffer, cutAt: number, now: number): TornTail {
  const bytes = buf.length - cutAt
  const kept = zeroFrom(buf, cutAt) - cutAt
  let sideName = `${name}.torn-${now}`
  try {
    let sfd: number
    for (let k = 1; ; k++) {
      try {
        sfd = s.open(path.join(dir, sideName), 'wx')
        break
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || k > 100) throw err
        sideName = `${name}.torn-${now}-${k}`
      }
    }
    try {
      writeFully(s, sfd, buf, cutAt, kept, 0)
      s.fsync(sfd)
    } finally {
      s.close(sfd)
    }
    s.fsyncDir(dir)
    truncateDurably(s, path.join(dir, name), cutAt)
  } catch (err) {
    throw ioError('cut torn tail of', path.join(dir, name), err)
  }
  return { segment: name, offset: cutAt, bytes, sideFile: sideName }
}

export { SEGMENT_HEADER_BYTES, segmentFileName }
