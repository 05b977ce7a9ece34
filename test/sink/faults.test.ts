// Injected storage faults (torture/faulty-storage.ts, loaded by the writer):
// the sink fails closed, acknowledges nothing that is not durable, loses
// nothing that was acknowledged, and reopens cleanly.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import fs from 'node:fs'
import path from 'node:path'
import { AuditSink, readLog, verifyLog } from '../../lib/index.js'
import type { FaultConfig } from '../../torture/faulty-storage.js'
import { ev, FAULTY, ls, tempDir } from '../helpers/dirs.js'

interface Outcome {
  acked: number[]
  rejected: { code: string; causeCode: string | undefined; errno: unknown }[]
  lastDurable: number
}

/** Emit `total` events in waves of `wave` through a faulty storage and record every outcome. */
async function runWith(
  dir: string,
  config: FaultConfig,
  total = 400,
  wave = 20,
  extra: Record<string, number> = {},
): Promise<Outcome> {
  const sink = await AuditSink.open({ dir, storage: { module: FAULTY, config }, ...extra })
  const out: Outcome = { acked: [], rejected: [], lastDurable: 0 }
  for (let i = 0; i < total; i += wave) {
    await Promise.all(
      Array.from({ length: wave }, (_, k) =>
        sink.emit(ev(i + k, { pad: 'f'.repeat(200) })).then(
          (r) => void out.acked.push(r.seq),
          (e: { code: string; cause?: { code?: string; details?: { errno?: unknown } } }) =>
            void out.rejected.push({ code: e.code, causeCode: e.cause?.code, errno: e.cause?.details?.errno }),
        ),
      ),
    )
  }
  out.lastDurable = sink.stats().durableSeq
  await sink.close().catch(() => undefined)
  return out
}

async function reopenAndRead(dir: string): Promise<Map<number, string>> {
  const sink = await AuditSink.open({ dir })
  await sink.close()
  const report = await verifyLog(dir)
  assert.ok(report.ok, report.firstBad?.message)
  const m = new Map<number, string>()
  for await (const r of readLog(dir)) m.set(r.seq, r.event.properties.UserId as string)
  return m
}

function assertNoAckLost(o: Outcome, onDisk: Map<number, string>): void {
  for (const s of o.acked) {
    assert.ok(onDisk.has(s), `acknowledged seq ${s} is missing after reopen`)
    assert.is(onDisk.get(s), `u-${s - 1}`, `acknowledged seq ${s} has the wrong event`)
  }
  // Seqs on disk are contiguous from 1.
  const seqs = [...onDisk.keys()]
  assert.equal(
    seqs,
    Array.from({ length: seqs.length }, (_, i) => i + 1),
  )
}

for (const nth of [1, 2, 7]) {
  test(`EIO on fdatasync #${nth}: fail closed, later emits rejected, acknowledged events kept`, async () => {
    const dir = tempDir('eio')
    // fdatasync #1 is the first segment's header (during open): nth=1 fails open itself.
    if (nth === 1) {
      let code = ''
      try {
        await AuditSink.open({
          dir,
          storage: { module: FAULTY, config: { faults: [{ op: 'fdatasync', nth, code: 'EIO' }] } },
        })
      } catch (err) {
        code = (err as { code: string }).code
      }
      assert.is(code, 'ERR_AUDIT_IO')
      assert.not.ok(ls(dir).includes('LOCK'), 'a failed open left its lock behind')
      assert.equal((await reopenAndRead(dir)).size, 0)
      return
    }
    const o = await runWith(dir, { faults: [{ op: 'fdatasync', nth, code: 'EIO' }] })
    assert.ok(o.rejected.length > 0, 'nothing was rejected')
    for (const r of o.rejected) {
      assert.is(r.code, 'ERR_AUDIT_FAILED')
      assert.is(r.causeCode, 'ERR_AUDIT_IO')
      assert.is(r.errno, 'EIO')
    }
    // Every batch up to the failing fdatasync was acknowledged, and nothing after.
    assert.ok(Math.max(0, ...o.acked) <= o.lastDurable)
    assert.ok(o.acked.length >= nth - 2, `only ${o.acked.length} acked`)
    assertNoAckLost(o, await reopenAndRead(dir))
  })
}

test('ENOSPC on every write from #4 on: fail closed with the errno, acknowledged events kept', async () => {
  const dir = tempDir('enospc')
  const o = await runWith(dir, { faults: [{ op: 'pwrite', nth: 4, code: 'ENOSPC', persistent: true }] })
  assert.ok(o.acked.length > 0)
  assert.ok(o.rejected.length > 0)
  for (const r of o.rejected) assert.is(r.errno, 'ENOSPC')
  assertNoAckLost(o, await reopenAndRead(dir))
})

test('a write torn after 100 bytes then EIO: the torn batch is cut on reopen, nothing acknowledged lost', async () => {
  const dir = tempDir('tornwrite')
  const o = await runWith(dir, { faults: [{ op: 'pwrite', nth: 6, code: 'EIO', tearAt: 100 }] })
  assert.ok(o.rejected.length > 0)
  const sink = await AuditSink.open({ dir })
  const torn = sink.openReport.tornTail
  assert.ok(torn, 'the torn write was not reported')
  // The batch went into zero-ahead space: the cut runs to the end of the zeros, the side file keeps the 100 bytes written.
  assert.ok(torn.bytes >= 100, `${torn.bytes} bytes cut`)
  assert.is(fs.statSync(path.join(dir, torn.sideFile)).size, 100)
  await sink.close()
  assertNoAckLost(o, await reopenAndRead(dir))
})

