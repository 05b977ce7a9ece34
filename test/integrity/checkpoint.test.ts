// Checkpoints (C2SP tlog-checkpoint) and cosignatures (tlog-cosignature v1):
// the spec's example body, strict parsing, signing, and cosignatures checked
// against an independent construction of the signed message.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { createHash, createPublicKey, randomBytes, verify as edVerify } from 'node:crypto'
import { AuditError } from '../../shared/errors.js'
import { FIXED } from '../../shared/limits.js'
import {
  cosignCheckpoint,
  formatCheckpoint,
  logOrigin,
  openCheckpoint,
  parseCheckpoint,
  signCheckpoint,
  verifyCosignatures,
  type Checkpoint,
} from '../../lib/integrity/checkpoint.js'
import {
  ed25519Signer,
  formatVerifierKey,
  noteVerifier,
  parseVerifierKey,
  SIG_TYPE,
} from '../../lib/integrity/note-keys.js'
import { addSignatures, parseNote, signatureLine } from '../../lib/integrity/note.js'

// The example of c2sp.org/tlog-checkpoint.
const SPEC_BODY = 'example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n'

const logKey = ed25519Signer('audit.example/signing', randomBytes(32))
const logVerifier = parseVerifierKey(formatVerifierKey(logKey))
const witnessKey = ed25519Signer('witness.example/w1', randomBytes(32))
const witnessVerifier = parseVerifierKey(formatVerifierKey(witnessKey)) // type 0x01, as keygen writes it

function problem(fn: () => unknown): string {
  try {
    fn()
  } catch (err) {
    assert.ok(err instanceof AuditError, String(err))
    return `${(err as AuditError).code}:${(err as AuditError).details?.problem ?? ''}`
  }
  return 'ok'
}

const cp = (size: number, extensions: string[] = []): Checkpoint => ({
  origin: logOrigin('audit.example/app', '0123456789abcdef0123456789abcdef'),
  size,
  root: createHash('sha256').update(String(size)).digest(),
  extensions,
})

test("the spec's example body parses and formats back byte for byte", () => {
  const c = parseCheckpoint(SPEC_BODY)
  assert.is(c.origin, 'example.com/behind-the-sofa')
  assert.is(c.size, 20852163)
  assert.is(c.root.toString('base64'), 'CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=')
  assert.equal(c.extensions, [])
  assert.is(formatCheckpoint(c), SPEC_BODY)
})

test('strict parsing: each malformed body is refused with its rule', () => {
  const R = 'CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I='
  const cases: [string, string][] = [
    ['size', `o\n020852163\n${R}\n`],
    ['size', `o\n-1\n${R}\n`],
    ['size', `o\n+5\n${R}\n`],
    ['size', `o\n 5\n${R}\n`],
    ['size', `o\n5.0\n${R}\n`],
    ['size', `o\n${2 ** 53}\n${R}\n`],
    ['size', `o\n00\n${R}\n`],
    ['root', `o\n5\n${R.slice(0, -4)}\n`],
    ['root', `o\n5\n${R.replace('I=', 'J=')}\n`], // non-canonical: padding bits set
    ['root', `o\n5\n${Buffer.alloc(33).toString('base64')}\n`],
    ['lines', `o\n5\n`],
    ['empty-line', `o\n5\n${R}\n\next\n`],
    ['empty-line', `\n5\n${R}\n`],
    ['newline', `o\n5\n${R}`],
    ['control', `o\x01\n5\n${R}\n`],
    ['extensions', `o\n5\n${R}\n${'e\n'.repeat(FIXED.checkpointExtensionLinesMax + 1)}`],
  ]
  for (const [rule, body] of cases)
    assert.is(
      problem(() => parseCheckpoint(body)),
      `ERR_AUDIT_NOTE_MALFORMED:${rule}`,
      body,
    )
  assert.is(parseCheckpoint(`o\n0\n${R}\n`).size, 0)
  assert.is(parseCheckpoint(`o\n${2 ** 53 - 1}\n${R}\n`).size, 2 ** 53 - 1)
  assert.equal(parseCheckpoint(`o\n5\n${R}\nx y\nz\n`).extensions, ['x y', 'z'])
})

test('formatCheckpoint refuses what parseCheckpoint would refuse', () => {
  assert.is(
    problem(() => formatCheckpoint({ ...cp(1), size: -1 })),
    'ERR_AUDIT_NOTE_MALFORMED:size',
  )
  assert.is(
    problem(() => formatCheckpoint({ ...cp(1), size: 1.5 })),
    'ERR_AUDIT_NOTE_MALFORMED:size',
  )
  assert.is(
    problem(() => formatCheckpoint({ ...cp(1), root: Buffer.alloc(31) })),
    'ERR_AUDIT_NOTE_MALFORMED:root',
  )
  assert.is(
    problem(() => formatCheckpoint({ ...cp(1), origin: 'a\nb' })),
    'ERR_AUDIT_NOTE_MALFORMED:origin',
  )
  assert.is(
    problem(() => formatCheckpoint(cp(1, ['']))),
    'ERR_AUDIT_NOTE_MALFORMED:empty-line',
  )
})

