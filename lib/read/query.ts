/**
 * Event filters shared by replay, export and the CLI: seq range, time range,
 * level and property equality. All of them AND together.
 *
 *   { fromSeq: 10, toSeq: 99,                     seqs, inclusive
 *     from: '2024-01-01', to: '2024-01-02T12:00', time, from ≤ t < to (UTC unless an offset is given)
 *     level: '>=Warning',                         also 'Warning', '<=Debug', '>Information', '<Error'
 *     where: ['UserId=u-17', 'Tenant!=acme'] }    property equality, every one must hold
 *
 * A bad filter throws ERR_AUDIT_OPTION_INVALID naming it (details.option), so
 * the CLI can tell a usage error from a damaged log.
 */

import { AuditError, ERROR_CODES } from '../../shared/errors.js'
import { LEVELS, type Level } from '../../shared/event.js'
import { renderValue } from './render.js'

export interface EventFilters {
  /** First seq, inclusive. */
  fromSeq?: number
  /** Last seq, inclusive. */
  toSeq?: number
  /** Earliest timestamp, inclusive: a Date, ms since the epoch, or ISO 8601 (UTC when no offset is given). */
  from?: Date | number | string
  /** Timestamp upper bound, exclusive. */
  to?: Date | number | string
  /** '>=Warning', '<=Debug', '>Information', '<Error', '=Error' or just 'Error'. */
  level?: string
  /** 'Prop=value' or 'Prop!=value'; a nested property as 'Outer.Inner=value'. */
  where?: readonly string[]
}

export interface Condition {
  path: string
  value: string
  negate: boolean
}

export interface CompiledFilters {
  fromSeq: number
  toSeq: number
  fromMs: number
  toMs: number
  /** Indexes into LEVELS, inclusive. */
  levelMin: number
  levelMax: number
  where: Condition[]
}

/** Serilog's three-letter level names, accepted in filters and used in text output. */
export const LEVEL_SHORT: Record<Level, string> = {
  Verbose: 'VRB',
  Debug: 'DBG',
  Information: 'INF',
  Warning: 'WRN',
  Error: 'ERR',
  Fatal: 'FTL',
}

function invalid(option: string, message: string): AuditError {
  return new AuditError(ERROR_CODES.OPTION_INVALID, `${option}: ${message}`, { details: { option } })
}

export function parseLevel(name: string, option = 'level'): number {
  const n = name.trim().toLowerCase()
  const i = LEVELS.findIndex((l) => l.toLowerCase() === n || LEVEL_SHORT[l].toLowerCase() === n)
  if (i === -1) throw invalid(option, `unknown level ${JSON.stringify(name)} (one of ${LEVELS.join(', ')})`)
  return i
}

/** '>=Warning' → { min: 3, max: 5 }. */
export function parseLevelFilter(spec: string): { min: number; max: number } {
  const m = /^\s*(>=|<=|>|<|==|=)?\s*(.+)$/.exec(spec)
  if (m === null)
    throw invalid('level', `cannot read ${JSON.stringify(spec)}; use e.g. '>=Warning', 'Error' or '<=Debug'`)
  const i = parseLevel(m[2]!)
  switch (m[1]) {
    case '>=':
      return { min: i, max: LEVELS.length - 1 }
    case '>':
      return { min: i + 1, max: LEVELS.length - 1 }
    case '<=':
      return { min: 0, max: i }
    case '<':
      return { min: 0, max: i - 1 }
    default:
      return { min: i, max: i }
  }
}

const ISO = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.\d{1,9})?)?)?(Z|[+-]\d{2}:?\d{2})?$/i

