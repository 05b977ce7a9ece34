// sink.flush() (the barrier every integration needs), sink.health() (data,
// no I/O), and the figures stats() / histograms() read from the ring's
// metrics area. Real sinks, real fsync, a real worker thread; faults come from
// the project's fault-injecting storage (torture/faulty-storage.ts) and the
// gated storage that holds fdatasync (test/helpers/gated-storage.ts).
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { Worker } from 'node:worker_threads'
import { AuditSink, readLog, type Receipt } from '../../lib/index.js'
import { ev, FAULTY, tempDir } from '../helpers/dirs.js'
import { Gate } from '../helpers/gated-storage.js'

const SEED = Number(process.env.FLUSH_SEED ?? Date.now() % 2 ** 31)
console.log('flush-health seed', SEED)

function mulberry32(a: number): () => number {
  return () => {
    a = (a + 0x6d2b79f5) | 0
    let t = Math.imul(a ^ (a >>> 15), 1 | a)
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

test('flush resolves only after every emit accepted before it resolved, with a durable seq ≥ theirs', async () => {
  const rnd = mulberry32(SEED)
  const sink = await AuditSink.open({ dir: tempDir('flush') })
  try {
    for (let round = 0; round < 20; round++) {
      const n = 1 + Math.floor(rnd() * 500)
      const settled: (Receipt | undefined)[] = new Array(n)
      const ps = Array.from({ length: n }, (_, i) => sink.emit(ev(i)).then((r) => (settled[i] = r)))
      const { durableSeq } = await sink.flush()
      const missing = settled.filter((r) => r === undefined).length
      assert.is(missing, 0, `round ${round} (seed ${SEED}): ${missing} of ${n} emits unresolved when flush resolved`)
      const maxSeq = Math.max(...settled.map((r) => r!.seq))
      assert.ok(durableSeq >= maxSeq, `durableSeq ${durableSeq} < seq ${maxSeq}`)
      await Promise.all(ps)
    }
    // Nothing pending: resolves at once with the durable seq.
    assert.is((await sink.flush()).durableSeq, sink.stats().durableSeq)
  } finally {
    await sink.close()
  }
})

test('flush waits for emits queued for ring space too (a ring smaller than the burst)', async () => {
  const sink = await AuditSink.open({ dir: tempDir('flush-ring'), ringBytes: 64 * 1024, eventBytesMax: 4096 })
  try {
    let done = 0
    const ps = Array.from({ length: 3000 }, (_, i) =>
      sink.emit(ev(i, { pad: 'p'.repeat(200) })).then(() => void done++),
    )
    await sink.flush()
    assert.is(done, 3000)
    await Promise.all(ps)
  } finally {
    await sink.close()
  }
})

test('an attached producer in a worker thread flushes its own emits', async () => {
  const dir = tempDir('flush-worker')
  const sink = await AuditSink.open({ dir })
  const code = `
    const { workerData, parentPort } = require('node:worker_threads')
    import(workerData.lib).then(async ({ AuditSink }) => {
      const p = AuditSink.attach(workerData.handle)
      const seqs = []
      for (let i = 0; i < 500; i++) p.emit({ level: 'Information', messageTemplate: 'w {i}', properties: { i } }).then((r) => seqs.push(r.seq))
      const f = await p.flush()
      parentPort.postMessage({ resolved: seqs.length, max: Math.max(...seqs), durableSeq: f.durableSeq })
    })`
  const w = new Worker(code, {
    eval: true,
    workerData: { handle: sink.handle(), lib: new URL('../../lib/index.js', import.meta.url).href },
  })
  const m = await new Promise<{ resolved: number; max: number; durableSeq: number }>((resolve, reject) => {
    w.once('message', resolve)
    w.once('error', reject)
  })
  await w.terminate()
  assert.is(m.resolved, 500)
  assert.ok(m.durableSeq >= m.max)
  await sink.close()
  let n = 0
  for await (const r of readLog(dir)) if (r.event.messageTemplate === 'w {i}') n++
  assert.is(n, 500)
})

test('flush rejects coded when an emit it covers failed, and keeps rejecting (the sink failed)', async () => {
  const sink = await AuditSink.open({
    dir: tempDir('flush-fail'),
    storage: { module: FAULTY, config: { faults: [{ op: 'fdatasync', nth: 3, code: 'EIO', persistent: true }] } },
  })
  const outcomes = await Promise.allSettled(Array.from({ length: 50 }, (_, i) => sink.emit(ev(i))))
  const first = outcomes.filter((o) => o.status === 'fulfilled').length
  // Waves until the injected EIO hits.
  for (let w = 0; w < 50 && sink.stats().state !== 'failed'; w++)
    await Promise.allSettled(Array.from({ length: 20 }, (_, i) => sink.emit(ev(i))))
  const err = await sink.flush().then(
    () => undefined,
    (e: { code?: string }) => e,
  )
  assert.ok(err, `flush resolved on a failed sink (${first} emits resolved in the first wave)`)
  assert.is(err!.code, 'ERR_AUDIT_FAILED')
  const h = sink.health()
  assert.is(h.status, 'fail')
  assert.is(h.ready, false)
  assert.is(h.live, true, 'an I/O failure is not cured by a restart: liveness stays up')
  assert.is(h.reasons[0]!.code, 'failed')
  assert.ok(h.failureCodes.includes('ERR_AUDIT_IO'), JSON.stringify(h.failureCodes))
  assert.ok(sink.stats().emitsFailed + sink.stats().emitsRefused > 0)
  await sink.close().catch(() => undefined)
})

test('flush after destroy rejects with ERR_AUDIT_DESTROYED; health says destroyed', async () => {
  const sink = await AuditSink.open({ dir: tempDir('flush-destroy') })
  await sink.emit(ev(1))
  await sink.destroy()
  const e = await sink.flush().then(
    () => undefined,
    (x: { code?: string }) => x,
  )
  assert.is(e?.code, 'ERR_AUDIT_DESTROYED')
  assert.is(sink.health().reasons[0]!.code, 'destroyed')
})

test('health: pass when idle, stalled (warn, then fail) while fdatasync is held, pass again after', async () => {
  const gate = new Gate()
  const sink = await AuditSink.open({ dir: tempDir('health-stall'), storage: gate.spec })
  try {
    assert.is(sink.health().status, 'pass')
    gate.close()
    const before = gate.held()
    const p = sink.emit(ev(1))
    await gate.waitHeld(before)
    // Bounds far below the time the test holds the gate: each await below takes longer than them.
    await new Promise((r) => setTimeout(r, 30))
    const warn = sink.health({ stallWarnMs: 5, stallFailMs: 60_000 })
    assert.is(warn.status, 'warn', JSON.stringify(warn.reasons))
    assert.is(warn.reasons[0]!.code, 'stalled')
    assert.is(warn.ready, true)
    const fail = sink.health({ stallWarnMs: 5, stallFailMs: 10 })
    assert.is(fail.status, 'fail')
    assert.is(fail.ready, false)
    assert.is(fail.live, true)
    assert.ok(fail.inFlight >= 1)
    gate.open()
    await p
    const ok = sink.health({ stallWarnMs: 5, stallFailMs: 10 })
    assert.is(ok.status, 'pass', JSON.stringify(ok.reasons))
  } finally {
    gate.open()
    await sink.close()
  }
})

test('health: the ring nearly full is a warning, not a failure', async () => {
  const gate = new Gate()
  const sink = await AuditSink.open({
    dir: tempDir('health-ring'),
    storage: gate.spec,
    ringBytes: 64 * 1024,
    eventBytesMax: 4096,
  })
  try {
    gate.close()
    const before = gate.held()
    const first = sink.emit(ev(0))
    await gate.waitHeld(before)
    // The writer sits in fdatasync: these fill the ring and then queue for space.
    const rest = Array.from({ length: 400 }, (_, i) => sink.emit(ev(i + 1, { pad: 'r'.repeat(400) })))
    const h = sink.health({ ringWarnRatio: 0.5, stallWarnMs: 3_600_000, stallFailMs: 3_600_000 })
    assert.ok(h.ringFillRatio >= 0.5, `ring fill ${h.ringFillRatio}`)
    assert.equal(
      h.reasons.map((r) => [r.code, r.status]),
      [['ring-full', 'warn']],
    )
    assert.is(h.ready, true)
    gate.open()
    await Promise.all([first, ...rest])
    assert.is(sink.health({ ringWarnRatio: 0.5 }).status, 'pass')
  } finally {
    gate.open()
    await sink.close()
  }
})

test('health options are checked: a bad bound is ERR_AUDIT_OPTION_INVALID naming it', async () => {
  const sink = await AuditSink.open({ dir: tempDir('health-opts') })
  try {
    for (const [opts, name] of [
      [{ stallWarnMs: -1 }, 'stallWarnMs'],
      [{ ringWarnRatio: 2 }, 'ringWarnRatio'],
      [{ stallWarnMs: 100, stallFailMs: 50 }, 'stallFailMs'],
    ] as const) {
      try {
        sink.health(opts)
        assert.unreachable(`accepted ${JSON.stringify(opts)}`)
      } catch (e) {
        const err = e as { code?: string; details?: { option?: string } }
        assert.is(err.code, 'ERR_AUDIT_OPTION_INVALID')
        assert.is(err.details?.option, name)
      }
    }
  } finally {
    await sink.close()
  }
})

test('stats and histograms: outcome counts and latency counts agree with what happened', async () => {
  const rnd = mulberry32(SEED ^ 0x51)
  const sink = await AuditSink.open({ dir: tempDir('stats') })
  try {
    const n = 200 + Math.floor(rnd() * 800)
    await Promise.all(Array.from({ length: n }, (_, i) => sink.emit(ev(i))))
    const bad = 1 + Math.floor(rnd() * 5)
    for (let i = 0; i < bad; i++)
      await sink.emit({ level: 'Nope' as 'Information', messageTemplate: 'x' }).catch(() => undefined)
    const st = sink.stats()
    assert.is(st.emitsDurable, n)
    assert.is(st.emitsRefused, bad)
    assert.is(st.emitsFailed, 0)
    assert.is(st.inFlight, 0)
    assert.ok(st.lastDurableAtMs !== undefined && Math.abs(st.lastDurableAtMs - Date.now()) < 3_600_000)
    const h = sink.histograms()
    assert.is(h.emitDurableMs.count, n)
    assert.is(
      h.emitDurableMs.counts.reduce((a, b) => a + b, 0),
      n,
    )
    assert.ok(h.emitDurableMs.sum > 0)
    assert.is(h.batchRecords.count, st.batches)
    assert.is(h.batchRecords.sum, st.records)
    assert.is(
      h.fsyncMs.counts.reduce((a, b) => a + b, 0),
      h.fsyncMs.count,
    )
    assert.ok(h.fsyncMs.count >= 1)
  } finally {
    await sink.close()
  }
})

test.run()
