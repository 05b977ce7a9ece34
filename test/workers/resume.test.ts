// Open-time recovery: a torn tail is cut (and kept), damage in acknowledged
// data is refused with segment, offset and seq, and refusing changes nothing.
//
// Format v2 (docs/wal-format.md section 0): a log closed with close() ends
// with a seal record, so nothing of it is a tail; a torn tail exists only in
// an unsealed last segment, where a crash left it. These tests make that
// state the way a crash inside close() leaves it: the seal record cut off
// (dropSeal), every event batch durable. Each open seals the last segment
// (after a cut, with a gap record first when the cut bytes show seqs that were
// used) and starts a new one, so the next event's seq comes after those.
// Where a test's point is the v1 torn-tail rule, it runs on a v1 log built
// with the v1 fixture tool (test/fixtures/make-v1.ts), which still opens and
// verifies as before, and its v2 counterpart follows.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import fs from 'node:fs'
import path from 'node:path'
import { AuditSink, readLog, verifyLog } from '../../lib/index.js'
import {
  decodeSegmentHeader,
  RECORD_HEADER_BYTES,
  RecordFlag,
  RecordType,
  SEGMENT_HEADER_BYTES,
  sealRecord,
  segmentFileName,
} from '../../shared/format.js'
import { batchAfter as framesAfter } from '../helpers/frames.js'
import { ev, ls, snapshot, tempDir } from '../helpers/dirs.js'
import { appendV1Batch, writeV1Log } from '../fixtures/make-v1.js'

const SEG1 = segmentFileName(1)

/** A v2 log of n events written in batches of `batch` (each batch one group commit), closed: it ends with a seal. */
async function makeLog(dir: string, n: number, batch: number, opts: Record<string, number> = {}): Promise<void> {
  const sink = await AuditSink.open({ dir, ...opts })
  for (let i = 0; i < n; i += batch) {
    await Promise.all(Array.from({ length: Math.min(batch, n - i) }, (_, k) => sink.emit(ev(i + k + 1))))
  }
  await sink.close()
}

/** A v1 log of n events in batches of `batch`, one segment (the v1 fixture tool). */
function makeV1Log(dir: string, n: number, batch: number): void {
  writeV1Log(
    dir,
    Array.from({ length: n }, (_, i) => ev(i + 1)),
    { groups: [batch], segmentBytesMax: 64 * 1024 * 1024 },
  )
}

async function refusal(dir: string): Promise<{ code: string; details: Record<string, unknown> }> {
  try {
    const s = await AuditSink.open({ dir })
    await s.close()
  } catch (err) {
    return err as { code: string; details: Record<string, unknown> }
  }
  throw new Error('open succeeded on a damaged log')
}

/** Seqs of the events (readLog's default). */
async function seqs(dir: string): Promise<number[]> {
  const out: number[] = []
  for await (const r of readLog(dir)) out.push(r.seq)
  return out
}

const range = (from: number, to: number): number[] => Array.from({ length: to - from + 1 }, (_, i) => from + i)

interface Walked {
  off: number
  end: number
  type: number
  flags: number
  seq: number
}

/** Every record of a segment file (walking lengths; no checks), v1 or v2 header. */
function records(file: string): Walked[] {
  const b = fs.readFileSync(file)
  const out: Walked[] = []
  for (let off = b.readUInt16LE(8) === 1 ? 80 : SEGMENT_HEADER_BYTES; off + RECORD_HEADER_BYTES <= b.length;) {
    const end = off + RECORD_HEADER_BYTES + b.readUInt32LE(off + 8)
    out.push({ off, end, type: b[off + 12]!, flags: b[off + 13]!, seq: b.readUInt32LE(off + 16) })
    off = end
  }
  return out
}
const recordOffsets = (file: string): number[] => records(file).map((r) => r.off)

/** Cut the seal record off the end of a closed v2 log: what a crash inside close() leaves (every batch durable). */
function dropSeal(file: string): number {
  const last = records(file).at(-1)!
  assert.is(last.type, RecordType.SEAL, 'a closed log ends with a seal record')
  fs.truncateSync(file, last.off)
  return last.off
}

/** The open report's facts these tests check. */
async function openReport(dir: string) {
  const sink = await AuditSink.open({ dir })
  const r = sink.openReport
  return { sink, r }
}

// ── torn partial record ─────────────────────────────────────────────────────