/** ISO 8601 to ms since the epoch; a time without an offset is UTC. */
export function parseTime(value: Date | number | string, option: string): number {
  if (value instanceof Date) {
    if (Number.isNaN(value.getTime())) throw invalid(option, 'invalid Date')
    return value.getTime()
  }
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw invalid(option, `${value} is not a time`)
    return value
  }
  const m = ISO.exec(value.trim())
  if (m === null)
    throw invalid(option, `${JSON.stringify(value)} is not an ISO 8601 time (e.g. 2024-01-31 or 2024-01-31T13:45:00Z)`)
  const [, y, mo, d, h = '00', mi = '00', s = '00', zone] = m
  if (
    Number(mo) < 1 ||
    Number(mo) > 12 ||
    Number(d) < 1 ||
    Number(d) > new Date(Date.UTC(Number(y), Number(mo), 0)).getUTCDate() ||
    Number(h) > 23 ||
    Number(mi) > 59 ||
    Number(s) > 59
  ) {
    throw invalid(option, `${JSON.stringify(value)} is not a valid date and time`)
  }
  let text = value.trim().replace(' ', 'T')
  if (m[4] === undefined) text += 'T00:00:00'
  if (zone === undefined) text += 'Z'
  const ms = Date.parse(text)
  if (Number.isNaN(ms)) throw invalid(option, `${JSON.stringify(value)} is not a valid time`)
  return ms
}

function parseSeq(v: unknown, option: string): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 1)
    throw invalid(option, `must be an integer ≥ 1 (got ${JSON.stringify(v)})`)
  return v
}

export function parseCondition(spec: string): Condition {
  const eq = spec.indexOf('=')
  if (eq <= 0) throw invalid('where', `${JSON.stringify(spec)} is not Prop=value`)
  let path = spec.slice(0, eq)
  const negate = path.endsWith('!')
  if (negate) path = path.slice(0, -1)
  path = path.trim()
  if (path === '') throw invalid('where', `${JSON.stringify(spec)} names no property`)
  return { path, value: spec.slice(eq + 1), negate }
}

/** Check and normalize filters once; throws ERR_AUDIT_OPTION_INVALID. */
export function compileFilters(f: EventFilters = {}): CompiledFilters {
  const c: CompiledFilters = {
    fromSeq: f.fromSeq === undefined ? 1 : parseSeq(f.fromSeq, 'fromSeq'),
    toSeq: f.toSeq === undefined ? Number.MAX_SAFE_INTEGER : parseSeq(f.toSeq, 'toSeq'),
    fromMs: f.from === undefined ? -Infinity : parseTime(f.from, 'from'),
    toMs: f.to === undefined ? Infinity : parseTime(f.to, 'to'),
    levelMin: 0,
    levelMax: LEVELS.length - 1,
    where: [],
  }
  if (f.level !== undefined) {
    const { min, max } = parseLevelFilter(f.level)
    c.levelMin = min
    c.levelMax = max
  }
  if (f.where !== undefined) {
    if (!Array.isArray(f.where)) throw invalid('where', 'must be an array of "Prop=value" strings')
    c.where = f.where.map(parseCondition)
  }
  return c
}

/** The value at a property path: an exact key first ('a.b'), then nested ('a' → 'b'). */
export function propertyAt(props: Record<string, unknown>, path: string): { found: boolean; value: unknown } {
  if (Object.prototype.hasOwnProperty.call(props, path)) return { found: true, value: props[path] }
  let v: unknown = props
  for (const part of path.split('.')) {
    if (v === null || typeof v !== 'object' || !Object.prototype.hasOwnProperty.call(v, part))
      return { found: false, value: undefined }
    v = (v as Record<string, unknown>)[part]
  }
  return { found: true, value: v }
}

const LEVEL_INDEX = new Map<string, number>(LEVELS.map((l, i) => [l, i]))

/** Does an event pass? (A missing property never equals anything; with != it passes.) */
export function matchesFilters(
  c: CompiledFilters,
  rec: { seq: number; timestamp: Date; event: { level: string; properties: Record<string, unknown> } },
): boolean {
  if (rec.seq < c.fromSeq || rec.seq > c.toSeq) return false
  const t = rec.timestamp.getTime()
  if (t < c.fromMs || t >= c.toMs) return false
  const li = LEVEL_INDEX.get(rec.event.level) ?? -1
  if (li < c.levelMin || li > c.levelMax) return false
  for (const w of c.where) {
    const { found, value } = propertyAt(rec.event.properties, w.path)
    const equal = found && renderValue(value) === w.value
    if (equal === w.negate) return false
  }
  return true
}
