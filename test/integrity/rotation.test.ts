// Key rotation (issue 16, "Keys"): a new key, checkpoints signed by both while
// rotating (signing.rotateFrom), the old public key kept for verification.
// Three sessions on one log: the old key alone, both (rotating), the new key
// alone. The signer resumes from the last checkpoint each time (never re-hashes
// from seq 1), every checkpoint verifies with the key(s) that signed it, and a
// checkpoint exported under the old key still proves the final log extends it.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import fs from 'node:fs'
import path from 'node:path'
import { AuditError, AuditSink, loadVerifiers, verifySigned, type AuditEvent } from '../../lib/index.js'
import { openNote } from '../../lib/integrity/index.js'
import { cli } from '../helpers/cli-run.js'
import { snapshot, tempDir } from '../helpers/dirs.js'

const root = tempDir('rotation')
const keyOf = (label: string, name: string): { key: string; pub: string } => {
  const key = path.join(root, `${label}.key`)
  const r = cli('keygen', '--output', key, '--name', name)
  assert.is(r.code, 0, r.err)
  return { key, pub: `${key}.pub` }
}
const oldKey = keyOf('old', 'bank.example/ledger')
const newKey = keyOf('new', 'bank.example/ledger')
const otherName = keyOf('other', 'bank.example/other')

const ev = (i: number): AuditEvent => ({
  timestamp: new Date(1_790_000_000_000 + i * 1000),
  level: 'Information',
  messageTemplate: 'Paid {Amount}',
  properties: { Amount: i },
})

async function session(
  dir: string,
  signing: { keyFile: string; rotateFrom?: string; name?: string },
  from: number,
  n: number,
): Promise<{ resumedFrom: string | undefined; note: string; leaves: { ring: number; disk: number } }> {
  const exportDir = `${dir}-ckpt`
  const sink = await AuditSink.open({
    dir,
    signing,
    checkpoints: { everyRecords: 40, everyMs: 10, export: { dir: exportDir } },
  })
  for (let i = from; i < from + n; i += 20)
    await Promise.all(Array.from({ length: 20 }, (_, k) => sink.emit(ev(i + k))))
  await sink.close()
  const st = sink.stats().checkpoints!
  assert.is(st.failed, 0, st.lastError?.message)
  const file = fs.readdirSync(exportDir).find((f) => f.endsWith('.checkpoint'))!
  return { resumedFrom: st.resumedFrom, note: fs.readFileSync(path.join(exportDir, file), 'utf8'), leaves: st.leaves }
}

const keyIdsOf = (note: string, pubs: string[]): string[] =>
  openNote(
    note,
    pubs.flatMap((p) => loadVerifiers(p)),
  ).verified.map((s) => s.verifier.keyId.toString(16))

