// The keyring through real files: create/load/rotate round trips, mode 0600 under
// umask 000 (a child process), group/other bits refused, hand-edited and corrupt
// files refused with their code, providers (local and a user's), pseudonyms,
// epochs, two keyrings on one file, and no key bytes in any error or listing.
// Random choices are seeded: replay with KEYRING_SEED=<seed>.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import fs from 'node:fs'
import path from 'node:path'
import { spawnSync } from 'node:child_process'
import { createCipheriv, createDecipheriv, createHmac, randomBytes } from 'node:crypto'
import {
  type KeyProvider,
  Keyring,
  LocalKeyProvider,
  openFrame,
  sealFrame,
  type WrapContext,
  wrapAad,
} from '../../lib/crypto/index.js'
import { FIXED } from '../../shared/limits.js'
import { tempDir } from '../helpers/dirs.js'
import { mulberry32, seedFrom } from '../helpers/load.js'
import { assertNoSecretsInMessages, expectCode, rememberSecret, rememberText, unwrapAll } from './secrets.js'

const SEED = seedFrom('KEYRING_SEED')
console.log(`keyring seed=${SEED} (replay with KEYRING_SEED=${SEED})`)
const rnd = mulberry32(SEED)
const base = tempDir('keyring')
let n = 0
const fresh = (): string => path.join(base, `k${++n}.json`)
const modeOf = (f: string): number => fs.statSync(f).mode & 0o777
const exported = (k: { export(): Buffer }): string => rememberSecret(k.export() as Buffer).toString('hex')

test('create → load round trip through the file: same keys, same pseudonyms, mode 0600', async () => {
  const f = fresh()
  const a = await Keyring.create(f)
  assert.is(modeOf(f), 0o600)
  const b = await Keyring.load(f)
  assert.equal(b.list(), a.list())
  assert.is(exported(b.currentDataKey().key), exported(a.currentDataKey().key))
  assert.equal(b.currentDataKey().epochSalt, a.currentDataKey().epochSalt)
  assert.is(b.pseudonym('p-17'), a.pseudonym('p-17'))
  const kinds = a.list().map((k) => [k.purpose, k.current])
  assert.equal(kinds, [
    ['data', true],
    ['lookup', true],
  ])
  assert.equal(
    fs.readdirSync(base).filter((x) => x.endsWith('.tmp')),
    [],
    'no temp file left',
  )
})

test('create refuses an existing file (ERR_AUDIT_OUTPUT_EXISTS) and leaves it byte for byte', async () => {
  const f = fresh()
  await Keyring.create(f)
  const before = fs.readFileSync(f)
  await expectCode(() => Keyring.create(f), 'ERR_AUDIT_OUTPUT_EXISTS')
  fs.writeFileSync(`${f}.other`, 'not a keyring', { mode: 0o600 })
  await expectCode(() => Keyring.create(`${f}.other`), 'ERR_AUDIT_OUTPUT_EXISTS')
  assert.equal(fs.readFileSync(f), before)
  assert.is(fs.readFileSync(`${f}.other`, 'utf8'), 'not a keyring')
})

test('rotate: a new current data key, old keys retired and still readable, across reloads', async () => {
  const f = fresh()
  const ring = await Keyring.create(f)
  const first = ring.currentDataKey()
  const items = [{ seq: 1, plaintext: Buffer.from('before rotation') }]
  const sealed = sealFrame(first.key, { logId: 'L', keyId: first.id, epochSalt: first.epochSalt, items })
  const ids = [first.id]
  for (let i = 0; i < 3; i++) ids.push((await ring.rotate()).id)
  assert.is(new Set(ids).size, 4)
  const again = await Keyring.load(f)
  const data = again.list().filter((k) => k.purpose === 'data')
  assert.equal(
    data.map((k) => k.id),
    ids,
  )
  assert.equal(
    data.map((k) => k.current),
    [false, false, false, true],
  )
  assert.ok(data.slice(0, 3).every((k) => k.retired !== undefined) && data[3]!.retired === undefined)
  assert.is(again.currentDataKey().id, ids[3])
  const old = await again.dataKey(first.id)
  assert.is(exported(old.key), exported(first.key))
  const opened = openFrame(old.key, {
    logId: 'L',
    keyId: old.id,
    iv: sealed.iv,
    tag: sealed.tag,
    items: [{ seq: 1, ciphertext: sealed.ciphertexts[0]! }],
  })
  assert.is(opened[0]!.toString(), 'before rotation')
})

