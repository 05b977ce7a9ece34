/**
 * The checker every scenario shares. It reads WAL bytes with its own parser
 * (written from docs/wal-format.md, sections 2-7 and 10; only the CRC32C
 * primitive and node:crypto SHA-256 are shared with the library), so a bug in
 * the library's scanner cannot hide itself. Then it holds the log against what
 * the runner knows: the oracle of emitted events and the acknowledged receipts.
 *
 * After every crash and reopen:
 *   - seqs are contiguous from 1, the hash chain verifies across segments,
 *     every sealed segment ends at a COMMIT, headers are intact;
 *   - every record is exactly an emitted event (payload bytes and timestamp),
 *     and per producer the emits appear as 0, 1, 2, ... in log order;
 *   - every acknowledged event is present, once, at its receipt's seq;
 *   - after recovery, nothing is left past the last COMMIT (a torn tail was cut,
 *     and only beyond the last acknowledged record).
 */

import { createHash } from 'node:crypto'
import { crc32c } from '../shared/crc32c.js'
import type { Oracle } from './events.js'

export interface PRec {
  seq: number
  timeMs: number
  payload: Buffer
  segment: string
  offset: number
  end: number
}

export interface Parsed {
  records: PRec[]
  segments: string[]
  /** The first thing that is not a valid committed log, if any (in the last segment: where the committed part ends). */
  problem: { segment: string; offset: number; seq: number; what: string } | undefined
  /** Bytes after the last COMMIT of the last segment. */
  tailBytes: number
  /** End of the committed data in the last segment. */
  commitEnd: number
}

const SEG_MAGIC = Buffer.from('MTLAWAL\0', 'latin1')
const SEG_NAME = /^(\d{20})\.wal$/
const REC_MAGIC = 0x5261746d
const ZERO32 = Buffer.alloc(32)
const PAYLOAD_MAX = 64 * 1024 * 1024

function u64(b: Buffer, o: number): number {
  return b.readUInt32LE(o) + b.readUInt32LE(o + 4) * 0x1_0000_0000
}

function chainHash(b: Buffer, o: number, len: number, prev: Buffer): Buffer {
  return createHash('sha256')
    .update(b.subarray(o + 8, o + 32))
    .update(prev)
    .update(b.subarray(o + 64, o + 64 + len))
    .digest()
}

/** Parse the segments of one WAL directory (name → bytes); never throws for damage. */
export function parseWal(files: Map<string, Buffer>): Parsed {
  const segments = [...files.keys()].filter((n) => SEG_NAME.test(n)).sort()
  const out: Parsed = { records: [], segments, problem: undefined, tailBytes: 0, commitEnd: 0 }
  let seq = 0
  let hash: Buffer = ZERO32
  for (let i = 0; i < segments.length; i++) {
    const name = segments[i]!
    const b = files.get(name)!
    const last = i === segments.length - 1
    const bad = (offset: number, what: string): Parsed => {
      out.problem = { segment: name, offset, seq: seq + 1, what }
      return out
    }
    if (b.length < 80) return bad(0, 'header: short')
    if (!b.subarray(0, 8).equals(SEG_MAGIC)) return bad(0, 'header: magic')
    if (crc32c(b.subarray(0, 72)) !== b.readUInt32LE(72)) return bad(0, 'header: checksum')
    if (b.readUInt16LE(8) !== 1) return bad(0, 'header: version')
    if (b.readUInt16LE(10) !== 80 || b.readUInt32LE(12) !== 0 || b.readUInt32LE(76) !== 0)
      return bad(0, 'header: layout')
    const firstSeq = u64(b, 16)
    if (firstSeq !== seq + 1 || Number(SEG_NAME.exec(name)![1]) !== firstSeq)
      return bad(0, `header: first seq ${firstSeq}, expected ${seq + 1}`)
    if (!b.subarray(32, 64).equals(hash)) return bad(0, 'header: chain start')
    const seed = crc32c(b.subarray(64, 72))
    let off = 80
    let commitEnd = 80
    let committedSeq = seq
    let committedHash: Buffer = hash
    let idx = 0
    const pending: PRec[] = []
    let stop: string | undefined
    while (off < b.length) {
      if (b.length - off < 64) {
        stop = 'truncated header'
        break
      }
      if (b.readUInt32LE(off) !== REC_MAGIC) {
        stop = 'magic'
        break
      }
      const len = b.readUInt32LE(off + 8)
      if (len > PAYLOAD_MAX) {
        stop = 'length'
        break
      }
      if (off + 64 + len > b.length) {
        stop = 'truncated'
        break
      }
      if (crc32c(b.subarray(off + 8, off + 64 + len), seed) !== b.readUInt32LE(off + 4)) {
        stop = 'checksum'
        break
      }
      const type = b[off + 12]!
      const flags = b[off + 13]!
      if (type !== 1 || (flags & ~1) !== 0) {
        stop = 'reserved'
        break
      }
      if (b.readUInt16LE(off + 14) !== idx) {
        stop = 'batch index'
        break
      }
      const rseq = u64(b, off + 16)
      if (rseq !== seq + 1) {
        stop = `seq ${rseq}, expected ${seq + 1}`
        break
      }
      const h = chainHash(b, off, len, hash)
      if (!h.equals(b.subarray(off + 32, off + 64))) {
        stop = 'chain'
        break
      }
      const lo = b.readUInt32LE(off + 24)
      const hi = b.readInt32LE(off + 28)
      pending.push({
        seq: rseq,
        timeMs: hi * 0x1_0000_0000 + lo,
        payload: b.subarray(off + 64, off + 64 + len),
        segment: name,
        offset: off,
        end: off + 64 + len,
      })
      seq = rseq
      hash = h
      off += 64 + len
      idx++
      if (flags & 1) {
        out.records.push(...pending)
        pending.length = 0
        commitEnd = off
        committedSeq = seq
        committedHash = hash
        idx = 0
      }
    }
    seq = committedSeq
    hash = committedHash
    if (!last) {
      if (stop !== undefined) return bad(off, `record: ${stop}`)
      if (commitEnd !== b.length) return bad(commitEnd, 'sealed segment ends inside a batch')
    } else {
      out.commitEnd = commitEnd
      out.tailBytes = b.length - commitEnd
      if (out.tailBytes > 0)
        out.problem = {
          segment: name,
          offset: commitEnd,
          seq: seq + 1,
          what: stop === undefined ? 'uncommitted records' : `record: ${stop}`,
        }
    }
  }
  return out
}

