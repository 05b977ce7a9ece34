/**
 * mtlog-audit/winston: a winston transport whose callbacks mean "durable".
 *
 *   const audit = new AuditTransport({ sink })
 *   const logger = winston.createLogger({ transports: [audit] })
 *   const { seq } = await auditLog(logger, audit, 'info', 'card {last4} charged', { last4 })
 *   logger.end(); await once(logger, 'finish')          // every info so far is durable
 *
 * winston is a stream: the transport is an object-mode Writable. log(info, cb)
 * emits the event and calls cb only when it is durable; meanwhile winston
 * buffers the next infos (highWaterMark INTEGRATION.winstonHighWaterMark) and
 * hands them over together to logv(), so one fdatasync covers a whole batch.
 *
 * Mapping: level (npm and syslog names; others through levelMap) → event
 * level; message → a literal template (braces doubled); stack (format.errors())
 * or an Error under `error` → exception; an ISO 8601 `timestamp` → timestamp;
 * every other string key → properties (symbol keys, winston's own, are left out).
 *
 * Contract:
 * - A callback (hence 'logged', and the writable side's progress) follows a
 *   durable event; an emit that rejects is passed to the callback as the
 *   error: winston emits 'error' (fail closed, never a silent drop).
 * - _final awaits flush(): logger.end() then 'finish' means every info the
 *   transport took is durable. On an uncaught exception winston marks the
 *   transport ending and waits (at most 3 s) for 'finish': the transport ends
 *   itself once that info is durable.
 * - auditLog resolves with the info's receipt; ERR_AUDIT_NOT_LOGGED when the
 *   level is filtered out, the transport is silent, or a format dropped it
 *   (known when a later audit info arrives, or at the latest on end()).
 */

import winston from 'winston'
import type TransportStream from 'winston-transport'
import { AuditError, ERROR_CODES } from '../../shared/errors.js'
import type { AuditEvent, Level } from '../../shared/event.js'
import { INTEGRATION } from '../../shared/limits.js'
import type { Receipt } from '../sink/index.js'
import { type AuditTarget, checkTarget, coded } from './common.js'
import { literalTemplate } from './pino-lines.js'

const LEVEL = Symbol.for('level')
const AUDIT_ID = Symbol.for('mtlog-audit.winston.id')

const WINSTON_LEVELS: Record<string, Level> = {
  error: 'Error',
  warn: 'Warning',
  info: 'Information',
  http: 'Information',
  verbose: 'Verbose',
  debug: 'Debug',
  silly: 'Verbose',
  // syslog
  emerg: 'Fatal',
  alert: 'Fatal',
  crit: 'Fatal',
  warning: 'Warning',
  notice: 'Information',
}

/** Keys winston itself puts on an info that are not properties. */
const OWN_KEYS = new Set(['level', 'message', 'timestamp', 'stack', 'error', 'exception'])
const ISO_8601 = /^\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d(\.\d+)?)?(Z|[+-]\d\d:?\d\d)$/

export interface AuditTransportOptions extends TransportStream.TransportStreamOptions {
  sink: AuditTarget
  /** Level names beyond npm's and syslog's. */
  levelMap?: Record<string, Level>
  highWaterMark?: number
}

type Info = Record<string | symbol, unknown>
type Callback = (err?: Error | null) => void

/** winston.Transport is winston-transport's class at run time; winston's types name it differently. */
const Base = (winston as unknown as { Transport: typeof TransportStream }).Transport

/** Set by winston-transport when the logger pipes into the transport (not in its types). */
interface Piped {
  levels?: Record<string, number>
  parent?: { level?: string } | null
  _ending?: boolean
}

interface Waiter {
  resolve: (r: Receipt) => void
  reject: (e: Error) => void
}

export class AuditTransport extends Base {
  private readonly target: AuditTarget
  private readonly levelMap: Record<string, Level>
  /** auditLog calls waiting for their info, by id (ids increase in call order). */
  private readonly waiters = new Map<number, Waiter>()
  private nextId = 0

  constructor(opts: AuditTransportOptions) {
    // winston-transport passes highWaterMark on to its Writable (its types do not list it).
    super({
      ...opts,
      highWaterMark: opts?.highWaterMark ?? INTEGRATION.winstonHighWaterMark,
    } as TransportStream.TransportStreamOptions)
    this.target = checkTarget(opts?.sink, 'sink')
    this.levelMap = { ...WINSTON_LEVELS, ...opts.levelMap }
  }

  /** winston: one info; cb once it is durable. */
  override log(info: Info, cb: Callback): void {
    this.logAll([info], cb)
  }

  /** winston: the infos buffered while the last batch synced; cb once all are durable. */
  override logv(entries: { chunk: Info }[], cb: Callback): void {
    const infos: Info[] = []
    for (const e of entries) {
      // winston-transport's logv path skips the transport's own format: apply it here.
      const info = this.format
        ? this.format.transform(Object.assign({ level: '', message: '' }, e.chunk), this.format.options)
        : e.chunk
      if (typeof info === 'object' && info !== null) infos.push(info)
    }
    this.logAll(infos, cb)
  }

