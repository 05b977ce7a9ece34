/**
 * The event model (mtlog / Serilog message templates), shared by the app
 * thread that encodes events (lib/sink/event.ts) and every reader.
 *
 * An event is { timestamp?, level, messageTemplate, properties?, exception? }.
 * The record payload is UTF-8 JSON of { level, messageTemplate, properties?,
 * exception? }; the timestamp lives in the record header (ms since the epoch),
 * so time filters need not parse JSON. docs/events.md maps this to CLEF.
 */

import { AuditError, ERROR_CODES, preview } from './errors.js'
import { FIXED } from './limits.js'

export const LEVELS = ['Verbose', 'Debug', 'Information', 'Warning', 'Error', 'Fatal'] as const
export type Level = (typeof LEVELS)[number]
const LEVEL_SET = new Set<string>(LEVELS)

export interface AuditEvent {
  /** When it happened: a Date, integer ms since the epoch, or an ISO 8601 string; within ±8.64e15 ms (the Date range). Default: now. */
  timestamp?: Date | number | string
  level: Level
  messageTemplate: string
  properties?: Record<string, unknown>
  /** An Error (its stack is stored) or a string. */
  exception?: Error | string
}

/** What readLog yields for every event record. */
export interface StoredEvent {
  timestamp: Date
  level: Level
  messageTemplate: string
  properties: Record<string, unknown>
  exception?: string
  /**
   * The event's properties and exception are encrypted and the reader had no
   * keyring (docs/encryption.md): properties is empty, the exception unknown.
   */
  encrypted?: true
}

/** Why a stored payload is not an event (ERR_AUDIT_RECORD_UNREADABLE's details.problem). */
export type UnreadableProblem = 'json' | 'shape' | 'level' | 'template' | 'properties' | 'exception' | 'timestamp'

function unreadable(problem: UnreadableProblem, message: string, seq: number | undefined, cause?: unknown): AuditError {
  const where = seq === undefined ? '' : ` (seq ${seq})`
  return new AuditError(ERROR_CODES.RECORD_UNREADABLE, `record${where} is not a readable event: ${message}`, {
    cause,
    details: seq === undefined ? { problem } : { seq, problem },
  })
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

/**
 * Decode a stored payload (the inverse of encodeEvent, timestamp from the
 * header). A reader meets bytes it did not write (another tool, a bug, an
 * attacker with a CRC library), so the shape is checked, never assumed:
 * anything that is not an event encodeEvent could have written throws
 * ERR_AUDIT_RECORD_UNREADABLE with details.seq (when given) and
 * details.problem, never a raw SyntaxError or an Invalid Date.
 */
export function decodeEvent(payload: Uint8Array, timeMs: number, seq?: number): StoredEvent {
  if (!Number.isInteger(timeMs) || Math.abs(timeMs) > FIXED.timestampMsMax)
    throw unreadable('timestamp', `timestamp ${timeMs} is outside the Date range`, seq)
  let body: unknown
  try {
    body = JSON.parse(Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength).toString('utf8'))
  } catch (err) {
    throw unreadable('json', 'the payload is not JSON', seq, err)
  }
  if (!isObject(body)) throw unreadable('shape', 'the payload is not a JSON object', seq)
  const { level, messageTemplate, properties, exception } = body
  if (typeof level !== 'string' || !LEVEL_SET.has(level))
    throw unreadable('level', `level ${preview(level)} is not one of ${LEVELS.join(', ')}`, seq)
  if (typeof messageTemplate !== 'string')
    throw unreadable('template', `messageTemplate is ${preview(messageTemplate)}, not a string`, seq)
  if (properties !== undefined && !isObject(properties))
    throw unreadable('properties', `properties are ${preview(properties)}, not an object`, seq)
  if (exception !== undefined && typeof exception !== 'string')
    throw unreadable('exception', `exception is ${preview(exception)}, not a string`, seq)
  const ev: StoredEvent = {
    timestamp: new Date(timeMs),
    level: level as Level,
    messageTemplate,
    properties: properties ?? {},
  }
  if (exception !== undefined) ev.exception = exception
  return ev
}