export interface Ack {
  seq: number
  p: number
  n: number
}

export interface CheckInput {
  oracle: Oracle
  /** Receipts that resolved before the crash. */
  acked: Iterable<Ack>
  /** A torn tail may remain (a raw crash state, before recovery). */
  allowTail: boolean
  /** Producers whose emits must start at n = 0 in this log (default: every producer seen). */
  startsAtZero?: (p: number) => boolean
  /** Order of producers along the log must be non-decreasing in this key (e.g. the life of a kill -9 run). */
  epochOf?: (p: number) => number
  /** The log must hold exactly these many records (when known). */
  expectRecords?: number
}

export interface CheckResult {
  ok: boolean
  failures: string[]
  records: number
  acked: number
}

/** Hold a parsed log against the oracle and the receipts. */
export function checkLog(parsed: Parsed, c: CheckInput): CheckResult {
  const failures: string[] = []
  const fail = (m: string): void => {
    if (failures.length < 20) failures.push(m)
  }
  if (
    parsed.problem !== undefined &&
    !(c.allowTail && parsed.problem.segment === parsed.segments.at(-1) && parsed.problem.offset === parsed.commitEnd)
  ) {
    const p = parsed.problem
    fail(`log damaged: ${p.what} (segment ${p.segment}, offset ${p.offset}, seq ${p.seq})`)
  }
  const recs = parsed.records
  const next = new Map<number, number>()
  let epoch = -Infinity
  for (let i = 0; i < recs.length; i++) {
    const r = recs[i]!
    if (r.seq !== i + 1) fail(`seq ${r.seq} at position ${i + 1}: not contiguous from 1`)
    const id = c.oracle.identify(r.payload)
    if (id === undefined) {
      fail(
        `seq ${r.seq} (${r.segment}@${r.offset}) holds bytes no emit sent: ${JSON.stringify(r.payload.subarray(0, 80).toString())}`,
      )
      continue
    }
    if (!r.payload.equals(c.oracle.payload(id.p, id.n)))
      fail(
        `seq ${r.seq} claims emit ${id.p}/${id.n} but its payload differs from what was emitted (never emitted, or damaged)`,
      )
    if (r.timeMs !== c.oracle.timeMs(id.p, id.n))
      fail(`seq ${r.seq} (emit ${id.p}/${id.n}) has timestamp ${r.timeMs}, emitted ${c.oracle.timeMs(id.p, id.n)}`)
    const want = next.get(id.p) ?? (c.startsAtZero === undefined || c.startsAtZero(id.p) ? 0 : id.n)
    if (id.n !== want)
      fail(
        `seq ${r.seq} is emit ${id.n} of producer ${id.p}; expected emit ${want} (lost before it, duplicated, or out of emit order)`,
      )
    next.set(id.p, id.n + 1)
    if (c.epochOf !== undefined) {
      const e = c.epochOf(id.p)
      if (e < epoch) fail(`seq ${r.seq} belongs to epoch ${e} but follows records of epoch ${epoch}`)
      epoch = Math.max(epoch, e)
    }
  }
  let acked = 0
  let maxAcked = 0
  for (const a of c.acked) {
    acked++
    maxAcked = Math.max(maxAcked, a.seq)
    const r = recs[a.seq - 1]
    if (r === undefined) {
      fail(`acknowledged seq ${a.seq} (emit ${a.p}/${a.n}) is missing: the log ends at seq ${recs.length}`)
      continue
    }
    const id = c.oracle.identify(r.payload)
    if (id === undefined || id.p !== a.p || id.n !== a.n)
      fail(
        `acknowledged seq ${a.seq} was emit ${a.p}/${a.n} but the log holds ${id ? `${id.p}/${id.n}` : 'unknown bytes'} there`,
      )
  }
  if (!c.allowTail && parsed.tailBytes > 0)
    fail(`${parsed.tailBytes} bytes after the last COMMIT remain after recovery`)
  if (c.expectRecords !== undefined && recs.length !== c.expectRecords)
    fail(`log holds ${recs.length} records, expected exactly ${c.expectRecords}`)
  return { ok: failures.length === 0, failures, records: recs.length, acked }
}
