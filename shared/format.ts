/**
 * The WAL format, versions 1 and 2: segment headers and records
 * (docs/wal-format.md is the prose of this file; keep both in step). This is
 * the only code that knows a byte offset of the format.
 *
 *   segment file  <firstSeq, 20 digits>.wal
 *   ┌──────── header (v1: 80 bytes, v2: 128 bytes) ────────┐┌─ record ─┐┌─ record ─┐ ...
 *   v1: magic version hdrBytes flags firstSeq created chainStart salt crc
 *   v2: magic version hdrBytes batchBytesMax firstSeq created chainStart salt
 *       logId crc          (logId: 16 random bytes made at the log's first open)
 *
 *   record: 64-byte header + payload
 *     0  u32 magic      0x5261746d ("mtaR" on disk)
 *     4  u32 crc        CRC32C of bytes [8, 64+len), seeded with CRC32C(salt)
 *     8  u32 len        payload bytes
 *    12  u8  type       1 event; v2 adds 2 checkpoint, 3 key change, 4 seal, 5 gap, 6 tombstone
 *    13  u8  flags      bit 0 COMMIT: last record of a write batch;
 *                       v2 bit 1 SEALED: last record of its segment
 *    14  u16 batchIndex position of the record in its write batch (0 = first)
 *    16  u64 seq        first seq of the record's range; contiguous across segments
 *    24  i64 timeMs     event timestamp, ms since the Unix epoch
 *    32  32B hash       v1: SHA-256(bytes[8,32) ‖ previous record's hash ‖ payload)
 *                       v2: the record's Merkle leaf hash, which covers the
 *                       previous record's hash (recordHashInto)
 *    64  len payload    event: UTF-8 JSON, or a sealed event (shared/sealed.ts);
 *                       seal, key change, tombstone: UTF-8 JSON; gap: u64 lastSeq, then UTF-8 JSON
 *
 * Every record has a seq range [seq, lastSeq]: one seq for events and seals,
 * exactly the lost seqs for a gap (lastSeq is the first 8 payload bytes).
 *
 * Why: the magic makes resync after damage a byte scan; the salt (random per
 * segment file) means bytes left from another file never validate; the hash
 * chain links every record to all before it, across segments (the header's
 * chainStart is the hash of the record before firstSeq) and across restarts;
 * in v2 the chain link and the Merkle leaf are one hash, so the writer and
 * verify pay one SHA-256 per record, and re-framing (recover, mirror repair)
 * keeps it: it covers content (type, seq range, time, payload, the previous
 * record's hash), never flags, batchIndex, salt or offsets;
 * the COMMIT flag makes a batch all-or-nothing, so recovery can cut a torn batch
 * whole; batchIndex tells which batch a lone surviving record belongs to
 * (its batch starts at seq − batchIndex), so damage followed by a record of a
 * later batch is never mistaken for a torn tail; SEALED closes a segment, so
 * damage in it is never a torn tail. Integers are little-endian.
 */

import { createHash, hash as oneShotHash } from 'node:crypto'
import { crc32c } from './crc32c.js'
import { AuditError, ERROR_CODES } from './errors.js'
import { FIXED } from './limits.js'

/** The version this code writes. */
export const FORMAT_VERSION = 2
/** The versions this code reads. */
export const FORMAT_VERSIONS: readonly number[] = [1, 2]
export const SEGMENT_MAGIC = Buffer.from('MTLAWAL\0', 'latin1')
/** Header bytes of a version-1 segment. */
export const SEGMENT_HEADER_BYTES_V1 = 80
/** Header bytes of a version-2 segment; also what a reader reads to decode any header. */
export const SEGMENT_HEADER_BYTES = 128
export const LOG_ID_BYTES = 16
/** The largest header size a later version may declare; a reader reads this much to decode any header. */
export const SEGMENT_HEADER_BYTES_MAX = 4096
export const RECORD_MAGIC = 0x5261746d
export const RECORD_HEADER_BYTES = 64
export const HASH_BYTES = 32
export const SALT_BYTES = 8
/** The head of a leaf (its bytes before the payload; see leafHead): version 1, and version 2 with prevHash. */
export const LEAF_HEAD_BYTES_V1 = 26
export const LEAF_HEAD_BYTES = 18 + HASH_BYTES

