// Hostile events against one real sink (docs/events.md, "Faithful or refused"):
// a few thousand seeded cases (getters, Proxies, odd prototypes, huge and deep
// values, every row of the value table, random mixes; test/sink/hostile-gen.ts).
// Each emit either resolves and readLog gives back exactly the documented
// stored form, or rejects with a documented code and a bounded message. No
// getter or trap is called twice, none after emit() returned, and the sink
// lives on: the final plain emit resolves and close() works.
//
//   FUZZ_EVENTS_SEED=n    replay a run        FUZZ_EVENTS_CASES=n   more or fewer cases
//   FUZZ_EVENTS_DUMP=file  every failure as JSON (the console shows the first 20)
import { writeFileSync } from 'node:fs'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { readLog, type AuditEvent, type AuditSink, type LogRecord } from '../../lib/index.js'
import { tracked } from '../helpers/tracked.js'
import { ANCHORS, INVALID, makeCase, TOO_LARGE, type Case } from './hostile-gen.js'

const SEED = Number(process.env.FUZZ_EVENTS_SEED ?? Date.now() % 2 ** 31)
const CASES = Number(process.env.FUZZ_EVENTS_CASES ?? 5000)
/** eventBytesMax of the sink under test: small, so that too-large cases are cheap. */
const BUDGET = 16 * 1024
/** Emits in flight together (they share fdatasyncs). */
const GROUP = 32
/** A refusal's message never grows with the caller's data beyond this. */
const MESSAGE_CHARS_MAX = 400
console.log(`fuzz-events seed=${SEED} cases=${CASES} (replay: FUZZ_EVENTS_SEED=${SEED} FUZZ_EVENTS_CASES=${CASES})`)

interface Want {
  c: Case
  body: string
  timeMs: number | undefined
  t0: number
  t1: number
}

interface Failure {
  index: number
  kind: string
  detail: string
}

const t = tracked('fuzz-events')
test.after(() => t.cleanup())

function short(s: string, n = 160): string {
  return s.length <= n ? s : `${s.slice(0, n)}… (${s.length} chars)`
}

async function readBack(dir: string, seqs: number[], failures: Failure[]): Promise<Map<number, LogRecord>> {
  const got = new Map<number, LogRecord>()
  try {
    for await (const r of readLog(dir)) got.set(r.seq, r)
    return got
  } catch (err) {
    failures.push({
      index: -1,
      kind: 'log-unreadable',
      detail: short(`${(err as Error).name}: ${(err as Error).message}`),
    })
  }
  // One record at a time, to count the ones that cannot be read.
  got.clear()
  for (const seq of seqs) {
    try {
      for await (const r of readLog(dir, { fromSeq: seq, toSeq: seq })) if (r.seq === seq) got.set(seq, r)
    } catch {
      // counted by the caller as a missing record
    }
  }
  return got
}

