/**
 * The RFC 9162 Merkle tree (§2.1): leaf and node hashes, the compact range that
 * holds a growing tree in O(log n), inclusion and consistency proofs, and their
 * verifiers.
 *
 * Contract:
 * - leafHash(d) = SHA-256(0x00 ‖ d), nodeHash(l, r) = SHA-256(0x01 ‖ l ‖ r), and
 *   the root of the empty tree is SHA-256 of the empty string (§2.1.1).
 * - verifyInclusion and verifyConsistency follow §2.1.3.2 and §2.1.4.2 step by
 *   step and return false, never throw, on any forged or malformed input: an
 *   index or size that is not a safe integer ≥ 0, index ≥ size, a leaf hash,
 *   root or proof hash that is not 32 bytes, a proof that is too long or too
 *   short. The cases the RFC leaves open are decided as the transparency-dev
 *   vectors (test/fixtures/rfc9162) require: oldSize == newSize verifies only
 *   with an empty proof and equal roots, and at size 0 both roots must be the
 *   empty root (there is nothing to hash, so equal roots of another length at
 *   a size > 0 do verify: vector "sizes are equal (one) and proof is empty");
 *   0 == oldSize < newSize never verifies: no such proof exists, every tree
 *   extends the empty one, and the caller needs no proof to know it.
 * - The proof makers read leaf hashes only through leafHashAt and hash every
 *   sibling subtree from them: O(log n) memory, at most n − 1 node hashes per
 *   proof (the leaves under the siblings, nothing else). perfectRoot() is the
 *   single place leaves are read, where a cache of perfect subtrees can go.
 * - Bad arguments to the proof makers and to CompactRange (index outside the
 *   tree, hashes that do not fit a size, a leaf hash of the wrong length) throw
 *   AuditError ERR_AUDIT_PROOF_INVALID with details.problem.
 */

import { createHash } from 'node:crypto'
import { AuditError, ERROR_CODES } from '../../shared/errors.js'
import { FIXED } from '../../shared/limits.js'
import { leafHashInto, sha256, sha256Into } from '../../shared/format.js'

/** Bytes of a SHA-256 hash: every leaf hash, node hash and root. */
export const HASH_BYTES = 32

const NODE_PREFIX = 0x01
/** leafHash's head: its data is the whole leaf (leafHashOf's head ‖ body with an empty head). */
const NO_HEAD = new Uint8Array(0)
const EMPTY_ROOT = createHash('sha256').digest()
/** Most right-edge hashes a tree can have: one per bit of its size (≤ 2^53 - 1). */
const EDGE_HASHES_MAX = 53
/** CompactRange.append's node input, 0x01 ‖ left ‖ right; the merged hash is written over right. */
const NODE_SCRATCH = Buffer.alloc(1 + 2 * HASH_BYTES)
/** A node's children are copied behind its prefix here so that node:crypto hashes them in one call. */
const SCRATCH = Buffer.alloc(1 + FIXED.merkleScratchBytes)

function invalid(problem: string, message: string): AuditError {
  return new AuditError(ERROR_CODES.PROOF_INVALID, `merkle: ${message}`, { details: { problem } })
}

/** RFC 9162 leaf hash: SHA-256(0x00 ‖ data). */
export function leafHash(data: Uint8Array): Buffer {
  if (!(data instanceof Uint8Array)) throw invalid('leaf', 'leaf data must be bytes')
  return leafHashOf(NO_HEAD, data)
}

/** leafHash(head ‖ body) without building the concatenation: a WAL record's leaf is its head, then its payload. */
export function leafHashOf(head: Uint8Array, body: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(HASH_BYTES)
  leafHashInto(head, body, out, 0)
  return out
}

export { leafHashInto }

/** RFC 9162 interior node hash: SHA-256(0x01 ‖ left ‖ right). */
export function nodeHash(left: Uint8Array, right: Uint8Array): Buffer {
  if (!(left instanceof Uint8Array) || !(right instanceof Uint8Array))
    throw invalid('node', 'node children must be bytes')
  const bytes = 1 + left.length + right.length
  if (bytes <= SCRATCH.length) {
    SCRATCH[0] = NODE_PREFIX
    SCRATCH.set(left, 1)
    SCRATCH.set(right, 1 + left.length)
    return sha256(SCRATCH.subarray(0, bytes))
  }
  return createHash('sha256').update(Buffer.of(NODE_PREFIX)).update(left).update(right).digest()
}

/** The root of the empty tree: SHA-256 of the empty string. */
export function emptyRoot(): Buffer {
  return Buffer.from(EMPTY_ROOT)
}

/** The Merkle tree hash (MTH) of already-hashed leaves. */
export function rootOf(leafHashes: readonly Uint8Array[]): Buffer {
  const range = CompactRange.empty()
  range.appendMany(leafHashes)
  return range.root()
}