test('rotate: old key, both keys, new key; the signer resumes each time; every checkpoint verifies', async () => {
  const dir = path.join(root, 'log')
  const s1 = await session(dir, { keyFile: oldKey.key }, 0, 200)
  assert.is(s1.resumedFrom, 'start', 'the first session hashes the new log from seq 1')
  // The writer's leaf hashes (the leaf ring) serve this session's records; the
  // first task reads what was durable before the signer started from disk.
  assert.ok(s1.leaves.ring > 0, `leaves from the ring: ${JSON.stringify(s1.leaves)}`)
  const s2 = await session(dir, { keyFile: newKey.key, rotateFrom: oldKey.key }, 200, 200)
  assert.is(s2.resumedFrom, 'log', "the rotating session resumes from the old key's checkpoint")
  // The previous session's close seal came after its last checkpoint: read from disk.
  assert.ok(s2.leaves.disk >= 1 && s2.leaves.ring > 0, JSON.stringify(s2.leaves))
  assert.is(keyIdsOf(s2.note, [oldKey.pub, newKey.pub]).length, 2, 'signed by both keys while rotating')
  const s3 = await session(dir, { keyFile: newKey.key }, 400, 200)
  assert.is(s3.resumedFrom, 'log', 'after the rotation the new key resumes from the checkpoints both signed')
  assert.is(keyIdsOf(s3.note, [oldKey.pub, newKey.pub]).length, 1)

  // Every checkpoint in the log verifies when both public keys are trusted.
  const both = await verifySigned(dir, { keys: [...loadVerifiers(oldKey.pub), ...loadVerifiers(newKey.pub)] })
  assert.ok(both.ok, JSON.stringify(both.inLog.firstBad))
  assert.is(both.inLog.good, both.inLog.count)
  // With the old key alone, the new key's checkpoints are not trusted: verify says so.
  const oldOnly = await verifySigned(dir, { keys: loadVerifiers(oldKey.pub) })
  assert.is(oldOnly.ok, false)
  assert.is(oldOnly.inLog.firstBad?.problem, 'signature')

  // The checkpoint exported under the old key alone still proves the final log
  // extends it (CLI; both .pub files, as docs/integrity.md says, since verify also
  // checks every checkpoint inside the log, and the log now holds both eras).
  const kept = path.join(root, 'old-era.checkpoint')
  fs.writeFileSync(kept, s1.note)
  const r = cli('verify', dir, '--checkpoint', kept, '--public-key', oldKey.pub, '--public-key', newKey.pub)
  assert.is(r.code, 0, r.out + r.err)
  // The old .pub alone: the new era's checkpoints are not trusted, and verify says so (exit 1).
  assert.is(cli('verify', dir, '--checkpoint', kept, '--public-key', oldKey.pub).code, 1)
  // The last checkpoint, signed by the new key, verifies with both.
  fs.writeFileSync(kept, s3.note)
  assert.is(cli('verify', dir, '--checkpoint', kept, '--public-key', oldKey.pub, '--public-key', newKey.pub).code, 0)
})

test('without rotateFrom, a new key re-hashes the log from seq 1 (once), then resumes', async () => {
  const dir = path.join(root, 'log-norotate')
  await session(dir, { keyFile: oldKey.key }, 0, 100)
  const s2 = await session(dir, { keyFile: newKey.key }, 100, 100)
  assert.is(s2.resumedFrom, 'start')
  const s3 = await session(dir, { keyFile: newKey.key }, 200, 100)
  assert.is(s3.resumedFrom, 'log')
})

test('rotating between keys of different names needs signing.name; the same key twice is refused; nothing is written', async () => {
  const dir = path.join(root, 'log-names')
  await session(dir, { keyFile: oldKey.key }, 0, 40)
  const before = snapshot(dir)
  const refused = async (signing: Record<string, string>): Promise<AuditError> => {
    const err = await AuditSink.open({ dir, signing: signing as { keyFile: string } }).then(
      async (s) => (await s.close(), undefined),
      (e: unknown) => e,
    )
    assert.instance(err, AuditError)
    return err as AuditError
  }
  const names = await refused({ keyFile: otherName.key, rotateFrom: oldKey.key })
  assert.is(names.code, 'ERR_AUDIT_OPTION_INVALID')
  assert.is(names.details?.option, 'signing.name')
  const same = await refused({ keyFile: oldKey.key, rotateFrom: oldKey.key })
  assert.is(same.code, 'ERR_AUDIT_OPTION_INVALID')
  const copy = path.join(root, 'old-copy.key')
  fs.copyFileSync(oldKey.key, copy)
  fs.chmodSync(copy, 0o600)
  const sameKey = await refused({ keyFile: copy, rotateFrom: oldKey.key })
  assert.is(sameKey.code, 'ERR_AUDIT_OPTION_INVALID')
  fs.chmodSync(copy, 0o644)
  const mode = await refused({ keyFile: newKey.key, rotateFrom: copy })
  assert.is(mode.code, 'ERR_AUDIT_KEY_FILE_MODE')
  assert.equal(snapshot(dir), before, 'a refused open writes nothing')
  // With a name, keys of different names rotate: the origin stays the log's.
  const s = await session(dir, { keyFile: otherName.key, rotateFrom: oldKey.key, name: 'bank.example/ledger' }, 40, 40)
  assert.is(s.resumedFrom, 'log')
  assert.ok(s.note.startsWith('bank.example/ledger/'), s.note.split('\n')[0])
})

test.run()
