/**
 * The leaf ring: Merkle leaf hashes the writer computed for the records it
 * wrote, handed to the signer through shared memory, so the signer does not
 * read the records back from disk and hash them again (docs/integrity.md,
 * "Where each hash is computed").
 *
 *   writer (workers/writer/main.ts), as it seals each record of a batch,
 *   while the previous batch's fdatasync runs: put(seq, lastSeq, leafHash)
 *     ─► slot seq mod slots
 *   signer (workers/signer/walk.ts), for seqs ≤ the ring's durable seq:
 *   get(seq) ─► the leaf hash and the record's last seq, or a miss
 *
 * Contract:
 * - A slot holds the record that starts at `seq`: its last seq (a gap record
 *   spans a range) and its leaf hash (lib/integrity leafHashOf over
 *   shared/format.ts leafHead and the payload as stored, the bytes the writer
 *   just put in its batch buffer, the same bytes that reach the disk).
 * - The writer marks a slot empty (seq 0), writes it, then publishes its seq
 *   (Atomics, sequentially consistent); a reader takes the slot only when it
 *   reads the seq it wants both before and after copying the hash (a seqlock):
 *   a slot the writer is overwriting, or already overwrote with a later
 *   record (the signer fell more than `slots` seqs behind), is a miss.
 * - A miss is never an error: the signer reads those records from disk, as it
 *   does for records of an earlier session. The ring only saves work.
 * - Only records whose seq the ring's durable seq covers may be signed: the
 *   signer reads the durable seq first, and asks only for seqs up to it.
 *
 * Memory: FIXED.leafRingSlots × (8 + 8 + 32) bytes, only when signing is on.
 */

import { FIXED } from './limits.js'

const HASH_BYTES = 32
/** Bytes of one slot across the three arrays: seq (i64), last seq (f64), hash. */
export const LEAF_SLOT_BYTES = 8 + 8 + HASH_BYTES

export class LeafRing {
  readonly slots: number
  private readonly seqs: BigInt64Array
  private readonly lastSeqs: Float64Array
  private readonly hashes: Uint8Array

  constructor(readonly sab: SharedArrayBuffer) {
    this.slots = sab.byteLength / LEAF_SLOT_BYTES
    if (!Number.isInteger(this.slots) || this.slots < 1) throw new RangeError(`a leaf ring of ${sab.byteLength} bytes`)
    this.seqs = new BigInt64Array(sab, 0, this.slots)
    this.lastSeqs = new Float64Array(sab, 8 * this.slots, this.slots)
    this.hashes = new Uint8Array(sab, 16 * this.slots, HASH_BYTES * this.slots)
  }

  /** Shared memory for a ring of `slots` slots (all empty). */
  static memory(slots: number = FIXED.leafRingSlots): SharedArrayBuffer {
    return new SharedArrayBuffer(slots * LEAF_SLOT_BYTES)
  }

  /** Writer: the record at [seq, lastSeq] has this leaf hash (32 bytes at hash[at]). */
  put(seq: number, lastSeq: number, hash: Uint8Array, at = 0): void {
    const i = seq % this.slots
    Atomics.store(this.seqs, i, 0n)
    this.lastSeqs[i] = lastSeq
    this.hashes.set(hash.subarray(at, at + HASH_BYTES), i * HASH_BYTES)
    Atomics.store(this.seqs, i, BigInt(seq))
  }

  /** Signer: the last seq of the record at seq, its leaf hash copied into out; undefined on a miss. */
  get(seq: number, out: Uint8Array): number | undefined {
    const i = seq % this.slots
    const want = BigInt(seq)
    if (Atomics.load(this.seqs, i) !== want) return undefined
    const lastSeq = this.lastSeqs[i]!
    out.set(this.hashes.subarray(i * HASH_BYTES, (i + 1) * HASH_BYTES))
    if (Atomics.load(this.seqs, i) !== want) return undefined
    return lastSeq
  }
}
