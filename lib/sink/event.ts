/**
 * The event encoder of the app thread: validation and serialization of an
 * event (the model is shared/event.ts).
 *
 * encodeEvent either writes the exact bytes that will be stored, or throws a
 * coded error and writes nothing anywhere. It never stores a value that JSON
 * would silently change: functions, symbols, BigInt, undefined in arrays,
 * non-finite numbers, Map/Set, and cycles are errors that name the path.
 */

import { AuditError, ERROR_CODES } from '../../shared/errors.js'
import { FIXED } from '../../shared/limits.js'
import { type AuditEvent, LEVELS } from '../../shared/event.js'

const LEVEL_SET = new Set<string>(LEVELS)

function invalid(message: string, path: string): AuditError {
  return new AuditError(ERROR_CODES.EVENT_INVALID, `${message} at ${path}`, { details: { path } })
}

function timestampMs(t: AuditEvent['timestamp']): number {
  if (t === undefined) return Date.now()
  const ms = t instanceof Date ? t.getTime() : typeof t === 'number' ? t : typeof t === 'string' ? Date.parse(t) : NaN
  if (!Number.isFinite(ms) || !Number.isInteger(ms))
    throw invalid('timestamp must be a valid Date, integer ms or ISO 8601 string', 'timestamp')
  return ms
}

/**
 * The path of the value being checked, as keys from `properties` down. It is
 * turned into text ("properties.a[0].b") only when a value is refused: the
 * walk itself allocates no strings.
 */
type Keys = (string | number)[]

function pathOf(keys: Keys): string {
  let p = 'properties'
  for (const k of keys) p += typeof k === 'number' ? `[${k}]` : `.${k}`
  return p
}

function checkValue(v: unknown, keys: Keys, stack: object[]): void {
  switch (typeof v) {
    case 'string':
    case 'boolean':
      return
    case 'number':
      if (!Number.isFinite(v)) throw invalid(`${v} cannot be stored as JSON`, pathOf(keys))
      return
    case 'bigint':
      throw invalid('BigInt cannot be stored as JSON (convert it to a string)', pathOf(keys))
    case 'function':
      throw invalid('a function is not data', pathOf(keys))
    case 'symbol':
      throw invalid('a symbol is not data', pathOf(keys))
    case 'undefined':
      throw invalid('undefined is not data', pathOf(keys))
    case 'object': {
      if (v === null || v instanceof Date) return
      if (stack.length >= FIXED.eventDepthMax) throw invalid(`nesting deeper than ${FIXED.eventDepthMax}`, pathOf(keys))
      if (stack.includes(v)) throw invalid('circular reference', pathOf(keys))
      if (
        v instanceof Map ||
        v instanceof Set ||
        v instanceof WeakMap ||
        v instanceof WeakSet ||
        v instanceof Promise
      ) {
        throw invalid(`a ${v.constructor.name} would be stored as {} (convert it to an object or array)`, pathOf(keys))
      }
      if (typeof (v as { toJSON?: unknown }).toJSON === 'function') return
      stack.push(v)
      if (Array.isArray(v)) {
        for (let i = 0; i < v.length; i++) {
          keys.push(i)
          checkValue(v[i], keys, stack)
          keys.pop()
        }
      } else {
        // Own enumerable string keys: exactly what JSON.stringify writes.
        for (const k of Object.keys(v)) {
          const child = (v as Record<string, unknown>)[k]
          if (child === undefined) continue // JSON semantics: an absent key
          keys.push(k)
          checkValue(child, keys, stack)
          keys.pop()
        }
      }
      stack.pop()
      return
    }
  }
}

/**
 * Properties of scalars only (the usual audit event) are checked in one pass
 * with no path or cycle bookkeeping; anything else takes the full walk, which
 * names the path of what it refuses.
 */
function checkProperties(p: Record<string, unknown>): void {
  if (
    p instanceof Date ||
    p instanceof Map ||
    p instanceof Set ||
    p instanceof WeakMap ||
    p instanceof WeakSet ||
    p instanceof Promise ||
    typeof p.toJSON === 'function'
  ) {
    return checkValue(p, [], [])
  }
  for (const k of Object.keys(p)) {
    const v = p[k]
    switch (typeof v) {
      case 'string':
      case 'boolean':
      case 'undefined': // an absent key, as in JSON
        continue
      case 'number':
        if (Number.isFinite(v)) continue
        break
      case 'object':
        if (v === null) continue
        break
    }
    return checkValue(p, [], [])
  }
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
  /** The payload: JSON of { level, messageTemplate, properties?, exception? }. */
  json: string
  /** Its UTF-8 length in bytes (≤ eventBytesMax). */
  len: number
  timeMs: number
}

/**
 * Validate and serialize ev. Throws ERR_AUDIT_EVENT_INVALID or
 * ERR_AUDIT_EVENT_TOO_LARGE. The JSON is built from its parts (the same bytes
 * JSON.stringify of the body object gives, without allocating that object).
 */
export function encodeEvent(ev: AuditEvent, eventBytesMax: number): Encoded {
  if (typeof ev !== 'object' || ev === null) throw invalid('an event must be an object', 'event')
  if (typeof ev.level !== 'string' || !LEVEL_SET.has(ev.level)) {
    throw invalid(`level must be one of ${LEVELS.join(', ')} (got ${JSON.stringify(String(ev.level))})`, 'level')
  }
  if (typeof ev.messageTemplate !== 'string') throw invalid('messageTemplate must be a string', 'messageTemplate')
  const timeMs = timestampMs(ev.timestamp)
  // Levels are fixed ASCII words: no escaping needed.
  let json = `{"level":"${ev.level}","messageTemplate":${templateJson(ev.messageTemplate)}`
  if (ev.properties !== undefined) {
    if (typeof ev.properties !== 'object' || ev.properties === null || Array.isArray(ev.properties)) {
      throw invalid('properties must be a plain object', 'properties')
    }
    checkProperties(ev.properties)
    let props: string | undefined
    try {
      props = JSON.stringify(ev.properties)
    } catch (err) {
      // A toJSON() that throws or returns something unserializable.
      throw new AuditError(ERROR_CODES.EVENT_INVALID, `event cannot be serialized: ${(err as Error).message}`, {
        cause: err,
        details: { path: 'event' },
      })
    }
    if (props === undefined)
      throw invalid('properties serialize to nothing (a toJSON returning undefined)', 'properties')
    json += `,"properties":${props}`
  }
  if (ev.exception !== undefined) {
    let text: string
    if (ev.exception instanceof Error) text = ev.exception.stack ?? `${ev.exception.name}: ${ev.exception.message}`
    else if (typeof ev.exception === 'string') text = ev.exception
    else throw invalid('exception must be an Error or a string', 'exception')
    json += `,"exception":${JSON.stringify(text)}`
  }
  json += '}'
  // UTF-8 takes at least one byte per UTF-16 unit: a cheap early refusal first.
  if (json.length > eventBytesMax) tooLarge(json, eventBytesMax)
  const len = Buffer.byteLength(json, 'utf8')
  if (len > eventBytesMax) tooLarge(json, eventBytesMax)
  return { json, len, timeMs }
}

function tooLarge(json: string, max: number): never {
  const bytes = Buffer.byteLength(json)
  throw new AuditError(ERROR_CODES.EVENT_TOO_LARGE, `event is ${bytes} bytes serialized; eventBytesMax is ${max}`, {
    details: { bytes, eventBytesMax: max },
  })
}
