// Personal-data fields under subject keys: round trips, the context (log id, seq,
// key id, names) bound, a wrong subject key refused, the markers, and erasure by
// crypto-shredding through a real keyring file: the wrapped key is gone from the
// file's bytes and no key left in the keyring opens the fields. Seeded: replay
// with FIELDS_SEED=<seed>.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import fs from 'node:fs'
import path from 'node:path'
import {
  decryptFields,
  ENCRYPTED_MARKER,
  type EncryptedFields,
  encryptFields,
  ERASED_MARKER,
  Keyring,
  maskFields,
  splitFields,
} from '../../lib/crypto/index.js'
import { IV_BYTES } from '../../lib/crypto/index.js'
import { randomIv } from '../../lib/crypto/aead.js'
import { FIXED } from '../../shared/limits.js'
import { tempDir } from '../helpers/dirs.js'
import { mulberry32, seedFrom } from '../helpers/load.js'
import { assertNoSecretsInMessages, expectCode, rememberSecret, unwrapAll } from './secrets.js'

const SEED = seedFrom('FIELDS_SEED')
console.log(`fields seed=${SEED} (replay with FIELDS_SEED=${SEED})`)
const rnd = mulberry32(SEED)
const int = (n: number): number => Math.floor(rnd() * n)
const base = tempDir('fields')

const ALPHABET = 'abcdefghijklmnopqrstuvwxyzÅåøé中文 🙂-_.@0123456789'
function text(n: number): string {
  return Array.from({ length: n }, () => ALPHABET[int(ALPHABET.length)]).join('')
}
function value(depth = 0): unknown {
  const r = int(depth > 1 ? 4 : 6)
  if (r === 0) return text(int(40))
  if (r === 1) return int(1e9) - 5e8
  if (r === 2) return rnd() < 0.5
  if (r === 3) return null
  if (r === 4) return Array.from({ length: int(4) }, () => value(depth + 1))
  return Object.fromEntries(Array.from({ length: int(4) }, () => [text(1 + int(8)), value(depth + 1)]))
}

const LOG = 'log-fields'

async function ringWith(subjects: string[]): Promise<{ file: string; ring: Keyring }> {
  const file = path.join(base, `k-${int(1e9)}.json`)
  const ring = await Keyring.create(file)
  await ring.subjectKeys(
    subjects.map((s) => ring.pseudonym(s)),
    { create: true },
  )
  await unwrapAll(file)
  return { file, ring }
}

test('round trip: random fields (unicode, nesting, null, numbers) under a subject key, names in clear, values not', async () => {
  const { ring } = await ringWith(['p-17'])
  const sk = (await ring.subjectKey(ring.pseudonym('p-17'), { create: false }))!
  for (let i = 0; i < 200; i++) {
    const fields = Object.fromEntries(Array.from({ length: 1 + int(4) }, (_, j) => [`F${j}${text(3)}`, value()]))
    const ctx = { logId: LOG, seq: 1 + int(1e12), keyId: sk.id }
    const enc = encryptFields(sk.key, ctx, fields)
    assert.equal(enc.names, Object.keys(fields))
    assert.is(enc.keyId, sk.id)
    const clear = JSON.stringify(fields)
    if (clear.length > 20) assert.not.ok(JSON.stringify(enc).includes(clear.slice(1, -1)), 'values are not in clear')
    assert.equal(decryptFields(sk.key, ctx, enc), fields)
  }
  // The same fields twice give two different boxes (random IV).
  const ctx = { logId: LOG, seq: 5, keyId: sk.id }
  const a = encryptFields(sk.key, ctx, { PatientName: 'Ada' })
  const b = encryptFields(sk.key, ctx, { PatientName: 'Ada' })
  assert.is.not(a.box, b.box)
  // A field whose value is undefined is absent, as in JSON.
  const u = encryptFields(sk.key, ctx, { Email: undefined, Ssn: '123' })
  assert.equal(u.names, ['Ssn'])
  assert.equal(decryptFields(sk.key, ctx, u), { Ssn: '123' })
})

