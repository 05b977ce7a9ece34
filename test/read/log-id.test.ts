// Every v2 segment of a log carries the log's id (docs/wal-format.md, section
// 2). A segment whose header names another log, with its header CRC made valid
// again (what the log fuzzer did, torture/fuzz-mutate.ts 'logId'), is refused
// by verify, readLog and open() as `log-id`, naming the segment; recover
// re-seals its records under the output's id instead of copying it as it is,
// and its output verifies. The input is never written.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import fs from 'node:fs'
import path from 'node:path'
import { AuditError, AuditSink, readLog, recoverLog, verifyLog } from '../../lib/index.js'
import { ev, snapshot, tempDir } from '../helpers/dirs.js'
import { header, setLogId } from '../helpers/sealed-log.js'

async function threeSegmentLog(label: string): Promise<{ dir: string; segs: string[] }> {
  const dir = tempDir(label)
  const sink = await AuditSink.open({ dir, segmentBytesMax: 64 * 1024, batchBytesMax: 16 * 1024, eventBytesMax: 4096 })
  for (let i = 0; i < 12; i++)
    await Promise.all(Array.from({ length: 40 }, (_, k) => sink.emit(ev(i * 40 + k, { pad: 'p'.repeat(300) }))))
  await sink.close()
  const segs = fs
    .readdirSync(dir)
    .filter((n) => n.endsWith('.wal'))
    .sort()
  assert.ok(segs.length >= 3, `the log has ${segs.length} segments`)
  return { dir, segs }
}

/** Another log id in the segment's header, its CRC valid again (shared/format.ts encodeSegmentHeader). */
function changeLogId(file: string): void {
  const b = fs.readFileSync(file)
  const id = Buffer.from(header(b).logId)
  id[5]! ^= 0x10
  setLogId(b, id)
  fs.writeFileSync(file, b)
}

const logIdOf = (file: string): string => header(fs.readFileSync(file)).logId.toString('hex')

test('a segment whose header names another log: verify, readLog and open refuse it as log-id', async () => {
  const { dir, segs } = await threeSegmentLog('log-id')
  const victim = segs[1]!
  changeLogId(path.join(dir, victim))
  const before = snapshot(dir)

  const v = await verifyLog(dir)
  assert.is(v.ok, false)
  assert.is(v.firstBad?.problem, 'log-id')
  assert.is(v.firstBad?.segment, victim)
  assert.is(v.firstBad?.offset, 0)

  const read = await (async () => {
    try {
      for await (const _ of readLog(dir)) void _
      return undefined
    } catch (err) {
      return err
    }
  })()
  assert.instance(read, AuditError)
  assert.is((read as AuditError).code, 'ERR_AUDIT_CORRUPT')
  assert.is((read as AuditError).details?.problem, 'log-id')

  const opened = await AuditSink.open({
    dir,
    segmentBytesMax: 64 * 1024,
    batchBytesMax: 16 * 1024,
    eventBytesMax: 4096,
  }).then(
    async (s) => (await s.close(), undefined),
    (err: unknown) => err,
  )
  assert.instance(opened, AuditError)
  assert.is((opened as AuditError).code, 'ERR_AUDIT_CORRUPT')
  assert.is((opened as AuditError).details?.problem, 'log-id')
  assert.is((opened as AuditError).details?.segment, victim)

  assert.equal(snapshot(dir), before, 'nothing in the log directory changed')
})

test('recover re-seals a segment of another log under the output id; the output verifies', async () => {
  const { dir, segs } = await threeSegmentLog('log-id-rec')
  changeLogId(path.join(dir, segs[1]!))
  const out = `${dir}-out`
  await recoverLog(dir, { output: out })
  const v = await verifyLog(out)
  assert.ok(v.ok, v.firstBad?.message)
  const ids = new Set(
    fs
      .readdirSync(out)
      .filter((n) => n.endsWith('.wal'))
      .map((n) => logIdOf(path.join(out, n))),
  )
  assert.is(ids.size, 1, 'every output segment carries one log id')
  assert.ok(ids.has(logIdOf(path.join(dir, segs[0]!))), "the output keeps the input's own id")
  let events = 0
  for await (const _ of readLog(out)) events++
  assert.is(events, 480)
})

test.run()
