/**
 * The load generators, driving any Emit (mtlog-audit's or a peer's):
 *
 *   closed   W emits in flight, each ack starts the next
 *   open     events due on a clock schedule; latency counts from each event's
 *            INTENDED send time, so a stall shows up instead of slowing the
 *            sender down (no coordinated omission). A run that falls behind is
 *            cut after a grace period and its missing acks are counted at the
 *            cut (a lower bound), and it is marked not sustained.
 */

import type { AuditEvent } from '../../shared/event.js'
import type { MakeEvent } from './events.js'
import type { LatencyLog } from './latency.js'

export type Emit = (ev: AuditEvent) => Promise<unknown>

/** emit(ev), with a synchronous throw turned into a rejection. */
function call(emit: Emit, ev: AuditEvent): Promise<unknown> {
  try {
    return emit(ev)
  } catch (err) {
    return Promise.reject(err)
  }
}

export interface LoopResult {
  acked: number
  /** emit() calls made (every one is in the store after close, acked or not when the loop ended). */
  emitted: number
}

/**
 * Closed loop: keep `window` emits in flight until durationMs has passed, then
 * let the last ones land. With a blocking emit (sync peers) the window only queues.
 */
export function closedLoop(
  emit: Emit,
  mk: MakeEvent,
  thread: number,
  window: number,
  durationMs: number,
  log: LatencyLog | undefined,
): Promise<LoopResult> {
  return new Promise((resolve, reject) => {
    const deadline = performance.now() + durationMs
    let inflight = 0
    let acked = 0
    let i = 0
    let failed = false
    const start = (): void => {
      if (failed) return
      const sent = performance.now()
      if (sent >= deadline) {
        if (inflight === 0) resolve({ acked, emitted: i })
        return
      }
      inflight++
      call(emit, mk(thread, i++)).then(
        () => {
          log?.push(performance.now() - sent)
          inflight--
          acked++
          start()
        },
        (err: unknown) => {
          failed = true
          reject(err)
        },
      )
    }
    for (let k = 0; k < window; k++) start()
    if (inflight === 0 && !failed) resolve({ acked, emitted: i })
  })
}

export interface OpenResult extends LoopResult {
  /** The run fell behind and was cut at the end of its grace period. */
  cut: boolean
  /**
   * Emits the system refused under overload (mtlog-audit: ERR_AUDIT_QUEUE_FULL,
   * its bound on emits waiting for ring space). Still counting after the loop
   * resolved, until the store is closed; emitted includes them.
   */
  refused: number
  /** The sender's worst lateness against its schedule, ms (a blocking emit shows here). */
  lagMaxMs: number
}

/** A refusal under overload is a measured outcome of an open loop, not a harness failure. */
export function isRefusal(err: unknown): boolean {
  return (err as { code?: unknown } | null)?.code === 'ERR_AUDIT_QUEUE_FULL'
}

/**
 * Open loop: rate × seconds events, each due at t0 + k/rate. Latency counts from
 * the intended time. Everything not acked by t0 + seconds + grace is counted
 * at that instant (a lower bound) and the run is marked cut; so is every
 * refused event, when the loop ends.
 */
export function openLoop(
  emit: Emit,
  mk: MakeEvent,
  thread: number,
  rate: number,
  seconds: number,
  graceMs: number,
  log: LatencyLog,
  service: LatencyLog | undefined,
  poll = false,
): Promise<OpenResult> {
  return new Promise((resolve, reject) => {
    const total = Math.max(1, Math.round(rate * seconds))
    const intervalMs = 1000 / rate
    // Written now, not page by page during the run (the soak measures RSS).
    const ackedFlags = new Uint8Array(total).fill(0)
    const t0 = performance.now()
    const cutAt = t0 + seconds * 1000 + graceMs
    let sent = 0
    let acked = 0
    let lagMax = 0
    let done = false
    const res: OpenResult = { acked: 0, emitted: 0, refused: 0, cut: false, lagMaxMs: 0 }
    let timeout: NodeJS.Timeout | undefined
    let immediate: NodeJS.Immediate | undefined
    const stopTimers = (): void => {
      if (timeout !== undefined) clearTimeout(timeout)
      if (immediate !== undefined) clearImmediate(immediate)
    }
    const finish = (cut: boolean): void => {
      if (done) return
      done = true
      stopTimers()
      const now = performance.now()
      for (let k = 0; k < total; k++) if (ackedFlags[k] === 0) log.push(now - (t0 + k * intervalMs))
      Object.assign(res, { acked, emitted: sent, cut, lagMaxMs: lagMax })
      resolve(res)
    }
    const tick = (): void => {
      timeout = undefined
      immediate = undefined
      if (done) return
      const due = Math.min(total, Math.floor((performance.now() - t0) / intervalMs) + 1)
      // Every event whose intended time has come is sent now, however late we are.
      while (sent < due) {
        const called = performance.now()
        if (called >= cutAt) break
        const k = sent++
        const intended = t0 + k * intervalMs
        lagMax = Math.max(lagMax, called - intended)
        call(emit, mk(thread, k)).then(
          () => {
            if (done) return
            const t = performance.now()
            ackedFlags[k] = 1
            log.push(t - intended)
            service?.push(t - called)
            if (++acked + res.refused === total) finish(false)
          },
          (err: unknown) => {
            if (isRefusal(err)) {
              res.refused++
              if (!done && acked + res.refused === total) finish(false)
              return
            }
            if (done) return
            done = true
            stopTimers()
            reject(err)
          },
        )
      }
      if (done) return
      const now = performance.now()
      if (now >= cutAt) return finish(true)
      if (sent < total) {
        // setTimeout cannot wait less than ~1 ms. Polling with setImmediate keeps
        // the schedule closer but spins a core, which on a small machine is taken
        // from the system's own threads (a writer worker, libuv's fsync pool);
        // sleeping sends up to ~1 ms late, and that lateness is in the latency.
        const wait = t0 + sent * intervalMs - now
        if (wait > 2) timeout = setTimeout(tick, wait - 1)
        else if (poll) immediate = setImmediate(tick)
        else timeout = setTimeout(tick, Math.max(0, wait))
      } else if (acked + res.refused < total) {
        timeout = setTimeout(() => finish(true), cutAt - now)
      }
    }
    tick()
  })
}