export const RecordType = { EVENT: 1, CHECKPOINT: 2, KEY_CHANGE: 3, SEAL: 4, GAP: 5, TOMBSTONE: 6 } as const
export const RecordFlag = { COMMIT: 1, SEALED: 2 } as const
/** Records in one write batch at most (batchIndex is a u16). */
export const BATCH_RECORDS_MAX = 0xffff
/** Bytes of a gap record's payload before its JSON: the u64 last seq of the range. */
export const GAP_LAST_SEQ_BYTES = 8

/** What each format version allows in a record: its types and flag bits. */
export interface RecordRules {
  readonly version: number
  readonly types: ReadonlySet<number>
  readonly flags: number
}
export const RULES_V1: RecordRules = { version: 1, types: new Set([RecordType.EVENT]), flags: RecordFlag.COMMIT }
export const RULES_V2: RecordRules = {
  version: 2,
  types: new Set([
    RecordType.EVENT,
    RecordType.CHECKPOINT,
    RecordType.KEY_CHANGE,
    RecordType.SEAL,
    RecordType.GAP,
    RecordType.TOMBSTONE,
  ]),
  flags: RecordFlag.COMMIT | RecordFlag.SEALED,
}
/**
 * Record types an app thread may publish into the ring (shared/ring/layout.ts,
 * the kind bits of a length word): events, and the records the sink makes on
 * the app thread (a checkpoint, signed off the durable path; a key change after
 * a rotation; an erasure tombstone). The writer makes seals and gaps (and the
 * key change that starts a session's epoch) itself and refuses any other kind.
 */
export const SINK_RECORD_TYPES: ReadonlySet<number> = new Set([
  RecordType.EVENT,
  RecordType.CHECKPOINT,
  RecordType.KEY_CHANGE,
  RecordType.TOMBSTONE,
])
/** The error for a segment of a format version this code does not read. */
export function versionUnsupported(segment: string, version: number | undefined): AuditError {
  return new AuditError(
    ERROR_CODES.VERSION_UNSUPPORTED,
    `segment ${segment} has format version ${version}; this mtlog-audit reads versions ${FORMAT_VERSIONS.join(' and ')}`,
    { details: { segment, version: version ?? null } },
  )
}

export function rulesOf(version: number): RecordRules {
  return version === 1 ? RULES_V1 : RULES_V2
}

export const GENESIS_HASH: Buffer = Buffer.alloc(HASH_BYTES)

/**
 * SHA-256 of bytes, written into out[at, at + 32). One node:crypto call
 * (crypto.hash, node ≥ 20.12) with a latin1 string as its output, one char
 * per byte, written back: the 'buffer' output allocates a new ArrayBuffer
 * per call, which for a 330-byte record cost 2.2 µs against 0.8 µs this way
 * on Node 20.20 (1.8 against 0.5 µs on 24.21; docs/integrity.md). Every
 * per-record hash (the chain, Merkle leaves and nodes) goes through here.
 */
export function sha256Into(bytes: Uint8Array, out: Buffer, at: number): void {
  out.write(oneShotHash('sha256', bytes, 'binary'), at, HASH_BYTES, 'latin1')
}

/** SHA-256 of bytes as a new 32-byte Buffer (from Buffer's pool; see sha256Into). */
export function sha256(bytes: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(HASH_BYTES)
  sha256Into(bytes, out, 0)
  return out
}

export function segmentFileName(firstSeq: number): string {
  return `${String(firstSeq).padStart(20, '0')}.wal`
}