function isSize(n: unknown): n is number {
  return Number.isSafeInteger(n) && (n as number) >= 0
}

function isHash(h: unknown): h is Uint8Array {
  return h instanceof Uint8Array && h.length === HASH_BYTES
}

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}

/** Set bits of n (n a safe integer ≥ 0; bitwise operators stop at 32 bits). */
function popcount(n: number): number {
  let count = 0
  for (let x = n; x > 0; x = Math.floor(x / 2)) count += x % 2
  return count
}

/** The largest power of two strictly below width (width ≥ 2): RFC 9162's split point k. */
function splitPoint(width: number): number {
  let k = 1
  while (k * 2 < width) k *= 2
  return k
}

function isPowerOfTwo(n: number): boolean {
  let x = n
  while (x > 1 && x % 2 === 0) x /= 2
  return x === 1
}

function checkLeafHash(h: unknown): asserts h is Uint8Array {
  if (!isHash(h)) throw invalid('leaf-hash', `a leaf hash must be ${HASH_BYTES} bytes`)
}

/**
 * O(log n) state of a growing tree: the roots of its perfect subtrees, left to
 * right, one per set bit of size, biggest first (the compact range [0, size)).
 */
export class CompactRange {
  #size: number
  /**
   * The right edge, HASH_BYTES per hash, biggest subtree first, in one buffer
   * (a tree of 2^53 - 1 leaves has 53): append() hashes into it in place, so
   * extending the tree allocates nothing. Never handed out: hashes() and
   * root() return copies.
   */
  #edge: Buffer
  #count: number

  private constructor(size: number, edge: Buffer, count: number) {
    this.#size = size
    this.#edge = edge
    this.#count = count
  }

  static empty(): CompactRange {
    return new CompactRange(0, Buffer.alloc(EDGE_HASHES_MAX * HASH_BYTES), 0)
  }

  /** Resume a tree from its size and right edge (a checkpoint record's hashes()). */
  static from(size: number, hashes: readonly Uint8Array[]): CompactRange {
    if (!isSize(size)) throw invalid('size', 'a tree size must be a safe integer ≥ 0')
    if (!Array.isArray(hashes) || hashes.length !== popcount(size))
      throw invalid('range', `a tree of size ${size} has ${popcount(size)} right-edge hashes`)
    for (const h of hashes) if (!isHash(h)) throw invalid('range', `a right-edge hash must be ${HASH_BYTES} bytes`)
    const edge = Buffer.alloc(EDGE_HASHES_MAX * HASH_BYTES)
    hashes.forEach((h, i) => edge.set(h, i * HASH_BYTES))
    return new CompactRange(size, edge, hashes.length)
  }

  get size(): number {
    return this.#size
  }

