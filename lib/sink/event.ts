/**
 * The event encoder of the app thread: one read of the caller's event,
 * checked and serialized (the model is shared/event.ts, the value table
 * docs/events.md).
 *
 * Contract: encodeEvent reads each of the event's five fields exactly once
 * (own or inherited; a getter or Proxy trap runs once), and the properties
 * through lib/sink/snapshot.ts, which writes the JSON while it checks it; the
 * caller's objects are never touched again. It either returns the exact bytes
 * that will be stored, or throws ERR_AUDIT_EVENT_INVALID (details.path names
 * the value) or ERR_AUDIT_EVENT_TOO_LARGE and writes nothing anywhere. A
 * getter or trap that throws is such a refusal too, never an uncoded error.
 * A timestamp is an integer within ±FIXED.timestampMsMax (the Date range), so
 * every reader can render every stored event.
 */

import { types } from 'node:util'
import { ERROR_CODES, preview } from '../../shared/errors.js'
import { FIXED } from '../../shared/limits.js'
import { type AuditEvent, LEVELS } from '../../shared/event.js'
import { isRefusal, refusal, Snapshot } from './snapshot.js'

const LEVEL_SET = new Set<string>(LEVELS)

function invalid(message: string, path: string): Error {
  return refusal(ERROR_CODES.EVENT_INVALID, `${message} at ${path}`, { path })
}

/** ms since the epoch from a Date, an integer or a date string; only the Date range is accepted. */
function timestampMs(t: unknown): number {
  if (t === undefined) return Date.now()
  let ms = NaN
  if (typeof t === 'number') ms = t
  else if (typeof t === 'string' && t.length <= FIXED.timestampCharsMax) ms = Date.parse(t)
  else if (types.isDate(t)) ms = Date.prototype.getTime.call(t) // not a getTime of the caller's
  if (!Number.isInteger(ms) || Math.abs(ms) > FIXED.timestampMsMax) {
    throw invalid(
      `timestamp must be a valid Date, an ISO 8601 string or integer ms within ±${FIXED.timestampMsMax} (got ${preview(t)})`,
      'timestamp',
    )
  }
  return ms === 0 ? 0 : ms // -0 is 0
}

/**
 * The stored text of an exception: an Error's stack (read once), or, when
 * that is not a string or its getter throws, "name: message" (each read once,
 * both must be strings); a string as it is.
 */
function exceptionText(x: unknown): string {
  if (typeof x === 'string') return x
  if (typeof x === 'object' && x !== null && (types.isNativeError(x) || x instanceof Error)) {
    let stack: unknown
    try {
      stack = (x as Error).stack
    } catch {
      stack = undefined // a throwing stack getter: the fallback below
    }
    if (typeof stack === 'string') return stack
    const name: unknown = (x as Error).name
    const message: unknown = (x as Error).message
    if (typeof name === 'string' && typeof message === 'string') return `${name}: ${message}`
    throw invalid('an Error whose stack is not a string needs a string name and message', 'exception')
  }
  throw invalid(`exception must be an Error or a string (got ${preview(x)})`, 'exception')
}

/**
 * JSON of a message template, from a small per-thread cache: templates are
 * constants (the variable parts are properties), and escaping the same
 * string on every emit was a fifth of encodeEvent's work. Bounded by
 * FIXED.templateCacheEntries × FIXED.templateCacheCharsMax.
 */
const templateCache = new Map<string, string>()

function templateJson(t: string): string {
  const known = templateCache.get(t)
  if (known !== undefined) return known
  const json = JSON.stringify(t)
  if (t.length <= FIXED.templateCacheCharsMax) {
    if (templateCache.size >= FIXED.templateCacheEntries) templateCache.clear()
    templateCache.set(t, json)
  }
  return json
}

export interface Encoded {
  /**
   * The payload: JSON of { level, messageTemplate, properties?, exception? }.
   * One string, or its parts in order when a long string value was kept whole
   * (lib/sink/snapshot.ts): the ring writes them one after the other, so a
   * 64-MiB value is never copied into one string with the rest.
   */
  json: string | readonly string[]
  /** Its UTF-8 length in bytes (≤ eventBytesMax). */
  len: number
  timeMs: number
}

/** The payload of an encoded event as one string (tests and tools; the ring takes the parts). */
export function jsonText(e: Encoded): string {
  return typeof e.json === 'string' ? e.json : e.json.join('')
}

/**
 * Read, check and serialize ev. Throws ERR_AUDIT_EVENT_INVALID or
 * ERR_AUDIT_EVENT_TOO_LARGE. The JSON is the same bytes JSON.stringify gives
 * for the stored body (docs/events.md says which values are stored how).
 */
export function encodeEvent(ev: AuditEvent, eventBytesMax: number): Encoded {
  const snap = new Snapshot(eventBytesMax)
  try {
    return encode(ev, snap)
  } catch (err) {
    if (isRefusal(err)) throw err
    // Caller code threw: a getter, a Proxy trap, a toJSON.
    throw invalid(`reading it threw ${preview(err)}`, snap.path())
  }
}

function encode(ev: unknown, snap: Snapshot): Encoded {
  if (typeof ev !== 'object' || ev === null) throw invalid(`an event must be an object (got ${preview(ev)})`, 'event')
  // The snapshot of the event itself: one read of each field.
  const e = ev as Record<string, unknown>
  snap.field = 'level'
  const level = e.level
  snap.field = 'messageTemplate'
  const template = e.messageTemplate
  snap.field = 'timestamp'
  const timestamp = e.timestamp
  snap.field = 'properties'
  const properties = e.properties
  snap.field = 'exception'
  const exception = e.exception

  if (typeof level !== 'string' || !LEVEL_SET.has(level))
    throw invalid(`level ${preview(level)} is not one of ${LEVELS.join(', ')}`, 'level')
  if (typeof template !== 'string')
    throw invalid(`messageTemplate must be a string (got ${preview(template)})`, 'messageTemplate')
  snap.field = 'messageTemplate'
  snap.room(template.length + 40) // a cheap refusal of a huge template before it is escaped
  const timeMs = timestampMs(timestamp)
  // Levels are fixed ASCII words: no escaping needed.
  snap.out = `{"level":"${level}","messageTemplate":${templateJson(template)}`
  snap.room(0)
  if (properties !== undefined) {
    snap.field = 'properties'
    snap.out += ',"properties":'
    snap.properties(properties)
  }
  if (exception !== undefined) {
    snap.field = 'exception'
    const text = exceptionText(exception)
    snap.out += ',"exception":'
    snap.string(text)
  }
  snap.out += '}'
  const json = snap.json()
  // UTF-8 takes at least one byte per UTF-16 unit: the walk refused on characters; now the bytes.
  let len = 0
  if (typeof json === 'string') len = Buffer.byteLength(json, 'utf8')
  else for (const part of json) len += Buffer.byteLength(part, 'utf8')
  if (len > snap.charsMax) {
    throw refusal(ERROR_CODES.EVENT_TOO_LARGE, `event is ${len} bytes serialized; eventBytesMax is ${snap.charsMax}`, {
      bytes: len,
      eventBytesMax: snap.charsMax,
    })
  }
  return { json, len, timeMs }
}
