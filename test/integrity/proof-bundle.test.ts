// Offline proof bundles (lib/integrity/proof-bundle.ts): the c2sp.org/tlog-proof
// layout, seeded round trips, a bundle made from a real tree that still proves its
// leaf after parsing, every single-byte change (substitution, deletion, insertion)
// either refused or visible as a changed field, and each strictness rule by name.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import {
  PROOF_BUNDLE_HEADER,
  encodeProofBundle,
  inclusionProof,
  leafHash,
  parseProofBundle,
  rootOf,
  verifyInclusion,
  type ProofBundle,
} from '../../lib/integrity/index.js'
import { AuditError, ERROR_CODES } from '../../shared/errors.js'
import { FIXED } from '../../shared/limits.js'
import { mulberry32, seedFrom } from '../helpers/load.js'

const SEED = seedFrom('BUNDLE_SEED')
console.log(`proof-bundle seed=${SEED} (replay with BUNDLE_SEED=${SEED})`)
const rand = mulberry32(SEED)
const randInt = (n: number): number => Math.floor(rand() * n)
const bytes = (n: number): Buffer => Buffer.from(Array.from({ length: n }, () => randInt(256)))

const ORIGIN = 'example.com/audit/0123456789abcdef0123456789abcdef'

/** A checkpoint-shaped note (this module treats it as opaque text; signatures are A2's). */
function checkpointText(size: number, root: Uint8Array, origin = ORIGIN): string {
  const sig = bytes(68).toString('base64')
  return `${origin}\n${size}\n${Buffer.from(root).toString('base64')}\n\n\u2014 example.com/audit ${sig}\n`
}

function problemOf(fn: () => unknown): string {
  try {
    fn()
  } catch (e) {
    assert.ok(e instanceof AuditError, `not an AuditError: ${String(e)}`)
    assert.is(e.code, ERROR_CODES.PROOF_INVALID)
    assert.ok(e.message.length < 200, 'an error message stays short')
    return String(e.details?.problem)
  }
  return 'accepted'
}

function sampleBundle(): ProofBundle {
  const b: ProofBundle = {
    index: randInt(2 ** 40),
    seq: 1 + randInt(2 ** 40),
    leaf: bytes(randInt(400)),
    proof: Array.from({ length: randInt(FIXED.proofHashesMax + 1) }, () => bytes(32)),
    checkpoint: checkpointText(1 + randInt(1e9), bytes(32)),
  }
  if (rand() < 0.5) b.logOrigin = ORIGIN
  return b
}

test('the text is c2sp.org/tlog-proof: header, extra, index, hashes, blank line, checkpoint verbatim', () => {
  const checkpoint = checkpointText(5, Buffer.alloc(32, 7))
  const text = encodeProofBundle({
    index: 4,
    seq: 9,
    leaf: Buffer.from('leaf'),
    proof: [Buffer.alloc(32, 1), Buffer.alloc(32, 2)],
    checkpoint,
  })
  const lines = text.split('\n')
  assert.is(lines[0], PROOF_BUNDLE_HEADER)
  assert.match(lines[1]!, /^extra [A-Za-z0-9+/]+=*$/)
  assert.is(lines[2], 'index 4')
  assert.is(lines[3], Buffer.alloc(32, 1).toString('base64'))
  assert.is(lines[4], Buffer.alloc(32, 2).toString('base64'))
  assert.is(lines[5], '')
  assert.is(lines.slice(6).join('\n'), checkpoint)
  // The extra data: magic, u64 seq, u32 origin length (0: none), u32 leaf length, leaf.
  const extra = Buffer.from(lines[1]!.slice(6), 'base64')
  assert.is(extra.subarray(0, 27).toString('latin1'), 'mtlog-audit/proof-extra@v1\n')
  assert.is(extra.readBigUInt64BE(27), 9n)
  assert.is(extra.readUInt32BE(35), 0)
  assert.is(extra.readUInt32BE(39), 4)
  assert.is(extra.subarray(43).toString(), 'leaf')
})

