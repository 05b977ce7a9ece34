// Issue 14 regressions, one test per finding (format v2: docs/wal-format.md
// section 0). A sealed log has no torn tail; after a crash only what a torn
// write explains is cut; a seq names one event for ever (a cut's seqs are
// recorded as a gap record, never handed out again); readers refuse what
// verify refuses. Damage positions come from a seeded PRNG: replay a failure
// with V2SEAL_SEED=<seed> (printed below).
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import fs from 'node:fs'
import path from 'node:path'
import { AuditSink, exportLog, logStats, readLog, replay, verifyLog } from '../../lib/index.js'
import { crc32c } from '../../shared/crc32c.js'
import {
  decodeSegmentHeader,
  RECORD_HEADER_BYTES,
  RecordFlag,
  RecordType,
  SEGMENT_HEADER_BYTES,
  sealRecord,
  segmentFileName,
} from '../../shared/format.js'
import { cliAsync, SMALL } from '../helpers/cli-run.js'
import { cliMany } from '../helpers/cli-many.js'
import { batchAfter as framesAfter } from '../helpers/frames.js'
import { ev, ls, snapshot, tempDir } from '../helpers/dirs.js'
import { mulberry32, seedFrom } from '../helpers/load.js'

const seed = seedFrom('V2SEAL_SEED')
console.log(`v2-seal seed=${seed} (replay with V2SEAL_SEED=${seed})`)
const rnd = mulberry32(seed)
const SEG1 = segmentFileName(1)

interface Walked {
  off: number
  end: number
  type: number
  flags: number
  batchIndex: number
  seq: number
}

/** Every record of a v2 segment file (walking lengths; no checks). */
function records(file: string): Walked[] {
  const b = fs.readFileSync(file)
  const out: Walked[] = []
  for (let off = SEGMENT_HEADER_BYTES; off + RECORD_HEADER_BYTES <= b.length;) {
    const end = off + RECORD_HEADER_BYTES + b.readUInt32LE(off + 8)
    if (end > b.length) break
    out.push({
      off,
      end,
      type: b[off + 12]!,
      flags: b[off + 13]!,
      batchIndex: b.readUInt16LE(off + 14),
      seq: b.readUInt32LE(off + 16),
    })
    off = end
  }
  return out
}

/** Batches of a segment: [first record index, last record index] (the last one has COMMIT). */
function batchesOf(recs: Walked[]): [number, number][] {
  const out: [number, number][] = []
  let start = 0
  recs.forEach((r, i) => {
    if (r.flags & RecordFlag.COMMIT) {
      out.push([start, i])
      start = i + 1
    }
  })
  return out
}

async function refused(dir: string): Promise<{ code: string; details: Record<string, unknown> } | undefined> {
  try {
    const s = await AuditSink.open({ dir })
    await s.close()
    return undefined
  } catch (err) {
    return err as { code: string; details: Record<string, unknown> }
  }
}

/** Run jobs at most `width` at a time (the machine has few cores; each job waits on a child or a worker). */
async function pool<T>(jobs: (() => Promise<T>)[], width: number): Promise<T[]> {
  const out: T[] = new Array(jobs.length)
  let next = 0
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < jobs.length) {
        const k = next++
        out[k] = await jobs[k]!()
      }
    }),
  )
  return out
}

/** Cut the seal record off a closed log's last segment: what a crash inside close() leaves. */
function dropSeal(file: string): void {
  const last = records(file).at(-1)!
  assert.is(last.type, RecordType.SEAL)
  fs.truncateSync(file, last.off)
}

/** A batch as the writer frames one, continuing the last record of file (test/helpers/frames.ts). */
function batchAfter(file: string, n: number, lastFlags: number): Buffer {
  return framesAfter(file, records(file).at(-1)!, n, lastFlags, { level: 'Warning', template: 'late' })
}

async function eventSeqs(dir: string): Promise<number[]> {
  const out: number[] = []
  for await (const r of readLog(dir)) out.push(r.seq)
  return out
}

// ── finding 1 ───────────────────────────────────────────────────────────────

