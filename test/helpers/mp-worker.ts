// A worker_thread producer for the multi-producer tests. It attaches to the
// sink from the handle in workerData, waits for 'go', emits `count` load events
// with up to `inflight` unsettled, and posts every receipt back. On
// 'emit-after-close' it emits once more and posts what happened. It never calls
// process.exit: after its last message it must exit on its own (a producer that
// keeps the thread alive after everything settled is a bug the test sees).
import { parentPort, workerData } from 'node:worker_threads'
import { AuditSink, type SinkHandle } from '../../lib/index.js'
import { loadEvent, type PadSpec, pump } from './load.js'

export interface MpWorkerData {
  handle: SinkHandle
  thread: number
  count: number
  inflight: number
  pad: PadSpec
}

export type MpWorkerMessage =
  | { type: 'done'; thread: number; seqs: (number | undefined)[]; errors: string[] }
  | { type: 'after-close'; thread: number; outcome: string; pending: number }

const data = workerData as MpWorkerData
const port = parentPort!
const producer = AuditSink.attach(data.handle)

port.once('message', (go: unknown) => {
  if (go !== 'go') throw new Error(`expected 'go', got ${JSON.stringify(go)}`)
  void pump((n) => producer.emit(loadEvent(data.thread, n, data.pad)), data.count, data.inflight).then((r) => {
    port.postMessage({ type: 'done', thread: data.thread, seqs: r.seqs, errors: r.errors } satisfies MpWorkerMessage)
    port.once('message', (m: unknown) => {
      if (m !== 'emit-after-close') throw new Error(`expected 'emit-after-close', got ${JSON.stringify(m)}`)
      producer.emit(loadEvent(data.thread, data.count, data.pad)).then(
        (r) =>
          port.postMessage({
            type: 'after-close',
            thread: data.thread,
            outcome: `resolved seq ${r.seq}`,
            pending: producer.pending(),
          } satisfies MpWorkerMessage),
        (e: { code?: string }) =>
          port.postMessage({
            type: 'after-close',
            thread: data.thread,
            outcome: e.code ?? `no code: ${String(e)}`,
            pending: producer.pending(),
          } satisfies MpWorkerMessage),
      )
    })
  })
})
