// Salvage reads each copy of a segment through a bounded window (shared/bytes.ts),
// never whole (issue 14): for a log and its mirror, damaged in seeded ways
// (flipped bits, zeroed sectors, cuts, appended zeros, a deleted segment, a
// damaged header), salvage through windows far smaller than a record gives
// exactly what one window holding the whole file gives: the same records (and
// payloads), lost ranges, skips, repairs, tails and errors. A segment's copies
// are open only while its result is the current one: they are closed when the
// generator goes on, stops early or fails, and a record read (or the items
// iterated) after that is refused. Replay a failure with SALVAGE_SEED=<seed> (printed below).
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import crypto from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'
import { AuditError, AuditSink, payloadOf, salvageSegments } from '../../lib/index.js'
import { salvageDirs, type SegmentResult } from '../../lib/read/salvage.js'
import { SECTOR_BYTES } from '../../shared/scan.js'
import { copyDir, segmentsOf } from '../helpers/cli-run.js'
import { tempDir } from '../helpers/dirs.js'
import { mulberry32, seedFrom } from '../helpers/load.js'

const seed = seedFrom('SALVAGE_SEED')
console.log(`salvage seed=${seed} (replay with SALVAGE_SEED=${seed})`)
const rnd = mulberry32(seed)
const int = (lo: number, hi: number): number => lo + Math.floor(rnd() * (hi - lo + 1))

const OPTS = { segmentBytesMax: 64 * 1024, batchBytesMax: 16 * 1024, eventBytesMax: 4096 }
/** One window that holds any segment of OPTS whole: what reading the whole file gave. */
const WHOLE = 1024 * 1024

/** A log and its mirror, several segments, events of 0 to ~2,900 bytes (most records larger than the small windows). */
async function writePair(): Promise<{ a: string; b: string }> {
  const root = tempDir('salvage-window')
  const a = path.join(root, 'a')
  const b = path.join(root, 'b')
  const sink = await AuditSink.open({ dir: a, mirror: b, ...OPTS })
  for (let round = 0; round < 10; round++) {
    await Promise.all(
      Array.from({ length: 15 }, (_, k) =>
        sink.emit({
          level: 'Information',
          messageTemplate: 'Pad {P}',
          properties: { P: 'p'.repeat((round * 977 + k * 131) % 2900) },
        }),
      ),
    )
  }
  await sink.close()
  return { a, b }
}

/** One seeded change of one segment file of dir; returns what it did. */
function mutate(dir: string): string {
  const names = segmentsOf(dir)
  if (names.length === 0) return 'no segment left'
  const name = names[int(0, names.length - 1)]!
  const file = path.join(dir, name)
  let buf = fs.readFileSync(file)
  const kind = int(0, 6)
  let what: string
  if (kind === 0 && buf.length > 200) {
    const at = int(100, buf.length - 1)
    buf = buf.subarray(0, at)
    what = `cut at ${at}`
  } else if (kind === 1) {
    const n = int(1, 3) * SECTOR_BYTES
    const at = Math.floor(int(0, Math.max(0, buf.length - n)) / SECTOR_BYTES) * SECTOR_BYTES
    buf.fill(0, at, Math.min(buf.length, at + n))
    what = `zero [${at}, ${at + n})`
  } else if (kind === 2) {
    const n = int(1, 9000)
    buf = Buffer.concat([buf, Buffer.alloc(n)])
    what = `append ${n} zeros`
  } else if (kind === 3) {
    const at = int(0, 127)
    buf[at] = buf[at]! ^ (1 << int(0, 7))
    what = `flip a header bit at ${at}`
  } else if (kind === 4 && names.length > 1) {
    fs.rmSync(file)
    return `delete ${name}`
  } else {
    const at = int(0, buf.length - 1)
    buf[at] = buf[at]! ^ (1 << int(0, 7))
    what = `flip a bit at ${at}`
  }
  fs.writeFileSync(file, buf)
  return `${name}: ${what}`
}

const digest = (b: Buffer): string => crypto.createHash('sha256').update(b).digest('hex').slice(0, 16)

/** Everything salvage says, records with their payloads' digests (read inside the loop), or the error's code and message. */
async function salvaged(segments: AsyncGenerator<SegmentResult>): Promise<unknown> {
  const out: unknown[] = []
  try {
    for await (const seg of segments) {
      const items = [...seg.items].map((it) =>
        it.kind === 'record' ? { ...it.rec, source: undefined, payload: digest(payloadOf(it.rec)) } : it,
      )
      const lastRecord = seg.lastRecord === undefined ? undefined : { ...seg.lastRecord, source: undefined }
      out.push({ ...seg, items, lastRecord, header: seg.header?.toString('hex') })
    }
  } catch (err) {
    out.push({ code: (err as AuditError).code, message: (err as Error).message })
  }
  return out
}

