// A sink sends its checkpoints to a real witness process (`mtlog-audit witness
// serve` on 127.0.0.1): the exported checkpoint carries the witness's
// cosignature, `verify --witness-key` requires it, and a second session's
// checkpoints extend the witnessed tree (the witness checks consistency from
// the size it holds; a restart resumes from the log's last checkpoint), and
// after a session without the witness the signer proves consistency from the
// size the witness still holds by walking the log.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import fs from 'node:fs'
import path from 'node:path'
import { AuditSink, type AuditEvent } from '../../lib/index.js'
import { cli } from '../helpers/cli-run.js'
import { tempDir } from '../helpers/dirs.js'
import { serve } from '../helpers/witness-process.js'

const root = tempDir('witnessed-log')
const key = path.join(root, 'log.key')
const wkey = path.join(root, 'witness.key')
assert.is(cli('keygen', '--output', key, '--name', 'bank.example/ledger').code, 0)
assert.is(cli('keygen', '--output', wkey, '--name', 'witness.example/w1').code, 0)
const dir = path.join(root, 'wal')
const exportDir = path.join(root, 'elsewhere')

const event = (i: number): AuditEvent => ({
  level: 'Information',
  messageTemplate: 'Paid {Amount}',
  properties: { Amount: i },
})

// The log's origin names its id: learn it from a first open, then tell the witness.
const first = await AuditSink.open({ dir })
const logId = first.openReport.logId
await first.close()
const witness = await serve([
  '--state',
  path.join(root, 'witness-state'),
  '--listen',
  '127.0.0.1:0',
  '--key',
  wkey,
  '--log',
  `bank.example/ledger/${logId}=${key}.pub`,
])

async function session(n: number, from: number): Promise<AuditSink> {
  const s = await AuditSink.open({
    dir,
    signing: { keyFile: key },
    checkpoints: { everyRecords: 100, everyMs: 20, export: { dir: exportDir }, witnesses: [witness.url] },
  })
  for (let i = 0; i < n; i += 50) await Promise.all(Array.from({ length: 50 }, (_, k) => s.emit(event(from + i + k))))
  await s.close()
  return s
}

/** The exported checkpoint, where every session's sink replaces it. */
const exported = path.join(exportDir, `${logId}.checkpoint`)

/** `verify` the log against the exported checkpoint, requiring a cosignature of witnessPub. */
const verifyCosigned = (witnessPub: string, ...extra: string[]): ReturnType<typeof cli> =>
  cli(
    'verify',
    dir,
    '-q',
    ...extra,
    '--public-key',
    `${key}.pub`,
    '--checkpoint',
    exported,
    '--witness-key',
    witnessPub,
  )

test('every checkpoint is cosigned by the witness; verify --witness-key requires the cosignature', async () => {
  const s = await session(400, 0)
  const st = s.stats().checkpoints!
  assert.ok(st.written >= 2, `written ${st.written}`)
  assert.is(st.witnessFailed, 0, JSON.stringify(st.lastWitnessError))
  assert.match(fs.readFileSync(exported, 'utf8'), /\n— witness\.example\/w1 /)
  const ok = verifyCosigned(`${wkey}.pub`)
  assert.is(ok.code, 0, ok.out + ok.err)
  // A witness whose cosignature the checkpoint does not carry: refused.
  const other = path.join(root, 'other.key')
  assert.is(cli('keygen', '--output', other, '--name', 'witness.example/w2').code, 0)
  const bad = verifyCosigned(`${other}.pub`)
  assert.is(bad.code, 1)
})

test('a second session: the witness accepts its checkpoints as extensions of the tree it holds', async () => {
  const s = await session(300, 400)
  const st = s.stats().checkpoints!
  assert.ok(st.written >= 1)
  assert.is(st.witnessFailed, 0, JSON.stringify(st.lastWitnessError))
  const r = verifyCosigned(`${wkey}.pub`, '--json')
  assert.is(r.code, 0, r.err)
  assert.equal(JSON.parse(r.out).signed.checkpoint.cosignedBy, ['witness.example/w1'])
})

test('a session without the witness, then one with it: the signer re-proves from the log the size the witness holds', async () => {
  // The log moves on without the witness: it still holds the tree of the second session.
  const alone = await AuditSink.open({
    dir,
    signing: { keyFile: key },
    checkpoints: { everyRecords: 100, everyMs: 20, export: { dir: exportDir } },
  })
  for (let i = 0; i < 200; i += 50)
    await Promise.all(Array.from({ length: 50 }, (_, k) => alone.emit(event(700 + i + k))))
  await alone.close()
  // Back with the witness: its size is neither 0 nor the tree the signer resumes from.
  const s = await session(100, 900)
  const st = s.stats().checkpoints!
  assert.ok(st.written >= 1)
  assert.is(st.witnessFailed, 0, JSON.stringify(st.lastWitnessError))
  const r = verifyCosigned(`${wkey}.pub`)
  assert.is(r.code, 0, r.out + r.err)
})

test('a witness that is down fails nothing: the checkpoint is logged without its cosignature, stats say so', async () => {
  witness.child.kill('SIGTERM')
  assert.is(await witness.exited, 0)
  const s = await session(100, 1000)
  const st = s.stats().checkpoints!
  assert.ok(st.written >= 1)
  assert.ok(st.witnessFailed >= 1)
  assert.is(st.lastWitnessError?.code, 'ERR_AUDIT_WITNESS_FAILED')
  assert.is(cli('verify', dir, '-q', '--public-key', `${key}.pub`).code, 0)
})

test.after(() => {
  if (witness.child.exitCode === null) witness.child.kill('SIGKILL')
})

test.run()