/**
 * Finding 1 checks every damaged log with verifyLog (the engine of `verify`),
 * the CLI (`verify --json`: exit 1 and the same first bad spot) and open().
 * The CLI runs on all 100 logs in one node process (test/helpers/cli-many.ts:
 * the real entry point, evaluated afresh per log), and once as a process of
 * its own, whose exit status is checked too: a node process per log cost more
 * than everything else the test does.
 */
test('issue 14 finding 1: one flipped bit in the last segment of a cleanly closed log (outside the seal) is refused by verify (exit 1) and open(), 100 of 100', async () => {
  const LOGS = 100
  const EVENTS = 2000 // in one Promise.all: the writer's last batch holds most of them
  const base = tempDir('v2-flip')
  // Where each log's bit goes, drawn up front so that the seed decides it whatever order the jobs run in:
  // half the flips land in the last event batch (the finding's case), half anywhere before the seal, header included.
  const draws = Array.from({ length: LOGS }, (_, k) => ({
    inLastBatch: k % 2 === 0,
    frac: rnd(),
    bit: Math.floor(rnd() * 8),
  }))
  const t0 = performance.now()
  // Each job: write a log, close it, flip its bit, then verifyLog, the CLI (every CLI_EVERY-th), open().
  const results = await pool(
    draws.map((d, k) => async () => {
      const dir = path.join(base, `log-${k}`)
      const sink = await AuditSink.open({ dir })
      await Promise.all(
        Array.from({ length: EVENTS }, (_, i) =>
          sink.emit({ level: 'Information', messageTemplate: 'E {N}', properties: { N: i } }),
        ),
      )
      await sink.close()
      const file = path.join(dir, SEG1)
      const segs = ls(dir).filter((n) => n.endsWith('.wal'))
      const recs = records(file)
      const seal = recs.at(-1)!
      const [from, to] = batchesOf(recs.slice(0, -1)).at(-1)!
      const lo = d.inLastBatch ? recs[from]!.off : 0
      const at = lo + Math.floor(d.frac * (seal.off - lo))
      const b = fs.readFileSync(file)
      b[at]! ^= 1 << d.bit
      fs.writeFileSync(file, b)
      const before = snapshot(dir)
      const v = await verifyLog(dir)
      const err = await refused(dir)
      return { dir, segs, seal, lastBatch: to - from + 1, at, bit: d.bit, v, err, before, after: snapshot(dir) }
    }),
    4,
  )
  const runs = results.map((r) => ['verify', r.dir, '--json', '--quiet'])
  const [cs, own] = await Promise.all([cliMany(runs, path.join(base, 'cli-runs.json')), cliAsync(...runs[0]!)])
  // The same report (but for the measured speed) and the same exit status, in a process of its own.
  const report = (out: string): unknown => ({ ...JSON.parse(out), bytesPerSecond: 0 })
  assert.equal(
    [own.code, report(own.out)],
    [cs[0]!.code, report(cs[0]!.out)],
    'the CLI as a process of its own says what it says in cli-many',
  )
  let ok = 0
  let clis = 0
  for (const [k, { dir, segs, seal, at, bit, v, err, before, after }] of results.entries()) {
    const c = cs[k]
    const where = `${path.basename(dir)}: bit ${bit} of byte ${at} (seed ${seed})`
    assert.equal(segs, [SEG1])
    assert.equal([seal.type, seal.seq], [RecordType.SEAL, EVENTS + 1], 'closed: the seal is the last record')
    assert.is(v.ok, false, `${where}: verifyLog says ok`)
    assert.is(v.tornTail, undefined, `${where}: damage reported as a torn tail`)
    assert.is(v.zeroTail, undefined, `${where}: damage reported as a zero tail`)
    assert.ok(v.firstBad !== undefined && v.firstBad.segment === SEG1, where)
    assert.ok(c !== undefined, `${where}: no CLI result`)
    assert.is(c.code, 1, `${where}: verify exit ${c.code} ${c.out.slice(0, 300)} ${c.err.slice(0, 300)}`)
    const rep = JSON.parse(c.out)
    assert.equal([rep.ok, rep.firstBad.offset, rep.firstBad.seq], [false, v.firstBad!.offset, v.firstBad!.seq], where)
    clis++
    assert.ok(err !== undefined, `${where}: open() accepted the log`)
    // A flip in the first segment's magic is "not a WAL"; anything else is corruption naming the place.
    if (at < 8) assert.is(err!.code, 'ERR_AUDIT_NOT_A_WAL', where)
    else {
      assert.is(err!.code, 'ERR_AUDIT_CORRUPT', where)
      assert.is(err!.details.segment, SEG1, where)
      assert.is(typeof err!.details.offset, 'number', where)
      assert.is(typeof err!.details.seq, 'number', where)
    }
    assert.equal(after, before, `${where}: a refused open changed the log`)
    ok++
  }
  const sizes = results.map((r) => r.lastBatch).sort((a, b) => a - b)
  console.log(
    `  ${ok} of ${LOGS} logs (${EVENTS} events each; records in the last batch: min ${sizes[0]}, median ${sizes[LOGS >> 1]}) refused by verifyLog, the CLI (exit 1) and open(), in ${Math.round(performance.now() - t0)} ms`,
  )
  assert.is(ok, LOGS)
  assert.is(clis, LOGS)
})

