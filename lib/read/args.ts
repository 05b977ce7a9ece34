/**
 * Argument checks of the read side's public functions: readLog, verifyLog,
 * replay, exportLog, logStats, LogWatcher and (lib/repair) recoverLog each
 * call one of these on their first line.
 *
 * Contract: a directory that is not a non-empty string, or an option of the
 * wrong type, is ERR_AUDIT_OPTION_INVALID naming it (details.option), never
 * an uncoded TypeError from deep inside and never a silent "nothing" (readLog
 * with fromSeq NaN used to yield no events and no error). The options object
 * is read once: its own enumerable keys and the known ones (inherited too),
 * each read exactly once into a plain copy that the function uses from then
 * on, so a getter or Proxy cannot answer one thing to the check and another to
 * the use; one that throws is an option error. Keys not known here are copied
 * as they are, for the function's own checks. Messages show caller data only
 * through preview().
 */

import { types } from 'node:util'
import { AuditError, ERROR_CODES, preview } from '../../shared/errors.js'
import { FIXED } from '../../shared/limits.js'

/** What an option must be (undefined is always allowed: the function's default). */
type Kind = 'seq' | 'count' | 'positive' | 'boolean' | 'function' | 'path' | 'format' | 'time' | 'level' | 'where'
type Spec = Readonly<Record<string, Kind | 'filters'>>

const FILTERS: Spec = { fromSeq: 'seq', toSeq: 'seq', from: 'time', to: 'time', level: 'level', where: 'where' }

function bad(option: string, message: string): AuditError {
  return new AuditError(ERROR_CODES.OPTION_INVALID, `${option}: ${message}`, { details: { option } })
}

/** The directory argument: a non-empty path string. */
export function checkDir(dir: unknown, fn: string, option = 'dir'): string {
  if (typeof dir !== 'string' || dir === '' || dir.length > FIXED.pathCharsMax || dir.includes('\0'))
    throw bad(option, `${fn} needs a directory path (a non-empty string), got ${preview(dir)}`)
  return dir
}

function isTime(v: unknown): boolean {
  if (typeof v === 'number') return Number.isFinite(v)
  if (typeof v === 'string') return v.length <= FIXED.timestampCharsMax
  return types.isDate(v)
}

/** A where condition query.ts can read: 'Prop=value' or 'Prop!=value' with a property named. */
function isCondition(v: unknown): boolean {
  if (typeof v !== 'string') return false
  const eq = v.indexOf('=')
  return eq > 0 && v.slice(0, eq).replace(/!$/, '').trim() !== ''
}

function fits(v: unknown, kind: Kind): boolean {
  switch (kind) {
    case 'seq':
      return Number.isSafeInteger(v) && (v as number) >= 1
    case 'count':
      return Number.isSafeInteger(v) && (v as number) >= 1
    case 'positive':
      return typeof v === 'number' && Number.isFinite(v) && v > 0
    case 'boolean':
      return typeof v === 'boolean'
    case 'function':
      return typeof v === 'function'
    case 'path':
      return typeof v === 'string' && v !== '' && v.length <= FIXED.pathCharsMax && !v.includes('\0')
    case 'format':
      return typeof v === 'string' && v.length <= FIXED.formatNameCharsMax
    case 'time':
      return isTime(v)
    case 'level':
      return typeof v === 'string' && v.length <= FIXED.filterLevelCharsMax
    case 'where':
      return Array.isArray(v) && v.every(isCondition)
  }
}

const WANTED: Record<Kind, string> = {
  seq: 'an integer ≥ 1',
  count: 'an integer ≥ 1',
  positive: 'a finite number > 0',
  boolean: 'true or false',
  function: 'a function',
  path: `a non-empty path string of at most ${FIXED.pathCharsMax} characters`,
  format: 'a format name',
  time: `a Date, ms since the epoch or an ISO 8601 string of at most ${FIXED.timestampCharsMax} characters`,
  level: "a level filter such as '>=Warning'",
  where: "an array of 'Prop=value' or 'Prop!=value' strings",
}

/** One read of a list, its length first (a 4-billion-slot array is not walked): undefined when too long. */
function copyList(list: unknown[]): unknown[] | undefined {
  const n: unknown = list.length
  if (typeof n !== 'number' || n > FIXED.filterConditionsMax) return undefined
  const out: unknown[] = []
  for (let i = 0; i < n; i++) out.push(list[i])
  return out
}

