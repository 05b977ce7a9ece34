// Runs the main thread and N attached worker_threads (helpers/mp-worker.ts)
// emitting into one sink at once, and keeps track of every worker started so
// a failed assertion cannot leave one keeping the test process alive.
import * as assert from 'uvu/assert'
import { Worker } from 'node:worker_threads'
import type { AuditSink } from '../../lib/index.js'
import type { ThreadResult } from './check.js'
import { loadEvent, type PadSpec, pump, within } from './load.js'
import type { MpWorkerData, MpWorkerMessage } from './mp-worker.js'

export const MP_WORKER_URL = new URL('./mp-worker.js', import.meta.url)

const live = new Set<Worker>()

export function startWorker(url: URL, workerData: unknown): Worker {
  const w = new Worker(url, { workerData })
  live.add(w)
  w.once('exit', () => live.delete(w))
  return w
}

export async function terminateAll(): Promise<void> {
  await Promise.all([...live].map((w) => w.terminate()))
}

export interface ThreadHandle {
  worker: Worker
  thread: number
  exited: Promise<number>
  next: () => Promise<MpWorkerMessage>
}

export interface Load {
  workers: number
  count: number
  inflight: number
  pad: PadSpec
}

/** Start `workers` attached producers (threads 1..n) and the main thread (0), all emitting `count` events at once. */
export async function runThreads(
  sink: AuditSink,
  o: Load,
): Promise<{ results: ThreadResult[]; workers: ThreadHandle[] }> {
  const ws: ThreadHandle[] = Array.from({ length: o.workers }, (_, i) => {
    const thread = i + 1
    const wd: MpWorkerData = { handle: sink.handle(), thread, count: o.count, inflight: o.inflight, pad: o.pad }
    const worker = startWorker(MP_WORKER_URL, wd)
    const inbox: MpWorkerMessage[] = []
    const waiters: [(m: MpWorkerMessage) => void, (e: Error) => void][] = []
    let failure: Error | undefined
    worker.on('message', (m: MpWorkerMessage) => {
      const w = waiters.shift()
      if (w) w[0](m)
      else inbox.push(m)
    })
    worker.on('error', (e) => {
      failure = e
      for (const w of waiters.splice(0)) w[1](e)
    })
    const exited = new Promise<number>((resolve) => worker.once('exit', resolve))
    const next = (): Promise<MpWorkerMessage> => {
      if (failure) return Promise.reject(failure)
      const m = inbox.shift()
      if (m) return Promise.resolve(m)
      return new Promise((resolve, reject) => waiters.push([resolve, reject]))
    }
    return { worker, thread, exited, next }
  })
  for (const w of ws) w.worker.postMessage('go')
  const main = pump((n) => sink.emit(loadEvent(0, n, o.pad)), o.count, o.inflight)
  const [m, ...rest] = await within(Promise.all([main, ...ws.map((w) => w.next())]), 120_000, 'all producers settling')
  const results: ThreadResult[] = [{ thread: 0, seqs: m.seqs, errors: m.errors }]
  for (const r of rest as MpWorkerMessage[]) {
    assert.is(r.type, 'done')
    if (r.type === 'done') results.push({ thread: r.thread, seqs: r.seqs, errors: r.errors })
  }
  return { results, workers: ws }
}
