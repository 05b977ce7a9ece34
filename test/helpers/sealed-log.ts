// Raw access to the records of an encrypted log, for tests that change bytes
// the way an attacker with write access would: walk a segment's records, take
// sealed events apart (shared/sealed.ts), and re-seal the framing (CRC and hash
// chain, from a record to the segment's end) so that only the AEAD can notice.
import fs from 'node:fs'
import path from 'node:path'
import {
  decodeSegmentHeader,
  RECORD_HEADER_BYTES,
  RECORD_MAGIC,
  readI64,
  readU64,
  sealRecord,
  type SegmentHeader,
  encodeSegmentHeader,
} from '../../shared/format.js'
import { readSealed, type SealedHead } from '../../shared/sealed.js'

export interface RawRecord {
  off: number
  len: number
  type: number
  flags: number
  batchIndex: number
  seq: number
  timeMs: number
  payload: Buffer
  /** The sealed-event parts, for a sealed event. */
  sealed: SealedHead | undefined
}

export function segmentsOf(dir: string): string[] {
  return fs
    .readdirSync(dir)
    .filter((n) => /^\d{20}\.wal$/.test(n))
    .sort()
    .map((n) => path.join(dir, n))
}

export function header(buf: Buffer): SegmentHeader {
  const h = decodeSegmentHeader(buf)
  if ('problem' in h) throw new Error(`bad segment header: ${h.problem}`)
  return h
}

/** Every record of a segment's bytes, in order (stops at the first non-record). */
export function records(buf: Buffer): RawRecord[] {
  const h = header(buf)
  const out: RawRecord[] = []
  let off = h.bytes
  while (off + RECORD_HEADER_BYTES <= buf.length && buf.readUInt32LE(off) === RECORD_MAGIC) {
    const len = buf.readUInt32LE(off + 8)
    const payload = buf.subarray(off + RECORD_HEADER_BYTES, off + RECORD_HEADER_BYTES + len)
    const type = buf[off + 12]!
    out.push({
      off,
      len,
      type,
      flags: buf[off + 13]!,
      batchIndex: buf.readUInt16LE(off + 14),
      seq: readU64(buf, off + 16),
      timeMs: readI64(buf, off + 24),
      payload,
      sealed: type === 1 ? readSealed(payload) : undefined,
    })
    off += RECORD_HEADER_BYTES + len
  }
  return out
}

/** Recompute every record's hash and CRC from the first (payloads as they now are): the framing stays valid. */
export function reseal(buf: Buffer): void {
  const h = header(buf)
  let prev = Buffer.from(h.chainStart)
  for (const r of records(buf)) {
    prev = Buffer.from(sealRecord(buf, r.off, r.len, r.type, r.flags, r.batchIndex, r.seq, r.timeMs, prev, h.saltSeed))
  }
}

/** Give a segment another log id (header CRC fixed): what a segment copied into another log looks like. */
export function setLogId(buf: Buffer, logId: Buffer): void {
  const h = header(buf)
  encodeSegmentHeader({ ...h, logId }).copy(buf, 0)
}