// ── finding 2 ───────────────────────────────────────────────────────────────

test('issue 14 finding 2: a CRC-valid change of the last segment salt is refused, never cut (sealed and unsealed, small and large segment)', async () => {
  // The CLI's verdicts are taken at the end, in one process (test/helpers/cli-many.ts).
  const verifies: { where: string; args: string[] }[] = []
  for (const events of [52, 3000]) {
    for (const sealed of [true, false]) {
      const dir = tempDir('v2-salt')
      const sink = await AuditSink.open({ dir })
      await Promise.all(Array.from({ length: events }, (_, i) => sink.emit(ev(i))))
      await sink.close()
      const file = path.join(dir, SEG1)
      if (!sealed) dropSeal(file)
      const b = fs.readFileSync(file)
      b[64 + Math.floor(rnd() * 8)]! ^= 1 << Math.floor(rnd() * 8) // a salt byte
      b.writeUInt32LE(crc32c(b, 0, 0, SEGMENT_HEADER_BYTES - 8), SEGMENT_HEADER_BYTES - 8) // header CRC made valid again
      fs.writeFileSync(file, b)
      const where = `${events} events, ${sealed ? 'sealed' : 'unsealed'}`
      const v = await verifyLog(dir)
      assert.is(v.ok, false, where)
      assert.is(v.tornTail, undefined, where)
      assert.equal([v.firstBad!.segment, v.firstBad!.offset, v.firstBad!.seq], [SEG1, SEGMENT_HEADER_BYTES, 1], where)
      verifies.push({ where, args: ['verify', dir, '--quiet'] })
      const before = snapshot(dir)
      const err = await refused(dir)
      assert.is(err?.code, 'ERR_AUDIT_CORRUPT', where)
      assert.equal(
        [err!.details.segment, err!.details.offset, err!.details.seq],
        [SEG1, SEGMENT_HEADER_BYTES, 1],
        where,
      )
      assert.equal(snapshot(dir), before, `${where}: nothing cut`)
    }
  }
  const cs = await cliMany(
    verifies.map((v) => v.args),
    path.join(tempDir('v2-salt-cli'), 'runs.json'),
  )
  for (const [k, { where }] of verifies.entries()) assert.is(cs[k]!.code, 1, `${where}: verify exit ${cs[k]!.code}`)
})

/**
 * The torn-write rule's prefix tear (a record cut where the written bytes
 * end) must hold only for a header the writer wrote. Found by the torture
 * runner's RandomCorruption (seed 1006149992): a sector of the same file
 * copied over the end of a closed log, from a sector boundary inside a
 * record's length field, left magic + foreign bytes, and their "length" ran
 * past the end of the file: verify took it for a torn tail and open() cut
 * the last batch (acknowledged events) with the seal.
 */
