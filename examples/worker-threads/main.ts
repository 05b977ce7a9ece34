/**
 * Worker-threads example: a piscina pool whose workers all emit into the
 * app's one sink.
 *
 *   main thread: AuditSink.open ─► sink.handle() in the pool's workerData
 *   each pool worker (task.ts): AuditSink.attach(handle) once, then per task
 *     await producer.emit(...) ─► returns the receipt's seq
 *   main thread: results ─► sink.flush() ─► close ─► readLog: every seq once
 *
 * No second WAL and no second lock: the handle's SharedArrayBuffer is shared,
 * every worker is one more producer of the same ring, and no message crosses
 * threads per event. The pool uses atomics: 'async' so idle workers keep
 * their event loop running (the default parks them, which would freeze the
 * timer a producer holds while its emits are pending).
 *
 * Run (after the build): node dist/examples/worker-threads/main.js
 *   EXAMPLE_DIR=path   the WAL directory (default ./worker-threads-audit)
 *   EXAMPLE_TASKS=n    tasks (default 2000)
 */

import path from 'node:path'
import { Piscina } from 'piscina'
import { AuditSink, readLog, verifyLog } from '../../lib/index.js'
import type { TaskInput, TaskOutput } from './task.js'

async function main(): Promise<number> {
  const dir = path.resolve(process.env.EXAMPLE_DIR ?? 'worker-threads-audit')
  const tasks = Number(process.env.EXAMPLE_TASKS ?? 2000)
  const sink = await AuditSink.open({ dir })
  const pool = new Piscina<TaskInput, TaskOutput>({
    filename: new URL('./task.js', import.meta.url).href,
    workerData: { handle: sink.handle() },
    minThreads: 2,
    maxThreads: 2,
    atomics: 'async',
  })
  const results = await Promise.all(Array.from({ length: tasks }, (_, i) => pool.run({ orderId: `o-${i}` })))
  await pool.destroy()
  await sink.flush()
  await sink.close()

  const v = await verifyLog(dir)
  const inLog = new Map<number, string>()
  for await (const r of readLog(dir)) inLog.set(r.seq, String(r.event.properties.OrderId))
  const threads = new Set(results.map((r) => r.threadId))
  const allThere = results.every((r) => inLog.get(r.seq) === r.orderId)
  const unique = new Set(results.map((r) => r.seq)).size === tasks
  console.log(`tasks: ${tasks}, worker threads that emitted: ${threads.size}, events in log: ${inLog.size}`)
  console.log(`receipts: ${allThere && unique ? 'ok' : 'FAILED'}, verify: ${v.ok ? 'ok' : 'FAILED'}`)
  const ok = v.ok && allThere && unique && inLog.size === tasks
  console.log(`result: ${ok ? 'ok' : 'FAILED'}`)
  return ok ? 0 : 1
}

main().then(
  (code) => (process.exitCode = code),
  (err: unknown) => {
    console.error(err)
    console.log('result: FAILED')
    process.exitCode = 1
  },
)