test('openEpoch: every epoch a new random key and salt, durable (a fresh load sees it current) before it is returned', async () => {
  const f = fresh()
  const ring = await Keyring.create(f)
  const seen = new Set<string>([exported(ring.currentDataKey().key)])
  const ids = new Set<string>([ring.currentDataKey().id])
  for (let i = 0; i < 8; i++) {
    const k = await ring.openEpoch()
    assert.is((await Keyring.load(f)).currentDataKey().id, k.id, 'durable before use')
    seen.add(exported(k.key))
    ids.add(k.id)
    assert.is(k.epochSalt.length, 4)
  }
  assert.is(seen.size, 9)
  assert.is(ids.size, 9)
})

test('a keyring written under umask 000 (child process) is 0600 after create and after every change', () => {
  const f = fresh()
  const child = new URL('./umask-child.js', import.meta.url).pathname
  const r = spawnSync(process.execPath, [child, f], { encoding: 'utf8' })
  assert.is(r.status, 0, r.stderr)
  const modes = JSON.parse(r.stdout.trim()) as Record<string, string>
  assert.is(modes.probe, '0666', 'the child really ran under umask 000')
  assert.equal(modes, { create: '0600', rotate: '0600', subject: '0600', lookup: '0600', erase: '0600', probe: '0666' })
})

test('group/other permission bits refuse the keyring before it is read (ERR_AUDIT_KEY_FILE_MODE); 0400 is fine', async () => {
  const f = fresh()
  await Keyring.create(f)
  const before = fs.readFileSync(f)
  for (const mode of [0o644, 0o640, 0o604, 0o660, 0o602, 0o620, 0o601, 0o610, 0o700 | 0o004]) {
    fs.chmodSync(f, mode)
    const e = await expectCode(() => Keyring.load(f), 'ERR_AUDIT_KEY_FILE_MODE', mode.toString(8))
    assert.is(e.details?.mode, mode.toString(8).padStart(4, '0'))
  }
  fs.chmodSync(f, 0o400)
  await Keyring.load(f)
  fs.chmodSync(f, 0o600)
  assert.equal(fs.readFileSync(f), before)
})

test('not a regular file: a directory, a symlink (even to a good keyring) and a FIFO are refused, none hangs', async () => {
  const good = fresh()
  await Keyring.create(good)
  const dir = fresh()
  fs.mkdirSync(dir, { mode: 0o700 })
  const link = fresh()
  fs.symlinkSync(good, link)
  const fifo = fresh()
  assert.is(spawnSync('mkfifo', ['-m', '600', fifo]).status, 0)
  for (const f of [dir, link, fifo]) {
    const e = await expectCode(() => Keyring.load(f), 'ERR_AUDIT_KEYRING_INVALID', f)
    assert.is(e.details?.problem, 'not-regular')
  }
  await expectCode(() => Keyring.load(fresh()), 'ERR_AUDIT_IO', 'missing file')
})

/** A valid keyring document to hand-edit. */
async function editable(): Promise<{ file: string; doc: Record<string, any> }> {
  const file = fresh()
  const ring = await Keyring.create(file)
  await ring.rotate()
  await ring.subjectKey(ring.pseudonym('someone'), { create: true })
  await ring.eraseSubject(ring.pseudonym('someone'))
  await ring.subjectKey(ring.pseudonym('another'), { create: true })
  await unwrapAll(file)
  return { file, doc: JSON.parse(fs.readFileSync(file, 'utf8')) }
}

