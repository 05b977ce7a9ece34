/**
 * Open-time agreement of a WAL and its mirror (AuditSink.open({ mirror })).
 *
 * Each copy is first recovered on its own (workers/writer/resume.ts: torn tails
 * cut, damage refused). Then the copy that is behind catches up:
 *   - both copies must hold the same history as far as the shorter one goes:
 *     the same segment names, the same headers (same salt: the same files),
 *     sealed segments of the same size, and the shorter copy's last segment a
 *     byte-for-byte prefix of the longer copy's segment of that name;
 *   - the copy that is behind gets the missing bytes appended to that segment
 *     (fdatasync) and the missing segments copied (tmp, fdatasync, rename,
 *     directory fsync). An empty copy is simply filled.
 * A copy is behind after a crash between the two fdatasyncs of one batch
 * (that batch was never acknowledged, but it was emitted and is intact, so it
 * is kept), after a rotation that renamed in one directory only, or when the
 * mirror is new or was detached for a while.
 * Anything else means the copies hold different histories: ERR_AUDIT_CORRUPT
 * with problem 'mirror-diverged', and nothing is changed.
 *
 * Segments are compared and copied a window at a time
 * (FIXED.segmentWindowBytes per read), never held whole.
 */

import path from 'node:path'
import { AuditError, ERROR_CODES, ioError } from '../../shared/errors.js'
import { parseSegmentFileName, SEGMENT_HEADER_BYTES, segmentNames } from '../../shared/format.js'
import { FIXED } from '../../shared/limits.js'
import { readFully, type Storage, writeFully } from '../../shared/storage.js'
import { firstDifference, openSized, readWhole, type Resumed } from './resume.js'
import type { MirrorOpenReport } from '../../shared/ring/protocol.js'

/** What open did to the mirror (the report type the sink hands to the app). */
export type MirrorReport = MirrorOpenReport

function segmentsOf(s: Storage, dir: string): string[] {
  let names: string[]
  try {
    names = s.readdir(dir)
  } catch (err) {
    throw ioError('list', dir, err)
  }
  return segmentNames(names)
}

function diverged(message: string, segment: string, offset: number, seq: number): AuditError {
  return new AuditError(
    ERROR_CODES.CORRUPT,
    `the WAL and its mirror hold different histories: ${message} (segment ${segment}, offset ${offset}, seq ${seq})`,
    {
      details: { segment, offset, seq, problem: 'mirror-diverged' },
    },
  )
}

/** Copy [from, to) of the open file src to the same offsets of the open file dst, a window at a time. */
function copyRange(s: Storage, src: number, srcFile: string, dst: number, from: number, to: number): void {
  const chunk = Buffer.alloc(Math.min(Math.max(to - from, 0), FIXED.segmentWindowBytes))
  for (let at = from; at < to; at += chunk.length) {
    const n = Math.min(chunk.length, to - at)
    let got: number
    try {
      got = readFully(s, src, chunk, 0, n, at)
    } catch (err) {
      throw ioError('read', srcFile, err)
    }
    if (got !== n) throw ioError('read', srcFile, Object.assign(new Error(`file ended at ${at + got}`), { code: 'EIO' }))
    writeFully(s, dst, chunk, 0, n, at)
  }
}

/** Where the first `len` bytes of two open files first differ (len when they agree). */
function firstDifferenceIn(s: Storage, a: { fd: number; file: string }, b: { fd: number; file: string }, len: number): number {
  const n = Math.min(len, FIXED.segmentWindowBytes)
  const x = Buffer.alloc(n)
  const y = Buffer.alloc(n)
  for (let at = 0; at < len; at += n) {
    const k = Math.min(n, len - at)
    let gx: number
    let gy: number
    try {
      gx = readFully(s, a.fd, x, 0, k, at)
      gy = readFully(s, b.fd, y, 0, k, at)
    } catch (err) {
      throw ioError('read', `${a.file} and ${b.file}`, err)
    }
    const d = firstDifference(x.subarray(0, gx), y.subarray(0, gy))
    if (d < k) return at + d
  }
  return len
}

