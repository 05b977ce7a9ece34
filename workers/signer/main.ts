/**
 * The signer: a piscina task (lib/sink/checkpointer.ts runs it in its own
 * thread, atomics 'async') that extends the log's Merkle tree over records
 * already durable and signs a checkpoint of it. It never writes the WAL: it
 * returns the checkpoint record's payload, which the sink publishes through
 * the ring like an event (it takes the next seq; the writer alone writes).
 *
 *   tree from the task (or, on the first task of a session, from the log's
 *   last checkpoint record whose note our key, or the key we rotate from,
 *   signs and whose range folds to its root; none: an empty tree at seq 1)
 *     ─► one leaf per durable record after it (workers/signer/walk.ts): the
 *        leaf hash the writer put in the leaf ring (shared/leaf-ring.ts), or
 *        read from disk and hashed here when the ring no longer holds it
 *     ─► C2SP checkpoint note: origin `<name>/<logId>`, size, root; Ed25519
 *        (signed by both keys while rotating)
 *     ─► export: the note replaces <export dir>/<logId>.checkpoint (temp file,
 *        fsync, rename, fsync dir) before the task resolves
 *     ─► the record payload (shared/checkpoint-record.ts) and the new tree
 *
 * Contract: a task covers exactly the records [tree.covers + 1, durableSeq];
 * the signing key is read from its 0600 file (refused otherwise) and cached per
 * thread by path; no key material is returned or put in an error. Any failure
 * rejects the task with a coded error; the sink reports it and the next
 * checkpoint covers everything since (nothing in the durable path waits).
 */

import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {
  encodeCheckpointRecord,
  parseCheckpointRecord,
  type SignResult,
  type SignTask,
} from '../../shared/checkpoint-record.js'
import { dirModeFor, makeDirs } from '../../shared/files.js'
import { FIXED } from '../../shared/limits.js'
import { leafOfStored, parseSegmentFileName, RecordType } from '../../shared/format.js'
import { AuditError, ERROR_CODES } from '../../shared/errors.js'
import {
  addCheckpoint,
  addSignatures,
  CompactRange,
  consistencyProofFromRange,
  consistencyProofRanges,
  HASH_BYTES,
  loadSigner,
  logOrigin,
  noteVerifier,
  openCheckpoint,
  replaceFile,
  signCheckpoint,
  type NoteSigner,
  type NoteSignature,
} from '../../lib/integrity/index.js'
import { appendLeaves, segmentsOf, walkRecords } from './walk.js'
import { LeafRing } from '../../shared/leaf-ring.js'

/**
 * Lower this thread's priority (FIXED.signerThreadNice). On Linux a thread has
 * its own nice value, set through its id (/proc/thread-self names it); the app
 * thread and the writer keep theirs. Elsewhere, or when refused, nothing changes.
 */
function lowerThreadPriority(): void {
  try {
    const tid = Number(path.basename(fs.readlinkSync('/proc/thread-self')))
    if (Number.isSafeInteger(tid) && tid > 0 && tid !== process.pid) os.setPriority(tid, FIXED.signerThreadNice)
  } catch {
    // not Linux, or not allowed: the signer runs at the process's priority
  }
}
lowerThreadPriority()

const signers = new Map<string, Promise<NoteSigner>>()

function signerFor(file: string): Promise<NoteSigner> {
  let s = signers.get(file)
  if (s === undefined) {
    s = loadSigner(file)
    s.catch(() => signers.delete(file))
    signers.set(file, s)
  }
  return s
}

/** The log's last checkpoint record that one of our keys signed and whose range folds to the signed root. */
async function lastCheckpoint(
  dir: string,
  origin: string,
  keys: readonly NoteSigner[],
  durableSeq: number,
): Promise<{ range: CompactRange; covers: number } | undefined> {
  const verifiers = keys.map((k) => noteVerifier(k.name, k.type, k.publicKey))
  const names = await segmentsOf(dir)
  for (let i = names.length - 1; i >= 0; i--) {
    const first = parseSegmentFileName(names[i]!)!
    if (first > durableSeq) continue
    const last = i + 1 < names.length ? Math.min(durableSeq, parseSegmentFileName(names[i + 1]!)! - 1) : durableSeq
    let found: { range: CompactRange; covers: number } | undefined
    await walkRecords(dir, first, last, (r) => {
      if (r.type !== RecordType.CHECKPOINT) return
      const c = parseCheckpointRecord(r.payload)
      if (c === undefined) return
      try {
        const { checkpoint } = openCheckpoint(c.note, verifiers)
        const range = CompactRange.from(c.size, c.range)
        if (checkpoint.origin === origin && checkpoint.size === c.size && range.root().equals(checkpoint.root))
          found = { range, covers: c.covers }
      } catch {
        // another key's or a damaged checkpoint: not a place to resume from
      }
    })
    if (found !== undefined) return found
  }
  return undefined
}