test('v1: a torn partial record at the tail is cut, kept in a side file and reported', async () => {
  const dir = tempDir('torn-v1')
  makeV1Log(dir, 30, 10)
  const file = path.join(dir, SEG1)
  const good = fs.readFileSync(file)
  const garbage = Buffer.from(good.subarray(80, 80 + 100)) // a record's first 100 bytes
  fs.appendFileSync(file, garbage)
  const { sink, r } = await openReport(dir)
  const torn = r.tornTail!
  assert.ok(torn, 'no torn tail reported')
  assert.is(torn.segment, SEG1)
  assert.is(torn.offset, good.length)
  assert.is(torn.bytes, 100)
  assert.equal(fs.readFileSync(path.join(dir, torn.sideFile)), garbage)
  assert.equal([r.resumedSeq, r.gap], [30, undefined])
  assert.is((await sink.emit(ev(31))).seq, 31, 'a v1 segment gets no seal: the next seq is 31')
  await sink.close()
  assert.equal(await seqs(dir), range(1, 31))
  assert.equal(fs.readFileSync(path.join(dir, SEG1)), good, 'the v1 segment is left as it was before the tear')
  assert.ok((await verifyLog(dir)).ok)
})

test('v2: a torn partial record after the last batch of an unsealed segment is cut, kept and reported; the segment is sealed', async () => {
  const dir = tempDir('torn')
  await makeLog(dir, 30, 10)
  const file = path.join(dir, SEG1)
  const closed = fs.readFileSync(file)
  const end = dropSeal(file)
  // What a crash inside close() can leave: the seal record (seq 31) cut short by the end of what was written.
  const garbage = Buffer.from(closed.subarray(end, closed.length - 9))
  fs.appendFileSync(file, garbage)
  const v = await verifyLog(dir)
  assert.ok(v.ok)
  assert.equal(v.tornTail, { segment: SEG1, offset: end, bytes: garbage.length })
  const { sink, r } = await openReport(dir)
  const torn = r.tornTail!
  assert.ok(torn, 'no torn tail reported')
  assert.equal([torn.segment, torn.offset, torn.bytes], [SEG1, end, garbage.length])
  assert.equal(fs.readFileSync(path.join(dir, torn.sideFile)), garbage)
  assert.equal(
    [r.resumedSeq, r.gap, r.lastSeq],
    [30, undefined, 31],
    'the cut record never checked out; seq 31 seals the segment',
  )
  assert.is((await sink.emit(ev(32))).seq, 32)
  await sink.close()
  assert.equal(await seqs(dir), [...range(1, 30), 32])
  const after = await verifyLog(dir)
  assert.ok(after.ok)
  assert.ok(after.sealed)
  assert.equal(after.gaps, [])
  const segs = ls(dir).filter((n) => n.endsWith('.wal'))
  assert.equal(segs, [SEG1, segmentFileName(32)], 'every open begins a new segment')
  const seal = records(file).at(-1)!
  assert.equal([seal.type, seal.seq, seal.flags], [RecordType.SEAL, 31, RecordFlag.COMMIT | RecordFlag.SEALED])
})

// ── zero tail ───────────────────────────────────────────────────────────────

test('a zero tail (zero-ahead space, lost pages) is cut without a side file and reported, not corruption (after a seal, and unsealed)', async () => {
  for (const sealed of [true, false]) {
    const dir = tempDir('zerotail')
    await makeLog(dir, 12, 4)
    const file = path.join(dir, SEG1)
    if (!sealed) dropSeal(file)
    const size = fs.statSync(file).size
    fs.appendFileSync(file, Buffer.alloc(4096))
    const v = await verifyLog(dir)
    assert.ok(v.ok)
    assert.equal(v.zeroTail, { segment: SEG1, offset: size, bytes: 4096 })
    assert.is(v.tornTail, undefined)
    const { sink, r } = await openReport(dir)
    assert.equal(r.zeroTail, { segment: SEG1, offset: size, bytes: 4096 })
    assert.is(r.tornTail, undefined)
    assert.is(r.gap, undefined)
    assert.equal(
      fs.readdirSync(dir).filter((n) => n.includes('.torn-')),
      [],
      'zeros carry nothing: no side file',
    )
    await sink.close()
    const sealLen = sealed ? 0 : records(file).at(-1)!.end - records(file).at(-1)!.off
    assert.is(
      fs.statSync(file).size,
      size + sealLen,
      sealed ? 'the zeros are cut' : 'the zeros are cut, then the seal written',
    )
    assert.equal(await seqs(dir), range(1, 12))
  }
})

// ── the last batch cut at every offset ──────────────────────────────────────

/**
 * The last batch of seg (a one-segment log) cut at every 37th offset inside it:
 * open must cut back to the batch before, keep seqs 1..kept, and record any
 * whole record of the cut batch (its seq was on the device) in a gap record.
 */
