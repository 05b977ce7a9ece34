// GDPR erasure by crypto-shredding, on real files (docs/encryption.md,
// "Erasure"): after sink.eraseSubject(id) no byte on disk decrypts to the
// subject's personal fields with any key left in the keyring, the bytes
// written before the erasure are unchanged (so every Merkle leaf and proof
// stays valid), verify passes without a key, the tombstone is in the log at
// its receipt's seq, and readers show [erased] for that subject only.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import fs from 'node:fs'
import path from 'node:path'
import { AuditSink, Keyring, readLog, verifyLog, type LogEntry, type LogRecord } from '../../lib/index.js'
import { decryptFields, frameIv, isEncryptedFields, openFrame } from '../../lib/crypto/index.js'
import { leafHash } from '../../lib/integrity/index.js'
import { decodeSegmentHeader, leafBytes } from '../../shared/format.js'
import { tempDir } from '../helpers/dirs.js'
import { header, records, segmentsOf } from '../helpers/sealed-log.js'

const PD = { subject: 'PatientId', fields: ['PatientName', 'Email'] }
const visit = (i: number, patient: string) => ({
  level: 'Information' as const,
  messageTemplate: 'Viewed chart of {PatientName}',
  properties: {
    PatientId: patient,
    PatientName: `Name of ${patient}`,
    Email: `${patient}@mail.example`,
    UserId: `dr-${i % 3}`,
  },
})

/** Every record's Merkle leaf hash, over the record as stored and the hash of the record before it. */
function leaves(dir: string): string[] {
  return segmentsOf(dir).flatMap((f) => {
    const buf = fs.readFileSync(f)
    const h = decodeSegmentHeader(buf)
    if ('problem' in h) throw new Error(`${f}: header ${h.problem}`)
    let prev = h.chainStart
    return records(buf).map((r) => {
      const leaf = leafHash(leafBytes(r.type, r.seq, r.seq, r.timeMs, prev, r.payload))
      prev = r.hash
      return leaf.toString('hex')
    })
  })
}

