/**
 * WAL format version 1: segment headers and records (docs/wal-format.md is the
 * prose of this file; keep both in step).
 *
 *   segment file  <firstSeq, 20 digits>.wal
 *   ┌──────────────── header, 80 bytes ────────────────┐┌─ record ─┐┌─ record ─┐ ...
 *   magic version hdrBytes flags firstSeq created chainStart salt crc
 *
 *   record: 64-byte header + payload (UTF-8 JSON of the event)
 *     0  u32 magic      0x5261746d ("mtaR" on disk)
 *     4  u32 crc        CRC32C of bytes [8, 64+len), seeded with CRC32C(salt)
 *     8  u32 len        payload bytes
 *    12  u8  type       1 = event (2..4 reserved: checkpoint, key change, seal)
 *    13  u8  flags      bit 0 COMMIT: last record of a write batch
 *    14  u16 batchIndex position of the record in its write batch (0 = first)
 *    16  u64 seq        1, 2, 3, ... contiguous across segments
 *    24  i64 timeMs     event timestamp, ms since the Unix epoch
 *    32  32B hash       SHA-256(bytes[8,32) ‖ previous record's hash ‖ payload)
 *    64  len payload
 *
 * Why: the magic makes resync after damage a byte scan; the salt (random per
 * segment file) means bytes left from another file never validate; the hash
 * chain links every record to all before it, across segments (the header's
 * chainStart is the hash of the record before firstSeq) and across restarts;
 * the COMMIT flag makes a batch all-or-nothing, so recovery can cut a torn batch
 * whole; batchIndex tells which batch a lone surviving record belongs to
 * (its batch starts at seq − batchIndex), so damage followed by a record of a
 * later batch is never mistaken for a torn tail. Integers are little-endian.
 */

import { hash as oneShotHash } from 'node:crypto'
import { crc32c } from './crc32c.js'

export const FORMAT_VERSION = 1
export const SEGMENT_MAGIC = Buffer.from('MTLAWAL\0', 'latin1')
export const SEGMENT_HEADER_BYTES = 80
export const RECORD_MAGIC = 0x5261746d
export const RECORD_HEADER_BYTES = 64
export const HASH_BYTES = 32
export const SALT_BYTES = 8

export const RecordType = { EVENT: 1, CHECKPOINT: 2, KEY_CHANGE: 3, SEAL: 4 } as const
export const RecordFlag = { COMMIT: 1 } as const
/** Records in one write batch at most (batchIndex is a u16). */
export const BATCH_RECORDS_MAX = 0xffff
/** Types a version-1 reader accepts in a record stream. */
const KNOWN_TYPES = new Set<number>([RecordType.EVENT])

export const GENESIS_HASH: Buffer = Buffer.alloc(HASH_BYTES)

/** One-shot SHA-256 (node ≥ 20.12): about twice as fast as createHash() for small inputs. */
export function sha256(bytes: Uint8Array): Buffer {
  return oneShotHash('sha256', bytes, 'buffer') as Buffer
}

export function segmentFileName(firstSeq: number): string {
  return `${String(firstSeq).padStart(20, '0')}.wal`
}

const SEGMENT_NAME = /^(\d{20})\.wal$/
export function parseSegmentFileName(name: string): number | undefined {
  const m = SEGMENT_NAME.exec(name)
  return m ? Number(m[1]) : undefined
}

export interface SegmentHeader {
  version: number
  firstSeq: number
  createdMs: number
  chainStart: Buffer
  salt: Buffer
  /** CRC32C(salt): the seed of every record checksum in this segment. */
  saltSeed: number
}

export function encodeSegmentHeader(h: Omit<SegmentHeader, 'version' | 'saltSeed'>): Buffer {
  const b = Buffer.alloc(SEGMENT_HEADER_BYTES)
  SEGMENT_MAGIC.copy(b, 0)
  b.writeUInt16LE(FORMAT_VERSION, 8)
  b.writeUInt16LE(SEGMENT_HEADER_BYTES, 10)
  b.writeUInt32LE(0, 12)
  writeU64(b, 16, h.firstSeq)
  writeI64(b, 24, h.createdMs)
  h.chainStart.copy(b, 32, 0, HASH_BYTES)
  h.salt.copy(b, 64, 0, SALT_BYTES)
  b.writeUInt32LE(crc32c(b, 0, 0, 72), 72)
  return b
}

