// `mtlog-audit verify-proof` and checkProofBundle: an offline proof bundle
// verifies with the log's public key alone, and fails when any byte changes
// (the stated seq too: the proven leaf records it).
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import fs from 'node:fs'
import path from 'node:path'
import { randomBytes } from 'node:crypto'
import { AuditError } from '../../shared/errors.js'
import { leafBytes as walLeaf, RecordType } from '../../shared/format.js'
import {
  addSignatures,
  checkProofBundle,
  cosignCheckpoint,
  encodeProofBundle,
  inclusionProof,
  leafHash,
  loadSigner,
  loadVerifier,
  logOrigin,
  parseNote,
  parseProofBundle,
  rootOf,
  signCheckpoint,
  type ProofBundle,
} from '../../lib/integrity/index.js'
import { cli } from '../helpers/cli-run.js'
import { tempDir } from '../helpers/dirs.js'
import { mulberry32, seedFrom } from '../helpers/load.js'

const SEED = seedFrom('PROOF_SEED')
console.log('seed', SEED, '(replay: PROOF_SEED=<seed>)')

const dir = tempDir('cli-verify-proof')
for (const k of ['log', 'rotated', 'witness', 'other'])
  assert.is(cli('keygen', '--output', path.join(dir, `${k}.key`), '--name', `${k}.example/k`).code, 0)
const pub = (k: string): string => path.join(dir, `${k}.key.pub`)
const logKey = await loadSigner(path.join(dir, 'log.key'))
const rotatedKey = await loadSigner(path.join(dir, 'rotated.key'))
const witnessKey = await loadSigner(path.join(dir, 'witness.key'))

const ORIGIN = logOrigin('log.example/app', randomBytes(16).toString('hex'))
const SIZE = 40
// Leaves as a v2 WAL makes them (shared/format.ts): one event record per seq, each covering the leaf hash before it.
const leafBytes: Buffer[] = []
const hashes: Buffer[] = []
for (let i = 0; i < SIZE; i++) {
  const prev = i === 0 ? Buffer.alloc(32) : hashes[i - 1]!
  leafBytes.push(
    walLeaf(
      RecordType.EVENT,
      i + 1,
      i + 1,
      1_700_000_000_000 + i,
      prev,
      Buffer.from(JSON.stringify({ msg: `event ${i}` })),
    ),
  )
  hashes.push(leafHash(leafBytes[i]!))
}
const checkpoint = signCheckpoint({ origin: ORIGIN, size: SIZE, root: rootOf(hashes), extensions: [] }, [logKey])

function bundleFor(index: number, note = checkpoint, over: Partial<ProofBundle> = {}): string {
  return encodeProofBundle({
    logOrigin: ORIGIN,
    index,
    seq: index + 1,
    leaf: leafBytes[index]!,
    proof: inclusionProof(index, SIZE, (i) => hashes[i]!),
    checkpoint: note,
    ...over,
  })
}

function write(name: string, text: string | Buffer): string {
  const f = path.join(dir, name)
  fs.writeFileSync(f, text)
  return f
}

function refusal(fn: () => unknown): string {
  try {
    fn()
  } catch (err) {
    assert.ok(err instanceof AuditError, String(err))
    return `${(err as AuditError).code}:${(err as AuditError).details?.problem ?? ''}`
  }
  return 'ok'
}

test('verify-proof: exit 0 and one ok line for a valid bundle; --json has the facts', () => {
  const f = write('b16.tlog-proof', bundleFor(16))
  const r = cli('verify-proof', f, '--public-key', pub('log'))
  assert.is(r.code, 0, r.err)
  assert.is(r.out, `ok leaf 16 (seq 17) is in ${ORIGIN} at tree size 40, signed by log.example/k\n`)
  const j = cli('verify-proof', f, '--public-key', pub('log'), '--json')
  assert.is(j.code, 0, j.err)
  const rep = JSON.parse(j.out)
  assert.equal(
    [rep.ok, rep.index, rep.seq, rep.origin, rep.treeSize, rep.signedBy, rep.cosignedBy],
    [true, 16, 17, ORIGIN, 40, ['log.example/k'], []],
  )
  for (const index of [0, 31, 32, 39]) {
    const g = write(`b${index}`, bundleFor(index))
    assert.is(cli('verify-proof', g, '--public-key', pub('log')).code, 0, `leaf ${index}`)
  }
})

test('verify-proof: exit 1 with the reason for a wrong key, a missing file, a bad proof', () => {
  const f = write('b5', bundleFor(5))
  const wrong = cli('verify-proof', f, '--public-key', pub('other'))
  assert.is(wrong.code, 1)
  assert.match(wrong.err, /FAILED: ERR_AUDIT_SIGNATURE_INVALID/)
  const missing = cli('verify-proof', path.join(dir, 'nope'), '--public-key', pub('log'))
  assert.is(missing.code, 1)
  assert.match(missing.err, /FAILED: ENOENT/)
  const other = write('b5-other-leaf', bundleFor(5, checkpoint, { leaf: leafBytes[6]! }))
  const r = cli('verify-proof', other, '--public-key', pub('log'), '--json')
  assert.is(r.code, 1)
  assert.equal([JSON.parse(r.out).ok, JSON.parse(r.out).code], [false, 'ERR_AUDIT_PROOF_INVALID'])
  assert.is(cli('verify-proof', f).code, 2) // --public-key is required
})