  append(leafHash: Uint8Array): void {
    checkLeafHash(leafHash)
    if (this.#size === Number.MAX_SAFE_INTEGER) throw invalid('size', 'the tree is full (2^53 - 1 leaves)')
    // Each trailing 1 bit of the old size is a perfect subtree the new leaf
    // completes: node = SHA-256(0x01 ‖ that subtree's root ‖ what is merged so far).
    // The 32-byte moves are plain loops: cheaper than Buffer's copy calls at this size.
    const edge = this.#edge
    const node = NODE_SCRATCH
    node[0] = NODE_PREFIX
    for (let k = 0; k < HASH_BYTES; k++) node[1 + HASH_BYTES + k] = leafHash[k]!
    let n = this.#count
    for (let s = this.#size; s % 2 === 1; s = (s - 1) / 2) {
      n--
      for (let k = 0, from = n * HASH_BYTES; k < HASH_BYTES; k++) node[1 + k] = edge[from + k]!
      sha256Into(node, node, 1 + HASH_BYTES)
    }
    for (let k = 0, to = n * HASH_BYTES; k < HASH_BYTES; k++) edge[to + k] = node[1 + HASH_BYTES + k]!
    this.#count = n + 1
    this.#size++
  }

  appendMany(leafHashes: readonly Uint8Array[]): void {
    for (const h of leafHashes) this.append(h)
  }

  /** The tree's root (MTH): the right edge folded from the right. */
  root(): Buffer {
    const n = this.#count
    if (n === 0) return emptyRoot()
    let root = this.#hash(n - 1)
    for (let i = n - 2; i >= 0; i--) root = nodeHash(this.#hash(i), root)
    return root
  }

  /** The right edge, biggest subtree first: what a checkpoint record stores to resume the tree. */
  hashes(): Buffer[] {
    return Array.from({ length: this.#count }, (_, i) => this.#hash(i))
  }

  clone(): CompactRange {
    return new CompactRange(this.#size, Buffer.from(this.#edge), this.#count)
  }

  /** A copy of the i-th right-edge hash. */
  #hash(i: number): Buffer {
    return Buffer.from(this.#edge.subarray(i * HASH_BYTES, (i + 1) * HASH_BYTES))
  }
}

/**
 * MTH of the perfect subtree of width leaves (a power of two) from start: the
 * one place the proof makers read leaves, and where a cache of perfect
 * subtrees keyed by (start, width) belongs.
 */
function perfectRoot(start: number, width: number, leafHashAt: (i: number) => Uint8Array): Buffer {
  const range = CompactRange.empty()
  for (let i = start; i < start + width; i++) range.append(leafHashAt(i))
  return range.root()
}

/** MTH(D[start:end]): the range's perfect subtrees, biggest first, folded from the right. */
export function subtreeRoot(start: number, end: number, leafHashAt: (i: number) => Uint8Array): Buffer {
  if (!isSize(start) || !isSize(end) || start > end) throw invalid('range', 'a leaf range needs 0 ≤ start ≤ end')
  if (start === end) return emptyRoot()
  const parts: Buffer[] = []
  let at = start
  for (let width = end - start; width > 0;) {
    const k = splitPoint(width + 1) // the largest power of two ≤ width
    parts.push(perfectRoot(at, k, leafHashAt))
    at += k
    width -= k
  }
  let root = parts[parts.length - 1]!
  for (let i = parts.length - 2; i >= 0; i--) root = nodeHash(parts[i]!, root)
  return root
}

/** RFC 9162 §2.1.3.1 PATH(index, D[size]): the sibling hashes from the leaf up. */
export function inclusionProof(index: number, size: number, leafHashAt: (i: number) => Uint8Array): Buffer[] {
  if (!isSize(index) || !isSize(size) || index >= size)
    throw invalid('index', 'an inclusion proof needs 0 ≤ index < size (safe integers)')
  const path: Buffer[] = []
  let start = 0
  let end = size
  while (end - start > 1) {
    const k = splitPoint(end - start)
    if (index < start + k) {
      path.push(subtreeRoot(start + k, end, leafHashAt))
      end = start + k
    } else {
      path.push(perfectRoot(start, k, leafHashAt))
      start += k
    }
  }
  return path.reverse()
}

/** RFC 9162 §2.1.4.1 PROOF(oldSize, D[newSize]); empty when the sizes are equal. */
export function consistencyProof(oldSize: number, newSize: number, leafHashAt: (i: number) => Uint8Array): Buffer[] {
  return consistencyProofRanges(oldSize, newSize).map(([start, end]) => subtreeRoot(start, end, leafHashAt))
}

/**
 * The leaf ranges [start, end) whose MTHs make PROOF(oldSize, D[newSize]), in
 * the proof's order. They are disjoint, so one pass over the leaves in order
 * can hash them all (what a signer does to re-prove from its log).
 */
export function consistencyProofRanges(oldSize: number, newSize: number): [number, number][] {
  if (!isSize(oldSize) || !isSize(newSize) || oldSize > newSize)
    throw invalid('size', 'a consistency proof needs 0 ≤ oldSize ≤ newSize (safe integers)')
  if (oldSize === newSize) return []
  if (oldSize === 0) throw invalid('old-size-zero', 'no consistency proof exists from the empty tree')
  const ranges: [number, number][] = []
  let start = 0
  let end = newSize
  let m = oldSize
  let whole = true // RFC's b: the old tree is still a complete subtree of this one
  for (;;) {
    const width = end - start
    if (m === width) {
      if (!whole) ranges.push([start, end])
      break
    }
    const k = splitPoint(width)
    if (m <= k) {
      ranges.push([start + k, end])
      end = start + k
    } else {
      ranges.push([start, start + k])
      start += k
      m -= k
      whole = false
    }
  }
  return ranges.reverse()
}

function isProof(proof: unknown): proof is readonly Uint8Array[] {
  return Array.isArray(proof) && proof.length <= FIXED.proofHashesMax && proof.every(isHash)
}

const half = (n: number): number => Math.floor(n / 2)

/**
 * PROOF(oldSize, D[newSize]) (RFC 9162 §2.1.4.1) from what a signer holds: the
 * old tree's right edge (its compact range) and the leaf hashes appended since.
 * Every subtree the proof needs inside the old tree is one of the old range's
 * perfect subtrees or a right fold of its last ones (the RFC's recursion splits
 * the old size at its bits), and every other one lies in the new leaves.
 */
export function consistencyProofFromRange(old: CompactRange, newLeaves: readonly Uint8Array[]): Buffer[] {
  const m = old.size
  const n = m + newLeaves.length
  if (m === n) return []
  if (m === 0) throw invalid('old-size-zero', 'no consistency proof exists from the empty tree')
  const edge = old.hashes()
  // Start leaf of each old perfect subtree, biggest first.
  const starts: number[] = []
  for (let at = 0, rest = m; rest > 0;) {
    let k = 1
    while (k * 2 <= rest) k *= 2
    starts.push(at)
    at += k
    rest -= k
  }
  const oldRoot = (a: number, b: number): Buffer => {
    const i = starts.indexOf(a)
    invariantRange(i >= 0 && b === m, a, b)
    let root = edge[edge.length - 1]!
    for (let j = edge.length - 2; j >= i; j--) root = nodeHash(edge[j]!, root)
    return Buffer.from(root)
  }
  const perfectOld = (a: number, b: number): Buffer => {
    const i = starts.indexOf(a)
    invariantRange(i >= 0 && (i + 1 < starts.length ? starts[i + 1] : m) === b, a, b)
    return Buffer.from(edge[i]!)
  }
  const newRoot = (a: number, b: number): Buffer => subtreeRoot(a - m, b - m, (i) => newLeaves[i]!)
  const proof: Buffer[] = []
  let start = 0
  let end = n
  let rel = m
  let whole = true
  for (;;) {
    const width = end - start
    if (rel === width) {
      if (!whole) proof.push(oldRoot(start, end))
      break
    }
    const k = splitPoint(width)
    if (rel <= k) {
      proof.push(start + k >= m ? newRoot(start + k, end) : invalidRange(start + k, end))
      end = start + k
    } else {
      proof.push(perfectOld(start, start + k))
      start += k
      rel -= k
      whole = false
    }
  }
  return proof.reverse()
}

function invariantRange(ok: boolean, a: number, b: number): void {
  if (!ok) throw invalid('range', `subtree [${a}, ${b}) is not in the old tree's right edge`)
}

function invalidRange(a: number, b: number): never {
  throw invalid('range', `subtree [${a}, ${b}) spans the old and the new leaves`)
}

/** RFC 9162 §2.1.3.2: does proof show leafHash at index in the tree of size with this root? */
export function verifyInclusion(
  index: number,
  size: number,
  leafHash: Uint8Array,
  proof: readonly Uint8Array[],
  root: Uint8Array,
): boolean {
  try {
    if (!isSize(index) || !isSize(size) || index >= size) return false
    if (!isHash(leafHash) || !isHash(root) || !isProof(proof)) return false
    let fn = index
    let sn = size - 1
    let r: Uint8Array = leafHash
    for (const p of proof) {
      if (sn === 0) return false
      if (fn % 2 === 1 || fn === sn) {
        r = nodeHash(p, r)
        while (fn % 2 === 0 && fn !== 0) {
          fn = half(fn)
          sn = half(sn)
        }
      } else {
        r = nodeHash(r, p)
      }
      fn = half(fn)
      sn = half(sn)
    }
    return sn === 0 && bytesEqual(r, root)
  } catch {
    return false // a hostile input (a throwing getter, a proxy) is a forged proof, not a crash
  }
}

/** RFC 9162 §2.1.4.2: does proof show that the tree (newSize, newRoot) extends (oldSize, oldRoot)? */
export function verifyConsistency(
  oldSize: number,
  newSize: number,
  oldRoot: Uint8Array,
  newRoot: Uint8Array,
  proof: readonly Uint8Array[],
): boolean {
  try {
    if (!isSize(oldSize) || !isSize(newSize) || oldSize > newSize) return false
    if (!(oldRoot instanceof Uint8Array) || !(newRoot instanceof Uint8Array) || !isProof(proof)) return false
    if (oldSize === newSize) {
      if (proof.length !== 0 || !bytesEqual(oldRoot, newRoot)) return false
      return oldSize > 0 || bytesEqual(oldRoot, EMPTY_ROOT)
    }
    if (oldSize === 0 || proof.length === 0 || !isHash(oldRoot) || !isHash(newRoot)) return false
    // Step 1: a power-of-two old tree is itself a node of the new one, so its root starts the path.
    const path = isPowerOfTwo(oldSize) ? [oldRoot, ...proof] : proof
    let fn = oldSize - 1
    let sn = newSize - 1
    while (fn % 2 === 1) {
      fn = half(fn)
      sn = half(sn)
    }
    let fr: Uint8Array = path[0]!
    let sr: Uint8Array = path[0]!
    for (let i = 1; i < path.length; i++) {
      const c = path[i]!
      if (sn === 0) return false
      if (fn % 2 === 1 || fn === sn) {
        fr = nodeHash(c, fr)
        sr = nodeHash(c, sr)
        while (fn % 2 === 0 && fn !== 0) {
          fn = half(fn)
          sn = half(sn)
        }
      } else {
        sr = nodeHash(sr, c)
      }
      fn = half(fn)
      sn = half(sn)
    }
    return sn === 0 && bytesEqual(fr, oldRoot) && bytesEqual(sr, newRoot)
  } catch {
    return false
  }
}
