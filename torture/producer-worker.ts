/**
 * A producer thread for the torture runner: attaches to a sink handle and
 * emits the oracle's events (producer p, n = 0..count-1) with up to `inflight`
 * in flight; posts every receipt as [seq, n] pairs in chunks, then 'done'.
 * Used by ConcurrentCorruption (in-process) and the kill -9 child.
 */

import { parentPort, workerData } from 'node:worker_threads'
import { type AttachedProducer, AuditSink, type SinkHandle } from '../lib/sink/index.js'
import { makeOracle } from './events.js'

export interface ProducerJob {
  handle: SinkHandle
  p: number
  count: number
  inflight: number
  salt: number
  clock?: 'steady' | 'jumpy'
}

export type ProducerMsg =
  { t: 'acks'; pairs: number[] } | { t: 'error'; n: number; code: string; message: string } | { t: 'done' }

export interface Emitter {
  emit: AttachedProducer['emit']
  close(): Promise<void>
}

/** Emit job.count events; `via` is the thread's own sink when it has one (else attach to the handle). */
export async function produce(job: ProducerJob, send: (m: ProducerMsg) => void, via?: Emitter): Promise<void> {
  const producer: Emitter = via ?? AuditSink.attach(job.handle)
  const oracle = makeOracle({ salt: job.salt, clock: job.clock })
  let pairs: number[] = []
  let scheduled = false
  const flush = (): void => {
    scheduled = false
    if (pairs.length > 0) {
      send({ t: 'acks', pairs })
      pairs = []
    }
  }
  await new Promise<void>((resolve) => {
    let next = 0
    let inFlight = 0
    let settled = 0
    if (job.count === 0) return resolve()
    const launch = (): void => {
      while (inFlight < job.inflight && next < job.count) {
        const n = next++
        inFlight++
        producer
          .emit(oracle.event(job.p, n))
          .then(
            (r) => {
              pairs.push(r.seq, n)
              if (!scheduled) {
                scheduled = true
                setImmediate(flush)
              }
            },
            (e: { code?: string; message?: string }) =>
              send({ t: 'error', n, code: e.code ?? 'no-code', message: e.message ?? String(e) }),
          )
          .finally(() => {
            inFlight--
            settled++
            if (settled === job.count) resolve()
            else launch()
          })
      }
    }
    launch()
  })
  flush()
  await producer.close()
  send({ t: 'done' })
}

const wd = workerData as { job?: ProducerJob; waitForJob?: boolean } | undefined
if (parentPort !== null && wd?.job !== undefined) {
  const port = parentPort
  await produce(wd.job, (m) => port.postMessage(m))
} else if (parentPort !== null && wd?.waitForJob === true) {
  // Pre-started (kill -9 child): the job arrives once the sink is open.
  const port = parentPort
  port.once('message', (job: ProducerJob) => void produce(job, (m) => port.postMessage(m)))
}
