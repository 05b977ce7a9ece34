/**
 * Main thread + worker_threads emitting into one sink, closed loop (the window
 * is the total in flight) or open loop (the rate is the total), split evenly.
 * This file is also the workers' entry: runThreads starts it as a Worker with
 * workerData of kind WORKER_KIND, and the last lines run the producer.
 *
 *   main: start workers ─► every thread warms up ─► 'ready' ─► mark ─► 'go'
 *         ─► every thread measures ─► 'done' (latencies transferred) ─► one Run
 */

import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads'
import { AuditSink, type SinkHandle } from '../../lib/sink/index.js'
import { type EngineConfig, measured, openExtra, type Run, warmWindow } from './engine.js'
import { eventMaker } from './events.js'
import { LatencyLog, summarize } from './latency.js'
import { closedLoop, type Emit, openLoop, type OpenResult } from './loops.js'
import type { System } from './system.js'

const WORKER_KIND = 'mtlog-audit/bench-producer@1'

interface ProducerInit {
  kind: typeof WORKER_KIND
  handle: SinkHandle
  thread: number
  payloadBytes: number
  mode: 'closed' | 'open'
  window: number
  rate: number
  warmupMs: number
  durationMs: number
  graceMs: number
  poll: boolean
}

/** Every message between the bench's threads. An unknown message is an error. */
type FromProducer =
  | { type: 'ready'; warmEmitted: number }
  | { type: 'done'; acked: number; emitted: number; refused: number; cut: boolean; lagMaxMs: number; lat: Float64Array }
  | { type: 'error'; message: string }
type ToProducer = { type: 'go' }

interface Deferred<T> {
  promise: Promise<T>
  resolve: (v: T) => void
  reject: (e: Error) => void
}

function deferred<T>(): Deferred<T> {
  let resolve!: (v: T) => void
  let reject!: (e: Error) => void
  const promise = new Promise<T>((res, rej) => {
    resolve = res
    reject = rej
  })
  promise.catch(() => {}) // awaited by the caller; a worker that fails first is not an unhandled rejection
  return { promise, resolve, reject }
}

/**
 * producers − 1 workers + the main thread. Closed: the window is the total in
 * flight, split evenly. Open: the rate is the total, split evenly.
 */
