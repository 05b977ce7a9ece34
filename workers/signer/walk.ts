/**
 * The signer's walk over durable records: from a seq to the durable seq, in
 * bounded positioned reads, one leaf hash per record into a compact range.
 *
 * Contract:
 * - Only what is durable is read: the walk stops after the record whose range
 *   reaches `toSeq` (the ring's durable seq when the task was made; a durable
 *   seq always ends a batch). It reads the segment files the writer is
 *   appending to, read-only, never past what it needs.
 * - Each record must check out on its own (shared/format.ts looksLikeRecord:
 *   framing, CRC with its segment's salt, type, range) and start at the next
 *   seq; the chain hash is not recomputed here (verify does that), so the
 *   walk costs one CRC and one leaf hash per record. Anything else is
 *   ERR_AUDIT_CORRUPT naming segment, offset and seq: the signer never signs a
 *   tree over bytes it could not read as records.
 * - Memory: one window of FIXED.signerReadWindowBytes, grown only to hold one
 *   record larger than it (at most the largest record the format allows).
 * - A segment ends at a SEALED record (v2) or at its last record when the next
 *   segment exists (v1, which has no seal).
 */

import fs from 'node:fs/promises'
import path from 'node:path'
import { AuditError, ERROR_CODES } from '../../shared/errors.js'
import {
  decodeSegmentHeader,
  LEAF_HEAD_BYTES,
  leafHead,
  looksLikeRecord,
  parseSegmentFileName,
  RECORD_HEADER_BYTES,
  RecordFlag,
  SEGMENT_HEADER_BYTES_MAX,
  segmentFileName,
  type SegmentHeader,
  type StoredRecord,
} from '../../shared/format.js'
import { openRegular } from '../../shared/files.js'
import { FIXED, LIMITS } from '../../shared/limits.js'
import { CompactRange, leafHashOf } from '../../lib/integrity/index.js'

/** One record as the walk saw it (the callback's view is valid only during the call). */
export type WalkedRecord = StoredRecord

const PAYLOAD_MAX = LIMITS.eventBytesMax.max

function corrupt(segment: string, offset: number, seq: number, message: string): AuditError {
  return new AuditError(ERROR_CODES.CORRUPT, `${message} (segment ${segment}, offset ${offset}, seq ${seq})`, {
    details: { segment, offset, seq },
  })
}

/** The segment that holds seq: the one with the largest first seq ≤ seq. */
export async function segmentOf(dir: string, seq: number): Promise<string | undefined> {
  const names = (await fs.readdir(dir)).filter((n) => parseSegmentFileName(n) !== undefined).sort()
  let best: string | undefined
  for (const n of names) if (parseSegmentFileName(n)! <= seq) best = n
  return best
}

/** The segment names of dir, oldest first. */
export async function segmentsOf(dir: string): Promise<string[]> {
  return (await fs.readdir(dir)).filter((n) => parseSegmentFileName(n) !== undefined).sort()
}

class SegmentFile {
  private constructor(
    readonly name: string,
    private readonly fh: fs.FileHandle,
    readonly header: SegmentHeader,
  ) {}

  static async open(dir: string, name: string): Promise<SegmentFile> {
    const fh = await openRegular(path.join(dir, name), 'r')
    try {
      const head = Buffer.alloc(SEGMENT_HEADER_BYTES_MAX)
      const { bytesRead } = await fh.read(head, 0, head.length, 0)
      const h = decodeSegmentHeader(head.subarray(0, bytesRead))
      if ('problem' in h) throw corrupt(name, 0, parseSegmentFileName(name) ?? 0, `segment header is bad: ${h.problem}`)
      return new SegmentFile(name, fh, h)
    } catch (err) {
      await fh.close()
      throw err
    }
  }

  async read(buf: Buffer, off: number, len: number): Promise<number> {
    let got = 0
    while (got < len) {
      const { bytesRead } = await this.fh.read(buf, got, len - got, off + got)
      if (bytesRead === 0) break
      got += bytesRead
    }
    return got
  }

  close(): Promise<void> {
    return this.fh.close()
  }
}

/** Where the record after a walk's last one begins (a hint for the next walk). */
export interface WalkPosition {
  segment: string
  offset: number
}

/**
 * Visit every record with fromSeq ≤ seq ≤ toSeq (a record whose range starts
 * before fromSeq is passed over), in log order. `start`, where the last walk
 * ended, saves reading the segment from its beginning: if the record there is
 * not fromSeq, the walk starts over from the segment that holds fromSeq.
 * Returns where the next record begins (undefined after a segment's seal).
 */
