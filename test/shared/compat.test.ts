// Format compatibility: real WAL directories written by the v1 writer
// (test/fixtures/v1/, made by test/fixtures/make-v1.ts) must keep opening,
// reading and verifying exactly as test/fixtures/v1/expected.json says, in
// every later release. Every test works on a fresh copy; the fixtures are
// never modified. Today's writer writes format v2: opening a v1 log leaves
// its segments as they are and starts a v2 segment after them (v1 has no
// seal; docs/wal-format.md section 0), and close() ends it with a seal record,
// which takes a seq. One expectation changed with v2 itself: future-version/
// says version 2, no longer a future version (see its test).
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import fs from 'node:fs'
import path from 'node:path'
import { createHash } from 'node:crypto'
import { fileURLToPath } from 'node:url'
import { AuditSink, readLog, verifyLog, type LogRecord } from '../../lib/index.js'
import {
  decodeSegmentHeader,
  encodeSegmentHeader,
  RecordFlag,
  SEGMENT_HEADER_BYTES,
  segmentFileName,
} from '../../shared/format.js'
import { crc32c } from '../../shared/crc32c.js'
import { scanSegment, START } from '../../shared/scan.js'
import { ls, snapshot, tempDir } from '../helpers/dirs.js'

const FIXTURES = fileURLToPath(new URL('../../../test/fixtures/v1/', import.meta.url))

interface Spot {
  segment: string
  offset: number
  seq: number
  problem: string
}
interface Verify {
  ok: boolean
  records: number
  firstSeq: number
  lastSeq: number
  firstBad: Spot | null
  tornTail: { segment: string; offset: number; bytes: number } | null
}
interface Files {
  [name: string]: { bytes: number; sha256: string }
}
interface Expected {
  format: number
  options: { segmentBytesMax: number; batchBytesMax: number; eventBytesMax: number; ringBytes: number }
  events: { seq: number; timestamp: string; level: string; messageTemplate: string; segment: string; digest: string }[]
  clean: {
    files: Files
    segments: { name: string; firstSeq: number; lastSeq: number; records: number; batches: [number, number][] }[]
    verify: Verify
  }
  'torn-tail': { files: Files; tornRecord: { seq: number; len: number; keptBytes: number }; verify: Verify }
  'bit-flip': {
    files: Files
    verify: Verify
    readLog: { yieldsThroughSeq: number; code: string }
    open: { code: string; details: Spot }
  }
  'future-version': { files: Files; open: { code: string; details: { segment: string; version: number } } }
}
const expected = JSON.parse(fs.readFileSync(path.join(FIXTURES, 'expected.json'), 'utf8')) as Expected
const FIXTURE_NAMES = ['clean', 'torn-tail', 'bit-flip', 'future-version'] as const

/** A fresh copy of a fixture directory in os.tmpdir(). */
function copy(name: (typeof FIXTURE_NAMES)[number]): string {
  const dir = tempDir(`compat-${name}`)
  fs.cpSync(path.join(FIXTURES, name), dir, { recursive: true })
  return dir
}

const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex')

/** Keys sorted at every level (the generator's digest does the same, independently). */
function canonical(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(canonical)
  if (v !== null && typeof v === 'object') {
    return Object.fromEntries(
      Object.keys(v)
        .sort()
        .map((k) => [k, canonical((v as Record<string, unknown>)[k])]),
    )
  }
  return v
}
function digest(r: LogRecord): string {
  const body: Record<string, unknown> = {
    timestamp: r.timestamp.toISOString(),
    level: r.event.level,
    messageTemplate: r.event.messageTemplate,
    properties: r.event.properties,
  }
  if (r.event.exception !== undefined) body.exception = r.event.exception
  return sha256(Buffer.from(JSON.stringify(canonical(body))))
}

async function readAll(dir: string, opts: { fromSeq?: number; toSeq?: number } = {}): Promise<LogRecord[]> {
  const out: LogRecord[] = []
  for await (const r of readLog(dir, opts)) out.push(r)
  return out
}

/** Records read back must be the generator's events, in order, with the same content. */
function assertEvents(got: LogRecord[], want: Expected['events']): void {
  assert.equal(
    got.map((r) => r.seq),
    want.map((e) => e.seq),
    'seqs',
  )
  got.forEach((r, k) => {
    const e = want[k]!
    assert.is(r.segment, e.segment, `segment of seq ${e.seq}`)
    assert.is(r.timestamp.toISOString(), e.timestamp, `timestamp of seq ${e.seq}`)
    assert.is(r.event.level, e.level, `level of seq ${e.seq}`)
    assert.is(r.event.messageTemplate, e.messageTemplate, `template of seq ${e.seq}`)
    assert.is(digest(r), e.digest, `content of seq ${e.seq}: ${JSON.stringify(r.event).slice(0, 200)}`)
  })
}

