/**
 * The process Kill9DuringWrite kills with SIGKILL. Started ahead of time by the
 * runner's pool (node startup, imports and the second producer thread are
 * already done: 'W'), it reads one job line on stdin, then:
 *   O                          about to call AuditSink.open (recovery follows)
 *   R <lastSeq> <tornBytes> <tmpRemoved> <zeroBytes> <resumedSeq> <gapFrom|-> <gapTo|->
 *                              open returned (lastSeq: after the gap and seal open wrote)
 *   A <seq> <p> <n>            emit n of producer p resolved with seq (durable)
 *   E <p> <n> <code>           an emit rejected (never expected)
 *   C                          every emit settled; about to close
 *   D                          closed cleanly
 * Thread 0 (this thread) is producer p0, thread 1 (a worker_thread) p0 + 1.
 * stdout to a pipe is synchronous on Linux: a line written is a line the
 * parent reads even if the process dies right after; a receipt not yet written
 * is simply not counted as acknowledged.
 */

import { createInterface } from 'node:readline'
import { Worker } from 'node:worker_threads'
import type { AuditSinkOptions } from '../lib/sink/index.js'
import { AuditSink } from '../lib/sink/index.js'
import { makeOracle } from './events.js'
import type { ProducerJob, ProducerMsg } from './producer-worker.js'
import { produce } from './producer-worker.js'

export interface Kill9Job {
  dir: string
  p0: number
  perThread: number
  inflight: number
  salt: number
  opts: Omit<AuditSinkOptions, 'dir'>
}

const out = (s: string): boolean => process.stdout.write(s)
const worker = new Worker(new URL('./producer-worker.js', import.meta.url), { workerData: { waitForJob: true } })
await new Promise((resolve) => worker.once('online', resolve))
void makeOracle
out('W\n')

const rl = createInterface({ input: process.stdin })
const line = await new Promise<string>((resolve) => rl.once('line', resolve))
rl.close()
const job = JSON.parse(line) as Kill9Job
out('O\n')
const sink = await AuditSink.open({ dir: job.dir, ...job.opts })
const rep = sink.openReport
out(
  `R ${rep.lastSeq} ${rep.tornTail?.bytes ?? 0} ${rep.removedTmp.length} ${rep.zeroTail?.bytes ?? 0} ${rep.resumedSeq} ${rep.gap?.fromSeq ?? '-'} ${rep.gap?.toSeq ?? '-'}\n`,
)
const p1 = job.p0 + 1
const workerDone = new Promise<void>((resolve, reject) => {
  worker.on('message', (m: ProducerMsg) => {
    if (m.t === 'acks') {
      let s = ''
      for (let i = 0; i < m.pairs.length; i += 2) s += `A ${m.pairs[i]} ${p1} ${m.pairs[i + 1]}\n`
      out(s)
    } else if (m.t === 'error') out(`E ${p1} ${m.n} ${m.code}\n`)
    else resolve()
  })
  worker.once('error', reject)
})
const wjob: ProducerJob = { handle: sink.handle(), p: p1, count: job.perThread, inflight: job.inflight, salt: job.salt }
worker.postMessage(wjob)
await produce(
  { handle: sink.handle(), p: job.p0, count: job.perThread, inflight: job.inflight, salt: job.salt },
  (m) => {
    if (m.t === 'acks') {
      let s = ''
      for (let i = 0; i < m.pairs.length; i += 2) s += `A ${m.pairs[i]} ${job.p0} ${m.pairs[i + 1]}\n`
      out(s)
    } else if (m.t === 'error') out(`E ${job.p0} ${m.n} ${m.code}\n`)
  },
  { emit: (e) => sink.emit(e), close: async () => undefined },
)
await workerDone
out('C\n')
await sink.close()
out('D\n')
await worker.terminate()