test('seeded round trips, from text and from bytes', () => {
  for (let k = 0; k < 300; k++) {
    const b = sampleBundle()
    const text = encodeProofBundle(b)
    assert.equal(parseProofBundle(text), b)
    assert.equal(parseProofBundle(Buffer.from(text)), b)
  }
  const empty: ProofBundle = {
    index: 0,
    seq: 1,
    leaf: Buffer.alloc(0),
    proof: [],
    checkpoint: checkpointText(1, bytes(32)),
  }
  assert.equal(parseProofBundle(encodeProofBundle(empty)), empty)
})

test('a bundle made from a real tree still proves its leaf after the round trip', () => {
  const leaves = Array.from({ length: 1 + randInt(3000) }, (_, i) =>
    Buffer.from(`{"seq":${i + 1},"v":${randInt(1e6)}}`),
  )
  const hashes = leaves.map(leafHash)
  const index = randInt(leaves.length)
  const root = rootOf(hashes)
  const text = encodeProofBundle({
    logOrigin: ORIGIN,
    index,
    seq: index + 1,
    leaf: leaves[index]!,
    proof: inclusionProof(index, leaves.length, (i) => hashes[i]!),
    checkpoint: checkpointText(leaves.length, root),
  })
  const got = parseProofBundle(text)
  const [, size, rootB64] = got.checkpoint.split('\n')
  assert.is(Number(size), leaves.length)
  assert.ok(verifyInclusion(got.index, Number(size), leafHash(got.leaf), got.proof, Buffer.from(rootB64!, 'base64')))
  const other = Buffer.from(got.leaf)
  other[0]! ^= 1
  assert.not.ok(verifyInclusion(got.index, Number(size), leafHash(other), got.proof, Buffer.from(rootB64!, 'base64')))
})

test('every single-byte change is refused or changes a field (all 255 substitutions, deletions, insertions)', () => {
  const original: ProofBundle = {
    logOrigin: ORIGIN,
    index: 1234,
    seq: 1235,
    leaf: bytes(40),
    proof: [bytes(32), bytes(32), bytes(32)],
    checkpoint: checkpointText(5000, bytes(32)),
  }
  const text = Buffer.from(encodeProofBundle(original))
  let refused = 0
  let changed = 0
  const judge = (mutated: Buffer, what: string): void => {
    let got: ProofBundle
    try {
      got = parseProofBundle(mutated)
    } catch (e) {
      assert.ok(e instanceof AuditError && e.code === ERROR_CODES.PROOF_INVALID, `${what}: ${String(e)}`)
      refused++
      return
    }
    assert.not.equal(got, original, `${what} parsed to the same bundle`)
    changed++
  }
  for (let at = 0; at < text.length; at++) {
    for (let v = 0; v < 256; v++) {
      if (v === text[at]) continue
      const mutated = Buffer.from(text)
      mutated[at] = v
      judge(mutated, `byte ${at} → ${v}`)
    }
    judge(Buffer.concat([text.subarray(0, at), text.subarray(at + 1)]), `byte ${at} deleted`)
    for (const c of ['\n', ' ', 'A', '0', '=', '+'])
      judge(
        Buffer.concat([text.subarray(0, at), Buffer.from(c), text.subarray(at)]),
        `${JSON.stringify(c)} inserted at ${at}`,
      )
  }
  console.log(`  ${text.length} bytes: ${refused} changes refused, ${changed} parsed to a different bundle`)
  assert.ok(refused > 0 && changed > 0)
})

