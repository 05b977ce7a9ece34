/**
 * The leaf ring: the Merkle leaf hashes of the records the writer wrote,
 * handed to the signer through shared memory, so the signer does not read
 * the records back from disk and check them again (docs/integrity.md, "Who
 * computes what").
 *
 *   writer (workers/writer/main.ts), as it seals each record of a batch,
 *   while the previous batch's fdatasync runs: put(seq, lastSeq, leafHash)
 *     ─► slot seq mod slots
 *   signer (workers/signer/walk.ts), for seqs ≤ the ring's durable seq:
 *   get(seq) ─► the leaf hash and the record's last seq, or a miss
 *
 * Contract:
 * - A slot holds the record that starts at `seq`: its last seq (a gap record
 *   spans a range) and its leaf hash (a v2 record's stored hash,
 *   shared/format.ts recordHashInto, copied from the writer's batch buffer:
 *   the same bytes that reach the disk).
 * - A seqlock per slot: the writer makes the slot's generation odd, writes
 *   seq, last seq and hash, then makes it even (Atomics, sequentially
 *   consistent); a reader takes the slot only when the generation was even
 *   and unchanged around its reads and the slot holds the seq it wants: a slot
 *   the writer is overwriting, or already overwrote with a later record (the
 *   signer fell more than `slots` seqs behind), is a miss.
 * - A miss is never an error: the signer reads those records from disk, as it
 *   does for records of an earlier session. The ring only saves work.
 * - Only records whose seq the ring's durable seq covers may be signed: the
 *   signer reads the durable seq first, and asks only for seqs up to it.
 *
 * Memory: FIXED.leafRingSlots × LEAF_SLOT_BYTES (56), only when signing is on.
 */

import { FIXED } from './limits.js'
import { zeroedShared } from './memory.js'

const HASH_BYTES = 32
/** Bytes of one slot across the arrays: generation (i32, padded to 8), seq and last seq (f64), hash. */
export const LEAF_SLOT_BYTES = 8 + 8 + 8 + HASH_BYTES

export class LeafRing {
  readonly slots: number
  /** Per slot: a generation, odd while the writer writes the slot (a seqlock). */
  private readonly gens: Int32Array
  private readonly seqs: Float64Array
  private readonly lastSeqs: Float64Array
  private readonly hashes: Buffer

  constructor(readonly sab: SharedArrayBuffer) {
    this.slots = sab.byteLength / LEAF_SLOT_BYTES
    if (!Number.isInteger(this.slots) || this.slots < 1) throw new RangeError(`a leaf ring of ${sab.byteLength} bytes`)
    const n = this.slots
    this.gens = new Int32Array(sab, 0, n)
    this.seqs = new Float64Array(sab, 8 * n, n)
    this.lastSeqs = new Float64Array(sab, 16 * n, n)
    this.hashes = Buffer.from(sab, 24 * n, HASH_BYTES * n)
  }

  /** Shared memory for a ring of `slots` slots (all empty). */
  static memory(slots: number = FIXED.leafRingSlots): SharedArrayBuffer {
    return zeroedShared(slots * LEAF_SLOT_BYTES)
  }

  /**
   * Writer: the record at [seq, lastSeq] has this leaf hash (32 bytes at
   * hash[at]). The 32 bytes move in a plain loop, here and in get: half the
   * cost of a Buffer copy call (60 against 110 ns a put, measured).
   */
  put(seq: number, lastSeq: number, hash: Buffer, at = 0): void {
    const i = seq % this.slots
    const g = Atomics.add(this.gens, i, 1) + 1 // odd: being written
    this.seqs[i] = seq
    this.lastSeqs[i] = lastSeq
    const to = i * HASH_BYTES
    const hashes = this.hashes
    for (let k = 0; k < HASH_BYTES; k++) hashes[to + k] = hash[at + k]!
    Atomics.store(this.gens, i, (g + 1) | 0) // even again: a new generation
  }

  /** Signer: the last seq of the record at seq, its leaf hash copied into out; undefined on a miss. */
  get(seq: number, out: Buffer): number | undefined {
    const i = seq % this.slots
    const g = Atomics.load(this.gens, i)
    if ((g & 1) !== 0 || this.seqs[i] !== seq) return undefined
    const lastSeq = this.lastSeqs[i]!
    const from = i * HASH_BYTES
    const hashes = this.hashes
    for (let k = 0; k < HASH_BYTES; k++) out[k] = hashes[from + k]!
    return Atomics.load(this.gens, i) === g ? lastSeq : undefined
  }
}