export default async function sign(task: SignTask): Promise<SignResult> {
  const signer = await signerFor(task.keyFile)
  // While rotating, the previous key signs every checkpoint too (the sink checked the names give one origin).
  const keys = task.rotateFromKeyFile === undefined ? [signer] : [signer, await signerFor(task.rotateFromKeyFile)]
  const origin = logOrigin(task.name ?? signer.name, task.logId)
  let range: CompactRange
  let covers: number
  let resumedFrom: SignResult['resumedFrom']
  if (task.tree !== undefined) {
    range = CompactRange.from(
      task.tree.size,
      task.tree.range.map((h) => Buffer.from(h, 'base64')),
    )
    covers = task.tree.covers
    resumedFrom = 'task'
  } else {
    const found = await lastCheckpoint(task.dir, origin, keys, task.durableSeq)
    range = found?.range ?? CompactRange.empty()
    covers = found?.covers ?? 0
    resumedFrom = found === undefined ? 'start' : 'log'
  }
  const before = range.size
  const old = range.clone()
  const newLeaves: Buffer[] = []
  const keepLeaves = (task.witnesses?.length ?? 0) > 0 ? (h: Buffer) => void newLeaves.push(h) : undefined
  let next = task.tree?.next
  let fromRing = 0
  let fromDisk = 0
  if (task.durableSeq > covers)
    ({ covers, next, fromRing, fromDisk } = await appendLeaves(
      task.dir,
      range,
      covers + 1,
      task.durableSeq,
      next,
      keepLeaves,
      task.leaves === undefined ? undefined : new LeafRing(task.leaves),
    ))
  /** The result: the tree as it now stands (right edge `hashes`), with the checkpoint when one was signed. */
  const result = (
    hashes: Buffer[],
    witnessed: SignResult['tree']['witnessed'],
    signed: { record: string; note: string } | undefined,
    witnessErrors: SignResult['witnessErrors'],
  ): SignResult => ({
    tree: { size: range.size, range: hashes.map((h) => h.toString('base64')), covers, next, witnessed },
    record: signed?.record,
    note: signed?.note,
    resumedFrom,
    leaves: range.size - before,
    leavesFromRing: fromRing,
    leavesFromDisk: fromDisk,
    witnessErrors,
  })
  if (task.fold === true) return result(range.hashes(), { ...task.tree?.witnessed }, undefined, [])
  const root = range.root()
  let note = signCheckpoint({ origin, size: range.size, root, extensions: [] }, keys)
  const witnessed = { ...task.tree?.witnessed }
  const witnessErrors: SignResult['witnessErrors'] = []
  const cosignatures: NoteSignature[] = []
  for (const url of task.witnesses ?? []) {
    try {
      const reprove = (size: number): Promise<Buffer[]> => proofFromLog(task.dir, size, range.size, covers)
      cosignatures.push(...(await witness(url, witnessed[url] ?? 0, old, newLeaves, note, reprove)))
      witnessed[url] = range.size
    } catch (err) {
      const e = err instanceof AuditError ? err : new AuditError(ERROR_CODES.WITNESS_FAILED, String(err))
      witnessErrors.push({ url, code: e.code, message: e.message })
    }
  }
  if (cosignatures.length > 0) note = addSignatures(note, cosignatures)
  if (task.exportDir !== undefined) {
    makeDirs(task.exportDir, dirModeFor(task.fileMode))
    await replaceFile(path.join(task.exportDir, `${task.logId}.checkpoint`), Buffer.from(note), task.fileMode)
  }
  const hashes = range.hashes()
  const record = encodeCheckpointRecord({ size: range.size, covers, range: hashes, note }).toString('utf8')
  return result(hashes, witnessed, { record, note }, witnessErrors)
}

/**
 * PROOF(oldSize, D[newSize]) from the log itself: one walk over the records
 * of the tree (seq 1 to `covers`, leaf i the i-th record), hashing only the
 * leaves inside the proof's ranges (they are disjoint, and the last ends at
 * newSize). For a witness that holds a size the signer's state cannot prove
 * from (it cosigned a tree whose checkpoint record never became durable, or
 * this log ran without it for a while): rare, and O(records) once.
 */
async function proofFromLog(dir: string, oldSize: number, newSize: number, covers: number): Promise<Buffer[]> {
  const ranges = consistencyProofRanges(oldSize, newSize)
  const order = ranges.map(([start, end], i) => ({ start, end, i })).sort((a, b) => a.start - b.start)
  const roots: Buffer[] = new Array<Buffer>(ranges.length)
  const hash = Buffer.alloc(HASH_BYTES)
  let k = 0
  let cur = CompactRange.empty()
  let leaf = 0
  await walkRecords(dir, 1, covers, (r) => {
    const at = order[k]
    if (at !== undefined && leaf >= at.start) {
      leafOfStored(r, hash, 0)
      cur.append(hash)
      if (leaf + 1 === at.end) {
        roots[at.i] = cur.root()
        cur = CompactRange.empty()
        k++
      }
    }
    leaf++
  })
  if (k < order.length || leaf !== newSize)
    throw new AuditError(
      ERROR_CODES.CORRUPT,
      `the log holds ${leaf} records up to seq ${covers}, not the ${newSize} of its tree`,
    )
  return roots
}

/**
 * Send the checkpoint to one witness: from the size it holds for us (0, or the
 * previous tree, whose right edge makes the consistency proof with the new
 * leaves); on 409 it says which size it holds, and we answer once from there:
 * from our state when it can prove from that size, else from the log (reprove).
 * Returns its cosignatures.
 */
async function witness(
  url: string,
  held: number,
  old: CompactRange,
  newLeaves: Buffer[],
  note: string,
  reprove: (size: number) => Promise<Buffer[]>,
): Promise<NoteSignature[]> {
  const from = (size: number) => ({
    oldSize: size,
    proof: size === 0 || size === old.size + newLeaves.length ? [] : consistencyProofFromRange(old, newLeaves),
    note,
  })
  const provable = (size: number): boolean => size === 0 || size === old.size
  try {
    return (await addCheckpoint(url, from(provable(held) ? held : old.size))).cosignatures
  } catch (err) {
    const size = err instanceof AuditError ? (err.details?.size as number | undefined) : undefined
    if (size === undefined || size === held) throw err
    if (provable(size)) return (await addCheckpoint(url, from(size))).cosignatures
    const newSize = old.size + newLeaves.length
    if (!Number.isSafeInteger(size) || size <= 0 || size >= newSize) throw err
    return (await addCheckpoint(url, { oldSize: size, proof: await reprove(size), note })).cosignatures
  }
}
