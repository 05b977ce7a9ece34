/**
 * pino's JSON lines as audit events, and the line splitter both pino
 * integrations (lib/adapters/pino.ts in process, pino-transport.ts in
 * pino's worker) feed.
 *
 *   '{"level":30,"time":1700000000000,"msg":"user {id} in","id":7,"err":{...}}\n'
 *     level 10–60 ─► Verbose, Debug, Information, Warning, Error, Fatal (by range: custom levels fit)
 *     time ───────► timestamp (ms since the epoch, or an ISO 8601 string; timeUnit 's' for unixTime)
 *     msg ────────► a literal message template: braces doubled, so nothing in it is a hole
 *     err ────────► exception (its stack, else "type: message")
 *     the rest ───► properties, as pino wrote them (pid, hostname, bindings, ...)
 *
 * Contract: pinoLineToEvent either returns the event that stands for the line
 * or throws ERR_AUDIT_EVENT_INVALID (not JSON, not an object, an unknown level,
 * a time that is not a time): a line is never stored as something else, never
 * dropped in silence. The splitter keeps at most one partial line, bounded.
 */

import { AuditError, ERROR_CODES } from '../../shared/errors.js'
import type { AuditEvent, Level } from '../../shared/event.js'

export interface PinoLineOptions {
  /** pino's messageKey (default 'msg'). */
  messageKey?: string
  /** pino's errorKey (default 'err'). */
  errorKey?: string
  /** The unit of a numeric `time`: 'ms' (pino's default, epochTime) or 's' (stdTimeFunctions.unixTime). */
  timeUnit?: 'ms' | 's'
}

const LABELS: Record<string, Level> = {
  trace: 'Verbose',
  debug: 'Debug',
  info: 'Information',
  warn: 'Warning',
  error: 'Error',
  fatal: 'Fatal',
}

function invalid(message: string, path: string, line: string): AuditError {
  // Only a short prefix of the caller's line: it may hold anything.
  return new AuditError(ERROR_CODES.EVENT_INVALID, `${message} (line starts ${JSON.stringify(line.slice(0, 40))})`, {
    details: { path },
  })
}

/** pino's numeric level (or its label, with formatters.level) as an event level. */
export function pinoLevel(v: unknown): Level | undefined {
  if (typeof v === 'number' && Number.isFinite(v)) {
    if (v < 20) return 'Verbose'
    if (v < 30) return 'Debug'
    if (v < 40) return 'Information'
    if (v < 50) return 'Warning'
    if (v < 60) return 'Error'
    return 'Fatal'
  }
  if (typeof v === 'string') return LABELS[v]
  return undefined
}

/** A message as a template with no holes: `{` and `}` are doubled (the message-template escape). */
export function literalTemplate(msg: string): string {
  return msg.replaceAll('{', '{{').replaceAll('}', '}}')
}

function exceptionOf(err: unknown): string | undefined {
  if (err === undefined || err === null) return undefined
  if (typeof err === 'string') return err
  if (typeof err === 'object') {
    const e = err as { stack?: unknown; type?: unknown; message?: unknown }
    if (typeof e.stack === 'string' && e.stack !== '') return e.stack
    const type = typeof e.type === 'string' ? e.type : 'Error'
    return `${type}: ${typeof e.message === 'string' ? e.message : JSON.stringify(err)}`
  }
  return String(err)
}

/** The event a pino line stands for; throws ERR_AUDIT_EVENT_INVALID when there is none. */
export function pinoLineToEvent(line: string, o: PinoLineOptions = {}): AuditEvent {
  const messageKey = o.messageKey ?? 'msg'
  const errorKey = o.errorKey ?? 'err'
  let obj: unknown
  try {
    obj = JSON.parse(line)
  } catch {
    throw invalid('a pino line is not JSON', 'line', line)
  }
  if (typeof obj !== 'object' || obj === null || Array.isArray(obj))
    throw invalid('a pino line is not a JSON object', 'line', line)
  const rec = obj as Record<string, unknown>
  const level = pinoLevel(rec.level)
  if (level === undefined) throw invalid(`unknown pino level ${JSON.stringify(rec.level)}`, 'level', line)
  const ev: AuditEvent = { level, messageTemplate: '' }
  const time = rec.time
  if (typeof time === 'number') ev.timestamp = o.timeUnit === 's' ? time * 1000 : time
  else if (typeof time === 'string') ev.timestamp = time
  else if (time !== undefined) throw invalid('pino time is neither a number nor a string', 'time', line)
  const msg = rec[messageKey]
  if (typeof msg === 'string') ev.messageTemplate = literalTemplate(msg)
  else if (typeof msg === 'number' || typeof msg === 'boolean') ev.messageTemplate = String(msg)
  else if (msg !== undefined && msg !== null) throw invalid(`pino ${messageKey} is not text`, messageKey, line)
  const exception = exceptionOf(rec[errorKey])
  if (exception !== undefined) ev.exception = exception
  const properties: Record<string, unknown> = {}
  let any = false
  for (const k of Object.keys(rec)) {
    if (k === 'level' || k === 'time' || k === messageKey || k === errorKey) continue
    properties[k] = rec[k]
    any = true
  }
  if (any) ev.properties = properties
  return ev
}

/**
 * Cuts a stream of text into lines ('\n', a '\r' before it dropped). A line
 * longer than lineCharsMax can never be stored: the splitter throws
 * ERR_AUDIT_EVENT_TOO_LARGE for it instead of buffering without bound.
 */
export class LineSplitter {
  private partial = ''

  constructor(private readonly lineCharsMax: number) {}

  /** Calls onLine for every complete line in chunk (after what was left over). */
  push(chunk: string, onLine: (line: string) => void): void {
    let start = 0
    for (;;) {
      const nl = chunk.indexOf('\n', start)
      if (nl < 0) break
      let line = this.partial + chunk.slice(start, nl)
      this.partial = ''
      if (line.endsWith('\r')) line = line.slice(0, -1)
      if (line.length > 0) onLine(line)
      start = nl + 1
    }
    if (start < chunk.length) {
      this.partial += chunk.slice(start)
      if (this.partial.length > this.lineCharsMax) {
        const chars = this.partial.length
        this.partial = ''
        throw new AuditError(
          ERROR_CODES.EVENT_TOO_LARGE,
          `a pino line of more than ${chars} characters exceeds eventBytesMax (${this.lineCharsMax})`,
          { details: { bytes: chars, eventBytesMax: this.lineCharsMax } },
        )
      }
    }
  }

  /** Text after the last newline (a line cut off by end of stream). */
  rest(): string {
    return this.partial
  }
}
