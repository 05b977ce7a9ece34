// The RFC 9162 tree (lib/integrity/merkle.ts): every vector and negative probe of
// test/fixtures/rfc9162 (transparency-dev/merkle, Apache-2.0), the roots of sizes
// 0–8, proofs we make for those trees byte for byte, a seeded randomized test
// (every proof verifies; any one flipped bit of proof, root or leaf fails it), the
// compact range resumed from its right edge, trees beyond 2^32 leaves, and every
// malformed input the verifiers must refuse without throwing.
import { readdirSync, readFileSync, statSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import {
  CompactRange,
  HASH_BYTES,
  consistencyProof,
  consistencyProofFromRange,
  emptyRoot,
  inclusionProof,
  leafHash,
  nodeHash,
  rootOf,
  subtreeRoot,
  verifyConsistency,
  verifyInclusion,
} from '../../lib/integrity/index.js'
import { AuditError, ERROR_CODES } from '../../shared/errors.js'
import { mulberry32, seedFrom } from '../helpers/load.js'

const SEED = seedFrom('MERKLE_SEED')
console.log(`merkle seed=${SEED} (replay with MERKLE_SEED=${SEED})`)
const rand = mulberry32(SEED)
const randInt = (n: number): number => Math.floor(rand() * n)

const VECTORS = fileURLToPath(new URL('../../../test/fixtures/rfc9162/', import.meta.url))
const b64 = (s: string): Buffer => Buffer.from(s, 'base64')
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex')

function jsonFiles(dir: string): string[] {
  const out: string[] = []
  for (const name of readdirSync(dir).sort()) {
    const p = path.join(dir, name)
    if (statSync(p).isDirectory()) out.push(...jsonFiles(p))
    else if (name.endsWith('.json')) out.push(p)
  }
  return out
}

interface InclusionCase {
  file: string
  leafIdx: number
  treeSize: number
  root: Buffer
  leafHash: Buffer
  proof: Buffer[]
  wantErr: boolean
}
interface ConsistencyCase {
  file: string
  size1: number
  size2: number
  root1: Buffer
  root2: Buffer
  proof: Buffer[]
  wantErr: boolean
}

const inclusionCases: InclusionCase[] = jsonFiles(path.join(VECTORS, 'inclusion')).map((file) => {
  const j = JSON.parse(readFileSync(file, 'utf8'))
  const proof = ((j.proof ?? []) as string[]).map(b64)
  return {
    file,
    leafIdx: j.leafIdx,
    treeSize: j.treeSize,
    root: b64(j.root),
    leafHash: b64(j.leafHash),
    proof,
    wantErr: j.wantErr,
  }
})
const consistencyCases: ConsistencyCase[] = jsonFiles(path.join(VECTORS, 'consistency')).map((file) => {
  const j = JSON.parse(readFileSync(file, 'utf8'))
  const proof = ((j.proof ?? []) as string[]).map(b64)
  return { file, size1: j.size1, size2: j.size2, root1: b64(j.root1), root2: b64(j.root2), proof, wantErr: j.wantErr }
})
const roots = JSON.parse(readFileSync(path.join(VECTORS, 'roots.json'), 'utf8')) as {
  leafInputsHex: string[]
  rootHashesHexBySize: string[]
}
const vectorLeaves = roots.leafInputsHex.map((h) => leafHash(Buffer.from(h, 'hex')))

function expectProofInvalid(fn: () => unknown, problem: string): void {
  try {
    fn()
  } catch (e) {
    assert.ok(e instanceof AuditError, `not an AuditError: ${String(e)}`)
    assert.is(e.code, ERROR_CODES.PROOF_INVALID)
    assert.is(e.details?.problem, problem)
    return
  }
  assert.unreachable(`expected ERR_AUDIT_PROOF_INVALID (${problem})`)
}

// ── the vectors ──────────────────────────────────────────────────────────────

test('the fixture holds every vector: 98 + 98 probes, 92 of each negative', () => {
  assert.is(inclusionCases.length, 98)
  assert.is(consistencyCases.length, 98)
  assert.is(inclusionCases.filter((c) => c.wantErr).length, 92)
  assert.is(consistencyCases.filter((c) => c.wantErr).length, 92)
  assert.is(roots.rootHashesHexBySize.length, 9)
})

test('every inclusion vector: accepted exactly when it should be', () => {
  const wrong = inclusionCases
    .filter((c) => verifyInclusion(c.leafIdx, c.treeSize, c.leafHash, c.proof, c.root) === c.wantErr)
    .map((c) => path.relative(VECTORS, c.file))
  assert.equal(wrong, [])
})

test('every consistency vector: accepted exactly when it should be', () => {
  const wrong = consistencyCases
    .filter((c) => verifyConsistency(c.size1, c.size2, c.root1, c.root2, c.proof) === c.wantErr)
    .map((c) => path.relative(VECTORS, c.file))
  assert.equal(wrong, [])
})

test('roots of sizes 0–8: rootOf, CompactRange and subtreeRoot all agree with the vectors', () => {
  const range = CompactRange.empty()
  for (let n = 0; n <= 8; n++) {
    const want = roots.rootHashesHexBySize[n]!
    assert.is(hex(rootOf(vectorLeaves.slice(0, n))), want, `rootOf size ${n}`)
    assert.is(hex(range.root()), want, `CompactRange size ${n}`)
    assert.is(hex(subtreeRoot(0, n, (i) => vectorLeaves[i]!)), want, `subtreeRoot size ${n}`)
    if (n < 8) range.append(vectorLeaves[n]!)
  }
  assert.is(hex(emptyRoot()), roots.rootHashesHexBySize[0])
})

test('our proofs for the happy-path vectors are the vectors’ proofs, byte for byte', () => {
  let checked = 0
  for (const c of inclusionCases.filter((x) => !x.wantErr && x.treeSize <= 8)) {
    if (hex(c.root) !== roots.rootHashesHexBySize[c.treeSize]) continue // a tree of other leaves (single-entry)
    const made = inclusionProof(c.leafIdx, c.treeSize, (i) => vectorLeaves[i]!)
    assert.equal(made.map(hex), c.proof.map(hex), path.relative(VECTORS, c.file))
    checked++
  }
  for (const c of consistencyCases.filter((x) => !x.wantErr && x.size2 <= 8)) {
    if (hex(c.root2) !== roots.rootHashesHexBySize[c.size2]) continue // the "don't care" roots
    const made = consistencyProof(c.size1, c.size2, (i) => vectorLeaves[i]!)
    assert.equal(made.map(hex), c.proof.map(hex), path.relative(VECTORS, c.file))
    checked++
  }
  assert.is(checked, 10) // five inclusion and five consistency happy paths
})

// ── edge cases the verifiers refuse without throwing ─────────────────────────

const L = leafHash(Buffer.from('a'))
const R1 = rootOf([L])

test('verifyInclusion: malformed sizes, indexes, hashes and proofs are false, never a throw', () => {
  const hostile = new Proxy([], {
    get() {
      throw new Error('hostile')
    },
  }) as unknown as Uint8Array[]
  const cases: [unknown, unknown, unknown, unknown, unknown][] = [
    [0, 0, L, [], R1], // size 0
    [1, 1, L, [], R1], // index == size
    [-1, 1, L, [], R1],
    [0.5, 1, L, [], R1],
    [NaN, 1, L, [], R1],
    [0, 2 ** 53, L, [], R1], // an unsafe size
    ['0', 1, L, [], R1],
    [0, 1, L.subarray(0, 31), [], R1], // short leaf hash
    [0, 1, Buffer.concat([L, Buffer.of(0)]), [], R1], // long leaf hash
    [0, 1, L, [], R1.subarray(1)], // short root
    [0, 1, L, [Buffer.alloc(0)], R1], // proof too long by one (empty) hash
    [0, 1, L, [L], R1], // proof too long by one hash
    [0, 1, L, new Array(65).fill(L), R1], // longer than proofHashesMax
    [0, 1, L, 'nope', R1],
    [0, 1, L, [new Array(32).fill(0)], R1], // not bytes
    [0, 1, null, [], R1],
    [0, 1, L, [], null],
    [0, 1, L, hostile, R1],
  ]
  for (const [i, args] of cases.entries()) {
    let got: boolean | undefined
    assert.not.throws(() => {
      got = verifyInclusion(...(args as Parameters<typeof verifyInclusion>))
    }, `case ${i} threw`)
    assert.is(got, false, `case ${i}`)
  }
  assert.ok(verifyInclusion(0, 1, L, [], R1), 'the well-formed case itself verifies')
})

test('verifyConsistency: the open cases of the RFC and malformed input', () => {
  const E = emptyRoot()
  const R2 = rootOf([L, L])
  const p12 = consistencyProof(1, 2, () => L)
  assert.ok(verifyConsistency(1, 2, R1, R2, p12))
  assert.ok(verifyConsistency(0, 0, E, E, []), 'two empty trees with the empty root')
  assert.not.ok(verifyConsistency(0, 0, R1, R1, []), 'size 0 with another root')
  assert.ok(verifyConsistency(2, 2, R2, R2, []), 'equal sizes, equal roots, empty proof')
  assert.not.ok(verifyConsistency(2, 2, R2, R1, []), 'equal sizes, different roots')
  assert.not.ok(verifyConsistency(2, 2, R2, R2, [L]), 'equal sizes, a proof')
  assert.not.ok(verifyConsistency(0, 2, E, R2, []), 'from the empty tree: no proof exists')
  assert.not.ok(verifyConsistency(0, 2, E, R2, p12))
  assert.not.ok(verifyConsistency(2, 1, R2, R1, p12), 'oldSize > newSize')
  assert.not.ok(verifyConsistency(1, 2, R1, R2, []), 'empty proof')
  assert.not.ok(verifyConsistency(1, 2, R1, R2, [...p12, L]), 'one hash too many')
  assert.not.ok(verifyConsistency(1, 2, R1.subarray(1), R2, p12), 'short old root')
  assert.not.ok(verifyConsistency(1, 2, R1, Buffer.concat([R2, Buffer.of(0)]), p12), 'long new root')
  assert.not.ok(verifyConsistency(1, 2, R1, R2, [p12[0]!.subarray(1)]), 'short proof hash')
  assert.not.ok(verifyConsistency(-1, 2, R1, R2, p12))
  assert.not.ok(verifyConsistency(1, 2 ** 53, R1, R2, p12))
  assert.not.ok(verifyConsistency(1, 2, R1, R2, null as unknown as Uint8Array[]))
  assert.not.ok(verifyConsistency(1, 2, null as unknown as Uint8Array, R2, p12))
  assert.not.ok(verifyConsistency(1, 2, R1, R2, new Array(65).fill(L)))
})

test('proof makers refuse requests outside the tree with ERR_AUDIT_PROOF_INVALID', () => {
  const at = (): Uint8Array => L
  expectProofInvalid(() => inclusionProof(0, 0, at), 'index')
  expectProofInvalid(() => inclusionProof(3, 3, at), 'index')
  expectProofInvalid(() => inclusionProof(-1, 3, at), 'index')
  expectProofInvalid(() => inclusionProof(0, 2 ** 53, at), 'index')
  expectProofInvalid(() => consistencyProof(4, 3, at), 'size')
  expectProofInvalid(() => consistencyProof(0, 3, at), 'old-size-zero')
  assert.equal(consistencyProof(0, 0, at), [])
  assert.equal(consistencyProof(3, 3, at), [])
  expectProofInvalid(() => inclusionProof(0, 3, () => Buffer.alloc(31)), 'leaf-hash')
  expectProofInvalid(() => subtreeRoot(2, 1, at), 'range')
  expectProofInvalid(() => leafHash('text' as unknown as Uint8Array), 'leaf')
  expectProofInvalid(() => nodeHash(L, null as unknown as Uint8Array), 'node')
})

test('CompactRange.from refuses hashes that do not fit the size', () => {
  expectProofInvalid(() => CompactRange.from(3, [L]), 'range') // popcount(3) = 2
  expectProofInvalid(() => CompactRange.from(0, [L]), 'range')
  expectProofInvalid(() => CompactRange.from(1, [L.subarray(1)]), 'range')
  expectProofInvalid(() => CompactRange.from(-1, []), 'size')
  expectProofInvalid(() => CompactRange.from(2 ** 53, []), 'size')
  expectProofInvalid(() => CompactRange.empty().append(Buffer.alloc(33)), 'leaf-hash')
  assert.is(CompactRange.from(0, []).root().toString('hex'), emptyRoot().toString('hex'))
})

test('a proof reads each leaf outside the proven one exactly once (n − 1 reads), nothing more', () => {
  for (const n of [1, 2, 7, 64, 1000]) {
    const index = randInt(n)
    let reads = 0
    const seen = new Set<number>()
    inclusionProof(index, n, (i) => {
      reads++
      seen.add(i)
      return leafHash(Buffer.from(String(i)))
    })
    assert.is(reads, n - 1, `size ${n}`)
    assert.not.ok(seen.has(index))
  }
})

// ── seeded random trees ──────────────────────────────────────────────────────

function flipEachBit(bytes: Uint8Array, check: (flipped: Buffer) => boolean, what: string, sample?: number): void {
  const bits = bytes.length * 8
  const picks = sample === undefined ? [...Array(bits).keys()] : Array.from({ length: sample }, () => randInt(bits))
  for (const bit of picks) {
    const flipped = Buffer.from(bytes)
    flipped[bit >> 3]! ^= 1 << (bit & 7)
    assert.not.ok(check(flipped), `${what}: bit ${bit} flipped still verifies`)
  }
}

const SIZES = [1, 2, 3, 4, 5, 8, 127, 128, 129, 1024, 2000, ...Array.from({ length: 9 }, () => 1 + randInt(2000))]

test('random trees: every inclusion proof verifies, and no single flipped bit does', () => {
  for (const n of SIZES) {
    const leaves = Array.from({ length: n }, () =>
      leafHash(Buffer.from(Array.from({ length: randInt(300) }, () => randInt(256)))),
    )
    const at = (i: number): Uint8Array => leaves[i]!
    const root = rootOf(leaves)
    const indexes = n <= 8 ? [...Array(n).keys()] : [0, n - 1, ...Array.from({ length: 6 }, () => randInt(n))]
    for (const [k, index] of indexes.entries()) {
      const proof = inclusionProof(index, n, at)
      const leaf = leaves[index]!
      assert.ok(verifyInclusion(index, n, leaf, proof, root), `size ${n} index ${index}`)
      // Every bit for the first two indexes of a size, a random sample for the rest.
      const sample = k < 2 ? undefined : 24
      for (const [j, h] of proof.entries())
        flipEachBit(h, (f) => verifyInclusion(index, n, leaf, proof.with(j, f), root), `size ${n} proof[${j}]`, sample)
      flipEachBit(root, (f) => verifyInclusion(index, n, leaf, proof, f), `size ${n} root`, sample)
      flipEachBit(leaf, (f) => verifyInclusion(index, n, f, proof, root), `size ${n} leaf`, sample)
      for (const other of [index - 1, index + 1, index ^ 2].filter((x) => x >= 0 && x < n && x !== index))
        assert.not.ok(verifyInclusion(other, n, leaf, proof, root), `size ${n}: index ${index} moved to ${other}`)
      if (proof.length > 0) {
        assert.not.ok(verifyInclusion(index, n, leaf, proof.slice(1), root), 'a hash removed')
        assert.not.ok(verifyInclusion(index, n, leaf, [...proof, root], root), 'a hash added')
      }
    }
  }
})

test('random trees: every consistency proof verifies, and no single flipped bit does', () => {
  for (const n of SIZES) {
    const leaves = Array.from({ length: n }, (_, i) => leafHash(Buffer.from(`${SEED}:${n}:${i}`)))
    const at = (i: number): Uint8Array => leaves[i]!
    const newRoot = rootOf(leaves)
    const olds =
      n <= 8
        ? Array.from({ length: n }, (_, i) => i + 1)
        : [1, n - 1, n, ...Array.from({ length: 5 }, () => 1 + randInt(n))]
    for (const [k, m] of olds.entries()) {
      const oldRoot = rootOf(leaves.slice(0, m))
      const proof = consistencyProof(m, n, at)
      assert.ok(verifyConsistency(m, n, oldRoot, newRoot, proof), `${m} → ${n}`)
      const sample = k < 2 ? undefined : 24
      for (const [j, h] of proof.entries())
        flipEachBit(
          h,
          (f) => verifyConsistency(m, n, oldRoot, newRoot, proof.with(j, f)),
          `${m}→${n} proof[${j}]`,
          sample,
        )
      flipEachBit(oldRoot, (f) => verifyConsistency(m, n, f, newRoot, proof), `${m}→${n} old root`, sample)
      flipEachBit(newRoot, (f) => verifyConsistency(m, n, oldRoot, f, proof), `${m}→${n} new root`, sample)
      if (m < n) {
        assert.not.ok(verifyConsistency(m, n, newRoot, oldRoot, proof), 'swapped roots')
        assert.not.ok(verifyConsistency(m, n, oldRoot, newRoot, proof.slice(0, -1)), 'truncated proof')
        assert.not.ok(verifyConsistency(m, n, oldRoot, newRoot, [...proof, newRoot]), 'a hash added')
      }
    }
  }
})

test('consistencyProofFromRange (old right edge + new leaves) equals consistencyProof for every 1 ≤ m < n ≤ 70', () => {
  const leaves = Array.from({ length: 70 }, (_, i) => leafHash(Buffer.from(`leaf ${i}`)))
  for (let n = 2; n <= 70; n++)
    for (let m = 1; m < n; m++) {
      const old = CompactRange.empty()
      old.appendMany(leaves.slice(0, m))
      const got = consistencyProofFromRange(old, leaves.slice(m, n))
      assert.equal(
        got,
        consistencyProof(m, n, (i) => leaves[i]!),
        `m ${m} n ${n}`,
      )
    }
  const old = CompactRange.empty()
  old.appendMany(leaves.slice(0, 5))
  assert.equal(consistencyProofFromRange(old, []), [])
})

test('CompactRange: resumed from (size, hashes()) it continues to the same root as rootOf', () => {
  for (const n of SIZES) {
    const leaves = Array.from({ length: n }, (_, i) => leafHash(Buffer.from(`r:${SEED}:${i}`)))
    const cut = randInt(n + 1)
    const first = CompactRange.empty()
    first.appendMany(leaves.slice(0, cut))
    assert.is(first.size, cut)
    assert.is(first.hashes().length, [...cut.toString(2)].filter((b) => b === '1').length)
    const resumed = CompactRange.from(cut, first.hashes())
    assert.is(hex(resumed.root()), hex(first.root()))
    const copy = resumed.clone()
    resumed.appendMany(leaves.slice(cut))
    assert.is(resumed.size, n)
    assert.is(hex(resumed.root()), hex(rootOf(leaves)), `size ${n} cut ${cut}`)
    assert.is(hex(copy.root()), hex(first.root()), 'a clone does not move with the original')
    // What hashes() hands out is a copy: writing to it changes nothing.
    const edge = resumed.hashes()
    edge[0]!.fill(0)
    assert.is(hex(resumed.root()), hex(rootOf(leaves)))
  }
})

// ── trees beyond 2^32 leaves (the verifiers' arithmetic is not 32-bit) ───────
// In a tree whose leaves are all one hash, a subtree's hash depends only on its
// width, so proofs for any size can be computed from the RFC's definitions here,
// independently of merkle.ts, with one hash per power of two.

const perfect: Buffer[] = [L]
const perfectOf = (level: number): Buffer => {
  while (perfect.length <= level) perfect.push(nodeHash(perfect.at(-1)!, perfect.at(-1)!))
  return perfect[level]!
}
function uniformRoot(width: number): Buffer {
  const parts: Buffer[] = []
  for (let level = 53; level >= 0; level--) if (Math.floor(width / 2 ** level) % 2 === 1) parts.push(perfectOf(level))
  return parts.reduceRight((acc, p) => nodeHash(p, acc))
}
function splitOf(n: number): number {
  let k = 1
  while (k * 2 < n) k *= 2
  return k
}
function uniformPath(m: number, n: number): Buffer[] {
  if (n <= 1) return []
  const k = splitOf(n)
  return m < k ? [...uniformPath(m, k), uniformRoot(n - k)] : [...uniformPath(m - k, n - k), uniformRoot(k)]
}
function uniformSubproof(m: number, n: number, whole: boolean): Buffer[] {
  if (m === n) return whole ? [] : [uniformRoot(n)]
  const k = splitOf(n)
  return m <= k
    ? [...uniformSubproof(m, k, whole), uniformRoot(n - k)]
    : [...uniformSubproof(m - k, n - k, false), uniformRoot(k)]
}

test('trees of more than 2^32 leaves: inclusion and consistency verify', () => {
  for (const n of [2 ** 32 + 1, 2 ** 40 + 12345, 2 ** 53 - 1, 3 * 2 ** 33]) {
    assert.is(splitOf(n) < n && splitOf(n) * 2 >= n, true)
    const root = uniformRoot(n)
    for (const index of [0, n - 1, 2 ** 32, Math.floor(n / 3)]) {
      const proof = uniformPath(index, n)
      assert.ok(verifyInclusion(index, n, L, proof, root), `index ${index} of ${n}`)
      assert.not.ok(verifyInclusion(index, n, L, proof, uniformRoot(n - 1)), `index ${index} of ${n}, another root`)
      assert.not.ok(verifyInclusion(index, n, L, proof.slice(1), root), `index ${index} of ${n}, a hash short`)
    }
    for (const m of [1, 2 ** 32, 2 ** 32 + 3, n - 1].filter((x) => x < n)) {
      const proof = uniformSubproof(m, n, true)
      assert.ok(verifyConsistency(m, n, uniformRoot(m), root, proof), `${m} → ${n}`)
      assert.not.ok(verifyConsistency(m, n, uniformRoot(m + 1), root, proof), `${m + 1} → ${n}`)
    }
  }
  assert.is(HASH_BYTES, 32)
})

test.run()