/** Open file descriptors of this process (Linux). */
const openFds = (): number => fs.readdirSync('/proc/self/fd').length

test('salvage through windows of 100 B and 4 KiB gives what one whole-file window gives (seeded damage, with and without a mirror)', async () => {
  const { a, b } = await writePair()
  assert.ok(segmentsOf(a).length >= 3, 'several segments')
  const fds = openFds()
  let damaged = 0
  for (let k = 0; k < 30; k++) {
    const root = tempDir('salvage-case')
    const ca = path.join(root, 'a')
    const cb = path.join(root, 'b')
    copyDir(a, ca)
    copyDir(b, cb)
    const what: string[] = []
    for (let s = int(1, 3); s > 0; s--) what.push(`primary ${mutate(ca)}`)
    if (k % 2 === 0) for (let s = int(0, 2); s > 0; s--) what.push(`mirror ${mutate(cb)}`)
    for (const dirs of [[ca], [ca, cb]]) {
      const whole = await salvaged(salvageDirs(dirs, WHOLE))
      if (JSON.stringify(whole).includes('"kind":"lost"')) damaged++
      for (const w of [100, 4096]) {
        assert.equal(
          await salvaged(salvageDirs(dirs, w)),
          whole,
          `case ${k} (${what.join('; ')}), ${dirs.length} copies, window ${w}`,
        )
      }
      const dflt = await salvaged(salvageSegments(dirs[0]!, dirs[1]))
      assert.equal(dflt, whole, `case ${k} (${what.join('; ')}), ${dirs.length} copies, default window`)
    }
    fs.rmSync(root, { recursive: true, force: true })
  }
  // The cases lose records, or the comparison proves little.
  assert.ok(damaged >= 10, `only ${damaged} salvages lost anything`)
  assert.is(openFds(), fds, 'every copy was closed')
})

test('a segment’s copies close when the generator goes on, stops early or fails; a record read after that is refused', async () => {
  const { a, b } = await writePair()
  const fds = openFds()
  // Goes on: the first segment's records cannot be read once the second is current.
  const gen = salvageSegments(a, b)
  const first = (await gen.next()).value as SegmentResult
  const rec = [...first.items].find((it) => it.kind === 'record')!
  assert.ok(rec.kind === 'record')
  assert.ok(payloadOf(rec.rec).length > 0)
  assert.is(openFds(), fds + 2, 'both copies of the current segment are open')
  await gen.next()
  assert.throws(
    () => payloadOf(rec.rec),
    (err: unknown) => err instanceof AuditError && err.code === 'ERR_AUDIT_INVARIANT' && /is closed/.test(err.message),
  )
  // Its items are read from the copies as they are iterated: not after they closed either.
  assert.throws(
    () => [...first.items],
    (err: unknown) => err instanceof AuditError && err.code === 'ERR_AUDIT_INVARIANT' && /is closed/.test(err.message),
  )
  await gen.return(undefined)
  assert.is(openFds(), fds, 'closed after return()')
  // Stops early (break).
  for await (const seg of salvageSegments(a, b)) if (seg.lastRecord !== undefined) break
  assert.is(openFds(), fds, 'closed after break')
  // Fails: a "mirror" that is another log with the same segment names holds a different history.
  const other = await writePair()
  let code: string | undefined
  try {
    for await (const seg of salvageSegments(a, other.a)) void seg
  } catch (err) {
    code = (err as AuditError).code
    assert.match((err as Error).message, /different histories/)
  }
  assert.is(code, 'ERR_AUDIT_CORRUPT')
  assert.is(openFds(), fds, 'closed after an error')
})

test('a record whose bytes changed after the scan is refused, not copied (ERR_AUDIT_CORRUPT, problem checksum)', async () => {
  const { a } = await writePair()
  const name = segmentsOf(a)[0]!
  for await (const seg of salvageDirs([a], 100)) {
    const rec = [...seg.items].find((it) => it.kind === 'record' && it.rec.end - it.rec.offset > 1000)
    assert.ok(rec?.kind === 'record')
    // Change one payload byte of that record on disk while its segment is current (the 100-byte window does not hold it).
    const fd = fs.openSync(path.join(a, name), 'r+')
    fs.writeSync(fd, Buffer.from('#'), 0, 1, rec.rec.end - 10)
    fs.closeSync(fd)
    assert.throws(
      () => payloadOf(rec.rec),
      (err: unknown) =>
        err instanceof AuditError &&
        err.code === 'ERR_AUDIT_CORRUPT' &&
        (err.details as { problem?: string }).problem === 'checksum' &&
        /changed while it was read/.test(err.message),
    )
    break
  }
})

test.run()
