// Issue 14, "any size the options allow can be read back": a segment of
// exactly the largest size the options allow (segmentBytesMax 1 GiB), filled
// with 64-KiB events and ended by the largest event (64 MiB), is reopened
// (open, one more emit, close), read back with what followed it (verifyLog,
// readLog) and recovered (recoverLog, in a child process whose peak memory must
// stay far below the segment's size; it runs beside verifyLog and readLog:
// readers of one closed log side by side).
// Readers, resume and salvage read it through a window (shared/bytes.ts),
// never whole: the window slides over the 64-KiB events and grows to hold the
// last one.
//
// It writes and reads 1 GiB several times (about 17 s here), so it runs when
// CI=true (set by .ci/run) or MTLOG_AUDIT_CAP_TEST=1, and says it was skipped
// otherwise (docs/testing.md).
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import fs from 'node:fs'
import path from 'node:path'
import { AuditSink, readLog, verifyLog } from '../../lib/index.js'
import { segmentFileName } from '../../shared/format.js'
import { LIMITS } from '../../shared/limits.js'
import { BIG_OPTIONS, writeBigLog } from '../helpers/big-log.js'
import { type CliResult, nodeAsync } from '../helpers/cli-run.js'
import { tempDir } from '../helpers/dirs.js'

const CAP = LIMITS.segmentBytesMax.max
/**
 * recover's peak memory bound: a window (here one 64-MiB record), a record's
 * copy on its way out, the write buffer and verifyLog's window, over Node's own
 * ~50 MiB; a whole-file read alone would be the 1-GiB segment.
 */
const RECOVER_RSS_MAX = CAP / 2
const RECOVER_CHILD = new URL('../helpers/recover-rss.js', import.meta.url).pathname
const enabled = process.env.CI === 'true' || process.env.MTLOG_AUDIT_CAP_TEST === '1'

const seconds = (t0: number): string => ((performance.now() - t0) / 1000).toFixed(1)

/** recoverLog of dir into out, in a child process (its peak RSS is its own): its exit code, output, and seconds. */
async function recoverChild(dir: string, out: string): Promise<CliResult & { seconds: string }> {
  const t0 = performance.now()
  const r = await nodeAsync([RECOVER_CHILD, dir, out])
  return { ...r, seconds: seconds(t0) }
}

if (!enabled) {
  test('a segment at the 1-GiB cap is read back, reopened and recovered (skipped: set CI=true or MTLOG_AUDIT_CAP_TEST=1)', () => {
    console.log('  cap test skipped: it runs with CI=true (.ci/run) or MTLOG_AUDIT_CAP_TEST=1')
  })
} else {
  test('a segment at the 1-GiB cap is reopened (open, emit, close), read back (verifyLog, readLog) and recovered in bounded memory', async () => {
    const dir = tempDir('cap')
    const outRoot = tempDir('cap-recovered')
    try {
      let t0 = performance.now()
      const { seqs, pads } = await writeBigLog(dir, CAP)
      const first = path.join(dir, segmentFileName(1))
      assert.is(fs.statSync(first).size, CAP, 'the first segment is exactly at the cap')
      console.log(`  wrote ${seqs.length} events (64 KiB, the last 64 MiB), a ${CAP}-byte segment: ${seconds(t0)} s`)

      // Reopen first, then read: the segment at the cap is sealed, so the
      // reopen starts a new segment and leaves it as written, and one
      // verifyLog and one readLog read it back together with what followed.
      t0 = performance.now()
      const sink = await AuditSink.open({ dir, ...BIG_OPTIONS })
      assert.is(sink.openReport.resumedSeq > seqs.at(-1)!, true)
      const { seq } = await sink.emit({
        level: 'Information',
        messageTemplate: 'after the cap {N}',
        properties: { N: 1 },
      })
      await sink.close()
      assert.is(fs.statSync(first).size, CAP, 'the reopen left the segment at the cap as it was')
      console.log(`  reopen, emit, close: ${seconds(t0)} s`)

      // recover (a child process, writing elsewhere) reads the closed log while verifyLog and then
      // readLog (this process) read it too: readers side by side, on the machine's two cores.
      const tReaders = performance.now()
      const out = path.join(outRoot, 'recovered')
      const recovering = recoverChild(dir, out)
      t0 = performance.now()
      const v = await verifyLog(dir)
      assert.ok(v.ok, JSON.stringify(v.firstBad))
      assert.is(v.events, seqs.length + 1)
      assert.ok(v.bytes > CAP)
      assert.is(v.sealed, true)
      assert.is(v.lastSeq! >= seq, true)
      console.log(`  verifyLog: ${seconds(t0)} s (recover running beside it)`)

      t0 = performance.now()
      const read: { seq: number; pad: number }[] = []
      let last: { seq: number; template: string } | undefined
      for await (const r of readLog(dir)) {
        if (r.seq === seq) last = { seq: r.seq, template: r.event.messageTemplate }
        else read.push({ seq: r.seq, pad: (r.event.properties.Pad as string).length })
      }
      assert.equal(
        read.map((r) => r.seq),
        seqs,
      )
      // Every Pad came back whole, the last (the largest event the options allow) too.
      assert.equal(
        read.map((r) => r.pad),
        pads,
      )
      assert.ok(pads.at(-1)! > LIMITS.eventBytesMax.max - 1024)
      assert.equal(last, { seq, template: 'after the cap {N}' })
      console.log(`  readLog: ${seconds(t0)} s (recover running beside it)`)

      // recover: salvage reads the segment through its window and copies it (it is clean) record by record.
      const child = await recovering
      assert.is(child.code, 0, child.err)
      const rec = JSON.parse(child.out) as {
        ok: boolean
        verified: boolean
        intact: number
        lastSeq: number
        copiedExactly: number
        maxRssKiB: number
      }
      assert.ok(rec.ok && rec.verified, child.out)
      assert.is(rec.lastSeq >= seq, true)
      assert.is(rec.copiedExactly >= 1, true, 'the 1-GiB segment is copied byte for byte')
      assert.is(fs.statSync(path.join(out, segmentFileName(1))).size, CAP)
      const rss = rec.maxRssKiB * 1024
      console.log(
        `  recover (child, beside verifyLog and readLog): ${child.seconds} s, peak RSS ${(rss / 2 ** 20).toFixed(0)} MiB; the three readers: ${seconds(tReaders)} s`,
      )
      assert.ok(rss < RECOVER_RSS_MAX, `recover peaked at ${rss} bytes of RSS for a ${CAP}-byte segment`)
    } finally {
      fs.rmSync(dir, { recursive: true, force: true })
      fs.rmSync(outRoot, { recursive: true, force: true })
    }
  })
}

test.run()
