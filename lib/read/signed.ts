/**
 * The log against its signatures (docs/integrity.md): the Merkle tree of a log
 * as it is on disk, its checkpoints checked against it, proofs made from it.
 * Read-only, like the rest of lib/read.
 *
 *   logTree(dir)        one leaf per committed record (shared/format.ts
 *                       leafOfStored: a v2 record's checked hash), the log's own
 *                       checkpoint records, every readLog check on the way
 *   verifySigned(dir)   every checkpoint in the log and, if given, one kept
 *                       elsewhere: signature, origin, and the root the log
 *                       recomputes at its size; where they disagree, the
 *                       narrowest seq range the signed right edges allow
 *   proveRecord         an offline proof bundle for one seq (c2sp tlog-proof)
 *   proveConsistency    RFC 9162 consistency proof between two checkpoints
 *
 * Memory: 32 bytes per record for the leaf hashes, plus 16 for the seq ranges
 * (a log of 10 million records: ~480 MB); the records themselves are read a
 * segment at a time.
 */

import { AuditError, ERROR_CODES } from '../../shared/errors.js'
import { leafBytes, leafOfStored, RecordType } from '../../shared/format.js'
import { parseCheckpointRecord } from '../../shared/checkpoint-record.js'
import {
  CompactRange,
  consistencyProof,
  encodeProofBundle,
  formatConsistencyProof,
  HASH_BYTES,
  inclusionProof,
  openCheckpoint,
  readCheckpointUnverified,
  subtreeRoot,
  verifyCosignatures,
  type Checkpoint,
  type NoteVerifier,
} from '../integrity/index.js'
import { readRecords, type RawRecord } from './reader.js'

/** A checkpoint record found in the log. */
export interface LogCheckpoint {
  /** The checkpoint record's own seq and leaf index. */
  seq: number
  leafIndex: number
  size: number
  covers: number
  range: Buffer[]
  note: string
}

export interface LogTree {
  /** Records (leaves) in the log. */
  size: number
  /** Leaf i's hash is hashes[32 i, 32 i + 32). */
  hashes: Buffer
  /** Leaf i's seq range. */
  firstSeq: Float64Array
  lastSeq: Float64Array
  checkpoints: LogCheckpoint[]
}

class Growing {
  hashes = Buffer.allocUnsafe(HASH_BYTES * 1024)
  first = new Float64Array(1024)
  last = new Float64Array(1024)
  n = 0
  /** Add r's leaf (shared/format.ts leafOfStored). */
  push(r: RawRecord): void {
    if (this.n === this.first.length) {
      const cap = this.n * 2
      const hs = Buffer.allocUnsafe(HASH_BYTES * cap)
      this.hashes.copy(hs)
      this.hashes = hs
      const f = new Float64Array(cap)
      f.set(this.first)
      this.first = f
      const l = new Float64Array(cap)
      l.set(this.last)
      this.last = l
    }
    leafOfStored(r, this.hashes, this.n * HASH_BYTES)
    this.first[this.n] = r.seq
    this.last[this.n] = r.lastSeq
    this.n++
  }
}

/**
 * The whole log's tree. Throws ERR_AUDIT_CORRUPT (as readLog) on damage.
 * onRecord sees each record as stored while the walk is on it (a caller that
 * needs one record's bytes takes them there instead of reading the log again).
 */
export async function logTree(dir: string, onRecord?: (r: RawRecord) => void): Promise<LogTree> {
  const g = new Growing()
  const checkpoints: LogCheckpoint[] = []
  for await (const r of readRecords(dir)) {
    onRecord?.(r)
    if (r.type === RecordType.CHECKPOINT) {
      const c = parseCheckpointRecord(r.payload)
      if (c !== undefined) checkpoints.push({ seq: r.seq, leafIndex: g.n, ...c })
    }
    g.push(r)
  }
  return {
    size: g.n,
    hashes: g.hashes.subarray(0, g.n * HASH_BYTES),
    firstSeq: g.first.subarray(0, g.n),
    lastSeq: g.last.subarray(0, g.n),
    checkpoints,
  }
}

function leafAt(t: LogTree): (i: number) => Buffer {
  return (i) => t.hashes.subarray(i * HASH_BYTES, (i + 1) * HASH_BYTES)
}

/** The tree's root at `size` leaves (size ≤ t.size). */
export function rootAt(t: LogTree, size: number): Buffer {
  return subtreeRoot(0, size, leafAt(t))
}

