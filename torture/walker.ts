/**
 * The torture runner's own WAL walker, format v1 and v2, written from
 * docs/wal-format.md (section 0 for version 2, sections 2-7 and 10 for version
 * 1). On purpose it shares only the CRC32C primitive and node:crypto SHA-256
 * with the library, never shared/scan.ts or the codec's walking functions, so
 * a bug in the library's scanner cannot hide itself.
 *
 * What a valid log is, here:
 *   - headers: v1 (80 bytes, CRC at 72) or v2 (128 bytes, size at [10,12),
 *     batchBytesMax at 12, logId at 72, CRC of [0,120) at 120, the rest zero);
 *     versions never go back from 2 to 1; every v2 segment has the same logId;
 *   - records: v1 holds events only (flag COMMIT); v2 adds seal (type 4, flags
 *     COMMIT + SEALED, one seq), gap (type 5, range [seq, lastSeq], lastSeq
 *     in the first 8 payload bytes) and checkpoint (type 2, one seq, a signed
 *     tree head); SEALED implies COMMIT and ends the segment;
 *   - seq ranges tile the log from 1: each record starts at the previous
 *     record's lastSeq + 1 (events and seals one seq, a gap its whole range);
 *   - the hash chain holds across segments, batch indexes restart after COMMIT;
 *   - every segment but the last ends at a COMMIT, and a v2 segment with a
 *     successor ends with SEALED (a sealed segment has no tail);
 *   - in the last segment, bytes after the last COMMIT are a tail (a raw crash
 *     state may have one; after recovery none may remain), except after a
 *     SEALED record: there only zeros (zero-ahead space a crash left) may follow.
 * parseWal never throws for damage: it says where the valid log ends and why.
 */

import { createHash } from 'node:crypto'
import { crc32c } from '../shared/crc32c.js'

export const T_EVENT = 1
export const T_CHECKPOINT = 2
export const T_KEY_CHANGE = 3
export const T_SEAL = 4
export const T_GAP = 5
export const T_TOMBSTONE = 6
const V2_TYPES = new Set([T_EVENT, T_CHECKPOINT, T_KEY_CHANGE, T_SEAL, T_GAP, T_TOMBSTONE])
const F_COMMIT = 1
const F_SEALED = 2

export interface PRec {
  type: number
  /** First and last seq of the record's range (equal except for a gap). */
  seq: number
  lastSeq: number
  flags: number
  timeMs: number
  /** The payload as stored (a gap's starts with its u64 lastSeq). */
  payload: Buffer
  /** The stored hash field: equal for two sightings of the same record, different for any other record. */
  hash: Buffer
  segment: string
  offset: number
  end: number
}

export interface Header {
  version: number
  bytes: number
  firstSeq: number
  chainStart: Buffer
  /** CRC32C(salt): the seed of every record CRC in the segment. */
  seed: number
  logId: string | undefined
  batchBytesMax: number
}

export interface Parsed {
  /** Every committed record (events, seals, gaps), in log order. */
  records: PRec[]
  /** The committed events. */
  events: PRec[]
  segments: string[]
  /** Headers of the segments read (up to the first damaged one). */
  headers: Map<string, Header>
  /** Last committed seq (0 for an empty log). */
  lastSeq: number
  /** The last segment's last committed record carries SEALED: the log is sealed (closed, or rotated and not reopened). */
  sealed: boolean
  /**
   * The first thing that is not a valid committed log, if any (in the last
   * segment: where the committed part ends). `tail`: bytes after the last
   * COMMIT of the last segment that a raw crash state may hold (never after a seal, except zeros).
   */
  problem: { segment: string; offset: number; seq: number; what: string; tail: boolean } | undefined
  /** Bytes after the last COMMIT of the last segment. */
  tailBytes: number
  /** The tail is only zero bytes. */
  tailZero: boolean
  /** End of the committed data in the last segment. */
  commitEnd: number
}

const SEG_MAGIC = Buffer.from('MTLAWAL\0', 'latin1')
export const SEG_NAME = /^(\d{20})\.wal$/
const REC_MAGIC = 0x5261746d
const ZERO32 = Buffer.alloc(32)
const PAYLOAD_MAX = 64 * 1024 * 1024
const SEQ_END = 2 ** 53

function u64(b: Buffer, o: number): number {
  return b.readUInt32LE(o) + b.readUInt32LE(o + 4) * 0x1_0000_0000
}

function allZero(b: Buffer, from: number, to: number): boolean {
  for (let i = from; i < to; i++) if (b[i] !== 0) return false
  return true
}

