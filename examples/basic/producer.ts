/**
 * The producing side of the basic demo: what every emitting thread does.
 *
 *   produce(emit, thread, count, window)
 *     start `window` emits ──► each ack starts the next emit (a sliding window)
 *     per emit: ack latency = emit() call → promise resolved, and the receipt's seq
 *
 * The main thread calls produce() with sink.emit. Each worker_thread runs this
 * file: it gets the sink's handle in workerData, attaches with
 * AuditSink.attach(handle), says 'ready', waits for 'go', produces, and posts
 * back its latencies and seqs (their buffers are transferred, not copied).
 *
 * Every event is exactly PAYLOAD_BYTES of JSON (fixed-width fields plus a
 * filler sized once at load), so "bytes per event" in the report means one thing.
 */

import { isMainThread, parentPort, workerData } from 'node:worker_threads'
import { AuditSink, type AuditEvent, type Receipt, type SinkHandle } from '../../lib/index.js'

/** The serialized size of every demo event (the JSON the sink stores). */
export const PAYLOAD_BYTES = 256

export interface ProducerInit {
  kind: 'mtlog-audit-demo-producer'
  handle: SinkHandle
  thread: number
  count: number
  window: number
}

/** What a worker posts back. */
export type ProducerMessage =
  | { type: 'ready' }
  | { type: 'done'; thread: number; latMs: Float64Array; seqs: Float64Array; elapsedMs: number }
  | { type: 'error'; thread: number; code: string | undefined; message: string }

export interface Produced {
  /** Ack latency of emit i, ms. */
  latMs: Float64Array
  /** The seq the sink gave emit i. */
  seqs: Float64Array
  elapsedMs: number
}

const ACTIONS = ['read', 'edit', 'view', 'copy'] as const
const TEMPLATE = 'User {UserId} did {Action} on record {RecordId} from {ClientIp} in thread {Thread}'

function digits(n: number, width: number): string {
  return String(n).padStart(width, '0')
}

function baseEvent(thread: number, i: number, filler: string): AuditEvent {
  return {
    level: 'Information',
    messageTemplate: TEMPLATE,
    properties: {
      UserId: `u-${digits(i % 99_991, 5)}`,
      Action: ACTIONS[i & 3],
      RecordId: `r-${thread}-${digits(i, 9)}`,
      ClientIp: `10.${digits((i >>> 16) & 255, 3)}.${digits((i >>> 8) & 255, 3)}.${digits(i & 255, 3)}`,
      Thread: thread % 10,
      Filler: filler,
    },
  }
}

/** The bytes encodeEvent stores: JSON of { level, messageTemplate, properties }. */
function payloadBytes(ev: AuditEvent): number {
  return Buffer.byteLength(
    JSON.stringify({ level: ev.level, messageTemplate: ev.messageTemplate, properties: ev.properties }),
  )
}

const FILLER = 'x'.repeat(PAYLOAD_BYTES - payloadBytes(baseEvent(0, 0, '')))
if (payloadBytes(baseEvent(9, 999_999_999, FILLER)) !== PAYLOAD_BYTES) throw new Error('demo event size drifted')

/** Event i of a thread: an audit record of exactly PAYLOAD_BYTES of JSON. */
export function makeEvent(thread: number, i: number): AuditEvent {
  return baseEvent(thread, i, FILLER)
}

/** Emit `count` events keeping `window` in flight; rejects on the first failed emit. */
export function produce(
  emit: (ev: AuditEvent) => Promise<Receipt>,
  thread: number,
  count: number,
  window: number,
): Promise<Produced> {
  const latMs = new Float64Array(count)
  const seqs = new Float64Array(count)
  if (count === 0) return Promise.resolve({ latMs, seqs, elapsedMs: 0 })
  return new Promise((resolve, reject) => {
    let next = 0
    let settled = 0
    let failed = false
    const t0 = performance.now()
    const start = (): void => {
      const i = next++
      const sent = performance.now()
      emit(makeEvent(thread, i)).then(
        (r) => {
          const now = performance.now()
          latMs[i] = now - sent
          seqs[i] = r.seq
          settled++
          if (failed) return
          if (next < count) start()
          else if (settled === count) resolve({ latMs, seqs, elapsedMs: now - t0 })
        },
        (err: unknown) => {
          if (failed) return
          failed = true
          reject(err)
        },
      )
    }
    for (let k = 0; k < Math.min(window, count); k++) start()
  })
}

// ── worker_thread entry ─────────────────────────────────────────────────────

function post(m: ProducerMessage, transfer: ArrayBuffer[] = []): void {
  parentPort!.postMessage(m, transfer)
}

if (!isMainThread && (workerData as Partial<ProducerInit> | null)?.kind === 'mtlog-audit-demo-producer') {
  const init = workerData as ProducerInit
  const producer = AuditSink.attach(init.handle)
  parentPort!.once('message', () => {
    produce((ev) => producer.emit(ev), init.thread, init.count, init.window).then(
      async (r) => {
        await producer.close()
        post({ type: 'done', thread: init.thread, latMs: r.latMs, seqs: r.seqs, elapsedMs: r.elapsedMs }, [
          r.latMs.buffer as ArrayBuffer,
          r.seqs.buffer as ArrayBuffer,
        ])
      },
      (err: unknown) => {
        const e = err as { code?: string; message?: string }
        post({ type: 'error', thread: init.thread, code: e?.code, message: e?.message ?? String(err) })
      },
    )
  })
  post({ type: 'ready' })
}
