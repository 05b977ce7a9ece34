// The CLI of encrypted logs, run as a real process: `erase` on a closed log
// (the CLI opens it as the writer, shreds the subject, writes the tombstone),
// `erase` on a log whose writer is running (ERR_AUDIT_LOCKED, exit 3, nothing
// changed), and `--keyring` on the read commands ([encrypted] without it,
// [erased] after an erasure, the content with it).
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import fs from 'node:fs'
import path from 'node:path'
import { AuditSink, Keyring } from '../../lib/index.js'
import { tempDir } from '../helpers/dirs.js'
import { cli, cliAsync } from '../helpers/cli-run.js'
import { records, reseal, segmentsOf } from '../helpers/sealed-log.js'

const PD = { subject: 'PatientId', fields: ['PatientName'] }

async function encryptedLog(): Promise<{ dir: string; keyring: string }> {
  const base = tempDir('cli-erase')
  const keyring = path.join(base, 'keyring.json')
  assert.is(cli('keys', 'init', '--keyring', keyring).code, 0)
  const dir = path.join(base, 'log')
  const sink = await AuditSink.open({ dir, encryption: { keyring }, personalData: PD })
  for (let i = 0; i < 6; i++)
    await sink.emit({
      level: 'Information',
      messageTemplate: 'Viewed chart of {PatientName} by {UserId}',
      properties: { PatientId: `p-${i % 2}`, PatientName: `Patient ${i % 2}`, UserId: 'dr-4' },
    })
  await sink.close()
  return { dir, keyring }
}

test('erase on a closed log: tombstone receipt, [erased] for that subject only, verify ok without a key', async () => {
  const { dir, keyring } = await encryptedLog()
  const r = cli('erase', dir, '--subject', 'p-0', '--keyring', keyring, '--legal-basis', 'GDPR Art. 17(1)(a)', '--json')
  assert.is(r.code, 0, r.err)
  const receipt = JSON.parse(r.out) as { seq: number; keyIds: string[]; pseudonyms: string[]; signed: boolean }
  assert.is(receipt.keyIds.length, 1)
  assert.is(receipt.signed, false)
  const ring = await Keyring.load(keyring)
  assert.is(receipt.pseudonyms[0], ring.pseudonym('p-0'))
  ring.close()
  const plain = cli('replay', dir, '-q')
  assert.is(plain.code, 0, plain.err)
  assert.is(plain.out.trim().split('\n').length, 6)
  for (const line of plain.out.trim().split('\n')) assert.match(line, /Viewed chart of \[encrypted\] by \[encrypted\]$/)
  const read = cli('replay', dir, '-q', '--keyring', keyring)
  assert.is(read.code, 0, read.err)
  const lines = read.out.trim().split('\n')
  assert.equal(
    lines.map((l) => l.replace(/^\d+ \S+ \[INF\] /, '')),
    Array.from({ length: 6 }, (_, i) => (i % 2 === 0 ? 'Viewed chart of [erased] by dr-4' : 'Viewed chart of Patient 1 by dr-4')),
  )
  assert.is(cli('verify', dir).code, 0)
  const out = path.join(path.dirname(dir), 'out.jsonl')
  const ex = cli('export', dir, '--format', 'jsonl', '-o', out, '-q', '--keyring', keyring)
  assert.is(ex.code, 0, ex.err)
  const rows = fs.readFileSync(out, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { properties: Record<string, unknown> })
  assert.equal(rows[1]!.properties, { PatientId: 'p-1', PatientName: 'Patient 1', UserId: 'dr-4' })
  assert.equal(rows[0]!.properties, { PatientId: '[erased]', PatientName: '[erased]', UserId: 'dr-4' })
  const stats = cli('stats', dir, '-q', '--json', '--keyring', keyring)
  assert.is(stats.code, 0, stats.err)
})

test('erase while the writer runs: ERR_AUDIT_LOCKED, exit 3, the keyring keeps the subject', async () => {
  const { dir, keyring } = await encryptedLog()
  const sink = await AuditSink.open({ dir, encryption: { keyring }, personalData: PD })
  try {
    const r = await cliAsync('erase', dir, '--subject', 'p-0', '--keyring', keyring)
    assert.is(r.code, 3, r.err)
    assert.match(r.err, /ERR_AUDIT_LOCKED/)
  } finally {
    await sink.close()
  }
  const ring = await Keyring.load(keyring)
  assert.is(ring.erasures().length, 0)
  ring.close()
})

test('a wrong keyring is refused with a code; a damaged ciphertext exits 1', async () => {
  const { dir, keyring } = await encryptedLog()
  const other = path.join(path.dirname(dir), 'other.json')
  assert.is(cli('keys', 'init', '--keyring', other).code, 0)
  const r = cli('replay', dir, '-q', '--keyring', other)
  assert.is(r.code, 3)
  assert.match(r.err, /ERR_AUDIT_KEY_UNKNOWN/)
  const missing = cli('replay', dir, '-q', '--keyring', path.join(path.dirname(dir), 'nope.json'))
  assert.is(missing.code, 3)
  assert.is(cli('replay', dir, '-q', '--keyring', keyring).code, 0)
  // A flipped ciphertext bit under valid framing: damage, exit 1, named by seq.
  const [seg] = segmentsOf(dir)
  const buf = fs.readFileSync(seg!)
  const victim = records(buf).find((x) => x.sealed !== undefined)!
  victim.sealed!.ciphertext[0]! ^= 0x20
  reseal(buf)
  fs.writeFileSync(seg!, buf)
  assert.is(cli('verify', dir).code, 0)
  const bad = cli('replay', dir, '-q', '--keyring', keyring)
  assert.is(bad.code, 1, bad.err)
  assert.match(bad.err, new RegExp(`ERR_AUDIT_DECRYPT_FAILED: frame of seqs ${victim.seq}\\.\\.`))
})

test.run()