test('hostile events: stored exactly as docs/events.md says, or refused with a documented code; the sink lives on', async () => {
  const failures: Failure[] = []
  const fail = (c: Case, kind: string, detail: string): void => {
    failures.push({ index: c.index, kind, detail: `${short(detail)} [rows ${c.rows.join(',')}]` })
  }
  const refused: Record<string, number> = {}
  const rowsSeen = new Set<string>()
  let stored = 0
  const open = async (): Promise<{ dir: string; sink: AuditSink; want: Map<number, Want> }> => {
    const dir = t.freshDir()
    return { dir, sink: await t.openSink({ dir, eventBytesMax: BUDGET }), want: new Map() }
  }
  const logs = [await open()]
  const started = Date.now()
  for (let i = 0; i < CASES; i += GROUP) {
    const log = logs[logs.length - 1]!
    const batch: { c: Case; p: Promise<{ seq: number }>; t0: number; t1: number; reads: number }[] = []
    for (let j = i; j < Math.min(CASES, i + GROUP); j++) {
      const c = makeCase(SEED, j, BUDGET)
      for (const r of c.rows) rowsSeen.add(r)
      const t0 = Date.now()
      let p: Promise<{ seq: number }>
      try {
        p = log.sink.emit(c.ev as AuditEvent)
      } catch (err) {
        p = Promise.reject(err)
      }
      batch.push({ c, p, t0, t1: Date.now(), reads: c.reads.total })
    }
    const settled = await Promise.allSettled(batch.map((b) => b.p))
    let sinkDown = false
    settled.forEach((s, k) => {
      const { c, t0, t1, reads } = batch[k]!
      if (c.reads.total !== reads) fail(c, 'touched-after-emit', `${c.reads.total - reads} reads after emit returned`)
      if (c.reads.twice.length > 0) fail(c, 'read-twice', c.reads.twice.join(', '))
      if (s.status === 'fulfilled') {
        if (c.expect.ok) {
          stored++
          log.want.set(s.value.seq, { c, body: c.expect.body, timeMs: c.expect.timeMs, t0, t1 })
        } else fail(c, 'stored-not-refused', `expected ${[...c.expect.codes].join('|')}, got seq ${s.value.seq}`)
        return
      }
      const err = s.reason as { code?: unknown; message?: unknown; name?: unknown } | undefined
      const code = typeof err?.code === 'string' ? err.code : undefined
      const message = typeof err?.message === 'string' ? err.message : String(err)
      if (code === INVALID || code === TOO_LARGE) {
        refused[code] = (refused[code] ?? 0) + 1
        if (c.expect.ok) fail(c, 'refused-valid', `${code}: ${message}`)
        else if (!c.expect.codes.has(code))
          fail(c, 'wrong-code', `expected ${[...c.expect.codes].join('|')}, got ${code}: ${message}`)
        if (message.length > MESSAGE_CHARS_MAX) fail(c, 'long-message', `${message.length} chars`)
      } else if (code?.startsWith('ERR_AUDIT_')) {
        sinkDown = true
        fail(c, 'sink-failed', `${code}: ${message}`)
      } else fail(c, 'uncoded', `${String(err?.name)}: ${message}`)
    })
    // The old encoder let one event kill the sink; count it and carry on in a new log.
    if (sinkDown) {
      await log.sink.destroy().catch(() => {})
      logs.push(await open())
    }
  }
  const last = logs[logs.length - 1]!
  const final = await last.sink.emit({ level: 'Information', messageTemplate: 'the sink lives on' })
  await last.sink.close()
  const emitMs = Date.now() - started

  let unreadable = 0
  let changed = 0
  for (const log of logs) {
    const seqs = [...log.want.keys()]
    const got = await readBack(log.dir, seqs, failures)
    for (const [seq, w] of log.want) {
      const r = got.get(seq)
      if (r === undefined) {
        unreadable++
        fail(w.c, 'record-unreadable', `seq ${seq}`)
        continue
      }
      const e = r.event
      const body = JSON.stringify({
        level: e.level,
        messageTemplate: e.messageTemplate,
        properties: e.properties,
        exception: e.exception,
      })
      const ms = r.timestamp.getTime()
      const timeOk = w.timeMs === undefined ? ms >= w.t0 && ms <= w.t1 : ms === w.timeMs
      if (body !== w.body || !timeOk) {
        changed++
        fail(
          w.c,
          'stored-changed',
          `seq ${seq}: want ${short(w.body, 120)} @${w.timeMs}, got ${short(body, 120)} @${ms}`,
        )
      }
    }
    // Refused events take no seq: the log holds exactly the stored ones (and the final emit).
    const extra = [...got.keys()].filter((s) => !log.want.has(s) && !(log === last && s === final.seq))
    if (extra.length > 0)
      failures.push({ index: -1, kind: 'extra-records', detail: `seqs ${extra.slice(0, 5).join(',')}` })
  }

  const kinds: Record<string, number> = {}
  for (const f of failures) kinds[f.kind] = (kinds[f.kind] ?? 0) + 1
  console.log(
    `fuzz-events seed=${SEED}: tried ${CASES}, stored ${stored}, refused ${JSON.stringify(refused)}, ` +
      `failures ${JSON.stringify(kinds)}, logs ${logs.length}, anchors ${ANCHORS.length}, rows seen ${rowsSeen.size}, ` +
      `emit phase ${emitMs} ms`,
  )
  if (process.env.FUZZ_EVENTS_DUMP) writeFileSync(process.env.FUZZ_EVENTS_DUMP, JSON.stringify(failures, null, 1))
  for (const f of failures.slice(0, 20)) console.log(`  case ${f.index} ${f.kind}: ${f.detail}`)
  assert.is(final.seq > 0, true)
  assert.is(unreadable + changed, 0, 'every stored event reads back exactly as documented')
  assert.equal(kinds, {}, `seed ${SEED}: ${failures.length} failures`)
  assert.is(logs.length, 1, 'the sink never failed')
})

test.run()
