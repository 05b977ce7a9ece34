// The process test/sink/crash.test.ts kills with SIGKILL. Run as
//   node crash-child.js '<CrashConfig JSON>'
// It opens the sink in cfg.dir, then emits as fast as it can from its main
// thread (thread 0) and one attached worker_thread (thread 1), each with up to
// cfg.inflight emits in flight, and reports on stdout, one line each:
//   O                       about to call AuditSink.open (recovery follows)
//   R <resumedSeq> <tornBytes> <tmpRemoved>  open returned: what recovery found
//   A <seq> <thread> <n>    emit n of thread resolved with seq (it is durable)
//   E <thread> <error>      an emit rejected (never expected)
//   D                       every emit settled and the sink closed cleanly
// Receipts are written as they resolve (batched per event-loop turn); stdout
// to a pipe is synchronous on Linux, so a line written is a line the parent
// gets even if the process dies right after.
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads'
import { AuditSink, type AuditSinkOptions, type SinkHandle } from '../../lib/index.js'
import { loadEvent, type PadSpec, pump } from './load.js'

export interface CrashConfig {
  dir: string
  life: number
  perThread: number
  inflight: number
  opts: Omit<AuditSinkOptions, 'dir'>
  pad: PadSpec
}

function lines(sink: (chunk: string) => void): (line: string) => void {
  let buf = ''
  let scheduled = false
  const flush = (): void => {
    scheduled = false
    if (buf.length > 0) {
      const b = buf
      buf = ''
      sink(b)
    }
  }
  return (line: string) => {
    buf += `${line}\n`
    if (!scheduled) {
      scheduled = true
      setImmediate(flush)
    }
  }
}

if (isMainThread) {
  const cfg = JSON.parse(process.argv[2]!) as CrashConfig
  const out = lines((chunk) => process.stdout.write(chunk))
  process.stdout.write('O\n')
  const sink = await AuditSink.open({ dir: cfg.dir, ...cfg.opts })
  process.stdout.write(
    `R ${sink.openReport.resumedSeq} ${sink.openReport.tornTail?.bytes ?? 0} ${sink.openReport.removedTmp.length}\n`,
  )
  const worker = new Worker(new URL(import.meta.url), { workerData: { handle: sink.handle(), cfg } })
  const workerDone = new Promise<void>((resolve, reject) => {
    worker.on('message', (m: string) => (m === 'DONE' ? resolve() : process.stdout.write(m)))
    worker.once('error', reject)
  })
  const r = await pump(
    (n) => sink.emit(loadEvent(0, n, cfg.pad, { life: cfg.life })),
    cfg.perThread,
    cfg.inflight,
    (n, seq) => out(`A ${seq} 0 ${n}`),
  )
  for (const e of r.errors) out(`E 0 ${e}`)
  await workerDone
  await sink.close()
  await new Promise((resolve) => setImmediate(resolve))
  process.stdout.write('D\n')
} else {
  const { handle, cfg } = workerData as { handle: SinkHandle; cfg: CrashConfig }
  const producer = AuditSink.attach(handle)
  const port = parentPort!
  const out = lines((chunk) => port.postMessage(chunk))
  const r = await pump(
    (n) => producer.emit(loadEvent(1, n, cfg.pad, { life: cfg.life })),
    cfg.perThread,
    cfg.inflight,
    (n, seq) => out(`A ${seq} 1 ${n}`),
  )
  for (const e of r.errors) out(`E 1 ${e}`)
  await new Promise((resolve) => setImmediate(resolve))
  await new Promise((resolve) => setImmediate(resolve))
  port.postMessage('DONE')
}
