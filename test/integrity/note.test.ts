// C2SP signed notes: the Go reference implementation's published example key
// and note (golang.org/x/mod/sumdb/note, the PeterNeumann key), byte for byte,
// and every way a note can be forged or mangled being refused.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { createHash, randomBytes, verify as edVerify, createPublicKey } from 'node:crypto'
import { inspect } from 'node:util'
import { AuditError } from '../../shared/errors.js'
import { FIXED } from '../../shared/limits.js'
import {
  cosigner,
  ed25519Signer,
  formatSignerKey,
  formatVerifierKey,
  isWeakEd25519PublicKey,
  keyIdOf,
  noteVerifier,
  parseSignerKey,
  parseVerifierKey,
  SIG_TYPE,
} from '../../lib/integrity/note-keys.js'
import { addSignatures, formatNote, openNote, parseNote, signNote } from '../../lib/integrity/note.js'
import { mulberry32 as rng, seedFrom } from '../helpers/load.js'

const SEED = seedFrom('NOTE_SEED')
console.log('seed', SEED, '(replay: NOTE_SEED=<seed>)')

const VKEY = 'PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW'
const SKEY = 'PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz'
const TEXT = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n"
const SIG_LINE =
  '— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n'
const NOTE = `${TEXT}\n${SIG_LINE}`

function code(fn: () => unknown): string {
  try {
    fn()
  } catch (err) {
    assert.ok(err instanceof AuditError, `not an AuditError: ${String(err)}`)
    return (err as AuditError).code
  }
  return 'ok'
}

function problem(fn: () => unknown): string | undefined {
  try {
    fn()
  } catch (err) {
    return (err as AuditError).details?.problem as string | undefined
  }
  return undefined
}

test('the reference verifier key: name, key id, type, and the key id is SHA-256(name‖0x0A‖0x01‖pub)[:4]', () => {
  const v = parseVerifierKey(VKEY)
  assert.is(v.name, 'PeterNeumann')
  assert.is(v.keyId, 0xc74f20a3)
  assert.is(v.type, SIG_TYPE.ed25519)
  const h = createHash('sha256')
    .update(Buffer.concat([Buffer.from('PeterNeumann\n'), Buffer.from([1]), v.publicKey]))
    .digest()
  assert.is(h.readUInt32BE(0), 0xc74f20a3)
  assert.is(formatVerifierKey(v), VKEY)
})

test('the reference signer key: same key id and public key as the verifier key; formats back byte for byte', () => {
  const s = parseSignerKey(SKEY)
  const v = parseVerifierKey(VKEY)
  assert.is(s.keyId, v.keyId)
  assert.ok(s.publicKey.equals(v.publicKey))
  const seed = Buffer.from(SKEY.split('+').slice(4).join('+'), 'base64').subarray(1)
  assert.is(formatSignerKey('PeterNeumann', seed), SKEY)
  assert.is(formatVerifierKey(s), VKEY)
})

test('signing the reference text with the reference key gives the reference note exactly', () => {
  assert.is(signNote(TEXT, [parseSignerKey(SKEY)]), NOTE)
})

test('the reference note opens with the reference key', () => {
  const o = openNote(NOTE, [parseVerifierKey(VKEY)])
  assert.is(o.text, TEXT)
  assert.is(o.verified.length, 1)
  assert.is(o.verified[0]!.name, 'PeterNeumann')
  assert.is(o.unknown.length, 0)
})

