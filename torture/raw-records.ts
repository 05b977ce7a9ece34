/**
 * A segment's records as raw frames, and their framing made valid again:
 * what a tamperer with write access does (torture/scenarios/crypt.ts, and the
 * tests' test/helpers/sealed-log.ts). Change payload bytes in place, then
 * reseal(): every CRC and the hash chain are recomputed from the segment's
 * chainStart, so only an AEAD (or a signed checkpoint) can notice.
 *
 * rawRecords stops at the first bytes that do not start with the record
 * magic; a segment whose header does not decode has none (and reseal and
 * setLogId leave it as it is).
 */

import {
  decodeSegmentHeader,
  encodeSegmentHeader,
  RECORD_HEADER_BYTES,
  RECORD_MAGIC,
  readI64,
  readU64,
  sealRecord,
} from '../shared/format.js'

export interface RawRecord {
  off: number
  len: number
  type: number
  flags: number
  batchIndex: number
  seq: number
  timeMs: number
  /** A view of the stored hash field in the segment's buffer (v2: the record's leaf hash). */
  hash: Buffer
  /** A view of the payload in the segment's buffer. */
  payload: Buffer
}

/** Every record of a segment's bytes, in order. */
export function rawRecords(buf: Buffer): RawRecord[] {
  const h = decodeSegmentHeader(buf)
  if ('problem' in h) return []
  const out: RawRecord[] = []
  for (let off = h.bytes; off + RECORD_HEADER_BYTES <= buf.length && buf.readUInt32LE(off) === RECORD_MAGIC;) {
    const len = buf.readUInt32LE(off + 8)
    out.push({
      off,
      len,
      type: buf[off + 12]!,
      flags: buf[off + 13]!,
      batchIndex: buf.readUInt16LE(off + 14),
      seq: readU64(buf, off + 16),
      timeMs: readI64(buf, off + 24),
      hash: buf.subarray(off + 32, off + RECORD_HEADER_BYTES),
      payload: buf.subarray(off + RECORD_HEADER_BYTES, off + RECORD_HEADER_BYTES + len),
    })
    off += RECORD_HEADER_BYTES + len
  }
  return out
}

/** Re-chain and re-checksum every record: the framing is valid again, whatever the payloads now hold. */
export function reseal(buf: Buffer): void {
  const h = decodeSegmentHeader(buf)
  if ('problem' in h) return
  let prev = Buffer.from(h.chainStart)
  for (const x of rawRecords(buf))
    prev = Buffer.from(
      sealRecord(buf, x.off, x.len, x.type, x.flags, x.batchIndex, x.seq, x.timeMs, prev, h.saltSeed, h.version),
    )
}

/** Give a segment another log id, its header CRC valid again: what a segment copied from another log looks like. */
export function setLogId(buf: Buffer, logId: Buffer): void {
  const h = decodeSegmentHeader(buf)
  if ('problem' in h) return
  encodeSegmentHeader({ ...h, logId }).copy(buf, 0)
}
