// Encryption at rest, wired (docs/encryption.md): real sinks, real keyrings,
// real segment files. A log is unreadable without its keyring and readable
// with it; a ciphertext byte changed, or a ciphertext moved to another record
// or another log, is detected (ERR_AUDIT_DECRYPT_FAILED naming the seq) even
// when the attacker fixes every CRC and hash; rotation keeps every event
// readable; no (key, IV) repeats across sessions; verify needs no key.
//
// The damage cases pick records with a seeded PRNG: replay with CRYPT_SEED=<seed>.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import fs from 'node:fs'
import path from 'node:path'
import { AuditSink, Keyring, readLog, recoverLog, verifyLog, type LogEntry, type LogRecord } from '../../lib/index.js'
import { tempDir } from '../helpers/dirs.js'
import { mulberry32, seedFrom } from '../helpers/load.js'
import { header, records, reseal, segmentsOf, setLogId } from '../helpers/sealed-log.js'

const seed = seedFrom('CRYPT_SEED')
console.log(`encryption seed=${seed} (replay with CRYPT_SEED=${seed})`)
const rnd = mulberry32(seed)
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!

async function newKeyring(dir: string): Promise<string> {
  const file = path.join(dir, 'keyring.json')
  ;(await Keyring.create(file)).close()
  return file
}

/** An event whose secret has a fixed length (so two ciphertexts can be swapped in place). */
const secretEvent = (i: number) => ({
  level: 'Information' as const,
  messageTemplate: 'Read {Doc} for {User}',
  properties: {
    Doc: `doc-${String(i).padStart(6, '0')}`,
    User: `user-${String(i).padStart(6, '0')}`,
    Secret: `s3cr3t-${String(i).padStart(6, '0')}`,
  },
})

async function events(dir: string, opts: { keyring?: string } = {}): Promise<LogRecord[]> {
  const out: LogRecord[] = []
  for await (const r of readLog(dir, opts)) out.push(r)
  return out
}

async function expectCode(p: Promise<unknown>, code: string): Promise<Record<string, unknown>> {
  try {
    await p
  } catch (err) {
    assert.is((err as { code?: string }).code, code, (err as Error).message)
    return ((err as { details?: Record<string, unknown> }).details ?? {}) as Record<string, unknown>
  }
  assert.unreachable(`expected ${code}`)
  return {}
}

/** A closed one-segment encrypted log: n events, half emitted one by one (a frame each), half together. */
async function makeLog(n: number, extra: Partial<Parameters<typeof AuditSink.open>[0]> = {}) {
  const base = tempDir('crypt')
  const keyring = await newKeyring(base)
  const dir = path.join(base, 'log')
  const sink = await AuditSink.open({ dir, encryption: { keyring }, ...extra })
  const seqs: number[] = []
  for (let i = 0; i < n / 2; i++) seqs.push((await sink.emit(secretEvent(i))).seq)
  const rest = await Promise.all(Array.from({ length: n - n / 2 }, (_, k) => sink.emit(secretEvent(n / 2 + k))))
  seqs.push(...rest.map((r) => r.seq))
  await sink.close()
  return { base, dir, keyring, seqs }
}

test('a log is unreadable without its keyring and readable with it; verify needs no key', async () => {
  const { dir, keyring } = await makeLog(200)
  const bytes = Buffer.concat(segmentsOf(dir).map((f) => fs.readFileSync(f))).toString('latin1')
  for (let i = 0; i < 200; i++) {
    const p = secretEvent(i).properties
    for (const v of [p.Doc, p.User, p.Secret]) assert.not.ok(bytes.includes(v), `${v} is on disk in clear`)
  }
  assert.ok(bytes.includes('Read {Doc} for {User}'), 'templates stay in clear by default')
  const clear = await events(dir)
  assert.is(clear.length, 200)
  for (const r of clear) {
    assert.is(r.event.encrypted, true)
    assert.equal(r.event.properties, { Doc: '[encrypted]', User: '[encrypted]' })
    assert.is(r.event.messageTemplate, 'Read {Doc} for {User}')
  }
  const read = await events(dir, { keyring })
  assert.equal(
    read.map((r) => r.event.properties),
    Array.from({ length: 200 }, (_, i) => secretEvent(i).properties),
  )
  assert.ok(read.every((r) => r.event.encrypted === undefined))
  const v = await verifyLog(dir)
  assert.ok(v.ok, JSON.stringify(v.firstBad))
  assert.is(v.events, 200)
})