test('forged: changed text, changed signature, wrong key id, other name: all refused', () => {
  const v = [parseVerifierKey(VKEY)]
  assert.is(
    code(() => openNote(NOTE.replace('cryptography', 'cryptographY'), v)),
    'ERR_AUDIT_SIGNATURE_INVALID',
  )
  const sig = Buffer.from(SIG_LINE.slice(15, -1), 'base64')
  for (const at of [4, 20, 67]) {
    const bad = Buffer.from(sig)
    bad[at]! ^= 0x01
    const note = `${TEXT}\n— PeterNeumann ${bad.toString('base64')}\n`
    assert.is(
      code(() => openNote(note, v)),
      'ERR_AUDIT_SIGNATURE_INVALID',
      `byte ${at}`,
    )
  }
  const wrongId = Buffer.from(sig)
  wrongId[0]! ^= 0x80 // a key id no trusted key has: an unknown key, so no trusted signature at all
  assert.is(
    code(() => openNote(`${TEXT}\n— PeterNeumann ${wrongId.toString('base64')}\n`, v)),
    'ERR_AUDIT_SIGNATURE_INVALID',
  )
  assert.is(
    code(() => openNote(NOTE.replace('— PeterNeumann', '— PeterNeumanm'), v)),
    'ERR_AUDIT_SIGNATURE_INVALID',
  )
})

test('every truncation of the note is refused', () => {
  const v = [parseVerifierKey(VKEY)]
  const b = Buffer.from(NOTE)
  for (let n = 0; n < b.length; n++) {
    const c = code(() => openNote(b.subarray(0, n), v))
    assert.ok(c === 'ERR_AUDIT_NOTE_MALFORMED' || c === 'ERR_AUDIT_SIGNATURE_INVALID', `prefix of ${n} bytes: ${c}`)
  }
})

test('every single-byte change of the note is refused (seeded)', () => {
  const r = rng(SEED)
  const v = [parseVerifierKey(VKEY)]
  const b = Buffer.from(NOTE)
  for (let i = 0; i < b.length; i++) {
    const m = Buffer.from(b)
    m[i] = (m[i]! + 1 + Math.floor(r() * 255)) % 256
    const c = code(() => openNote(m, v))
    assert.ok(c === 'ERR_AUDIT_NOTE_MALFORMED' || c === 'ERR_AUDIT_SIGNATURE_INVALID', `byte ${i}: ${c}`)
  }
})

test('a signature of an unknown key is ignored; a failing signature of a trusted key refuses the whole note', () => {
  const other = ed25519Signer('other.example/k', randomBytes(32))
  const both = signNote(TEXT, [parseSignerKey(SKEY), other])
  const o = openNote(both, [parseVerifierKey(VKEY)])
  assert.is(o.verified.length, 1)
  assert.equal(
    o.unknown.map((s) => s.name),
    ['other.example/k'],
  )
  // Only the unknown key's signature: no trusted signature.
  assert.is(
    code(() => openNote(signNote(TEXT, [other]), [parseVerifierKey(VKEY)])),
    'ERR_AUDIT_SIGNATURE_INVALID',
  )
  // A valid trusted signature plus a bad one by another trusted key: refused.
  const parsed = parseNote(both)
  const broken = { ...parsed.signatures[1]!, signature: Buffer.from(parsed.signatures[1]!.signature) }
  broken.signature[5]! ^= 1
  const mixed = formatNote(TEXT, [parsed.signatures[0]!, broken])
  assert.is(
    code(() => openNote(mixed, [parseVerifierKey(VKEY), noteVerifier(other.name, 1, other.publicKey)])),
    'ERR_AUDIT_SIGNATURE_INVALID',
  )
  assert.is(openNote(mixed, [parseVerifierKey(VKEY)]).verified.length, 1)
})

test('rotation: a note signed by the old and the new key opens with either or both', () => {
  const old = parseSignerKey(SKEY)
  const neu = ed25519Signer('PeterNeumann', randomBytes(32))
  assert.is.not(old.keyId, neu.keyId)
  const note = signNote(TEXT, [old, neu])
  const vOld = parseVerifierKey(VKEY)
  const vNew = parseVerifierKey(formatVerifierKey(neu))
  assert.is(openNote(note, [vOld]).verified.length, 1)
  assert.is(openNote(note, [vNew]).verified.length, 1)
  assert.is(openNote(note, [vOld, vNew]).verified.length, 2)
  // And a witness's lines appended later keep both.
  const w = cosigner(ed25519Signer('witness.example/w', randomBytes(32)), () => 1700000000)
  const cos = signNote(TEXT, [w])
  const all = addSignatures(note, parseNote(cos).signatures)
  assert.is(parseNote(all).signatures.length, 3)
  assert.is(openNote(all, [vOld, vNew]).verified.length, 2)
})