export type HeaderProblem = 'short' | 'magic' | 'version' | 'checksum' | 'layout'

/** Decode a segment header; a problem is returned, not thrown, so callers can name the file. */
export function decodeSegmentHeader(b: Uint8Array): SegmentHeader | { problem: HeaderProblem; version?: number } {
  if (b.length < SEGMENT_HEADER_BYTES) return { problem: 'short' }
  const buf = Buffer.from(b.buffer, b.byteOffset, b.byteLength)
  if (!buf.subarray(0, 8).equals(SEGMENT_MAGIC)) return { problem: 'magic' }
  const crcOk = buf.readUInt32LE(72) === crc32c(buf, 0, 0, 72)
  const version = buf.readUInt16LE(8)
  // A version we do not know is reported as such only when the header is intact;
  // a flipped bit in the version field is damage, not a newer format.
  if (!crcOk) return { problem: 'checksum' }
  if (version !== FORMAT_VERSION) return { problem: 'version', version }
  if (buf.readUInt16LE(10) !== SEGMENT_HEADER_BYTES || buf.readUInt32LE(12) !== 0 || buf.readUInt32LE(76) !== 0) {
    return { problem: 'layout' }
  }
  const salt = Buffer.from(buf.subarray(64, 72))
  return {
    version,
    firstSeq: readU64(buf, 16),
    createdMs: readI64(buf, 24),
    chainStart: Buffer.from(buf.subarray(32, 64)),
    salt,
    saltSeed: crc32c(salt),
  }
}

/**
 * Finish a record whose payload is already at buf[off+64, off+64+len): write the
 * header, chain it to prevHash and checksum it. Returns this record's hash
 * (a view into buf; copy it if buf will be reused).
 */
export function sealRecord(
  buf: Buffer,
  off: number,
  len: number,
  type: number,
  flags: number,
  batchIndex: number,
  seq: number,
  timeMs: number,
  prevHash: Uint8Array,
  saltSeed: number,
): Buffer {
  buf.set(prevHash, off + 32)
  sealRecordInPlace(buf, off, len, type, flags, batchIndex, seq, timeMs, saltSeed)
  return buf.subarray(off + 32, off + 64)
}

/**
 * sealRecord for a writer that has already put the previous record's hash at
 * buf[off+32, off+64) (the hash field is the chain input): no allocation
 * besides the digest itself. The field is then overwritten with this record's hash.
 */
export function sealRecordInPlace(
  buf: Buffer,
  off: number,
  len: number,
  type: number,
  flags: number,
  batchIndex: number,
  seq: number,
  timeMs: number,
  saltSeed: number,
): void {
  buf.writeUInt32LE(RECORD_MAGIC, off)
  buf.writeUInt32LE(len, off + 8)
  buf[off + 12] = type
  buf[off + 13] = flags
  buf.writeUInt16LE(batchIndex, off + 14)
  writeU64(buf, off + 16, seq)
  writeI64(buf, off + 24, timeMs)
  const end = off + RECORD_HEADER_BYTES + len
  sha256(buf.subarray(off + 8, end)).copy(buf, off + 32)
  buf.writeUInt32LE(crc32c(buf, saltSeed, off + 8, end), off + 4)
}

export type RecordProblem =
  | 'truncated' // the record (or its header) runs past the end of the data
  | 'zero' // all-zero bytes where a record should start (preallocated or lost write)
  | 'magic' // not a record start
  | 'length' // the length field is larger than any event can be
  | 'checksum' // CRC32C mismatch
  | 'reserved' // an unknown type or flag bit
  | 'seq' // the seq is not the next one (gap, duplicate or reorder)
  | 'chain' // the hash does not chain to the previous record
  | 'batch' // batchIndex does not continue the batch (checked by scanSegment)

export interface RecordOk {
  ok: true
  len: number
  type: number
  flags: number
  batchIndex: number
  seq: number
  timeMs: number
  /** Offset of the payload in the buffer. */
  payloadOff: number
  /** Offset just past this record. */
  end: number
}

export interface RecordBad {
  ok: false
  problem: RecordProblem
  /** The seq the record claims, when its header could be read. */
  seq?: number
}