test('a changed ciphertext byte (CRC and hash chain fixed up) fails to decrypt, naming its frame', async () => {
  const { dir, keyring } = await makeLog(60)
  const [file] = segmentsOf(dir)
  const buf = fs.readFileSync(file!)
  const sealed = records(buf).filter((r) => r.sealed !== undefined)
  const victim = pick(sealed)
  const ct = victim.sealed!.ciphertext
  const at = ct.byteOffset - buf.byteOffset + Math.floor(rnd() * ct.length)
  buf[at]! ^= 1 << Math.floor(rnd() * 8)
  reseal(buf)
  fs.writeFileSync(file!, buf)
  assert.ok((await verifyLog(dir)).ok, 'the framing was fixed up: only the AEAD can tell')
  // The frame's first record names the frame; it is at or before the changed record.
  const first = records(buf)
    .filter((r) => r.sealed?.first === true && r.seq <= victim.seq)
    .pop()!
  const details = await expectCode(events(dir, { keyring }), 'ERR_AUDIT_DECRYPT_FAILED')
  assert.is(details.seq, first.seq)
  assert.ok(
    (details.lastSeq as number) >= victim.seq,
    `frame ${first.seq}..${String(details.lastSeq)} holds seq ${victim.seq}`,
  )
})

test('a ciphertext moved to another record (same length, framing fixed up) fails to decrypt', async () => {
  const { dir, keyring } = await makeLog(60)
  const [file] = segmentsOf(dir)
  const buf = fs.readFileSync(file!)
  const sealed = records(buf).filter((r) => r.sealed !== undefined)
  const a = pick(sealed)
  const b = pick(sealed.filter((r) => r !== a && r.sealed!.ciphertext.length === a.sealed!.ciphertext.length))
  const ca = Buffer.from(a.sealed!.ciphertext)
  b.sealed!.ciphertext.copy(a.sealed!.ciphertext)
  ca.copy(b.sealed!.ciphertext)
  reseal(buf)
  fs.writeFileSync(file!, buf)
  assert.ok((await verifyLog(dir)).ok)
  const details = await expectCode(events(dir, { keyring }), 'ERR_AUDIT_DECRYPT_FAILED')
  assert.ok((details.seq as number) <= Math.min(a.seq, b.seq), `names seq ${String(details.seq)}`)
})

test('a ciphertext moved to another log fails: a record copied over, and a segment given another log id', async () => {
  const one = await makeLog(20)
  const two = await makeLog(20)
  // Both logs' keys in one keyring would be the attacker's best case: use log two's keyring for log two,
  // after copying log one's record payload (its head names log one's key) into the same seq.
  const [f1] = segmentsOf(one.dir)
  const [f2] = segmentsOf(two.dir)
  const b1 = fs.readFileSync(f1!)
  const b2 = fs.readFileSync(f2!)
  const r1 = records(b1).filter((r) => r.sealed !== undefined)
  const r2 = records(b2).filter((r) => r.sealed !== undefined)
  // A record's length depends on its place in its frame, and the second half's frames depend on how
  // the writer grouped concurrent emits: pick among the seqs whose records have one length in both logs
  // (the first half, a frame each, always does).
  const same = r2.map((_, k) => k).filter((k) => r1[k] !== undefined && r1[k].len === r2[k]!.len)
  assert.ok(same.length >= 10, `${same.length} seqs with one record length in both logs`)
  const k = pick(same)
  // Keep two's key id in the head: only the ciphertext and tag come from log one.
  r1[k]!.sealed!.ciphertext.copy(r2[k]!.sealed!.ciphertext)
  reseal(b2)
  fs.writeFileSync(f2!, b2)
  assert.ok((await verifyLog(two.dir)).ok)
  await expectCode(events(two.dir, { keyring: two.keyring }), 'ERR_AUDIT_DECRYPT_FAILED')
  // A whole segment under another log id: every frame's AAD names the old one.
  const b1b = fs.readFileSync(f1!)
  setLogId(b1b, Buffer.alloc(16, 7))
  fs.writeFileSync(f1!, b1b)
  assert.ok((await verifyLog(one.dir)).ok, 'the header CRC was fixed up')
  await expectCode(events(one.dir, { keyring: one.keyring }), 'ERR_AUDIT_DECRYPT_FAILED')
})

