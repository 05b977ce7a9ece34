// Open-time recovery: a torn tail is cut (and kept), damage in acknowledged
// data is refused with segment, offset and seq, and refusing changes nothing.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import fs from 'node:fs'
import path from 'node:path'
import { AuditSink, readLog, verifyLog } from '../../lib/index.js'
import {
  RECORD_HEADER_BYTES,
  RecordType,
  SEGMENT_HEADER_BYTES,
  sealRecord,
  decodeSegmentHeader,
  segmentFileName,
} from '../../shared/format.js'
import { ev, ls, snapshot, tempDir } from '../helpers/dirs.js'

const SEG1 = segmentFileName(1)

/** A log of n events written in batches of `batch` (each batch one group commit). */
async function makeLog(dir: string, n: number, batch: number, opts: Record<string, number> = {}): Promise<void> {
  const sink = await AuditSink.open({ dir, ...opts })
  for (let i = 0; i < n; i += batch) {
    await Promise.all(Array.from({ length: Math.min(batch, n - i) }, (_, k) => sink.emit(ev(i + k + 1))))
  }
  await sink.close()
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

async function seqs(dir: string): Promise<number[]> {
  const out: number[] = []
  for await (const r of readLog(dir)) out.push(r.seq)
  return out
}

/** Offsets of every record in a segment file (walking lengths; no checks). */
function recordOffsets(file: string): number[] {
  const b = fs.readFileSync(file)
  const offs: number[] = []
  for (let off = SEGMENT_HEADER_BYTES; off + RECORD_HEADER_BYTES <= b.length;) {
    offs.push(off)
    off += RECORD_HEADER_BYTES + b.readUInt32LE(off + 8)
  }
  return offs
}

test('a torn partial record at the tail is cut, kept in a side file and reported', async () => {
  const dir = tempDir('torn')
  await makeLog(dir, 30, 10)
  const file = path.join(dir, SEG1)
  const good = fs.readFileSync(file)
  const garbage = Buffer.from(good.subarray(SEGMENT_HEADER_BYTES, SEGMENT_HEADER_BYTES + 100)) // a record's first 100 bytes
  fs.appendFileSync(file, garbage)
  const sink = await AuditSink.open({ dir })
  const torn = sink.openReport.tornTail!
  assert.ok(torn, 'no torn tail reported')
  assert.is(torn.segment, SEG1)
  assert.is(torn.offset, good.length)
  assert.is(torn.bytes, 100)
  assert.equal(fs.readFileSync(path.join(dir, torn.sideFile)), garbage)
  assert.is((await sink.emit(ev(31))).seq, 31)
  await sink.close()
  assert.equal(
    await seqs(dir),
    Array.from({ length: 31 }, (_, i) => i + 1),
  )
  assert.ok((await verifyLog(dir)).ok)
})

test('a zero tail (zero-ahead space, lost pages) is cut without a side file and reported, not corruption', async () => {
  const dir = tempDir('zerotail')
  await makeLog(dir, 12, 4)
  const file = path.join(dir, SEG1)
  const size = fs.statSync(file).size
  fs.appendFileSync(file, Buffer.alloc(4096))
  const v = await verifyLog(dir)
  assert.ok(v.ok)
  assert.equal(v.zeroTail, { segment: SEG1, offset: size, bytes: 4096 })
  assert.is(v.tornTail, undefined)
  const sink = await AuditSink.open({ dir })
  assert.equal(sink.openReport.zeroTail, { segment: SEG1, offset: size, bytes: 4096 })
  assert.is(sink.openReport.tornTail, undefined)
  assert.equal(
    fs.readdirSync(dir).filter((n) => n.includes('.torn-')),
    [],
    'zeros carry nothing: no side file',
  )
  await sink.close()
  assert.is(fs.statSync(file).size, size)
  assert.equal(
    await seqs(dir),
    Array.from({ length: 12 }, (_, i) => i + 1),
  )
})

test('the last batch truncated at every offset inside it is cut back to the previous batch', async () => {
  const dir = tempDir('trunc-src')
  await makeLog(dir, 9, 3) // three waves; the writer may split a wave into more than one batch
  const src = fs.readFileSync(path.join(dir, SEG1))
  const offs = recordOffsets(path.join(dir, SEG1))
  // The last batch starts after the second-to-last COMMIT record (flags bit 0 at +13).
  const commits = offs.filter((o) => src[o + 13]! & 1)
  const lastBatchFirst = offs.indexOf(commits.at(-2)!) + 1 // index of its first record = seqs kept
  const lastBatchStart = offs[lastBatchFirst]!
  for (let cut = lastBatchStart + 1; cut < src.length; cut += 37) {
    const d = tempDir('trunc')
    fs.writeFileSync(path.join(d, SEG1), src.subarray(0, cut))
    const sink = await AuditSink.open({ dir: d })
    assert.is(sink.openReport.lastSeq, lastBatchFirst, `cut at ${cut}`)
    assert.is(sink.openReport.tornTail?.offset, lastBatchStart)
    await sink.close()
    assert.equal(
      await seqs(d),
      Array.from({ length: lastBatchFirst }, (_, i) => i + 1),
    )
  }
})

test('valid records without a COMMIT record at the end are an unfinished batch: cut whole', async () => {
  const dir = tempDir('uncommitted')
  await makeLog(dir, 5, 5)
  const file = path.join(dir, SEG1)
  const b = fs.readFileSync(file)
  const header = decodeSegmentHeader(b.subarray(0, SEGMENT_HEADER_BYTES))
  if ('problem' in header) throw new Error('bad header')
  // Append a perfectly valid record 6 that chains to record 5 but lacks the COMMIT flag.
  const last = recordOffsets(file).at(-1)!
  const prevHash = Buffer.from(b.subarray(last + 32, last + 64))
  const payload = Buffer.from(JSON.stringify({ level: 'Information', messageTemplate: 'half a batch' }))
  const rec = Buffer.alloc(RECORD_HEADER_BYTES + payload.length)
  payload.copy(rec, RECORD_HEADER_BYTES)
  sealRecord(rec, 0, payload.length, RecordType.EVENT, 0, 0, 6, Date.now(), prevHash, header.saltSeed)
  fs.appendFileSync(file, rec)
  const report = await verifyLog(dir)
  assert.ok(report.ok)
  assert.is(report.records, 5)
  assert.is(report.tornTail?.bytes, rec.length)
  const sink = await AuditSink.open({ dir })
  assert.is(sink.openReport.lastSeq, 5)
  await sink.close()
})

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

test('a record copied from another segment file (other salt) never validates', async () => {
  const a = tempDir('salt-a')
  const b = tempDir('salt-b')
  await makeLog(a, 4, 4)
  await makeLog(b, 3, 3)
  // Record 4 of log A chains to A's record 3, has seq 4: exactly what B expects next, but B's salt differs.
  const fa = path.join(a, SEG1)
  const offA = recordOffsets(fa)[3]!
  fs.appendFileSync(path.join(b, SEG1), fs.readFileSync(fa).subarray(offA))
  const report = await verifyLog(b)
  assert.is(report.records, 3)
  assert.ok(report.tornTail)
  const sink = await AuditSink.open({ dir: b })
  assert.is(sink.openReport.lastSeq, 3)
  await sink.close()
})

test('a replayed (duplicated) batch at the tail is refused as corruption, never read twice', async () => {
  const dir = tempDir('dup')
  await makeLog(dir, 6, 3)
  const file = path.join(dir, SEG1)
  const offs = recordOffsets(file)
  const b = fs.readFileSync(file)
  fs.appendFileSync(file, b.subarray(offs[3]!)) // records 4-6 again: no torn write produces old seqs
  const err = await refusal(dir)
  assert.is(err.code, 'ERR_AUDIT_CORRUPT')
  assert.is(err.details.offset, b.length)
  assert.is(err.details.seq, 7)
  assert.is(err.details.problem, 'seq')
  const report = await verifyLog(dir)
  assert.is(report.firstBad?.seq, 7)
})

test('damage to the COMMIT record of the next-to-last batch is corruption, not a torn tail', async () => {
  const dir = tempDir('commitdmg')
  await makeLog(dir, 6, 2) // batches [1,2] [3,4] [5,6]
  const file = path.join(dir, SEG1)
  const offs = recordOffsets(file)
  const b = fs.readFileSync(file)
  b[offs[3]! + RECORD_HEADER_BYTES + 3]! ^= 0x01 // seq 4, the COMMIT of batch [3,4]
  fs.writeFileSync(file, b)
  const err = await refusal(dir)
  assert.is(err.code, 'ERR_AUDIT_CORRUPT')
  assert.is(err.details.seq, 4)
  assert.is(err.details.offset, offs[3])
})

test('leftover .wal.tmp from an interrupted rotation is removed on open', async () => {
  const dir = tempDir('tmp')
  await makeLog(dir, 3, 3)
  fs.writeFileSync(path.join(dir, `${segmentFileName(4)}.tmp`), Buffer.alloc(30))
  const sink = await AuditSink.open({ dir })
  assert.equal(sink.openReport.removedTmp, [`${segmentFileName(4)}.tmp`])
  assert.is((await sink.emit(ev(4))).seq, 4)
  await sink.close()
  assert.not.ok(ls(dir).some((n) => n.endsWith('.tmp')))
})

test.run()