export async function runThreads(
  cfg: EngineConfig,
  sys: System,
  payloadBytes: number,
  producers: number,
  o: { window: number } | { rate: number },
): Promise<Run> {
  const mode = 'window' in o ? 'closed' : 'open'
  const perWindow = 'window' in o ? Math.max(1, Math.round(o.window / producers)) : 0
  const perRate = 'rate' in o ? o.rate / producers : 0
  const mk = eventMaker(payloadBytes)
  const label = `threads${producers}-${payloadBytes}-${mode === 'closed' ? `w${'window' in o ? o.window : 0}` : `r${perRate * producers}`}`
  return measured(cfg, sys, label, payloadBytes, async (s, mark) => {
    if (s.handle === undefined) throw new Error(`bench: ${sys.id} cannot take emits from other threads`)
    const workers = Array.from({ length: producers - 1 }, (_, k) => {
      const init: ProducerInit = {
        kind: WORKER_KIND,
        handle: s.handle!(),
        thread: k + 1,
        payloadBytes,
        mode,
        window: perWindow,
        rate: perRate,
        warmupMs: cfg.warmupSeconds * 1000,
        durationMs: (mode === 'closed' ? cfg.closedSeconds : cfg.openSeconds) * 1000,
        graceMs: cfg.openGraceSeconds * 1000,
        poll: cfg.openPoll,
      }
      const w = new Worker(new URL(import.meta.url), { workerData: init, name: `bench producer ${k + 1}` })
      const ready = deferred<number>()
      const done = deferred<Extract<FromProducer, { type: 'done' }>>()
      const fail = (e: Error): void => {
        ready.reject(e)
        done.reject(e)
      }
      w.on('message', (m: FromProducer) => {
        if (m?.type === 'ready') ready.resolve(m.warmEmitted)
        else if (m?.type === 'done') done.resolve(m)
        else if (m?.type === 'error') fail(new Error(`bench producer ${k + 1}: ${m.message}`))
        else fail(new Error(`bench producer ${k + 1}: unknown message ${JSON.stringify(m)}`))
      })
      w.once('error', fail)
      w.once('exit', (code) => fail(new Error(`bench producer ${k + 1} exited (code ${code}) before it reported`)))
      return { w, ready: ready.promise, done: done.promise }
    })
    try {
      const [mainWarm, ...workerWarm] = await Promise.all([
        closedLoop(s.emit, mk, 0, warmWindow(Math.max(perWindow, 16)), cfg.warmupSeconds * 1000, undefined),
        ...workers.map((x) => x.ready),
      ])
      const log = new LatencyLog()
      mark()
      for (const x of workers) x.w.postMessage({ type: 'go' } satisfies ToProducer)
      const main =
        mode === 'closed'
          ? closedLoop(s.emit, mk, 0, perWindow, cfg.closedSeconds * 1000, log).then((r): OpenResult => ({
              ...r,
              refused: 0,
              cut: false,
              lagMaxMs: 0,
            }))
          : openLoop(s.emit, mk, 0, perRate, cfg.openSeconds, cfg.openGraceSeconds * 1000, log, undefined, cfg.openPoll)
      const [m, ...rest] = await Promise.all([main, ...workers.map((x) => x.done)])
      const latency = summarize([log.values(), ...rest.map((r) => r.lat)])
      const all = [m, ...rest]
      const refused = (): number => all.reduce((a, x) => a + x.refused, 0) // the main thread's count is live until close
      const r: OpenResult = {
        acked: all.reduce((a, x) => a + x.acked, 0),
        emitted: all.reduce((a, x) => a + x.emitted, 0),
        refused: refused(),
        cut: all.some((x) => x.cut),
        lagMaxMs: Math.max(...all.map((x) => x.lagMaxMs)),
      }
      return {
        acked: r.acked,
        emitted: mainWarm.emitted + workerWarm.reduce((a, n) => a + n, 0) + r.emitted,
        latency,
        refused,
        ...(mode === 'open' ? { extra: openExtra(cfg, perRate * producers, r, latency, undefined) } : {}),
      }
    } finally {
      for (const x of workers) void x.w.terminate()
    }
  })
}

async function producerWorker(init: ProducerInit): Promise<void> {
  const port = parentPort!
  const send = (m: FromProducer, transfer: ArrayBuffer[] = []): void => port.postMessage(m, transfer)
  try {
    const producer = AuditSink.attach(init.handle)
    const emit: Emit = (ev) => producer.emit(ev)
    const mk = eventMaker(init.payloadBytes)
    const warm = await closedLoop(
      emit,
      mk,
      init.thread,
      warmWindow(Math.max(init.window, 16)),
      init.warmupMs,
      undefined,
    )
    const go = new Promise<void>((resolve, reject) =>
      port.once('message', (m: ToProducer) =>
        m?.type === 'go' ? resolve() : reject(new Error(`unknown message ${JSON.stringify(m)}`)),
      ),
    )
    send({ type: 'ready', warmEmitted: warm.emitted })
    await go
    const log = new LatencyLog()
    const r: OpenResult =
      init.mode === 'closed'
        ? {
            ...(await closedLoop(emit, mk, init.thread, init.window, init.durationMs, log)),
            refused: 0,
            cut: false,
            lagMaxMs: 0,
          }
        : await openLoop(
            emit,
            mk,
            init.thread,
            init.rate,
            init.durationMs / 1000,
            init.graceMs,
            log,
            undefined,
            init.poll,
          )
    await producer.close() // every emit of this thread settled: r.refused is final
    const lat = log.values().slice()
    send(
      { type: 'done', acked: r.acked, emitted: r.emitted, refused: r.refused, cut: r.cut, lagMaxMs: r.lagMaxMs, lat },
      [lat.buffer as ArrayBuffer],
    )
  } catch (err) {
    send({ type: 'error', message: (err as Error)?.message ?? String(err) })
  }
}

if (!isMainThread && (workerData as Partial<ProducerInit> | null)?.kind === WORKER_KIND) {
  await producerWorker(workerData as ProducerInit)
}