function writeDoc(file: string, body: string | Buffer): void {
  fs.writeFileSync(file, body, { mode: 0o600 })
}

test('hand-edited or corrupt keyrings are refused with ERR_AUDIT_KEYRING_INVALID naming the rule', async () => {
  const { file, doc } = await editable()
  const original = JSON.stringify(doc)
  const data = (d: any): any => d.keys.find((k: any) => k.purpose === 'data' && k.retired === undefined)
  const retired = (d: any): any => d.keys.find((k: any) => k.purpose === 'data' && k.retired !== undefined)
  const subject = (d: any): any => d.keys.find((k: any) => k.purpose === 'subject')
  const flipB64 = (s: string): string => {
    const b = Buffer.from(s, 'base64')
    b[Math.floor(rnd() * b.length)]! ^= 1 << Math.floor(rnd() * 8)
    return b.toString('base64')
  }
  const cases: [string, string, (d: any) => unknown][] = [
    ['unknown top-level field', 'unknown-field', (d) => (d.note = 'hi')],
    ['unknown entry field', 'unknown-field', (d) => (data(d).comment = 'x')],
    ['wrong type', 'type', (d) => (d.type = 'keyring')],
    ['future version', 'version', (d) => (d.version = 2)],
    ['no provider', 'provider', (d) => delete d.provider],
    ['provider with a space', 'provider', (d) => (d.provider = 'my kms')],
    ['local without kek', 'kek', (d) => delete d.kek],
    ['short kek', 'kek', (d) => (d.kek = Buffer.alloc(16).toString('base64'))],
    ['kek not base64', 'kek', (d) => (d.kek = `${d.kek.slice(0, -2)}!=`)],
    ['bad id', 'id', (d) => (data(d).id = 'd-XYZ')],
    ['id letter vs purpose', 'id', (d) => (subject(d).id = `d${subject(d).id.slice(1)}`)],
    ['bad purpose', 'purpose', (d) => (data(d).purpose = 'master')],
    ['bad created', 'date', (d) => (data(d).created = '2024-02-30T00:00:00.000Z')],
    ['created as number', 'date', (d) => (data(d).created = 1700000000000)],
    ['wrapped not base64', 'wrapped', (d) => (data(d).wrapped = 'not base64!')],
    ['wrapped non-canonical base64', 'wrapped', (d) => (data(d).wrapped = 'QR==')],
    [
      'wrapped too large',
      'wrapped',
      (d) => (data(d).wrapped = Buffer.alloc(FIXED.wrappedKeyBytesMax + 1).toString('base64')),
    ],
    ['data key without salt', 'entry', (d) => delete data(d).salt],
    ['bad salt', 'salt', (d) => (data(d).salt = 'zzzzzzzz')],
    ['subject key with salt', 'entry', (d) => (subject(d).salt = '00000000')],
    ['bad subject', 'subject', (d) => (subject(d).subject = 'p-17')],
    ['subject names a missing lookup key', 'lookup', (d) => (subject(d).lookup = 'l-0000000000000000')],
    ['retired subject key', 'entry', (d) => (subject(d).retired = subject(d).created)],
    ['duplicate id', 'duplicate', (d) => d.keys.push({ ...data(d) })],
    ['two keys for one subject', 'duplicate', (d) => d.keys.push({ ...subject(d), id: 's-00000000000000ff' })],
    ['live and erased', 'duplicate', (d) => d.erased.push({ id: subject(d).id, erased: subject(d).created })],
    ['erased entry not a subject key', 'erased', (d) => (d.erased[0].id = 'd-0000000000000000')],
    ['current data key missing', 'current', (d) => (d.currentData = 'd-0000000000000000')],
    ['current data key is a lookup key', 'current', (d) => (d.currentData = d.currentLookup)],
    ['current data key retired', 'current', (d) => (data(d).retired = data(d).created)],
    ['a second live data key', 'current', (d) => delete retired(d).retired],
    ['keys not an array', 'entry', (d) => (d.keys = {})],
    ['current key wrapped value edited', 'unwrap', (d) => (data(d).wrapped = flipB64(data(d).wrapped))],
    [
      'lookup key wrapped value edited',
      'unwrap',
      (d) => {
        const l = d.keys.find((k: any) => k.purpose === 'lookup')
        l.wrapped = flipB64(l.wrapped)
      },
    ],
    ['another KEK', 'unwrap', (d) => (d.kek = randomBytes(32).toString('base64'))],
    ['a wrapped key moved to another id', 'unwrap', (d) => (data(d).wrapped = retired(d).wrapped)],
  ]
  for (const [label, problem, edit] of cases) {
    const d = JSON.parse(original)
    edit(d)
    writeDoc(file, JSON.stringify(d))
    const e = await expectCode(() => Keyring.load(file), 'ERR_AUDIT_KEYRING_INVALID', label)
    assert.is(e.details?.problem, problem, `${label}: ${e.message}`)
  }
  const text = Buffer.from(JSON.stringify(JSON.parse(original), null, 1))
  const raw: [string, Buffer][] = [
    ['empty', Buffer.alloc(0)],
    ['truncated', text.subarray(0, Math.floor(rnd() * (text.length - 2)) + 1)],
    ['not JSON', Buffer.from('keyring = yes\n')],
    ['a JSON array', Buffer.from('[]')],
    ['null', Buffer.from('null')],
    ['random bytes', Buffer.from(Array.from({ length: 300 }, () => Math.floor(rnd() * 256)))],
  ]
  for (const [label, body] of raw) {
    writeDoc(file, body)
    await expectCode(() => Keyring.load(file), 'ERR_AUDIT_KEYRING_INVALID', label)
  }
  // A retired key edited: load works (it is unwrapped only when asked for), the read of it is refused.
  const d = JSON.parse(original)
  retired(d).wrapped = flipB64(retired(d).wrapped)
  writeDoc(file, JSON.stringify(d))
  const ring = await Keyring.load(file)
  const e = await expectCode(() => ring.dataKey(retired(d).id), 'ERR_AUDIT_KEYRING_INVALID', 'retired edited')
  assert.is(e.details?.keyId, retired(d).id)
})