test('logOrigin: <name>/<32 hex log id>; anything else refused', () => {
  assert.is(logOrigin('audit.example/app', 'a'.repeat(32)), `audit.example/app/${'a'.repeat(32)}`)
  assert.is(
    problem(() => logOrigin('x', 'A'.repeat(32))),
    'ERR_AUDIT_NOTE_MALFORMED:log-id',
  )
  assert.is(
    problem(() => logOrigin('x', 'a'.repeat(31))),
    'ERR_AUDIT_NOTE_MALFORMED:log-id',
  )
  assert.is(
    problem(() => logOrigin('my app', 'a'.repeat(32))),
    'ERR_AUDIT_NOTE_MALFORMED:origin',
  )
  assert.is(
    problem(() => logOrigin('a+b', 'a'.repeat(32))),
    'ERR_AUDIT_NOTE_MALFORMED:origin',
  )
})

test('a signed checkpoint opens with the log key; a changed size, root or extension is refused', () => {
  const c = cp(40, ['ext'])
  const note = signCheckpoint(c, [logKey])
  const o = openCheckpoint(note, [logVerifier])
  assert.is(o.checkpoint.size, 40)
  assert.ok(o.checkpoint.root.equals(c.root))
  assert.equal(o.checkpoint.extensions, ['ext'])
  const otherRoot = createHash('sha256').update('x').digest().toString('base64')
  for (const forged of [
    note.replace('\n40\n', '\n41\n'),
    note.replace(c.root.toString('base64'), otherRoot),
    note.replace('\next\n', '\nexu\n'),
  ])
    assert.is(
      problem(() => openCheckpoint(forged, [logVerifier])),
      'ERR_AUDIT_SIGNATURE_INVALID:',
    )
  // Another key of the same name is not the log's key.
  const impostor = ed25519Signer('audit.example/signing', randomBytes(32))
  assert.is(
    problem(() => openCheckpoint(signCheckpoint(c, [impostor]), [logVerifier])),
    'ERR_AUDIT_SIGNATURE_INVALID:',
  )
})

test('a cosignature signs "cosignature/v1\\ntime <t>\\n" + body, with the 0x04 key id (checked independently)', () => {
  const body = formatCheckpoint(cp(7))
  const t = 1679315147
  const cos = cosignCheckpoint(body, witnessKey, () => t + 0.9)
  assert.is(cos.time, t)
  assert.is(cos.name, 'witness.example/w1')
  const want = createHash('sha256')
    .update(Buffer.concat([Buffer.from('witness.example/w1\n'), Buffer.from([0x04]), witnessKey.publicKey]))
    .digest()
    .readUInt32BE(0)
  assert.is(cos.keyId, want)
  assert.is(cos.signature.length, 72)
  assert.is(cos.signature.readBigUInt64BE(0), BigInt(t))
  const msg = Buffer.from(`cosignature/v1\ntime ${t}\n${body}`)
  const spki = Buffer.concat([Buffer.from('302a300506032b6570032100', 'hex'), witnessKey.publicKey])
  assert.ok(edVerify(null, msg, createPublicKey({ key: spki, format: 'der', type: 'spki' }), cos.signature.subarray(8)))
})

test('verifyCosignatures: a witness key from keygen (0x01) checks its 0x04 cosignature; forgeries refused', () => {
  const note = signCheckpoint(cp(9), [logKey])
  const body = parseNote(note).text
  const cos = cosignCheckpoint(body, witnessKey, () => 1700000000)
  const cosigned = addSignatures(note, [cos])
  const got = verifyCosignatures(cosigned, [witnessVerifier])
  assert.equal(
    got.map((c) => [c.name, c.time]),
    [['witness.example/w1', 1700000000]],
  )
  // The log's note still opens with the log key: the cosignature is an unknown key to it.
  assert.is(openCheckpoint(cosigned, [logVerifier]).note.unknown.length, 1)
  // No cosignature at all.
  assert.is(
    problem(() => verifyCosignatures(note, [witnessVerifier])),
    'ERR_AUDIT_SIGNATURE_INVALID:',
  )
  // A changed timestamp: the time is signed.
  const later = { ...cos, signature: Buffer.from(cos.signature) }
  later.signature.writeBigUInt64BE(1700000001n)
  assert.is(
    problem(() => verifyCosignatures(addSignatures(note, [later]), [witnessVerifier])),
    'ERR_AUDIT_SIGNATURE_INVALID:',
  )
  // A plain 0x01 signature by the witness key is not a cosignature.
  const plain = signCheckpoint(cp(9), [logKey, witnessKey])
  assert.is(
    problem(() => verifyCosignatures(plain, [witnessVerifier])),
    'ERR_AUDIT_SIGNATURE_INVALID:',
  )
  // Another witness's cosignature does not stand in for the one required.
  const w2 = ed25519Signer('witness.example/w2', randomBytes(32))
  const byW2 = addSignatures(note, [cosignCheckpoint(body, w2)])
  assert.is(
    problem(() => verifyCosignatures(byW2, [witnessVerifier])),
    'ERR_AUDIT_SIGNATURE_INVALID:',
  )
  // Every witness given is required.
  const w2v = noteVerifier(w2.name, SIG_TYPE.ed25519, w2.publicKey)
  assert.is(
    problem(() => verifyCosignatures(cosigned, [witnessVerifier, w2v])),
    'ERR_AUDIT_SIGNATURE_INVALID:',
  )
  assert.is(verifyCosignatures(addSignatures(cosigned, [cosignCheckpoint(body, w2)]), [witnessVerifier, w2v]).length, 2)
  // A cosignature on another checkpoint body moved onto this one.
  const other = cosignCheckpoint(formatCheckpoint(cp(10)), witnessKey, () => 1700000000)
  assert.is(
    problem(() => verifyCosignatures(`${note}${signatureLine(other)}`, [witnessVerifier])),
    'ERR_AUDIT_SIGNATURE_INVALID:',
  )
})

test.run()