/** Where the log and a signed tree part: the narrowest seq range the evidence allows. */
export interface Parting {
  /** The first seq that may differ, and the last one that may: equal when the evidence names one record. */
  fromSeq: number
  toSeq: number
  /** Which signed tree showed it: 'log' (a checkpoint record in the log) or 'checkpoint' (the one given). */
  by: 'log' | 'checkpoint'
}

export interface CheckpointCheck {
  origin: string
  size: number
  /** Signature of a trusted key verified. */
  signed: boolean
  /** The log holds the tree this checkpoint signs (same root at its size). */
  contained: boolean
  /** Witnesses whose cosignatures verified (verifySigned's `witnesses`). */
  cosignedBy: string[]
  /** Why not, when signed or contained is false. */
  problem: 'signature' | 'origin' | 'shorter' | 'root' | undefined
  /** The checkpoint record's own seq, for one in the log. */
  seq?: number
  covers?: number
}

export interface SignedReport {
  /** Every check held: the given checkpoint (if any) is signed and contained, and every checkpoint in the log too. */
  ok: boolean
  dir: string
  /** Records (leaves) in the log, and its root now. */
  treeSize: number
  root: string
  /** The checkpoint given (verify --checkpoint), checked. */
  checkpoint: CheckpointCheck | undefined
  /** Checkpoint records in the log, and how many held. */
  inLog: { count: number; good: number; firstBad: CheckpointCheck | undefined }
  /** The last seq the signed history vouches for (the largest good checkpoint's covers). */
  signedThroughSeq: number | undefined
  /** Where the log and the signed history part (when a check failed). */
  parted: Parting | undefined
}

function seqRange(t: LogTree, fromLeaf: number, toLeaf: number): { fromSeq: number; toSeq: number } {
  const last = Math.min(toLeaf, t.size - 1)
  return { fromSeq: t.firstSeq[Math.min(fromLeaf, t.size - 1)]!, toSeq: t.lastSeq[last]! }
}

/**
 * The first leaf where the log and one signed tree may part: the first perfect
 * subtree of the tree's signed right edge that the log no longer reproduces
 * (every subtree before it matches, so the first changed leaf is inside it).
 * The range folds to the signed root (checked by the caller), so it is as
 * trustworthy as the signature. undefined when every subtree matches.
 */
function firstDifference(t: LogTree, size: number, range: Buffer[]): { from: number; to: number } | undefined {
  let at = 0
  let rest = size
  for (const h of range) {
    let k = 1
    while (k * 2 <= rest) k *= 2
    if (at + k > t.size || !subtreeRoot(at, at + k, leafAt(t)).equals(h)) return { from: at, to: at + k - 1 }
    at += k
    rest -= k
  }
  return undefined
}

/**
 * Narrow the first changed leaf with every authentic checkpoint in the log: a
 * checkpoint that still holds puts it at or after its size; one that does not
 * puts it inside its first differing subtree. The intersection is the answer.
 */
function narrowParting(
  t: LogTree,
  authentic: readonly LogCheckpoint[],
  from: number,
  to: number,
): { from: number; to: number } {
  for (const lc of authentic) {
    const d = firstDifference(t, lc.size, lc.range)
    if (d === undefined) from = Math.max(from, lc.size)
    else {
      from = Math.max(from, d.from)
      to = Math.min(to, d.to)
    }
  }
  return { from, to: Math.max(from, to) }
}

/** A checkpoint note opened with the trusted keys; signed false: it parses, but no trusted key signed it. */
interface Opened {
  cp: Checkpoint
  signed: boolean
}

/** Open a note; a note that is not a checkpoint at all throws (ERR_AUDIT_NOTE_MALFORMED). */
function open(note: string, keys: readonly NoteVerifier[]): Opened {
  try {
    return { cp: openCheckpoint(note, keys).checkpoint, signed: true }
  } catch (err) {
    if (!(err instanceof AuditError) || err.code !== ERROR_CODES.SIGNATURE_INVALID) throw err
    return { cp: readCheckpointUnverified(note), signed: false }
  }
}

/** open(), for a note found in the log: one that does not even parse is a bad checkpoint (undefined), not an error. */
function openInLog(note: string, keys: readonly NoteVerifier[]): Opened | undefined {
  try {
    return open(note, keys)
  } catch (err) {
    if (!(err instanceof AuditError)) throw err
    return undefined
  }
}

