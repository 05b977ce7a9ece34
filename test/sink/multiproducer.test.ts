// Several threads emit into one sink at once: the main thread and three
// worker_threads that attach with sink.handle(). Every receipt must name the
// one record of that thread's event, per-thread order must hold, seqs must be
// contiguous, and an attached producer must be refused once the sink closed.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { tracked } from '../helpers/tracked.js'
import { AuditError, AuditSink, ERROR_CODES, readLog, verifyLog, type AuditSinkOptions } from '../../lib/index.js'
import { Ring } from '../../shared/ring/ring.js'
import { checkRun, type ThreadResult } from '../helpers/check.js'
import { loadEvent, type PadSpec, seedFrom, within } from '../helpers/load.js'
import type { MpWorkerData, MpWorkerMessage } from '../helpers/mp-worker.js'
import { type Load, MP_WORKER_URL as WORKER_URL, runThreads, startWorker, terminateAll } from '../helpers/threads.js'
import type { BlockingWorkerData, BlockingWorkerMessage } from '../helpers/blocking-worker.js'

const { freshDir, openSink, cleanup } = tracked('mp')

const seed = seedFrom('MP_SEED')
console.log(`multiproducer seed=${seed} (replay with MP_SEED=${seed})`)

async function scenario(opts: Omit<AuditSinkOptions, 'dir'>, load: Load): Promise<void> {
  const dir = freshDir()
  const sink = await openSink({ dir, ...opts })
  const run = await runThreads(sink, load)
  const total = await checkRun(dir, run.results, load.pad)
  assert.is(total, (load.workers + 1) * load.count)
  assert.is(sink.stats().durableSeq, total)
  await within(sink.close(), 60_000, 'close')

  // Attached producers are refused once the sink closed, and their threads end on their own.
  for (const w of run.workers) w.worker.postMessage('emit-after-close')
  for (const w of run.workers) {
    const m = await within(w.next(), 30_000, `worker ${w.thread} emit after close`)
    assert.is(m.type, 'after-close')
    if (m.type === 'after-close') {
      assert.is(m.outcome, ERROR_CODES.CLOSED, `thread ${w.thread}: emit after close gave ${m.outcome}`)
      assert.is(m.pending, 0)
    }
    assert.is(await within(w.exited, 30_000, `worker ${w.thread} exiting after its emits settled`), 0)
  }
  // The main thread is refused too, and the log did not change.
  try {
    await sink.emit(loadEvent(0, load.count, load.pad))
    assert.unreachable('emit after close resolved')
  } catch (e) {
    assert.is((e as AuditError).code, ERROR_CODES.CLOSED)
  }

  // Reopening continues right after the last event.
  // Reopening continues right after the log: the last event, then the seal of close().
  const again = await openSink({ dir, ...opts })
  assert.is(again.openReport.lastSeq, total + 1)
  assert.is(again.openReport.tornTail, undefined)
  const r = await again.emit(loadEvent(0, load.count, load.pad))
  assert.is(r.seq, total + 2)
  await again.close()
  const results = run.results.map((x) => (x.thread === 0 ? { ...x, seqs: [...x.seqs, total + 2] } : x))
  assert.is(await checkRun(dir, results, load.pad), total + 1)
}

test('main thread + 3 attached worker_threads, 5,000 each, 1,000 in flight per thread', async () => {
  await scenario({}, { workers: 3, count: 5000, inflight: 1000, pad: { salt: seed, min: 0, max: 200 } })
})

test('same, with small batches and segments (rotation under concurrent producers)', async () => {
  await scenario(
    { ringBytes: 256 * 1024, eventBytesMax: 2048, batchBytesMax: 16 * 1024, segmentBytesMax: 64 * 1024 },
    { workers: 3, count: 3000, inflight: 3000, pad: { salt: seed ^ 0x5bd1e995, min: 0, max: 1500 } },
  )
})

test('close() while an attached thread is mid-burst: an emit resolves iff its event is in the log', async () => {
  // Small ring, a worker far ahead of the writer, close() from the main thread
  // at several moments of the worker's burst. close() must not hang on emits
  // queued in another thread; each emit either resolves (and is then in the
  // log, at its seq) or rejects with ERR_AUDIT_CLOSED (and is not in the log).
  for (const delayMs of [0, 30, 60, 80, 100, 120, 150, 200]) {
    const dir = freshDir()
    const pad: PadSpec = { salt: seed ^ delayMs, min: 8000, max: 16000 }
    const sink = await openSink({ dir, ringBytes: 64 * 1024, eventBytesMax: 32 * 1024 - 64 })
    const count = 400
    const wd: MpWorkerData = { handle: sink.handle(), thread: 1, count, inflight: count, pad }
    const worker = startWorker(WORKER_URL, wd)
    const exited = new Promise<number>((resolve) => worker.once('exit', resolve))
    const done = new Promise<MpWorkerMessage>((resolve, reject) => {
      worker.once('message', resolve)
      worker.once('error', reject)
    })
    worker.postMessage('go')
    await new Promise((r) => setTimeout(r, delayMs))
    await within(sink.close(), 60_000, 'close with another thread emitting')
    const m = await within(done, 60_000, 'worker emits settling after close')
    assert.is(m.type, 'done')
    if (m.type !== 'done') return
    const inLog = new Map<number, number>()
    let expect = 1
    for await (const rec of readLog(dir)) {
      assert.is(rec.seq, expect++)
      inLog.set((rec.event.properties as { n: number }).n, rec.seq)
    }
    for (const e of m.errors)
      assert.match(e, /ERR_AUDIT_CLOSED/, `an emit rejected with something else than CLOSED: ${e}`)
    const resolved = m.seqs.filter((s) => s !== undefined).length
    assert.is(resolved + m.errors.length, count)
    for (let n = 0; n < count; n++) {
      const s = m.seqs[n]
      const logged = inLog.get(n)
      assert.ok(
        s === logged,
        `close after ${delayMs} ms: emit ${n} ${s === undefined ? 'was rejected' : `resolved with seq ${s}`} but the log ${logged === undefined ? 'does not hold it' : `holds it at seq ${logged}`} (${resolved} resolved, ${m.errors.length} rejected, ${inLog.size} in the log)`,
      )
    }
    worker.postMessage('emit-after-close')
    await within(new Promise((resolve) => worker.once('message', resolve)), 30_000, 'emit after close')
    assert.is(await within(exited, 30_000, 'worker exit'), 0)
    assert.ok((await verifyLog(dir)).ok)
  }
})

