// Real crashes. A child process (helpers/crash-child.ts) opens the sink in one
// directory and emits from two threads with thousands of emits in flight,
// reporting every resolved receipt; the parent SIGKILLs it at a seeded random
// instant — before or during open/recovery, or while it emits (with small
// batches and segments in some lives, so kills land during rotation) — and
// then checks the directory. The same directory is reopened by the next child,
// so recovery after recovery is exercised.
//
// After every kill: verifyLog is ok; every acknowledged receipt is in the log,
// intact, at its seq, with its content; seqs are contiguous from 1; each life's
// events form one block after the previous life's; within a life and thread,
// the events are exactly emits 0..k-1 in order (nothing lost before an event
// that is there, nothing duplicated, nothing that was never emitted); the next
// open recovers exactly the committed log.
//
// Replay a failure with CRASH_SEED=<seed> (printed below); CRASH_ITER sets the
// number of lives (default 30).
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { spawn } from 'node:child_process'
import { mkdtempSync, readdirSync, rmSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { AuditSink, readLog, verifyLog } from '../../lib/index.js'
import type { CrashConfig } from '../helpers/crash-child.js'
import { mulberry32, padFor, type PadSpec, seedFrom, within } from '../helpers/load.js'

const CHILD = fileURLToPath(new URL('../helpers/crash-child.js', import.meta.url))
const ITER = Number(process.env.CRASH_ITER ?? 30)
const seed = seedFrom('CRASH_SEED')
console.log(`crash seed=${seed} lives=${ITER} (replay with CRASH_SEED=${seed})`)

const dir = mkdtempSync(path.join(os.tmpdir(), 'mtlog-audit-crash-'))
const padOf = (life: number): PadSpec => ({ salt: (seed ^ Math.imul(life, 0x27d4eb2d)) >>> 0, min: 0, max: 600 })

type KillMode = 'spawn' | 'opening' | 'running'

interface Life {
  life: number
  mode: KillMode
  delayMs: number
  small: boolean
  receipts: { seq: number; thread: number; n: number }[]
  opened: { lastSeq: number; tornBytes: number; tmpRemoved: number } | undefined
  finished: boolean
  signal: NodeJS.Signals | null
  code: number | null
  errors: string[]
  stderr: string
}

function runChild(cfg: CrashConfig, mode: KillMode, delayMs: number, small: boolean): Promise<Life> {
  const child = spawn(process.execPath, [CHILD, JSON.stringify(cfg)], { stdio: ['ignore', 'pipe', 'pipe'] })
  const life: Life = {
    life: cfg.life,
    mode,
    delayMs,
    small,
    receipts: [],
    opened: undefined,
    finished: false,
    signal: null,
    code: null,
    errors: [],
    stderr: '',
  }
  let timer: NodeJS.Timeout | undefined
  const killIn = (ms: number): void => {
    timer ??= setTimeout(() => child.kill('SIGKILL'), ms)
  }
  if (mode === 'spawn') killIn(delayMs)
  let partial = ''
  const onLine = (line: string): void => {
    const c = line.charCodeAt(0)
    if (c === 65 /* A */) {
      const [, seq, thread, n] = line.split(' ')
      life.receipts.push({ seq: Number(seq), thread: Number(thread), n: Number(n) })
    } else if (line === 'O') {
      if (mode === 'opening') killIn(delayMs)
    } else if (line.startsWith('R ')) {
      const [, lastSeq, torn, tmp] = line.split(' ')
      life.opened = { lastSeq: Number(lastSeq), tornBytes: Number(torn), tmpRemoved: Number(tmp) }
      if (mode === 'running') killIn(delayMs)
    } else if (line === 'D') life.finished = true
    else if (line.startsWith('E ')) life.errors.push(line)
    else life.errors.push(`unexpected line: ${line}`)
  }
  child.stdout.setEncoding('utf8')
  child.stdout.on('data', (chunk: string) => {
    const text = partial + chunk
    const end = text.lastIndexOf('\n')
    if (end < 0) {
      partial = text
      return
    }
    partial = text.slice(end + 1)
    for (const line of text.slice(0, end).split('\n')) onLine(line)
  })
  child.stderr.setEncoding('utf8')
  child.stderr.on('data', (d: string) => (life.stderr += d))
  return new Promise((resolve) => {
    // 'close': the process is gone (and reaped) and its pipes are drained. A
    // line cut by the kill (no newline) is dropped: its receipt was never reported.
    child.on('close', (code, signal) => {
      clearTimeout(timer)
      life.code = code
      life.signal = signal
      resolve(life)
    })
  })
}

function segmentCount(): number {
  return readdirSync(dir).filter((n) => /^\d{20}\.wal$/.test(n)).length
}

// What the parent knows, across lives.
const acked = new Map<number, { life: number; thread: number; n: number }>()
/** Last committed seq seen on disk after the previous life. */
let committed = 0
/** Per `${life}/${thread}`: the next n expected in the log (for incremental reads). */
let nextN = new Map<string, number>()
let lastLifeSeen = 0
const stats = {
  killedBeforeOpen: 0,
  killedInOpen: 0,
  killedRunning: 0,
  finished: 0,
  tornCut: 0,
  tmpRemoved: 0,
  smallLives: 0,
  acked: 0,
  resolvedOutOfOrder: 0,
}

/** Read the log from fromSeq and check every record; returns how many receipts were matched. */
async function checkRecords(fromSeq: number, upTo: number, currentLife: number, where: string): Promise<number> {
  if (fromSeq === 1) {
    nextN = new Map()
    lastLifeSeen = 0
  }
  let expect = fromSeq
  let matched = 0
  for await (const rec of readLog(dir, { fromSeq, records: true })) {
    assert.is(rec.seq, expect, `${where}: readLog gave seq ${rec.seq}, expected ${expect} (a hole or a repeat)`)
    // Seals and gaps take seqs too (a gap exactly the seqs a cut lost): the ranges tile the log.
    if (rec.kind !== 'event') {
      expect = rec.lastSeq + 1
      continue
    }
    expect++
    const p = rec.event.properties as { life?: unknown; thread?: unknown; n?: unknown; pad?: unknown }
    const { life, thread, n } = p
    assert.ok(
      typeof life === 'number' && Number.isInteger(life) && life >= 1 && life <= currentLife,
      `${where}: seq ${rec.seq} has life ${String(life)}, not one of 1..${currentLife}: never emitted`,
    )
    assert.ok(thread === 0 || thread === 1, `${where}: seq ${rec.seq} has thread ${String(thread)}: never emitted`)
    assert.ok(
      life >= lastLifeSeen,
      `${where}: seq ${rec.seq} belongs to life ${life} but follows events of life ${lastLifeSeen}`,
    )
    lastLifeSeen = life
    const key = `${life}/${thread}`
    const want = nextN.get(key) ?? 0
    assert.is(
      n,
      want,
      `${where}: seq ${rec.seq} is emit ${String(n)} of life ${life} thread ${thread}; expected emit ${want} (an emit lost before it, duplicated, or out of order)`,
    )
    nextN.set(key, want + 1)
    assert.ok(
      p.pad === padFor(padOf(life), thread, want),
      `${where}: seq ${rec.seq}: payload differs from what life ${life} thread ${thread} emitted as n ${want}`,
    )
    assert.is(rec.event.messageTemplate, 'load {thread} {n}')
    const a = acked.get(rec.seq)
    if (a !== undefined) {
      assert.equal(
        { life, thread, n },
        a,
        `${where}: seq ${rec.seq} was acknowledged for life ${a.life} thread ${a.thread} emit ${a.n} but holds life ${life} thread ${thread} emit ${String(n)}`,
      )
      matched++
    }
  }
  assert.is(expect - 1, upTo, `${where}: readLog ended at seq ${expect - 1}, verifyLog says the log ends at ${upTo}`)
  return matched
}

test(`${ITER} lives on one directory, each killed with SIGKILL at a random instant`, async () => {
  const rnd = mulberry32(seed)
  for (let life = 1; life <= ITER; life++) {
    const small = rnd() < 0.5
    const r = rnd()
    const mode: KillMode = r < 0.15 ? 'spawn' : r < 0.4 ? 'opening' : 'running'
    const delayMs = Math.floor(mode === 'spawn' ? rnd() * 150 : mode === 'opening' ? rnd() * 40 : rnd() * 300)
    const perThread = rnd() < 0.1 ? 300 : 20_000 // some lives finish and close cleanly before the kill
    const inflight = 1000 + Math.floor(rnd() * 3000)
    const cfg: CrashConfig = {
      dir,
      life,
      perThread,
      inflight,
      pad: padOf(life),
      opts: small
        ? {
            eventBytesMax: 4096,
            batchBytesMax: 16 * 1024,
            segmentBytesMax: 64 * 1024,
            ringBytes: rnd() < 0.5 ? 64 * 1024 : 1024 * 1024,
          }
        : { eventBytesMax: 4096 },
    }
    const where = `life ${life} (seed ${seed}, ${mode} +${delayMs} ms, ${small ? 'small segments' : 'default sizes'}, ${perThread}/thread)`
    const L = await within(runChild(cfg, mode, delayMs, small), 60_000, where)

    assert.ok(
      L.errors.length === 0,
      `${where}: the child reported ${L.errors.length} errors, first: ${L.errors.slice(0, 2).join(' | ')}`,
    )
    if (L.finished) {
      // It closed the sink; the kill may still have landed before it exited.
      assert.ok(
        L.code === 0 || L.signal === 'SIGKILL',
        `${where}: finished but exited with code ${L.code}, signal ${L.signal}; stderr: ${L.stderr}`,
      )
      stats.finished++
    } else {
      assert.is(
        L.signal,
        'SIGKILL',
        `${where}: died on its own (code ${L.code}, signal ${L.signal}); stderr: ${L.stderr}`,
      )
      if (L.opened === undefined) {
        if (L.mode === 'spawn') stats.killedBeforeOpen++
        else stats.killedInOpen++
      } else stats.killedRunning++
    }
    if (small) stats.smallLives++
    if (L.opened !== undefined) {
      // Recovery kept exactly what was committed on disk after the last life: no
      // committed event lost, no cut event brought back.
      assert.is(
        L.opened.lastSeq,
        committed,
        `${where}: open recovered up to seq ${L.opened.lastSeq}; the log was committed up to ${committed}`,
      )
      if (L.opened.tornBytes > 0) stats.tornCut++
      if (L.opened.tmpRemoved > 0) stats.tmpRemoved++
    } else assert.is(L.receipts.length, 0)

    for (const rc of L.receipts) {
      const before = acked.get(rc.seq)
      assert.ok(
        before === undefined,
        `${where}: seq ${rc.seq} acknowledged twice: to life ${before?.life} thread ${before?.thread} emit ${before?.n} and now to thread ${rc.thread} emit ${rc.n}`,
      )
      assert.ok(
        rc.seq > committed,
        `${where}: seq ${rc.seq} acknowledged in this life, but the log before this life already ended at ${committed}`,
      )
      acked.set(rc.seq, { life, thread: rc.thread, n: rc.n })
    }
    stats.acked += L.receipts.length
    for (const t of [0, 1]) {
      const ns = L.receipts.filter((x) => x.thread === t)
      // The contract is seq order (a later emit of a thread gets a later seq).
      // The order in which the promises resolve is not promised; count inversions for the summary.
      for (let i = 1; i < ns.length; i++) if (ns[i]!.n < ns[i - 1]!.n) stats.resolvedOutOfOrder++
      const byN = [...ns].sort((a, b) => a.n - b.n)
      for (let i = 1; i < byN.length; i++)
        assert.ok(
          byN[i]!.seq > byN[i - 1]!.seq,
          `${where}: thread ${t}: emit ${byN[i]!.n} has seq ${byN[i]!.seq}, not after emit ${byN[i - 1]!.n} (seq ${byN[i - 1]!.seq})`,
        )
    }

    if (segmentCount() === 0) {
      assert.is(acked.size, 0, `${where}: no segment on disk but ${acked.size} events were acknowledged`)
      continue
    }
    const v = await verifyLog(dir)
    assert.ok(v.ok, `${where}: verifyLog: ${JSON.stringify(v.firstBad)}`)
    const last = v.lastSeq ?? 0
    assert.ok(last >= committed, `${where}: the log shrank from ${committed} to ${last}`)
    const maxAcked = L.receipts.reduce((m, x) => Math.max(m, x.seq), 0)
    assert.ok(last >= maxAcked, `${where}: seq ${maxAcked} was acknowledged but the log ends at ${last}`)
    // Every 10th life and the last one re-read the whole log; the others read what this life added.
    const full = life % 10 === 0 || life === ITER
    const fromSeq = full ? 1 : committed + 1
    const matched = last >= fromSeq ? await checkRecords(fromSeq, last, life, where) : 0
    const expectMatched = full ? acked.size : L.receipts.length
    assert.is(matched, expectMatched, `${where}: ${expectMatched - matched} acknowledged events are not in the log`)
    committed = last
  }
  console.log(
    `crash: ${ITER} lives, ${stats.killedBeforeOpen} killed (timed from spawn) before open returned, ${stats.killedInOpen} killed after announcing open (inside open/recovery), ${stats.killedRunning} killed while emitting, ${stats.finished} finished cleanly; ${stats.smallLives} with 16 KiB batches / 64 KiB segments; ${stats.tornCut} torn tails cut and ${stats.tmpRemoved} half-made segments (.wal.tmp, a kill during rotation) removed on open; ${stats.acked} receipts checked (${stats.resolvedOutOfOrder} resolved before an earlier emit of the same thread); log ends at seq ${committed}, ${segmentCount()} segments`,
  )
})

test('after the last kill, a clean open in this process continues right after the committed log', async () => {
  const sink = await AuditSink.open({ dir, eventBytesMax: 4096 })
  let lastEvent = 0
  try {
    assert.is(sink.openReport.resumedSeq, committed)
    const r = await sink.emit({
      level: 'Information',
      messageTemplate: 'after the crashes',
      properties: { life: ITER + 1 },
    })
    assert.is(r.seq, sink.openReport.lastSeq + 1)
    lastEvent = r.seq
  } finally {
    await sink.close()
  }
  const v = await verifyLog(dir)
  assert.ok(v.ok, JSON.stringify(v.firstBad))
  assert.is(v.lastSeq, lastEvent + 1) // the seal of close()
  assert.is(v.tornTail, undefined)
})

test.after(() => {
  if (process.env.CRASH_KEEP === '1') console.log(`crash: kept ${dir}`)
  else rmSync(dir, { recursive: true, force: true })
})

test.run()