test('bounds: a file over keyringBytesMax and a keyring over keyringEntriesMax are refused', async () => {
  const { file, doc } = await editable()
  const big = fresh()
  fs.writeFileSync(big, '', { mode: 0o600 })
  fs.truncateSync(big, FIXED.keyringBytesMax + 1) // sparse: refused on its size before it is read
  const e = await expectCode(() => Keyring.load(big), 'ERR_AUDIT_KEYRING_INVALID', 'size')
  assert.is(e.details?.problem, 'size')
  const many: Record<string, any> = { ...doc, erased: [] }
  const room = FIXED.keyringEntriesMax - many.keys.length + 1
  for (let i = 0; i < room; i++)
    many.erased.push({ id: `s-${i.toString(16).padStart(16, '0')}`, erased: doc.keys[0].created })
  writeDoc(file, JSON.stringify(many))
  const e2 = await expectCode(() => Keyring.load(file), 'ERR_AUDIT_KEYRING_INVALID', 'entries')
  assert.is(e2.details?.problem, 'size')
  many.erased.pop()
  writeDoc(file, JSON.stringify(many))
  const full = await Keyring.load(file)
  // At the bound: a change that would add an entry is refused and the file stays as it was.
  const before = fs.readFileSync(file)
  await expectCode(() => full.subjectKey(full.pseudonym('one more'), { create: true }), 'ERR_AUDIT_KEYRING_INVALID')
  assert.equal(fs.readFileSync(file), before)
})