/** A segment header, or what is wrong with it. */
export function parseHeader(b: Buffer): Header | string {
  if (b.length < 80) return 'short'
  if (!b.subarray(0, 8).equals(SEG_MAGIC)) return 'magic'
  const version = b.readUInt16LE(8)
  if (version === 1) {
    if (crc32c(b.subarray(0, 72)) !== b.readUInt32LE(72)) return 'checksum'
    if (b.readUInt16LE(10) !== 80 || b.readUInt32LE(12) !== 0 || b.readUInt32LE(76) !== 0) return 'layout'
  } else if (version === 2) {
    if (b.readUInt16LE(10) !== 128) return 'layout'
    if (b.length < 128) return 'short'
    if (crc32c(b.subarray(0, 120)) !== b.readUInt32LE(120)) return 'checksum'
    if (!allZero(b, 88, 120) || b.readUInt32LE(124) !== 0) return 'layout'
  } else return `version ${version}`
  return {
    version,
    bytes: version === 1 ? 80 : 128,
    firstSeq: u64(b, 16),
    chainStart: Buffer.from(b.subarray(32, 64)),
    seed: crc32c(b.subarray(64, 72)),
    logId: version === 1 ? undefined : b.toString('hex', 72, 88),
    batchBytesMax: version === 1 ? 0 : b.readUInt32LE(12),
  }
}

/**
 * The record at off on its own: framing, CRC with the segment's salt, type,
 * flags and seq range as its version allows. Seq, chain and batch index are the
 * walk's business. A string says what is wrong.
 */
export function frame(b: Buffer, off: number, h: Header, segment: string): (PRec & { batchIndex: number }) | string {
  if (b.length - off < 64) return 'truncated header'
  if (b.readUInt32LE(off) !== REC_MAGIC) return 'magic'
  const len = b.readUInt32LE(off + 8)
  if (len > PAYLOAD_MAX) return 'length'
  const end = off + 64 + len
  if (end > b.length) return 'truncated'
  if (crc32c(b.subarray(off + 8, end), h.seed) !== b.readUInt32LE(off + 4)) return 'checksum'
  const type = b[off + 12]!
  const flags = b[off + 13]!
  const seq = u64(b, off + 16)
  if (seq < 1 || seq >= SEQ_END) return `seq ${seq} out of range`
  let lastSeq = seq
  if (h.version === 1) {
    if (type !== T_EVENT || (flags & ~F_COMMIT) !== 0) return `reserved (v1 type ${type}, flags ${flags})`
  } else {
    if (!V2_TYPES.has(type)) return `reserved (type ${type})`
    if ((flags & ~(F_COMMIT | F_SEALED)) !== 0) return `reserved (flags ${flags})`
    if ((flags & F_SEALED) !== 0 && (flags & F_COMMIT) === 0) return 'SEALED without COMMIT'
    if (type === T_SEAL && flags !== (F_COMMIT | F_SEALED)) return 'a seal without COMMIT + SEALED'
    if (type === T_GAP) {
      if (len < 8) return 'a gap without its last seq'
      lastSeq = u64(b, off + 64)
      if (lastSeq < seq || lastSeq >= SEQ_END) return `a gap with range [${seq}, ${lastSeq}]`
    }
  }
  return {
    type,
    seq,
    lastSeq,
    flags,
    batchIndex: b.readUInt16LE(off + 14),
    timeMs: b.readInt32LE(off + 28) * 0x1_0000_0000 + b.readUInt32LE(off + 24),
    payload: b.subarray(off + 64, end),
    hash: b.subarray(off + 32, off + 64),
    segment,
    offset: off,
    end,
  }
}

/**
 * The hash a record must store after prev. v1: SHA-256 of bytes [8, 32) ‖ prev
 * ‖ payload. v2: its Merkle leaf hash, SHA-256(0x00 ‖ 0x02 ‖ type ‖ u64 seq ‖
 * i64 timeMs ‖ prev ‖ payload), the integers little-endian (seq and timeMs
 * are the header's bytes [16, 32)); a gap's lastSeq is covered as its first
 * 8 payload bytes.
 */
function chainHash(b: Buffer, o: number, end: number, prev: Buffer, version: number, type: number): Buffer {
  if (version === 1)
    return createHash('sha256')
      .update(b.subarray(o + 8, o + 32))
      .update(prev)
      .update(b.subarray(o + 64, end))
      .digest()
  return createHash('sha256')
    .update(Buffer.of(0x00, 0x02, type))
    .update(b.subarray(o + 16, o + 32))
    .update(prev)
    .update(b.subarray(o + 64, end))
    .digest()
}