test('the context is bound: another log, seq or key id, edited names, a flipped box bit, or a box moved between records all fail', async () => {
  const { ring } = await ringWith(['a', 'b'])
  const ka = (await ring.subjectKey(ring.pseudonym('a'), { create: false }))!
  const kb = (await ring.subjectKey(ring.pseudonym('b'), { create: false }))!
  const ctx = { logId: LOG, seq: 42, keyId: ka.id }
  const enc = encryptFields(ka.key, ctx, { PatientName: 'Ada Lovelace', Email: 'ada@example.org' })
  const fails = async (key: typeof ka.key, c: typeof ctx, e: EncryptedFields, label: string): Promise<void> => {
    const err = await expectCode(() => decryptFields(key, c, e), 'ERR_AUDIT_DECRYPT_FAILED', label)
    assert.is(err.details?.seq, c.seq)
  }
  await fails(kb.key, ctx, enc, 'wrong subject key')
  await fails(kb.key, { ...ctx, keyId: kb.id }, { ...enc, keyId: kb.id }, 'wrong subject key under its own id')
  await fails(ka.key, { ...ctx, logId: 'log-other' }, enc, 'other log')
  await fails(ka.key, { ...ctx, seq: 43 }, enc, 'other seq')
  await fails(ka.key, { ...ctx, keyId: kb.id }, enc, 'other key id in context')
  await fails(ka.key, ctx, { ...enc, names: ['Email', 'PatientName'] }, 'names reordered')
  await fails(ka.key, ctx, { ...enc, names: ['PatientName', 'Mail'] }, 'name edited')
  await fails(ka.key, ctx, { ...enc, names: ['PatientName'] }, 'name dropped')
  await fails(ka.key, ctx, { ...enc, box: 'not base64!' }, 'box not base64')
  await fails(ka.key, ctx, { ...enc, box: Buffer.alloc(20).toString('base64') }, 'box too short')
  await fails(ka.key, ctx, { v: 2 } as never, 'not a box')
  const box = Buffer.from(enc.box, 'base64')
  for (let bit = 0; bit < box.length * 8; bit++) {
    const b = Buffer.from(box)
    b[bit >> 3]! ^= 1 << (bit & 7)
    await fails(ka.key, ctx, { ...enc, box: b.toString('base64') }, `box bit ${bit}`)
  }
  // Moved: the box of seq 42 stored at seq 43 (same subject, same log).
  const other = encryptFields(ka.key, { ...ctx, seq: 43 }, { PatientName: 'Ada Lovelace', Email: 'ada@example.org' })
  await fails(ka.key, { ...ctx, seq: 43 }, enc, 'box of 42 at 43')
  assert.equal(decryptFields(ka.key, { ...ctx, seq: 43 }, other).PatientName, 'Ada Lovelace')
})

test('markers and splitting: [encrypted] without a keyring, [erased] after erasure; properties split by name', () => {
  assert.is(ENCRYPTED_MARKER, '[encrypted]')
  assert.is(ERASED_MARKER, '[erased]')
  assert.equal(maskFields({ names: ['PatientName', 'Email'] }, ENCRYPTED_MARKER), {
    PatientName: '[encrypted]',
    Email: '[encrypted]',
  })
  assert.equal(maskFields({ names: ['Ssn'] }, ERASED_MARKER), { Ssn: '[erased]' })
  assert.equal(
    splitFields({ PatientId: 'p-17', PatientName: 'Ada', UserId: 'dr-4' }, ['PatientName', 'Email', 'Ssn']),
    {
      personal: { PatientName: 'Ada' },
      rest: { PatientId: 'p-17', UserId: 'dr-4' },
    },
  )
})

