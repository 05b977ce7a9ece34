/**
 * The event model (mtlog / Serilog message templates), shared by the app
 * thread that encodes events (lib/sink/event.ts) and every reader.
 *
 * An event is { timestamp?, level, messageTemplate, properties?, exception? }.
 * The record payload is UTF-8 JSON of { level, messageTemplate, properties?,
 * exception? }; the timestamp lives in the record header (ms since the epoch),
 * so time filters need not parse JSON. docs/events.md maps this to CLEF.
 */

export const LEVELS = ['Verbose', 'Debug', 'Information', 'Warning', 'Error', 'Fatal'] as const
export type Level = (typeof LEVELS)[number]

export interface AuditEvent {
  /** When it happened: a Date, ms since the epoch, or an ISO 8601 string. Default: now. */
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
}

/** Decode a stored payload (the inverse of encodeEvent, timestamp from the header). */
export function decodeEvent(payload: Uint8Array, timeMs: number): StoredEvent {
  const body = JSON.parse(Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength).toString('utf8')) as {
    level: Level
    messageTemplate: string
    properties?: Record<string, unknown>
    exception?: string
  }
  const ev: StoredEvent = {
    timestamp: new Date(timeMs),
    level: body.level,
    messageTemplate: body.messageTemplate,
    properties: body.properties ?? {},
  }
  if (body.exception !== undefined) ev.exception = body.exception
  return ev
}