test('two keyrings open on one file do not undo each other: each change applies to what is on disk', async () => {
  const f = fresh()
  await Keyring.create(f)
  const a = await Keyring.load(f)
  const b = await Keyring.load(f)
  const rotated = await a.rotate()
  const p = b.pseudonym('p-1')
  const sk = await b.subjectKey(p, { create: true })
  const c = await Keyring.load(f)
  assert.is(c.currentDataKey().id, rotated.id, "b's change kept a's rotation")
  assert.ok((await c.subjectKey(p, { create: false })) !== undefined)
  assert.is(b.currentDataKey().id, rotated.id, 'b follows the file')
  // A key id another process made is found by a refresh.
  const r2 = await c.rotate()
  assert.is((await a.dataKey(r2.id)).id, r2.id)
  await expectCode(() => a.dataKey('d-0000000000000000'), 'ERR_AUDIT_KEY_UNKNOWN')
  const erased = await a.eraseSubject(p)
  assert.equal(erased.keyIds, [sk!.id])
  // b sees another Keyring's erasure at its next refresh (or its own next change), and drops the key.
  await b.refresh()
  assert.is((await b.subjectKeyById(sk!.id)).status, 'erased')
  assert.is(await b.subjectKey(p, { create: false }), undefined)
})

test('a keyring replaced under an open Keyring by another one is refused, not overwritten', async () => {
  const f = fresh()
  const a = await Keyring.create(f)
  const other = fresh()
  await Keyring.create(other)
  fs.copyFileSync(other, f)
  const before = fs.readFileSync(f)
  const e = await expectCode(() => a.rotate(), 'ERR_AUDIT_KEYRING_INVALID')
  assert.is(e.details?.problem, 'replaced')
  assert.equal(fs.readFileSync(f), before)
})

/** A user's provider: real AES-256-GCM under its own KEK, bound to the wrap context (what a KMS does). */
class TestKms implements KeyProvider {
  readonly kek = rememberSecret(randomBytes(32))
  calls = 0
  constructor(readonly id: string) {}
  async wrap(plain: Buffer, ctx: WrapContext): Promise<Buffer> {
    this.calls++
    const iv = randomBytes(12)
    const c = createCipheriv('aes-256-gcm', this.kek, iv).setAAD(wrapAad(ctx))
    const ct = Buffer.concat([c.update(plain), c.final()])
    return Buffer.concat([iv, ct, c.getAuthTag()])
  }
  async unwrap(w: Buffer, ctx: WrapContext): Promise<Buffer> {
    this.calls++
    const d = createDecipheriv('aes-256-gcm', this.kek, w.subarray(0, 12)).setAAD(wrapAad(ctx))
    d.setAuthTag(w.subarray(w.length - 16))
    return Buffer.concat([d.update(w.subarray(12, w.length - 16)), d.final()])
  }
}

test("a user's provider: the file names it and holds no KEK; load needs the same provider", async () => {
  const f = fresh()
  const kms = new TestKms('test-kms:key/1')
  const ring = await Keyring.create(f, { provider: kms })
  const doc = JSON.parse(fs.readFileSync(f, 'utf8'))
  assert.is(doc.provider, 'test-kms:key/1')
  assert.is(doc.kek, undefined)
  assert.ok(kms.calls >= 2)
  const again = await Keyring.load(f, { provider: kms })
  assert.is(exported(again.currentDataKey().key), exported(ring.currentDataKey().key))
  let e = await expectCode(() => Keyring.load(f), 'ERR_AUDIT_KEYRING_INVALID', 'no provider')
  assert.is(e.details?.problem, 'provider')
  e = await expectCode(() => Keyring.load(f, { provider: new TestKms('test-kms:key/2') }), 'ERR_AUDIT_KEYRING_INVALID')
  assert.is(e.details?.problem, 'provider')
  // Same id, another KEK: the provider's own failure, coded, with its error as the cause.
  const impostor = new TestKms('test-kms:key/1')
  e = await expectCode(() => Keyring.load(f, { provider: impostor }), 'ERR_AUDIT_KEY_PROVIDER')
  assert.ok(e.cause instanceof Error)
  // A local keyring does not open with a user's provider, nor with another local KEK.
  const local = fresh()
  await Keyring.create(local)
  await expectCode(() => Keyring.load(local, { provider: kms }), 'ERR_AUDIT_KEYRING_INVALID')
  await expectCode(() => Keyring.load(local, { provider: LocalKeyProvider.generate() }), 'ERR_AUDIT_KEYRING_INVALID')
})

