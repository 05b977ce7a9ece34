/**
 * mtlog-audit/pino: pino writes its lines into the audit sink in this thread.
 *
 *   const dest = auditDestination(sink)
 *   const logger = pino(dest)                       // or pino.multistream([..., { stream: dest }])
 *   const { seq } = await auditLog(logger, dest, 'info', { userId }, 'user {userId} signed in')
 *   await flushLogger(logger)                       // every line so far is durable
 *
 * pino calls dest.write(line) synchronously inside logger.info(), so right
 * after the call the destination holds that line's receipt (lastReceipt()).
 * Each line becomes one event (lib/adapters/pino-lines.ts has the mapping).
 *
 * Contract:
 * - A receipt resolves only when the line's event is durable (it is the
 *   sink's own emit() promise); flush() resolves only when every line written
 *   so far is durable.
 * - Fail closed: a line that cannot be stored (not JSON, unknown level,
 *   refused by the sink) is never dropped in silence. write() throws the coded
 *   error (so logger.info() throws; onRefused 'emit' makes it an 'error'
 *   event instead), and from then on the destination refuses every line and
 *   flush() rejects: a barrier never covers a lost line.
 * - auditLog rejects with ERR_AUDIT_NOT_LOGGED when the level is filtered out
 *   or the line never reached this destination.
 * - It never loads pino (structural types only).
 */

import { EventEmitter } from 'node:events'
import { AuditError, ERROR_CODES } from '../../shared/errors.js'
import type { FlushResult, Receipt } from '../sink/index.js'
import { type AuditTarget, checkTarget, coded, holdingLoop } from './common.js'
import { LineSplitter, pinoLineToEvent, type PinoLineOptions } from './pino-lines.js'

export { literalTemplate, pinoLevel, pinoLineToEvent, type PinoLineOptions } from './pino-lines.js'

export interface AuditDestinationOptions extends PinoLineOptions {
  /** A refused line: 'throw' from write() (default), or 'emit' an 'error' event (for stream pipelines). */
  onRefused?: 'throw' | 'emit'
  /** Longest line accepted, in characters (default 64 MiB: the sink refuses what exceeds its eventBytesMax). */
  lineCharsMax?: number
}

const LINE_CHARS_MAX_DEFAULT = 64 * 1024 * 1024

/** pino's DestinationStream that writes every line into an audit sink. */
export class AuditDestination extends EventEmitter {
  private readonly splitter: LineSplitter
  private readonly onRefused: 'throw' | 'emit'
  private last: Promise<Receipt> | undefined
  private lines = 0
  private failure: AuditError | undefined

  constructor(
    protected readonly target: AuditTarget,
    private opts: AuditDestinationOptions = {},
  ) {
    super()
    checkTarget(target, 'target')
    this.splitter = new LineSplitter(opts.lineCharsMax ?? LINE_CHARS_MAX_DEFAULT)
    this.onRefused = opts.onRefused ?? 'throw'
  }

  /** pino's write: one or more lines (a partial one is kept for the next call). */
  write(chunk: string | Uint8Array): boolean {
    if (this.failure !== undefined) return this.refused(this.failure)
    const text = typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8')
    try {
      this.splitter.push(text, (line) => this.line(line))
    } catch (err) {
      return this.refused(coded(err, 'a pino line was refused'))
    }
    return true
  }

  /** pino(dest) takes an object as its stream when it is `writable`; false once a line was refused. */
  get writable(): boolean {
    return this.failure === undefined
  }

  /** Change the mapping (messageKey, errorKey, timeUnit) for the lines written from now on. */
  protected setLineOptions(o: PinoLineOptions): void {
    this.opts = { ...this.opts, ...o }
  }

  /** The receipt of the line written last (undefined before the first). */
  lastReceipt(): Promise<Receipt> | undefined {
    return this.last
  }

  /** Lines handed to the sink so far. */
  get lineCount(): number {
    return this.lines
  }

  /** The first refusal, if any: from then on every line is refused. */
  refusal(): AuditError | undefined {
    return this.failure
  }