const SEGMENT_NAME = /^(\d{20})\.wal$/
export function parseSegmentFileName(name: string): number | undefined {
  const m = SEGMENT_NAME.exec(name)
  return m ? Number(m[1]) : undefined
}

/** The segment files among a directory's names, oldest first (the names sort by first seq). */
export function segmentNames(names: readonly string[]): string[] {
  return names.filter((n) => parseSegmentFileName(n) !== undefined).sort()
}

/** A side file: the bytes open() cut from a segment's torn tail, `<segment>.torn-<ms>[-k]`. */
export const SIDE_FILE = /\.torn-[\d-]+$/

/** The name of the side file for a cut of segment at time nowMs (k > 0 when that name is taken). */
export function sideFileName(segment: string, nowMs: number, k = 0): string {
  return k === 0 ? `${segment}.torn-${nowMs}` : `${segment}.torn-${nowMs}-${k}`
}

export interface SegmentHeader {
  version: number
  /** Header bytes: where the first record starts. */
  bytes: number
  firstSeq: number
  createdMs: number
  chainStart: Buffer
  salt: Buffer
  /** CRC32C(salt): the seed of every record checksum in this segment. */
  saltSeed: number
  /** The log's id (v2); zeros for v1. */
  logId: Buffer
  /** The batchBytesMax of the writer that made the segment (v2; 0 for v1): no torn write is longer. */
  batchBytesMax: number
  /** What records in this segment may be. */
  rules: RecordRules
}

export interface NewSegmentHeader {
  firstSeq: number
  createdMs: number
  chainStart: Buffer
  salt: Buffer
  logId?: Buffer
  batchBytesMax?: number
}

/** Encode a header of the given version (v2 unless a test makes v1 fixtures). */
export function encodeSegmentHeader(h: NewSegmentHeader, version = FORMAT_VERSION): Buffer {
  const bytes = version === 1 ? SEGMENT_HEADER_BYTES_V1 : SEGMENT_HEADER_BYTES
  const b = Buffer.alloc(bytes)
  SEGMENT_MAGIC.copy(b, 0)
  b.writeUInt16LE(version, 8)
  b.writeUInt16LE(bytes, 10)
  b.writeUInt32LE(version === 1 ? 0 : (h.batchBytesMax ?? 0), 12)
  writeU64(b, 16, h.firstSeq)
  writeI64(b, 24, h.createdMs)
  h.chainStart.copy(b, 32, 0, HASH_BYTES)
  h.salt.copy(b, 64, 0, SALT_BYTES)
  if (version !== 1) (h.logId ?? Buffer.alloc(LOG_ID_BYTES)).copy(b, 72, 0, LOG_ID_BYTES)
  b.writeUInt32LE(crc32c(b, 0, 0, bytes - 8), bytes - 8)
  return b
}

export type HeaderProblem = 'short' | 'magic' | 'version' | 'checksum' | 'layout'

/**
 * Decode a segment header (give at least SEGMENT_HEADER_BYTES, or the whole
 * file when it is shorter); a problem is returned, not thrown, so callers can
 * name the file.
 */
