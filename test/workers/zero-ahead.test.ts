// Zero-ahead (workers/writer/appender.ts): small batches land in space zero-filled
// ahead of them, so their fdatasync does not grow the file; sealed segments and
// a cleanly closed log hold no zeros; a log copied while live (what a crash
// leaves) opens with its zero tail cut and reported, never a byte of data lost.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import fs from 'node:fs'
import path from 'node:path'
import { AuditSink, readLog, verifyLog } from '../../lib/index.js'
import { GENESIS_HASH, SEGMENT_HEADER_BYTES, segmentFileName } from '../../shared/format.js'
import { FIXED } from '../../shared/limits.js'
import { realStorage } from '../../shared/storage.js'
import { Appender } from '../../workers/writer/appender.js'
import { cli } from '../helpers/cli-run.js'
import { ev, FAULTY, ls, tempDir } from '../helpers/dirs.js'

const SEG1 = segmentFileName(1)
const KIB = 1024

function appender(dir: string, segmentBytesMax = 64 * 1024 * 1024): Appender {
  const a = new Appender(
    realStorage,
    [dir],
    segmentBytesMax,
    () => 0,
    () => undefined,
    undefined,
    { logId: Buffer.alloc(16, 7), batchBytesMax: 4 * 1024 * 1024 },
  )
  a.rotate(1, GENESIS_HASH)
  return a
}

const size = (file: string): number => fs.statSync(file).size

async function seqsOf(dir: string): Promise<number[]> {
  const out: number[] = []
  for await (const r of readLog(dir)) out.push(r.seq)
  return out
}

test('appender: a small batch past the zeroed end writes zeroAheadBytes of zeros after it; the next ones overwrite them in place', () => {
  const dir = tempDir('za-small')
  const a = appender(dir)
  const file = path.join(dir, SEG1)
  assert.is(size(file), SEGMENT_HEADER_BYTES)
  const batch = Buffer.alloc(4 * KIB, 0xab)
  a.write(batch, batch.length)
  const end1 = SEGMENT_HEADER_BYTES + batch.length
  assert.is(size(file), end1 + FIXED.zeroAheadBytes)
  a.write(batch, batch.length)
  assert.is(size(file), end1 + FIXED.zeroAheadBytes, 'a batch inside the zeroed space must not grow the file')
  const bytes = fs.readFileSync(file)
  assert.ok(bytes.subarray(SEGMENT_HEADER_BYTES, end1 + batch.length).every((b) => b === 0xab))
  assert.ok(bytes.subarray(end1 + batch.length).every((b) => b === 0))
  a.seal()
  assert.is(size(file), end1 + batch.length, 'seal cuts the zeros')
  a.close()
})

test('appender: a batch larger than zeroAheadBatchBytesMax grows the file itself, with no zeros after it', () => {
  const dir = tempDir('za-big')
  const a = appender(dir)
  const file = path.join(dir, SEG1)
  const big = Buffer.alloc(FIXED.zeroAheadBatchBytesMax + 1, 0xcd)
  a.write(big, big.length)
  assert.is(size(file), SEGMENT_HEADER_BYTES + big.length)
  // A small batch after it zero-fills ahead again.
  a.write(big, 100)
  assert.is(size(file), SEGMENT_HEADER_BYTES + big.length + 100 + FIXED.zeroAheadBytes)
  a.close()
})

test("appender: zeros never reach past segmentBytesMax, and rotation cuts the old segment's zeros before the next segment exists", () => {
  const dir = tempDir('za-rotate')
  const segMax = 64 * KIB
  const a = appender(dir, segMax)
  const file = path.join(dir, SEG1)
  const batch = Buffer.alloc(2 * KIB, 0x11)
  a.write(batch, batch.length)
  assert.is(size(file), segMax, 'zero-ahead is capped at the segment size')
  a.rotate(100, GENESIS_HASH)
  assert.is(size(file), SEGMENT_HEADER_BYTES + batch.length, 'the sealed segment is exactly its records')
  assert.equal(ls(dir), [SEG1, segmentFileName(100)])
  a.close()
})

test('a live log: the last segment ends in zeros, verify reports them as a zero tail (ok), every acknowledged event reads back', async () => {
  const dir = tempDir('za-live')
  const sink = await AuditSink.open({ dir })
  for (let i = 0; i < 20; i++) await sink.emit(ev(i))
  const file = path.join(dir, SEG1)
  const v = await verifyLog(dir)
  assert.ok(v.ok, JSON.stringify(v.firstBad))
  assert.is(v.records, 20)
  assert.is(v.tornTail, undefined)
  assert.ok(v.zeroTail, 'a live log with small batches has zeros ahead of its next batch')
  const zeros = v.zeroTail!
  assert.is(zeros.segment, SEG1)
  assert.is(zeros.offset + zeros.bytes, size(file))
  assert.ok(zeros.bytes > 0 && zeros.bytes <= FIXED.zeroAheadBytes, `${zeros.bytes} zero bytes`)
  assert.equal(
    await seqsOf(dir),
    Array.from({ length: 20 }, (_, i) => i + 1),
  )
  const recordsEnd = zeros.offset
  await sink.close()
  // close cuts the zeros, then appends its seal: a closed log is header + records + seal.
  assert.is(size(file), recordsEnd + 64 + Buffer.byteLength('{"reason":"close"}'), 'close cuts the zeros')
  const after = await verifyLog(dir)
  assert.ok(after.ok)
  assert.is(after.zeroTail, undefined)
  assert.is(after.events, 20)
  assert.ok(after.sealed)
})