  /** The durable barrier for everything this transport took so far. */
  flush(): Promise<{ durableSeq: number }> {
    return this.target.flush()
  }

  /** Writable: the end of the stream waits for durability. */
  override _final(cb: Callback): void {
    this.target.flush().then(
      () => {
        this.rejectWaiters(Infinity)
        cb()
      },
      (err: unknown) => {
        this.rejectWaiters(Infinity)
        cb(coded(err, 'the audit sink failed'))
      },
    )
  }

  /** auditLog's side: a promise for the info tagged id. */
  expect(): { id: number; receipt: Promise<Receipt> } {
    const id = ++this.nextId
    const receipt = new Promise<Receipt>((resolve, reject) => this.waiters.set(id, { resolve, reject }))
    return { id, receipt }
  }

  /** Would this transport take an info of this level? */
  accepts(level: string): boolean {
    if (this.silent === true) return false
    const piped = this as Piped
    const limit = this.level ?? piped.parent?.level
    const levels = piped.levels
    if (limit === undefined || levels === undefined) return true
    return (levels[limit] ?? -Infinity) >= (levels[level] ?? Infinity)
  }

  private logAll(infos: Info[], cb: Callback): void {
    const receipts: Promise<Receipt>[] = []
    try {
      for (const info of infos) {
        const p = this.target.emit(this.toEvent(info))
        receipts.push(p)
        const id = info[AUDIT_ID]
        if (typeof id === 'number') this.settleWaiter(id, p)
      }
    } catch (err) {
      return cb(coded(err, 'a winston info was refused'))
    }
    Promise.all(receipts).then(
      () => {
        for (const info of infos) this.emit('logged', info)
        cb()
        // winston's exception handler waits for 'finish' after marking the transport ending.
        if ((this as Piped)._ending === true && !this.writableEnded) this.end()
      },
      (err: unknown) => cb(coded(err, 'a winston info was refused')),
    )
  }

  private settleWaiter(id: number, p: Promise<Receipt>): void {
    // Infos tagged before this one and not seen were dropped by a format.
    this.rejectWaiters(id)
    const w = this.waiters.get(id)
    if (w === undefined) return
    this.waiters.delete(id)
    p.then(w.resolve, w.reject)
  }

  private rejectWaiters(below: number): void {
    for (const [id, w] of this.waiters) {
      if (id >= below) continue
      this.waiters.delete(id)
      w.reject(
        new AuditError(ERROR_CODES.NOT_LOGGED, 'the audit info never reached the transport (a format dropped it)'),
      )
    }
  }

  private toEvent(info: Info): AuditEvent {
    const name = (info[LEVEL] ?? info.level) as string
    const level = this.levelMap[name]
    if (level === undefined)
      throw new AuditError(
        ERROR_CODES.EVENT_INVALID,
        `winston level ${JSON.stringify(String(name).slice(0, 40))} has no audit level: give levelMap`,
        {
          details: { path: 'level' },
        },
      )
    const msg = info.message
    const ev: AuditEvent = {
      level,
      messageTemplate:
        typeof msg === 'string'
          ? literalTemplate(msg)
          : msg === undefined || msg === null
            ? ''
            : literalTemplate(String(msg)),
    }
    const properties: Record<string, unknown> = {}
    const ts = info.timestamp
    if (ts instanceof Date || (typeof ts === 'string' && ISO_8601.test(ts))) ev.timestamp = ts
    else if (ts !== undefined) properties.timestamp = ts // a custom format's text: kept as written
    if (typeof info.stack === 'string') ev.exception = info.stack
    else if (info.error instanceof Error) ev.exception = info.error.stack ?? `${info.error.name}: ${info.error.message}`
    for (const k of Object.keys(info)) {
      if (OWN_KEYS.has(k)) continue
      const v = info[k]
      // An Error's fields are not enumerable: JSON would store {}.
      properties[k] = v instanceof Error ? { name: v.name, message: v.message } : v
    }
    if (Object.keys(properties).length > 0) ev.properties = properties
    return ev
  }
}

/** The little of a winston logger auditLog uses. */
export interface WinstonLoggerLike {
  level: string
  silent?: boolean
  isLevelEnabled(level: string): boolean
  log(level: string, message: string, meta?: object): unknown
}

/**
 * Log one audit info and resolve with its receipt once it is durable (its seq
 * is the event's position in the log). Rejects ERR_AUDIT_NOT_LOGGED when the
 * logger or the transport filters the level out, or a format drops the info.
 */
export function auditLog(
  logger: WinstonLoggerLike,
  transport: AuditTransport,
  level: string,
  message: string,
  meta: object = {},
): Promise<Receipt> {
  if (logger.silent === true || !logger.isLevelEnabled(level) || !transport.accepts(level))
    return Promise.reject(
      new AuditError(
        ERROR_CODES.NOT_LOGGED,
        `level ${level.slice(0, 40)} is filtered out by the logger or the transport`,
        {
          details: { level: level.slice(0, 40) },
        },
      ),
    )
  const { id, receipt } = transport.expect()
  logger.log(level, message, { ...meta, [AUDIT_ID]: id })
  return receipt
}