/** What the log says of an opened checkpoint (undefined: a note that is not a checkpoint). */
function judge(t: LogTree, o: Opened | undefined, origin: string | undefined): CheckpointCheck {
  if (o === undefined)
    return { origin: '', size: 0, signed: false, contained: false, cosignedBy: [], problem: 'signature' }
  const { cp, signed } = o
  const c: CheckpointCheck = {
    origin: cp.origin,
    size: cp.size,
    signed,
    contained: false,
    cosignedBy: [],
    problem: signed ? undefined : 'signature',
  }
  if (origin !== undefined && cp.origin !== origin) c.problem ??= 'origin'
  else if (cp.size > t.size) c.problem ??= 'shorter'
  else if (!rootAt(t, cp.size).equals(cp.root)) c.problem ??= 'root'
  else c.contained = true
  return c
}

/**
 * Check the log against signed checkpoints: every checkpoint record in it, and
 * `checkpoint` (a signed note kept elsewhere) when given. keys: the log's
 * verifier keys; witnesses: keys whose cosignature the given checkpoint must carry.
 */
export async function verifySigned(
  dir: string,
  options: { checkpoint?: string; keys: readonly NoteVerifier[]; witnesses?: readonly NoteVerifier[] },
): Promise<SignedReport> {
  const t = await logTree(dir)
  const report: SignedReport = {
    ok: true,
    dir,
    treeSize: t.size,
    root: rootAt(t, t.size).toString('base64'),
    checkpoint: undefined,
    inLog: { count: t.checkpoints.length, good: 0, firstBad: undefined },
    signedThroughSeq: undefined,
    parted: undefined,
  }
  // Each checkpoint record's note is opened once: its signature, then what the log says of it.
  const opened = t.checkpoints.map((lc) => openInLog(lc.note, options.keys))
  // The log's origin: that of its first checkpoint a trusted key signed.
  const origin = opened.find((o) => o?.signed === true)?.cp.origin
  // Signed by a trusted key, and the right edge folds to the signed root: what narrowParting may trust.
  const authentic = t.checkpoints.filter((lc, i) => {
    const o = opened[i]
    return o?.signed === true && o.cp.size === lc.size && CompactRange.from(lc.size, lc.range).root().equals(o.cp.root)
  })
  let lastGood: LogCheckpoint | undefined
  for (let i = 0; i < t.checkpoints.length; i++) {
    const lc = t.checkpoints[i]!
    const c = judge(t, opened[i], origin)
    c.seq = lc.seq
    c.covers = lc.covers
    // A checkpoint can only sign records written before it.
    if (c.problem === undefined && lc.size > lc.leafIndex) c.problem = 'root'
    if (c.problem === undefined && c.contained) {
      report.inLog.good++
      lastGood = lc
      continue
    }
    report.ok = false
    if (report.inLog.firstBad === undefined) {
      report.inLog.firstBad = c
      if (c.problem === 'root' && c.signed) {
        const d = narrowParting(t, authentic, lastGood?.size ?? 0, lc.size - 1)
        report.parted = { ...seqRange(t, d.from, d.to), by: 'log' }
      }
    }
  }
  report.signedThroughSeq = lastGood?.covers
  if (options.checkpoint !== undefined) {
    const { cp, signed } = open(options.checkpoint, options.keys)
    const c = judge(t, { cp, signed }, origin)
    if (c.signed && options.witnesses !== undefined && options.witnesses.length > 0) {
      try {
        c.cosignedBy = verifyCosignatures(options.checkpoint, options.witnesses).map((w) => w.name)
      } catch (err) {
        if (!(err instanceof AuditError) || err.code !== ERROR_CODES.SIGNATURE_INVALID) throw err
        c.problem ??= 'signature'
        c.signed = false
      }
    }
    report.checkpoint = c
    if (c.problem !== undefined) {
      report.ok = false
      if (report.parted === undefined && c.signed) {
        if (c.problem === 'shorter')
          report.parted = { fromSeq: t.size > 0 ? t.lastSeq[t.size - 1]! + 1 : 1, toSeq: Number.NaN, by: 'checkpoint' }
        else if (c.problem === 'root') {
          const d = narrowParting(t, authentic, 0, cp.size - 1)
          report.parted = { ...seqRange(t, d.from, d.to), by: 'checkpoint' }
        }
      }
    } else if (lastGood === undefined || cp.size > lastGood.size) {
      report.signedThroughSeq = t.lastSeq[cp.size - 1]
    }
  }
  return report
}