test('checkProofBundle: wrong leaf, index, origin or tree refused with their problems', () => {
  const keys = { log: [loadVerifier(pub('log'))] }
  assert.is(
    refusal(() => checkProofBundle(bundleFor(5), keys)),
    'ok',
  )
  assert.is(
    refusal(() => checkProofBundle(bundleFor(5, checkpoint, { index: 6 }), keys)),
    'ERR_AUDIT_PROOF_INVALID:inclusion',
  )
  assert.is(
    refusal(() => checkProofBundle(bundleFor(5, checkpoint, { index: 40 }), keys)),
    'ERR_AUDIT_PROOF_INVALID:index',
  )
  const otherOrigin = logOrigin('log.example/app', 'e'.repeat(32))
  const otherNote = signCheckpoint({ origin: otherOrigin, size: SIZE, root: rootOf(hashes), extensions: [] }, [logKey])
  assert.is(
    refusal(() => checkProofBundle(bundleFor(5, otherNote, { logOrigin: undefined }), keys)),
    'ok', // without a stated origin the checkpoint's is taken
  )
  // A checkpoint of a smaller tree: the proof for size 40 does not fit it.
  const small = signCheckpoint({ origin: ORIGIN, size: 39, root: rootOf(hashes.slice(0, 39)), extensions: [] }, [
    logKey,
  ])
  assert.is(
    refusal(() => checkProofBundle(bundleFor(5, small), keys)),
    'ERR_AUDIT_PROOF_INVALID:inclusion',
  )
})

test('every single-byte change of a bundle is refused, the stated seq included (seeded)', () => {
  const r = mulberry32(SEED)
  const keys = { log: [loadVerifier(pub('log'))] }
  const good = Buffer.from(bundleFor(16))
  assert.is(checkProofBundle(good, keys).leaf.seq, 17)
  const problems = new Map<string, number>()
  for (let i = 0; i < good.length; i++) {
    const m = Buffer.from(good)
    m[i] = (m[i]! + 1 + Math.floor(r() * 255)) % 256
    const got = refusal(() => checkProofBundle(m, keys))
    assert.is.not(got, 'ok', `byte ${i} changed and the bundle still verifies`)
    problems.set(got, (problems.get(got) ?? 0) + 1)
  }
  console.log(`${good.length} single-byte changes, all refused:`, Object.fromEntries(problems))
})

test('a bundle whose stated seq was edited is refused with problem seq', () => {
  const keys = { log: [loadVerifier(pub('log'))] }
  assert.is(
    refusal(() => checkProofBundle(bundleFor(5, checkpoint, { seq: 7 }), keys)),
    'ERR_AUDIT_PROOF_INVALID:seq',
  )
})

test('verify-proof --witness-key: required cosignature present (exit 0) or missing (exit 1)', () => {
  const body = parseNote(checkpoint).text
  const cosigned = addSignatures(checkpoint, [cosignCheckpoint(body, witnessKey, () => 1_700_000_000)])
  const f = write('b7-cosigned', bundleFor(7, cosigned))
  const ok = cli('verify-proof', f, '--public-key', pub('log'), '--witness-key', pub('witness'))
  assert.is(ok.code, 0, ok.err)
  assert.match(ok.out, /, cosigned by witness\.example\/k at 2023-11-14T22:13:20\.000Z\n$/)
  const plain = write('b7', bundleFor(7))
  const no = cli('verify-proof', plain, '--public-key', pub('log'), '--witness-key', pub('witness'))
  assert.is(no.code, 1)
  assert.match(no.err, /no valid cosignature of witness/)
  const other = cli('verify-proof', f, '--public-key', pub('log'), '--witness-key', pub('other'))
  assert.is(other.code, 1)
})

test('verify-proof with two public keys: a checkpoint signed by either key of a rotation verifies', () => {
  const both = signCheckpoint({ origin: ORIGIN, size: SIZE, root: rootOf(hashes), extensions: [] }, [
    logKey,
    rotatedKey,
  ])
  const onlyNew = signCheckpoint({ origin: ORIGIN, size: SIZE, root: rootOf(hashes), extensions: [] }, [rotatedKey])
  const f1 = write('rot-both', bundleFor(3, both))
  const f2 = write('rot-new', bundleFor(3, onlyNew))
  assert.is(cli('verify-proof', f1, '--public-key', pub('log')).code, 0)
  assert.is(cli('verify-proof', f2, '--public-key', pub('log')).code, 1)
  const r = cli('verify-proof', f2, '--public-key', pub('log'), '--public-key', pub('rotated'))
  assert.is(r.code, 0, r.err)
  assert.match(r.out, /signed by rotated\.example\/k\n$/)
})

test.run()
