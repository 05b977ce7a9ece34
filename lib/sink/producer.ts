/**
 * The app-thread side of the pipeline: one Producer per thread that emits.
 *
 *   emit(ev) ─► encodeEvent (JSON + UTF-8 length) ─► ring.reserve (CAS: space + seq)
 *       │                                        │ no space: queue the bytes (≤ pendingEmitsMax),
 *       │                                        │ wait on `consumed`, retry in order
 *       ▼                                        ▼
 *   ring.publish ─► pending FIFO (seq, resolve, reject)
 *                        ▲
 *   one Atomics.waitAsync loop on DURABLE_LO ── resolves every pending emit
 *   with seq ≤ durable; on FAILED/CLOSED rejects the rest with the cause
 *
 * Contract: the promise of emit() resolves with { seq } only after the writer
 * published a durable seq ≥ that seq (after fdatasync); it rejects with a
 * coded error otherwise, and an event that fails validation is never written.
 * Emits of one Producer get increasing seqs in call order. While anything is
 * pending, a ref'd timer keeps the event loop alive (a pending waitAsync does
 * not, node#44729).
 *
 * flush() is the barrier: it resolves { durableSeq } once every emit this
 * Producer accepted before the call has resolved, and rejects (coded) if any
 * of them was rejected or the sink failed. Emits are numbered in acceptance
 * order; they resolve in that order, so "1..resolved" is the resolved set and
 * a barrier is a number. Each settle round also feeds the shared telemetry
 * (lib/sink/telemetry.ts): latency per emit, outcome counts.
 */

import { AuditError, ERROR_CODES, fromWire } from '../../shared/errors.js'
import { FIXED } from '../../shared/limits.js'
import { CLOSED, NO_SPACE, Ring } from '../../shared/ring/ring.js'
import {
  CONSUMED,
  DURABLE_LO,
  RING_KIND_EVENT,
  STATE_CLOSED,
  STATE_FAILED,
  STATE_OPEN,
} from '../../shared/ring/layout.js'
import type { AuditEvent } from '../../shared/event.js'
import { encodeEvent } from './event.js'
import { EmitTally } from './telemetry.js'
import { Barriers } from './barriers.js'

export interface Receipt {
  /** The event's sequence number: contiguous from 1 across the whole log. */
  seq: number
}

/** What flush() resolves with. */
export interface FlushResult {
  /** The durable seq when the barrier resolved: ≥ the seq of every emit it covers. */
  durableSeq: number
}

type Resolve = (r: Receipt) => void
type Reject = (e: Error) => void

interface Waiting {
  json: string | readonly string[]
  len: number
  timeMs: number
  /** The ring kind: an event, or a record the sink makes (shared/ring/layout.ts). */
  kind: number
  /** performance.now() when emit() accepted it. */
  acceptedAt: number
  resolve: Resolve
  reject: Reject
}

const U32 = 0x1_0000_0000

/** A FIFO with O(1) push and shift that reuses its storage. */
class Fifo<T> {
  private items: (T | undefined)[] = []
  private head = 0
  get length(): number {
    return this.items.length - this.head
  }
  push(v: T): void {
    this.items.push(v)
  }
  peek(): T | undefined {
    return this.items[this.head]
  }
  shift(): T | undefined {
    const v = this.items[this.head]
    this.items[this.head++] = undefined
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head)
      this.head = 0
    }
    return v
  }
}

export class Producer {
  private readonly pendingSeq = new Fifo<number>()
  private readonly pendingResolve = new Fifo<Resolve>()
  private readonly pendingReject = new Fifo<Reject>()
  /** performance.now() at acceptance, one per pendingSeq entry. */
  private readonly pendingAt = new Fifo<number>()
  private readonly waiting = new Fifo<Waiting>()
  /** flush(): emits numbered in acceptance order (lib/sink/barriers.ts). */
  private readonly barriers: Barriers
  /** When this Producer's pending emits last made progress (or became pending): health's stall clock. */
  private progressAt = 0
  private readonly tally: EmitTally
  private durableLoop = false
  private spaceLoop = false
  private keepAlive: NodeJS.Timeout | undefined
  private closing = false
  private abortError: Error | undefined
  private drained: (() => void) | undefined
  private drainPromise: Promise<void> | undefined

  constructor(
    private readonly ring: Ring,
    private readonly eventBytesMax: number,
    private readonly pendingEmitsMax: number,
  ) {
    this.tally = new EmitTally(ring.u64)
    this.barriers = new Barriers(() => ring.durableSeq())
  }

  emit(ev: AuditEvent): Promise<Receipt> {
    if (this.closing || this.abortError !== undefined) return this.refuse(this.abortError ?? closedError())
    const stateErr = this.stateError()
    if (stateErr !== undefined) return this.refuse(stateErr)
    let enc
    try {
      enc = encodeEvent(ev, this.eventBytesMax)
    } catch (err) {
      return this.refuse(err as Error)
    }
    return this.submit(enc.json, enc.len, enc.timeMs, RING_KIND_EVENT)
  }