test('a crash image (the directory copied while the sink is open) opens with its zero tail cut and reported, no side file, nothing lost', async () => {
  const dir = tempDir('za-crash-src')
  const sink = await AuditSink.open({ dir })
  const acked: number[] = []
  for (let i = 0; i < 30; i++) acked.push((await sink.emit(ev(i))).seq)
  const image = tempDir('za-crash')
  for (const n of ls(dir)) if (n.endsWith('.wal')) fs.copyFileSync(path.join(dir, n), path.join(image, n))
  await sink.close()
  const before = size(path.join(image, SEG1))
  const reopened = await AuditSink.open({ dir: image })
  assert.ok(reopened.openReport.zeroTail, 'the zero tail was not reported')
  const zt = reopened.openReport.zeroTail!
  assert.is(zt.offset + zt.bytes, before)
  assert.is(reopened.openReport.tornTail, undefined)
  assert.is(reopened.openReport.resumedSeq, 30)
  assert.is(reopened.openReport.gap, undefined)
  assert.is(reopened.openReport.lastSeq, 31) // open sealed the old segment: the seal took seq 31
  assert.equal(
    ls(image).filter((n) => n.includes('.torn-')),
    [],
  )
  assert.is((await reopened.emit(ev(30))).seq, 32)
  await reopened.close()
  assert.equal(await seqsOf(image), [...acked, 32])
  const v = await verifyLog(image)
  assert.ok(v.ok)
  assert.is(v.zeroTail, undefined)
})

test('with a mirror both copies stay byte-identical, zeros included, while live and after close', async () => {
  const dir = tempDir('za-wal')
  const mirror = tempDir('za-mirror')
  const sink = await AuditSink.open({ dir, mirror })
  for (let i = 0; i < 10; i++) await sink.emit(ev(i))
  const live = fs.readFileSync(path.join(dir, SEG1))
  assert.ok(live.equals(fs.readFileSync(path.join(mirror, SEG1))), 'the copies differ while live')
  assert.ok(live.length > SEGMENT_HEADER_BYTES + FIXED.zeroAheadBytes / 2, 'no zeros were written ahead')
  await sink.close()
  const closed = fs.readFileSync(path.join(dir, SEG1))
  assert.ok(closed.equals(fs.readFileSync(path.join(mirror, SEG1))), 'the copies differ after close')
  assert.ok(closed.length < live.length)
})

test('a disk too full for the zeros is not an error: the sink keeps acknowledging, and every acknowledged event reads back', async () => {
  const dir = tempDir('za-enospc')
  // pwrite #1 is the segment header, #2 the first batch, #3 its zeros: they get 100 bytes in, then ENOSPC.
  const sink = await AuditSink.open({
    dir,
    storage: { module: FAULTY, config: { faults: [{ op: 'pwrite', nth: 3, code: 'ENOSPC', tearAt: 100 }] } },
  })
  const acked: number[] = []
  for (let i = 0; i < 25; i++) acked.push((await sink.emit(ev(i))).seq)
  assert.equal(
    acked,
    Array.from({ length: 25 }, (_, i) => i + 1),
  )
  await sink.close()
  const v = await verifyLog(dir)
  assert.ok(v.ok, JSON.stringify(v.firstBad))
  assert.is(v.events, 25)
  assert.is(v.zeroTail, undefined, 'close cut what zeros fitted')
  assert.equal(await seqsOf(dir), acked)
})

test('a last batch zeroed on disk is reported as a zero tail by verify and by open, never passed over in silence', async () => {
  const dir = tempDir('za-zeroed')
  const sink = await AuditSink.open({ dir })
  for (let i = 0; i < 5; i++) await sink.emit(ev(i)) // five batches of one event
  await sink.close()
  const file = path.join(dir, SEG1)
  const before = await verifyLog(dir)
  const bytes = fs.readFileSync(file)
  // Records: five events (one batch each), then the seal of close(). Zero the fifth event and the seal:
  // what a disk that lost those writes shows. The device alone cannot tell it from a lost write
  // (docs/wal-format.md section 0), so it must be reported, never passed over.
  const starts: number[] = []
  for (let off = SEGMENT_HEADER_BYTES; off < bytes.length; off += 64 + bytes.readUInt32LE(off + 8)) starts.push(off)
  assert.is(starts.length, 6)
  const lastStart = starts[4]!
  const zeroed = bytes.length - lastStart
  bytes.fill(0, lastStart)
  fs.writeFileSync(file, bytes)
  const v = await verifyLog(dir)
  assert.ok(v.ok)
  assert.is(v.events, before.events - 1)
  assert.equal(v.zeroTail, { segment: SEG1, offset: lastStart, bytes: zeroed })
  const reopened = await AuditSink.open({ dir })
  assert.equal(reopened.openReport.zeroTail, { segment: SEG1, offset: lastStart, bytes: zeroed })
  assert.is(reopened.openReport.resumedSeq, 4)
  await reopened.close()
})

test('mtlog-audit verify exits 0 on a zero tail and says where it is', async () => {
  const dir = tempDir('za-cli')
  const sink = await AuditSink.open({ dir })
  await sink.emit(ev(1))
  await sink.close()
  const file = path.join(dir, SEG1)
  const end = size(file)
  fs.appendFileSync(file, Buffer.alloc(4096))
  const r = cli('verify', dir)
  assert.is(r.code, 0, r.err)
  assert.ok(r.out.includes(`zero tail 4096 bytes after offset ${end} of ${SEG1}`), r.out)
  const j = cli('verify', dir, '--json')
  assert.equal(JSON.parse(j.out).zeroTail, { segment: SEG1, offset: end, bytes: 4096 })
})

test.run()