/** Parse the segments of one WAL directory (name → bytes; other names ignored); never throws for damage. */
export function parseWal(files: Map<string, Buffer>): Parsed {
  const segments = [...files.keys()].filter((n) => SEG_NAME.test(n)).sort()
  const out: Parsed = {
    records: [],
    events: [],
    segments,
    headers: new Map(),
    lastSeq: 0,
    sealed: false,
    problem: undefined,
    tailBytes: 0,
    tailZero: false,
    commitEnd: 0,
  }
  let hash: Buffer = ZERO32
  let logId: string | undefined
  let version = 1
  for (let i = 0; i < segments.length; i++) {
    const name = segments[i]!
    const b = files.get(name)!
    const last = i === segments.length - 1
    const bad = (offset: number, what: string): Parsed => {
      out.problem = { segment: name, offset, seq: out.lastSeq + 1, what, tail: false }
      return out
    }
    const h = parseHeader(b)
    if (typeof h === 'string') return bad(0, `header: ${h}`)
    if (h.version < version) return bad(0, `header: version ${h.version} after version ${version}`)
    version = h.version
    if (h.logId !== undefined && (logId ??= h.logId) !== h.logId) return bad(0, 'header: logId differs')
    if (h.firstSeq !== out.lastSeq + 1 || Number(SEG_NAME.exec(name)![1]) !== h.firstSeq)
      return bad(0, `header: first seq ${h.firstSeq}, expected ${out.lastSeq + 1}`)
    if (!h.chainStart.equals(hash)) return bad(0, 'header: chain start')
    out.headers.set(name, h)
    const w = walk(b, h, name, out.lastSeq, hash)
    for (const r of w.committed) {
      out.records.push(r)
      if (r.type === T_EVENT) out.events.push(r)
    }
    if (w.committed.length > 0) {
      out.lastSeq = w.committed.at(-1)!.lastSeq
      hash = w.commitHash
    }
    out.sealed = w.sealed
    if (!last) {
      if (w.stop !== undefined) return bad(w.stopAt, `record: ${w.stop}`)
      if (w.commitEnd !== b.length) return bad(w.commitEnd, 'a segment with a successor ends inside a batch')
      if (h.version !== 1 && !w.sealed) return bad(w.commitEnd, 'a v2 segment with a successor is not sealed')
      continue
    }
    out.commitEnd = w.commitEnd
    out.tailBytes = b.length - w.commitEnd
    out.tailZero = allZero(b, w.commitEnd, b.length)
    if (out.tailBytes === 0) continue
    if (w.sealed && !out.tailZero)
      return bad(w.commitEnd, 'bytes after the SEALED record (a sealed segment has no tail)')
    out.problem = {
      segment: name,
      offset: w.commitEnd,
      seq: out.lastSeq + 1,
      what: out.tailZero ? 'zero tail' : w.stop === undefined ? 'uncommitted records' : `record: ${w.stop}`,
      tail: true,
    }
  }
  return out
}

/** The strict walk of one segment's records from its header. */
function walk(
  b: Buffer,
  h: Header,
  name: string,
  prevSeq: number,
  prevHash: Buffer,
): { committed: PRec[]; commitEnd: number; commitHash: Buffer; sealed: boolean; stop?: string; stopAt: number } {
  const committed: PRec[] = []
  const pending: PRec[] = []
  let off = h.bytes
  let seq = prevSeq
  let hash = prevHash
  let commitEnd = h.bytes
  let commitHash = prevHash
  let sealed = false
  let idx = 0
  let stop: string | undefined
  while (off < b.length) {
    if (sealed) {
      stop = 'a record after SEALED'
      break
    }
    const r = frame(b, off, h, name)
    if (typeof r === 'string') {
      stop = r
      break
    }
    if (r.batchIndex !== idx) {
      stop = `batch index ${r.batchIndex}, expected ${idx}`
      break
    }
    if (r.seq !== seq + 1) {
      stop = `seq ${r.seq}, expected ${seq + 1}`
      break
    }
    const hh = chainHash(b, off, r.end, hash, h.version, r.type)
    if (!hh.equals(r.hash)) {
      stop = 'chain'
      break
    }
    pending.push(r)
    seq = r.lastSeq
    hash = hh
    off = r.end
    idx++
    if (r.flags & F_COMMIT) {
      committed.push(...pending)
      pending.length = 0
      commitEnd = off
      commitHash = hash
      idx = 0
      sealed = (r.flags & F_SEALED) !== 0
    }
  }
  return { committed, commitEnd, commitHash, sealed, stop, stopAt: off }
}