  /**
   * Publish a record the sink makes itself (a checkpoint: kind = its WAL record
   * type) through the same path as an emit: it takes the next seq and resolves
   * once durable. Not refused while closing, so close() can end with one.
   */
  publishRecord(kind: number, json: string): Promise<Receipt> {
    if (this.abortError !== undefined) return Promise.reject(this.abortError)
    const stateErr = this.stateError()
    if (stateErr !== undefined) return Promise.reject(stateErr)
    return this.submit(json, Buffer.byteLength(json), Date.now(), kind)
  }

  private submit(json: string | readonly string[], len: number, timeMs: number, kind: number): Promise<Receipt> {
    if (this.waiting.length === 0) {
      const seqLo = this.ring.reserve(len)
      if (seqLo >= 0) {
        const seq = this.fullSeq(seqLo)
        this.ring.publishString(json, len, timeMs, kind)
        return this.track(seq, this.accept())
      }
      if (seqLo === CLOSED) return this.refuse(this.stateError() ?? closedError())
    }
    if (this.waiting.length >= this.pendingEmitsMax) {
      return this.refuse(
        new AuditError(
          ERROR_CODES.QUEUE_FULL,
          `${this.waiting.length} emits already wait for ring space (pendingEmitsMax ${this.pendingEmitsMax}); await emits or raise ringBytes`,
          {
            details: { pendingEmitsMax: this.pendingEmitsMax },
          },
        ),
      )
    }
    const acceptedAt = this.accept()
    return new Promise<Receipt>((resolve, reject) => {
      this.waiting.push({ json, len, timeMs, kind, acceptedAt, resolve, reject })
      this.hold()
      if (!this.spaceLoop) void this.runSpaceLoop()
    })
  }

  /** Emits of this producer not yet settled. */
  pending(): number {
    return this.pendingSeq.length + this.waiting.length
  }

  /** Resolves when every emit accepted so far is durable; rejects if one of them failed or the sink failed. */
  flush(): Promise<FlushResult> {
    if (this.abortError !== undefined) return Promise.reject(this.abortError)
    if (this.ring.state() === STATE_FAILED) return Promise.reject(this.stateError()!)
    return this.barriers.wait()
  }

  /** How long this producer's pending emits have waited with none made durable, ms (0 when none pend). */
  stalledMs(): number {
    return this.pending() === 0 ? 0 : performance.now() - this.progressAt
  }

  /** Reject an emit at the call (it was never accepted), counted as refused. */
  refuse(err: Error): Promise<Receipt> {
    this.tally.refused()
    return Promise.reject(err)
  }

  /** Number the emit being accepted; returns its acceptance time. */
  private accept(): number {
    const now = performance.now()
    if (this.pending() === 0) this.progressAt = now
    this.barriers.accepted++
    return now
  }

  /** Stop taking emits; resolves when every emit already made has settled. */
  drain(): Promise<void> {
    this.closing = true
    this.drainPromise ??=
      this.pending() === 0 && !this.durableLoop && !this.spaceLoop
        ? Promise.resolve()
        : new Promise((resolve) => {
            this.drained = resolve
          })
    return this.drainPromise
  }

  /** Settle everything now (destroy): what is already durable resolves, the rest rejects with err. */
  abort(err: Error): void {
    this.abortError ??= err
    this.settleDurable()
    this.rejectAll(err)
  }

  /** The receiving seq of a just-reserved record: durable < seq < durable + 2^31. */
  private fullSeq(seqLo: number): number {
    const durable = this.ring.durableSeq()
    return durable + ((seqLo - (durable % U32) + U32) % U32)
  }

  private track(seq: number, acceptedAt: number): Promise<Receipt> {
    return new Promise<Receipt>((resolve, reject) => this.await(seq, acceptedAt, resolve, reject))
  }

  /** Settle (resolve, reject) once seq is durable. Seqs of one producer arrive in increasing order. */
  private await(seq: number, acceptedAt: number, resolve: Resolve, reject: Reject): void {
    this.pendingSeq.push(seq)
    this.pendingAt.push(acceptedAt)
    this.pendingResolve.push(resolve)
    this.pendingReject.push(reject)
    this.hold()
    if (!this.durableLoop) void this.runDurableLoop()
  }