test('short writes are completed by the write loop: everything acknowledged and intact', async () => {
  const dir = tempDir('short')
  const o = await runWith(dir, { shortWrites: true }, 300, 30)
  assert.is(o.rejected.length, 0)
  assert.is(o.acked.length, 300)
  assertNoAckLost(o, await reopenAndRead(dir))
})

test('a failed directory fsync during rotation fails closed; the next open recovers', async () => {
  const dir = tempDir('rotfail')
  // fsyncDir #1 is the first segment's creation; #2 is the first rotation.
  const o = await runWith(dir, { faults: [{ op: 'fsyncDir', nth: 2, code: 'EIO' }] }, 300, 10, {
    segmentBytesMax: 64 * 1024,
    batchBytesMax: 8 * 1024,
    eventBytesMax: 2048,
  })
  assert.ok(o.rejected.length > 0)
  for (const r of o.rejected) assert.is(r.code, 'ERR_AUDIT_FAILED')
  assertNoAckLost(o, await reopenAndRead(dir))
})

test('an I/O error while recovering (reading a segment) fails open with ERR_AUDIT_IO and no lock left', async () => {
  const dir = tempDir('openfail')
  await runWith(dir, {}, 40, 10)
  let code = ''
  try {
    await AuditSink.open({
      dir,
      storage: { module: FAULTY, config: { faults: [{ op: 'pread', nth: 1, code: 'EIO' }] } },
    })
  } catch (err) {
    code = (err as { code: string }).code
  }
  assert.is(code, 'ERR_AUDIT_IO')
  assert.not.ok(ls(dir).includes('LOCK'))
  assert.is((await reopenAndRead(dir)).size, 40)
})

test('every emit in flight when the sink fails is settled: none hangs', async () => {
  const dir = tempDir('settle')
  // fdatasync #1 makes the first segment durable during open; #2 is the first batch's,
  // whatever its size (under load one batch may take all 5000 emits).
  const sink = await AuditSink.open({
    dir,
    storage: { module: FAULTY, config: { faults: [{ op: 'fdatasync', nth: 2, code: 'EIO' }] } },
  })
  const all = Array.from({ length: 5000 }, (_, i) =>
    sink.emit(ev(i)).then(
      () => 'ok',
      (e: { code: string }) => e.code,
    ),
  )
  const outcomes = await Promise.all(all)
  const counts = outcomes.reduce<Record<string, number>>((m, o) => ((m[o] = (m[o] ?? 0) + 1), m), {})
  assert.ok(counts.ERR_AUDIT_FAILED! > 0, JSON.stringify(counts))
  assert.is((counts.ok ?? 0) + (counts.ERR_AUDIT_FAILED ?? 0), 5000, JSON.stringify(counts))
  await sink.close().catch(() => undefined)
})

test('a writer thread that dies fails the sink loudly: every emit rejects with the crash as cause, the lock is released', async () => {
  const dir = tempDir('crash-writer')
  const CRASHING = new URL('../helpers/crashing-storage.js', import.meta.url).pathname
  // pwrite #1 is the first segment's header during open, #2 the first batch, #3 the zeros
  // written ahead of it (workers/writer/appender.ts), #4 the second batch.
  const sink = await AuditSink.open({ dir, storage: { module: CRASHING, config: { exitOnPwrite: 4 } } })
  const first = await sink.emit(ev(0))
  const outcomes = await Promise.all(
    Array.from({ length: 100 }, (_, i) =>
      sink.emit(ev(i + 1)).then(
        (r) => `ok ${r.seq}`,
        (e: { code: string; cause?: { code?: string } }) => `${e.code} <- ${e.cause?.code}`,
      ),
    ),
  )
  assert.ok(outcomes.includes('ERR_AUDIT_FAILED <- ERR_AUDIT_WRITER_CRASHED'), outcomes.slice(0, 3).join(', '))
  for (const o of outcomes) assert.ok(o.startsWith('ok ') || o === 'ERR_AUDIT_FAILED <- ERR_AUDIT_WRITER_CRASHED', o)
  let later = ''
  try {
    await sink.emit(ev(999))
  } catch (e) {
    later = `${(e as { code: string }).code}`
  }
  assert.is(later, 'ERR_AUDIT_FAILED')
  let closeCode = ''
  try {
    await sink.close()
  } catch (e) {
    closeCode = (e as { code: string }).code
  }
  assert.is(closeCode, 'ERR_AUDIT_FAILED')
  assert.not.ok(ls(dir).includes('LOCK'), "the dead writer's lock was left behind")
  const onDisk = await reopenAndRead(dir)
  assert.ok(onDisk.has(first.seq))
  for (const o of outcomes) if (o.startsWith('ok ')) assert.ok(onDisk.has(Number(o.slice(3))))
})

test.run()