test("another log's keyring is ERR_AUDIT_KEY_UNKNOWN; a keyring readable by others is refused", async () => {
  const one = await makeLog(10)
  const two = await makeLog(10)
  const details = await expectCode(events(one.dir, { keyring: two.keyring }), 'ERR_AUDIT_KEY_UNKNOWN')
  assert.match(String(details.keyId), /^d-[0-9a-f]{16}$/)
  fs.chmodSync(one.keyring, 0o644)
  await expectCode(events(one.dir, { keyring: one.keyring }), 'ERR_AUDIT_KEY_FILE_MODE')
  await expectCode(AuditSink.open({ dir: one.dir, encryption: { keyring: one.keyring } }), 'ERR_AUDIT_KEY_FILE_MODE')
})

test('rotation mid-run, with emits in flight: every event readable, each under the key its key change names', async () => {
  const base = tempDir('crypt-rot')
  const keyring = await newKeyring(base)
  const dir = path.join(base, 'log')
  const sink = await AuditSink.open({ dir, encryption: { keyring } })
  const pending: Promise<{ seq: number }>[] = []
  const rotations: { seq: number; keyId: string }[] = []
  for (let i = 0; i < 1200; i++) {
    pending.push(sink.emit(secretEvent(i)))
    if (i % 300 === 150) rotations.push(await sink.rotateKey())
  }
  const seqs = (await Promise.all(pending)).map((r) => r.seq)
  await sink.close()
  assert.is(new Set(rotations.map((r) => r.keyId)).size, 4)
  const all: LogEntry[] = []
  for await (const e of readLog(dir, { keyring, records: true })) all.push(e)
  const evs = all.filter((e): e is LogRecord => e.kind === 'event')
  assert.equal(
    evs.map((e) => e.seq),
    seqs,
  )
  assert.equal(
    evs.map((e) => e.event.properties),
    Array.from({ length: 1200 }, (_, i) => secretEvent(i).properties),
  )
  const changes = all.filter((e) => e.kind === 'key-change')
  assert.equal(
    changes.slice(1).map((c) => [c.seq, (c as { detail: Record<string, unknown> }).detail.keyId]),
    rotations.map((r) => [r.seq, r.keyId]),
  )
  // Each sealed record is under the key named by the last key change before it.
  let current = ''
  for (const r of segmentsOf(dir).flatMap((f) => records(fs.readFileSync(f)))) {
    if (r.type === 3) current = (JSON.parse(r.payload.toString()) as { keyId: string }).keyId
    if (r.sealed !== undefined) assert.is(r.sealed.keyId, current, `seq ${r.seq}`)
  }
})

test('no (key, IV) repeats: every session starts its own data key; frame IVs (salt, first seq) are unique', async () => {
  const base = tempDir('crypt-iv')
  const keyring = await newKeyring(base)
  const dir = path.join(base, 'log')
  for (let s = 0; s < 3; s++) {
    const sink = await AuditSink.open({ dir, encryption: { keyring } })
    const p = Array.from({ length: 300 }, (_, i) => sink.emit(secretEvent(s * 1000 + i)))
    await sink.rotateKey()
    p.push(...Array.from({ length: 100 }, (_, i) => sink.emit(secretEvent(s * 1000 + 500 + i))))
    await Promise.all(p)
    await sink.close()
  }
  const ring = await Keyring.load(keyring)
  const frames = new Set<string>()
  const keysPerSession = new Set<string>()
  let frameCount = 0
  for (const f of segmentsOf(dir)) {
    const buf = fs.readFileSync(f)
    for (const r of records(buf)) {
      if (r.type === 3 && (JSON.parse(r.payload.toString()) as { reason: string }).reason === 'open')
        keysPerSession.add((JSON.parse(r.payload.toString()) as { keyId: string }).keyId)
      if (r.sealed?.first !== true) continue
      const dk = await ring.dataKey(r.sealed.keyId)
      const iv = `${r.sealed.keyId}/${dk.epochSalt.toString('hex')}/${r.seq}`
      assert.not.ok(frames.has(iv), `IV ${iv} used twice`)
      frames.add(iv)
      frameCount++
    }
  }
  ring.close()
  assert.is(keysPerSession.size, 3, 'three sessions, three epochs')
  assert.ok(frameCount >= 6)
  assert.is((await events(dir, { keyring })).length, 1200)
  assert.ok((await verifyLog(dir)).ok)
})