  /** Resolve every pending emit whose seq is durable; returns the durable low bits it used. */
  private settleDurable(): number {
    const durLo = this.ring.durableLo()
    if (this.pendingSeq.length === 0 || ((durLo - (this.pendingSeq.peek()! % U32)) | 0) < 0) return durLo
    const now = performance.now()
    let n = 0
    while (this.pendingSeq.length > 0 && ((durLo - (this.pendingSeq.peek()! % U32)) | 0) >= 0) {
      const seq = this.pendingSeq.shift()!
      this.tally.observe(now - this.pendingAt.shift()!)
      this.pendingReject.shift()
      this.pendingResolve.shift()!({ seq })
      n++
    }
    this.progressAt = now
    this.tally.commit()
    this.barriers.resolved(n)
    return durLo
  }

  /** Emits numbered first.. were rejected with err (after acceptance). */
  private noteRejected(first: number, n: number, err: Error): void {
    this.tally.failed(n)
    this.barriers.rejected(first, n, err)
  }

  private async runDurableLoop(): Promise<void> {
    this.durableLoop = true
    const { ring } = this
    while (this.pendingSeq.length > 0) {
      const durLo = this.settleDurable()
      if (this.pendingSeq.length === 0) break
      const err = this.stateError()
      if (err !== undefined) {
        // The writer publishes the durable seq before it sets a terminal state:
        // read it again so nothing durable is reported as failed.
        this.settleDurable()
        this.rejectPending(err)
        break
      }
      // A state change does not change DURABLE_LO: a FAILED set (and notified) between
      // stateError() above and this wait would be missed for ever without the timeout.
      const w = Atomics.waitAsync(ring.i32, DURABLE_LO, durLo, FIXED.producerRecheckMs)
      if (w.async) await w.value
    }
    this.durableLoop = false
    this.release()
  }

  private async runSpaceLoop(): Promise<void> {
    this.spaceLoop = true
    const { ring } = this
    while (this.waiting.length > 0) {
      const err = this.stateError()
      if (err !== undefined) {
        // Only what never reached the ring: published emits are the durable loop's to settle.
        this.rejectWaiting(err)
        break
      }
      const seen = ring.consumedWord()
      while (this.waiting.length > 0) {
        const w = this.waiting.peek()!
        const seqLo = ring.reserve(w.len)
        if (seqLo === NO_SPACE) break
        const number = this.barriers.accepted - this.waiting.length + 1
        this.waiting.shift()
        if (seqLo === CLOSED) {
          const err = this.stateError() ?? closedError()
          w.reject(err)
          this.noteRejected(number, 1, err)
          continue
        }
        const seq = this.fullSeq(seqLo)
        ring.publishString(w.json, w.len, w.timeMs, w.kind)
        this.await(seq, w.acceptedAt, w.resolve, w.reject)
      }
      if (this.waiting.length === 0) break
      const wait = Atomics.waitAsync(ring.i32, CONSUMED, seen, FIXED.producerRecheckMs) // as above: a missed state change
      if (wait.async) await wait.value
    }
    this.spaceLoop = false
    this.release()
  }

  private stateError(): Error | undefined {
    const st = this.ring.state()
    if (st === STATE_OPEN) return undefined
    if (st === STATE_FAILED) {
      const wire = this.ring.failure()
      const cause = wire === undefined ? undefined : fromWire(wire)
      return new AuditError(
        ERROR_CODES.FAILED,
        `the audit sink failed and acknowledges nothing more: ${cause?.message ?? 'unknown cause'}`,
        { cause },
      )
    }
    if (st === STATE_CLOSED) return closedError()
    return undefined // failing: the writer is recording the cause; waiters are woken when it is done
  }

  private rejectAll(err: Error): void {
    this.rejectPending(err)
    this.rejectWaiting(err)
  }

  private rejectPending(err: Error): void {
    // Pending emits are the ones right after the resolved ones.
    const n = this.pendingSeq.length
    while (this.pendingSeq.length > 0) {
      this.pendingSeq.shift()
      this.pendingAt.shift()
      this.pendingResolve.shift()
      this.pendingReject.shift()!(err)
    }
    this.noteRejected(this.barriers.nextToResolve, n, err)
    this.release()
  }

  private rejectWaiting(err: Error): void {
    // Waiting emits are the last ones accepted.
    const n = this.waiting.length
    while (this.waiting.length > 0) this.waiting.shift()!.reject(err)
    this.noteRejected(this.barriers.accepted - n + 1, n, err)
    this.release()
  }

  private hold(): void {
    this.keepAlive ??= setInterval(noop, 1 << 30)
  }

  private release(): void {
    if (this.pending() > 0 || this.durableLoop || this.spaceLoop) return
    if (this.keepAlive !== undefined) {
      clearInterval(this.keepAlive)
      this.keepAlive = undefined
    }
    if (this.drained !== undefined) {
      const d = this.drained
      this.drained = undefined
      d()
    }
  }
}

function noop(): void {}

export function closedError(): AuditError {
  return new AuditError(ERROR_CODES.CLOSED, 'the audit sink is closed (or closing) and takes no more events')
}
