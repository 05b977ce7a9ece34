// A small end-to-end run for other Node versions: main thread + one worker
// thread emit into one sink; prints one JSON line with the outcome.
import { Worker, isMainThread, workerData, parentPort } from 'node:worker_threads'
import { AuditSink, verifyLog, type SinkHandle } from '../../lib/index.js'

const N = 2000
if (isMainThread) {
  const dir = process.argv[2]!
  const sink = await AuditSink.open({ dir })
  const worker = new Worker(new URL(import.meta.url), { workerData: sink.handle() })
  const done = new Promise<void>((resolve, reject) => {
    worker.once('message', () => resolve())
    worker.once('error', reject)
  })
  await Promise.all(
    Array.from({ length: N }, (_, i) =>
      sink.emit({ level: 'Information', messageTemplate: 'main {N}', properties: { N: i } }),
    ),
  )
  await done
  await sink.close()
  const r = await verifyLog(dir)
  console.log(JSON.stringify({ node: process.version, ok: r.ok, records: r.events, emitted: 2 * N }))
} else {
  const p = AuditSink.attach(workerData as SinkHandle)
  await Promise.all(
    Array.from({ length: N }, (_, i) =>
      p.emit({ level: 'Debug', messageTemplate: 'worker {N}', properties: { N: i } }),
    ),
  )
  parentPort!.postMessage('done')
}