/** Marks a where list longer than FIXED.filterConditionsMax. */
const tooMany: unknown[] = []

/** One read of an options object into a plain copy, checked against spec. */
function snapshot<T>(fn: string, input: T | undefined, spec: Spec, what: string, required: boolean): T {
  if (input === undefined && !required) return Object.create(null) as T
  if (typeof input !== 'object' || input === null || Array.isArray(input))
    throw bad(what, `${fn} needs an object of options, got ${preview(input)}`)
  const src = input as Record<string, unknown>
  const out: Record<string, unknown> = Object.create(null)
  let at = what
  try {
    for (const k of Object.keys(src)) {
      at = k
      out[k] = src[k]
    }
    for (const k of Object.keys(spec)) {
      at = k
      if (!(k in out)) out[k] = src[k]
    }
    // where is an array the caller may also have dressed with getters: one read of it too.
    if (Array.isArray(out.where)) out.where = copyList(out.where as unknown[]) ?? tooMany
  } catch (err) {
    throw bad(at, `${fn}: reading ${what}.${at} threw ${preview(err)}`)
  }
  if (out.where === tooMany) throw bad('where', `${fn}: at most ${FIXED.filterConditionsMax} conditions are allowed`)
  for (const [k, kind] of Object.entries(spec)) {
    const v = out[k]
    if (v === undefined) continue
    if (kind === 'filters') out[k] = snapshot(fn, v, FILTERS, k, false)
    else if (kind === 'where' && Array.isArray(v)) {
      // Name the first condition query.ts could not read, as query.ts would.
      const wrong = v.find((c) => !isCondition(c))
      if (wrong !== undefined || v.includes(undefined)) throw bad(k, `${preview(wrong)} is not Prop=value`)
    } else if (!fits(v, kind)) throw bad(k, `${fn}: must be ${WANTED[kind]} (got ${preview(v)})`)
  }
  return out as T
}

export function checkReadArgs<T>(dir: unknown, options: T | undefined): T {
  checkDir(dir, 'readLog')
  return snapshot(
    'readLog',
    options,
    { fromSeq: 'seq', toSeq: 'seq', records: 'boolean', onSegment: 'function' },
    'options',
    false,
  )
}

export function checkVerifyArgs<T>(dir: unknown, options: T | undefined): T {
  checkDir(dir, 'verifyLog')
  return snapshot('verifyLog', options, { onSegment: 'function' }, 'options', false)
}

export function checkReplayArgs<F, O>(dir: unknown, filters: F | undefined, options: O | undefined): [F, O] {
  checkDir(dir, 'replay')
  return [
    snapshot('replay', filters, FILTERS, 'filters', false),
    snapshot(
      'replay',
      options,
      { salvage: 'boolean', verifyAll: 'boolean', onLost: 'function', onBytes: 'function' },
      'options',
      false,
    ),
  ]
}

export function checkExportArgs<T>(dir: unknown, options: T): T {
  checkDir(dir, 'exportLog')
  const spec: Spec = {
    format: 'format',
    output: 'path',
    force: 'boolean',
    salvage: 'boolean',
    filters: 'filters',
    onBytes: 'function',
    rowGroupRows: 'count',
  }
  return snapshot('exportLog', options, spec, 'options', true)
}

export function checkStatsArgs<T>(dir: unknown, options: T | undefined): T {
  checkDir(dir, 'logStats')
  return snapshot('logStats', options, { onBytes: 'function' }, 'options', false)
}

/** LogWatcher's constructor: checks only (the watcher keeps its own reference to options). */
export function checkWatcherArgs(dir: unknown, options: unknown): void {
  checkDir(dir, 'LogWatcher')
  snapshot('LogWatcher', options, { windowMs: 'positive' }, 'options', false)
}

export function checkRecoverArgs<T>(dir: unknown, options: T): T {
  checkDir(dir, 'recoverLog')
  const spec: Spec = { output: 'path', mirror: 'path', onBytes: 'function', segmentBytesMax: 'count' }
  return snapshot('recoverLog', options, spec, 'options', true)
}
