/**
 * mtlog-audit/shutdown: drain the audit sink on SIGTERM / SIGINT within a bound.
 *
 *   const stop = gracefulShutdown({ sink: () => sink, stopTaking: () => closeServer(server) })
 *   // readiness: healthHandler(() => sink, { draining: () => stop.draining })
 *
 *   signal ─► draining = true (readiness fails) ─► stopTaking() (close servers,
 *   stop consumers) ─► sink.flush() ─► sink.close() ─► exit 0
 *   bound (timeoutMs) passed ─► sink.destroy(ERR_AUDIT_TIMEOUT) ─► exit 1
 *
 * Kubernetes: the pod gets SIGTERM after its preStop hook; it is killed
 * terminationGracePeriodSeconds after the hook began. Set that to at least
 * preStop + timeoutMs + a few seconds (deploy/k8s uses 5 s + 20 s + 20 s).
 * Acknowledged events are durable whatever happens: the bound only decides
 * whether the log ends sealed (close) or is recovered at the next open.
 *
 * Contract: shutdown runs once (a second signal waits for the same drain);
 * the report says how it ended; exit (default true) calls process.exit with
 * 0 when flush and close succeeded, 1 otherwise; dispose() removes the listeners.
 */

import { AuditError, ERROR_CODES } from '../../shared/errors.js'
import { INTEGRATION } from '../../shared/limits.js'
import { currentSink, type SinkSource } from './common.js'

export interface ShutdownOptions {
  sink: SinkSource
  /** Default ['SIGTERM', 'SIGINT']. */
  signals?: NodeJS.Signals[]
  /** Bound for stopTaking + flush + close, ms (default INTEGRATION.shutdownTimeoutMs). */
  timeoutMs?: number
  /** Stop taking new work first (close HTTP servers, stop consumers); awaited within the bound. */
  stopTaking?: () => unknown
  /** Exit the process when done (default true). */
  exit?: boolean
  /** Called with the report before the exit. */
  onDone?: (report: ShutdownReport) => void
}

export interface ShutdownReport {
  signal: string | undefined
  /** Flushed and closed within the bound. */
  ok: boolean
  timedOut: boolean
  /** The durable seq the final flush reported. */
  durableSeq: number | undefined
  error: AuditError | undefined
  elapsedMs: number
}

export interface ShutdownHandle {
  /** True from the signal on: readiness should fail. */
  readonly draining: boolean
  /** Drain now (what a signal does). */
  shutdown(signal?: string): Promise<ShutdownReport>
  /** Remove the signal listeners. */
  dispose(): void
}

export function gracefulShutdown(opts: ShutdownOptions): ShutdownHandle {
  const timeoutMs = opts.timeoutMs ?? INTEGRATION.shutdownTimeoutMs
  if (!Number.isFinite(timeoutMs) || timeoutMs <= 0)
    throw new AuditError(ERROR_CODES.OPTION_INVALID, 'timeoutMs must be a positive number of ms', {
      details: { option: 'timeoutMs' },
    })
  const signals = opts.signals ?? ['SIGTERM', 'SIGINT']
  let draining = false
  let running: Promise<ShutdownReport> | undefined

  const drain = async (signal: string | undefined): Promise<ShutdownReport> => {
    draining = true
    const t0 = performance.now()
    const report: ShutdownReport = {
      signal,
      ok: false,
      timedOut: false,
      durableSeq: undefined,
      error: undefined,
      elapsedMs: 0,
    }
    let timer: NodeJS.Timeout | undefined
    const bound = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(resolve, timeoutMs, 'timeout')
    })
    const steps = (async (): Promise<'done'> => {
      await opts.stopTaking?.()
      const sink = currentSink(opts.sink)
      if (sink !== undefined) {
        report.durableSeq = (await sink.flush()).durableSeq
        await sink.close()
      }
      return 'done'
    })()
    try {
      const outcome = await Promise.race([steps, bound])
      if (outcome === 'timeout') {
        report.timedOut = true
        report.error = new AuditError(
          ERROR_CODES.TIMEOUT,
          `graceful shutdown did not stop taking, flush and close within ${timeoutMs} ms`,
          { details: { timeoutMs } },
        )
        steps.catch(() => {}) // it goes on after the bound; its outcome no longer matters
        await currentSink(opts.sink)?.destroy(report.error)
      } else report.ok = true
    } catch (err) {
      report.error =
        err instanceof AuditError
          ? err
          : new AuditError(ERROR_CODES.FAILED, `graceful shutdown failed: ${(err as Error)?.message}`, { cause: err })
      // close() of a failed sink rejects after releasing it; make sure the writer is gone.
      await currentSink(opts.sink)?.destroy(report.error)
    } finally {
      clearTimeout(timer)
    }
    report.elapsedMs = performance.now() - t0
    opts.onDone?.(report)
    if (opts.exit !== false) process.exit(report.ok ? 0 : 1)
    return report
  }

  const onSignal = (signal: NodeJS.Signals): void => {
    running ??= drain(signal)
  }
  for (const s of signals) process.on(s, onSignal)

  return {
    get draining() {
      return draining
    },
    shutdown(signal?: string): Promise<ShutdownReport> {
      running ??= drain(signal)
      return running
    },
    dispose(): void {
      for (const s of signals) process.off(s, onSignal)
    },
  }
}