test('each strictness rule, by name', () => {
  const base = encodeProofBundle({
    logOrigin: ORIGIN,
    index: 3,
    seq: 4,
    leaf: Buffer.from('x'),
    proof: [bytes(32), bytes(32)],
    checkpoint: checkpointText(10, bytes(32)),
  })
  const lines = base.split('\n')
  const withLine = (i: number, line: string): string => lines.map((l, j) => (j === i ? line : l)).join('\n')
  const extraOf = (buf: Buffer): string => `extra ${buf.toString('base64')}`
  const extra = Buffer.from(lines[1]!.slice(6), 'base64')

  assert.is(
    problemOf(() => parseProofBundle(base)),
    'accepted',
  )
  assert.is(
    problemOf(() => parseProofBundle(withLine(0, 'c2sp.org/tlog-proof@v2'))),
    'header',
  )
  assert.is(
    problemOf(() => parseProofBundle('\uFEFF' + base)),
    'header',
  ) // a BOM is a changed header
  assert.is(
    problemOf(() => parseProofBundle(lines.filter((_, j) => j !== 1).join('\n'))),
    'extra',
  )
  // The last character before '=' of a 32-byte hash carries two padding bits: flipping
  // one leaves the bytes Buffer.from decodes unchanged, and the strict decoder refuses it.
  const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/'
  const h = lines[3]!
  const loose = h.slice(0, 42) + ALPHABET[ALPHABET.indexOf(h[42]!) ^ 1] + '='
  assert.ok(Buffer.from(loose, 'base64').equals(Buffer.from(h, 'base64')))
  assert.is(
    problemOf(() => parseProofBundle(withLine(3, loose))),
    'hash',
  )
  assert.is(
    problemOf(() => parseProofBundle(withLine(1, 'extra ' + lines[1]!.slice(6) + '\u0000'))),
    'extra',
  )
  assert.is(
    problemOf(() => parseProofBundle(withLine(1, extraOf(Buffer.concat([Buffer.from('x'), extra.subarray(1)]))))),
    'extra',
  ) // magic
  const seq0 = Buffer.from(extra)
  seq0.writeBigUInt64BE(0n, 27)
  assert.is(
    problemOf(() => parseProofBundle(withLine(1, extraOf(seq0)))),
    'extra',
  )
  const seqBig = Buffer.from(extra)
  seqBig.writeBigUInt64BE(2n ** 53n, 27)
  assert.is(
    problemOf(() => parseProofBundle(withLine(1, extraOf(seqBig)))),
    'extra',
  )
  assert.is(
    problemOf(() => parseProofBundle(withLine(1, extraOf(Buffer.concat([extra, Buffer.of(0)]))))),
    'extra',
  ) // leaf length
  assert.is(
    problemOf(() => parseProofBundle(withLine(1, extraOf(extra.subarray(0, 30))))),
    'extra',
  )
  const originLong = Buffer.from(extra)
  originLong.writeUInt32BE(0xffffffff, 35)
  assert.is(
    problemOf(() => parseProofBundle(withLine(1, extraOf(originLong)))),
    'extra',
  )
  assert.is(
    problemOf(() => parseProofBundle(withLine(2, 'index 03'))),
    'index',
  )
  assert.is(
    problemOf(() => parseProofBundle(withLine(2, 'index -3'))),
    'index',
  )
  assert.is(
    problemOf(() => parseProofBundle(withLine(2, 'index 9007199254740992'))),
    'index',
  ) // 2^53
  assert.is(
    problemOf(() => parseProofBundle(withLine(2, 'index  3'))),
    'index',
  )
  assert.is(
    problemOf(() => parseProofBundle(withLine(3, bytes(31).toString('base64')))),
    'hash',
  )
  assert.is(
    problemOf(() => parseProofBundle(withLine(3, bytes(33).toString('base64')))),
    'hash',
  )
  assert.is(
    problemOf(() => parseProofBundle(withLine(3, lines[3]!.replace(/=$/, '')))),
    'hash',
  )
  const many = [
    ...lines.slice(0, 3),
    ...Array.from({ length: FIXED.proofHashesMax + 1 }, () => lines[3]!),
    ...lines.slice(5),
  ]
  assert.is(
    problemOf(() => parseProofBundle(many.join('\n'))),
    'proof-length',
  )
  assert.is(
    problemOf(() => parseProofBundle(lines.slice(0, 5).join('\n'))),
    'truncated',
  ) // no blank line
  assert.is(
    problemOf(() => parseProofBundle(lines.slice(0, 6).join('\n') + '\n')),
    'checkpoint',
  ) // empty
  assert.is(
    problemOf(() => parseProofBundle(base.slice(0, -1))),
    'checkpoint',
  ) // no final newline
  assert.is(
    problemOf(() => parseProofBundle(base.replace(`${ORIGIN}\n10\n`, `${ORIGIN}\r\n10\n`))),
    'checkpoint',
  )
  assert.is(
    problemOf(() => parseProofBundle(base.replace(`${ORIGIN}\n10\n`, `other.example/log\n10\n`))),
    'origin',
  )
  assert.is(
    problemOf(() => parseProofBundle(base.replace('\n\n', '\n\n\n'))),
    'checkpoint',
  ) // origin line empty
  assert.is(
    problemOf(() => parseProofBundle(base + '\uD800\n')),
    'utf8',
  )
  assert.is(
    problemOf(() => parseProofBundle(Buffer.concat([Buffer.from(base), Buffer.of(0xc3, 0x0a)]))),
    'utf8',
  )
  assert.is(
    problemOf(() => parseProofBundle(42 as unknown as string)),
    'type',
  )
  assert.is(
    problemOf(() => parseProofBundle('a'.repeat(FIXED.proofBundleBytesMax + 1))),
    'size',
  )
  assert.is(
    problemOf(() => parseProofBundle(Buffer.alloc(FIXED.proofBundleBytesMax + 1))),
    'size',
  )
  const fatNote = checkpointText(10, bytes(32)) + `\u2014 x ${'A'.repeat(FIXED.noteBytesMax)}\n`
  assert.is(
    problemOf(() => parseProofBundle(lines.slice(0, 6).join('\n') + '\n' + fatNote)),
    'checkpoint',
  )
})

