// A worker_thread producer that emits `count` events in one synchronous burst
// (the ring fills: some are reserved, the rest wait for space), reports, then
// blocks its thread (Atomics.wait on `control`) until the main thread stores 1
// there. While it is blocked, its Atomics.waitAsync wake-ups queue up; the main
// thread closes the sink meanwhile. Then it posts how every emit settled.
import { parentPort, workerData } from 'node:worker_threads'
import { AuditSink, type SinkHandle } from '../../lib/index.js'
import { loadEvent, type PadSpec } from './load.js'

export interface BlockingWorkerData {
  handle: SinkHandle
  control: SharedArrayBuffer
  thread: number
  count: number
  pad: PadSpec
}

export type BlockingWorkerMessage =
  { type: 'emitted'; pending: number } | { type: 'settled'; outcomes: ({ seq: number } | { code: string })[] }

const data = workerData as BlockingWorkerData
const port = parentPort!
const control = new Int32Array(data.control)
const producer = AuditSink.attach(data.handle)

const outcomes: ({ seq: number } | { code: string })[] = new Array(data.count)
const settled: Promise<void>[] = []
for (let n = 0; n < data.count; n++) {
  settled.push(
    producer.emit(loadEvent(data.thread, n, data.pad)).then(
      (r) => void (outcomes[n] = { seq: r.seq }),
      (e: { code?: string }) => void (outcomes[n] = { code: e.code ?? String(e) }),
    ),
  )
}
port.postMessage({ type: 'emitted', pending: producer.pending() } satisfies BlockingWorkerMessage)
while (Atomics.load(control, 0) === 0) Atomics.wait(control, 0, 0, 1000)
await Promise.all(settled)
port.postMessage({ type: 'settled', outcomes } satisfies BlockingWorkerMessage)