test('torn-write rule: foreign bytes from a sector edge inside a record header to the end of a closed log are damage, not a prefix tear', async () => {
  const dir = tempDir('v2-dup-sector')
  const sink = await AuditSink.open({ dir })
  await Promise.all(Array.from({ length: 3000 }, (_, i) => sink.emit(ev(i))))
  await sink.close()
  const file = path.join(dir, SEG1)
  const orig = fs.readFileSync(file)
  const recs = records(file)
  const batches = batchesOf(recs)
  assert.is(recs.at(-1)!.type, RecordType.SEAL)
  const [first, last] = batches.at(-2)! // the last batch of events; the seal's batch follows
  // Records of that batch whose length field starts at or after a sector boundary inside their magic..len.
  const cases = recs
    .slice(first, last + 1)
    .map((r) => ({ r, s: Math.ceil((r.off + 4) / 512) * 512 }))
    .filter(({ r, s }) => s <= r.off + 8)
  assert.ok(
    cases.length > 0,
    `no record of the last batch (${last - first + 1} records) has a sector edge in its length`,
  )
  // Foreign bytes: event JSON as a record's payload holds it, but no whole
  // record (a copied sector holding a whole record of another batch is
  // refused by rule 2 already; the torture case copied a sector with none).
  const junk = Buffer.from('{"@t":"2026-12-03T03:38:20.745Z","@mt":"Event {N}","N":1234},'.repeat(16384))
  for (const { r, s } of cases.slice(0, 4)) {
    const b = Buffer.from(orig)
    assert.ok(junk.length >= b.length - s, 'the foreign bytes reach the end of the file')
    junk.copy(b, s, 0, b.length - s)
    const junkLen = b.readUInt32LE(r.off + 8)
    const where = `record seq ${r.seq} at ${r.off}, sector ${s}.., junk length ${junkLen}`
    // What made the old rule accept it: the junk length reaches past the end of the file.
    assert.ok(r.off + RECORD_HEADER_BYTES + junkLen > b.length, `${where}: the case is not the one the rule missed`)
    fs.writeFileSync(file, b)
    const v = await verifyLog(dir)
    assert.is(v.ok, false, where)
    assert.is(v.tornTail, undefined, where)
    assert.equal([v.firstBad!.segment, v.firstBad!.offset, v.firstBad!.seq], [SEG1, r.off, r.seq], where)
    const before = snapshot(dir)
    const err = await refused(dir)
    assert.is(err?.code, 'ERR_AUDIT_CORRUPT', where)
    assert.equal([err!.details.segment, err!.details.offset], [SEG1, r.off], where)
    assert.equal(snapshot(dir), before, `${where}: nothing cut`)
  }
  fs.writeFileSync(file, orig)
  assert.ok((await verifyLog(dir)).ok, 'the log as written')
})

test('issue 14 finding 2: zeros over the last batch and the COMMIT record of the batch before it: refused, or the cut seqs become a gap and are never reused', async () => {
  // Batches framed as the writer frames them, after a real log: [.. 1..10 ..] [11..15] [16..20], unsealed
  // (a crash after the last batch was acknowledged). Zeros from the COMMIT record of [11..15] to the end of
  // the file start where a torn write of [11..15] could have ended: the rule cannot tell them from a tear.
  // Seqs 11..14 still check out in the cut bytes: a gap record covers them, and no event gets them again.
  // Seqs 15..20 left no trace on the device (docs/wal-format.md: a mirror or a checkpoint catches that).
  const dir = tempDir('v2-wipe')
  const sink = await AuditSink.open({ dir })
  await Promise.all(Array.from({ length: 10 }, (_, i) => sink.emit(ev(i))))
  await sink.close()
  const file = path.join(dir, SEG1)
  dropSeal(file)
  fs.appendFileSync(file, batchAfter(file, 5, RecordFlag.COMMIT))
  fs.appendFileSync(file, batchAfter(file, 5, RecordFlag.COMMIT))
  const recs = records(file)
  const commit15 = recs.find((r) => r.seq === 15)!
  assert.ok(commit15.flags & RecordFlag.COMMIT)
  const size = fs.statSync(file).size
  // Variant A: the zeros stop before the end: records of the last batch follow them. Refused, nothing changes.
  const a = tempDir('v2-wipe-a')
  fs.copyFileSync(file, path.join(a, SEG1))
  const bufA = fs.readFileSync(path.join(a, SEG1))
  bufA.fill(0, commit15.off, recs.find((r) => r.seq === 17)!.off)
  fs.writeFileSync(path.join(a, SEG1), bufA)
  const beforeA = snapshot(a)
  const errA = await refused(a)
  assert.is(errA?.code, 'ERR_AUDIT_CORRUPT')
  assert.is(errA!.details.seq, 15)
  assert.equal(snapshot(a), beforeA)
  assert.is((await verifyLog(a)).ok, false)
  // Variant B: zeros to the end of the file.
  const buf = fs.readFileSync(file)
  buf.fill(0, commit15.off, size)
  fs.writeFileSync(file, buf)
  const s2 = await AuditSink.open({ dir })
  const r = s2.openReport
  assert.equal(r.tornTail?.offset, recs.find((x) => x.seq === 11)!.off, 'the cut starts after the last whole batch')
  assert.is(r.resumedSeq, 10)
  assert.equal(r.gap, { fromSeq: 11, toSeq: 14 }, 'the seqs the device still shows')
  const next = await Promise.all(Array.from({ length: 5 }, (_, i) => s2.emit(ev(100 + i))))
  await s2.close()
  for (const x of next) assert.ok(x.seq > 14, `seq ${x.seq} handed out again`)
  const v = await verifyLog(dir)
  assert.ok(v.ok)
  assert.equal(
    v.gaps.map((g) => [g.fromSeq, g.toSeq]),
    [[11, 14]],
  )
  assert.equal(await eventSeqs(dir), [...Array.from({ length: 10 }, (_, i) => i + 1), ...next.map((x) => x.seq)])
})

