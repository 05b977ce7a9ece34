// Reading a log while its writer appends (docs/operations.md, "Reading a live
// log"). A read racing the writer's write() can see a later part of the batch
// being written before an earlier one: a zero run in the middle of the batch,
// at no sector edge, with whole records of the same batch after it. The
// torn-write rule calls that picture damage, and it was: CI saw `verify`
// beside a live writer exit 1 once (test/cli/cli.test.ts "verify beside a
// live writer"). When a live writer holds the lock, the reader now walks a
// damaged tail again after a pause and judges what it reads then; a log
// nobody holds is judged on one walk.
//
// The interleaving is forced, not hoped for: the log is real and live (its
// writer idle, its lock held), the racing read's picture is made by zeroing
// part of the last batch in the file, and the writer "finishing its write" is
// the bytes put back during the reader's pause, through the reader's one test
// seam (tailRecheck.pause).
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import fs from 'node:fs'
import path from 'node:path'
import { AuditError, AuditSink, readLog, verifyLog } from '../../lib/index.js'
import { readRecords, tailRecheck } from '../../lib/read/reader.js'
import { SECTOR_BYTES } from '../../shared/scan.js'
import { FIXED } from '../../shared/limits.js'
import { segmentFileName } from '../../shared/format.js'
import { ev, tempDir } from '../helpers/dirs.js'

const BATCHES = 3
const PER_BATCH = 20

/**
 * A live log of three batches, and a stretch inside its last batch that
 * starts and ends away from any sector edge (what a racing read may see as
 * zeros), with the file's true bytes there.
 */
async function liveLog(label: string) {
  const dir = tempDir(label)
  const sink = await AuditSink.open({ dir })
  for (let b = 0; b < BATCHES; b++)
    await Promise.all(Array.from({ length: PER_BATCH }, (_, k) => sink.emit(ev(b * PER_BATCH + k))))
  const offsets = new Map<number, number>()
  for await (const r of readRecords(dir)) offsets.set(r.seq, r.offset)
  const lastBatch = offsets.get((BATCHES - 1) * PER_BATCH + 1)!
  const lastRecord = offsets.get(BATCHES * PER_BATCH)!
  // From 200 bytes past a sector edge, 1,000 bytes: neither end is within
  // RECORD_ZERO_RUN_MAX of an edge, so the torn-write rule cannot call it lost sectors.
  let from = Math.ceil((lastBatch + 64) / SECTOR_BYTES) * SECTOR_BYTES + 200
  if (from - SECTOR_BYTES >= lastBatch + 64) from -= SECTOR_BYTES
  // The bytes kept to put back: the stretch and the one the third test zeroes (600 bytes on, 500 long).
  const to = from + 1100
  assert.ok(
    to < lastRecord,
    `the stretch [${from}, ${to}) lies inside the last batch, before seq ${BATCHES * PER_BATCH}`,
  )
  const file = path.join(dir, segmentFileName(1))
  const truth = fs.readFileSync(file).subarray(from, to)
  const put = (bytes: Buffer, at: number): void => {
    const fd = fs.openSync(file, 'r+')
    try {
      fs.writeSync(fd, bytes, 0, bytes.length, at)
    } finally {
      fs.closeSync(fd)
    }
  }
  /** Zeros over n bytes from `from + skip` (inside the kept stretch). */
  const zero = (skip: number, n: number): void => put(Buffer.alloc(n), from + skip)
  return {
    dir,
    sink,
    /** The picture a read racing the last batch's write() may see. */
    race: () => zero(0, 1000),
    /** Another such picture, 600 bytes on. */
    raceLater: () => zero(600, 500),
    /** The write finished. */
    finish: () => put(truth, from),
    from,
  }
}

type LiveLog = Awaited<ReturnType<typeof liveLog>>

/**
 * Run body on a fresh live log; then put its bytes right, close the sink and
 * check that the log as written verifies (the picture was only ever a picture).
 */