export function decodeSegmentHeader(b: Uint8Array): SegmentHeader | { problem: HeaderProblem; version?: number } {
  if (b.length < SEGMENT_HEADER_BYTES_V1) return { problem: 'short' }
  const buf = Buffer.from(b.buffer, b.byteOffset, b.byteLength)
  if (!buf.subarray(0, 8).equals(SEGMENT_MAGIC)) return { problem: 'magic' }
  const version = buf.readUInt16LE(8)
  // From version 2 on, every header says its size at [10, 12) and keeps its CRC
  // at [size − 8, size − 4): a version we do not know is reported as such only
  // when its header is intact; a flipped bit in the version field is damage.
  const bytes = version === 1 ? SEGMENT_HEADER_BYTES_V1 : buf.readUInt16LE(10)
  if (bytes < SEGMENT_HEADER_BYTES_V1 || bytes > SEGMENT_HEADER_BYTES_MAX || bytes % 8 !== 0)
    return { problem: 'layout' }
  if (buf.length < bytes) return { problem: 'short' }
  if (buf.readUInt32LE(bytes - 8) !== crc32c(buf, 0, 0, bytes - 8)) return { problem: 'checksum' }
  if (!FORMAT_VERSIONS.includes(version)) return { problem: 'version', version }
  if (version !== 1 && bytes !== SEGMENT_HEADER_BYTES) return { problem: 'layout' }
  if (buf.readUInt32LE(bytes - 4) !== 0) return { problem: 'layout' }
  if (version === 1 && (buf.readUInt32LE(12) !== 0 || buf.readUInt16LE(10) !== SEGMENT_HEADER_BYTES_V1))
    return { problem: 'layout' }
  if (version !== 1) {
    for (let i = 72 + LOG_ID_BYTES; i < bytes - 8; i++) if (buf[i] !== 0) return { problem: 'layout' }
  }
  const salt = Buffer.from(buf.subarray(64, 72))
  return {
    version,
    bytes,
    firstSeq: readU64(buf, 16),
    createdMs: readI64(buf, 24),
    chainStart: Buffer.from(buf.subarray(32, 64)),
    salt,
    saltSeed: crc32c(salt),
    logId: version === 1 ? Buffer.alloc(LOG_ID_BYTES) : Buffer.from(buf.subarray(72, 72 + LOG_ID_BYTES)),
    batchBytesMax: version === 1 ? 0 : buf.readUInt32LE(12),
    rules: rulesOf(version),
  }
}

/**
 * Finish a record whose payload is already at buf[off+64, off+64+len): write the
 * header, chain it to prevHash and checksum it, in the given format version.
 * Returns this record's hash (a view into buf; copy it if buf will be reused).
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
  version = FORMAT_VERSION,
): Buffer {
  buf.set(prevHash, off + 32)
  sealRecordInPlace(buf, off, len, type, flags, batchIndex, seq, timeMs, saltSeed, version)
  return buf.subarray(off + 32, off + 64)
}

/**
 * sealRecord for a writer that has already put the previous record's hash at
 * buf[off+32, off+64) (the hash field is the chain input): no allocation. The
 * field is then overwritten with this record's hash: in v2 its leaf hash
 * (v2HashInto; a gap's lastSeq is read from its payload), in v1 the
 * SHA-256 of bytes [8, 64+len) with the chain input in place.
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
  version = FORMAT_VERSION,
): void {
  buf.writeUInt32LE(RECORD_MAGIC, off)
  buf.writeUInt32LE(len, off + 8)
  buf[off + 12] = type
  buf[off + 13] = flags
  buf.writeUInt16LE(batchIndex, off + 14)
  writeU64(buf, off + 16, seq)
  writeI64(buf, off + 24, timeMs)
  const end = off + RECORD_HEADER_BYTES + len
  if (version === 1) sha256Into(buf.subarray(off + 8, end), buf, off + 32)
  else v2HashInto(buf, off, end, undefined, buf, off + 32)
  buf.writeUInt32LE(crc32c(buf, saltSeed, off + 8, end), off + 4)
}

/**
 * Change the flags of a sealed v2 record (the writer marks a batch's last
 * record COMMIT when it flushes): the v2 hash does not cover flags, so only
 * the CRC is computed again.
 */
export function setRecordFlags(buf: Buffer, off: number, flags: number, saltSeed: number): void {
  buf[off + 13] = flags
  const end = off + RECORD_HEADER_BYTES + buf.readUInt32LE(off + 8)
  buf.writeUInt32LE(crc32c(buf, saltSeed, off + 8, end), off + 4)
}

/** recordHashInto's scratch for a v1 record: its stored hash field while the chain input is in place, and the hash. */
const V1_STORED_SCRATCH = Buffer.alloc(HASH_BYTES)
const V1_HASH_SCRATCH = Buffer.alloc(HASH_BYTES)