/** The log's latest checkpoint record (its signed note), or ERR_AUDIT_NO_CHECKPOINT. */
export async function latestCheckpoint(dir: string): Promise<LogCheckpoint> {
  let last: LogCheckpoint | undefined
  let leaf = 0
  for await (const r of readRecords(dir)) {
    if (r.type === RecordType.CHECKPOINT) {
      const c = parseCheckpointRecord(r.payload)
      if (c !== undefined) last = { seq: r.seq, leafIndex: leaf, ...c }
    }
    leaf++
  }
  if (last === undefined)
    throw new AuditError(ERROR_CODES.NO_CHECKPOINT, `${dir} holds no checkpoint record (open the sink with signing)`, {
      details: { dir },
    })
  return last
}

/**
 * An offline proof bundle for the record holding `seq`, against `checkpoint`
 * (a signed note) or else the log's latest checkpoint that covers it. The
 * bundle is text (c2sp.org/tlog-proof, lib/integrity/proof-bundle.ts).
 */
export async function proveRecord(dir: string, seq: number, options: { checkpoint?: string } = {}): Promise<string> {
  if (!Number.isSafeInteger(seq) || seq < 1)
    throw new AuditError(ERROR_CODES.OPTION_INVALID, 'seq must be an integer ≥ 1', { details: { option: 'seq' } })
  // The record's leaf bytes are taken on the one walk that builds the tree.
  let leaf: Buffer | undefined
  const t = await logTree(dir, (r) => {
    if (r.seq <= seq && seq <= r.lastSeq)
      leaf = leafBytes(r.type, r.seq, r.lastSeq, r.timeMs, r.version === 1 ? undefined : r.prevHash, r.payload)
  })
  // The leaf whose range holds seq.
  let lo = 0
  let hi = t.size - 1
  while (lo < hi) {
    const mid = (lo + hi) >> 1
    if (t.lastSeq[mid]! < seq) lo = mid + 1
    else hi = mid
  }
  if (t.size === 0 || t.firstSeq[lo]! > seq || t.lastSeq[lo]! < seq)
    throw new AuditError(ERROR_CODES.NO_CHECKPOINT, `seq ${seq} is not in the log`, { details: { seq } })
  const index = lo
  let note = options.checkpoint
  if (note === undefined) {
    const covering = t.checkpoints.filter((c) => c.size > index)
    if (covering.length === 0)
      throw new AuditError(
        ERROR_CODES.NO_CHECKPOINT,
        `no checkpoint in the log covers seq ${seq} yet (the next one will; close() signs one)`,
        { details: { seq } },
      )
    note = covering[covering.length - 1]!.note
  }
  const cp = readCheckpointUnverified(note)
  if (cp.size <= index || cp.size > t.size || !rootAt(t, cp.size).equals(cp.root))
    throw new AuditError(
      ERROR_CODES.PROOF_INVALID,
      `the checkpoint (size ${cp.size}) does not cover seq ${seq} of this log`,
      {
        details: { problem: 'checkpoint', seq },
      },
    )
  return encodeProofBundle({
    logOrigin: cp.origin,
    index,
    seq: t.firstSeq[index]!,
    leaf: leaf!,
    proof: inclusionProof(index, cp.size, leafAt(t)),
    checkpoint: note,
  })
}

/**
 * An RFC 9162 consistency proof that the tree `to` signs extends the tree
 * `from` signs, made from the log (which must contain both), as text
 * (lib/integrity/consistency.ts).
 */
export async function proveConsistency(dir: string, from: string, to: string): Promise<string> {
  const a = readCheckpointUnverified(from)
  const b = readCheckpointUnverified(to)
  if (a.size > b.size)
    throw new AuditError(ERROR_CODES.PROOF_INVALID, `--from has the larger tree (${a.size} > ${b.size})`, {
      details: { problem: 'order' },
    })
  const t = await logTree(dir)
  for (const [name, c] of [
    ['from', a],
    ['to', b],
  ] as const)
    if (c.size > t.size || !rootAt(t, c.size).equals(c.root))
      throw new AuditError(
        ERROR_CODES.PROOF_INVALID,
        `the log does not contain the tree --${name} signs (size ${c.size})`,
        {
          details: { problem: name },
        },
      )
  const proof = a.size === 0 ? [] : consistencyProof(a.size, b.size, leafAt(t))
  return formatConsistencyProof({ oldSize: a.size, newSize: b.size, proof })
}
