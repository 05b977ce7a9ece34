/**
 * The payload of a checkpoint record (WAL type 2; docs/wal-format.md section 0,
 * "Checkpoints"): UTF-8 JSON
 *
 *   { "v": 1, "size": N, "covers": S, "range": [base64 hash, ...], "note": "<signed note>" }
 *
 * - size: the tree size the note signs: the first N records of the log (one
 *   leaf per record, in log order), all durable before the note was signed;
 * - covers: the last seq of record N (the record with leaf index N − 1), so a
 *   reader knows where the tree stops without counting;
 * - range: the tree's right edge (RFC 9162 compact range of [0, N), biggest
 *   subtree first): the tree resumes from it on open without re-reading the log;
 * - note: the C2SP signed note (tlog-checkpoint body: origin, N, base64 root),
 *   exactly as exported.
 *
 * Contract: parseCheckpointRecord is strict and bounded (FIXED.noteBytesMax,
 * at most 64 range hashes) and returns undefined for anything else; what it
 * returns is NOT verified (the caller checks the note's signature and that
 * the range folds to the note's root).
 */

import { FIXED } from './limits.js'

export interface CheckpointRecord {
  size: number
  covers: number
  range: Buffer[]
  note: string
}

const B64_HASH = /^[A-Za-z0-9+/]{43}=$/
/** A compact range of a tree below 2^53 leaves has at most 53 hashes. */
const RANGE_HASHES_MAX = 64

export function encodeCheckpointRecord(c: CheckpointRecord): Buffer {
  return Buffer.from(
    JSON.stringify({
      v: 1,
      size: c.size,
      covers: c.covers,
      range: c.range.map((h) => h.toString('base64')),
      note: c.note,
    }),
  )
}

function popcount(n: number): number {
  let c = 0
  for (let x = n; x > 0; x = Math.floor(x / 2)) c += x % 2
  return c
}

export function parseCheckpointRecord(payload: Uint8Array): CheckpointRecord | undefined {
  if (payload.length > FIXED.noteBytesMax + RANGE_HASHES_MAX * 48 + 256) return undefined
  let v: unknown
  try {
    v = JSON.parse(Buffer.from(payload.buffer, payload.byteOffset, payload.length).toString('utf8'))
  } catch {
    return undefined
  }
  if (typeof v !== 'object' || v === null) return undefined
  const o = v as Record<string, unknown>
  const { size, covers, range, note } = o
  if (o.v !== 1 || !Number.isSafeInteger(size) || (size as number) < 1) return undefined
  if (!Number.isSafeInteger(covers) || (covers as number) < (size as number)) return undefined
  if (typeof note !== 'string' || note.length > FIXED.noteBytesMax) return undefined
  if (!Array.isArray(range) || range.length > RANGE_HASHES_MAX || range.length !== popcount(size as number))
    return undefined
  if (!range.every((h) => typeof h === 'string' && B64_HASH.test(h))) return undefined
  return {
    size: size as number,
    covers: covers as number,
    range: range.map((h: string) => Buffer.from(h, 'base64')),
    note,
  }
}

// The signer task's protocol (lib/sink/checkpointer.ts ─► workers/signer/main.ts).

export interface TreeState {
  /** Leaves in the tree: the log's first `size` records. */
  size: number
  /** Right-edge hashes, base64, biggest subtree first. */
  range: string[]
  /** The last seq of the last record in the tree (0 for an empty tree). */
  covers: number
  /** Where the record after `covers` begins, when known: the next task reads from there. */
  next?: { segment: string; offset: number }
  /** The tree size each witness (by URL) last cosigned for this log. */
  witnessed?: Record<string, number>
}

export interface SignTask {
  dir: string
  keyFile: string
  /** The previous key while rotating: it signs every checkpoint too, and its checkpoints are places to resume from. */
  rotateFromKeyFile?: string
  /** The first line of the log's origin (`<name>/<logId>`); default: the key's name. */
  name?: string
  /** The log id, 32 lowercase hex digits. */
  logId: string
  /** The tree the last task returned; undefined on the first task of a session. */
  tree?: TreeState
  /** Cover records up to this seq (the durable seq: it ends a batch). */
  durableSeq: number
  exportDir?: string
  fileMode: number
  /** Witness URLs (C2SP tlog-witness): each gets the checkpoint with a consistency proof; their cosignatures go into the note. */
  witnesses?: string[]
  /** The leaf ring the writer fills (shared/leaf-ring.ts): leaf hashes of recent records, so they are not read back. */
  leaves?: SharedArrayBuffer
  /**
   * Only extend the tree to durableSeq: no signature, export, witness or
   * record (record and note come back undefined). The sink folds durable
   * records between checkpoints so a checkpoint's hashing is spread out.
   */
  fold?: boolean
}

export interface SignResult {
  tree: TreeState
  /** The checkpoint record's payload (UTF-8 JSON) for the sink to publish; undefined for a fold. */
  record: string | undefined
  note: string | undefined
  /** Where the tree came from: the task's state, a checkpoint record in the log, or the log's start. */
  resumedFrom: 'task' | 'log' | 'start'
  /** Records hashed by this task. */
  leaves: number
  /** Of those, leaf hashes taken from the leaf ring (the writer's) and records read from disk and hashed. */
  leavesFromRing: number
  leavesFromDisk: number
  /** Witnesses that did not cosign this checkpoint, and why (the checkpoint is logged without theirs). */
  witnessErrors: { url: string; code: string; message: string }[]
}