async function truncateLastBatch(src: Buffer, make: () => string): Promise<void> {
  const file = (d: string) => path.join(d, SEG1)
  const probe = make()
  fs.writeFileSync(file(probe), src)
  const recs = records(file(probe))
  const commits = recs.filter((r) => r.flags & RecordFlag.COMMIT)
  const kept = recs.indexOf(commits.at(-2)!) + 1 // seqs kept = index of the last batch's first record
  const lastBatchStart = recs[kept]!.off
  assert.ok(recs.length - kept >= 2, 'the last batch holds several records')
  let cuts = 0
  for (let cut = lastBatchStart + 1; cut < src.length; cut += 37) {
    const d = make()
    fs.writeFileSync(file(d), src.subarray(0, cut))
    const whole = recs.filter((r) => r.off >= lastBatchStart && r.end <= cut).map((r) => r.seq)
    const sink = await AuditSink.open({ dir: d })
    const r = sink.openReport
    assert.is(r.resumedSeq, kept, `cut at ${cut}`)
    assert.is(r.tornTail?.offset, lastBatchStart)
    assert.equal(r.gap, whole.length === 0 ? undefined : { fromSeq: kept + 1, toSeq: whole.at(-1)! }, `cut at ${cut}`)
    const next = (await sink.emit(ev(1000))).seq
    await sink.close()
    assert.ok(next > (whole.at(-1) ?? kept), `cut at ${cut}: seq ${next} was handed out again`)
    assert.equal(await seqs(d), [...range(1, kept), next])
    const v = await verifyLog(d)
    assert.ok(v.ok)
    assert.equal(
      v.gaps.map((g) => [g.fromSeq, g.toSeq]),
      r.gap === undefined ? [] : [[r.gap.fromSeq, r.gap.toSeq]],
    )
    cuts++
  }
  assert.ok(cuts >= 3, `${cuts} cuts`)
}

test('v1: the last batch truncated at every offset inside it is cut back to the previous batch', async () => {
  const dir = tempDir('trunc-src-v1')
  makeV1Log(dir, 9, 3)
  await truncateLastBatch(fs.readFileSync(path.join(dir, SEG1)), () => tempDir('trunc-v1'))
})

test('v2: the last batch of an unsealed segment truncated at every offset inside it is cut back to the previous batch; whole cut records become a gap', async () => {
  const dir = tempDir('trunc-src')
  await makeLog(dir, 6, 3)
  const file = path.join(dir, SEG1)
  dropSeal(file)
  // The last batch (seq 7..9) framed as the writer frames one, so that it surely holds three records.
  fs.appendFileSync(file, batchAfter(file, 3, RecordFlag.COMMIT))
  await truncateLastBatch(fs.readFileSync(file), () => tempDir('trunc'))
})

// ── an unfinished batch ─────────────────────────────────────────────────────

/** A batch as the writer frames one, continuing the last record of file (test/helpers/frames.ts). */
function batchAfter(file: string, n: number, lastFlags: number): Buffer {
  return framesAfter(file, records(file).at(-1)!, n, lastFlags, { level: 'Information', template: 'batch' })
}

test('valid records without a COMMIT record at the end are an unfinished batch: cut whole, and their seqs never handed out again (v1 and v2)', async () => {
  for (const version of [1, 2]) {
    const dir = tempDir('uncommitted')
    if (version === 1) makeV1Log(dir, 5, 5)
    else {
      await makeLog(dir, 5, 5)
      dropSeal(path.join(dir, SEG1))
    }
    const file = path.join(dir, SEG1)
    assert.is(fs.readFileSync(file).readUInt16LE(8), version)
    // A perfectly valid record 6 that chains to record 5 but lacks the COMMIT flag.
    const rec = batchAfter(file, 1, 0)
    fs.appendFileSync(file, rec)
    const report = await verifyLog(dir)
    assert.ok(report.ok)
    assert.is(report.records, 5)
    assert.is(report.tornTail?.bytes, rec.length)
    const { sink, r } = await openReport(dir)
    assert.is(r.resumedSeq, 5)
    assert.equal(r.gap, { fromSeq: 6, toSeq: 6 }, `v${version}: seq 6 was on the device`)
    const next = (await sink.emit(ev(7))).seq
    await sink.close()
    // v1: the gap is the new segment's first record (no seal for v1); v2: gap and seal end the old segment.
    assert.is(next, version === 1 ? 7 : 8)
    assert.equal(await seqs(dir), [...range(1, 5), next])
    const v = await verifyLog(dir)
    assert.ok(v.ok)
    assert.equal(
      v.gaps.map((g) => [g.fromSeq, g.toSeq]),
      [[6, 6]],
    )
  }
})