test('a failing or misbehaving provider: ERR_AUDIT_KEY_PROVIDER, and nothing is written', async () => {
  const throwing: KeyProvider = {
    id: 'down-kms',
    wrap: async () => {
      throw new Error('connect ECONNREFUSED 127.0.0.1:1')
    },
    unwrap: async () => {
      throw new Error('connect ECONNREFUSED 127.0.0.1:1')
    },
  }
  const f = fresh()
  const e = await expectCode(() => Keyring.create(f, { provider: throwing }), 'ERR_AUDIT_KEY_PROVIDER')
  assert.match(e.message, /ECONNREFUSED/)
  assert.not.ok(fs.existsSync(f))
  const shortKey: KeyProvider = { id: 'short', wrap: async () => Buffer.alloc(0), unwrap: async () => Buffer.alloc(16) }
  await expectCode(() => Keyring.create(f, { provider: shortKey }), 'ERR_AUDIT_KEY_PROVIDER')
  const kms = new TestKms('good')
  await Keyring.create(f, { provider: kms })
  const liar: KeyProvider = { id: 'good', wrap: kms.wrap.bind(kms), unwrap: async () => Buffer.alloc(31) }
  await expectCode(() => Keyring.load(f, { provider: liar }), 'ERR_AUDIT_KEY_PROVIDER')
  await expectCode(
    () => Keyring.create(fresh(), { provider: { ...throwing, id: 'local' } }),
    'ERR_AUDIT_OPTION_INVALID',
  )
  await expectCode(() => Keyring.create(fresh(), { provider: { id: 'x' } as never }), 'ERR_AUDIT_OPTION_INVALID')
})

test('pseudonyms: hex HMAC-SHA256 under the lookup key, stable across loads, different across lookup keys', async () => {
  const f = fresh()
  const ring = await Keyring.create(f)
  const keys = await unwrapAll(f)
  const lookupId = ring.list().find((k) => k.purpose === 'lookup')!.id
  const ids = Array.from({ length: 20 }, (_, i) => `subject-${i}-${Math.floor(rnd() * 1e9)}`)
  const expect = (key: Buffer, id: string): string => createHmac('sha256', key).update(id).digest('hex')
  for (const id of ids) assert.is(ring.pseudonym(id), expect(keys.get(lookupId)!, id))
  const again = await Keyring.load(f)
  assert.equal(
    ids.map((id) => again.pseudonym(id)),
    ids.map((id) => ring.pseudonym(id)),
  )
  const other = await Keyring.create(fresh())
  for (const id of ids) assert.is.not(other.pseudonym(id), ring.pseudonym(id))
  const before = ids.map((id) => ring.pseudonym(id))
  await ring.rotateLookupKey()
  for (let i = 0; i < ids.length; i++) {
    assert.is.not(ring.pseudonym(ids[i]!), before[i])
    assert.equal(ring.pseudonyms(ids[i]!), [ring.pseudonym(ids[i]!), before[i]], 'erasure still finds the old one')
  }
  await expectCode(() => ring.pseudonym(''), 'ERR_AUDIT_OPTION_INVALID')
  await expectCode(() => ring.pseudonym('x'.repeat(FIXED.subjectIdCharsMax + 1)), 'ERR_AUDIT_OPTION_INVALID')
  await expectCode(() => ring.subjectKey('p-17', { create: true }), 'ERR_AUDIT_OPTION_INVALID')
})

