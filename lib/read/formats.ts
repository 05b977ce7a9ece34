/**
 * One event record as a line of text, JSON, CLEF or CSV: the output formats
 * of replay and export (docs/cli.md, docs/events.md for CLEF).
 */

import type { LogRecord } from './reader.js'
import { LEVEL_SHORT } from './query.js'
import { renderTemplate } from './render.js'

/** The property that carries the record's seq in CLEF output. */
export const CLEF_SEQ_PROPERTY = 'AuditSeq'

/**
 * Control characters other than newline and tab, made visible (`\r`, `\x1b`):
 * text goes to terminals, and event data must not be able to move the cursor,
 * rewrite a line or change colours there. JSON, CLEF and CSV stay exact.
 */
export function visible(s: string): string {
  return s.replace(/[\x00-\x08\x0b-\x1f\x7f-\x9f]/g, (c) =>
    c === '\r' ? '\\r' : `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`,
  )
}

/** `17 2024-01-31T13:45:00.000Z [INF] User u-17 signed in`, the exception on the lines after. */
export function toText(rec: LogRecord): string {
  const ev = rec.event
  let line = `${rec.seq} ${rec.timestamp.toISOString()} [${LEVEL_SHORT[ev.level] ?? ev.level}] ${visible(renderTemplate(ev.messageTemplate, ev.properties))}`
  if (ev.exception !== undefined) line += `\n${visible(ev.exception).replace(/^/gm, '    ')}`
  return line
}

export interface JsonRecord {
  seq: number
  timestamp: string
  level: string
  messageTemplate: string
  message: string
  properties: Record<string, unknown>
  exception?: string
}

/** The JSON lines form: one object per event, keys in this order, exception only when present. */
export function toJsonRecord(rec: LogRecord): JsonRecord {
  const ev = rec.event
  const o: JsonRecord = {
    seq: rec.seq,
    timestamp: rec.timestamp.toISOString(),
    level: ev.level,
    messageTemplate: ev.messageTemplate,
    message: renderTemplate(ev.messageTemplate, ev.properties),
    properties: ev.properties,
  }
  if (ev.exception !== undefined) o.exception = ev.exception
  return o
}

/**
 * CLEF (Serilog.Formatting.Compact): @t, @mt, @l (omitted for Information),
 * @x, then every property at the top level (a name starting with @ is written
 * as @@name), then AuditSeq. An event property that is itself called AuditSeq
 * is kept as AuditSeqProperty so that nothing is silently dropped.
 */
export function toClef(rec: LogRecord): Record<string, unknown> {
  const ev = rec.event
  const o: Record<string, unknown> = { '@t': rec.timestamp.toISOString(), '@mt': ev.messageTemplate }
  if (ev.level !== 'Information') o['@l'] = ev.level
  if (ev.exception !== undefined) o['@x'] = ev.exception
  for (const [k, v] of Object.entries(ev.properties)) {
    const key = k.startsWith('@') ? `@${k}` : k === CLEF_SEQ_PROPERTY ? `${CLEF_SEQ_PROPERTY}Property` : k
    o[key] = v
  }
  o[CLEF_SEQ_PROPERTY] = rec.seq
  return o
}

/** The CSV columns, in order (stable: add new ones only at the end). */
export const CSV_COLUMNS = [
  'seq',
  'timestamp',
  'level',
  'messageTemplate',
  'message',
  'exception',
  'properties',
] as const

/** RFC 4180: a field with a comma, quote, CR or LF is quoted, quotes doubled. */
export function csvField(s: string): string {
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s
}

/** One CSV row, CRLF-terminated (RFC 4180). */
export function toCsvRow(rec: LogRecord): string {
  const ev = rec.event
  return (
    [
      String(rec.seq),
      rec.timestamp.toISOString(),
      ev.level,
      ev.messageTemplate,
      renderTemplate(ev.messageTemplate, ev.properties),
      ev.exception ?? '',
      JSON.stringify(ev.properties),
    ]
      .map(csvField)
      .join(',') + '\r\n'
  )
}

export const CSV_HEADER = CSV_COLUMNS.join(',') + '\r\n'