export async function walkRecords(
  dir: string,
  fromSeq: number,
  toSeq: number,
  visit: (r: WalkedRecord) => void,
  start?: WalkPosition,
): Promise<WalkPosition | undefined> {
  if (start !== undefined) {
    let visited = false
    try {
      return await walkFrom(dir, fromSeq, toSeq, (r) => ((visited = true), visit(r)), start)
    } catch (err) {
      if (visited) throw err
      // A stale hint (the log was recovered or rewritten since): from the segment's start.
    }
  }
  return walkFrom(dir, fromSeq, toSeq, visit, undefined)
}

async function walkFrom(
  dir: string,
  fromSeq: number,
  toSeq: number,
  visit: (r: WalkedRecord) => void,
  start: WalkPosition | undefined,
): Promise<WalkPosition | undefined> {
  let name = start?.segment ?? (await segmentOf(dir, fromSeq))
  if (name === undefined) throw corrupt(segmentFileName(fromSeq), 0, fromSeq, 'no segment holds this seq')
  let expected = start === undefined ? parseSegmentFileName(name)! : fromSeq
  let firstOffset = start?.offset
  let window = Buffer.allocUnsafe(FIXED.signerReadWindowBytes)
  let next: WalkPosition | undefined
  while (expected <= toSeq) {
    const seg = await SegmentFile.open(dir, name)
    let off = firstOffset ?? seg.header.bytes
    firstOffset = undefined
    let sealed = false
    try {
      for (;;) {
        // One window of records from off; a record larger than the window grows it once.
        const got = await seg.read(window, off, window.length)
        let at = 0
        while (expected <= toSeq && at + RECORD_HEADER_BYTES <= got) {
          const f = looksLikeRecord(window, at, got, seg.header.saltSeed, PAYLOAD_MAX, seg.header.rules)
          if (f === undefined) {
            const len = window.readUInt32LE(at + 8)
            if (at + RECORD_HEADER_BYTES + len > got && len <= PAYLOAD_MAX && got === window.length) break // cut by the window
            throw corrupt(name, off + at, expected, 'a durable record does not check out')
          }
          if (f.seq !== expected) throw corrupt(name, off + at, expected, `record has seq ${f.seq}`)
          if (f.seq >= fromSeq)
            visit({
              type: f.type,
              seq: f.seq,
              lastSeq: f.lastSeq,
              timeMs: f.timeMs,
              payload: window.subarray(at + RECORD_HEADER_BYTES, f.end),
              segment: name,
              offset: off + at,
            })
          expected = f.lastSeq + 1
          at = f.end
          next = { segment: name, offset: off + at }
          if ((f.flags & RecordFlag.SEALED) !== 0) {
            sealed = true
            next = undefined
            break
          }
        }
        if (sealed || expected > toSeq) break
        if (at === 0) {
          // Nothing whole in the window: either one record larger than it, or the end of the data.
          if (got === window.length) {
            const need = RECORD_HEADER_BYTES + window.readUInt32LE(8)
            if (need > window.length && need <= RECORD_HEADER_BYTES + PAYLOAD_MAX) {
              window = Buffer.allocUnsafe(need)
              continue
            }
          }
          break
        }
        off += at
      }
    } finally {
      await seg.close()
    }
    if (expected > toSeq) return next
    // The segment ended (sealed, or v1 without a seal): the next one starts at the next seq.
    const nextName = segmentFileName(expected)
    if (!sealed) {
      const exists = (await segmentsOf(dir)).includes(nextName)
      if (!exists) throw corrupt(name, off, expected, `durable seq ${toSeq} is not in the log`)
    }
    name = nextName
  }
  return next
}

/** Append one leaf per record of [fromSeq, toSeq] to range; returns the last seq covered and where the walk ended. */
export async function appendLeaves(
  dir: string,
  range: CompactRange,
  fromSeq: number,
  toSeq: number,
  start?: WalkPosition,
  onLeaf?: (hash: Buffer) => void,
): Promise<{ covers: number; next: WalkPosition | undefined }> {
  const head = Buffer.alloc(LEAF_HEAD_BYTES)
  let covers = fromSeq - 1
  const next = await walkRecords(
    dir,
    fromSeq,
    toSeq,
    (r) => {
      const h = leafHashOf(leafHead(r.type, r.seq, r.lastSeq, r.timeMs, head), r.payload)
      range.append(h)
      onLeaf?.(h)
      covers = r.lastSeq
    },
    start,
  )
  return { covers, next }
}