test('dropLookupKey: the retired lookup key and every subject key it named are shredded in one rewrite', async () => {
  const f = fresh()
  const ring = await Keyring.create(f)
  const oldLookup = ring.list().find((k) => k.purpose === 'lookup')!.id
  const oldP = ring.pseudonym('p-1')
  const oldKey = (await ring.subjectKey(oldP, { create: true }))!
  await expectCode(() => ring.dropLookupKey(oldLookup), 'ERR_AUDIT_OPTION_INVALID', 'the current lookup key')
  await ring.rotateLookupKey()
  const newKey = (await ring.subjectKey(ring.pseudonym('p-1'), { create: true }))!
  const r = await ring.dropLookupKey(oldLookup)
  assert.equal(r.keyIds, [oldKey.id])
  assert.equal(r.pseudonyms, [oldP])
  const again = await Keyring.load(f)
  assert.not.ok(again.list().some((k) => k.id === oldLookup || k.id === oldKey.id))
  assert.equal(again.pseudonyms('p-1'), [again.pseudonym('p-1')], 'the old generation cannot be computed any more')
  assert.is((await again.subjectKeyById(oldKey.id)).status, 'erased')
  assert.is((await again.subjectKeyById(newKey.id)).status, 'present')
  await expectCode(() => again.dropLookupKey(oldLookup), 'ERR_AUDIT_OPTION_INVALID', 'already dropped')
})

test('subject keys: created once per pseudonym, durable, found by id; many in one rewrite', async () => {
  const f = fresh()
  const ring = await Keyring.create(f)
  const ps = Array.from({ length: 50 }, (_, i) => ring.pseudonym(`s${i}`))
  assert.is((await ring.subjectKeys(ps, { create: false })).size, 0)
  const made = await ring.subjectKeys([...ps, ps[0]!], { create: true })
  assert.is(made.size, 50)
  const again = await Keyring.load(f)
  for (const p of ps) {
    const k = (await again.subjectKey(p, { create: false }))!
    assert.is(k.id, made.get(p)!.id)
    assert.is(exported(k.key), exported(made.get(p)!.key))
    const byId = await again.subjectKeyById(k.id)
    assert.is(byId.status, 'present')
  }
  assert.is((await again.subjectKeyById('s-0123456789abcdef')).status, 'unknown')
  const same = await ring.subjectKey(ps[3]!, { create: true })
  assert.is(same!.id, made.get(ps[3]!)!.id, 'create does not replace an existing key')
})

test('list() and erasures() carry ids, purposes and dates only; a closed keyring refuses (ERR_AUDIT_CLOSED)', async () => {
  const f = fresh()
  const ring = await Keyring.create(f)
  await ring.rotate()
  await ring.subjectKey(ring.pseudonym('a'), { create: true })
  await ring.eraseSubject(ring.pseudonym('a'))
  await ring.subjectKey(ring.pseudonym('b'), { create: true })
  await unwrapAll(f)
  const text = JSON.stringify([ring.list(), ring.erasures()])
  rememberText(text)
  for (const k of ring.list())
    assert.equal(
      Object.keys(k).sort(),
      [
        ...['created', 'current', 'id', 'purpose'],
        ...(k.retired !== undefined ? ['retired'] : []),
        ...(k.subject !== undefined ? ['subject'] : []),
      ].sort(),
    )
  ring.close()
  await expectCode(() => ring.currentDataKey(), 'ERR_AUDIT_CLOSED')
  await expectCode(() => ring.rotate(), 'ERR_AUDIT_CLOSED')
})

test('no error message, detail, cause or listing of this file carries key bytes (hex, base64, base64url, prefixes)', () => {
  const { messages, secrets } = assertNoSecretsInMessages()
  console.log(`checked ${messages} messages against ${secrets} key encodings`)
  assert.ok(messages > 40 && secrets > 100)
})

test.run()
