// Folds (lib/sink/checkpointer.ts): between checkpoints, once
// FIXED.signerFoldRecords durable records are not in the tree, the signer
// extends the tree without signing, exporting or logging anything; the next
// checkpoint then signs a tree that covers everything, and verifies.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import fs from 'node:fs'
import path from 'node:path'
import { AuditSink, readLog, verifySigned, loadVerifier, type AuditEvent } from '../../lib/index.js'
import { FIXED } from '../../shared/limits.js'
import { cli } from '../helpers/cli-run.js'
import { tempDir } from '../helpers/dirs.js'

const root = tempDir('fold')
const key = path.join(root, 'log.key')
assert.is(cli('keygen', '--output', key, '--name', 'fold.example/log').code, 0)

const event = (i: number): AuditEvent => ({
  timestamp: new Date(1_790_000_000_000 + i),
  level: 'Information',
  messageTemplate: 'Event {N}',
  properties: { N: i },
})

async function until(what: string, done: () => boolean): Promise<void> {
  for (let i = 0; i < 500 && !done(); i++) await new Promise((r) => setTimeout(r, 20))
  assert.ok(done(), `waited 10 s for ${what}`)
}

test('folds extend the tree between checkpoints, write nothing, and the close checkpoint covers all', async () => {
  const dir = path.join(root, 'log')
  const exportDir = path.join(root, 'export')
  // No checkpoint falls due while events are emitted: only folds may run, then the one at close.
  const sink = await AuditSink.open({
    dir,
    signing: { keyFile: key },
    checkpoints: { everyRecords: 1_000_000, everyMs: 3_600_000, export: { dir: exportDir } },
  })
  const events = 3 * FIXED.signerFoldRecords + 100
  for (let i = 0; i < events; i += 256)
    await Promise.all(Array.from({ length: Math.min(256, events - i) }, (_, k) => sink.emit(event(i + k))))
  await until('a fold', () => sink.stats().checkpoints!.folded >= 1)
  const mid = sink.stats().checkpoints!
  assert.is(mid.written, 0, 'a fold signs and logs nothing')
  assert.is(fs.existsSync(path.join(exportDir)) ? fs.readdirSync(exportDir).length : 0, 0, 'a fold exports nothing')
  assert.ok(mid.leaves.ring + mid.leaves.disk >= FIXED.signerFoldRecords, 'the folded leaves are counted')
  await sink.close()
  const end = sink.stats().checkpoints!
  assert.is(end.written, 1, 'the checkpoint at close')
  let checkpoints = 0
  let records = 0
  for await (const r of readLog(dir, { records: true })) {
    records++
    if (r.kind === 'checkpoint') checkpoints++
  }
  assert.is(checkpoints, 1, 'one checkpoint record in the log: folds wrote none')
  // The tree the close checkpoint signs holds every record before it (folded or not): verify recomputes it.
  assert.is(end.last!.size, records - 2, 'every record but the checkpoint record and the seal')
  const report = await verifySigned(dir, { keys: [await loadVerifier(`${key}.pub`)] })
  assert.ok(report.ok, JSON.stringify(report))
  assert.equal([report.inLog.count, report.inLog.good], [1, 1])
  const exported = fs.readFileSync(path.join(exportDir, fs.readdirSync(exportDir)[0]!), 'utf8')
  assert.match(exported, new RegExp(`\\n${end.last!.size}\\n`), 'the exported note is the close checkpoint')
})

test.run()
