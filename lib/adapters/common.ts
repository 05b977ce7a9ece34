/**
 * What every integration of lib/adapters/ shares: the target it writes to (an
 * AuditSink, or an AttachedProducer in another thread: both have emit and
 * flush with the same contract), and small helpers with no peer dependency.
 *
 * Contract: nothing here loads pino, winston, express, fastify or prom-client.
 */

import { AuditError, ERROR_CODES } from '../../shared/errors.js'
import type { AuditEvent } from '../../shared/event.js'
import type { AuditSink, FlushResult, Receipt } from '../sink/index.js'

/** An AuditSink or an AttachedProducer. */
export interface AuditTarget {
  emit(event: AuditEvent): Promise<Receipt>
  flush(): Promise<FlushResult>
}

/** The sink a helper reads: the sink itself, or a function that returns the current one (reopen after a failure). */
export type SinkSource = AuditSink | (() => AuditSink | undefined)

export function currentSink(source: SinkSource): AuditSink | undefined {
  return typeof source === 'function' ? source() : source
}

export function checkTarget(target: unknown, option: string): AuditTarget {
  const t = target as Partial<AuditTarget> | null | undefined
  if (typeof t?.emit !== 'function' || typeof t.flush !== 'function')
    throw new AuditError(ERROR_CODES.OPTION_INVALID, `${option} must be an AuditSink or an attached producer`, {
      details: { option },
    })
  return t as AuditTarget
}

/** Run fn while a ref'd timer holds the event loop open (a pending message or waitAsync does not). */
export async function holdingLoop<T>(fn: () => Promise<T>): Promise<T> {
  const keep = setInterval(() => {}, 1 << 30)
  try {
    return await fn()
  } finally {
    clearInterval(keep)
  }
}

/** A plain error from another thread or library as a coded AuditError (its message kept, capped). */
export function coded(err: unknown, what: string): AuditError {
  if (err instanceof AuditError) return err
  const message = (err as Error | undefined)?.message ?? String(err)
  return new AuditError(ERROR_CODES.FAILED, `${what}: ${message.slice(0, 300)}`, { cause: err })
}