async function rejection(
  p: Promise<unknown>,
): Promise<{ code: string; details: Record<string, unknown>; message: string }> {
  try {
    await p
  } catch (err) {
    return err as { code: string; details: Record<string, unknown>; message: string }
  }
  throw new Error('expected a rejection, got success')
}

async function openAndClose(dir: string): Promise<void> {
  const s = await AuditSink.open({ dir })
  await s.close()
}

function verifyShape(v: Awaited<ReturnType<typeof verifyLog>>): Verify {
  return {
    ok: v.ok,
    records: v.records,
    firstSeq: v.firstSeq as number,
    lastSeq: v.lastSeq as number,
    firstBad:
      v.firstBad === undefined
        ? null
        : { segment: v.firstBad.segment, offset: v.firstBad.offset, seq: v.firstBad.seq, problem: v.firstBad.problem },
    tornTail: v.tornTail ?? null,
  }
}

// ── the fixtures themselves ─────────────────────────────────────────────────

test('the fixture files are byte-identical to what expected.json recorded (edited, re-encoded or regenerated)', () => {
  assert.is(expected.format, 1)
  for (const name of FIXTURE_NAMES) {
    const dir = path.join(FIXTURES, name)
    const files = expected[name].files
    assert.equal(ls(dir), Object.keys(files).sort(), `${name}/ listing`)
    for (const [f, facts] of Object.entries(files)) {
      const b = fs.readFileSync(path.join(dir, f))
      assert.is(b.length, facts.bytes, `${name}/${f} size`)
      assert.is(sha256(b), facts.sha256, `${name}/${f} sha256`)
    }
  }
  assert.is(expected.events.length, 50)
  assert.ok(expected.clean.segments.length >= 3, 'clean/ spans at least 3 segments')
})

// ── clean/ ──────────────────────────────────────────────────────────────────

test('clean: verifyLog reports every record intact, no damage, no torn tail', async () => {
  const dir = copy('clean')
  const v = await verifyLog(dir)
  assert.equal(verifyShape(v), expected.clean.verify)
  assert.is(v.segments, expected.clean.segments.length)
  assert.equal(v.sideFiles, [])
  assert.is(v.firstTime, expected.events[0]!.timestamp)
  assert.is(v.lastTime, expected.events.at(-1)!.timestamp)
})

test('clean: readLog returns every event the generator wrote, in order, with the same content', async () => {
  assertEvents(await readAll(copy('clean')), expected.events)
})

test('clean: readLog from the middle of one segment to the middle of a later one starts from that segment header', async () => {
  const [s1, s2] = expected.clean.segments
  const fromSeq = s1!.lastSeq - 2
  const toSeq = s2!.lastSeq + 2
  assertEvents(
    await readAll(copy('clean'), { fromSeq, toSeq }),
    expected.events.filter((e) => e.seq >= fromSeq && e.seq <= toSeq),
  )
})

test('clean: segment boundaries, hash links between segments and batch COMMITs are where the writer put them', () => {
  const dir = copy('clean')
  let prev: { seq: number; hash: Buffer } = START
  for (const seg of expected.clean.segments) {
    const buf = fs.readFileSync(path.join(dir, seg.name))
    const commits: number[] = []
    const sc = scanSegment(buf, prev, 64 * 1024 * 1024, (r) => {
      if (r.flags & RecordFlag.COMMIT) commits.push(r.seq)
    })
    if ('problem' in sc) throw new Error(`${seg.name}: header ${sc.problem}`)
    assert.is(sc.stop, undefined, seg.name)
    assert.is(sc.header.firstSeq, seg.firstSeq)
    assert.is(sc.records, seg.records)
    assert.is(sc.commitEnd, buf.length)
    assert.equal(
      commits,
      seg.batches.map((b) => b[1]),
      `${seg.name} batch ends`,
    )
    prev = { seq: sc.commitSeq, hash: sc.commitHash }
  }
  assert.is(prev.seq, 50)
  assert.ok(
    expected.clean.segments.some((s) => s.batches.some(([a, b]) => b > a)),
    'some batch holds several records',
  )
})