test('encodeProofBundle refuses what parseProofBundle would refuse', () => {
  const good = (): ProofBundle => ({
    index: 0,
    seq: 1,
    leaf: Buffer.from('x'),
    proof: [],
    checkpoint: checkpointText(1, bytes(32)),
  })
  assert.is(
    problemOf(() => encodeProofBundle(good())),
    'accepted',
  )
  assert.is(
    problemOf(() => encodeProofBundle({ ...good(), index: -1 })),
    'index',
  )
  assert.is(
    problemOf(() => encodeProofBundle({ ...good(), index: 2 ** 53 })),
    'index',
  )
  assert.is(
    problemOf(() => encodeProofBundle({ ...good(), seq: 0 })),
    'seq',
  )
  assert.is(
    problemOf(() => encodeProofBundle({ ...good(), seq: 1.5 })),
    'seq',
  )
  assert.is(
    problemOf(() => encodeProofBundle({ ...good(), leaf: 'x' as unknown as Buffer })),
    'leaf',
  )
  assert.is(
    problemOf(() => encodeProofBundle({ ...good(), proof: [bytes(31)] })),
    'hash',
  )
  assert.is(
    problemOf(() => encodeProofBundle({ ...good(), proof: Array.from({ length: 65 }, () => bytes(32)) })),
    'proof-length',
  )
  assert.is(
    problemOf(() => encodeProofBundle({ ...good(), checkpoint: 'x' })),
    'checkpoint',
  )
  assert.is(
    problemOf(() => encodeProofBundle({ ...good(), checkpoint: '' })),
    'checkpoint',
  )
  assert.is(
    problemOf(() => encodeProofBundle({ ...good(), checkpoint: 'a\tb\n' })),
    'checkpoint',
  )
  assert.is(
    problemOf(() => encodeProofBundle({ ...good(), logOrigin: '' })),
    'origin',
  )
  assert.is(
    problemOf(() => encodeProofBundle({ ...good(), logOrigin: 'other.example/log' })),
    'origin',
  )
  assert.is(
    problemOf(() => encodeProofBundle({ ...good(), leaf: Buffer.alloc(FIXED.proofBundleLeafBytesMax + 1) })),
    'leaf',
  )
  // The largest leaf fits under proofBundleBytesMax (parse refuses only above it); a
  // 1 MiB leaf makes the whole round trip. (Parsing the 87 MB bundle too would double
  // this file's memory for no new check.)
  const big: ProofBundle = { ...good(), leaf: Buffer.alloc(FIXED.proofBundleLeafBytesMax, 0x5a), logOrigin: ORIGIN }
  assert.ok(Buffer.byteLength(encodeProofBundle(big)) <= FIXED.proofBundleBytesMax)
  const mib: ProofBundle = { ...good(), leaf: bytes(1024 * 1024), logOrigin: ORIGIN }
  assert.equal(parseProofBundle(encodeProofBundle(mib)), mib)
})

test.run()