test('an attached producer whose thread was busy while the sink closed: its durable emits resolve, the queued ones reject', async () => {
  // Deterministic version of the race above, with only real notifications:
  // 1. the main thread reserves the next ring slot (seq 1) and does not publish
  //    it yet, like a producer preempted between reserve() and publish(): the
  //    writer cannot take anything past it;
  // 2. the worker fills the rest of the ring in one synchronous burst (emits
  //    reserved at seqs 2..k+1, the rest queued for space), then blocks its thread;
  // 3. the main thread publishes seq 1 and closes the sink: the writer takes
  //    seqs 1..k+1 (releasing ring space, which wakes the worker's space loop),
  //    fdatasyncs them (which wakes its durable loop), and closes.
  // When the worker thread runs again, seqs 2..k+1 are durable in the log and
  // their emits must resolve with them; only the queued emits may reject.
  const dir = freshDir()
  const pad: PadSpec = { salt: seed ^ 0xabcdef, min: 12000, max: 20000 }
  const sink = await openSink({ dir, ringBytes: 64 * 1024, eventBytesMax: 32 * 1024 - 64 })
  const ring = new Ring(sink.handle().sab)
  const first = Buffer.from(
    JSON.stringify({
      level: 'Information',
      messageTemplate: 'load {thread} {n}',
      properties: { thread: 0, n: 0, pad: '' },
    }),
  )
  assert.is(ring.reserve(first.length), 1)

  const control = new SharedArrayBuffer(4)
  const count = 40
  const wd: BlockingWorkerData = { handle: sink.handle(), control, thread: 1, count, pad }
  const worker = startWorker(new URL('../helpers/blocking-worker.js', import.meta.url), wd)
  const exited = new Promise<number>((resolve) => worker.once('exit', resolve))
  const inbox: BlockingWorkerMessage[] = []
  let wake: (() => void) | undefined
  worker.on('message', (m: BlockingWorkerMessage) => {
    inbox.push(m)
    wake?.()
  })
  worker.on('error', (e) => assert.unreachable(`worker failed: ${e.message}`))
  const next = async (): Promise<BlockingWorkerMessage> => {
    while (inbox.length === 0) await new Promise<void>((r) => (wake = r))
    return inbox.shift()!
  }
  const emitted = await within(next(), 30_000, 'worker burst')
  assert.is(emitted.type, 'emitted')
  if (emitted.type === 'emitted') assert.is(emitted.pending, count)
  assert.is(sink.stats().durableSeq, 0, 'nothing can be durable while seq 1 is unpublished')

  ring.publish(first, first.length, Date.now())
  await within(sink.close(), 60_000, 'close while the attached thread is blocked')
  const inLog = new Map<number, number>()
  let expect = 1
  for await (const rec of readLog(dir)) {
    assert.is(rec.seq, expect++)
    const p = rec.event.properties as { thread: number; n: number }
    if (p.thread === 1) inLog.set(p.n, rec.seq)
  }
  assert.ok(
    inLog.size > 0 && inLog.size < count,
    `the ring holds only a few of these events: ${inLog.size} of ${count} reached the log`,
  )

  Atomics.store(new Int32Array(control), 0, 1)
  Atomics.notify(new Int32Array(control), 0)
  const settled = await within(next(), 30_000, 'worker settling')
  assert.is(settled.type, 'settled')
  if (settled.type !== 'settled') return
  const summary = settled.outcomes
    .slice(0, inLog.size + 2)
    .map((o, n) => `${n}:${'seq' in o ? o.seq : o.code}${inLog.has(n) ? '(in log)' : ''}`)
    .join(' ')
  for (let n = 0; n < count; n++) {
    const o = settled.outcomes[n]!
    const logged = inLog.get(n)
    if (logged !== undefined)
      assert.equal(
        o,
        { seq: logged },
        `emit ${n} is durable in the log at seq ${logged}, but its promise settled as ${JSON.stringify(o)}; first outcomes: ${summary}`,
      )
    else
      assert.equal(o, { code: ERROR_CODES.CLOSED }, `emit ${n} is not in the log, but settled as ${JSON.stringify(o)}`)
  }
  assert.is(await within(exited, 30_000, 'worker exit'), 0)
})

test('attach() refuses anything but a handle', () => {
  for (const bad of [undefined, null, {}, { kind: 'mtlog-audit/handle@1', sab: new ArrayBuffer(8) }]) {
    try {
      AuditSink.attach(bad as never)
      assert.unreachable('attach accepted a bad handle')
    } catch (e) {
      assert.is((e as AuditError).code, ERROR_CODES.OPTION_INVALID)
    }
  }
})

test.after(async () => {
  await terminateAll()
  await cleanup()
})

test.run()