test('clean: AuditSink.open continues the log at seq 51 in a new v2 segment and leaves every v1 byte as it was', async () => {
  const dir = copy('clean')
  const before = snapshot(dir)
  const sink = await AuditSink.open({ dir, ...expected.options })
  try {
    const { locks, logId, ...report } = sink.openReport
    // The log id of a log that began as v1 is made at its first v2 open: random, 16 bytes in hex.
    assert.match(logId, /^[0-9a-f]{32}$/)
    assert.equal(report, {
      lastSeq: 50,
      resumedSeq: 50,
      gap: undefined,
      segments: expected.clean.segments.length + 1, // the v1 ones, and the v2 segment this session writes
      tornTail: undefined,
      zeroTail: undefined,
      removedTmp: [],
      mirror: undefined,
    })
    assert.is(locks.length, 1)
    const r = await sink.emit({
      timestamp: 1_800_000_000_000,
      level: 'Information',
      messageTemplate: 'after {N}',
      properties: { N: 51 },
    })
    assert.is(r.seq, 51)
  } finally {
    await sink.close()
  }
  for (const [name, bytes] of before) {
    const now = fs.readFileSync(path.join(dir, name))
    assert.ok(now.equals(bytes), `${name} was changed (a v1 segment is left as it is)`)
  }
  const added = ls(dir).filter((n) => !before.has(n))
  assert.equal(added, [segmentFileName(51)])
  const h = decodeSegmentHeader(fs.readFileSync(path.join(dir, added[0]!)).subarray(0, SEGMENT_HEADER_BYTES))
  assert.is('problem' in h ? h.problem : h.version, 2)
  const v = await verifyLog(dir)
  assert.ok(v.ok)
  assert.is(v.lastSeq, 52, 'seq 51 and the seal of close()')
  assert.is(v.events, 51)
  assert.ok(v.sealed)
  const all = await readAll(dir)
  assertEvents(all.slice(0, 50), expected.events)
  assert.is(all[50]!.event.messageTemplate, 'after {N}')
})

// ── torn-tail/ ──────────────────────────────────────────────────────────────

test('torn-tail: verifyLog reports the torn tail but no damage, and readLog stops before it', async () => {
  const dir = copy('torn-tail')
  const want = expected['torn-tail']
  assert.equal(verifyShape(await verifyLog(dir)), want.verify)
  assertEvents(await readAll(dir), expected.events)
  assert.equal(snapshot(dir), snapshot(path.join(FIXTURES, 'torn-tail')), 'readers changed the directory')
})

test('torn-tail: AuditSink.open cuts the torn record into a side file, reports it, and appends seq 51 in its place', async () => {
  const dir = copy('torn-tail')
  const want = expected['torn-tail'].verify.tornTail!
  const segFile = path.join(dir, want.segment)
  const original = fs.readFileSync(segFile)
  const sink = await AuditSink.open({ dir, ...expected.options })
  const torn = sink.openReport.tornTail
  try {
    assert.ok(torn, 'no torn tail reported')
    assert.is(torn.segment, want.segment)
    assert.is(torn.offset, want.offset)
    assert.is(torn.bytes, want.bytes)
    assert.match(torn.sideFile, new RegExp(`^${want.segment.replace('.', '\\.')}\\.torn-\\d+(-\\d+)?$`))
    assert.is(sink.openReport.lastSeq, 50)
    assert.ok(
      fs.readFileSync(path.join(dir, torn.sideFile)).equals(original.subarray(want.offset)),
      'side file holds exactly the cut bytes',
    )
    assert.is(fs.statSync(segFile).size, want.offset, 'segment truncated at the last COMMIT')
    assert.is(
      (await sink.emit({ timestamp: 1_800_000_000_000, level: 'Warning', messageTemplate: 'replaces the torn one' }))
        .seq,
      51,
    )
  } finally {
    await sink.close()
  }

  const v = await verifyLog(dir)
  assert.ok(v.ok)
  assert.is(v.records, 52, '51 events and the seal of close()')
  assert.is(v.events, 51)
  assert.ok(v.sealed)
  assert.equal(v.gaps, [], 'the torn record never checked out: no seq of it was used')
  assert.is(v.tornTail, undefined)
  assert.equal(v.sideFiles, [torn.sideFile])
  const all = await readAll(dir)
  assertEvents(all.slice(0, 50), expected.events)
  assert.is(all[50]!.event.messageTemplate, 'replaces the torn one')

  const again = await AuditSink.open({ dir })
  const report = again.openReport
  await again.close()
  assert.is(report.tornTail, undefined, 'a second open cut again')
  assert.is(report.lastSeq, 52)
  assert.is(report.gap, undefined)
})

