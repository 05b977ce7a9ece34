/**
 * Ring publish → consume across threads: P producer worker_threads reserve and
 * publish 256 B records into one shared ring for a fixed time while the main
 * thread consumes them the way the writer does (take, release, and sleep on
 * the ring's wake word when it is empty). No I/O: this is the ring's ceiling.
 *
 *   producer 1 ─┐
 *   producer 2 ─┼─► Ring (SharedArrayBuffer) ─► main thread: take ─► release
 *   producer P ─┘        (reserve = one CAS on a u64; NO_SPACE waits on `consumed`)
 *
 * Workers run this file.
 */

import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads'
import { NO_SPACE, Ring } from '../shared/ring/ring.js'
import { CONSUMED } from '../shared/ring/layout.js'

const KIND = 'mtlog-audit/bench-ring-producer@1'
/** Control words in their own small SAB: 0 go flag, 1 producers done, 2.. records per producer. */
const GO = 0
const DONE = 1
const COUNT0 = 2

interface Init {
  kind: typeof KIND
  ring: SharedArrayBuffer
  control: SharedArrayBuffer
  index: number
  payloadBytes: number
  durationMs: number
}

export interface RingMpResult {
  producers: number
  records: number
  seconds: number
  recordsPerSec: number
  nsPerRecord: number
}

/** P producers for durationMs; resolves when the main thread has consumed every published record. */
export async function runRingMp(
  producers: number,
  durationMs: number,
  payloadBytes = 256,
  ringBytes = 8 << 20,
): Promise<RingMpResult> {
  const ring = Ring.allocate(ringBytes)
  ring.initCursors(0)
  const control = new SharedArrayBuffer(4 * (COUNT0 + producers))
  const ctl = new Int32Array(control)
  const workers = Array.from({ length: producers }, (_, index) => {
    const init: Init = { kind: KIND, ring: ring.sab, control, index, payloadBytes, durationMs }
    return new Worker(new URL(import.meta.url), { workerData: init, name: `ring producer ${index}` })
  })
  try {
    await Promise.all(
      workers.map(
        (w) =>
          new Promise<void>((resolve, reject) => {
            w.once('message', (m: { type?: string }) =>
              m?.type === 'ready'
                ? resolve()
                : reject(new Error(`ring producer: unknown message ${JSON.stringify(m)}`)),
            )
            w.once('error', reject)
          }),
      ),
    )
    Atomics.store(ctl, GO, 1)
    Atomics.notify(ctl, GO)
    const t0 = performance.now()
    let readPos = 0
    let consumed = 0
    const visit = (): boolean => {
      consumed++
      return true
    }
    for (;;) {
      const pos = ring.take(readPos, visit)
      if (pos !== readPos) {
        ring.release(readPos, pos)
        readPos = pos
        continue
      }
      if (Atomics.load(ctl, DONE) === producers && !ring.hasPublished(readPos)) break
      ring.sleepUntilWork(readPos, 1)
    }
    const seconds = (performance.now() - t0) / 1000
    let produced = 0
    for (let i = 0; i < producers; i++) produced += Atomics.load(ctl, COUNT0 + i)
    if (produced !== consumed)
      throw new Error(`ring: producers published ${produced} records, the consumer took ${consumed}`)
    return {
      producers,
      records: consumed,
      seconds,
      recordsPerSec: consumed / seconds,
      nsPerRecord: (seconds * 1e9) / consumed,
    }
  } finally {
    await Promise.all(workers.map((w) => w.terminate()))
  }
}

function producer(init: Init): void {
  const ring = new Ring(init.ring)
  const ctl = new Int32Array(init.control)
  const payload = new Uint8Array(init.payloadBytes).fill(0x61)
  parentPort!.postMessage({ type: 'ready' })
  Atomics.wait(ctl, GO, 0)
  const end = performance.now() + init.durationMs
  let n = 0
  for (;;) {
    if ((n & 255) === 0 && performance.now() >= end) break
    if (ring.reserve(init.payloadBytes) === NO_SPACE) {
      Atomics.wait(ring.i32, CONSUMED, ring.consumedWord(), 1)
      continue
    }
    ring.publish(payload, init.payloadBytes, 0)
    n++
  }
  Atomics.store(ctl, COUNT0 + init.index, n)
  Atomics.add(ctl, DONE, 1) // the consumer sleeps at most 1 ms at a time, so it sees this
}

if (!isMainThread && (workerData as Partial<Init> | null)?.kind === KIND) producer(workerData as Init)