/**
 * Check the record at buf[off, end): framing, checksum, seq and hash chain.
 * On success `prevHash` is overwritten with this record's hash. Does not modify
 * buf (the hash field is restored after checking).
 */
export function checkRecord(
  buf: Buffer,
  off: number,
  end: number,
  saltSeed: number,
  expectedSeq: number,
  prevHash: Buffer,
  payloadBytesMax: number,
): RecordOk | RecordBad {
  if (end - off < RECORD_HEADER_BYTES) return { ok: false, problem: isZero(buf, off, end) ? 'zero' : 'truncated' }
  const magic = buf.readUInt32LE(off)
  if (magic !== RECORD_MAGIC)
    return { ok: false, problem: isZero(buf, off, off + RECORD_HEADER_BYTES) ? 'zero' : 'magic' }
  const len = buf.readUInt32LE(off + 8)
  if (len > payloadBytesMax) return { ok: false, problem: 'length' }
  const recEnd = off + RECORD_HEADER_BYTES + len
  if (recEnd > end) return { ok: false, problem: 'truncated' }
  if (buf.readUInt32LE(off + 4) !== crc32c(buf, saltSeed, off + 8, recEnd)) return { ok: false, problem: 'checksum' }
  const seq = readU64(buf, off + 16)
  const type = buf[off + 12]!
  if (!KNOWN_TYPES.has(type) || (buf[off + 13]! & ~RecordFlag.COMMIT) !== 0) {
    return { ok: false, problem: 'reserved', seq }
  }
  if (seq !== expectedSeq) return { ok: false, problem: 'seq', seq }
  const stored = Buffer.from(buf.subarray(off + 32, off + 64))
  prevHash.copy(buf, off + 32)
  const hash = sha256(buf.subarray(off + 8, recEnd))
  stored.copy(buf, off + 32)
  if (!hash.equals(stored)) return { ok: false, problem: 'chain', seq }
  hash.copy(prevHash)
  return {
    ok: true,
    len,
    type,
    flags: buf[off + 13]!,
    batchIndex: buf.readUInt16LE(off + 14),
    seq,
    timeMs: readI64(buf, off + 24),
    payloadOff: off + RECORD_HEADER_BYTES,
    end: recEnd,
  }
}

/**
 * Does a record that checks out on its own (magic, length, checksum) start at
 * off? Used to look past damage: anything valid after it proves the damage is
 * not a torn tail.
 */
export function looksLikeRecord(
  buf: Buffer,
  off: number,
  end: number,
  saltSeed: number,
  payloadBytesMax: number,
): { len: number; flags: number; batchIndex: number; seq: number; end: number } | undefined {
  if (end - off < RECORD_HEADER_BYTES || buf.readUInt32LE(off) !== RECORD_MAGIC) return undefined
  const len = buf.readUInt32LE(off + 8)
  if (len > payloadBytesMax) return undefined
  const recEnd = off + RECORD_HEADER_BYTES + len
  if (recEnd > end || buf.readUInt32LE(off + 4) !== crc32c(buf, saltSeed, off + 8, recEnd)) return undefined
  return {
    len,
    flags: buf[off + 13]!,
    batchIndex: buf.readUInt16LE(off + 14),
    seq: readU64(buf, off + 16),
    end: recEnd,
  }
}

function isZero(buf: Buffer, from: number, to: number): boolean {
  for (let i = from; i < to; i++) if (buf[i] !== 0) return false
  return true
}

// Seqs and times are below 2^53: two 32-bit halves avoid BigInt in the hot path.
export function writeU64(b: Buffer, off: number, v: number): void {
  b.writeUInt32LE(v % 0x1_0000_0000, off)
  b.writeUInt32LE(Math.floor(v / 0x1_0000_0000), off + 4)
}
export function readU64(b: Buffer, off: number): number {
  return b.readUInt32LE(off) + b.readUInt32LE(off + 4) * 0x1_0000_0000
}
export function writeI64(b: Buffer, off: number, v: number): void {
  const hi = Math.floor(v / 0x1_0000_0000)
  b.writeUInt32LE(v - hi * 0x1_0000_0000, off)
  b.writeInt32LE(hi, off + 4)
}
export function readI64(b: Buffer, off: number): number {
  return b.readUInt32LE(off) + b.readInt32LE(off + 4) * 0x1_0000_0000
}