// ── bit-flip/ ───────────────────────────────────────────────────────────────

test('bit-flip: verifyLog names the damaged record (segment, offset, seq, problem)', async () => {
  const dir = copy('bit-flip')
  const v = await verifyLog(dir)
  assert.equal(verifyShape(v), expected['bit-flip'].verify)
  assert.match(v.firstBad!.message, /checksum/)
})

test('bit-flip: readLog yields the intact earlier segments, then throws ERR_AUDIT_CORRUPT naming segment, offset and seq', async () => {
  const dir = copy('bit-flip')
  const want = expected['bit-flip']
  const got: LogRecord[] = []
  const err = await rejection(
    (async () => {
      for await (const r of readLog(dir)) got.push(r)
    })(),
  )
  assert.is(err.code, want.readLog.code)
  assert.equal(err.details, want.open.details)
  assertEvents(
    got,
    expected.events.filter((e) => e.seq <= want.readLog.yieldsThroughSeq),
  )
})

test('bit-flip: AuditSink.open refuses with ERR_AUDIT_CORRUPT {segment, offset, seq} and changes nothing', async () => {
  const dir = copy('bit-flip')
  const before = snapshot(dir)
  const want = expected['bit-flip'].open
  const err = await rejection(openAndClose(dir))
  assert.is(err.code, want.code)
  assert.is(err.details.segment, want.details.segment)
  assert.is(err.details.offset, want.details.offset)
  assert.is(err.details.seq, want.details.seq)
  assert.is(err.details.problem, want.details.problem)
  assert.ok(
    err.message.includes(want.details.segment) &&
      err.message.includes(`offset ${want.details.offset}`) &&
      err.message.includes(`seq ${want.details.seq}`),
    err.message,
  )
  assert.equal(snapshot(dir), before, 'a refused open changed the directory')
})

test('a flipped bit in a sealed (earlier) segment of the clean log: verifyLog and open both name it', async () => {
  const dir = copy('clean')
  const seg = expected.clean.segments[0]!
  const file = path.join(dir, seg.name)
  const buf = fs.readFileSync(file)
  // Walk record lengths to the 5th record and flip a payload bit.
  let off = 80
  for (let k = 0; k < 4; k++) off += 64 + buf.readUInt32LE(off + 8)
  buf[off + 64 + 100]! ^= 0x01
  fs.writeFileSync(file, buf)
  const bad = { segment: seg.name, offset: off, seq: seg.firstSeq + 4, problem: 'checksum' }
  const v = await verifyLog(dir)
  assert.is(v.ok, false)
  assert.equal(verifyShape(v).firstBad, bad)
  const before = snapshot(dir)
  const err = await rejection(openAndClose(dir))
  assert.is(err.code, 'ERR_AUDIT_CORRUPT')
  assert.equal(
    { segment: err.details.segment, offset: err.details.offset, seq: err.details.seq, problem: err.details.problem },
    bad,
  )
  assert.equal(snapshot(dir), before, 'a refused open changed the directory')
})

// ── future-version/ ─────────────────────────────────────────────────────────

// The fixture was made when 2 was a future version: a v1 (80-byte) header that
// says version 2, its CRC valid. Since this code reads format v2, that header
// is a v2 header of the wrong layout: damage, refused everywhere, never read.
// expected.json keeps what it was made for; the refusal of a version this code
// does not know is checked below with a header that says version 3.
test('future-version: the v1 header that says version 2 is refused by verifyLog, readLog and AuditSink.open; nothing changes', async () => {
  const dir = copy('future-version')
  const before = snapshot(dir)
  const segment = expected['future-version'].open.details.segment
  const v = await verifyLog(dir)
  assert.is(v.ok, false)
  assert.equal(verifyShape(v).firstBad, { segment, offset: 0, seq: 1, problem: 'header' })
  const read = await rejection(readAll(dir))
  assert.is(read.code, 'ERR_AUDIT_CORRUPT')
  assert.equal([read.details.segment, read.details.offset], [segment, 0])
  const open = await rejection(openAndClose(dir))
  assert.is(open.code, 'ERR_AUDIT_CORRUPT')
  assert.equal([open.details.segment, open.details.offset, open.details.problem], [segment, 0, 'layout'])
  assert.equal(snapshot(dir), before, 'refusing changed the directory')
})