// ── damage in acknowledged data ─────────────────────────────────────────────

test('a flipped bit in an earlier batch is refused with segment, offset and seq; files unchanged', async () => {
  const dir = tempDir('bitflip')
  await makeLog(dir, 40, 10)
  const file = path.join(dir, SEG1)
  const offs = recordOffsets(file)
  const victim = offs[14]! // seq 15, inside the second batch
  const b = fs.readFileSync(file)
  b[victim + RECORD_HEADER_BYTES + 5]! ^= 0x10
  fs.writeFileSync(file, b)
  const before = snapshot(dir)
  const err = await refusal(dir)
  assert.is(err.code, 'ERR_AUDIT_CORRUPT')
  assert.is(err.details.segment, SEG1)
  assert.is(err.details.offset, victim)
  assert.is(err.details.seq, 15)
  assert.is(err.details.problem, 'checksum')
  assert.equal(snapshot(dir), before)
  const report = await verifyLog(dir)
  assert.not.ok(report.ok)
  assert.equal(
    { seq: report.firstBad!.seq, offset: report.firstBad!.offset, segment: report.firstBad!.segment },
    { seq: 15, offset: victim, segment: SEG1 },
  )
})

test('damage in a sealed (earlier) segment is refused, even when the last segment is clean', async () => {
  const dir = tempDir('sealed')
  await makeLog(dir, 60, 5, { segmentBytesMax: 64 * 1024, batchBytesMax: 8 * 1024, eventBytesMax: 4096 })
  // make several segments: pad events
  const s = await AuditSink.open({ dir, segmentBytesMax: 64 * 1024, batchBytesMax: 8 * 1024, eventBytesMax: 4096 })
  for (let i = 0; i < 20; i++)
    await Promise.all(Array.from({ length: 5 }, (_, k) => s.emit(ev(1000 + i * 5 + k, { pad: 'z'.repeat(3000) }))))
  await s.close()
  const segs = ls(dir).filter((n) => n.endsWith('.wal'))
  assert.ok(segs.length >= 3, `${segs.length} segments`)
  const victimSeg = segs[1]!
  const file = path.join(dir, victimSeg)
  const offs = recordOffsets(file)
  const b = fs.readFileSync(file)
  b[offs[1]! + 20]! ^= 0x01 // inside the seq field of the 2nd record
  fs.writeFileSync(file, b)
  const err = await refusal(dir)
  assert.is(err.code, 'ERR_AUDIT_CORRUPT')
  assert.is(err.details.segment, victimSeg)
  assert.is(err.details.offset, offs[1])
  assert.is(err.details.seq, Number(victimSeg.slice(0, 20)) + 1)
})

test('a missing middle segment is refused (seq gap between segments)', async () => {
  const dir = tempDir('missing')
  const s = await AuditSink.open({ dir, segmentBytesMax: 64 * 1024, batchBytesMax: 8 * 1024, eventBytesMax: 4096 })
  for (let i = 0; i < 30; i++)
    await Promise.all(Array.from({ length: 4 }, (_, k) => s.emit(ev(i * 4 + k, { pad: 'q'.repeat(3000) }))))
  await s.close()
  const segs = ls(dir).filter((n) => n.endsWith('.wal'))
  assert.ok(segs.length >= 3)
  fs.unlinkSync(path.join(dir, segs[1]!))
  const err = await refusal(dir)
  assert.is(err.code, 'ERR_AUDIT_CORRUPT')
  assert.is(err.details.segment, segs[2])
  const report = await verifyLog(dir)
  assert.is(report.firstBad?.problem, 'missing-segment')
})

test('a truncated segment header is refused as corruption', async () => {
  const dir = tempDir('hdr')
  await makeLog(dir, 3, 3)
  const file = path.join(dir, SEG1)
  fs.writeFileSync(file, fs.readFileSync(file).subarray(0, 40))
  const err = await refusal(dir)
  assert.is(err.code, 'ERR_AUDIT_CORRUPT')
  assert.is(err.details.offset, 0)
  assert.is(err.details.problem, 'short')
})

// ── records of another file, records written again ──────────────────────────

test('v1: a record copied from another segment file (other salt) never validates: a torn tail', async () => {
  const a = tempDir('salt-a-v1')
  const b = tempDir('salt-b-v1')
  makeV1Log(a, 4, 4)
  makeV1Log(b, 3, 3)
  // Record 4 of log A chains to A's record 3, has seq 4: exactly what B expects next, but B's salt differs.
  const fa = path.join(a, SEG1)
  const offA = recordOffsets(fa)[3]!
  fs.appendFileSync(path.join(b, SEG1), fs.readFileSync(fa).subarray(offA))
  const report = await verifyLog(b)
  assert.is(report.records, 3)
  assert.ok(report.tornTail)
  const { sink, r } = await openReport(b)
  assert.equal([r.resumedSeq, r.gap], [3, undefined], 'its seq 4 does not check out here: no gap')
  await sink.close()
})