test('malformed notes: each rule has its problem code', () => {
  const s = [parseSignerKey(SKEY)]
  const v = [parseVerifierKey(VKEY)]
  const cases: [string, string | Buffer][] = [
    ['newline', NOTE.slice(0, -1)],
    ['control', NOTE.replace('answer', 'ans\twer')],
    ['control', NOTE.replace('answer', 'ans\rwer')],
    ['no-signatures', `${TEXT}${SIG_LINE}`],
    ['signature-line', `${TEXT}\n${SIG_LINE.replace('—', '-')}`],
    ['signature-line', `${TEXT}\n${SIG_LINE.replace('— ', '—')}`],
    ['key-name', `${TEXT}\n${SIG_LINE.replace('PeterNeumann', 'Peter+Neumann')}`],
    ['signature-base64', `${TEXT}\n${SIG_LINE.replace('AM=', 'AN=')}`], // non-zero padding bits: not canonical
    ['signature-base64', `${TEXT}\n${SIG_LINE.replace('=\n', '\n')}`],
    ['signature-base64', `${TEXT}\n— PeterNeumann AAAAAA==\n`], // a key id and no signature
    ['utf8', Buffer.concat([Buffer.from(TEXT.slice(0, 10)), Buffer.from([0xc3, 0x28]), Buffer.from(NOTE.slice(10))])],
    ['utf8', NOTE.replace('answer', 'ans\ud800wer')],
    ['too-large', `${'x'.repeat(FIXED.noteBytesMax)}\n\n${SIG_LINE}`],
    ['too-many-signatures', `${TEXT}\n${SIG_LINE.repeat(FIXED.noteSignaturesMax + 1)}`],
  ]
  for (const [want, note] of cases) {
    assert.is(
      code(() => openNote(note, v)),
      'ERR_AUDIT_NOTE_MALFORMED',
      want,
    )
    assert.is(
      problem(() => openNote(note, v)),
      want,
    )
  }
  // The limit itself is accepted: noteSignaturesMax lines (here duplicates of a valid signature).
  assert.is(
    openNote(`${TEXT}\n${SIG_LINE.repeat(FIXED.noteSignaturesMax)}`, v).verified.length,
    FIXED.noteSignaturesMax,
  )
  // signNote refuses what openNote would refuse.
  assert.is(
    problem(() => signNote('no newline', s)),
    'newline',
  )
  assert.is(
    problem(() => signNote('bell \x07\n', s)),
    'control',
  )
  assert.is(
    problem(() => signNote('', s)),
    'empty',
  )
  assert.is(
    problem(() => signNote(TEXT, [])),
    'no-signatures',
  )
})

test('a text with empty lines is separated from its signatures by the LAST blank line', () => {
  const text = 'first\n\nthird\n\n'
  const note = signNote(text, [parseSignerKey(SKEY)])
  assert.is(openNote(note, [parseVerifierKey(VKEY)]).text, text)
})

test('verifier key texts: every deletion of a substring and seeded character changes are refused', () => {
  const r = rng(SEED + 1)
  for (let i = 0; i < VKEY.length; i++)
    for (let j = i + 1; j <= VKEY.length; j++) {
      const k = VKEY.slice(0, i) + VKEY.slice(j)
      assert.is(
        code(() => parseVerifierKey(k)),
        'ERR_AUDIT_KEY_INVALID',
        k,
      )
    }
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/= '
  for (let n = 0; n < 500; n++) {
    const at = Math.floor(r() * VKEY.length)
    const ch = alphabet[Math.floor(r() * alphabet.length)]!
    if (ch === VKEY[at]) continue
    const k = VKEY.slice(0, at) + ch + VKEY.slice(at + 1)
    // Only a case change of the hex key id is the same key (Go accepts upper-case hex too).
    if (k.toLowerCase() === VKEY.toLowerCase() && at >= 13 && at < 21) continue
    assert.is(
      code(() => parseVerifierKey(k)),
      'ERR_AUDIT_KEY_INVALID',
      k,
    )
  }
  assert.is(
    code(() => parseVerifierKey(SKEY)),
    'ERR_AUDIT_KEY_INVALID',
  )
})

