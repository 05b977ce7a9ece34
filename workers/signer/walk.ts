/**
 * The signer's walk over durable records: from a seq to the durable seq, in
 * bounded positioned reads, one leaf hash per record into a compact range.
 * appendLeaves takes leaf hashes from the leaf ring (shared/leaf-ring.ts: the
 * writer's, computed as it sealed those records) while the ring holds them,
 * and walks the disk only for the rest.
 *
 * Contract:
 * - Only what is durable is read: the walk stops after the record whose range
 *   reaches `toSeq` (the ring's durable seq when the task was made; a durable
 *   seq always ends a batch). It reads the segment files the writer is
 *   appending to, read-only, never past what it needs.
 * - Each record must check out on its own (shared/format.ts looksLikeRecord:
 *   framing, CRC with its segment's salt, type, range) and start at the next
 *   seq; the chain hash is not recomputed here (verify does that). A v2
 *   record's stored hash is its leaf hash, so the walk costs one CRC per
 *   record (and one leaf hash per record of a v1 segment). Anything else is
 *   ERR_AUDIT_CORRUPT naming segment, offset and seq: the signer never signs a
 *   tree over bytes it could not read as records.
 * - Reads are synchronous positioned reads through shared/bytes.ts: this is
 *   the signer's own thread, and the libuv pool stays free for the writer's
 *   fdatasync (asynchronous reads queued there delayed every batch's sync and
 *   cost a third of durable throughput, docs/integrity.md "What it costs").
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
  leafOfStored,
  looksLikeRecord,
  parseSegmentFileName,
  segmentNames,
  RECORD_HEADER_BYTES,
  RecordFlag,
  SEGMENT_HEADER_BYTES_MAX,
  segmentFileName,
  type SegmentHeader,
  type StoredRecord,
} from '../../shared/format.js'
import { SegmentBytes } from '../../shared/bytes.js'
import { recordWindow } from '../../shared/scan.js'
import { FIXED, LIMITS } from '../../shared/limits.js'
import { CompactRange, HASH_BYTES } from '../../lib/integrity/index.js'
import type { LeafRing } from '../../shared/leaf-ring.js'

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
  const names = await segmentsOf(dir)
  let best: string | undefined
  for (const n of names) if (parseSegmentFileName(n)! <= seq) best = n
  return best
}

/** The segment names of dir, oldest first. */
export async function segmentsOf(dir: string): Promise<string[]> {
  return segmentNames(await fs.readdir(dir))
}

/** A segment opened for the walk: its bytes through a window (synchronous reads) and its header. */
function openSegment(dir: string, name: string): { bytes: SegmentBytes & { close(): void }; header: SegmentHeader } {
  const file = path.join(dir, name)
  const bytes = SegmentBytes.open(file, {
    windowBytes: FIXED.signerReadWindowBytes,
    fail: (err) => new AuditError(ERROR_CODES.IO, `cannot read ${file}: ${(err as Error).message}`, { cause: err }),
  })
  try {
    const i = bytes.window(0, SEGMENT_HEADER_BYTES_MAX)
    const h = decodeSegmentHeader(bytes.buf.subarray(i, bytes.filled))
    if ('problem' in h) throw corrupt(name, 0, parseSegmentFileName(name) ?? 0, `segment header is bad: ${h.problem}`)
    return { bytes, header: h }
  } catch (err) {
    bytes.close()
    throw err
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
  let next: WalkPosition | undefined
  while (expected <= toSeq) {
    const { bytes, header } = openSegment(dir, name)
    let off = firstOffset ?? header.bytes
    firstOffset = undefined
    let sealed = false
    try {
      while (expected <= toSeq && off + RECORD_HEADER_BYTES <= bytes.size) {
        const i = recordWindow(bytes, off, PAYLOAD_MAX)
        const f = looksLikeRecord(bytes.buf, i, bytes.filled, header.saltSeed, PAYLOAD_MAX, header.rules)
        if (f === undefined) throw corrupt(name, off, expected, 'a durable record does not check out')
        if (f.seq !== expected) throw corrupt(name, off, expected, `record has seq ${f.seq}`)
        if (f.seq >= fromSeq)
          visit({
            type: f.type,
            seq: f.seq,
            lastSeq: f.lastSeq,
            timeMs: f.timeMs,
            payload: bytes.buf.subarray(i + RECORD_HEADER_BYTES, f.end),
            version: header.version,
            hash: bytes.buf.subarray(i + 32, i + RECORD_HEADER_BYTES),
            segment: name,
            offset: off,
          })
        expected = f.lastSeq + 1
        off += f.end - i
        next = { segment: name, offset: off }
        if ((f.flags & RecordFlag.SEALED) !== 0) {
          sealed = true
          next = undefined
          break
        }
      }
    } finally {
      bytes.close()
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

/**
 * Append one leaf per record of [fromSeq, toSeq] to range: from the leaf ring
 * while it holds them (hashes the writer computed as it wrote those records),
 * then from disk for the rest (records of an earlier session, or ones the ring
 * no longer holds because this task started too far behind). Returns the last
 * seq covered, where a disk walk ended (undefined after ring leaves: a ring
 * gives no file positions), and how many leaves came from each.
 */
export async function appendLeaves(
  dir: string,
  range: CompactRange,
  fromSeq: number,
  toSeq: number,
  start?: WalkPosition,
  onLeaf?: (hash: Buffer) => void,
  leaves?: LeafRing,
): Promise<{ covers: number; next: WalkPosition | undefined; fromRing: number; fromDisk: number }> {
  let seq = fromSeq
  let fromRing = 0
  const hash = Buffer.alloc(HASH_BYTES)
  if (leaves !== undefined) {
    for (let last = leaves.get(seq, hash); seq <= toSeq && last !== undefined;) {
      range.append(hash)
      onLeaf?.(Buffer.from(hash))
      fromRing++
      seq = last + 1
      if (seq <= toSeq) last = leaves.get(seq, hash)
    }
    if (seq > toSeq) return { covers: toSeq, next: undefined, fromRing, fromDisk: 0 }
    if (fromRing > 0) start = undefined
  }
  let covers = seq - 1
  let fromDisk = 0
  const next = await walkRecords(
    dir,
    seq,
    toSeq,
    (r) => {
      leafOfStored(r, hash, 0)
      range.append(hash)
      onLeaf?.(Buffer.from(hash))
      fromDisk++
      covers = r.lastSeq
    },
    start,
  )
  return { covers, next, fromRing, fromDisk }
}