test('v2: a record copied from another segment file (other salt) never validates, and is no torn write: refused', async () => {
  for (const sealed of [true, false]) {
    const a = tempDir('salt-a')
    const b = tempDir('salt-b')
    await makeLog(a, 4, 4)
    await makeLog(b, 3, 3)
    const fb = path.join(b, SEG1)
    if (!sealed) dropSeal(fb)
    const fa = path.join(a, SEG1)
    const r4 = records(fa)[3]!
    assert.is(r4.seq, 4)
    const end = fs.statSync(fb).size
    fs.appendFileSync(fb, fs.readFileSync(fa).subarray(r4.off, r4.end))
    const report = await verifyLog(b)
    assert.not.ok(report.ok)
    assert.is(report.records, sealed ? 4 : 3, 'the copied record is not counted')
    assert.equal([report.firstBad!.segment, report.firstBad!.offset], [SEG1, end])
    const before = snapshot(b)
    const err = await refusal(b)
    assert.equal([err.code, err.details.offset], ['ERR_AUDIT_CORRUPT', end])
    assert.equal(snapshot(b), before)
  }
})

test('a replayed (duplicated) batch at the tail is refused as corruption, never read twice (v1, v2 unsealed, v2 sealed)', async () => {
  for (const kind of ['v1', 'v2', 'v2 sealed'] as const) {
    const dir = tempDir('dup')
    if (kind === 'v1') makeV1Log(dir, 6, 3)
    else await makeLog(dir, 6, 3)
    const file = path.join(dir, SEG1)
    if (kind === 'v2') dropSeal(file)
    const recs = records(file)
    const b = fs.readFileSync(file)
    fs.appendFileSync(file, b.subarray(recs[3]!.off, recs[5]!.end)) // records 4-6 again: no torn write produces old seqs
    const err = await refusal(dir)
    assert.is(err.code, 'ERR_AUDIT_CORRUPT')
    assert.is(err.details.offset, b.length, kind)
    // After a seal nothing may follow (reserved) and seq 7 is the seal's; otherwise seq 7 was expected there.
    assert.equal([err.details.seq, err.details.problem], kind === 'v2 sealed' ? [8, 'reserved'] : [7, 'seq'], kind)
    const report = await verifyLog(dir)
    assert.is(report.firstBad?.seq, kind === 'v2 sealed' ? 8 : 7)
  }
})

test('damage to the COMMIT record of the next-to-last batch is corruption, not a torn tail (v1, v2 unsealed, v2 sealed)', async () => {
  for (const kind of ['v1', 'v2', 'v2 sealed'] as const) {
    const dir = tempDir('commitdmg')
    if (kind === 'v1') makeV1Log(dir, 6, 2)
    else await makeLog(dir, 6, 2) // batches [1,2] [3,4] [5,6] (the writer may split a wave: 4 still ends one)
    const file = path.join(dir, SEG1)
    if (kind === 'v2') dropSeal(file)
    const recs = records(file)
    assert.ok(recs[3]!.flags & RecordFlag.COMMIT, 'seq 4 ends a batch')
    const b = fs.readFileSync(file)
    b[recs[3]!.off + RECORD_HEADER_BYTES + 3]! ^= 0x01 // seq 4, the COMMIT of batch [3,4]
    fs.writeFileSync(file, b)
    const before = snapshot(dir)
    const err = await refusal(dir)
    assert.is(err.code, 'ERR_AUDIT_CORRUPT', kind)
    assert.is(err.details.seq, 4)
    assert.is(err.details.offset, recs[3]!.off)
    assert.equal(snapshot(dir), before)
  }
})

test('leftover .wal.tmp from an interrupted rotation is removed on open', async () => {
  const dir = tempDir('tmp')
  await makeLog(dir, 3, 3)
  fs.writeFileSync(path.join(dir, `${segmentFileName(5)}.tmp`), Buffer.alloc(30))
  const sink = await AuditSink.open({ dir })
  assert.equal(sink.openReport.removedTmp, [`${segmentFileName(5)}.tmp`])
  assert.is(sink.openReport.lastSeq, 4, 'three events and the seal')
  assert.is((await sink.emit(ev(5))).seq, 5)
  await sink.close()
  assert.not.ok(ls(dir).some((n) => n.endsWith('.tmp')))
})

test.run()
