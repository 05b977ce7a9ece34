// The mirror: every batch fdatasync'ed in two directories before the ack,
// byte-identical copies, and a copy that is behind catches up on open.
// (Format v2: close() ends each session with a seal record, which takes a seq,
// and every open starts a new segment.)
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import fs from 'node:fs'
import path from 'node:path'
import { AuditSink, readLog, verifyLog } from '../../lib/index.js'
import { segmentFileName } from '../../shared/format.js'
import { ev, FAULTY, ls, snapshot, tempDir } from '../helpers/dirs.js'

const SMALL = { segmentBytesMax: 64 * 1024, batchBytesMax: 8 * 1024, eventBytesMax: 2048 }

function wal(dir: string): Map<string, Buffer> {
  const m = snapshot(dir)
  for (const k of [...m.keys()]) if (!k.endsWith('.wal')) m.delete(k)
  return m
}

async function emitWaves(sink: AuditSink, from: number, waves: number, per: number): Promise<number[]> {
  const seqs: number[] = []
  for (let w = 0; w < waves; w++) {
    const rs = await Promise.all(
      Array.from({ length: per }, (_, k) => sink.emit(ev(from + w * per + k, { pad: 'm'.repeat(700) }))),
    )
    seqs.push(...rs.map((r) => r.seq))
  }
  return seqs
}

test('with a mirror, both directories hold byte-identical segments, across rotations and reopen', async () => {
  const base = tempDir('mirror')
  const dir = path.join(base, 'a')
  const mirror = path.join(base, 'b')
  let sink = await AuditSink.open({ dir, mirror, ...SMALL })
  await emitWaves(sink, 0, 20, 10)
  await sink.close()
  sink = await AuditSink.open({ dir, mirror, ...SMALL })
  assert.is(sink.openReport.mirror?.caughtUp, undefined)
  await emitWaves(sink, 200, 10, 10)
  await sink.close()
  const a = wal(dir)
  const b = wal(mirror)
  assert.ok(a.size >= 3, `${a.size} segments`)
  assert.equal([...a.keys()], [...b.keys()])
  for (const [k, v] of a) assert.ok(v.equals(b.get(k)!), `${k} differs`)
  for (const d of [dir, mirror]) {
    const r = await verifyLog(d)
    assert.ok(r.ok)
    assert.is(r.events, 300)
    assert.is(r.records, 302, '300 events and the seal of each of the two sessions')
    assert.ok(r.sealed)
  }
  assert.not.ok(ls(dir).includes('LOCK') || ls(mirror).includes('LOCK'))
})

test('a second writer is refused on the mirror directory too', async () => {
  const base = tempDir('mirror-lock')
  const sink = await AuditSink.open({ dir: path.join(base, 'a'), mirror: path.join(base, 'b') })
  let code = ''
  try {
    await AuditSink.open({ dir: path.join(base, 'b') })
  } catch (err) {
    code = (err as { code: string }).code
  }
  assert.is(code, 'ERR_AUDIT_LOCKED')
  await sink.close()
})

test('adding a mirror to an existing log fills it on open; it then stays in step', async () => {
  const base = tempDir('mirror-seed')
  const dir = path.join(base, 'a')
  const mirror = path.join(base, 'b')
  let sink = await AuditSink.open({ dir, ...SMALL })
  await emitWaves(sink, 0, 15, 10)
  await sink.close()
  const closed = ls(dir).filter((n) => n.endsWith('.wal')).length
  sink = await AuditSink.open({ dir, mirror, ...SMALL })
  const caught = sink.openReport.mirror?.caughtUp
  assert.ok(caught)
  assert.is(caught!.dir, mirror)
  assert.is(caught!.segments, closed, 'every segment of the closed log is copied')
  assert.is(sink.openReport.lastSeq, 151, '150 events and the seal')
  assert.is((await sink.emit(ev(150))).seq, 152)
  await sink.close()
  assert.equal(wal(dir), wal(mirror))
  assert.ok((await verifyLog(mirror)).ok)
})

