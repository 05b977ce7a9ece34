// Raw access to the records of an encrypted log, for tests that change bytes
// the way an attacker with write access would: walk a segment's records, take
// sealed events apart (shared/sealed.ts), and re-seal the framing (CRC and hash
// chain, from a record to the segment's end) so that only the AEAD can notice.
import fs from 'node:fs'
import path from 'node:path'
import { decodeSegmentHeader, type SegmentHeader, segmentNames } from '../../shared/format.js'
import { readSealed, type SealedHead } from '../../shared/sealed.js'
import {
  rawRecords,
  type RawRecord as TortureRecord,
  reseal as resealRaw,
  setLogId as setLogIdRaw,
} from '../../torture/raw-records.js'

/** A raw record (torture/raw-records.ts) with the sealed-event parts of a sealed event. */
export interface RawRecord extends TortureRecord {
  sealed: SealedHead | undefined
}

export function segmentsOf(dir: string): string[] {
  return segmentNames(fs.readdirSync(dir)).map((n) => path.join(dir, n))
}

export function header(buf: Buffer): SegmentHeader {
  const h = decodeSegmentHeader(buf)
  if ('problem' in h) throw new Error(`bad segment header: ${h.problem}`)
  return h
}

/** Every record of a segment's bytes, in order (stops at the first non-record; a bad header throws). */
export function records(buf: Buffer): RawRecord[] {
  header(buf)
  return rawRecords(buf).map((r) => ({ ...r, sealed: r.type === 1 ? readSealed(r.payload) : undefined }))
}

/** Recompute every record's hash and CRC from the first (payloads as they now are): the framing stays valid. */
export function reseal(buf: Buffer): void {
  header(buf)
  resealRaw(buf)
}

/** Give a segment another log id (header CRC fixed): what a segment copied into another log looks like. */
export function setLogId(buf: Buffer, logId: Buffer): void {
  header(buf)
  setLogIdRaw(buf, logId)
}