test('eraseSubject: the wrapped key leaves the file bytes, no key left in the keyring opens the fields, others still do', async () => {
  const { file, ring } = await ringWith(['p-17', 'p-18', 'p-19'])
  const p17 = ring.pseudonym('p-17')
  const k17 = (await ring.subjectKey(p17, { create: false }))!
  const k18 = (await ring.subjectKey(ring.pseudonym('p-18'), { create: false }))!
  const boxes = Array.from({ length: 20 }, (_, i) => {
    const ctx = { logId: LOG, seq: 100 + i, keyId: k17.id }
    return { ctx, enc: encryptFields(k17.key, ctx, { PatientName: `Ada ${i}`, Ssn: `123-45-${i}` }) }
  })
  const ctx18 = { logId: LOG, seq: 500, keyId: k18.id }
  const enc18 = encryptFields(k18.key, ctx18, { PatientName: 'Grace' })
  const wrapped17 = (
    JSON.parse(fs.readFileSync(file, 'utf8')) as { keys: { id: string; wrapped: string }[] }
  ).keys.find((k) => k.id === k17.id)!.wrapped
  const key17 = rememberSecret(k17.key)
  assert.ok(fs.readFileSync(file, 'utf8').includes(wrapped17), 'the wrapped key is in the file before erasure')

  const result = await ring.eraseSubject(p17)
  assert.equal(result.keyIds, [k17.id])
  assert.equal(result.pseudonyms, [p17])

  const bytes = fs.readFileSync(file)
  for (const form of [wrapped17, key17.toString('base64'), key17.toString('hex')])
    assert.not.ok(bytes.includes(form), 'no trace of the key or its wrapped form in the file')
  assert.equal(
    fs.readdirSync(path.dirname(file)).filter((n) => n.includes('.tmp')),
    [],
    'no temp copy left',
  )
  assert.is(await ring.subjectKey(p17, { create: false }), undefined)
  const reloaded = await Keyring.load(file)
  const state = await reloaded.subjectKeyById(k17.id)
  assert.is(state.status, 'erased')
  assert.ok(reloaded.erasures().some((e) => e.id === k17.id))
  // Every key still in the keyring (data, lookup, other subjects), tried on every box: none opens one.
  const left = await unwrapAll(file)
  assert.ok(left.size >= 4)
  for (const [id, key] of left)
    for (const { ctx, enc } of boxes)
      await expectCode(() => decryptFields(key, ctx, enc), 'ERR_AUDIT_DECRYPT_FAILED', id)
  // A reader shows the marker; the other subject's fields still open.
  assert.equal(maskFields(boxes[0]!.enc, ERASED_MARKER), { PatientName: '[erased]', Ssn: '[erased]' })
  const k18again = await reloaded.subjectKeyById(k18.id)
  assert.is(k18again.status, 'present')
  if (k18again.status === 'present')
    assert.equal(decryptFields(k18again.key.key, ctx18, enc18), { PatientName: 'Grace' })
  // The subject returns later: a new key, a new id; the old boxes stay unreadable.
  const again = (await reloaded.subjectKey(p17, { create: true }))!
  assert.is.not(again.id, k17.id)
  await expectCode(
    () => decryptFields(again.key, { ...boxes[0]!.ctx, keyId: again.id }, { ...boxes[0]!.enc, keyId: again.id }),
    'ERR_AUDIT_DECRYPT_FAILED',
  )
  // Erasing under every lookup generation is one rewrite.
  await reloaded.rotateLookupKey()
  await reloaded.subjectKey(reloaded.pseudonym('p-19'), { create: true })
  const both = await reloaded.eraseSubject(reloaded.pseudonyms('p-19'))
  assert.is(both.keyIds.length, 2)
})

test('random IVs from the pool: distinct across several refills, each its own buffer', () => {
  const n = Math.ceil((3 * FIXED.randomIvPoolBytes) / IV_BYTES) + 7
  const ivs = Array.from({ length: n }, () => randomIv())
  assert.ok(ivs.every((iv) => iv.length === IV_BYTES))
  assert.is(new Set(ivs.map((iv) => iv.toString('hex'))).size, n, 'no IV handed out twice')
  const second = ivs[1]!.toString('hex')
  ivs[0]!.fill(0xff)
  assert.is(ivs[1]!.toString('hex'), second, 'writing one IV changes no other')
})

test('bad input: an empty field set, a non-object, a seq of -1, a 128-bit key are refused with codes', async () => {
  const { ring } = await ringWith(['x'])
  const k = (await ring.subjectKey(ring.pseudonym('x'), { create: false }))!
  const ctx = { logId: LOG, seq: 1, keyId: k.id }
  await expectCode(() => encryptFields(k.key, ctx, {}), 'ERR_AUDIT_OPTION_INVALID')
  await expectCode(() => encryptFields(k.key, ctx, [] as never), 'ERR_AUDIT_OPTION_INVALID')
  await expectCode(() => encryptFields(k.key, { ...ctx, seq: -1 }, { a: 1 }), 'ERR_AUDIT_OPTION_INVALID')
  await expectCode(() => encryptFields(Buffer.alloc(16), ctx, { a: 1 }), 'ERR_AUDIT_OPTION_INVALID')
  await expectCode(() => encryptFields(k.key, ctx, { a: 1n } as never), 'ERR_AUDIT_EVENT_INVALID')
})

test('no error message or detail of this file carries key bytes', () => {
  const { messages } = assertNoSecretsInMessages()
  console.log(`checked ${messages} messages`)
  assert.ok(messages > 500)
})

test.run()