async function onLiveLog(label: string, body: (log: LiveLog) => Promise<void>): Promise<void> {
  const log = await liveLog(label)
  try {
    await body(log)
  } finally {
    log.finish()
    await log.sink.close()
  }
  assert.is((await verifyLog(log.dir)).ok, true, 'the log as written verifies')
}

/** Run f with tailRecheck.pause replaced by `pause` (counting its calls); the real pause is put back after. */
async function withPause<T>(pause: () => void, f: () => Promise<T>): Promise<{ value: T; pauses: number }> {
  const real = tailRecheck.pause
  let pauses = 0
  tailRecheck.pause = async () => {
    pauses++
    pause()
  }
  try {
    return { value: await f(), pauses }
  } finally {
    tailRecheck.pause = real
  }
}

async function readAll(dir: string): Promise<number[] | AuditError> {
  const seqs: number[] = []
  try {
    for await (const r of readLog(dir)) seqs.push(r.seq)
    return seqs
  } catch (err) {
    if (err instanceof AuditError) return err
    throw err
  }
}

const ALL = Array.from({ length: BATCHES * PER_BATCH }, (_, i) => i + 1)

test('a read that raced the last write is walked again: verify and readLog see the finished batch', async () => {
  await onLiveLog('live-race', async (log) => {
    log.race()
    const v = await withPause(log.finish, () => verifyLog(log.dir))
    assert.is(v.pauses, 1, 'one more walk')
    assert.is(v.value.ok, true, JSON.stringify(v.value.firstBad))
    assert.is(v.value.events, BATCHES * PER_BATCH)
    assert.is(v.value.firstBad, undefined)

    log.race()
    const r = await withPause(log.finish, () => readAll(log.dir))
    assert.is(r.pauses, 1)
    assert.equal(r.value, ALL)
  })
})

test('damage that reads the same on the second walk stands: segment, offset and seq', async () => {
  await onLiveLog('live-damage', async (log) => {
    log.race()
    const v = await withPause(
      () => {},
      () => verifyLog(log.dir),
    )
    assert.is(v.pauses, 1, 'the second walk read the same, so no third')
    assert.is(v.value.ok, false)
    const bad = v.value.firstBad!
    assert.is(bad.segment, segmentFileName(1))
    assert.ok(bad.offset <= log.from, `reported at ${bad.offset}, at or before the zeroed bytes at ${log.from}`)
    assert.ok(
      bad.seq > (BATCHES - 1) * PER_BATCH && bad.seq <= BATCHES * PER_BATCH,
      `seq ${bad.seq} is in the last batch`,
    )

    const r = await withPause(
      () => {},
      () => readAll(log.dir),
    )
    assert.instance(r.value, AuditError)
    assert.is((r.value as AuditError).code, 'ERR_AUDIT_CORRUPT')
    assert.is(r.pauses, 1)

    // The real pause, too: the damage is still there after it.
    const real = await verifyLog(log.dir)
    assert.equal(real.firstBad, bad)
  })
})

test('a tail that changes on every walk is walked at most tailRecheckWalksMax times; the last finding stands', async () => {
  await onLiveLog('live-moving', async (log) => {
    log.race()
    // Each pause puts the last picture right and zeroes another stretch
    // (600 bytes on, again away from sector edges): every walk finds damage,
    // each at another place than the walk before.
    let moved = false
    const move = (): void => {
      log.finish()
      moved = !moved
      if (moved) log.raceLater()
      else log.race()
    }
    const v = await withPause(move, () => verifyLog(log.dir))
    assert.is(v.pauses, FIXED.tailRecheckWalksMax - 1)
    assert.is(v.value.ok, false)
  })
})

test('a log no live writer holds is judged on one walk: the same picture is damage at once', async () => {
  const log = await liveLog('live-closed')
  await log.sink.close() // the lock goes, a seal follows the last batch
  log.race()
  const v = await withPause(log.finish, () => verifyLog(log.dir))
  assert.is(v.pauses, 0, 'not walked again')
  assert.is(v.value.ok, false)
  assert.is(v.value.firstBad!.segment, segmentFileName(1))
  log.finish()
  assert.is((await verifyLog(log.dir)).ok, true)
})

test.run()