test('an intact header of version 3: verifyLog, readLog and AuditSink.open refuse ERR_AUDIT_VERSION_UNSUPPORTED naming segment and version', async () => {
  const dir = tempDir('compat-v3')
  const sink = await AuditSink.open({ dir })
  await sink.emit({ level: 'Information', messageTemplate: 'from the future' })
  await sink.close()
  const name = segmentFileName(1)
  const b = fs.readFileSync(path.join(dir, name))
  b.writeUInt16LE(3, 8)
  b.writeUInt32LE(crc32c(b, 0, 0, SEGMENT_HEADER_BYTES - 8), SEGMENT_HEADER_BYTES - 8)
  fs.writeFileSync(path.join(dir, name), b)
  const before = snapshot(dir)
  const calls: [string, () => Promise<unknown>][] = [
    ['verifyLog', () => verifyLog(dir)],
    ['readLog', () => readAll(dir)],
    ['AuditSink.open', () => openAndClose(dir)],
  ]
  for (const [who, call] of calls) {
    const err = await rejection(call())
    assert.is(err.code, 'ERR_AUDIT_VERSION_UNSUPPORTED', who)
    assert.is(err.details.segment, name, who)
    assert.is(err.details.version, 3, who)
  }
  assert.equal(snapshot(dir), before, 'refusing changed the directory')
  // A v1-layout header that says 3 (the shape of future-version/, one version on) is refused the same way.
  const v1 = encodeSegmentHeader({ firstSeq: 1, createdMs: 0, chainStart: Buffer.alloc(32), salt: Buffer.alloc(8) }, 1)
  v1.writeUInt16LE(3, 8)
  v1.writeUInt32LE(crc32c(v1, 0, 0, 72), 72)
  assert.equal(decodeSegmentHeader(v1), { problem: 'version', version: 3 })
})

// ── found while writing these tests (core bug; see docs/wal-format.md §13) ──

// Recovery checks record lengths against the eventBytesMax of the sink that is
// opening, readers against 64 MiB. A log written with a larger eventBytesMax
// then looks damaged to recovery: acknowledged records in the last segment are
// cut as a "torn tail" (moved to a side file, seqs reused), and an earlier
// segment makes open refuse a healthy log as ERR_AUDIT_CORRUPT.
test('reopening with a smaller eventBytesMax keeps every acknowledged record (no cut, no refusal)', async () => {
  const dir = tempDir('compat-shrink')
  const first = await AuditSink.open({ dir })
  let big: { seq: number }
  try {
    await first.emit({ level: 'Information', messageTemplate: 'small' })
    big = await first.emit({
      level: 'Information',
      messageTemplate: 'big {Blob}',
      properties: { Blob: 'x'.repeat(2000) },
    })
  } finally {
    await first.close()
  }
  assert.is(big.seq, 2)
  const reopened = await AuditSink.open({ dir, eventBytesMax: 1024 })
  const report = reopened.openReport
  await reopened.close()
  assert.is(report.tornTail, undefined, `acknowledged seq 2 was cut as a torn tail: ${JSON.stringify(report.tornTail)}`)
  assert.is(report.resumedSeq, 3, 'seq 1, seq 2 and the seal of close()')
  assert.is(report.lastSeq, 3)

  const clean = copy('clean') // written with eventBytesMax 8192, events of ~3 KiB
  const err = await AuditSink.open({ dir: clean, eventBytesMax: 1024 }).then(
    (s) => s.close(),
    (e: unknown) => e as { code: string; message: string },
  )
  assert.is(err, undefined, `a healthy log was refused: ${(err as { message?: string } | undefined)?.message}`)
})

// docs/errors.md promises details.problem on every ERR_AUDIT_CORRUPT; recovery's
// "segment file name does not match its header" refusal leaves it out.
test('a segment renamed away from its header firstSeq is refused with segment, offset, seq and problem', async () => {
  const dir = copy('clean')
  const seg = expected.clean.segments[1]!
  const renamed = `${String(seg.firstSeq + 1).padStart(20, '0')}.wal`
  fs.renameSync(path.join(dir, seg.name), path.join(dir, renamed))
  const v = await verifyLog(dir)
  assert.is(v.ok, false)
  assert.is(v.firstBad?.segment, renamed)
  const err = await rejection(openAndClose(dir))
  assert.is(err.code, 'ERR_AUDIT_CORRUPT')
  assert.is(err.details.segment, renamed)
  assert.is(err.details.offset, 0)
  assert.is(typeof err.details.seq, 'number')
  assert.is(typeof err.details.problem, 'string', `details: ${JSON.stringify(err.details)}`)
})

test.run()
