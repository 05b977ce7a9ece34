// Encryption, erasure and signed checkpoints together (issues: tamper evidence;
// encryption and erasure): leaves cover ciphertext as stored, so an auditor
// verifies without the keyring, the tombstone of an erasure is covered by a
// signed checkpoint made right after it, and erasure (deleting a subject key)
// keeps every earlier proof valid.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import fs from 'node:fs'
import path from 'node:path'
import { AuditSink, checkProofBundle, loadVerifier, proveRecord, readLog, verifySigned } from '../../lib/index.js'
import { cli } from '../helpers/cli-run.js'
import { tempDir } from '../helpers/dirs.js'

const root = tempDir('encrypted-signed')
const key = path.join(root, 'log.key')
const keyring = path.join(root, 'keyring.json')
assert.is(cli('keygen', '--output', key, '--name', 'clinic.example/audit').code, 0)
assert.is(cli('keys', 'init', '--keyring', keyring).code, 0)
const dir = path.join(root, 'wal')

test('erasure on a signed, encrypted log: the tombstone is signed, verify passes, earlier proofs still verify', async () => {
  const sink = await AuditSink.open({
    dir,
    encryption: { keyring },
    personalData: { subject: 'PatientId', fields: ['PatientName'] },
    signing: { keyFile: key },
    checkpoints: { everyRecords: 50, everyMs: 20 },
  })
  const receipts = await Promise.all(
    Array.from({ length: 300 }, (_, i) =>
      sink.emit({
        level: 'Information',
        messageTemplate: 'Viewed chart of {PatientName}',
        properties: { PatientId: `p-${i % 7}`, PatientName: `Name ${i}`, UserId: 'dr-4' },
      }),
    ),
  )
  // A proof of an event of the subject, made before the erasure (against the latest checkpoint covering it).
  const target = receipts[3]! // PatientId p-3
  while ((sink.stats().checkpoints?.last?.covers ?? 0) < target.seq) await new Promise((r) => setTimeout(r, 20))
  const before = await proveRecord(dir, target.seq)
  const erased = await sink.eraseSubject('p-3', { legalBasis: 'GDPR Art. 17(1)(a)' })
  assert.is(erased.signed, true)
  assert.ok(
    erased.checkpoint!.covers >= erased.seq,
    `checkpoint covers ${erased.checkpoint!.covers}, tombstone ${erased.seq}`,
  )
  await sink.close()

  const keys = [loadVerifier(`${key}.pub`)]
  // The auditor: no keyring, every checkpoint holds.
  const rep = await verifySigned(dir, { keys, checkpoint: erased.checkpoint!.note })
  assert.is(rep.ok, true)
  assert.ok(rep.inLog.count >= 2)
  // The proof made before the erasure still verifies; its leaf is ciphertext, not the name.
  const check = checkProofBundle(before, { log: keys })
  assert.is(check.leaf.seq, target.seq)
  assert.not.match(check.leaf.payload.toString('latin1'), /Name 3/)
  // The tombstone itself is provable offline.
  const tomb = path.join(root, 'tombstone.proof')
  fs.writeFileSync(tomb, await proveRecord(dir, erased.seq))
  assert.is(cli('verify-proof', tomb, '--public-key', `${key}.pub`).code, 0)
  // With the keyring: the subject's names are [erased], the others readable.
  let p3 = 0
  for await (const e of readLog(dir, { keyring })) {
    if (e.event.properties.PatientName === '[erased]') p3++
    else assert.match(String(e.event.properties.PatientName), /^Name \d+$/)
  }
  assert.is(p3, receipts.filter((_, i) => i % 7 === 3).length)
})

test.run()