  /**
   * The durable barrier: resolves once every line written so far is durable,
   * rejects if one was refused or the sink failed. pino's logger.flush(cb)
   * calls it with a callback; it also returns a promise.
   */
  flush(cb?: (err?: Error | null) => void): Promise<FlushResult> {
    const p =
      this.failure !== undefined
        ? Promise.reject(this.failure)
        : this.target.flush().then(
            (r) => {
              if (this.failure !== undefined) throw this.failure
              return r
            },
            (err: unknown) => {
              throw coded(err, 'the audit sink failed')
            },
          )
    if (cb !== undefined)
      p.then(
        () => cb(null),
        (err: Error) => cb(err),
      )
    return p
  }

  private line(line: string): void {
    const p = this.target.emit(pinoLineToEvent(line, this.opts))
    // Observed here so a receipt nobody awaits is no unhandled rejection; the refusal is sticky.
    p.then(undefined, (err: unknown) => this.fail(coded(err, 'a pino line was refused')))
    this.last = p
    this.lines++
  }

  private fail(err: AuditError): void {
    if (this.failure !== undefined) return
    this.failure = err
    if (this.onRefused === 'emit' || this.listenerCount('error') > 0) this.emit('error', err)
  }

  private refused(err: AuditError): boolean {
    const first = this.failure === undefined
    if (first) this.failure = err
    if (this.onRefused === 'throw') throw err
    if (first) this.emit('error', err)
    return false
  }
}

export function auditDestination(target: AuditTarget, opts?: AuditDestinationOptions): AuditDestination {
  return new AuditDestination(target, opts)
}

/** The little of a pino logger the helpers use (pino itself is never imported). */
export interface PinoLoggerLike {
  level: string
  isLevelEnabled(level: string): boolean
  flush(cb?: (err?: Error) => void): void
}

/**
 * Log one audit line through logger and resolve with its receipt (its seq is
 * the event's position in the log) once it is durable. Rejects with
 * ERR_AUDIT_NOT_LOGGED when the level is filtered out or the line did not
 * reach dest, and with the refusal when the line could not be stored.
 */
export function auditLog(
  logger: PinoLoggerLike,
  dest: AuditDestination,
  level: string,
  obj: object,
  msg?: string,
): Promise<Receipt> {
  const fn = (logger as unknown as Record<string, unknown>)[level]
  if (typeof fn !== 'function' || level === 'silent')
    return Promise.reject(
      new AuditError(ERROR_CODES.OPTION_INVALID, `the logger has no level ${JSON.stringify(level.slice(0, 40))}`, {
        details: { option: 'level' },
      }),
    )
  if (!logger.isLevelEnabled(level))
    return Promise.reject(
      new AuditError(ERROR_CODES.NOT_LOGGED, `level ${level} is below the logger's level ${logger.level}`, {
        details: { level },
      }),
    )
  const before = dest.lineCount
  try {
    ;(fn as (o: object, m?: string) => void).call(logger, obj, msg)
  } catch (err) {
    return Promise.reject(coded(err, 'the audit line was refused'))
  }
  if (dest.lineCount === before)
    return Promise.reject(
      new AuditError(ERROR_CODES.NOT_LOGGED, `the ${level} line did not reach the audit destination`, {
        details: { level },
      }),
    )
  return dest.lastReceipt()!
}

/**
 * The durable barrier of a pino logger, in process or with the
 * 'mtlog-audit/pino-transport' target: resolves when logger.flush(cb) calls
 * back, keeping the event loop alive meanwhile (pino#2481: with a transport
 * the callback is lost on an idle loop). Rejects coded when the flush failed.
 */
export function flushLogger(logger: PinoLoggerLike): Promise<void> {
  return holdingLoop(
    () =>
      new Promise<void>((resolve, reject) => {
        try {
          logger.flush((err) => (err ? reject(coded(err, 'the pino flush failed')) : resolve()))
        } catch (err) {
          reject(coded(err, 'the pino flush failed'))
        }
      }),
  )
}