/**
 * The hash the record at buf[off, end) (end: just past its payload) must
 * store when it chains to prevHash, in its segment's format version, into
 * out[at, at + 32) (out may be buf, at the record's own hash field). buf is
 * otherwise left as it was (a v1 record's hash field holds the chain input
 * while it is hashed, then is put back).
 */
export function recordHashInto(
  buf: Buffer,
  off: number,
  end: number,
  version: number,
  prevHash: Uint8Array,
  out: Buffer,
  at: number,
): void {
  if (version === 1) {
    buf.copy(V1_STORED_SCRATCH, 0, off + 32, off + 64)
    buf.set(prevHash, off + 32)
    sha256Into(buf.subarray(off + 8, end), V1_HASH_SCRATCH, 0)
    V1_STORED_SCRATCH.copy(buf, off + 32)
    V1_HASH_SCRATCH.copy(out, at)
    return
  }
  v2HashInto(buf, off, end, prevHash, out, at)
}

/** v2HashInto's scratch: a record's stored hash while prevHash stands in its field, and the hash. */
const STORED_SCRATCH = Buffer.alloc(HASH_BYTES)
const V2_HASH_SCRATCH = Buffer.alloc(HASH_BYTES)
/** Where 0x00 ‖ leaf bytes start in a v2 record hashed in place: header byte 13 (flags). */
const IN_PLACE_AT = 13

/**
 * A v2 record's hash, its leaf hash over prevHash, into out[at, at + 32),
 * hashed where the record is. The header already holds the leaf's fields in
 * the leaf's order: type (byte 12, copied to 15), seq [16, 24), timeMs [24,
 * 32), the hash field [32, 64) for prevHash, then the payload. So for the one
 * SHA-256 call over bytes [13, end) only bytes 13–15 (flags, batchIndex)
 * become 0x00 ‖ 2 ‖ type and the hash field holds prevHash; then both are put
 * back. The payload is never copied, whatever its size, and the hashed input
 * is 5 bytes shorter than a v1 record's. prevHash undefined: the field holds
 * it already (the writer's chain input). out is buf itself (then the hash
 * goes through a scratch) or a buffer outside the record.
 */
