/**
 * sink.health(): the sink's state judged as pass / warn / fail, with reasons.
 *
 *   HealthInput (a snapshot the sink takes from memory: state, the shared
 *   failure record, stall time, ring fill) ─► evaluateHealth ─► SinkHealth
 *
 * Contract: data only, no I/O, never throws for a valid snapshot. `ready` is
 * false exactly when status is 'fail' (the sink should not be sent audit
 * events: readiness probes fail). `live` is false only when a failure is one a
 * restart fixes (the writer thread is gone, an internal invariant broke): a full
 * or broken disk is not, so liveness stays up and the pod is not restarted in a
 * loop while the disk is full. Reason codes are stable (docs/operations.md).
 */

import { AuditError, ERROR_CODES, type WireError } from '../../shared/errors.js'
import { INTEGRATION } from '../../shared/limits.js'

export type HealthStatus = 'pass' | 'warn' | 'fail'

export type HealthReasonCode =
  | 'failed'
  | 'disk-full'
  | 'writer-gone'
  | 'closed'
  | 'destroyed'
  | 'stalled'
  | 'ring-full'
  | 'not-open'
  | 'replication-lag'

export interface HealthReason {
  code: HealthReasonCode
  status: 'warn' | 'fail'
  message: string
  /** A restart of the process would cure it (liveness fails only on these). */
  restartHelps: boolean
}

export interface SinkHealth {
  status: HealthStatus
  /** The sink takes audit events and makes them durable (status is not 'fail'). */
  ready: boolean
  /** No failure that a restart would cure. */
  live: boolean
  reasons: HealthReason[]
  state: 'open' | 'closing' | 'closed' | 'failed' | 'destroyed'
  durableSeq: number
  /** Events of every thread holding a seq, not durable yet. */
  inFlight: number
  /** How long emits have waited with none made durable, ms (a lower bound of the oldest one's age). */
  stalledMs: number
  /** Ring bytes reserved and not yet taken by the writer / ringBytes. */
  ringFillRatio: number
  lastDurableAtMs: number | undefined
  /** The codes of the failure and its causes, first first (empty unless failed). */
  failureCodes: string[]
}

export interface HealthOptions {
  /** Emits waiting this long with no progress → warn (default INTEGRATION.healthStallWarnMs). */
  stallWarnMs?: number
  /** … → fail (default INTEGRATION.healthStallFailMs). */
  stallFailMs?: number
  /** Ring fill at or above this fraction → warn (default INTEGRATION.healthRingWarnRatio). */
  ringWarnRatio?: number
}

export interface HealthInput {
  state: SinkHealth['state']
  /** The sink's first failure as recorded in the ring (or by this thread). */
  failure: WireError | undefined
  durableSeq: number
  inFlight: number
  stalledMs: number
  ringFillRatio: number
  lastDurableAtMs: number | undefined
}

const DISK_FULL_ERRNOS = new Set(['ENOSPC', 'EDQUOT'])

interface Resolved {
  stallWarnMs: number
  stallFailMs: number
  ringWarnRatio: number
}

export function resolveHealthOptions(o: HealthOptions = {}): Resolved {
  const num = (name: keyof HealthOptions, v: number | undefined, dflt: number, max: number): number => {
    if (v === undefined) return dflt
    if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0 || v > max)
      throw new AuditError(ERROR_CODES.OPTION_INVALID, `health option ${name} must be a number in (0, ${max}]`, {
        details: { option: name },
      })
    return v
  }
  const r = {
    stallWarnMs: num('stallWarnMs', o.stallWarnMs, INTEGRATION.healthStallWarnMs, 86_400_000),
    stallFailMs: num('stallFailMs', o.stallFailMs, INTEGRATION.healthStallFailMs, 86_400_000),
    ringWarnRatio: num('ringWarnRatio', o.ringWarnRatio, INTEGRATION.healthRingWarnRatio, 1),
  }
  if (r.stallFailMs < r.stallWarnMs)
    throw new AuditError(ERROR_CODES.OPTION_INVALID, 'health option stallFailMs must be ≥ stallWarnMs', {
      details: { option: 'stallFailMs' },
    })
  return r
}