// ── finding 3 ───────────────────────────────────────────────────────────────

test('issue 14 finding 3: readLog, replay, export and stats refuse a log whose first segment is gone or a middle one is missing (ERR_AUDIT_CORRUPT; export exits 1)', async () => {
  const src = tempDir('v2-missing-src')
  const sink = await AuditSink.open({ dir: src, ...SMALL })
  for (let i = 0; i < 40; i++)
    await Promise.all(Array.from({ length: 10 }, (_, k) => sink.emit(ev(i * 10 + k, { pad: 'p'.repeat(300) }))))
  await sink.close()
  const segs = ls(src).filter((n) => n.endsWith('.wal'))
  assert.ok(segs.length >= 3, `${segs.length} segments`)
  // The CLI runs are taken at the end, in one process (test/helpers/cli-many.ts); then each log is checked unchanged.
  const cases: { what: string; dir: string; out: string; before: ReturnType<typeof snapshot> }[] = []
  for (const [what, gone] of [
    ['first segment gone', segs[0]!],
    ['middle segment missing', segs[1]!],
  ] as const) {
    const dir = tempDir('v2-missing')
    fs.cpSync(src, dir, { recursive: true })
    fs.rmSync(path.join(dir, gone))
    const before = snapshot(dir)
    const corrupt = async (run: () => Promise<unknown>, who: string): Promise<void> => {
      let code = ''
      try {
        await run()
      } catch (err) {
        code = (err as { code: string }).code
      }
      assert.is(code, 'ERR_AUDIT_CORRUPT', `${what}: ${who}`)
    }
    await corrupt(async () => {
      for await (const _ of readLog(dir)) void _
    }, 'readLog')
    await corrupt(async () => {
      for await (const _ of readLog(dir, { fromSeq: 390 })) void _ // even when asked only for the end
    }, 'readLog fromSeq')
    await corrupt(async () => {
      for await (const _ of replay(dir)) void _
    }, 'replay')
    const out = path.join(tempDir('v2-missing-out'), 'x.jsonl')
    await corrupt(() => exportLog(dir, { format: 'jsonl', output: out }), 'exportLog')
    assert.not.ok(fs.existsSync(out), `${what}: export wrote a file`)
    const st = await logStats(dir)
    assert.is(st.ok, false, `${what}: stats`)
    assert.is(st.firstBad?.problem, 'missing-segment', `${what}: stats`)
    cases.push({ what, dir, out, before })
  }
  const commands = (dir: string, out: string): string[][] => [
    ['export', dir, '--format', 'jsonl', '-o', out, '--quiet'],
    ['replay', dir],
    ['stats', dir],
    ['verify', dir, '--quiet'],
  ]
  const cs = await cliMany(
    cases.flatMap((c) => commands(c.dir, c.out)),
    path.join(tempDir('v2-missing-cli'), 'runs.json'),
  )
  for (const [k, { what, dir, out, before }] of cases.entries()) {
    const [e, r, st, v] = cs.slice(4 * k, 4 * k + 4)
    assert.is(e!.code, 1, `${what}: export exit ${e!.code} ${e!.err}`)
    assert.match(e!.err, /ERR_AUDIT_CORRUPT/)
    assert.not.ok(fs.existsSync(out))
    assert.is(r!.code, 1, `${what}: replay`)
    assert.is(st!.code, 1, `${what}: stats`)
    assert.is(v!.code, 1, `${what}: verify`)
    assert.equal(snapshot(dir), before)
  }
})