function copySegment(s: Storage, src: { fd: number; size: number }, from: string, to: string, name: string): void {
  const tmp = path.join(to, `${name}.tmp`)
  try {
    const fd = s.open(tmp, 'wx')
    try {
      copyRange(s, src.fd, from, fd, 0, src.size)
      s.fdatasync(fd)
    } finally {
      s.close(fd)
    }
    s.rename(tmp, path.join(to, name))
  } catch (err) {
    if (err instanceof AuditError) throw err
    throw ioError('copy segment into', path.join(to, name), err)
  }
}

function appendTail(s: Storage, src: { fd: number; size: number }, srcFile: string, from: number, file: string): void {
  try {
    const fd = s.open(file, 'r+')
    try {
      copyRange(s, src.fd, srcFile, fd, from, src.size)
      s.fdatasync(fd)
    } finally {
      s.close(fd)
    }
  } catch (err) {
    if (err instanceof AuditError) throw err
    throw ioError('catch up', file, err)
  }
}

/** Make the two recovered copies agree; returns where appending continues. */
export function reconcile(
  s: Storage,
  dirs: readonly [string, string],
  recs: [Resumed, Resumed],
): { rec: Resumed; report: MirrorReport } {
  const lists = [segmentsOf(s, dirs[0]), segmentsOf(s, dirs[1])] as const
  const report: MirrorReport = {
    dir: dirs[1],
    tornTail: recs[1].tornTail,
    zeroTail: recs[1].zeroTail,
    caughtUp: undefined,
  }
  // Which copy is ahead: more segments, or the same segments and a longer last one.
  const sizeOfLast = (i: 0 | 1): number => (lists[i].length === 0 ? 0 : (recs[i].active?.size ?? 0))
  const ahead: 0 | 1 =
    lists[1].length > lists[0].length || (lists[1].length === lists[0].length && sizeOfLast(1) > sizeOfLast(0)) ? 1 : 0
  const behind: 0 | 1 = ahead === 0 ? 1 : 0
  const long = lists[ahead]
  const short = lists[behind]
  let bytes = 0
  let copied = 0
  for (let i = 0; i < long.length; i++) {
    const name = long[i]!
    const firstSeq = parseSegmentFileName(name)!
    const fileA = path.join(dirs[ahead], name)
    const la = openSized(s, fileA)
    try {
      if (i >= short.length) {
        copySegment(s, la, fileA, dirs[behind], name)
        bytes += la.size
        copied++
        continue
      }
      if (short[i] !== name) throw diverged(`segment ${short[i]} in ${dirs[behind]} has no twin`, name, 0, firstSeq)
      const fileB = path.join(dirs[behind], name)
      if (!readWhole(s, fileA, SEGMENT_HEADER_BYTES).equals(readWhole(s, fileB, SEGMENT_HEADER_BYTES)))
        throw diverged('segment headers differ', name, 0, firstSeq)
      const lb = openSized(s, fileB)
      let sizeB: number
      try {
        sizeB = lb.size
        const d = firstDifferenceIn(s, { fd: la.fd, file: fileA }, { fd: lb.fd, file: fileB }, Math.min(la.size, sizeB))
        if (sizeB > la.size || d < sizeB) throw diverged('segment contents differ', name, d, firstSeq)
      } finally {
        s.close(lb.fd)
      }
      if (sizeB < la.size) {
        if (i < short.length - 1)
          throw diverged(`sealed segment sizes differ (${la.size} and ${sizeB})`, name, sizeB, firstSeq)
        appendTail(s, la, fileA, sizeB, fileB)
        bytes += la.size - sizeB
      }
    } finally {
      s.close(la.fd)
    }
  }
  if (copied > 0) {
    try {
      s.fsyncDir(dirs[behind])
    } catch (err) {
      throw ioError('fsync', dirs[behind], err)
    }
  }
  if (bytes > 0) report.caughtUp = { dir: dirs[behind], bytes, segments: copied }
  // Seqs either copy showed past the agreed end were used: the gap covers them all,
  // so a seq one copy saw is never handed to a new event (found by the torture
  // runner's ByzantineStorage scenario with a mirror, seed 437177415).
  const agreed = recs[ahead]
  const seen = Math.max(agreed.lost?.toSeq ?? 0, recs[behind].lost?.toSeq ?? 0)
  const lost = seen > agreed.lastSeq ? { fromSeq: agreed.lastSeq + 1, toSeq: seen } : undefined
  return { rec: { ...agreed, lost }, report }
}