/** Walk a wire error and its causes. */
function* chain(w: WireError | undefined): Generator<WireError> {
  for (let e = w, depth = 0; e !== undefined && depth < 8; e = e.cause, depth++) yield e
}

/** What a failure means for an operator: its reason code and whether a restart cures it. */
export function classifyFailure(w: WireError | undefined): HealthReason {
  const codes = [...chain(w)]
  const first = codes[0]
  const text = first === undefined ? 'unknown cause' : `${first.code}: ${first.message.slice(0, 200)}`
  if (codes.some((e) => e.code === ERROR_CODES.WRITER_CRASHED))
    return { code: 'writer-gone', status: 'fail', restartHelps: true, message: `the writer thread is gone (${text})` }
  const errno = codes.map((e) => e.details?.errno).find((x) => typeof x === 'string') as string | undefined
  if (errno !== undefined && DISK_FULL_ERRNOS.has(errno))
    return {
      code: 'disk-full',
      status: 'fail',
      restartHelps: false,
      message: `the disk is full (${errno}); free space, then reopen the sink`,
    }
  const invariant = codes.some((e) => e.code === ERROR_CODES.INVARIANT)
  return { code: 'failed', status: 'fail', restartHelps: invariant, message: `the sink failed closed (${text})` }
}

export function evaluateHealth(input: HealthInput, opts: Resolved): SinkHealth {
  const reasons: HealthReason[] = []
  if (input.state === 'failed') reasons.push(classifyFailure(input.failure))
  else if (input.state === 'destroyed')
    reasons.push({ code: 'destroyed', status: 'fail', restartHelps: false, message: 'the sink was destroyed' })
  else if (input.state === 'closing' || input.state === 'closed')
    reasons.push({
      code: 'closed',
      status: 'fail',
      restartHelps: false,
      message: `the sink is ${input.state} and takes no more events`,
    })
  if (input.stalledMs >= opts.stallWarnMs) {
    const fail = input.stalledMs >= opts.stallFailMs
    reasons.push({
      code: 'stalled',
      status: fail ? 'fail' : 'warn',
      restartHelps: false,
      message: `emits have waited ${Math.round(input.stalledMs)} ms with none made durable (${fail ? 'fail' : 'warn'} at ${fail ? opts.stallFailMs : opts.stallWarnMs} ms)`,
    })
  }
  if (input.ringFillRatio >= opts.ringWarnRatio)
    reasons.push({
      code: 'ring-full',
      status: 'warn',
      restartHelps: false,
      message: `the ring is ${(input.ringFillRatio * 100).toFixed(0)}% full (warn at ${opts.ringWarnRatio * 100}%): emits will wait for space`,
    })
  return withReasons(
    {
      status: 'pass',
      ready: true,
      live: true,
      reasons: [],
      state: input.state,
      durableSeq: input.durableSeq,
      inFlight: input.inFlight,
      stalledMs: input.stalledMs,
      ringFillRatio: input.ringFillRatio,
      lastDurableAtMs: input.lastDurableAtMs,
      failureCodes: input.state === 'failed' ? [...chain(input.failure)].map((e) => e.code) : [],
    },
    reasons,
  )
}

/**
 * A stall of any thread, seen from one thread: events in flight at the same
 * durable seq since the first look (health() is called periodically by
 * probes). A lower bound of the stall: it starts at the first look.
 */
export class StallClock {
  private seq = -1
  private since = 0

  /** ms the durable seq has not moved while events were in flight, as far as these looks tell. */
  observe(durableSeq: number, inFlight: number, now = performance.now()): number {
    if (inFlight === 0 || durableSeq !== this.seq) {
      this.seq = inFlight === 0 ? -1 : durableSeq
      this.since = now
    }
    return now - this.since
  }
}

/** h with more reasons (the health helpers add replication lag); status, ready and live follow. */
export function withReasons(h: SinkHealth, more: readonly HealthReason[]): SinkHealth {
  const reasons = [...h.reasons, ...more]
  const status: HealthStatus = reasons.some((r) => r.status === 'fail') ? 'fail' : reasons.length > 0 ? 'warn' : 'pass'
  return {
    ...h,
    reasons,
    status,
    ready: status !== 'fail',
    live: !reasons.some((r) => r.status === 'fail' && r.restartHelps),
  }
}