// ── finding 8 ───────────────────────────────────────────────────────────────

test('issue 14 finding 8: a torn tail whose records check out is cut, a gap record covers them, and the next seq is past them; again after a crash between the cut and the gap (side files) and after a second cut', async () => {
  const dir = tempDir('v2-reuse')
  const sink = await AuditSink.open({ dir })
  await Promise.all(Array.from({ length: 20 }, (_, i) => sink.emit(ev(i))))
  await sink.close()
  const file = path.join(dir, SEG1)
  dropSeal(file)
  fs.appendFileSync(file, batchAfter(file, 3, 0)) // seqs 21..23: whole records of a batch that never got its COMMIT
  // A copy in which a first open cut the tail and crashed before writing its gap: the side file is all that is left.
  const crashed = tempDir('v2-reuse-crashed')
  fs.copyFileSync(file, path.join(crashed, SEG1))
  const cutAt = records(file).find((r) => r.seq === 21)!.off
  const whole = fs.readFileSync(file)
  fs.writeFileSync(path.join(crashed, `${SEG1}.torn-1700000000000`), whole.subarray(cutAt))
  fs.truncateSync(path.join(crashed, SEG1), cutAt)

  for (const [what, d] of [
    ['cut now', dir],
    ['cut earlier, side file only', crashed],
  ] as const) {
    const s = await AuditSink.open({ dir: d })
    assert.is(s.openReport.resumedSeq, 20, what)
    assert.equal(s.openReport.gap, { fromSeq: 21, toSeq: 23 }, what)
    const got = (await s.emit(ev(99))).seq
    await s.close()
    assert.is(got, 25, `${what}: gap 21..23, the seal 24, then this event`)
    const v = await verifyLog(d)
    assert.ok(v.ok, what)
    assert.equal(
      v.gaps.map((g) => [g.fromSeq, g.toSeq]),
      [[21, 23]],
      what,
    )
    assert.equal(await eventSeqs(d), [...Array.from({ length: 20 }, (_, i) => i + 1), 25], what)
  }

  // A second crash, in the segment the last open began: its torn batch is cut too, and its seqs become a gap.
  const seg2 = ls(dir)
    .filter((n) => n.endsWith('.wal'))
    .at(-1)!
  assert.is(seg2, segmentFileName(25))
  const file2 = path.join(dir, seg2)
  dropSeal(file2)
  fs.appendFileSync(file2, batchAfter(file2, 2, 0)) // seqs 26..27
  const s3 = await AuditSink.open({ dir })
  assert.is(s3.openReport.resumedSeq, 25)
  assert.equal(s3.openReport.gap, { fromSeq: 26, toSeq: 27 })
  assert.is(ls(dir).filter((n) => n.includes('.torn-')).length, 2, 'both cuts kept')
  const got = (await s3.emit(ev(100))).seq
  await s3.close()
  assert.is(got, 29)
  const v = await verifyLog(dir)
  assert.ok(v.ok)
  assert.equal(
    v.gaps.map((g) => [g.fromSeq, g.toSeq]),
    [
      [21, 23],
      [26, 27],
    ],
  )
  assert.equal(await eventSeqs(dir), [...Array.from({ length: 20 }, (_, i) => i + 1), 25, 29])
  const all: number[] = []
  for await (const r of readLog(dir, { records: true })) all.push(r.seq, r.kind === 'event' ? r.seq : r.lastSeq)
  for (let i = 2; i < all.length; i += 2) assert.is(all[i], all[i - 1]! + 1, 'seq ranges contiguous: no seq twice')
})

test.run()