test('after eraseSubject no byte decrypts to the subject; verify passes; leaves unchanged; tombstone at its receipt', async () => {
  const base = tempDir('erase')
  const keyring = path.join(base, 'keyring.json')
  ;(await Keyring.create(keyring)).close()
  const dir = path.join(base, 'log')
  const sink = await AuditSink.open({ dir, encryption: { keyring }, personalData: PD })
  const before = await Promise.all(
    Array.from({ length: 60 }, (_, i) => sink.emit(visit(i, i % 2 === 0 ? 'p-17' : 'p-18'))),
  )
  await sink.flush()
  const [seg] = segmentsOf(dir)
  const bytesBefore = fs.readFileSync(seg!)
  const leavesBefore = leaves(dir)
  const receipt = await sink.eraseSubject('p-17', { legalBasis: 'GDPR Art. 17(1)(b)', by: 'dpo@example' })
  assert.is(receipt.signed, false)
  assert.is(receipt.keyIds.length, 1)
  const after = await sink.emit(visit(99, 'p-17')) // the subject comes back: a new key, readable
  await sink.close()

  // The bytes written before the erasure are the same bytes: no leaf, no proof changes.
  const bytesAfter = fs.readFileSync(seg!)
  const lastBefore = records(bytesBefore).pop()!
  const end = lastBefore.off + 64 + lastBefore.len
  assert.ok(end > 1000)
  assert.ok(
    bytesAfter.subarray(0, end).equals(bytesBefore.subarray(0, end)),
    'no byte written before the erasure changed',
  )
  const leavesAfter = leaves(dir)
  assert.equal(leavesAfter.slice(0, leavesBefore.length), leavesBefore)
  const v = await verifyLog(dir)
  assert.ok(v.ok, JSON.stringify(v.firstBad))

  // No plaintext of p-17 anywhere on disk (log and keyring).
  for (const f of [...segmentsOf(dir), keyring]) {
    const text = fs.readFileSync(f).toString('latin1')
    for (const s of ['p-17', 'Name of p-17', 'p-17@mail.example', 'p-18', 'Name of p-18'])
      assert.not.ok(text.includes(s), `${s} in ${f}`)
  }

  // Open every frame with the data keys (the keyring still has them), collect p-17's boxes,
  // and try every key left in the keyring on each: none opens.
  const ring = await Keyring.load(keyring)
  const logId = header(bytesAfter).logId.toString('hex')
  const boxes: { seq: number; box: ReturnType<typeof JSON.parse> }[] = []
  const recs = records(bytesAfter)
  for (let i = 0; i < recs.length; i++) {
    const r = recs[i]!
    if (r.sealed?.first !== true) continue
    const members = recs.filter((x, j) => j >= i && x.sealed !== undefined).slice(0, r.sealed.count)
    const dk = await ring.dataKey(r.sealed.keyId)
    const plain = openFrame(dk.key, {
      logId,
      keyId: r.sealed.keyId,
      iv: frameIv(dk.epochSalt, r.seq),
      items: members.map((m) => ({ seq: m.seq, ciphertext: m.sealed!.ciphertext })),
      tag: r.sealed.tag!,
    })
    members.forEach((m, k) => {
      const ev = JSON.parse(Buffer.concat([m.sealed!.clear, plain[k]!]).toString()) as {
        properties: Record<string, unknown>
      }
      const box = ev.properties['@personal']
      assert.ok(isEncryptedFields(box), `seq ${m.seq} carries its personal fields in a box`)
      assert.not.ok('PatientId' in ev.properties || 'PatientName' in ev.properties, 'no personal field outside the box')
      boxes.push({ seq: m.seq, box })
    })
  }
  const erasedBoxes = boxes.filter((b) => receipt.keyIds.includes(b.box.keyId))
  assert.is(erasedBoxes.length, 30)
  const keysLeft = []
  for (const k of ring.list()) {
    if (k.purpose === 'data') keysLeft.push((await ring.dataKey(k.id)).key)
    if (k.purpose === 'subject') {
      const s = await ring.subjectKeyById(k.id)
      if (s.status === 'present') keysLeft.push(s.key.key)
    }
  }
  assert.ok(keysLeft.length >= 3)
  for (const { seq, box } of erasedBoxes) {
    assert.is((await ring.subjectKeyById(box.keyId)).status, 'erased')
    for (const key of keysLeft)
      assert.throws(() => decryptFields(key, { logId, seq: 0, keyId: box.keyId }, box), /do not decrypt/, `seq ${seq}`)
  }
  ring.close()

  // Readers: [erased] for p-17's fields, p-18 intact, the new p-17 event readable; the tombstone at its seq.
  const all: LogEntry[] = []
  for await (const e of readLog(dir, { keyring, records: true })) all.push(e)
  const evs = all.filter((e): e is LogRecord => e.kind === 'event')
  for (const r of before) {
    const e = evs.find((x) => x.seq === r.seq)!
    const p = e.event.properties
    if (p.PatientId === '[erased]')
      assert.equal(p, { PatientId: '[erased]', PatientName: '[erased]', Email: '[erased]', UserId: p.UserId })
    else assert.is(p.PatientName, 'Name of p-18')
  }
  assert.is(evs.filter((e) => e.event.properties.PatientId === '[erased]').length, 30)
  assert.is(evs.find((e) => e.seq === after.seq)!.event.properties.PatientName, 'Name of p-17')
  const tomb = all.find((e) => e.kind === 'tombstone')!
  assert.is(tomb.seq, receipt.seq)
  const detail = (tomb as { detail: Record<string, unknown> }).detail
  assert.equal(detail.pseudonyms, receipt.pseudonyms)
  assert.equal(detail.keyIds, receipt.keyIds)
  assert.is(detail.legalBasis, 'GDPR Art. 17(1)(b)')
  assert.is(detail.signed, undefined, 'the tombstone is signed by the checkpoint covering it, not by a flag in it')
  const ring2 = await Keyring.load(keyring)
  assert.is(ring2.pseudonym('p-17'), receipt.pseudonyms[0])
  ring2.close()
  // Without the keyring: [encrypted], never the erased content or the new one.
  for await (const e of readLog(dir)) assert.is(e.event.properties.PatientName, '[encrypted]')
})

test('erasing a subject twice, or one never seen, still writes a tombstone (an interrupted erasure is finished by repeating it)', async () => {
  const base = tempDir('erase2')
  const keyring = path.join(base, 'keyring.json')
  ;(await Keyring.create(keyring)).close()
  const dir = path.join(base, 'log')
  const sink = await AuditSink.open({ dir, encryption: { keyring }, personalData: PD })
  await sink.emit(visit(1, 'p-1'))
  const first = await sink.eraseSubject('p-1')
  const again = await sink.eraseSubject('p-1')
  const never = await sink.eraseSubject('nobody')
  await sink.close()
  assert.is(first.keyIds.length, 1)
  assert.equal(again.keyIds, [])
  assert.equal(never.keyIds, [])
  assert.ok(first.seq < again.seq && again.seq < never.seq)
  const tombs: number[] = []
  for await (const e of readLog(dir, { records: true })) if (e.kind === 'tombstone') tombs.push(e.seq)
  assert.equal(tombs, [first.seq, again.seq, never.seq])
})

test.run()