function v2HashInto(
  buf: Buffer,
  off: number,
  end: number,
  prevHash: Uint8Array | undefined,
  out: Buffer,
  at: number,
): void {
  const flags = buf[off + 13]!
  const index0 = buf[off + 14]!
  const index1 = buf[off + 15]!
  const direct = prevHash === undefined || out !== buf
  if (prevHash !== undefined) {
    buf.copy(STORED_SCRATCH, 0, off + 32, off + 64)
    buf.set(prevHash, off + 32)
  }
  buf[off + IN_PLACE_AT] = 0x00
  buf[off + 14] = 2 // leaf version
  buf[off + 15] = buf[off + 12]!
  if (direct) sha256Into(buf.subarray(off + IN_PLACE_AT, end), out, at)
  else sha256Into(buf.subarray(off + IN_PLACE_AT, end), V2_HASH_SCRATCH, 0)
  buf[off + 13] = flags
  buf[off + 14] = index0
  buf[off + 15] = index1
  if (prevHash !== undefined) STORED_SCRATCH.copy(buf, off + 32)
  if (!direct) V2_HASH_SCRATCH.copy(out, at)
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
  /** Last seq of the record's range: seq, except for a gap record. */
  lastSeq: number
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

/** The fields of a record that checks out on its own (magic, length, CRC, type, flags, range). */
export interface RecordFrame {
  len: number
  type: number
  flags: number
  batchIndex: number
  seq: number
  lastSeq: number
  timeMs: number
  end: number
}

const SEQ_LIMIT = 2 ** 53

/**
 * The record at buf[off, end) on its own: framing, CRC with the segment's salt,
 * type, flags and seq range as the version's rules allow. The one place that
 * knows what a record type may look like.
 */
function frameAt(
  buf: Buffer,
  off: number,
  end: number,
  saltSeed: number,
  payloadBytesMax: number,
  rules: RecordRules,
): RecordFrame | RecordProblem {
  if (end - off < RECORD_HEADER_BYTES) return isZero(buf, off, end) ? 'zero' : 'truncated'
  if (buf.readUInt32LE(off) !== RECORD_MAGIC) return isZero(buf, off, off + RECORD_HEADER_BYTES) ? 'zero' : 'magic'
  const len = buf.readUInt32LE(off + 8)
  if (len > payloadBytesMax) return 'length'
  const recEnd = off + RECORD_HEADER_BYTES + len
  if (recEnd > end) return 'truncated'
  if (buf.readUInt32LE(off + 4) !== crc32c(buf, saltSeed, off + 8, recEnd)) return 'checksum'
  const type = buf[off + 12]!
  const flags = buf[off + 13]!
  const seq = readU64(buf, off + 16)
  if (!rules.types.has(type) || (flags & ~rules.flags) !== 0 || seq < 1 || seq >= SEQ_LIMIT) return 'reserved'
  let lastSeq = seq
  if (type === RecordType.GAP) {
    if (len < GAP_LAST_SEQ_BYTES) return 'reserved'
    lastSeq = readU64(buf, off + RECORD_HEADER_BYTES)
    if (lastSeq < seq || lastSeq >= SEQ_LIMIT) return 'reserved'
  }
  // A seal is the last record of its segment, and ends its batch.
  if (type === RecordType.SEAL && flags !== (RecordFlag.COMMIT | RecordFlag.SEALED)) return 'reserved'
  if ((flags & RecordFlag.SEALED) !== 0 && (flags & RecordFlag.COMMIT) === 0) return 'reserved'
  return {
    len,
    type,
    flags,
    batchIndex: buf.readUInt16LE(off + 14),
    seq,
    lastSeq,
    timeMs: readI64(buf, off + 24),
    end: recEnd,
  }
}

/** checkRecord's scratch: the hash computed for a record. */
const HASH_SCRATCH = Buffer.alloc(HASH_BYTES)

/**
 * Check the record at buf[off, end): framing, checksum, type, seq and hash
 * chain. On success `prevHash` is overwritten with this record's hash. Does
 * not modify buf (the hash field is restored after checking).
 */
export function checkRecord(
  buf: Buffer,
  off: number,
  end: number,
  saltSeed: number,
  expectedSeq: number,
  prevHash: Buffer,
  payloadBytesMax: number,
  rules: RecordRules = RULES_V2,
): RecordOk | RecordBad {
  const f = frameAt(buf, off, end, saltSeed, payloadBytesMax, rules)
  if (typeof f === 'string') {
    return f === 'reserved' ? { ok: false, problem: f, seq: readU64(buf, off + 16) } : { ok: false, problem: f }
  }
  if (f.seq !== expectedSeq) return { ok: false, problem: 'seq', seq: f.seq }
  recordHashInto(buf, off, f.end, rules.version, prevHash, HASH_SCRATCH, 0)
  // Plain loops: for 32 bytes they cost less than Buffer's compare and copy calls.
  for (let i = 0; i < HASH_BYTES; i++)
    if (buf[off + 32 + i] !== HASH_SCRATCH[i]) return { ok: false, problem: 'chain', seq: f.seq }
  for (let i = 0; i < HASH_BYTES; i++) prevHash[i] = HASH_SCRATCH[i]!
  return { ok: true, ...f, payloadOff: off + RECORD_HEADER_BYTES }
}

/**
 * Does a record that checks out on its own (magic, length, checksum, type,
 * flags, range) start at off? Used to look past damage: anything valid after it
 * proves the damage is not a torn tail.
 */
export function looksLikeRecord(
  buf: Buffer,
  off: number,
  end: number,
  saltSeed: number,
  payloadBytesMax: number,
  rules: RecordRules = RULES_V2,
): RecordFrame | undefined {
  if (end - off < RECORD_HEADER_BYTES || buf.readUInt32LE(off) !== RECORD_MAGIC) return undefined
  const f = frameAt(buf, off, end, saltSeed, payloadBytesMax, rules)
  return typeof f === 'string' ? undefined : f
}

/** A gap record's payload: the u64 last seq of the range, then why, as JSON. */
export function gapPayload(toSeq: number, why: Record<string, unknown>): Buffer {
  const json = Buffer.from(JSON.stringify(why))
  const b = Buffer.alloc(GAP_LAST_SEQ_BYTES + json.length)
  writeU64(b, 0, toSeq)
  json.copy(b, GAP_LAST_SEQ_BYTES)
  return b
}

/** The last seq a gap record's payload names. */
export function gapLastSeq(payload: Buffer): number {
  return readU64(payload, 0)
}

/** The payload a record carries after its range prefix (a gap's u64 last seq), as a view into buf. */
export function recordBody(buf: Buffer, r: { type: number; end: number; len: number }): Buffer {
  const start = r.end - r.len + (r.type === RecordType.GAP ? GAP_LAST_SEQ_BYTES : 0)
  return buf.subarray(start, r.end)
}

/**
 * A record's Merkle leaf (docs/wal-format.md section 0, "Leaves"): its content,
 * never its framing (salt, CRC, offsets, batch index, flags), so recover,
 * rewrite and mirror repair keep every proof valid. The leaf bytes of a
 * record in a
 *
 *   v2 segment:  u8 2 ‖ u8 type ‖ u64 seq ‖ i64 timeMs ‖ prevHash ‖ payload as stored
 *   v1 segment:  u8 1 ‖ u8 type ‖ u64 seq ‖ u64 lastSeq ‖ i64 timeMs ‖ payload as stored
 *
 * prevHash is the hash stored by the record before it (for a segment's first
 * record, the header's chainStart). A v2 leaf covers the seq range without a
 * lastSeq field: it is seq, except for a gap, whose payload starts with it.
 * The v2 fields are in the record header's order, so a record is hashed where
 * it is (v2HashInto). The leaf hash is RFC 9162's
 * SHA-256(0x00 ‖ leaf bytes). A v2 record stores its leaf hash as its hash:
 * one SHA-256 is both its chain link and its leaf. A v1 record's leaf is
 * computed from it (its hash field holds the v1 chain hash).
 */

/**
 * A leaf's head (its bytes before the payload): version 2 with prevHash
 * (lastSeq is then not in it: see above), version 1 without. A view into
 * `into` (at least LEAF_HEAD_BYTES_V1 long) when given.
 */
export function leafHead(
  type: number,
  seq: number,
  lastSeq: number,
  timeMs: number,
  prevHash: Uint8Array | undefined,
  into?: Buffer,
): Buffer {
  const bytes = prevHash === undefined ? LEAF_HEAD_BYTES_V1 : LEAF_HEAD_BYTES
  const b = into === undefined ? Buffer.alloc(bytes) : into.subarray(0, bytes)
  b[1] = type
  writeU64(b, 2, seq)
  if (prevHash === undefined) {
    b[0] = 1
    writeU64(b, 10, lastSeq)
    writeI64(b, 18, timeMs)
  } else {
    b[0] = 2
    writeI64(b, 10, timeMs)
    b.set(prevHash, 18)
  }
  return b
}

/** leafHashInto copies a leaf behind its 0x00 prefix here, so node:crypto hashes it in one call. */
const LEAF_SCRATCH = Buffer.alloc(1 + FIXED.merkleScratchBytes)
const LEAF_PREFIX_BYTES = Buffer.of(0x00)

/**
 * An RFC 9162 leaf hash, SHA-256(0x00 ‖ head ‖ body) (head: leafHead, body:
 * the payload as stored), written into out[at, at + 32) without allocating.
 * lib/integrity's leafHashOf is this.
 */
export function leafHashInto(head: Uint8Array, body: Uint8Array, out: Buffer, at: number): void {
  const bytes = 1 + head.length + body.length
  if (bytes <= LEAF_SCRATCH.length) {
    LEAF_SCRATCH[0] = 0x00
    LEAF_SCRATCH.set(head, 1)
    LEAF_SCRATCH.set(body, 1 + head.length)
    sha256Into(LEAF_SCRATCH.subarray(0, bytes), out, at)
    return
  }
  // A big leaf: copying it costs more than the second update call.
  createHash('sha256').update(LEAF_PREFIX_BYTES).update(head).update(body).digest().copy(out, at)
}

/** A record's whole leaf bytes (a proof bundle carries them); prevHash undefined for a v1 record. */
export function leafBytes(
  type: number,
  seq: number,
  lastSeq: number,
  timeMs: number,
  prevHash: Uint8Array | undefined,
  payload: Uint8Array,
): Buffer {
  const head = prevHash === undefined ? LEAF_HEAD_BYTES_V1 : LEAF_HEAD_BYTES
  const b = Buffer.alloc(head + payload.length)
  leafHead(type, seq, lastSeq, timeMs, prevHash, b)
  b.set(payload, head)
  return b
}

/** A record as stored and where it is: what the read side and the signer walk, and what a leaf covers. */
export interface StoredRecord {
  type: number
  seq: number
  lastSeq: number
  timeMs: number
  /** The payload as stored (a view: valid while the walk is on the record). */
  payload: Buffer
  /** The format version of its segment. */
  version: number
  /** Its stored hash field (a view, as payload): in a v2 segment its leaf hash. */
  hash: Buffer
  segment: string
  /** Offset of the record's header in its segment. */
  offset: number
}

/** leafOfStored's scratch for a v1 leaf's head. */
const V1_HEAD_SCRATCH = Buffer.alloc(LEAF_HEAD_BYTES_V1)

/**
 * A stored record's leaf hash into out[at, at + 32): a v2 record's stored
 * hash (which whoever checked its chain has checked), a v1 record's computed.
 */
export function leafOfStored(r: StoredRecord, out: Buffer, at: number): void {
  if (r.version === 1)
    leafHashInto(leafHead(r.type, r.seq, r.lastSeq, r.timeMs, undefined, V1_HEAD_SCRATCH), r.payload, out, at)
  else r.hash.copy(out, at)
}

export interface Leaf {
  type: number
  seq: number
  lastSeq: number
  timeMs: number
  /** The hash of the record before (a v2 leaf); undefined in a v1 leaf. */
  prevHash: Buffer | undefined
  payload: Buffer
}

/** Read leaf bytes back; undefined when they are not a leaf of version 1 or 2. */
export function parseLeaf(leaf: Uint8Array): Leaf | undefined {
  const version = leaf[0]
  const head = version === 1 ? LEAF_HEAD_BYTES_V1 : version === 2 ? LEAF_HEAD_BYTES : -1
  if (head < 0 || leaf.length < head) return undefined
  const b = Buffer.from(leaf.buffer, leaf.byteOffset, leaf.length)
  const type = b[1]!
  const seq = readU64(b, 2)
  const payload = b.subarray(head)
  let lastSeq: number
  if (version === 1) lastSeq = readU64(b, 10)
  else if (type !== RecordType.GAP) lastSeq = seq
  else if (payload.length >= GAP_LAST_SEQ_BYTES) lastSeq = readU64(payload, 0)
  else return undefined
  if (seq < 1 || lastSeq < seq || lastSeq >= SEQ_LIMIT) return undefined
  return {
    type,
    seq,
    lastSeq,
    timeMs: readI64(b, version === 1 ? 18 : 10),
    prevHash: version === 2 ? b.subarray(18, LEAF_HEAD_BYTES) : undefined,
    payload,
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