test('template: true keeps the message template out of the log too', async () => {
  const base = tempDir('crypt-tpl')
  const keyring = await newKeyring(base)
  const dir = path.join(base, 'log')
  const sink = await AuditSink.open({ dir, encryption: { keyring, template: true } })
  for (let i = 0; i < 10; i++) await sink.emit(secretEvent(i))
  await sink.close()
  const bytes = Buffer.concat(segmentsOf(dir).map((f) => fs.readFileSync(f))).toString('latin1')
  assert.not.ok(bytes.includes('Read {Doc}'))
  const clear = await events(dir)
  assert.is(clear[0]!.event.messageTemplate, '[encrypted]')
  assert.is(clear[0]!.event.level, 'Information')
  const read = await events(dir, { keyring })
  assert.is(read[3]!.event.messageTemplate, 'Read {Doc} for {User}')
  assert.equal(read[3]!.event.properties, secretEvent(3).properties)
})

test('options: personalData needs encryption, a provider needs a keyring file, reserved names are refused', async () => {
  const base = tempDir('crypt-opt')
  const dir = path.join(base, 'log')
  const keyring = await newKeyring(base)
  await expectCode(AuditSink.open({ dir, personalData: { subject: 'P', fields: ['N'] } }), 'ERR_AUDIT_OPTION_INVALID')
  await expectCode(AuditSink.open({ dir, encryption: {} as never }), 'ERR_AUDIT_OPTION_INVALID')
  await expectCode(AuditSink.open({ dir, encryption: { keyring, bogus: 1 } as never }), 'ERR_AUDIT_OPTION_INVALID')
  const plain = await AuditSink.open({ dir: path.join(base, 'plain') })
  await expectCode(plain.eraseSubject('x'), 'ERR_AUDIT_OPTION_INVALID')
  await expectCode(plain.rotateKey(), 'ERR_AUDIT_OPTION_INVALID')
  await plain.close()
  const sink = await AuditSink.open({ dir, encryption: { keyring }, personalData: { subject: 'P', fields: ['N'] } })
  await expectCode(
    sink.emit({ level: 'Information', messageTemplate: 'x', properties: { '@personal': 1, P: 'a' } }),
    'ERR_AUDIT_EVENT_INVALID',
  )
  await expectCode(
    sink.emit({ level: 'Information', messageTemplate: 'x', properties: { N: 'name only' } }),
    'ERR_AUDIT_EVENT_INVALID',
  )
  await expectCode(
    sink.emit({ level: 'Information', messageTemplate: 'x', properties: { P: { not: 'an id' } } }),
    'ERR_AUDIT_EVENT_INVALID',
  )
  assert.is(
    (await sink.emit({ level: 'Information', messageTemplate: 'no subject here', properties: { Q: 1 } })).seq,
    2,
  )
  await sink.close()
  assert.equal((await events(dir, { keyring }))[0]!.event.properties, { Q: 1 })
})

test('recover and the mirror keep ciphertext readable: the AAD names the log id and seq, never the framing', async () => {
  const base = tempDir('crypt-repair')
  const keyring = await newKeyring(base)
  const dir = path.join(base, 'log')
  const mirror = path.join(base, 'mirror')
  for (let s = 0; s < 2; s++) {
    const sink = await AuditSink.open({
      dir,
      mirror,
      encryption: { keyring },
      segmentBytesMax: 64 * 1024,
      batchBytesMax: 16 * 1024,
      eventBytesMax: 4096,
    })
    await Promise.all(Array.from({ length: 400 }, (_, i) => sink.emit(secretEvent(s * 400 + i))))
    await sink.close()
  }
  const want = Array.from({ length: 800 }, (_, i) => secretEvent(i).properties)
  assert.equal(
    (await events(mirror, { keyring })).map((r) => r.event.properties),
    want,
  )
  const out = path.join(base, 'recovered')
  const rep = await recoverLog(dir, { output: out, segmentBytesMax: 128 * 1024 })
  assert.is(rep.logId, header(fs.readFileSync(segmentsOf(dir)[0]!)).logId.toString('hex'))
  assert.equal(
    (await events(out, { keyring })).map((r) => r.event.properties),
    want,
  )
  assert.ok((await verifyLog(out)).ok)
})

test('header: the segment says which log id every frame is bound to', async () => {
  const { dir } = await makeLog(4)
  const h = header(fs.readFileSync(segmentsOf(dir)[0]!))
  assert.is(h.logId.length, 16)
  assert.not.ok(h.logId.equals(Buffer.alloc(16)))
})

test.run()