test('signer key texts: mangled keys are refused and no error message shows any of the key', () => {
  const secret = SKEY.split('+').slice(4).join('+')
  const bad = [
    SKEY.replace('PRIVATE+KEY+', 'PRIVATE+KEX+'),
    SKEY.replace('c74f20a3', 'c74f20a4'), // the key id no longer matches
    SKEY.slice(0, -4),
    SKEY.replace('+AYEK', '+AoEK'), // signature type 0x02
    `PRIVATE+KEY+${secret}`, // name and id missing: the key bytes where the name goes
    `PRIVATE+KEY+${secret.slice(0, 20)}+c74f20a3+${secret}`,
  ]
  for (const k of bad) {
    let msg = ''
    try {
      parseSignerKey(k)
    } catch (err) {
      assert.is((err as AuditError).code, 'ERR_AUDIT_KEY_INVALID', k)
      msg = `${(err as Error).message} ${JSON.stringify((err as AuditError).details)}`
    }
    assert.ok(msg.length > 0, `accepted: ${k}`)
    for (let i = 0; i + 8 <= secret.length; i++) assert.not.ok(msg.includes(secret.slice(i, i + 8)), msg)
  }
})

test('a signer prints no key material when logged', () => {
  const seed = Buffer.from(SKEY.split('+').slice(4).join('+'), 'base64').subarray(1)
  const shown = inspect(parseSignerKey(SKEY), { showHidden: true, depth: 5 }) + JSON.stringify(parseSignerKey(SKEY))
  assert.not.ok(shown.includes(seed.toString('hex').slice(0, 16)))
  assert.not.ok(shown.includes(seed.toString('base64').slice(0, 16)))
})

test('small-order public keys are refused: node would accept a forged signature under them', () => {
  const identity = Buffer.alloc(32)
  identity[0] = 1
  // The forgery (R = identity point, S = 0) verifies in node for any message: that is why the key is refused.
  const spki = Buffer.concat([Buffer.from('302a300506032b6570032100', 'hex'), identity])
  const forged = Buffer.concat([identity, Buffer.alloc(32)])
  const key = createPublicKey({ key: spki, format: 'der', type: 'spki' })
  assert.ok(edVerify(null, Buffer.from(TEXT), key, forged))
  assert.ok(isWeakEd25519PublicKey(identity))
  assert.is(
    code(() => noteVerifier('x', SIG_TYPE.ed25519, identity)),
    'ERR_AUDIT_KEY_INVALID',
  )
  const vkey = `x+${keyIdOf('x', 1, identity).toString(16).padStart(8, '0')}+${Buffer.concat([Buffer.from([1]), identity]).toString('base64')}`
  assert.is(
    problem(() => parseVerifierKey(vkey)),
    'weak',
  )
  const nonCanonical = Buffer.alloc(32, 0xff)
  nonCanonical[0] = 0xee // y = p + 1, the identity again, encoded above p
  nonCanonical[31] = 0x7f
  assert.ok(isWeakEd25519PublicKey(nonCanonical))
  for (let i = 0; i < 200; i++) assert.not.ok(isWeakEd25519PublicKey(ed25519Signer('x', randomBytes(32)).publicKey))
})

test('a cosigner key formats as a type 0x04 verifier key that parses back', () => {
  const s = ed25519Signer('witness.example/w1', randomBytes(32))
  const c = cosigner(s)
  const v = parseVerifierKey(formatVerifierKey(c))
  assert.is(v.type, SIG_TYPE.cosignatureV1)
  assert.is(v.keyId, keyIdOf('witness.example/w1', 4, s.publicKey))
  assert.is.not(v.keyId, s.keyId)
})

test.run()