test('a mirror that fell behind (the WAL was opened without it) catches up; nothing acknowledged is cut', async () => {
  const base = tempDir('mirror-behind')
  const dir = path.join(base, 'a')
  const mirror = path.join(base, 'b')
  let sink = await AuditSink.open({ dir, mirror, ...SMALL })
  const acked = await emitWaves(sink, 0, 5, 10)
  await sink.close()
  sink = await AuditSink.open({ dir, ...SMALL }) // without the mirror: 80 more, several rotations
  acked.push(...(await emitWaves(sink, 50, 8, 10)))
  await sink.close()
  // 50 events, the seal (51), 80 events (52..131), the seal (132).
  assert.equal(acked, [...Array.from({ length: 50 }, (_, i) => i + 1), ...Array.from({ length: 80 }, (_, i) => i + 52)])
  sink = await AuditSink.open({ dir, mirror, ...SMALL })
  assert.is(sink.openReport.lastSeq, 132)
  assert.ok(sink.openReport.mirror!.caughtUp!.bytes > 0)
  await sink.close()
  assert.equal(wal(dir), wal(mirror))
  const seqs: number[] = []
  for await (const r of readLog(mirror)) seqs.push(r.seq)
  assert.equal(seqs, acked, 'every acknowledged event, in the mirror too')
})

test('copies with different histories are refused (mirror-diverged), nothing changed', async () => {
  const base = tempDir('mirror-div')
  const dir = path.join(base, 'a')
  const mirror = path.join(base, 'b')
  for (const d of [dir, mirror]) {
    const s = await AuditSink.open({ dir: d }) // two independent logs: different salts
    await s.emit(ev(1))
    await s.close()
  }
  const before = [snapshot(dir), snapshot(mirror)]
  let err: { code?: string; details?: Record<string, unknown> } = {}
  try {
    await AuditSink.open({ dir, mirror })
  } catch (e) {
    err = e as typeof err
  }
  assert.is(err.code, 'ERR_AUDIT_CORRUPT')
  assert.is(err.details?.problem, 'mirror-diverged')
  assert.is(err.details?.segment, segmentFileName(1))
  assert.equal([snapshot(dir), snapshot(mirror)], before)
})

test('a failing fdatasync on the mirror fails the sink closed: no ack without both copies', async () => {
  const base = tempDir('mirror-eio')
  const dir = path.join(base, 'a')
  const mirror = path.join(base, 'b')
  const sink = await AuditSink.open({
    dir,
    mirror,
    storage: {
      module: FAULTY,
      config: { faults: [{ op: 'fdatasync', nth: 4, code: 'EIO', pathIncludes: `${path.sep}b${path.sep}` }] },
    },
  })
  const outcomes = await Promise.all(
    Array.from({ length: 300 }, (_, i) =>
      sink.emit(ev(i)).then(
        (r) => r.seq,
        (e: { code: string; cause?: { details?: { path?: string } } }) => `${e.code} ${e.cause?.details?.path ?? ''}`,
      ),
    ),
  )
  const rejected = outcomes.filter((o): o is string => typeof o === 'string')
  assert.ok(rejected.length > 0)
  for (const r of rejected) assert.match(r, new RegExp(`^ERR_AUDIT_FAILED .*${path.sep}b${path.sep}`))
  await sink.close().catch(() => undefined)
  const acked = outcomes.filter((o): o is number => typeof o === 'number')
  const again = await AuditSink.open({ dir, mirror })
  assert.ok(again.openReport.lastSeq >= Math.max(0, ...acked))
  await again.close()
  assert.equal(wal(dir), wal(mirror))
})

test('the mirror option is validated: not the same directory as dir', async () => {
  const base = tempDir('mirror-opt')
  let err: { code?: string; details?: Record<string, unknown> } = {}
  try {
    await AuditSink.open({ dir: base, mirror: `${base}/.` })
  } catch (e) {
    err = e as typeof err
  }
  assert.is(err.code, 'ERR_AUDIT_OPTION_INVALID')
  assert.is(err.details?.option, 'mirror')
  assert.equal(ls(base), [])
})

test.run()
